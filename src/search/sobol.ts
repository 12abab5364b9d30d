/**
 * A scrambled Sobol sequence: the low-discrepancy points of the `sobol`
 * sampler. Point `i` is a pure function of `i`, so any worker can draw any
 * trial's values without the others.
 *
 * Dimension 1 is van der Corput's sequence; dimension `j > 1` uses the
 * primitive polynomial and initial direction numbers of Joe and Kuo
 * (`new-joe-kuo-6.21201`, S. Joe and F. Y. Kuo, "Constructing Sobol
 * sequences with better two-dimensional projections", SIAM J. Sci. Comput.
 * 30, 2008), the table scipy and Optuna use, which is data, not code. With
 * polynomial degree `s`, coefficients `a` and initial numbers `m_1..m_s`,
 * the direction numbers are `v_k = m_k 2^(32-k)` for `k <= s` and, for
 * `k > s`, `v_k = v_(k-s) ^ (v_(k-s) >> s) ^ XOR_(i=1..s-1) a_i v_(k-i)`
 * (Bratley and Fox's recurrence). Point `i` is the XOR of the `v_k` whose
 * bit is set in the Gray code of `i`.
 *
 * A random digital shift (each coordinate XOR one seeded 32-bit word) makes
 * the points depend on the seed and keeps the net property: the first `2^m`
 * points still put one point in each interval `[j / 2^m, (j + 1) / 2^m)` of
 * every coordinate.
 *
 * @module
 */

import { Rng } from "../util/rng.ts";

/** Joe and Kuo's rows for dimensions 2 to 32: degree s, coefficients a, then m_1..m_s. */
const JOE_KUO: readonly (readonly number[])[] = [
  [1, 0, 1],
  [2, 1, 1, 3],
  [3, 1, 1, 3, 1],
  [3, 2, 1, 1, 1],
  [4, 1, 1, 1, 3, 3],
  [4, 4, 1, 3, 5, 13],
  [5, 2, 1, 1, 5, 5, 17],
  [5, 4, 1, 1, 5, 5, 5],
  [5, 7, 1, 1, 7, 11, 19],
  [5, 11, 1, 1, 5, 1, 1],
  [5, 13, 1, 1, 1, 3, 11],
  [5, 14, 1, 3, 5, 5, 31],
  [6, 1, 1, 3, 3, 9, 7, 49],
  [6, 13, 1, 1, 1, 15, 21, 21],
  [6, 16, 1, 3, 1, 13, 27, 49],
  [6, 19, 1, 1, 1, 15, 7, 5],
  [6, 22, 1, 3, 1, 15, 13, 25],
  [6, 25, 1, 1, 5, 5, 19, 61],
  [7, 1, 1, 3, 7, 11, 23, 15, 103],
  [7, 4, 1, 3, 7, 13, 13, 15, 69],
  [7, 7, 1, 1, 3, 13, 7, 35, 63],
  [7, 8, 1, 3, 5, 9, 1, 25, 53],
  [7, 14, 1, 3, 1, 13, 9, 35, 107],
  [7, 19, 1, 3, 1, 5, 27, 61, 31],
  [7, 21, 1, 1, 5, 11, 19, 41, 61],
  [7, 28, 1, 3, 5, 3, 3, 13, 69],
  [7, 31, 1, 1, 7, 13, 1, 19, 1],
  [7, 32, 1, 3, 7, 5, 13, 19, 59],
  [7, 37, 1, 1, 3, 9, 25, 29, 41],
  [7, 41, 1, 3, 5, 13, 23, 1, 55],
  [7, 42, 1, 3, 7, 3, 13, 59, 17],
];

/** Most dimensions {@link sobolPoint} draws (more than the settings a search may draw). */
export const SOBOL_MAX_DIMENSIONS = JOE_KUO.length + 1;

const BITS = 32;

/** The 32 direction numbers of dimension `j` (0-based), as unsigned 32-bit integers. */
function directions(j: number): Uint32Array {
  const v = new Uint32Array(BITS);
  if (j === 0) {
    for (let k = 0; k < BITS; k++) v[k] = 2 ** (BITS - 1 - k);
    return v;
  }
  const [s, a, ...m] = JOE_KUO[j - 1];
  for (let k = 0; k < s; k++) v[k] = (m[k] * 2 ** (BITS - 1 - k)) >>> 0;
  for (let k = s; k < BITS; k++) {
    let x = (v[k - s] ^ (v[k - s] >>> s)) >>> 0;
    for (let i = 1; i < s; i++) {
      if ((a >>> (s - 1 - i)) & 1) x = (x ^ v[k - i]) >>> 0;
    }
    v[k] = x;
  }
  return v;
}

const TABLE: Uint32Array[] = [];

function table(j: number): Uint32Array {
  return TABLE[j] ??= directions(j);
}

/**
 * Point `index` (0-based) of the `dims`-dimensional Sobol sequence, shifted
 * by the digital shift of `seed` (null: unshifted), each coordinate in
 * `[0, 1)`.
 *
 * @example
 * ```ts
 * import { sobolPoint } from "./sobol.ts";
 * // Unshifted, the sequence begins 0, 1/2, 3/4, 1/4 in dimension 1 and 0, 1/2, 1/4, 3/4 in 2.
 * const pts = [0, 1, 2, 3].map((i) => sobolPoint(i, 2, null));
 * if (JSON.stringify(pts) !== "[[0,0],[0.5,0.5],[0.75,0.25],[0.25,0.75]]") throw new Error(JSON.stringify(pts));
 * ```
 */
export function sobolPoint(index: number, dims: number, seed: number | null): number[] {
  if (!Number.isInteger(index) || index < 0 || index >= 2 ** BITS) {
    throw new Error(`sobolPoint: expected an index in [0, 2^32), got ${index}`);
  }
  if (!Number.isInteger(dims) || dims < 1 || dims > SOBOL_MAX_DIMENSIONS) {
    throw new Error(
      `sobolPoint: expected 1 to ${SOBOL_MAX_DIMENSIONS} dimensions, got ${dims}`,
    );
  }
  const gray = (index ^ Math.floor(index / 2)) >>> 0;
  const shift = seed === null ? null : new Rng(seed).fork("sobol-shift");
  const out: number[] = [];
  for (let j = 0; j < dims; j++) {
    const v = table(j);
    let x = 0;
    for (let k = 0; k < BITS; k++) {
      if ((gray >>> k) & 1) x = (x ^ v[k]) >>> 0;
    }
    if (shift) x = (x ^ shift.nextU32()) >>> 0;
    out.push(x / 2 ** BITS);
  }
  return out;
}
