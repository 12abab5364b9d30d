/**
 * GPU data augmentation for the training loop: random crop (padding 4, fill 128), horizontal
 * flip, torchvision's AutoAugment CIFAR-10 policy and Cutout (one 16 x 16 hole), applied per
 * sample by `kernels/augment.wgsl` to a batch gathered from a u8 dataset that lives on the GPU.
 *
 * This module holds the flag helpers, a CPU reference that reproduces the kernel bit for bit
 * (same counter-based hash, same integer arithmetic), pipeline helpers and a standalone GPU
 * runner used by the tests. The exact definitions of every op are in the kernel's header.
 *
 * @module
 */

import { kernelSource } from "../engine/kernels.ts";

/** Flag bits of the kernel's `params.flags`. */
export const AUGMENT_FLAGS = { crop: 1, flip: 2, autoaugment: 4, cutout: 8 } as const;

/** Name of one augmentation step. */
export type AugmentName = keyof typeof AUGMENT_FLAGS;

/** Per-step values of the kernel's uniform struct (all u32). */
export interface AugmentParams {
  /** Samples in the batch. */
  batch: number;
  /** Position of the batch's first sample in `indices`. */
  offset: number;
  /** Run seed. */
  seed: number;
  /** Epoch number. */
  epoch: number;
  /** OR of {@link AUGMENT_FLAGS} bits. */
  flags: number;
}

/** Image shape [C, H, W]. */
export type ImageShape = [number, number, number];

/** AutoAugment op names; the index is the kernel's op id (torchvision's augmentation space). */
export const AUGMENT_OPS = [
  "ShearX",
  "ShearY",
  "TranslateX",
  "TranslateY",
  "Rotate",
  "Brightness",
  "Color",
  "Contrast",
  "Sharpness",
  "Posterize",
  "Solarize",
  "AutoContrast",
  "Equalize",
  "Invert",
] as const;

/** One AutoAugment op name. */
export type AugmentOp = typeof AUGMENT_OPS[number];

/** One op of a sub-policy: name, probability in tenths, magnitude bin (null: no magnitude). */
export interface PolicyOp {
  op: AugmentOp;
  tenths: number;
  bin: number | null;
}

function p(op: AugmentOp, prob: number, bin: number | null): PolicyOp {
  return { op, tenths: Math.round(prob * 10), bin };
}

/** torchvision's `AutoAugmentPolicy.CIFAR10`: 25 sub-policies of two ops each. */
export const CIFAR10_POLICY: readonly (readonly [PolicyOp, PolicyOp])[] = [
  [p("Invert", 0.1, null), p("Contrast", 0.2, 6)],
  [p("Rotate", 0.7, 2), p("TranslateX", 0.3, 9)],
  [p("Sharpness", 0.8, 1), p("Sharpness", 0.9, 3)],
  [p("ShearY", 0.5, 8), p("TranslateY", 0.7, 9)],
  [p("AutoContrast", 0.5, null), p("Equalize", 0.9, null)],
  [p("ShearY", 0.2, 7), p("Posterize", 0.3, 7)],
  [p("Color", 0.4, 3), p("Brightness", 0.6, 7)],
  [p("Sharpness", 0.3, 9), p("Brightness", 0.7, 9)],
  [p("Equalize", 0.6, null), p("Equalize", 0.5, null)],
  [p("Contrast", 0.6, 7), p("Sharpness", 0.6, 5)],
  [p("Color", 0.7, 7), p("TranslateX", 0.5, 8)],
  [p("Equalize", 0.3, null), p("AutoContrast", 0.4, null)],
  [p("TranslateY", 0.4, 3), p("Sharpness", 0.2, 6)],
  [p("Brightness", 0.9, 6), p("Color", 0.2, 8)],
  [p("Solarize", 0.5, 2), p("Invert", 0.0, null)],
  [p("Equalize", 0.2, null), p("AutoContrast", 0.6, null)],
  [p("Equalize", 0.2, null), p("Equalize", 0.6, null)],
  [p("Color", 0.9, 9), p("Equalize", 0.6, null)],
  [p("AutoContrast", 0.8, null), p("Solarize", 0.2, 8)],
  [p("Brightness", 0.1, 3), p("Color", 0.7, 0)],
  [p("Solarize", 0.4, 5), p("AutoContrast", 0.9, null)],
  [p("TranslateY", 0.9, 9), p("TranslateY", 0.7, 9)],
  [p("AutoContrast", 0.9, null), p("Solarize", 0.8, 3)],
  [p("Equalize", 0.8, null), p("Invert", 0.1, null)],
  [p("TranslateY", 0.7, 9), p("AutoContrast", 0.9, null)],
];

