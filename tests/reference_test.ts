/**
 * Tests of the float64 reference (src/reference): brute-force simulation of
 * the neuron, finite differences of every backward pass, and hand-computed
 * cases.
 */

import assert from "node:assert/strict";
import {
  adamStep,
  convBackward,
  convForward,
  createAdamState,
  encode,
  linearBackward,
  linearForward,
  networkBackward,
  networkForward,
  poolBackward,
  poolForward,
  readoutBackward,
  readoutForward,
  sgdStep,
  softmaxCrossEntropy,
  spikeGrads,
  spikeTime,
  trainStepRef,
} from "../src/reference/mod.ts";
import { type LayerPlan, planModel, sizeOf } from "../src/engine/spec.ts";

// ---------------------------------------------------------------- helpers

/** Small seeded generator (mulberry32), uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples (Box-Muller) from a uniform generator. */
function gaussian(rand: () => number): () => number {
  return () => {
    const u = 1 - rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
}

/** Random spike times in [0, T), with probability `pSilent` of no spike. */
function randomTimes(rand: () => number, n: number, T: number, pSilent: number): Float64Array {
  const t = new Float64Array(n);
  for (let i = 0; i < n; i++) t[i] = rand() < pSilent ? Infinity : T * rand();
  return t;
}

/** Normal weights with standard deviation `std`. */
function randomWeights(randn: () => number, n: number, std: number): Float64Array {
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = randn() * std;
  return w;
}

/** Central difference of `f` in `arr[i]`; restores `arr[i]` exactly. */
function centralDiff(f: () => number, arr: Float64Array, i: number, eps: number): number {
  const old = arr[i];
  arr[i] = old + eps;
  const fp = f();
  arr[i] = old - eps;
  const fm = f();
  arr[i] = old;
  return (fp - fm) / (2 * eps);
}

function assertClose(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= tol,
    `${what}: expected ${expected}, got ${actual} (difference ${
      Math.abs(actual - expected)
    }, tolerance ${tol})`,
  );
}

/**
 * Brute-force Rel-PSP neuron: V(t) = sum_i w_i max(0, t - t_i) over inputs
 * that fired, threshold 2T - t, scanned on `steps + 1` grid points of
 * [T, 2T]. Returns the first grid time with V >= threshold, or Infinity.
 */
function bruteFirstCrossing(
  w: ArrayLike<number>,
  t: ArrayLike<number>,
  T: number,
  steps: number,
): number {
  for (let n = 0; n <= steps; n++) {
    const time = T + (n / steps) * T;
    let V = 0;
    for (let i = 0; i < w.length; i++) {
      if (t[i] === Infinity) continue;
      V += w[i] * Math.max(0, time - t[i]);
    }
    if (V >= 2 * T - time) return time;
  }
  return Infinity;
}

/** S and I of one neuron from its inputs (inputs that fired only). */
function sumsOf(w: ArrayLike<number>, t: ArrayLike<number>): { S: number; I: number } {
  let S = 0;
  let I = 0;
  for (let i = 0; i < w.length; i++) {
    if (t[i] === Infinity) continue;
    S += w[i];
    I += w[i] * t[i];
  }
  return { S, I };
}

// ---------------------------------------------------------------- 1. brute force

Deno.test("spikeTime agrees with a brute-force simulation on a fine grid", () => {
  const rand = mulberry32(12345);
  const randn = gaussian(rand);
  const steps = 20000;
  const counts = { start: 0, inside: 0, none: 0 };
  for (let c = 0; c < 900; c++) {
    const T = [0.5, 1, 2][c % 3];
    const n = 1 + Math.floor(rand() * 8);
    const scale = [0.3, 1, 2.5][Math.floor(rand() * 3)];
    const w = Array.from({ length: n }, () => randn() * scale);
    const t = Array.from({ length: n }, () => (rand() < 0.2 ? Infinity : T * rand()));
    const { S, I } = sumsOf(w, t);
    const tau = spikeTime(S, I, T);
    const brute = bruteFirstCrossing(w, t, T, steps);
    const h = T / steps;
    const what = `case ${c}: T=${T} w=[${w}] t=[${t}] tau=${tau} brute=${brute}`;
    if (tau === Infinity) {
      counts.none++;
      // Only a crossing exactly at 2T, lost to rounding, may differ.
      if (brute !== Infinity) {
        assert.equal(brute, 2 * T, what);
        let V = 0;
        for (let i = 0; i < n; i++) if (t[i] !== Infinity) V += w[i] * (2 * T - t[i]);
        assert.ok(Math.abs(V) < 1e-12, what);
      }
    } else {
      assert.ok(tau >= 0 && tau <= T, what);
      if (tau === 0) counts.start++;
      else counts.inside++;
      assert.ok(brute < Infinity, what);
      assert.ok(T + tau <= brute + 1e-12 && T + tau >= brute - h - 1e-12, what);
    }
  }
  // all three cases were exercised
  assert.ok(counts.start > 50 && counts.inside > 150 && counts.none > 50, JSON.stringify(counts));
});

