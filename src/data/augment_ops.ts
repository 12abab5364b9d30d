/**
 * The vocabulary of the augmentation kernel (`kernels/augment.wgsl`): its flag
 * bits and per-step parameters, the AutoAugment op table (the op names in the
 * kernel's order, torchvision's CIFAR-10 policy), and each
 * op's CPU definition with the kernel's integer arithmetic ({@link
 * applyAugmentOp}), which the CPU reference (`augment_reference.ts`) applies
 * and the tests check the kernel against.
 *
 * @module
 */

/** Image shape [C, H, W]. */
export type ImageShape = [number, number, number];

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
/** The fill value of pixels that an op (or the crop's padding) brings in from outside the image. */
export const AUGMENT_FILL = 128;

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
          ? AUGMENT_FILL
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
 * import { applyAugmentOp } from "./augment_ops.ts";
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
