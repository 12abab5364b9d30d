/**
 * Float64 reference layers (MODEL.md): spiking convolution and fully
 * connected layers, max pooling of spike times, the non-spiking readout and
 * the softmax cross-entropy loss, each with its event-driven backward pass.
 *
 * Plain loops, written to read like MODEL.md; speed is not a goal. Arrays are
 * row-major: maps `[B, C, H, W]`, vectors `[B, F]`, conv weights
 * `[Co, Ci, k, k]`, linear and readout weights `[out, in]`. "No spike" is
 * `Infinity`; an input "fired" when its time is `< Infinity`.
 *
 * @module
 */

import { spikeGrads, spikeTime } from "./neuron.ts";

/** Shape of a spiking convolution: stride 1, padding `k // 2`, output `[B, Co, H, W]`. */
export interface ConvShape {
  B: number;
  Ci: number;
  H: number;
  W: number;
  Co: number;
  k: number;
}

/** Shape of a spiking fully connected layer: `[B, In]` to `[B, Out]`. */
export interface LinearShape {
  B: number;
  In: number;
  Out: number;
}

/** Shape of a max pooling layer: kernel and stride `k`, output `[B, C, floor(H/k), floor(W/k)]`. */
export interface PoolShape {
  B: number;
  C: number;
  H: number;
  W: number;
  k: number;
}

/** Shape of the readout: `F` input features, `K` classes. */
export interface ReadoutShape {
  B: number;
  F: number;
  K: number;
}

/** What a spiking layer's forward pass returns, one value per output neuron. */
export interface SpikingForward {
  /** Relative spike times in `[0, T]`, or `Infinity`. */
  tau: Float64Array;
  /** `S = sum w_i` over the inputs that fired. */
  S: Float64Array;
  /** `I = sum w_i t_i` over the inputs that fired. */
  I: Float64Array;
}

/** Throws unless `a.length === n`, naming the array and the layer. */
function expectLength(layer: string, name: string, a: ArrayLike<number>, n: number): void {
  if (a.length !== n) {
    throw new Error(`${layer}: expected '${name}' to have ${n} values, got ${a.length}`);
  }
}

/**
 * Spiking convolution forward: for every output neuron `(b, co, y, x)`,
 * `S` and `I` over the inputs `x[b, ci, y + ky - k//2, x + kx - k//2]` inside
 * the map that fired (padding is "no spike" and adds nothing), then
 * `tau = spikeTime(S, I, T)`. The output has the input's spatial size
 * (for even `k` these are the first `H x W` outputs of a PyTorch convolution
 * with padding `k // 2`).
 *
 * @example
 * ```ts
 * import { convForward } from "./layers.ts";
 * // 1x1 convolution of one pixel at t = 0 with weight 0.5
 * const r = convForward(new Float64Array([0]), new Float64Array([0.5]),
 *   { B: 1, Ci: 1, H: 1, W: 1, Co: 1, k: 1 }, 1);
 * if (Math.abs(r.tau[0] - 1 / 3) > 1e-15) throw new Error();
 * ```
 */
export function convForward(
  x: Float64Array,
  w: Float64Array,
  s: ConvShape,
  T: number,
): SpikingForward {
  const { B, Ci, H, W, Co, k } = s;
  expectLength("convForward", "x", x, B * Ci * H * W);
  expectLength("convForward", "w", w, Co * Ci * k * k);
  const p = Math.floor(k / 2);
  const n = B * Co * H * W;
  const tau = new Float64Array(n);
  const S = new Float64Array(n);
  const I = new Float64Array(n);
  for (let b = 0; b < B; b++) {
    for (let co = 0; co < Co; co++) {
      for (let y = 0; y < H; y++) {
        for (let xx = 0; xx < W; xx++) {
          let sumW = 0;
          let sumWT = 0;
          for (let ci = 0; ci < Ci; ci++) {
            for (let ky = 0; ky < k; ky++) {
              for (let kx = 0; kx < k; kx++) {
                const iy = y + ky - p;
                const ix = xx + kx - p;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue; // padding
                const t = x[((b * Ci + ci) * H + iy) * W + ix];
                if (!(t < Infinity)) continue; // did not fire
                const wi = w[((co * Ci + ci) * k + ky) * k + kx];
                sumW += wi;
                sumWT += wi * t;
              }
            }
          }
          const j = ((b * Co + co) * H + y) * W + xx;
          S[j] = sumW;
          I[j] = sumWT;
          tau[j] = spikeTime(sumW, sumWT, T);
        }
      }
    }
  }
  return { tau, S, I };
}

