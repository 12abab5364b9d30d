/**
 * The event-driven backward products against the dense ones and the float64
 * reference: the weight gradient over the neurons that pass a gradient must
 * give the dense sums bit for bit (same terms, same order, same K splits), on
 * layers before a pool (whose backward the event builder replaces) and not,
 * odd sizes, several column and row blocks, 5 x 5 kernels, a batch below
 * `maxBatch`, a spiking output layer and the tiled core's many K splits; the
 * event counters must count the neurons whose gradient the reference says is
 * not zero; `chooseProducts` must follow the measured share.
 */

import assert from "node:assert/strict";
import { type Metrics, Model, type Tensor } from "../src/engine/model.ts";
import { Rng } from "../src/util/rng.ts";
import { planModel, sizeOf } from "../src/engine/spec.ts";
import { eventsTile, gemmShape, namedTile, weightSplits } from "../src/engine/layers.ts";
import { networkBackward, networkForward, softmaxCrossEntropy } from "../src/reference/mod.ts";
import { assertClose, GPU_TEST, randomTimes, testEngine } from "./_compare.ts";

interface Case {
  arch: string;
  inShape: number[];
  batch: number;
  /** Buffers sized for this many samples (default `batch`). */
  maxBatch?: number;
  seed: number;
  /** Multiplies the Kaiming weights (more or fewer spikes). */
  scale?: number;
  readout?: "potential" | "spike";
  precision?: "f32" | "f16";
}

const CLASSES = 4;

/** One SGD step at lr 0 on the same weights and data with every product dense, then event-driven. */
async function compare(c: Case): Promise<void> {
  const engine = await testEngine();
  const make = (sparse: "off" | "on") =>
    Model.create(engine, {
      arch: c.arch,
      inputShape: c.inShape,
      classes: CLASSES,
      maxBatch: c.maxBatch ?? c.batch,
      readout: c.readout,
      precision: c.precision,
      sparse,
      optimizer: { kind: "sgd", lr: 0, weightDecay: 0 },
    });
  const [dense, events] = [await make("off"), await make("on")];
  try {
    const plan = dense.plan;
    const init = await dense.getWeights();
    const w64 = plan.map((p) => {
      const t = init[`layers.${p.index}.weight`];
      return t ? Float64Array.from(t.data, (v) => Math.fround(v * (c.scale ?? 1))) : null;
    });
    const tensors: Record<string, { shape: number[]; data: Float64Array }> = {};
    plan.forEach((p, i) => {
      if (p.weightShape) tensors[`layers.${i}.weight`] = { shape: p.weightShape, data: w64[i]! };
    });
    const rng = new Rng(c.seed);
    const x = randomTimes(rng, c.batch * sizeOf(c.inShape), 1, 0.7);
    const labels = Array.from({ length: c.batch }, () => rng.int(CLASSES));
    const grads = [];
    for (const m of [dense, events]) {
      m.setWeights(tensors);
      m.resetMetrics();
      m.trainStep(x, labels, { encoded: true });
      grads.push(await m.getGradients());
    }
    assert.deepEqual(
      events.weightGradients,
      plan.map((p) =>
        p.spec.kind === "pool"
          ? null
          : p.spec.kind === "readout" && c.readout !== "spike"
          ? "dense"
          : "events"
      ),
    );
    for (const p of plan) {
      if (!p.weightShape) continue;
      const name = `layers.${p.index}.weight`;
      const a = grads[0][name].data, b = grads[1][name].data;
      for (let i = 0; i < a.length; i++) {
        // Equal as numbers: a sum of no terms may be +0 on one path and -0 on the other.
        if (a[i] !== b[i]) {
          throw new Error(
            `${c.arch} layer ${p.index} '${p.spec.token}' weight gradient [${i}]: dense ${a[i]}, ` +
              `event-driven ${b[i]} (expected the same float32 sum)`,
          );
        }
      }
    }

    if (c.precision === "f16") return; // float16 products: against the dense ones only
    // Both against the float64 reference, and the events counted against the neurons whose
    // gradient the reference says passes (0 < tau < T and dL/dtau != 0).
    const spikeOut = c.readout === "spike";
    const refPlan = spikeOut
      ? plan.map((p, i) =>
        i === plan.length - 1
          ? { ...p, spec: { kind: "linear" as const, token: "out", features: CLASSES } }
          : p
      )
      : plan;
    const fwd = networkForward(refPlan, w64, x, c.batch, 1);
    const U = spikeOut ? fwd.outputs.at(-1)!.map((t) => -Math.min(t, 1)) : fwd.outputs.at(-1)!;
    const loss = softmaxCrossEntropy(U, labels, c.batch, CLASSES);
    const bwd = networkBackward(
      refPlan,
      w64,
      x,
      fwd,
      spikeOut ? loss.dU.map((d) => -d) : loss.dU,
      c.batch,
      1,
      1,
    );
    for (const p of plan) {
      if (p.weightShape) {
        assertClose(
          `${c.arch} layer ${p.index} event-driven weight gradient`,
          grads[1][`layers.${p.index}.weight`].data,
          bwd.grads[p.index]!,
          2e-5,
        );
      }
    }
    const metrics = await events.readMetrics(0);
    const off = await dense.readMetrics(0);
    for (const l of metrics.layers) {
      const tau = fwd.outputs[l.index], d = bwd.dOutputs[l.index];
      let expected = 0;
      for (let j = 0; j < tau.length; j++) if (tau[j] > 0 && tau[j] < 1 && d[j] !== 0) expected++;
      const counted = Math.round(l.gradientShare * c.batch * sizeOf(plan[l.index].outShape));
      // float32 against float64 may disagree on a neuron at a window edge; no more than that.
      assert.ok(
        Math.abs(counted - expected) <= Math.max(1, 0.002 * tau.length),
        `${c.arch} layer ${l.index}: ${counted} events counted, the reference has ${expected}`,
      );
    }
    assert.ok(off.layers.every((l) => Number.isNaN(l.gradientShare)), "dense: nothing counted");
  } finally {
    dense.destroy();
    events.destroy();
  }
}

