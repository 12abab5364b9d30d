/**
 * Test helpers: comparing GPU float32 results with the float64 reference,
 * random spike-time data, and a shared engine.
 *
 * @module
 */

import { Engine } from "../src/engine/gpu.ts";
import type { Rng } from "../src/util/rng.ts";

let shared: Promise<Engine> | null = null;

/** One engine per test process (device creation costs time). */
export function testEngine(): Promise<Engine> {
  shared ??= Engine.create();
  return shared;
}

/** Options every GPU test passes to Deno.test (the device outlives a test). */
export const GPU_TEST = { sanitizeResources: false, sanitizeOps: false } as const;

/**
 * Asserts that `gpu` matches `ref` in float32 terms: Infinity exactly where
 * the reference has Infinity, elsewhere |gpu - ref| <= tol * (|ref| + rms(ref)).
 * NaN never passes. Reports the worst element.
 */
export function assertClose(
  name: string,
  gpu: ArrayLike<number>,
  ref: ArrayLike<number>,
  tol = 1e-5,
): void {
  if (gpu.length !== ref.length) {
    throw new Error(`${name}: expected ${ref.length} values, got ${gpu.length}`);
  }
  let sq = 0;
  let n = 0;
  for (let i = 0; i < ref.length; i++) {
    if (Number.isFinite(ref[i])) {
      sq += ref[i] * ref[i];
      n++;
    }
  }
  const rms = n ? Math.sqrt(sq / n) : 0;
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i];
    const g = gpu[i];
    if (!Number.isFinite(r)) {
      if (g !== r) throw new Error(`${name}[${i}]: expected ${r}, got ${g}`);
      continue;
    }
    const err = Math.abs(g - r) / (Math.abs(r) + rms + 1e-30);
    if (!(err <= tol)) {
      if (!(g === g)) throw new Error(`${name}[${i}]: expected ${r}, got NaN`);
      if (!(err <= worstErr)) {
        worstErr = err;
        worst = i;
      }
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${name}[${worst}]: expected ${ref[worst]}, got ${gpu[worst]} ` +
        `(relative error ${worstErr.toExponential(2)} > ${tol}, rms ${rms.toExponential(2)})`,
    );
  }
}

/**
 * Random input spike times in [0, T]: a fraction `fire` spikes, the rest is
 * Infinity; about 5% are exactly 0 and 5% exactly T.
 */
export function randomTimes(rng: Rng, n: number, T: number, fire = 0.7): Float64Array {
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = rng.next();
    if (u >= fire) x[i] = Infinity;
    else if (u < 0.05 * fire) x[i] = 0;
    else if (u < 0.1 * fire) x[i] = T;
    else x[i] = Math.fround(rng.next() * T);
  }
  return x;
}