/**
 * Spiking convolution backward. `dTau` is dL/d tau per output neuron. Only
 * neurons with `0 < tau < T` pass gradient (see {@link spikeGrads}):
 * `dW[co, ci, ky, kx] += dTau_j * (t_i * gI + gS)` and
 * `dX[i] += dTau_j * w * gI` for every input `i` of `j` that fired. `dW` is
 * summed over the batch; `dX` (gradient w.r.t. the input times) is zero for
 * inputs that did not fire, and padding contributes nothing.
 *
 * @example
 * ```ts
 * import { convBackward, convForward } from "./layers.ts";
 * const s = { B: 1, Ci: 1, H: 1, W: 1, Co: 1, k: 1 };
 * const x = new Float64Array([0.5]), w = new Float64Array([0.5]);
 * const f = convForward(x, w, s, 1);
 * const g = convBackward(x, w, f.S, f.I, f.tau, new Float64Array([1]), s, 1, 1e9);
 * // tau = (2 + w t) / (1 + w) - 1: d tau / d t = w / (1 + w) = 1/3
 * if (Math.abs(g.dX[0] - 1 / 3) > 1e-15) throw new Error();
 * ```
 */
export function convBackward(
  x: Float64Array,
  w: Float64Array,
  S: Float64Array,
  I: Float64Array,
  tau: Float64Array,
  dTau: Float64Array,
  s: ConvShape,
  T: number,
  clip: number,
): { dW: Float64Array; dX: Float64Array } {
  const { B, Ci, H, W, Co, k } = s;
  const n = B * Co * H * W;
  expectLength("convBackward", "x", x, B * Ci * H * W);
  expectLength("convBackward", "w", w, Co * Ci * k * k);
  expectLength("convBackward", "S", S, n);
  expectLength("convBackward", "I", I, n);
  expectLength("convBackward", "tau", tau, n);
  expectLength("convBackward", "dTau", dTau, n);
  const p = Math.floor(k / 2);
  const dW = new Float64Array(w.length);
  const dX = new Float64Array(x.length);
  for (let b = 0; b < B; b++) {
    for (let co = 0; co < Co; co++) {
      for (let y = 0; y < H; y++) {
        for (let xx = 0; xx < W; xx++) {
          const j = ((b * Co + co) * H + y) * W + xx;
          const g = spikeGrads(S[j], I[j], tau[j], T, clip);
          if (g === null) continue;
          for (let ci = 0; ci < Ci; ci++) {
            for (let ky = 0; ky < k; ky++) {
              for (let kx = 0; kx < k; kx++) {
                const iy = y + ky - p;
                const ix = xx + kx - p;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                const xi = ((b * Ci + ci) * H + iy) * W + ix;
                const t = x[xi];
                if (!(t < Infinity)) continue;
                const wi = ((co * Ci + ci) * k + ky) * k + kx;
                dW[wi] += dTau[j] * (t * g.gI + g.gS);
                dX[xi] += dTau[j] * w[wi] * g.gI;
              }
            }
          }
        }
      }
    }
  }
  return { dW, dX };
}

/**
 * Spiking fully connected forward: for every output neuron `(b, o)`,
 * `S = sum w[o, i]` and `I = sum w[o, i] * x[b, i]` over the inputs that
 * fired, then `tau = spikeTime(S, I, T)`.
 *
 * @example
 * ```ts
 * import { linearForward } from "./layers.ts";
 * const r = linearForward(new Float64Array([0, Infinity]), new Float64Array([0.5, 9]),
 *   { B: 1, In: 2, Out: 1 }, 1);
 * if (r.S[0] !== 0.5 || Math.abs(r.tau[0] - 1 / 3) > 1e-15) throw new Error();
 * ```
 */
export function linearForward(
  x: Float64Array,
  w: Float64Array,
  s: LinearShape,
  T: number,
): SpikingForward {
  const { B, In, Out } = s;
  expectLength("linearForward", "x", x, B * In);
  expectLength("linearForward", "w", w, Out * In);
  const tau = new Float64Array(B * Out);
  const S = new Float64Array(B * Out);
  const I = new Float64Array(B * Out);
  for (let b = 0; b < B; b++) {
    for (let o = 0; o < Out; o++) {
      let sumW = 0;
      let sumWT = 0;
      for (let i = 0; i < In; i++) {
        const t = x[b * In + i];
        if (!(t < Infinity)) continue;
        sumW += w[o * In + i];
        sumWT += w[o * In + i] * t;
      }
      const j = b * Out + o;
      S[j] = sumW;
      I[j] = sumWT;
      tau[j] = spikeTime(sumW, sumWT, T);
    }
  }
  return { tau, S, I };
}

