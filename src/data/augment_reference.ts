/**
 * What the augmentation kernel does to a batch, on the CPU: the flag list as
 * bits, the kernel's counter-based random draws for each sample
 * ({@link augmentDraws}), the parameters' packing into its uniform buffer, and
 * a reference that reproduces its output bit for bit (same hash, same
 * integer arithmetic; {@link augmentReference}).
 *
 * @module
 */

import {
  applyAugmentOp,
  AUGMENT_FILL,
  AUGMENT_FLAGS,
  AUGMENT_OPS,
  type AugmentName,
  type AugmentOptions,
  type AugmentParams,
  CIFAR10_POLICY,
  type ImageShape,
} from "./augment_ops.ts";
import { checkBatch, checkForce, checkShape, checkU32 } from "./_augment_checks.ts";

/** Byte size of the packed uniform buffer: batch, offset, seed, epoch, flags and the forced op (8 u32). */
export const AUGMENT_PARAMS_BYTES = 32;

const PAD = 4;
const HOLE_HALF = 8;

/**
 * ORs the flag bits of the named steps.
 *
 * @example
 * ```ts
 * import { augmentFlags } from "./augment_reference.ts";
 * if (augmentFlags(["crop", "cutout"]) !== 9) throw new Error();
 * ```
 */
export function augmentFlags(list: AugmentName[]): number {
  let flags = 0;
  for (const name of list) {
    const bit = (AUGMENT_FLAGS as Record<string, number>)[name];
    if (bit === undefined) {
      throw new Error(
        `Unknown augmentation '${name}': expected one of ${Object.keys(AUGMENT_FLAGS).join(", ")}`,
      );
    }
    flags |= bit;
  }
  return flags;
}

/**
 * The PCG hash (Jarzynski and Olano 2020) on u32, as in the kernel.
 *
 * @example
 * ```ts
 * import { pcgHash } from "./augment_reference.ts";
 * if (pcgHash(0) !== pcgHash(0) || pcgHash(1) === pcgHash(2)) throw new Error();
 * ```
 */
