/**
 * Float64 reference optimisers (MODEL.md): Adam with bias correction and
 * plain SGD, each followed by weight decay, optional weight clipping and
 * optional fixed signs. All updates are in place.
 *
 * @module
 */

/** Settings shared by both optimisers' post-processing. */
export interface UpdateConstraints {
  /** Learning rate. */
  lr: number;
  /** Weight decay: after the step, `w -= lr * weightDecay * w`. */
  weightDecay: number;
  /** Optional weight clipping to `[min, max]`. */
  clip?: [number, number] | null;
  /**
   * Optional fixed signs: `+1` / `-1` per weight (its initial sign). A weight
   * whose sign became the opposite is set to 0; where the sign is 0 nothing
   * is enforced.
   */
  signs?: Float64Array | null;
}

/** Adam settings. */
export interface AdamOptions extends UpdateConstraints {
  b1: number;
  b2: number;
  eps: number;
}

/** SGD settings. */
export type SgdOptions = UpdateConstraints;

/** Weight decay, then clipping, then fixed signs, for weight `i` (shared by both optimisers). */
function constrain(w: Float64Array, i: number, o: UpdateConstraints): void {
  w[i] -= o.lr * o.weightDecay * w[i];
  if (o.clip) {
    if (w[i] < o.clip[0]) w[i] = o.clip[0];
    if (w[i] > o.clip[1]) w[i] = o.clip[1];
  }
  if (o.signs && o.signs[i] * w[i] < 0) w[i] = 0;
}

/** Throws unless every array has the length of `w`. */
function expectSameLength(fn: string, w: Float64Array, named: Record<string, ArrayLike<number>>) {
  for (const [name, a] of Object.entries(named)) {
    if (a.length !== w.length) {
      throw new Error(
        `${fn}: expected '${name}' to have ${w.length} values like w, got ${a.length}`,
      );
    }
  }
}

/**
 * One Adam step, in place on `w`, `m` and `v` (`step` counts from 1):
 * `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`,
 * `m_hat = m / (1 - b1^step)`, `v_hat = v / (1 - b2^step)`,
 * `w -= lr * m_hat / (sqrt(v_hat) + eps)`; then `w -= lr * weightDecay * w`,
 * then clipping to `o.clip`, then fixed signs.
 *
 * @example
 * ```ts
 * import { adamStep } from "./optim.ts";
 * const w = new Float64Array([1]), m = new Float64Array(1), v = new Float64Array(1);
 * adamStep(w, new Float64Array([0.3]), m, v, 1,
 *   { lr: 0.1, b1: 0.9, b2: 0.999, eps: 0, weightDecay: 0 });
 * if (Math.abs(w[0] - 0.9) > 1e-12) throw new Error(); // first step: lr * sign(g)
 * ```
 */
export function adamStep(
  w: Float64Array,
  g: Float64Array,
  m: Float64Array,
  v: Float64Array,
  step: number,
  o: AdamOptions,
): void {
  expectSameLength("adamStep", w, { g, m, v, ...(o.signs ? { signs: o.signs } : {}) });
  if (!(Number.isInteger(step) && step >= 1)) {
    throw new Error(`adamStep: expected step to be an integer >= 1, got ${step}`);
  }
  const c1 = 1 - Math.pow(o.b1, step);
  const c2 = 1 - Math.pow(o.b2, step);
  for (let i = 0; i < w.length; i++) {
    m[i] = o.b1 * m[i] + (1 - o.b1) * g[i];
    v[i] = o.b2 * v[i] + (1 - o.b2) * g[i] * g[i];
    const mHat = m[i] / c1;
    const vHat = v[i] / c2;
    w[i] -= o.lr * mHat / (Math.sqrt(vHat) + o.eps);
    constrain(w, i, o);
  }
}

/**
 * One SGD step, in place on `w`: `w -= lr * g`, then
 * `w -= lr * weightDecay * w`, then clipping, then fixed signs.
 *
 * @example
 * ```ts
 * import { sgdStep } from "./optim.ts";
 * const w = new Float64Array([0.1, -0.1]);
 * sgdStep(w, new Float64Array([2, 0]), { lr: 0.1, weightDecay: 0, signs: new Float64Array([1, -1]) });
 * if (w[0] !== 0 || w[1] !== -0.1) throw new Error(); // 0.1 - 0.2 crossed zero: set to 0
 * ```
 */
export function sgdStep(w: Float64Array, g: Float64Array, o: SgdOptions): void {
  expectSameLength("sgdStep", w, { g, ...(o.signs ? { signs: o.signs } : {}) });
  for (let i = 0; i < w.length; i++) {
    w[i] -= o.lr * g[i];
    constrain(w, i, o);
  }
}