/** Test option: replace the random sub-policy by one op (applied when the autoaugment flag is set). */
export interface ForceOp {
  op: AugmentOp;
  /** Magnitude bin 0..9 (ignored by ops without magnitude). */
  bin: number;
  /** Negate the magnitude (signed ops only). */
  negative?: boolean;
}

/** Options of {@link augmentReference}, {@link runAugmentGpu} and {@link packAugmentParams}. */
export interface AugmentOptions {
  forceOp?: ForceOp;
}

/** Workgroup size of the kernel (one workgroup per sample). */
export const AUGMENT_WORKGROUP_SIZE = 256;

/** Byte size of the packed uniform buffer: batch, offset, seed, epoch, flags and the forced op (8 u32). */
export const AUGMENT_PARAMS_BYTES = 32;

const SIGNED_OPS: ReadonlySet<AugmentOp> = new Set<AugmentOp>([
  "ShearX",
  "ShearY",
  "TranslateX",
  "TranslateY",
  "Rotate",
  "Brightness",
  "Color",
  "Contrast",
  "Sharpness",
]);

/** cos / sin of 30 k / 9 degrees times 65536, rounded (same literals as the kernel). */
export const ROTATE_COS_FIXED: readonly number[] = [
  65536,
  65425,
  65093,
  64540,
  63769,
  62783,
  61584,
  60176,
  58565,
  56756,
];
/** See {@link ROTATE_COS_FIXED}. */
export const ROTATE_SIN_FIXED: readonly number[] = [
  0,
  3811,
  7608,
  11380,
  15114,
  18796,
  22415,
  25957,
  29413,
  32768,
];
const POSTERIZE_BITS = [8, 8, 7, 7, 6, 6, 5, 5, 4, 4];
const ONE = 65536;
const PAD = 4;
const FILL = 128;
const HOLE_HALF = 8;

/**
 * ORs the flag bits of the named steps.
 *
 * @example
 * ```ts
 * import { augmentFlags } from "./augment.ts";
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

/** The kernel source, `kernels/augment.wgsl` with `_bytes.wgsl`, from the engine's one WGSL loader. */
export function augmentWgsl(): Promise<string> {
  return Promise.resolve(kernelSource("augment.wgsl") + "\n" + kernelSource("_bytes.wgsl"));
}