Deno.test("spikeTime edge cases, checked against the brute force", () => {
  const steps = 20000;
  for (const T of [0.5, 1, 2]) {
    // no input fires: V = 0 meets the threshold 2T - t only at t = 2T
    assert.equal(spikeTime(0, 0, T), T);
    assert.equal(bruteFirstCrossing([0.7, -0.2], [Infinity, Infinity], T, steps), 2 * T);
    assert.equal(bruteFirstCrossing([], [], T, steps), 2 * T);
    // S*T - I == T exactly: fires when the window opens
    const w1 = [2], t1 = [T / 2];
    const s1 = sumsOf(w1, t1);
    assert.equal(s1.S * T - s1.I, T);
    assert.equal(spikeTime(s1.S, s1.I, T), 0);
    assert.equal(bruteFirstCrossing(w1, t1, T, steps), T);
  }
  // 1 + S < 0 but above threshold at the start: fires at 0
  {
    const w = [1, -3], t = [0, 1];
    const { S, I } = sumsOf(w, t); // S = -2, I = -3, S - I = 1 >= 1
    assert.equal(spikeTime(S, I, 1), 0);
    assert.equal(bruteFirstCrossing(w, t, 1, steps), 1);
  }
  // 1 + S == 0 and 1 + S < 0 below threshold: never fires (no NaN)
  for (const w of [[-1], [-1.5], [0.5, -1.5]]) {
    const t = w.map(() => 0.5);
    const { S, I } = sumsOf(w, t);
    assert.equal(spikeTime(S, I, 1), Infinity, `w=[${w}]`);
    assert.equal(bruteFirstCrossing(w, t, 1, steps), Infinity, `w=[${w}]`);
  }
  // t* just past 2T: no spike; t* just before 2T: tau just below T
  assert.equal(spikeTime(0, 1e-9, 1), Infinity);
  assertClose(spikeTime(0, -1e-9, 1), 1 - 1e-9, 1e-15, "t* just before 2T");
  {
    const w = [0.001, -0.001], t = [0.5 + 1e-6, 0.5];
    const { S, I } = sumsOf(w, t); // S = 0, I = 1e-9: t* = 2 + 1e-9
    assert.equal(S, 0);
    assert.equal(spikeTime(S, I, 1), Infinity);
    assert.equal(bruteFirstCrossing(w, t, 1, steps), Infinity);
  }
  // t* exactly 2T: fires at the end of the window, tau = T
  {
    const w = [0.5, -0.5], t = [0.25, 0.25];
    const { S, I } = sumsOf(w, t);
    assert.equal(spikeTime(S, I, 1), 1);
    assert.equal(bruteFirstCrossing(w, t, 1, steps), 2);
  }
});

// ---------------------------------------------------------------- 2. finite differences

const EPS = 1e-6;

/**
 * Which neurons are safely inside one case: tau well inside (0, T) with 1 + S
 * not tiny, or tau == 0 with S*T - I well above T. Others are left out.
 */
function interiorMask(
  tau: Float64Array,
  S: Float64Array,
  I: Float64Array,
  T: number,
): { mask: boolean[]; inside: number; start: number } {
  const m = 0.02 * T;
  let inside = 0;
  let start = 0;
  const mask = Array.from(tau, (t, j) => {
    if (t > m && t < T - m && 1 + S[j] > 0.1) {
      inside++;
      return true;
    }
    if (t === 0 && S[j] * T - I[j] - T > m) {
      start++;
      return true;
    }
    return false;
  });
  return { mask, inside, start };
}