Deno.test(
  "event-driven weight gradients equal the dense ones bit for bit: before a pool and not",
  GPU_TEST,
  async () => {
    await compare({ arch: "5C3-P2-6F", inShape: [2, 6, 6], batch: 3, seed: 1 });
    await compare({ arch: "6C3-7C3-P2-5F", inShape: [2, 9, 9], batch: 5, maxBatch: 7, seed: 2 });
    await compare({ arch: "6C3-7C3-P2-5F", inShape: [2, 9, 9], batch: 4, seed: 3, scale: 2 });
  },
);

Deno.test(
  "event-driven weight gradients: several column and row blocks, 3 x 3 pools with a remainder, " +
    "5 x 5 kernels, many samples of a fully connected layer, a spiking output layer, lanes along " +
    "the input channels",
  GPU_TEST,
  async () => {
    await compare({ arch: "20C3-P3", inShape: [10, 8, 8], batch: 2, seed: 4 });
    await compare({ arch: "4C5-P2-8C5-P2", inShape: [1, 12, 12], batch: 4, seed: 5 });
    await compare({ arch: "70F-3F", inShape: [20], batch: 67, seed: 6 });
    await compare({ arch: "5C3-P2-8F", inShape: [2, 6, 6], batch: 6, seed: 7, readout: "spike" });
    // Enough input channels for the lanes to share an output channel's events (`alongCi` on a
    // CPU driver): 16 channels of 5 x 5 taps, 600 inputs of a fully connected layer.
    const g = gemmShape(planModel("9C5-P2", [16, 7, 6], CLASSES)[0]);
    const engine = await testEngine();
    assert.equal(eventsTile(g, engine.cpu).alongCi, engine.cpu);
    await compare({ arch: "9C5-P2", inShape: [16, 7, 6], batch: 3, seed: 9 });
    await compare({ arch: "12F", inShape: [600], batch: 9, seed: 10, scale: 3 });
  },
);

Deno.test(
  "event-driven weight gradients: 3 x 3 kernels in blocks of 8 input channels (144 " +
    "accumulators), whole and with a remainder, lanes along either channels",
  GPU_TEST,
  async () => {
    const engine = await testEngine();
    const tile = (arch: string, inShape: number[]) =>
      eventsTile(gemmShape(planModel(arch, inShape, CLASSES)[0]), engine.cpu);
    assert.deepEqual(tile("6C3-P2", [64, 4, 4]), {
      tc: 8,
      lanes: engine.cpu ? 8 : 32,
      alongCi: engine.cpu,
    });
    assert.equal(tile("5C3-P2", [17, 6, 6]).tc, 6);
    await compare({ arch: "6C3-P2", inShape: [64, 4, 4], batch: 2, seed: 11 });
    await compare({ arch: "5C3-P2", inShape: [17, 6, 6], batch: 3, seed: 12 });
    await compare({ arch: "8C3-9C3-P2-5F", inShape: [8, 6, 6], batch: 3, seed: 13 });
  },
);

