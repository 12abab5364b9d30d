/**
 * The WGSL kernels against the float64 reference (src/reference): forward
 * spike times, readout potentials, loss, every weight gradient, and the
 * optimiser updates, on fresh random data and on hand-made edge cases.
 * Outputs are poisoned with NaN before each run so that an element a kernel
 * fails to write cannot pass.
 */

import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { Model } from "../src/engine/model.ts";
import { Rng } from "../src/util/rng.ts";
import { sizeOf } from "../src/engine/spec.ts";
import { TILES } from "../src/engine/layers.ts";
import {
  createAdamState,
  encode,
  networkBackward,
  networkForward,
  softmaxCrossEntropy,
  trainStepRef,
} from "../src/reference/mod.ts";
import { assertClose, GPU_TEST, randomTimes, testEngine } from "./_compare.ts";

interface Case {
  arch: string;
  inShape: number[];
  classes: number;
  batch: number;
  seed: number;
  T?: number;
  clip?: number;
  fire?: number;
  /** Multiplies the Kaiming weights (more or fewer spikes). */
  scale?: number;
  /** Replaces the random input. */
  input?: Float64Array;
  /** Replaces the random weights (per layer, null for pools). */
  weights?: (Float64Array | null)[];
  readout?: "potential" | "spike";
}

function poison(model: Model): void {
  const e = model.engine;
  for (const b of [...model.acts, ...model.deltas]) {
    e.write(b, new Float32Array(b.size / 4).fill(NaN));
  }
  e.write(model.grads, new Float32Array(model.grads.size / 4).fill(NaN));
}

/** Builds a model with SGD at lr 0, runs one step, and compares everything with the reference. */
/**
 * Runs `fn` with environment variable `name` set to `value` (unset when
 * undefined), then restores what it was; a failure names the setting.
 */
async function withEnv(name: string, value: string | undefined, fn: () => Promise<void>) {
  const before = Deno.env.get(name);
  const set = (v: string | undefined) =>
    v === undefined ? Deno.env.delete(name) : Deno.env.set(name, v);
  set(value);
  try {
    await fn();
  } catch (e) {
    throw new Error(`${name}=${value ?? "(unset)"}: ${(e as Error).message}`);
  } finally {
    set(before);
  }
}

async function checkCase(c: Case): Promise<void> {
  const engine = await testEngine();
  const T = c.T ?? 1;
  const clip = c.clip ?? 1;
  const model = await Model.create(engine, {
    arch: c.arch,
    inputShape: c.inShape,
    classes: c.classes,
    maxBatch: c.batch,
    tWin: T,
    gradClip: clip,
    readout: c.readout,
    optimizer: { kind: "sgd", lr: 0, weightDecay: 0 },
  });
  try {
    const rng = new Rng(c.seed);
    const spikeOut = c.readout === "spike";
    const plan = model.plan;
    let w64: (Float64Array | null)[];
    if (c.weights) {
      w64 = c.weights;
    } else {
      const init = await model.getWeights();
      w64 = plan.map((p) => {
        const t = init[`layers.${p.index}.weight`];
        return t ? Float64Array.from(t.data, (v) => Math.fround(v * (c.scale ?? 1))) : null;
      });
    }
    const tensors: Record<string, { shape: number[]; data: Float64Array }> = {};
    plan.forEach((p, i) => {
      if (p.weightShape) tensors[`layers.${i}.weight`] = { shape: p.weightShape, data: w64[i]! };
    });
    model.setWeights(tensors);
    const x = c.input ?? randomTimes(rng, c.batch * sizeOf(c.inShape), T, c.fire ?? 0.7);
    const labels = Array.from({ length: c.batch }, () => rng.int(c.classes));

    // A spiking output layer is, for the reference, a fully connected spiking layer
    // whose logits are -min(tau, T).
    const refPlan = spikeOut
      ? plan.map((p, i) =>
        i === plan.length - 1
          ? { ...p, spec: { kind: "linear" as const, token: "out", features: c.classes } }
          : p
      )
      : plan;
    const fwd = networkForward(refPlan, w64, x, c.batch, T);
    const U = spikeOut ? fwd.outputs.at(-1)!.map((t) => -Math.min(t, T)) : fwd.outputs.at(-1)!;
    const loss = softmaxCrossEntropy(U, labels, c.batch, c.classes);
    const dOut = spikeOut ? loss.dU.map((d) => -d) : loss.dU;
    const bwd = networkBackward(refPlan, w64, x, fwd, dOut, c.batch, T, clip);

    poison(model);
    model.resetMetrics();
    model.trainStep(x, labels, { encoded: true });
    const grads = await model.getGradients();
    const metrics = await model.readMetrics(0);
    const out = await model.forward(x, { encoded: true });

    [...plan].reverse().forEach((p) => {
      const i = p.index;
      const what = `${c.arch} layer ${i} '${p.spec.token}'`;
      if (i < plan.length - 1 || spikeOut) {
        assertClose(`${what} times`, out.times[i], fwd.outputs[i]);
      }
      if (i === plan.length - 1) assertClose(`${what} potentials`, out.potentials, U);
      if (p.weightShape) {
        assertClose(
          `${what} weight gradient`,
          grads[`layers.${i}.weight`].data,
          bwd.grads[i]!,
          2e-5,
        );
      }
    });
    assertClose("loss", [metrics.loss], [loss.loss]);
    assertEquals(metrics.samples, c.batch);
    assertEquals(Math.round(metrics.accuracy * c.batch), loss.correct);
    // Spike statistics of the training step match the reference's counts.
    for (const l of metrics.layers) {
      const ref = fwd.outputs[l.index];
      const fired = ref.filter((t) => t !== Infinity);
      assertEquals(
        Math.round(l.spikesPerSample * c.batch),
        fired.length,
        `layer ${l.index} spike count`,
      );
      if (fired.length) {
        assertClose(`layer ${l.index} mean time`, [l.meanTime], [
          fired.reduce((a, b) => a + b, 0) / fired.length,
        ]);
      }
      assertEquals(l.hist.reduce((a, b) => a + b, 0), fired.length);
    }
  } finally {
    model.destroy();
  }
}