/**
 * The PCG hash (Jarzynski and Olano 2020) on u32, as in the kernel.
 *
 * @example
 * ```ts
 * import { pcgHash } from "./augment.ts";
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
 * import { augmentDraws } from "./augment.ts";
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

function checkShape(shape: ImageShape, what: string): number {
  if (
    !Array.isArray(shape) || shape.length !== 3 ||
    !shape.every((d) => Number.isInteger(d) && d >= 1 && d <= 65535)
  ) {
    throw new Error(
      `${what}: expected shape [C, H, W] of positive integers, got ${JSON.stringify(shape)}`,
    );
  }
  return shape[0] * shape[1] * shape[2];
}

function checkU32(params: AugmentParams, what: string): void {
  for (const k of ["batch", "offset", "seed", "epoch", "flags"] as const) {
    const v = params[k];
    if (!Number.isInteger(v) || v < 0 || v > 0xFFFFFFFF) {
      throw new Error(`${what}: params.${k} expected an integer in 0..2^32-1, got ${v}`);
    }
  }
}

function checkForce(options: AugmentOptions | undefined, what: string): void {
  const f = options?.forceOp;
  if (!f) return;
  if (!AUGMENT_OPS.includes(f.op)) {
    throw new Error(`${what}: forceOp.op expected one of ${AUGMENT_OPS.join(", ")}, got '${f.op}'`);
  }
  if (!Number.isInteger(f.bin) || f.bin < 0 || f.bin > 9) {
    throw new Error(`${what}: forceOp.bin expected an integer in 0..9, got ${f.bin}`);
  }
}

function checkBatch(
  images: Uint8Array,
  n: number,
  indices: Uint32Array,
  params: AugmentParams,
  what: string,
): void {
  if (images.length % n !== 0 || images.length === 0) {
    throw new Error(
      `${what}: images expected a non-empty multiple of C*H*W = ${n} bytes, got ${images.length}`,
    );
  }
  if (params.offset + params.batch > indices.length) {
    throw new Error(
      `${what}: offset + batch = ${
        params.offset + params.batch
      } exceeds indices.length ${indices.length}`,
    );
  }
  const count = images.length / n;
  for (let b = 0; b < params.batch; b++) {
    const idx = indices[params.offset + b];
    if (idx >= count) {
      throw new Error(
        `${what}: indices[${params.offset + b}] = ${idx} is out of range for ${count} images`,
      );
    }
  }
}

function blend(p: number, deg: number, f: number): number {
  const v = f * p + (10 - f) * deg;
  return v <= 0 ? 0 : Math.min(255, Math.floor(v / 10));
}

function luma(r: number, g: number, b: number): number {
  return Math.floor((19595 * r + 38470 * g + 7471 * b + 32768) / 65536);
}

function affine(
  img: Uint8Array,
  shape: ImageShape,
  m: [number, number, number, number, number, number],
): Uint8Array {
  const [C, H, W] = shape;
  const out = new Uint8Array(img.length);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const X = 2 * x + 1;
        const Y = 2 * y + 1;
        const xs = Math.floor((m[0] * X + m[1] * Y + m[2]) / 131072);
        const ys = Math.floor((m[3] * X + m[4] * Y + m[5]) / 131072);
        out[(c * H + y) * W + x] = xs < 0 || ys < 0 || xs >= W || ys >= H
          ? FILL
          : img[(c * H + ys) * W + xs];
      }
    }
  }
  return out;
}

function perValue(img: Uint8Array, shape: ImageShape, f: (v: number, c: number) => number) {
  const hw = shape[1] * shape[2];
  return img.map((v, i) => f(v, Math.floor(i / hw)));
}

/**
 * Applies one AutoAugment op to one u8 image (CPU reference, same arithmetic as the kernel).
 * `bin` is the magnitude bin 0..9; `negative` negates signed ops.
 *
 * @example
 * ```ts
 * import { applyAugmentOp } from "./augment.ts";
 * const out = applyAugmentOp(new Uint8Array([0, 10, 255]), [1, 1, 3], "Invert", 0, false);
 * if (out.join() !== "255,245,0") throw new Error();
 * ```
 */