/**
 * Spiking fully connected backward, as {@link convBackward}:
 * `dW[o, i] += dTau * (t_i * gI + gS)`, `dX[b, i] += dTau * w[o, i] * gI` for
 * inputs that fired, only from neurons with `0 < tau < T`.
 *
 * @example
 * ```ts
 * import { linearBackward, linearForward } from "./layers.ts";
 * const s = { B: 1, In: 1, Out: 1 };
 * const x = new Float64Array([0]), w = new Float64Array([0.5]);
 * const f = linearForward(x, w, s, 1);
 * const g = linearBackward(x, w, f.S, f.I, f.tau, new Float64Array([1]), s, 1, 1e9);
 * // tau = 2 / (1 + w) - 1: d tau / d w = -2 / (1 + w)^2 = -8/9
 * if (Math.abs(g.dW[0] + 8 / 9) > 1e-15) throw new Error();
 * ```
 */
export function linearBackward(
  x: Float64Array,
  w: Float64Array,
  S: Float64Array,
  I: Float64Array,
  tau: Float64Array,
  dTau: Float64Array,
  s: LinearShape,
  T: number,
  clip: number,
): { dW: Float64Array; dX: Float64Array } {
  const { B, In, Out } = s;
  expectLength("linearBackward", "x", x, B * In);
  expectLength("linearBackward", "w", w, Out * In);
  expectLength("linearBackward", "S", S, B * Out);
  expectLength("linearBackward", "I", I, B * Out);
  expectLength("linearBackward", "tau", tau, B * Out);
  expectLength("linearBackward", "dTau", dTau, B * Out);
  const dW = new Float64Array(w.length);
  const dX = new Float64Array(x.length);
  for (let b = 0; b < B; b++) {
    for (let o = 0; o < Out; o++) {
      const j = b * Out + o;
      const g = spikeGrads(S[j], I[j], tau[j], T, clip);
      if (g === null) continue;
      for (let i = 0; i < In; i++) {
        const t = x[b * In + i];
        if (!(t < Infinity)) continue;
        dW[o * In + i] += dTau[j] * (t * g.gI + g.gS);
        dX[b * In + i] += dTau[j] * w[o * In + i] * g.gI;
      }
    }
  }
  return { dW, dX };
}

/**
 * Max pooling of spike times (kernel and stride `k`, no padding): each output
 * keeps the earliest input time of its window, `Infinity` if none fired.
 * `idx` is the flat index into `x` of the chosen input (the first in
 * row-major order on ties), or -1 when none fired. Rows and columns beyond
 * `floor(H/k) * k` are dropped.
 *
 * @example
 * ```ts
 * import { poolForward } from "./layers.ts";
 * const r = poolForward(new Float64Array([0.5, 0.2, 0.2, Infinity]), { B: 1, C: 1, H: 2, W: 2, k: 2 });
 * if (r.y[0] !== 0.2 || r.idx[0] !== 1) throw new Error();
 * ```
 */
export function poolForward(
  x: Float64Array,
  s: PoolShape,
): { y: Float64Array; idx: Int32Array } {
  const { B, C, H, W, k } = s;
  expectLength("poolForward", "x", x, B * C * H * W);
  const Ho = Math.floor(H / k);
  const Wo = Math.floor(W / k);
  const y = new Float64Array(B * C * Ho * Wo);
  const idx = new Int32Array(B * C * Ho * Wo);
  for (let b = 0; b < B; b++) {
    for (let c = 0; c < C; c++) {
      for (let oy = 0; oy < Ho; oy++) {
        for (let ox = 0; ox < Wo; ox++) {
          let best = Infinity;
          let bestIdx = -1;
          for (let ky = 0; ky < k; ky++) {
            for (let kx = 0; kx < k; kx++) {
              const i = ((b * C + c) * H + oy * k + ky) * W + ox * k + kx;
              if (x[i] < best) { // strict: the first one wins ties
                best = x[i];
                bestIdx = i;
              }
            }
          }
          const j = ((b * C + c) * Ho + oy) * Wo + ox;
          y[j] = best;
          idx[j] = bestIdx;
        }
      }
    }
  }
  return { y, idx };
}

/**
 * Max pooling backward: routes each `dY[j]` to the input `idx[j]` chosen in
 * the forward pass (nothing where `idx[j] === -1`). Returns `xSize` values.
 *
 * @example
 * ```ts
 * import { poolBackward } from "./layers.ts";
 * const dX = poolBackward(new Float64Array([3, 4]), new Int32Array([1, -1]), 4);
 * if (dX.join() !== "0,3,0,0") throw new Error();
 * ```
 */
export function poolBackward(
  dY: Float64Array,
  idx: Int32Array | ArrayLike<number>,
  xSize: number,
): Float64Array {
  expectLength("poolBackward", "idx", idx, dY.length);
  const dX = new Float64Array(xSize);
  for (let j = 0; j < dY.length; j++) {
    if (idx[j] >= 0) dX[idx[j]] += dY[j];
  }
  return dX;
}