/** Checks a spiking layer's backward against central differences. */
function checkSpikingLayer(
  name: string,
  forward: (x: Float64Array, w: Float64Array) => {
    tau: Float64Array;
    S: Float64Array;
    I: Float64Array;
  },
  backward: (
    x: Float64Array,
    w: Float64Array,
    S: Float64Array,
    I: Float64Array,
    tau: Float64Array,
    dTau: Float64Array,
  ) => { dW: Float64Array; dX: Float64Array },
  x: Float64Array,
  w: Float64Array,
  T: number,
  randn: () => number,
): void {
  const base = forward(x, w);
  const { mask, inside, start } = interiorMask(base.tau, base.S, base.I, T);
  assert.ok(inside >= 10 && start >= 2, `${name}: too few usable neurons (${inside}, ${start})`);
  const c = Float64Array.from(mask, (on) => (on ? randn() : 0));
  const loss = () => {
    const { tau } = forward(x, w);
    let L = 0;
    for (let j = 0; j < tau.length; j++) if (mask[j]) L += c[j] * tau[j];
    assert.ok(Number.isFinite(L), `${name}: a checked neuron left its case`);
    return L;
  };
  const g = backward(x, w, base.S, base.I, base.tau, c);
  let nonzero = 0;
  for (let i = 0; i < w.length; i++) {
    const fd = centralDiff(loss, w, i, EPS);
    assertClose(g.dW[i], fd, 1e-7 * (1 + Math.abs(fd)), `${name} T=${T} dW[${i}]`);
    if (Math.abs(fd) > 1e-2) nonzero++;
  }
  assert.ok(nonzero >= w.length / 4, `${name}: only ${nonzero} of ${w.length} dW are nonzero`);
  let fired = 0;
  for (let i = 0; i < x.length; i++) {
    if (x[i] === Infinity) {
      assert.equal(g.dX[i], 0, `${name}: dX[${i}] of an input that did not fire`);
      continue;
    }
    fired++;
    const fd = centralDiff(loss, x, i, EPS);
    assertClose(g.dX[i], fd, 1e-7 * (1 + Math.abs(fd)), `${name} T=${T} dX[${i}]`);
  }
  assert.ok(fired > x.length / 2);
}

Deno.test("convBackward matches finite differences (weights and input times)", () => {
  const rand = mulberry32(7);
  const randn = gaussian(rand);
  for (const T of [1, 1.5]) {
    const s = { B: 2, Ci: 2, H: 4, W: 5, Co: 3, k: 3 };
    const x = randomTimes(rand, s.B * s.Ci * s.H * s.W, T, 0.25);
    const w = randomWeights(
      randn,
      s.Co * s.Ci * s.k * s.k,
      1.5 * Math.sqrt(2 / (s.Ci * s.k * s.k)),
    );
    checkSpikingLayer(
      "conv",
      (x, w) => convForward(x, w, s, T),
      (x, w, S, I, tau, dTau) => convBackward(x, w, S, I, tau, dTau, s, T, 1e9),
      x,
      w,
      T,
      randn,
    );
  }
});

Deno.test("linearBackward matches finite differences (weights and input times)", () => {
  const rand = mulberry32(99);
  const randn = gaussian(rand);
  for (const T of [1, 0.5]) {
    const s = { B: 4, In: 10, Out: 16 };
    const x = randomTimes(rand, s.B * s.In, T, 0.25);
    const w = randomWeights(randn, s.Out * s.In, 1.5 * Math.sqrt(2 / s.In));
    checkSpikingLayer(
      "linear",
      (x, w) => linearForward(x, w, s, T),
      (x, w, S, I, tau, dTau) => linearBackward(x, w, S, I, tau, dTau, s, T, 1e9),
      x,
      w,
      T,
      randn,
    );
  }
});

Deno.test("readoutBackward matches finite differences", () => {
  const rand = mulberry32(2024);
  const randn = gaussian(rand);
  for (const T of [1, 2]) {
    const s = { B: 2, F: 7, K: 3 };
    const x = randomTimes(rand, s.B * s.F, T, 0.3);
    const w = randomWeights(randn, s.K * s.F, 1);
    const c = randomWeights(randn, s.B * s.K, 1);
    const loss = () => {
      const U = readoutForward(x, w, s, T);
      let L = 0;
      for (let j = 0; j < U.length; j++) L += c[j] * U[j];
      return L;
    };
    const g = readoutBackward(x, w, c, s, T);
    for (let i = 0; i < w.length; i++) {
      assertClose(g.dW[i], centralDiff(loss, w, i, EPS), 1e-8, `readout dW[${i}]`);
    }
    for (let i = 0; i < x.length; i++) {
      if (x[i] === Infinity) {
        assert.equal(g.dX[i], 0);
        continue;
      }
      assertClose(g.dX[i], centralDiff(loss, x, i, EPS), 1e-8, `readout dX[${i}]`);
    }
  }
});