Deno.test("conv layers on odd sizes, batch 1 and 3", GPU_TEST, async () => {
  await checkCase({ arch: "4C3", inShape: [2, 5, 5], classes: 3, batch: 1, seed: 1 });
  await checkCase({ arch: "5C3-3C5", inShape: [3, 7, 5], classes: 4, batch: 3, seed: 2 });
});

Deno.test(
  "conv, pool, linear and readout together; a batch that does not fill a tile",
  GPU_TEST,
  async () => {
    await checkCase({
      arch: "6C3-P2-7C3-P2-9F",
      inShape: [2, 9, 9],
      classes: 5,
      batch: 5,
      seed: 3,
    });
    await checkCase({ arch: "70F-3F", inShape: [20], classes: 3, batch: 67, seed: 4 });
  },
);

Deno.test("wide layers cross several 64-wide tiles in M, N and K", GPU_TEST, async () => {
  await checkCase({ arch: "70C3-P2", inShape: [9, 10, 10], classes: 10, batch: 2, seed: 5 });
});

Deno.test(
  "every tile configuration of the GEMM core gives the same numbers (on a CPU driver: direct " +
    "tiles and the 32x32 tiled one, unless FIRSTSPIKE_TEST_ALL_TILES=1)",
  GPU_TEST,
  async () => {
    // A CPU driver compiles each large tiled kernel for minutes and never runs it (it takes the
    // direct core); the GPU check (tasks/gpu_check.sh) runs this test with every tile. The direct
    // tiles: one row or one column per invocation, an odd block, lanes along one side only.
    const direct = ["direct", "d1x16/8x1", "d16x1/1x8", "d3x5/2x4"];
    const all = Deno.env.get("FIRSTSPIKE_TEST_ALL_TILES") === "1" || !(await testEngine()).cpu;
    for (const name of all ? [...Object.keys(TILES), ...direct] : [...direct, "32x32"]) {
      await withEnv("FIRSTSPIKE_TILE", name, async () => {
        await checkCase({
          arch: "70C3-P2-5F",
          inShape: [9, 10, 10],
          classes: 3,
          batch: 2,
          seed: 18,
        });
        await checkCase({ arch: "130F", inShape: [40], classes: 3, batch: 70, seed: 19 });
      });
    }
  },
);