Deno.test(
  "event-driven weight gradients take the dense product's K splits (many, across image edges)",
  GPU_TEST,
  async () => {
    // A forced tile sizes the splits to fill a large GPU: the 6C3 layer's K (16 images of
    // 12 x 12) splits into ranges of 128 pixels that end inside images.
    const arch = "6C3-P2-7C3-5F", inShape = [3, 12, 12], batch = 16;
    const tile = namedTile("d4x4/1x8");
    const g = gemmShape(planModel(arch, inShape, CLASSES)[0]);
    assert.ok(weightSplits(g, batch, tile) > 8, "many splits");
    const before = Deno.env.get("FIRSTSPIKE_TILE");
    Deno.env.set("FIRSTSPIKE_TILE", tile.name);
    try {
      await compare({ arch, inShape, batch, seed: 8 });
    } finally {
      if (before === undefined) Deno.env.delete("FIRSTSPIKE_TILE");
      else Deno.env.set("FIRSTSPIKE_TILE", before);
    }
  },
);

Deno.test(
  "float16 (where the adapter has shader-f16): event-driven weight gradients equal the dense " +
    "ones bit for bit, the same per-slice sums",
  GPU_TEST,
  async () => {
    const engine = await testEngine();
    if (!engine.features.includes("shader-f16")) return; // llvmpipe: none; the GPU check runs it
    await compare({
      arch: "6C3-7C3-P2-5F",
      inShape: [2, 9, 9],
      batch: 5,
      seed: 11,
      precision: "f16",
    });
    await compare({ arch: "9C5-P2", inShape: [16, 7, 6], batch: 3, seed: 12, precision: "f16" });
  },
);

Deno.test(
  "chooseProducts: event-driven where few neurons pass a gradient, dense where many, pooled " +
    "layers always",
  GPU_TEST,
  async () => {
    const engine = await testEngine();
    const model = await Model.create(engine, {
      arch: "16C3-16C3-P2-5F",
      inputShape: [8, 16, 16],
      classes: 3,
      maxBatch: 4,
      sparse: "auto",
    });
    try {
      const layer = (index: number, share: number) => ({
        index,
        token: model.plan[index].spec.token,
        firing: 0.5,
        meanTime: 0.5,
        spikesPerSample: 1,
        hist: [],
        gradientShare: share,
      });
      const metrics = (shares: number[]): Metrics => ({
        samples: 4,
        loss: 1,
        accuracy: 0.5,
        layers: [0, 1, 3].map((i, j) => layer(i, shares[j])),
        spikesPerSample: 3,
      });
      if (!engine.cpu) {
        // On a GPU `auto` keeps every product dense (the sparse path is chosen there with `on`).
        assert.deepEqual(model.chooseProducts(metrics([0, 0, 0])), [
          "dense",
          "dense",
          null,
          "dense",
          "dense",
        ]);
        return;
      }
      // Before any measurement: the layer before the pool event-driven, the others dense.
      assert.deepEqual(model.weightGradients, ["dense", "events", null, "dense", "dense"]);
      assert.deepEqual(model.chooseProducts(metrics([0.02, 0.9, 0.02])), [
        "events",
        "events",
        null,
        "events",
        "dense",
      ]);
      // Many neurons passing: dense; not measured (NaN): unchanged; the pooled layer stays.
      assert.deepEqual(model.chooseProducts(metrics([0.9, 0.9, NaN])), [
        "dense",
        "events",
        null,
        "events",
        "dense",
      ]);
      model.setWeightGradient(1, "events");
      assert.throws(() => model.setWeightGradient(2, "dense"), /expected a weighted layer/);
      assert.throws(() => model.setWeightGradient(4, "events"), /expected a spiking layer/);
      // Layer 1 (before the pool) has an input gradient, which reads every neuron's factors: its
      // event builder writes them all, so it may also run dense.
      model.setWeightGradient(1, "dense");
      assert.deepEqual(model.weightGradients[1], "dense");
    } finally {
      model.destroy();
    }
  },
);