Deno.test("softmaxCrossEntropy gradient matches finite differences", () => {
  const rand = mulberry32(5);
  const randn = gaussian(rand);
  const B = 3, K = 4;
  const U = randomWeights(randn, B * K, 3);
  const labels = [2, 0, 3];
  const { dU } = softmaxCrossEntropy(U, labels, B, K);
  for (let i = 0; i < U.length; i++) {
    const fd = centralDiff(() => softmaxCrossEntropy(U, labels, B, K).loss, U, i, EPS);
    assertClose(dU[i], fd, 1e-8, `dU[${i}]`);
  }
  // large potentials do not overflow
  const big = softmaxCrossEntropy(new Float64Array([1000, 0]), [1], 1, 2);
  assertClose(big.loss, 1000, 1e-9, "loss of U=[1000, 0], label 1");
});

/**
 * A signature of every discrete choice of the forward pass: the case of each
 * spiking neuron and each pool's chosen input. Within one signature the loss
 * is a smooth function of the weights.
 */
function signature(plan: LayerPlan[], outputs: Float64Array[], saved: any[]): string {
  const parts: string[] = [];
  plan.forEach((p, l) => {
    if (p.spec.kind === "pool") parts.push(Array.from(saved[l].idx as Int32Array).join(","));
    else if (p.spec.kind !== "readout") {
      parts.push(
        Array.from(outputs[l], (t) => (t === 0 ? "0" : t === Infinity ? "n" : "i")).join(""),
      );
    }
  });
  return parts.join("|");
}

Deno.test("networkBackward matches finite differences of the loss (conv-pool-linear-readout)", () => {
  const rand = mulberry32(31337);
  const randn = gaussian(rand);
  const T = 1;
  const B = 2;
  const plan = planModel("4C3-P2-6F", [2, 6, 6], 3);
  const weights = plan.map((p) =>
    p.weightShape ? randomWeights(randn, sizeOf(p.weightShape), Math.sqrt(2 / p.fanIn)) : null
  );
  const pixels = Float64Array.from(
    { length: B * sizeOf(plan[0].inShape) },
    () => (rand() < 0.2 ? 0 : rand()),
  );
  const x = encode(pixels, T);
  const labels = [1, 2];
  const lossOf = () => {
    const f = networkForward(plan, weights, x, B, T);
    return softmaxCrossEntropy(f.outputs[f.outputs.length - 1], labels, B, 3).loss;
  };
  const sigOf = () => {
    const f = networkForward(plan, weights, x, B, T);
    return signature(plan, f.outputs, f.saved);
  };
  const fwd = networkForward(plan, weights, x, B, T);
  const { dU } = softmaxCrossEntropy(fwd.outputs[fwd.outputs.length - 1], labels, B, 3);
  const { grads } = networkBackward(plan, weights, x, fwd, dU, B, T, 1e9);
  const base = signature(plan, fwd.outputs, fwd.saved);
  // the data must exercise every kind of neuron
  assert.ok(/i/.test(base.split("|")[0]) && /i/.test(base.split("|")[2]), base);
  let checked = 0, skipped = 0, nonzero = 0, total = 0;
  for (let l = 0; l < plan.length; l++) {
    const w = weights[l];
    if (w === null) {
      assert.equal(grads[l], null);
      continue;
    }
    let layerNonzero = 0;
    for (let i = 0; i < w.length; i++) {
      total++;
      // skip coordinates whose neighbourhood crosses an edge of some case
      const old = w[i];
      w[i] = old + 100 * EPS;
      const up = sigOf();
      w[i] = old - 100 * EPS;
      const down = sigOf();
      w[i] = old;
      if (up !== base || down !== base) {
        skipped++;
        continue;
      }
      checked++;
      const fd = centralDiff(lossOf, w, i, EPS);
      assertClose(grads[l]![i], fd, 1e-7 * (1 + Math.abs(fd)), `layer ${l} dW[${i}]`);
      if (Math.abs(fd) > 1e-4) layerNonzero++;
    }
    assert.ok(layerNonzero > 0, `layer ${l}: no nonzero gradient was checked`);
    nonzero += layerNonzero;
  }
  assert.ok(checked >= 0.8 * total, `checked only ${checked} of ${total} (skipped ${skipped})`);
  assert.ok(nonzero >= 0.3 * total, `only ${nonzero} of ${total} gradients are nonzero`);
});

// ---------------------------------------------------------------- 3. hand-computed cases