Deno.test(
  "weights read through uniform windows (CPU driver): one, several with a layer across a window " +
    "edge, and the storage binding forced, give the same numbers",
  GPU_TEST,
  async () => {
    // 40C3 on 50 channels: 18,000 weights, 2 windows; 150F on 120 inputs (40 x 3 x 3 after the
    // pool is 360 inputs: 54,000 weights, 4 windows); the readout fits in one. On a GPU the
    // windows are off and this repeats the storage path.
    const cases: Case[] = [
      { arch: "40C3-P2-150F", inShape: [50, 6, 6], classes: 4, batch: 3, seed: 21 },
      { arch: "6C3-P2", inShape: [3, 8, 8], classes: 5, batch: 2, seed: 22 },
    ];
    for (const setting of [undefined, "0"]) {
      await withEnv("FIRSTSPIKE_UNIFORM_WEIGHTS", setting, async () => {
        for (const c of cases) await checkCase(c);
      });
    }
  },
);

Deno.test(
  "split-K forward (partial sums, then the epilogue) gives the same numbers",
  GPU_TEST,
  async () => {
    await withEnv("FIRSTSPIKE_FORWARD_SPLITS", "3", async () => {
      await checkCase({ arch: "6C3-P2-40F", inShape: [5, 6, 6], classes: 4, batch: 5, seed: 20 });
      await checkCase({
        arch: "20F",
        inShape: [70],
        classes: 3,
        batch: 7,
        seed: 21,
        readout: "spike",
      });
    });
  },
);

Deno.test("window length T = 2 and an active gradient clip", GPU_TEST, async () => {
  await checkCase({ arch: "6C3-P3-8F", inShape: [1, 7, 7], classes: 3, batch: 4, seed: 6, T: 2 });
  await checkCase({
    arch: "6C3-8F",
    inShape: [1, 6, 6],
    classes: 3,
    batch: 4,
    seed: 7,
    clip: 0.05,
  });
});

Deno.test("a spiking output layer: argmin of spike times, loss on -tau", GPU_TEST, async () => {
  await checkCase({
    arch: "5C3-P2-8F",
    inShape: [2, 6, 6],
    classes: 4,
    batch: 6,
    seed: 16,
    readout: "spike",
  });
  await checkCase({
    arch: "12F",
    inShape: [10],
    classes: 3,
    batch: 9,
    seed: 17,
    readout: "spike",
    T: 2,
  });
});

Deno.test("few and many input spikes", GPU_TEST, async () => {
  await checkCase({
    arch: "5C3-P2-6F",
    inShape: [2, 6, 6],
    classes: 3,
    batch: 3,
    seed: 8,
    fire: 0.1,
  });
  await checkCase({
    arch: "5C3-P2-6F",
    inShape: [2, 6, 6],
    classes: 3,
    batch: 3,
    seed: 9,
    fire: 1,
  });
});

Deno.test(
  "no input spikes at all: no spikes, zero potentials, zero gradients",
  GPU_TEST,
  async () => {
    const inShape = [1, 4, 4];
    await checkCase({
      arch: "3C3-4F",
      inShape,
      classes: 2,
      batch: 2,
      seed: 10,
      input: new Float64Array(2 * 16).fill(Infinity),
    });
  },
);

Deno.test(
  "hand-made neurons: window start, 1 + S <= 0, case 2, spikes at 0 and T",
  GPU_TEST,
  async () => {
    // Inputs: t = [0, 0.5, 1 (= T), no spike]. Rows of the first layer:
    // 0: S*T - I >= T (fires at the window start, tau = 0, no gradient);
    // 1: 1 + S <= 0 (never fires); 2: 1 + S = 0 exactly (never fires);
    // 3: case 2, t* = (2 + I)/(1 + S) inside the window; 4: t* > 2T (no spike);
    // 5: S*T - I = T exactly (fires at 0).
    const input = new Float64Array([0, 0.5, 1, Infinity]);
    const w0 = new Float64Array([
      ...[2, 2, 1, 5],
      ...[-1, -1, -0.5, 3],
      ...[-0.5, -0.25, -0.25, 7],
      ...[0.5, 0.25, 0.25, -9],
      ...[0.25, -0.5, 0.125, 1],
      ...[1.5, 0.5, 0.25, -4],
    ]);
    const w1 = Float64Array.from({ length: 2 * 6 }, (_, i) => ((i * 7) % 5) / 4 - 0.5);
    await checkCase({
      arch: "6F",
      inShape: [4],
      classes: 2,
      batch: 1,
      seed: 11,
      input,
      weights: [w0, w1],
    });
    // And the same neurons check out against the rule by hand.
    const f = networkForward(
      (await Model.create(await testEngine(), {
        arch: "6F",
        inputShape: [4],
        classes: 2,
        maxBatch: 1,
      })).plan,
      [w0, w1],
      input,
      1,
      1,
    );
    const tau = Array.from(f.outputs[0]);
    assertEquals(tau[0], 0);
    assertEquals(tau[1], Infinity);
    assertEquals(tau[2], Infinity);
    assert(tau[3] > 0 && tau[3] < 1, `case 2 neuron: expected 0 < tau < 1, got ${tau[3]}`);
    assertEquals(tau[4], Infinity);
    assertEquals(tau[5], 0);
  },
);

