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
import { type Metrics, Model } from "../src/engine/model.ts";
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