export function pcgHash(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul((state >>> ((state >>> 28) + 4)) ^ state, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** The random choices the kernel makes for one sample. */
export interface AugmentDraws {
  /** Crop offset into the padded image, 0..8 (used when crop is on; 4 = no shift). */
  top: number;
  left: number;
  /** Flip when the flip flag is on. */
  flip: boolean;
  /** Sub-policy index 0..24 of {@link CIFAR10_POLICY}. */
  subPolicy: number;
  /** Whether each op of the sub-policy is applied. */
  apply: [boolean, boolean];
  /** Whether each op's magnitude is negated. */
  negative: [boolean, boolean];
  /** Cutout centre. */
  cutoutY: number;
  cutoutX: number;
}

/**
 * The kernel's random draws for the sample at `position` of the epoch (`offset + b`).
 *
 * @example
 * ```ts
 * import { augmentDraws } from "./augment_reference.ts";
 * const d = augmentDraws({ seed: 1, epoch: 0 }, 5, [3, 32, 32]);
 * if (d.top < 0 || d.top > 8 || d.subPolicy > 24 || d.cutoutY >= 32) throw new Error();
 * ```
 */
export function augmentDraws(
  params: { seed: number; epoch: number },
  position: number,
  shape: ImageShape,
): AugmentDraws {
  const key = pcgHash(
    (pcgHash((pcgHash(params.seed >>> 0) + (params.epoch >>> 0)) >>> 0) + (position >>> 0)) >>> 0,
  );
  const draw = (d: number) => pcgHash((key + Math.imul(d, 0x9E3779B9)) >>> 0);
  const sub = draw(3) % 25;
  return {
    top: draw(0) % 9,
    left: draw(1) % 9,
    flip: draw(2) >>> 31 === 1,
    subPolicy: sub,
    apply: [
      draw(4) % 10 < CIFAR10_POLICY[sub][0].tenths,
      draw(5) % 10 < CIFAR10_POLICY[sub][1].tenths,
    ],
    negative: [draw(6) >>> 31 === 0, draw(7) >>> 31 === 0],
    cutoutY: draw(8) % shape[1],
    cutoutX: draw(9) % shape[2],
  };
}

/** Exactly-rounded f32 of v / 255 for a u8 v (the ToTensor step). */
function toUnit(v: number): number {
  return Math.fround(v / 255);
}

/**
 * CPU reference of the kernel (float64 / uint8 arithmetic, the kernel's hash): returns the
 * [batch, C, H, W] float32 output for `params` and the images' u8 bytes (NCHW per image).
 *
 * @example
 * ```ts
 * import { augmentReference } from "./augment_reference.ts";
 * const images = new Uint8Array([0, 51, 102, 255]); // two 1x1x2 images
 * const out = augmentReference(images, [1, 1, 2], new Uint32Array([1, 0]), {
 *   batch: 2, offset: 0, seed: 7, epoch: 0, flags: 0,
 * });
 * if (out[0] !== Math.fround(102 / 255) || out[3] !== Math.fround(51 / 255)) throw new Error();
 * ```
 */
export function augmentReference(
  images: Uint8Array,
  shape: ImageShape,
  indices: Uint32Array,
  params: AugmentParams,
  options?: AugmentOptions,
): Float32Array {
  const what = "augmentReference";
  const n = checkShape(shape, what);
  checkU32(params, what);
  checkForce(options, what);
  checkBatch(images, n, indices, params, what);
  const [C, H, W] = shape;
  const hw = H * W;
  const out = new Float32Array(params.batch * n);
  const flags = params.flags;
  for (let b = 0; b < params.batch; b++) {
    const position = (params.offset + b) >>> 0;
    const d = augmentDraws(params, position, shape);
    const top = flags & AUGMENT_FLAGS.crop ? d.top : PAD;
    const left = flags & AUGMENT_FLAGS.crop ? d.left : PAD;
    const flip = (flags & AUGMENT_FLAGS.flip) !== 0 && d.flip;
    const base = indices[position] * n;
    let img: Uint8Array = new Uint8Array(n);
    for (let c = 0; c < C; c++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const sy = y + top - PAD;
          const sx = (flip ? W - 1 - x : x) + left - PAD;
          img[(c * H + y) * W + x] = sy >= 0 && sx >= 0 && sy < H && sx < W
            ? images[base + (c * H + sy) * W + sx]
            : AUGMENT_FILL;
        }
      }
    }
    if (flags & AUGMENT_FLAGS.autoaugment) {
      const f = options?.forceOp;
      if (f) {
        img = applyAugmentOp(img, shape, f.op, f.bin, f.negative ?? false);
      } else {
        const sub = CIFAR10_POLICY[d.subPolicy];
        for (let j = 0; j < 2; j++) {
          if (d.apply[j]) {
            img = applyAugmentOp(img, shape, sub[j].op, sub[j].bin ?? 0, d.negative[j]);
          }
        }
      }
    }
    let [y1, y2, x1, x2] = [0, 0, 0, 0];
    if (flags & AUGMENT_FLAGS.cutout) {
      y1 = Math.max(d.cutoutY - HOLE_HALF, 0);
      y2 = Math.min(d.cutoutY + HOLE_HALF, H);
      x1 = Math.max(d.cutoutX - HOLE_HALF, 0);
      x2 = Math.min(d.cutoutX + HOLE_HALF, W);
    }
    for (let i = 0; i < n; i++) {
      const r = i % hw;
      const y = Math.floor(r / W);
      const x = r % W;
      out[b * n + i] = y >= y1 && y < y2 && x >= x1 && x < x2 ? 0 : toUnit(img[i]);
    }
  }
  return out;
}

/** Packs params into the kernel's uniform layout ({@link AUGMENT_PARAMS_BYTES} bytes). */
export function packAugmentParams(params: AugmentParams, options?: AugmentOptions): Uint32Array {
  checkU32(params, "packAugmentParams");
  checkForce(options, "packAugmentParams");
  const f = options?.forceOp;
  const u = new Uint32Array(AUGMENT_PARAMS_BYTES / 4);
  u.set([params.batch, params.offset, params.seed, params.epoch, params.flags]);
  // force_op is an i32: -1 (no forced op) is stored as its two's complement.
  u.set([f ? AUGMENT_OPS.indexOf(f.op) : 0xffffffff, f ? f.bin : 0, f?.negative ? 1 : 0], 5);
  return u;
}