Deno.test("1x1 convolution by hand", () => {
  // B=1, Ci=2, H=1, W=2; channel 0: [0.2, no spike], channel 1: [0.6, 0.4]
  const s = { B: 1, Ci: 2, H: 1, W: 2, Co: 1, k: 1 };
  const x = new Float64Array([0.2, Infinity, 0.6, 0.4]);
  const w = new Float64Array([0.5, 0.25]);
  const f = convForward(x, w, s, 1);
  // pixel 0: S = 0.75, I = 0.25, t* = 2.25 / 1.75 = 9/7, tau = 2/7
  // pixel 1: S = 0.25, I = 0.1, t* = 2.1 / 1.25 = 1.68, tau = 0.68
  assertClose(f.S[0], 0.75, 1e-15, "S[0]");
  assertClose(f.I[0], 0.25, 1e-15, "I[0]");
  assertClose(f.tau[0], 2 / 7, 1e-15, "tau[0]");
  assertClose(f.S[1], 0.25, 1e-15, "S[1]");
  assertClose(f.I[1], 0.1, 1e-15, "I[1]");
  assertClose(f.tau[1], 0.68, 1e-15, "tau[1]");
  const g = convBackward(x, w, f.S, f.I, f.tau, new Float64Array([1, 1]), s, 1, 1e9);
  // pixel 0: gI = 4/7, gS = -2.25 / 1.75^2 = -36/49; pixel 1: gI = 0.8, gS = -2.1 / 1.5625 = -1.344
  assertClose(g.dW[0], 0.2 * 4 / 7 - 36 / 49, 1e-15, "dW[0]");
  assertClose(g.dW[1], 0.6 * 4 / 7 - 36 / 49 + 0.4 * 0.8 - 1.344, 1e-15, "dW[1]");
  assertClose(g.dX[0], 2 / 7, 1e-15, "dX[0]");
  assert.equal(g.dX[1], 0);
  assertClose(g.dX[2], 1 / 7, 1e-15, "dX[2]");
  assertClose(g.dX[3], 0.2, 1e-15, "dX[3]");
});

Deno.test("2x2 max pooling by hand: earliest spike, ties, silent windows, odd sizes", () => {
  const I = Infinity;
  // B=1, C=2, H=3, W=4; the third row is dropped (floor(3/2) = 1)
  // deno-fmt-ignore
  const x = new Float64Array([
    // channel 0
    0.5, 0.3, 0.9, I,
    0.3, 0.7, I, I,
    0, 0, 0, 0,
    // channel 1
    I, I, 0.4, 0.4,
    I, I, 0.4, 0.4,
    0, 0, 0, 0,
  ]);
  const r = poolForward(x, { B: 1, C: 2, H: 3, W: 4, k: 2 });
  assert.deepEqual(Array.from(r.y), [0.3, 0.9, Infinity, 0.4]);
  assert.deepEqual(Array.from(r.idx), [1, 2, -1, 14]);
  const dX = poolBackward(new Float64Array([1, 2, 3, 4]), r.idx, x.length);
  const expected = new Array(24).fill(0);
  expected[1] = 1;
  expected[2] = 2;
  expected[14] = 4;
  assert.deepEqual(Array.from(dX), expected);
});

Deno.test("3x3 convolution padding adds nothing (by hand)", () => {
  // one 2x2 input channel, weights w[ky][kx] = 0.01 * (3 ky + kx + 1)
  const s = { B: 1, Ci: 1, H: 2, W: 2, Co: 1, k: 3 };
  const x = new Float64Array([0.1, 0.2, 0.3, 0.4]);
  const w = new Float64Array([0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09]);
  const f = convForward(x, w, s, 1);
  // output (0,0) sees w11 w12 w21 w22; (0,1): w10 w11 w20 w21; (1,0): w01 w02 w11 w12;
  // (1,1): w00 w01 w10 w11, each on inputs 0.1 0.2 0.3 0.4
  const expS = [0.28, 0.24, 0.16, 0.12];
  const expI = [0.077, 0.067, 0.047, 0.037];
  for (let j = 0; j < 4; j++) {
    assertClose(f.S[j], expS[j], 1e-15, `S[${j}]`);
    assertClose(f.I[j], expI[j], 1e-15, `I[${j}]`);
    assertClose(f.tau[j], (2 + expI[j]) / (1 + expS[j]) - 1, 1e-15, `tau[${j}]`);
  }
  // gradient from output (1,1) only: reaches w00 w01 w10 w11 and all four inputs
  const g = convBackward(x, w, f.S, f.I, f.tau, new Float64Array([0, 0, 0, 1]), s, 1, 1e9);
  const gI = 1 / 1.12, gS = -2.037 / (1.12 * 1.12);
  const expDW = [0.1 * gI + gS, 0.2 * gI + gS, 0, 0.3 * gI + gS, 0.4 * gI + gS, 0, 0, 0, 0];
  for (let i = 0; i < 9; i++) assertClose(g.dW[i], expDW[i], 1e-14, `dW[${i}]`);
  const expDX = [0.01 * gI, 0.02 * gI, 0.04 * gI, 0.05 * gI];
  for (let i = 0; i < 4; i++) assertClose(g.dX[i], expDX[i], 1e-15, `dX[${i}]`);
});