Deno.test(
  "a first layer before a pool writes only its events: no dense product for it",
  GPU_TEST,
  async () => {
    const engine = await testEngine();
    const model = await Model.create(engine, {
      arch: "4C3-P2",
      inputShape: [1, 6, 6],
      classes: 3,
      maxBatch: 2,
      sparse: "on",
    });
    try {
      assert.throws(() => model.setWeightGradient(0, "dense"), /only its events/);
    } finally {
      model.destroy();
    }
  },
);

/**
 * One training step as the training loop records it (no statistics: a convolution before a pool
 * runs fused with it) on encoded inputs, with every layer's dL/dtau poisoned first; returns the
 * input gradients (the dL/dtau each layer with one writes, `batch` samples) and the weight
 * gradients.
 */
async function poisonedStep(
  m: Model,
  x: Float64Array,
  labels: number[],
  batch: number,
): Promise<{ input: (Float32Array | null)[]; weight: Record<string, Float32Array> }> {
  const engine = m.engine;
  await m.forward(x, { encoded: true }); // uploads and encodes the batch
  for (const d of m.deltas) engine.write(d, new Float32Array(d.size / 4).fill(NaN));
  const lb = engine.buffer(batch * 4), ib = engine.buffer(batch * 4);
  try {
    engine.write(lb, Uint32Array.from(labels));
    engine.write(ib, Uint32Array.from({ length: batch }, (_, i) => i));
    const [off] = engine.steps([m.nextTrainStep(batch)]);
    const enc = engine.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    m.encodeTrainStep(pass, off, batch, m.lossGroup(lb, ib), false, false);
    pass.end();
    engine.device.queue.submit([enc.finish()]);
    const input = await Promise.all(
      m.inputGradients.map((k, i) =>
        k ? engine.readF32(m.deltas[i - 1], batch * sizeOf(m.plan[i].inShape)) : null
      ),
    );
    const grads = await m.getGradients();
    return {
      input,
      weight: Object.fromEntries(Object.entries(grads).map(([k, t]) => [k, t.data])),
    };
  } finally {
    lb.destroy();
    ib.destroy();
  }
}

/**
 * The dense model (`sparse: "off"`) and the event-driven one, whose direct input gradients skip
 * output channels without events (on a CPU driver), on the same weights and batch: the input
 * gradients the same float32 bits, the weight gradients the same numbers.
 */
async function compareInputSkip(
  arch: string,
  inShape: number[],
  batch: number,
  maxBatch: number,
  x: Float64Array,
  labels: number[],
  weights: (w: Record<string, Tensor>) => Record<string, Tensor> = (w) => w,
): Promise<void> {
  const engine = await testEngine();
  const make = (sparse: "off" | "on") =>
    Model.create(engine, {
      arch,
      inputShape: inShape,
      classes: CLASSES,
      maxBatch,
      sparse,
      optimizer: { kind: "sgd", lr: 0, weightDecay: 0 },
    });
  const [dense, skip] = [await make("off"), await make("on")];
  try {
    const w = weights(await dense.getWeights());
    dense.setWeights(w);
    skip.setWeights(w);
    // Every convolution with an input gradient skips on a CPU driver (direct convolutions);
    // elsewhere (and in the dense model) the input gradients are dense.
    const expected = dense.plan.map((p, i) =>
      dense.inputGradients[i] === null
        ? null
        : p.spec.kind === "conv" && engine.cpu
        ? "skip"
        : "dense"
    );
    assert.ok(expected.some((k) => k !== null), `${arch}: some input gradient`);
    assert.deepEqual(skip.inputGradients, expected);
    assert.ok(dense.inputGradients.every((k) => k !== "skip"), "dense: no skipping");
    const [a, b] = [
      await poisonedStep(dense, x, labels, batch),
      await poisonedStep(skip, x, labels, batch),
    ];
    a.input.forEach((d, i) => {
      if (!d) return;
      const bits = [new Uint32Array(d.buffer), new Uint32Array(b.input[i]!.buffer)];
      for (let j = 0; j < d.length; j++) {
        if (bits[0][j] !== bits[1][j] || Number.isNaN(d[j])) {
          throw new Error(
            `${arch} layer ${i}'s input gradient [${j}]: dense ${d[j]}, skipping ${
              b.input[i]![j]
            } (expected the same float32 bits, and no poison left)`,
          );
        }
      }
    });
    for (const [name, g] of Object.entries(a.weight)) {
      for (let j = 0; j < g.length; j++) {
        // Equal as numbers: a sum of no terms may be +0 on one path and -0 on the other.
        if (g[j] !== b.weight[name][j]) {
          throw new Error(`${arch} ${name} gradient [${j}]: ${g[j]} and ${b.weight[name][j]}`);
        }
      }
    }
  } finally {
    dense.destroy();
    skip.destroy();
  }
}