Deno.test(
  "Adam with weight decay, weight clipping and fixed signs over several steps",
  GPU_TEST,
  async () => {
    const engine = await testEngine();
    const arch = "5C3-P2-6F";
    const inShape = [1, 6, 6];
    const B = 4;
    const opt = {
      kind: "adam" as const,
      lr: 0.01,
      betas: [0.9, 0.999] as [number, number],
      eps: 1e-8,
      weightDecay: 0.1,
      weightClip: [-0.6, 0.5] as [number, number],
      fixedSigns: true,
    };
    const model = await Model.create(engine, {
      arch,
      inputShape: inShape,
      classes: 3,
      maxBatch: B,
      optimizer: opt,
      seed: 12,
    });
    try {
      const init = await model.getWeights();
      const w64 = model.plan.map((p) => {
        const t = init[`layers.${p.index}.weight`];
        return t ? Float64Array.from(t.data) : null;
      });
      const signs = w64.map((w) => (w ? w.map(Math.sign) : null));
      const adam = createAdamState(w64);
      const rng = new Rng(13);
      for (let s = 0; s < 3; s++) {
        const x = randomTimes(rng, B * 36, 1);
        const labels = Array.from({ length: B }, () => rng.int(3));
        trainStepRef(model.plan, w64, x, labels, B, 1, {
          optimizer: "adam",
          lr: opt.lr,
          weightDecay: opt.weightDecay,
          gradClip: 1,
          weightClip: opt.weightClip,
          signs,
          adam,
        });
        model.trainStep(x, labels, { encoded: true });
      }
      const after = await model.getWeights();
      model.plan.forEach((p, i) => {
        if (p.weightShape) {
          assertClose(
            `layer ${i} weights after 3 Adam steps`,
            after[`layers.${i}.weight`].data,
            w64[i]!,
            1e-4,
          );
        }
      });
      for (const [name, t] of Object.entries(after)) {
        for (let j = 0; j < t.data.length; j++) {
          const v = t.data[j];
          assert(
            v >= Math.fround(-0.6) && v <= Math.fround(0.5),
            `${name}[${j}] = ${v} outside the weight clip`,
          );
          const s0 = signs[Number(name.split(".")[1])]![j];
          assert(v * s0 >= 0, `${name}[${j}] = ${v} changed sign from ${s0}`);
        }
      }
    } finally {
      model.destroy();
    }
  },
);

Deno.test("SGD with weight decay matches the reference update", GPU_TEST, async () => {
  const engine = await testEngine();
  const model = await Model.create(engine, {
    arch: "4C3-5F",
    inputShape: [2, 4, 4],
    classes: 2,
    maxBatch: 3,
    seed: 14,
    optimizer: { kind: "sgd", lr: 0.05, weightDecay: 0.1 },
  });
  try {
    const init = await model.getWeights();
    const w64 = model.plan.map((p) => {
      const t = init[`layers.${p.index}.weight`];
      return t ? Float64Array.from(t.data) : null;
    });
    const rng = new Rng(15);
    const x = randomTimes(rng, 3 * 32, 1);
    const labels = [0, 1, 1];
    trainStepRef(model.plan, w64, x, labels, 3, 1, {
      optimizer: "sgd",
      lr: 0.05,
      weightDecay: 0.1,
      gradClip: 1,
    });
    model.trainStep(x, labels, { encoded: true });
    const after = await model.getWeights();
    model.plan.forEach((p, i) => {
      if (p.weightShape) {
        assertClose(
          `layer ${i} weights after SGD`,
          after[`layers.${i}.weight`].data,
          w64[i]!,
          1e-5,
        );
      }
    });
  } finally {
    model.destroy();
  }
});

