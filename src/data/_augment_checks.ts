/**
 * Argument checks shared by the augmentation kernel's CPU reference and its
 * GPU runner: each error names the function, what was expected and what came.
 *
 * @module
 */

import {
  AUGMENT_OPS,
  type AugmentOptions,
  type AugmentParams,
  type ImageShape,
} from "./augment_ops.ts";

/** Checks an image shape; returns C * H * W. */
export function checkShape(shape: ImageShape, what: string): number {
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

/** Checks the parameters are u32 values. */
export function checkU32(params: AugmentParams, what: string): void {
  for (const k of ["batch", "offset", "seed", "epoch", "flags"] as const) {
    const v = params[k];
    if (!Number.isInteger(v) || v < 0 || v > 0xFFFFFFFF) {
      throw new Error(`${what}: params.${k} expected an integer in 0..2^32-1, got ${v}`);
    }
  }
}

/** Checks a forced op. */
export function checkForce(options: AugmentOptions | undefined, what: string): void {
  const f = options?.forceOp;
  if (!f) return;
  if (!AUGMENT_OPS.includes(f.op)) {
    throw new Error(`${what}: forceOp.op expected one of ${AUGMENT_OPS.join(", ")}, got '${f.op}'`);
  }
  if (!Number.isInteger(f.bin) || f.bin < 0 || f.bin > 9) {
    throw new Error(`${what}: forceOp.bin expected an integer in 0..9, got ${f.bin}`);
  }
}

/** Checks images, indices and the batch's positions against each other. */
export function checkBatch(
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