Deno.test(
  "direct input gradients that skip output channels without events equal the dense ones bit " +
    "for bit: a plane with no events, a plane full of events, a channel without events on one " +
    "image only",
  GPU_TEST,
  async () => {
    // 4C3-6C3 on 17 x 5 images: the 6C3 layer's input gradient takes 8 rows per workgroup, so
    // workgroups cover two images or one (rows 7 to 14 of image 1). Image 1's input never
    // spikes: its first layer fires at tau = T everywhere, and its 6C3 neurons with a positive
    // sum of weights fire inside their window. The 6C3 layer's channel 0 has zero weights (no
    // events on any image), its channel 1 positive ones (an event at every pixel of image 1).
    // Batch 3 of 4.
    const arch = "4C3-6C3", inShape = [2, 17, 5], batch = 3, plane = 17 * 5;
    const rng = new Rng(21);
    const x = randomTimes(rng, batch * 2 * plane, 1, 0.7);
    x.fill(Infinity, 2 * plane, 4 * plane);
    const labels = Array.from({ length: batch }, () => rng.int(CLASSES));
    const shape = (w: Record<string, Tensor>): Record<string, Tensor> => {
      const w1 = Float32Array.from(w["layers.1.weight"].data);
      const per = 4 * 9; // one output channel's weights
      w1.fill(0, 0, per);
      for (let j = per; j < 2 * per; j++) w1[j] = Math.abs(w1[j]);
      return { ...w, "layers.1.weight": { ...w["layers.1.weight"], data: w1 } };
    };
    // That activity, by the float64 reference.
    const engine = await testEngine();
    const probe = await Model.create(engine, {
      arch,
      inputShape: inShape,
      classes: CLASSES,
      maxBatch: 4,
    });
    const plan = probe.plan;
    const w = shape(await probe.getWeights());
    probe.destroy();
    const w64 = plan.map((p) =>
      p.weightShape ? Float64Array.from(w[`layers.${p.index}.weight`].data) : null
    );
    const fwd = networkForward(plan, w64, x, batch, 1);
    const loss = softmaxCrossEntropy(fwd.outputs.at(-1)!, labels, batch, CLASSES);
    const bwd = networkBackward(plan, w64, x, fwd, loss.dU, batch, 1, 1);
    const events = (b: number, co: number) => {
      let n = 0;
      for (let p = 0; p < plane; p++) {
        const j = (b * 6 + co) * plane + p;
        const tau = fwd.outputs[1][j];
        if (tau > 0 && tau < 1 && bwd.dOutputs[1][j] !== 0) n++;
      }
      return n;
    };
    for (let b = 0; b < batch; b++) assert.equal(events(b, 0), 0, `image ${b} channel 0: none`);
    assert.equal(events(1, 1), plane, "image 1 channel 1: an event at every pixel");
    assert.ok(
      [2, 3, 4, 5].some((co) => events(1, co) === 0 && events(0, co) + events(2, co) > 0),
      "a channel without events on image 1 only",
    );
    await compareInputSkip(arch, inShape, batch, 4, x, labels, shape);
  },
);

Deno.test(
  "direct input gradients that skip output channels without events: before a pool (fused), " +
    "5 x 5 kernels, several blocks of input channels, a batch below maxBatch",
  GPU_TEST,
  async () => {
    for (
      const c of [
        { arch: "6C3-7C3-P2-5F", inShape: [2, 9, 9], batch: 5, maxBatch: 7, seed: 22 },
        { arch: "20C5-P2-9C5-P2", inShape: [1, 12, 14], batch: 3, maxBatch: 3, seed: 23 },
        { arch: "5C3-8C3-8C3", inShape: [3, 6, 20], batch: 2, maxBatch: 2, seed: 24 },
      ]
    ) {
      const rng = new Rng(c.seed);
      const x = randomTimes(rng, c.batch * sizeOf(c.inShape), 1, 0.7);
      const labels = Array.from({ length: c.batch }, () => rng.int(CLASSES));
      await compareInputSkip(c.arch, c.inShape, c.batch, c.maxBatch, x, labels);
    }
  },
);