Deno.test("gradient clip limits gI and gS (by hand)", () => {
  // w = [-2, 1.25] at t = [0.8, 0]: S = -0.75, I = -1.6, t* = 0.4 / 0.25 = 1.6, tau = 0.6
  const x = new Float64Array([0.8, 0]);
  const w = new Float64Array([-2, 1.25]);
  const s = { B: 1, In: 2, Out: 1 };
  const f = linearForward(x, w, s, 1);
  assertClose(f.tau[0], 0.6, 1e-15, "tau");
  // unclipped: gI = 1 / 0.25 = 4, gS = -0.4 / 0.0625 = -6.4
  const free = spikeGrads(f.S[0], f.I[0], f.tau[0], 1, 1e9)!;
  assertClose(free.gI, 4, 1e-14, "gI");
  assertClose(free.gS, -6.4, 1e-14, "gS");
  assert.deepEqual(spikeGrads(f.S[0], f.I[0], f.tau[0], 1, 1), { gI: 1, gS: -1 });
  assert.deepEqual(spikeGrads(f.S[0], f.I[0], f.tau[0], 1, 5)!.gS, -5);
  // with clip 1 and dTau = 2: dW = 2 (t gI + gS), dX = 2 w gI
  const g = linearBackward(x, w, f.S, f.I, f.tau, new Float64Array([2]), s, 1, 1);
  assertClose(g.dW[0], -0.4, 1e-15, "dW[0]");
  assertClose(g.dW[1], -2, 1e-15, "dW[1]");
  assertClose(g.dX[0], -4, 1e-15, "dX[0]");
  assertClose(g.dX[1], 2.5, 1e-15, "dX[1]");
  // no gradient at the window edges or without a spike
  assert.equal(spikeGrads(3, 1, 0, 1, 1), null);
  assert.equal(spikeGrads(0, 0, 1, 1, 1), null);
  assert.equal(spikeGrads(-1, 0, Infinity, 1, 1), null);
});

Deno.test("readout and softmax cross-entropy by hand", () => {
  // inputs: 0.5, exactly T, no spike
  const x = new Float64Array([0.5, 1, Infinity]);
  const w = new Float64Array([2, 3, 5, -1, 0.5, 7]);
  const s = { B: 1, F: 3, K: 2 };
  const U = readoutForward(x, w, s, 1);
  assert.deepEqual(Array.from(U), [6, -1]); // 2*1.5 + 3*1, -1*1.5 + 0.5*1
  const g = readoutBackward(x, w, new Float64Array([1, -2]), s, 1);
  assert.deepEqual(Array.from(g.dW), [1.5, 1, 0, -3, -2, 0]);
  assert.deepEqual(Array.from(g.dX), [-4, 0, 0]); // t == T passes nothing
  // softmax: both samples tie; the first maximum (class 0, class 1) equals the label
  const sm = softmaxCrossEntropy(new Float64Array([1, 1, 0, 2, 3, 3]), [0, 1], 2, 3);
  const e = Math.E;
  const loss0 = Math.log(2 * e + 1) - 1;
  const loss1 = Math.log(e * e + 2 * e ** 3) - 3;
  assertClose(sm.loss, (loss0 + loss1) / 2, 1e-15, "loss");
  assert.equal(sm.correct, 2);
  assert.equal(softmaxCrossEntropy(new Float64Array([1, 1, 0, 2, 3, 3]), [1, 2], 2, 3).correct, 0);
  const p0 = [e / (2 * e + 1), e / (2 * e + 1), 1 / (2 * e + 1)];
  assertClose(sm.dU[0], (p0[0] - 1) / 2, 1e-15, "dU[0]");
  assertClose(sm.dU[1], p0[1] / 2, 1e-15, "dU[1]");
  assertClose(sm.dU[2], p0[2] / 2, 1e-15, "dU[2]");
  assert.throws(() => softmaxCrossEntropy(new Float64Array(2), [2], 1, 2), /label 0/);
});