export function applyAugmentOp(
  img: Uint8Array,
  shape: ImageShape,
  op: AugmentOp,
  bin: number,
  negative: boolean,
): Uint8Array {
  const [C, H, W] = shape;
  const hw = H * W;
  const s = negative && SIGNED_OPS.has(op) ? -1 : 1;
  const F = 10 + s * bin;
  switch (op) {
    case "ShearX":
    case "ShearY": {
      const m = s * Math.round((ONE * bin) / 30);
      return affine(img, shape, op === "ShearX" ? [ONE, m, 0, 0, ONE, 0] : [ONE, 0, 0, m, ONE, 0]);
    }
    case "TranslateX": {
      const t = s * Math.floor((150 * W * bin) / 2979);
      return affine(img, shape, [ONE, 0, -2 * t * ONE, 0, ONE, 0]);
    }
    case "TranslateY": {
      const t = s * Math.floor((150 * H * bin) / 2979);
      return affine(img, shape, [ONE, 0, 0, 0, ONE, -2 * t * ONE]);
    }
    case "Rotate": {
      const cs = ROTATE_COS_FIXED[bin];
      const sn = s * ROTATE_SIN_FIXED[bin];
      return affine(img, shape, [
        cs,
        -sn,
        W * ONE - cs * W + sn * H,
        sn,
        cs,
        H * ONE - sn * W - cs * H,
      ]);
    }
    case "Brightness":
      return perValue(img, shape, (v) => blend(v, 0, F));
    case "Color": {
      if (C !== 3) return img.slice();
      const out = new Uint8Array(img.length);
      for (let r = 0; r < hw; r++) {
        const g = luma(img[r], img[hw + r], img[2 * hw + r]);
        for (let c = 0; c < 3; c++) out[c * hw + r] = blend(img[c * hw + r], g, F);
      }
      return out;
    }
    case "Contrast": {
      let sum = 0;
      let count = 0;
      if (C === 3) {
        for (let r = 0; r < hw; r++) sum += luma(img[r], img[hw + r], img[2 * hw + r]);
        count = hw;
      } else {
        for (const v of img) sum += v;
        count = img.length;
      }
      const mean = Math.floor(sum / count + 0.5);
      return perValue(img, shape, (v) => blend(v, mean, F));
    }
    case "Sharpness": {
      const out = img.slice();
      for (let c = 0; c < C; c++) {
        for (let y = 1; y < H - 1; y++) {
          for (let x = 1; x < W - 1; x++) {
            const at = (yy: number, xx: number) => img[(c * H + yy) * W + xx];
            let sum = 0;
            for (let dy = -1; dy <= 1; dy++) {
              for (let dx = -1; dx <= 1; dx++) sum += at(y + dy, x + dx) * (dy || dx ? 1 : 5);
            }
            out[(c * H + y) * W + x] = blend(at(y, x), Math.round(sum / 13), F);
          }
        }
      }
      return out;
    }
    case "Posterize": {
      const drop = 8 - POSTERIZE_BITS[bin];
      return perValue(img, shape, (v) => (v >> drop) << drop);
    }
    case "Solarize":
      return perValue(img, shape, (v) => (v >= (255 * (9 - bin)) / 9 ? 255 - v : v));
    case "AutoContrast": {
      const lo: number[] = [];
      const hi: number[] = [];
      for (let c = 0; c < C; c++) {
        const ch = img.subarray(c * hw, (c + 1) * hw);
        lo.push(Math.min(...ch));
        hi.push(Math.max(...ch));
      }
      return perValue(
        img,
        shape,
        (v, c) => hi[c] > lo[c] ? Math.floor((255 * (v - lo[c])) / (hi[c] - lo[c])) : v,
      );
    }
    case "Equalize": {
      const luts: number[][] = [];
      for (let c = 0; c < C; c++) {
        const h = new Array(256).fill(0);
        for (const v of img.subarray(c * hw, (c + 1) * hw)) h[v]++;
        const nonzero = h.filter((x) => x > 0);
        const step = Math.floor(
          (nonzero.reduce((a, b) => a + b, 0) - nonzero[nonzero.length - 1]) / 255,
        );
        const lut: number[] = [];
        if (step === 0) {
          for (let i = 0; i < 256; i++) lut.push(i);
        } else {
          let n = Math.floor(step / 2);
          for (let i = 0; i < 256; i++) {
            lut.push(Math.min(255, Math.floor(n / step)));
            n += h[i];
          }
        }
        luts.push(lut);
      }
      return perValue(img, shape, (v, c) => luts[c][v]);
    }
    case "Invert":
      return perValue(img, shape, (v) => 255 - v);
  }
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
 * import { augmentReference } from "./augment.ts";
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
            : FILL;
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

/**
 * Pipeline-overridable constants of the kernel for `shape`: its capacity,
 * not the shape. The shape is a uniform ({@link augmentDims}), so one
 * pipeline serves every image of up to 256 words (1 KiB: MNIST's 28 x 28)
 * and one every image of up to 1024 words (CIFAR's 3 x 32 x 32), with up to
 * 3 channels; larger images get their own size. A forced op
 * ({@link AugmentOptions}) is a parameter too ({@link packAugmentParams}).
 *
 * @example
 * ```ts
 * import { augmentOverrides } from "./augment.ts";
 * const mnist = augmentOverrides([1, 28, 28]), cifar = augmentOverrides([3, 32, 32]);
 * if (mnist.CAP_WORDS !== 256 || cifar.CAP_WORDS !== 1024 || cifar.CAP_C !== 3) throw new Error();
 * if (JSON.stringify(augmentOverrides([2, 9, 11])) !== JSON.stringify(mnist)) throw new Error();
 * ```
 */
export function augmentOverrides(shape: ImageShape): Record<string, number> {
  const n = checkShape(shape, "augmentOverrides");
  const words = Math.ceil(n / 4);
  return {
    CAP_WORDS: words <= 256 ? 256 : words <= 1024 ? 1024 : words,
    CAP_C: Math.max(3, shape[0]),
  };
}

/** The kernel's `dims` uniform for `shape`: C, H, W and a zero (16 bytes). */
export function augmentDims(shape: ImageShape): Uint32Array {
  checkShape(shape, "augmentDims");
  return Uint32Array.from([shape[0], shape[1], shape[2], 0]);
}

/** Workgroup memory the kernel built for `shape` uses (its capacity), in bytes. */
export function augmentWorkgroupBytes(shape: ImageShape): number {
  const { CAP_WORDS, CAP_C } = augmentOverrides(shape);
  return 4 * (2 * CAP_WORDS + 256 + 256 + 256 * CAP_C + 3);
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

/**
 * Workgroup counts to dispatch for a batch (one workgroup per sample, x at most 65535).
 *
 * @example
 * ```ts
 * import { augmentDispatchSize } from "./augment.ts";
 * if (augmentDispatchSize(70000).join() !== "65535,2") throw new Error();
 * ```
 */
export function augmentDispatchSize(batch: number): [number, number] {
  const x = Math.min(batch, 65535);
  return [x, x === 0 ? 0 : Math.ceil(batch / x)];
}

const pipelines = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline>>>();

/**
 * Creates (and caches per device) the compute pipeline for `shape`. Bind group 0: images
 * (read-only storage), indices (read-only storage), out (storage), params (uniform).
 */
export function createAugmentPipeline(
  device: GPUDevice,
  shape: ImageShape,
): Promise<GPUComputePipeline> {
  const constants = augmentOverrides(shape);
  const need = augmentWorkgroupBytes(shape);
  const limit = device.limits.maxComputeWorkgroupStorageSize;
  if (need > limit) {
    throw new Error(
      `createAugmentPipeline: shape ${JSON.stringify(shape)} needs ${need} bytes of workgroup ` +
        `memory, the device allows ${limit}`,
    );
  }
  let cache = pipelines.get(device);
  if (!cache) pipelines.set(device, cache = new Map());
  const key = JSON.stringify(constants);
  let pipeline = cache.get(key);
  if (!pipeline) {
    pipeline = (async () => {
      const code = await augmentWgsl();
      device.pushErrorScope("validation");
      const module = device.createShaderModule({ code, label: "augment.wgsl" });
      const result = device.createComputePipeline({
        label: "augment",
        layout: "auto",
        compute: { module, entryPoint: "main", constants },
      });
      const error = await device.popErrorScope();
      if (error) throw new Error(`Cannot build 'kernels/augment.wgsl': ${error.message}`);
      return result;
    })();
    pipeline.catch(() => cache.delete(key));
    cache.set(key, pipeline);
  }
  return pipeline;
}

/**
 * Standalone GPU run (tests, tools): uploads images and indices, poisons the output with NaN,
 * dispatches the kernel once and reads back the [batch, C, H, W] float32 output.
 */
export async function runAugmentGpu(
  device: GPUDevice,
  images: Uint8Array,
  shape: ImageShape,
  indices: Uint32Array,
  params: AugmentParams,
  options?: AugmentOptions,
): Promise<Float32Array> {
  const what = "runAugmentGpu";
  const n = checkShape(shape, what);
  checkU32(params, what);
  checkForce(options, what);
  checkBatch(images, n, indices, params, what);
  if (params.batch === 0) return new Float32Array(0);
  const pipeline = await createAugmentPipeline(device, shape);
  const U = GPUBufferUsage;
  const upload = (data: Uint8Array, usage: number) => {
    const buffer = device.createBuffer({
      size: Math.max(4, Math.ceil(data.byteLength / 4) * 4),
      usage,
      mappedAtCreation: true,
    });
    new Uint8Array(buffer.getMappedRange()).set(data);
    buffer.unmap();
    return buffer;
  };
  const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const outBytes = params.batch * n * 4;
  const imageBuf = upload(images, U.STORAGE);
  const indexBuf = upload(bytes(indices), U.STORAGE);
  const paramBuf = upload(bytes(packAugmentParams(params, options)), U.UNIFORM);
  const dimsBuf = upload(bytes(augmentDims(shape)), U.UNIFORM);
  const outBuf = upload(
    bytes(new Float32Array(params.batch * n).fill(NaN)),
    U.STORAGE | U.COPY_SRC,
  );
  const readBuf = device.createBuffer({ size: outBytes, usage: U.MAP_READ | U.COPY_DST });
  try {
    device.pushErrorScope("validation");
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: imageBuf } },
        { binding: 1, resource: { buffer: indexBuf } },
        { binding: 2, resource: { buffer: outBuf } },
        { binding: 3, resource: { buffer: paramBuf } },
        { binding: 4, resource: { buffer: dimsBuf } },
      ],
    });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(...augmentDispatchSize(params.batch));
    pass.end();
    encoder.copyBufferToBuffer(outBuf, 0, readBuf, 0, outBytes);
    device.queue.submit([encoder.finish()]);
    const error = await device.popErrorScope();
    if (error) throw new Error(`${what}: dispatch failed: ${error.message}`);
    await readBuf.mapAsync(GPUMapMode.READ);
    const result = new Float32Array(readBuf.getMappedRange().slice(0));
    readBuf.unmap();
    return result;
  } finally {
    for (const b of [imageBuf, indexBuf, paramBuf, dimsBuf, outBuf, readBuf]) b.destroy();
  }
}