/** Random times as normalisation makes them: many outside [0, T] (late and negative), some silent. */
function normalisedTimes(rng: Rng, n: number): Float64Array {
  return Float64Array.from({ length: n }, () => {
    const u = rng.next();
    if (u < 0.15) return Infinity;
    if (u < 0.35) return Math.fround(1.81); // a raw 0 pixel of Fashion-MNIST
    return Math.fround(-1.2 + 3.4 * rng.next()); // [-1.2, 2.2]: before, inside and after [0, T]
  });
}

Deno.test(
  "input times outside [0, T] (normalised inputs) count in S and I, through conv, pool, linear and readout",
  GPU_TEST,
  async () => {
    const rng = new Rng(41);
    // conv after the input, pool after the input, readout after a pool of the input, linear
    await checkCase({
      arch: "5C3-P2",
      inShape: [2, 6, 6],
      classes: 3,
      batch: 3,
      seed: 41,
      input: normalisedTimes(rng, 3 * 72),
    });
    await checkCase({
      arch: "P2-6C3",
      inShape: [1, 6, 6],
      classes: 3,
      batch: 2,
      seed: 42,
      input: normalisedTimes(rng, 2 * 36),
    });
    await checkCase({
      arch: "P3",
      inShape: [2, 6, 6],
      classes: 4,
      batch: 3,
      seed: 43,
      input: normalisedTimes(rng, 3 * 72),
    });
    await checkCase({
      arch: "9F",
      inShape: [30],
      classes: 3,
      batch: 4,
      seed: 44,
      input: normalisedTimes(rng, 4 * 30),
    });
  },
);

Deno.test(
  "normalised encoding on the GPU equals the reference: 0 pixels spike late, pixels at the mean are silent",
  GPU_TEST,
  async () => {
    const engine = await testEngine();
    // P1 pools 1x1 windows: its output is the encoded input itself.
    const norm = { mean: [0.5, 0.2860], std: [0.25, 0.3530] };
    for (const normalize of [norm, null]) {
      const model = await Model.create(engine, {
        arch: "P1",
        inputShape: [2, 3, 4],
        classes: 2,
        maxBatch: 2,
        tWin: 2,
        normalize,
      });
      try {
        const rng = new Rng(7);
        const x = Float32Array.from({ length: 48 }, () => Math.fround(rng.int(256) / 255));
        x.set([0, 0.5, 1, 0.25], 0); // channel 0: a 0 pixel, one at the mean, bright ones
        x.set([0, Math.fround(0.2860)], 12); // channel 1: a 0 pixel, one at the mean (as f32)
        for (const b of [model.acts[0]]) engine.write(b, new Float32Array(b.size / 4).fill(NaN));
        const out = await model.forward(x);
        const ref = encode(
          Float64Array.from(x),
          2,
          normalize ? { ...normalize, channels: 2, plane: 12 } : undefined,
        );
        if (normalize) {
          // The reference's own arithmetic is float32: normalise with f32 constants.
          const f32 = encode(
            Float64Array.from(x),
            2,
            {
              mean: norm.mean.map(Math.fround),
              std: norm.std.map(Math.fround),
              channels: 2,
              plane: 12,
            },
          );
          assert.equal(f32[0], 2 * (1 + 0.5 / 0.25)); // a 0 pixel spikes at T (1 + mean / std)
          assert.equal(out.times[0][0], 6);
          assert.equal(out.times[0][1], Infinity); // at the mean: silent
          assert.equal(out.times[0][13], Infinity);
          assert.ok(out.times[0][12] > 2, "0 pixel of channel 1 spikes after the window");
          assert.ok(out.times[0][2] < 0, "a bright pixel spikes before 0");
          assertClose("normalised times", out.times[0], f32, 1e-6);
        } else {
          assert.equal(out.times[0][0], Infinity); // plain: a 0 pixel is silent
          assert.equal(out.times[0][1], 1);
          assertClose("plain times", out.times[0], ref, 1e-6);
        }
      } finally {
        model.destroy();
      }
    }
  },
);
