/**
 * The Rel-PSP neuron with a falling threshold (MODEL.md), in float64: the
 * closed-form spike time, its event-driven gradient factors, and the
 * time-to-first-spike input encoding.
 *
 * Times are in the layer's own frame: inputs in `[0, T]`, the neuron may fire
 * in `[T, 2T]` and passes on `tau = t_fire - T`. "No spike" is `Infinity`.
 *
 * @module
 */

/**
 * Relative spike time `tau` of one neuron with `S = sum w_i` and
 * `I = sum w_i t_i` over the inputs that fired, for window length `T`.
 *
 * 1. `S*T - I >= T`: fires when the window opens, `tau = 0`;
 * 2. else `1 + S > 0` and `t* = (2T + I) / (1 + S) <= 2T`: `tau = t* - T`;
 * 3. else no spike: `Infinity`.
 *
 * In case 2 `t* > T` holds exactly; a result below 0 from float rounding is
 * returned as 0, so the result is always in `[0, T]` or `Infinity`.
 *
 * @example
 * ```ts
 * import { spikeTime } from "./neuron.ts";
 * // one input w = 0.5 at t = 0: V(t) = 0.5 t meets 2 - t at t = 4/3
 * if (Math.abs(spikeTime(0.5, 0, 1) - 1 / 3) > 1e-15) throw new Error();
 * if (spikeTime(3, 1, 1) !== 0) throw new Error(); // 3 - 1 >= 1
 * if (spikeTime(-1, 0, 1) !== Infinity) throw new Error(); // 1 + S <= 0
 * ```
 */
export function spikeTime(S: number, I: number, T: number): number {
  if (S * T - I >= T) return 0;
  if (1 + S > 0) {
    const tStar = (2 * T + I) / (1 + S);
    if (tStar <= 2 * T) return Math.max(0, tStar - T);
  }
  return Infinity;
}

/** Limits `g` to `[-c, c]`. */
function clipTo(g: number, c: number): number {
  return Math.min(c, Math.max(-c, g));
}

/**
 * Gradient factors of a neuron that fired strictly inside its window
 * (`0 < tau < T`); `null` otherwise (it passes no gradient).
 *
 * `gI = clip(1 / (1 + S))`, `gS = clip(-(2T + I) / (1 + S)^2)`, each limited to
 * `[-clip, clip]`. Then `d tau / d w_i = t_i * gI + gS` and
 * `d tau / d t_i = w_i * gI` for every input `i` that fired.
 *
 * @example
 * ```ts
 * import { spikeGrads } from "./neuron.ts";
 * if (spikeGrads(1, 0, 0, 1, 1e9) !== null) throw new Error(); // tau = 0: no gradient
 * const g = spikeGrads(0.5, 0, 1 / 3, 1, 1e9)!;
 * if (Math.abs(g.gI - 2 / 3) > 1e-15 || Math.abs(g.gS + 8 / 9) > 1e-15) throw new Error();
 * ```
 */
export function spikeGrads(
  S: number,
  I: number,
  tau: number,
  T: number,
  clip: number,
): { gI: number; gS: number } | null {
  if (!(tau > 0 && tau < T)) return null;
  const gI = clipTo(1 / (1 + S), clip);
  const gS = clipTo(-(2 * T + I) / ((1 + S) * (1 + S)), clip);
  return { gI, gS };
}

/** Per-channel normalisation for {@link encode}. */
export interface EncodeNorm {
  /** Mean per channel. */
  mean: number[];
  /** Standard deviation per channel. */
  std: number[];
  /** Number of channels `C` of each sample. */
  channels: number;
  /** Elements per channel plane (`H * W`). */
  plane: number;
}

/**
 * Time-to-first-spike encoding of intensities `x` in `[0, 1]` (any layout):
 * `t = T * (1 - x)`, and `x == 0` does not spike (`Infinity`).
 *
 * With `norm` (layout `[B, C, H, W]`), the element at flat index `i` has
 * channel `c = floor(i / plane) % channels` and is first normalised:
 * `xn = (x - mean[c]) / std[c]`, `t = T * (1 - xn)`, and only then `t == T`
 * exactly (a pixel equal to the mean) does not spike, as the reference does.
 * A raw 0 pixel then spikes late, at `T * (1 + mean[c] / std[c])`; times may
 * lie outside `[0, T]`.
 *
 * @example
 * ```ts
 * import { encode } from "./neuron.ts";
 * const t = encode(new Float64Array([0, 1, 0.25]), 2);
 * if (t[0] !== Infinity || t[1] !== 0 || t[2] !== 1.5) throw new Error();
 * ```
 */
export function encode(x: Float64Array, T: number, norm?: EncodeNorm): Float64Array {
  if (norm) {
    if (norm.mean.length < norm.channels || norm.std.length < norm.channels) {
      throw new Error(
        `Cannot encode: expected ${norm.channels} means and stds, got ${norm.mean.length} and ` +
          `${norm.std.length}`,
      );
    }
    if (x.length % (norm.channels * norm.plane) !== 0) {
      throw new Error(
        `Cannot encode: expected a multiple of channels*plane = ${norm.channels * norm.plane} ` +
          `values, got ${x.length}`,
      );
    }
  }
  const t = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    if (norm) {
      const c = Math.floor(i / norm.plane) % norm.channels;
      const xn = (x[i] - norm.mean[c]) / norm.std[c];
      const tn = T * (1 - xn);
      t[i] = tn === T ? Infinity : tn;
    } else {
      t[i] = x[i] === 0 ? Infinity : T * (1 - x[i]);
    }
  }
  return t;
}