Deno.test("encode by hand, plain and normalised", () => {
  assert.deepEqual(Array.from(encode(new Float64Array([0, 1, 0.25, 0.5]), 2)), [
    Infinity,
    0,
    1.5,
    1,
  ]);
  // two samples of C=2 channels with 2 pixels each. Normalised as the reference does: a raw 0
  // pixel spikes late (T (1 + mean/std) = 4), a pixel equal to the mean does not spike.
  const norm = { mean: [0.5, 0.25], std: [0.5, 0.25], channels: 2, plane: 2 };
  const x = new Float64Array([0, 0.5, 0.5, 1, 1, 0.25, 0, 0.25]);
  assert.deepEqual(Array.from(encode(x, 2, norm)), [4, Infinity, 0, -4, 0, 3, 4, Infinity]);
  // Fashion-MNIST's constants: a 0 pixel at T (1 + 0.2860 / 0.3530) = 1.81 (MODEL.md).
  const fm = { mean: [0.2860], std: [0.3530], channels: 1, plane: 1 };
  assert.equal(encode(new Float64Array([0]), 1, fm)[0].toFixed(2), "1.81");
  assert.equal(encode(new Float64Array([0.2860]), 1, fm)[0], Infinity);
  assert.equal(encode(new Float64Array([0]), 1)[0], Infinity); // plain: 0 stays silent
  assert.throws(() => encode(new Float64Array(3), 1, norm), /multiple of/);
});

Deno.test("Adam's first step is lr * sign(g), then decay; constant gradients keep it", () => {
  const lr = 0.01, wd = 0.1;
  const w = new Float64Array([0.5, -0.3, 0.2, 0.1]);
  const g = new Float64Array([0.02, -3, 0.5, 0]);
  const m = new Float64Array(4), v = new Float64Array(4);
  adamStep(w, g, m, v, 1, { lr, b1: 0.9, b2: 0.999, eps: 1e-8, weightDecay: wd });
  // m_hat = g and sqrt(v_hat) = |g| on the first step: w -= lr * g / (|g| + eps) ~ lr * sign(g)
  const expected = [
    (0.5 - lr * 0.02 / (0.02 + 1e-8)) * (1 - lr * wd),
    (-0.3 + lr * 3 / (3 + 1e-8)) * (1 - lr * wd),
    (0.2 - lr * 0.5 / (0.5 + 1e-8)) * (1 - lr * wd),
  ];
  for (let i = 0; i < 3; i++) assertClose(w[i], expected[i], 1e-15, `w[${i}]`);
  assert.equal(w[3], 0.1 * (1 - lr * wd)); // g = 0: decay only
  assertClose(m[1], -0.3, 1e-15, "m[1]");
  assertClose(v[1], 0.009, 1e-15, "v[1]");
  // with a constant gradient the bias-corrected step stays lr * sign(g)
  const w2 = new Float64Array([1, 1]), m2 = new Float64Array(2), v2 = new Float64Array(2);
  for (let step = 1; step <= 5; step++) {
    adamStep(w2, new Float64Array([0.7, -0.05]), m2, v2, step, {
      lr: 0.1,
      b1: 0.9,
      b2: 0.999,
      eps: 0,
      weightDecay: 0,
    });
    assertClose(w2[0], 1 - 0.1 * step, 1e-12, `step ${step} w[0]`);
    assertClose(w2[1], 1 + 0.1 * step, 1e-12, `step ${step} w[1]`);
  }
  assert.throws(
    () => adamStep(w, g, m, v, 0, { lr, b1: 0.9, b2: 0.999, eps: 1e-8, weightDecay: 0 }),
  );
});