/**
 * Readout forward (does not fire): the membrane potential at the end of its
 * window, `U[b, k] = sum over inputs that fired of w[k, i] * (2T - x[b, i])`.
 *
 * @example
 * ```ts
 * import { readoutForward } from "./layers.ts";
 * const U = readoutForward(new Float64Array([0.5, Infinity]), new Float64Array([2, 7]),
 *   { B: 1, F: 2, K: 1 }, 1);
 * if (U[0] !== 3) throw new Error(); // 2 * (2 - 0.5)
 * ```
 */
export function readoutForward(
  x: Float64Array,
  w: Float64Array,
  s: ReadoutShape,
  T: number,
): Float64Array {
  const { B, F, K } = s;
  expectLength("readoutForward", "x", x, B * F);
  expectLength("readoutForward", "w", w, K * F);
  const U = new Float64Array(B * K);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < K; k++) {
      let u = 0;
      for (let i = 0; i < F; i++) {
        const t = x[b * F + i];
        if (!(t < Infinity)) continue;
        u += w[k * F + i] * (2 * T - t);
      }
      U[b * K + k] = u;
    }
  }
  return U;
}

/**
 * Readout backward: `dW[k, i] = sum_b dU[b, k] * (2T - t_i)` over inputs that
 * fired, and `dX[b, i] = -sum_k w[k, i] * dU[b, k]` only where `t_i < T`
 * (an input at exactly `T` or without a spike gets 0).
 *
 * @example
 * ```ts
 * import { readoutBackward } from "./layers.ts";
 * const g = readoutBackward(new Float64Array([0.5, 1]), new Float64Array([2, 3]),
 *   new Float64Array([1]), { B: 1, F: 2, K: 1 }, 1);
 * if (g.dW.join() !== "1.5,1" || g.dX.join() !== "-2,0") throw new Error();
 * ```
 */
export function readoutBackward(
  x: Float64Array,
  w: Float64Array,
  dU: Float64Array,
  s: ReadoutShape,
  T: number,
): { dW: Float64Array; dX: Float64Array } {
  const { B, F, K } = s;
  expectLength("readoutBackward", "x", x, B * F);
  expectLength("readoutBackward", "w", w, K * F);
  expectLength("readoutBackward", "dU", dU, B * K);
  const dW = new Float64Array(w.length);
  const dX = new Float64Array(x.length);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < F; i++) {
      const t = x[b * F + i];
      if (!(t < Infinity)) continue;
      for (let k = 0; k < K; k++) {
        dW[k * F + i] += dU[b * K + k] * (2 * T - t);
        if (t < T) dX[b * F + i] -= w[k * F + i] * dU[b * K + k];
      }
    }
  }
  return { dW, dX };
}

/**
 * Softmax cross-entropy over readout potentials `U` (`[B, K]`):
 * `loss` is the mean over the batch of `-log softmax(U_b)[label_b]`,
 * `dU = (softmax(U) - onehot(labels)) / B`, and `correct` counts samples whose
 * argmax (the first maximum on ties) equals the label.
 *
 * @example
 * ```ts
 * import { softmaxCrossEntropy } from "./layers.ts";
 * const r = softmaxCrossEntropy(new Float64Array([0, 0]), [1], 1, 2);
 * if (Math.abs(r.loss - Math.LN2) > 1e-15 || r.dU.join() !== "0.5,-0.5" || r.correct !== 0) {
 *   throw new Error();
 * }
 * ```
 */
export function softmaxCrossEntropy(
  U: Float64Array,
  labels: ArrayLike<number>,
  B: number,
  K: number,
): { loss: number; dU: Float64Array; correct: number } {
  expectLength("softmaxCrossEntropy", "U", U, B * K);
  expectLength("softmaxCrossEntropy", "labels", labels, B);
  const dU = new Float64Array(B * K);
  let lossSum = 0;
  let correct = 0;
  for (let b = 0; b < B; b++) {
    const label = labels[b];
    if (!(Number.isInteger(label) && label >= 0 && label < K)) {
      throw new Error(
        `softmaxCrossEntropy: expected label ${b} to be an integer in [0, ${K}), got ${label}`,
      );
    }
    let max = -Infinity;
    let argmax = 0;
    for (let k = 0; k < K; k++) {
      if (U[b * K + k] > max) {
        max = U[b * K + k];
        argmax = k;
      }
    }
    let sumExp = 0;
    for (let k = 0; k < K; k++) sumExp += Math.exp(U[b * K + k] - max);
    const logSumExp = max + Math.log(sumExp);
    lossSum += logSumExp - U[b * K + label];
    for (let k = 0; k < K; k++) {
      const p = Math.exp(U[b * K + k] - logSumExp);
      dU[b * K + k] = (p - (k === label ? 1 : 0)) / B;
    }
    if (argmax === label) correct++;
  }
  return { loss: lossSum / B, dU, correct };
}