Deno.test("fixed signs and weight clipping (Adam and SGD)", () => {
  const w = new Float64Array([0.005, -0.005, 0.5, -0.5, 0.2, 0.005]);
  const g = new Float64Array([1, -1, -1, 1, 0, 1]);
  const signs = new Float64Array([1, -1, 1, -1, 1, 0]);
  adamStep(w, g, new Float64Array(6), new Float64Array(6), 1, {
    lr: 0.01,
    b1: 0.9,
    b2: 0.999,
    eps: 1e-300, // g = 0 must not give 0/0
    weightDecay: 0,
    clip: [-0.3, 0.3],
    signs,
  });
  // crossed zero -> 0; beyond the clip -> clipped; g = 0 unchanged; sign 0: free
  const expected = [0, 0, 0.3, -0.3, 0.2, -0.005];
  for (let i = 0; i < 6; i++) assertClose(w[i], expected[i], 1e-15, `w[${i}]`);
  // SGD: w -= lr g, then decay, then clip, then signs
  const ws = new Float64Array([1, -1, 0.02, 0.3]);
  sgdStep(ws, new Float64Array([0.5, 0.5, 0.5, -10]), {
    lr: 0.1,
    weightDecay: 0.1,
    clip: [-2, 1],
    signs: new Float64Array([1, -1, 1, 1]),
  });
  assertClose(ws[0], 0.95 * 0.99, 1e-15, "ws[0]");
  assertClose(ws[1], -1.05 * 0.99, 1e-15, "ws[1]");
  assert.equal(ws[2], 0); // 0.02 - 0.05 < 0 with sign +1
  assert.equal(ws[3], 1); // 1.3 * 0.99 clipped to 1
});

Deno.test("trainStepRef: SGD and Adam updates equal the network gradients' steps", () => {
  const rand = mulberry32(77);
  const randn = gaussian(rand);
  const plan = planModel("6F", [5], 3);
  const B = 4, T = 1;
  const init = plan.map((p) =>
    p.weightShape ? randomWeights(randn, sizeOf(p.weightShape), Math.sqrt(2 / p.fanIn)) : null
  );
  const x = randomTimes(rand, B * 5, T, 0.2);
  const labels = [0, 1, 2, 1];
  const fwd = networkForward(plan, init, x, B, T);
  const ce = softmaxCrossEntropy(fwd.outputs[1], labels, B, 3);
  const ref = networkBackward(plan, init, x, fwd, ce.dU, B, T, 1);
  // SGD
  const ws = init.map((w) => w && w.slice());
  const r = trainStepRef(plan, ws, x, labels, B, T, {
    optimizer: "sgd",
    lr: 0.05,
    weightDecay: 0.1,
    gradClip: 1,
  });
  assert.equal(r.loss, ce.loss);
  assert.equal(r.correct, ce.correct);
  for (let l = 0; l < plan.length; l++) {
    assert.deepEqual(Array.from(r.grads[l]!), Array.from(ref.grads[l]!));
    for (let i = 0; i < ws[l]!.length; i++) {
      const exp = (init[l]![i] - 0.05 * ref.grads[l]![i]) * (1 - 0.05 * 0.1);
      assertClose(ws[l]![i], exp, 1e-15, `sgd layer ${l} w[${i}]`);
    }
  }
  // Adam: the state's step advances and the first step moves each weight by lr * sign(g)
  const wa = init.map((w) => w && w.slice());
  const state = createAdamState(wa);
  trainStepRef(plan, wa, x, labels, B, T, {
    optimizer: "adam",
    lr: 0.01,
    weightDecay: 0,
    gradClip: 1,
    adam: state,
    eps: 1e-300, // exact sign steps, and no 0/0 where g = 0
  });
  assert.equal(state.step, 1);
  for (let l = 0; l < plan.length; l++) {
    for (let i = 0; i < wa[l]!.length; i++) {
      const exp = init[l]![i] - 0.01 * Math.sign(ref.grads[l]![i]);
      assertClose(wa[l]![i], exp, 1e-15, `adam layer ${l} w[${i}]`);
    }
  }
  // the second step uses the default b1, b2, eps: compare with explicit adamStep calls
  const f2 = networkForward(plan, wa, x, B, T);
  const ce2 = softmaxCrossEntropy(f2.outputs[1], labels, B, 3);
  const g2 = networkBackward(plan, wa, x, f2, ce2.dU, B, T, 1).grads;
  const expW = wa.map((w) => w && w.slice());
  for (let l = 0; l < plan.length; l++) {
    adamStep(expW[l]!, g2[l]!, state.m[l]!.slice(), state.v[l]!.slice(), 2, {
      lr: 0.01,
      b1: 0.9,
      b2: 0.999,
      eps: 1e-8,
      weightDecay: 0.1,
    });
  }
  trainStepRef(plan, wa, x, labels, B, T, {
    optimizer: "adam",
    lr: 0.01,
    weightDecay: 0.1,
    gradClip: 1,
    adam: state,
  });
  assert.equal(state.step, 2);
  for (let l = 0; l < plan.length; l++) assert.deepEqual(wa[l], expW[l]);
  // wrong weights are reported with the layer and shape
  assert.throws(
    () => networkForward(plan, [new Float64Array(3), init[1]], x, B, T),
    /layer 0 '6F' expected weights of shape \[6,5\]/,
  );
});
