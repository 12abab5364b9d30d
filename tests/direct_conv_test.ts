/**
 * The direct convolutions of a CPU driver (`conv_forward_direct.wgsl`,
 * `conv_backward_input_direct.wgsl`, their weights transposed by
 * `transpose_weights.wgsl`) against the GEMM kernels they replace
 * (`FIRSTSPIKE_DIRECT_CONV=0`): the same spike times, potentials and weight
 * gradients bit for bit, over two training steps (the second reads the
 * weights the first updated, transposed again), on kernels 3 and 5, rows
 * that segments do not divide, one input channel, channel counts off a
 * multiple of 4, several row blocks and several uniform windows, and a batch
 * below `maxBatch`. On a GPU both sides are the GEMM (the direct kernels are
 * for CPU drivers), and the test only checks that.
 */

import assert from "node:assert/strict";
import { Model, type Tensor } from "../src/engine/model.ts";
import { Rng } from "../src/util/rng.ts";
import { planModel, sizeOf } from "../src/engine/spec.ts";
import { directBlock, directConvTile, gemmShape, useDirectConv } from "../src/engine/layers.ts";
import { GPU_TEST, randomTimes, testEngine } from "./_compare.ts";

interface Case {
  arch: string;
  inShape: number[];
  batch: number;
  maxBatch?: number;
  seed: number;
}

async function withDirect<T>(on: boolean, fn: () => Promise<T>): Promise<T> {
  const before = Deno.env.get("FIRSTSPIKE_DIRECT_CONV");
  Deno.env.set("FIRSTSPIKE_DIRECT_CONV", on ? "1" : "0");
  try {
    return await fn();
  } finally {
    if (before === undefined) Deno.env.delete("FIRSTSPIKE_DIRECT_CONV");
    else Deno.env.set("FIRSTSPIKE_DIRECT_CONV", before);
  }
}

function assertSame(what: string, a: ArrayLike<number>, b: ArrayLike<number>): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  for (let i = 0; i < a.length; i++) {
    // Equal as numbers (a sum of no terms may be +0 on one path and -0 on the other).
    if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) {
      throw new Error(`${what}[${i}]: GEMM ${a[i]}, direct ${b[i]} (expected the same float32)`);
    }
  }
}

async function compare(c: Case): Promise<void> {
  const engine = await testEngine();
  const opts = {
    arch: c.arch,
    inputShape: c.inShape,
    classes: 3,
    maxBatch: c.maxBatch ?? c.batch,
    optimizer: { kind: "sgd" as const, lr: 0.05, weightDecay: 0 },
  };
  const gemm = await withDirect(false, () => Model.create(engine, opts));
  const direct = await withDirect(true, () => Model.create(engine, opts));
  try {
    if (engine.cpu) {
      const convs = direct.plan.filter((p) => p.spec.kind === "conv");
      assert.ok(
        convs.every((p) => useDirectConv(true, gemmShape(p), "f32")),
        `${c.arch}: every convolution runs direct`,
      );
    }
    const w = await gemm.getWeights();
    direct.setWeights(w);
    const rng = new Rng(c.seed);
    for (let step = 0; step < 2; step++) {
      const x = randomTimes(rng, c.batch * sizeOf(c.inShape), 1, 0.7);
      const labels = Array.from({ length: c.batch }, () => rng.int(3));
      const outs: {
        grads: Record<string, Tensor>;
        fwd: { times: Float32Array[]; potentials: Float32Array };
      }[] = [];
      for (const m of [gemm, direct]) {
        m.trainStep(x, labels, { encoded: true });
        outs.push({ grads: await m.getGradients(), fwd: await m.forward(x, { encoded: true }) });
      }
      const where = `${c.arch} step ${step + 1}`;
      outs[0].fwd.times.forEach((t, i) =>
        assertSame(`${where} layer ${i} times`, t, outs[1].fwd.times[i])
      );
      assertSame(`${where} potentials`, outs[0].fwd.potentials, outs[1].fwd.potentials);
      for (const [name, t] of Object.entries(outs[0].grads)) {
        assertSame(`${where} ${name} gradient`, t.data, outs[1].grads[name].data);
      }
    }
    // The updated weights themselves.
    const [a, b] = [await gemm.getWeights(), await direct.getWeights()];
    for (const name of Object.keys(a)) assertSame(`${c.arch} ${name}`, a[name].data, b[name].data);
  } finally {
    gemm.destroy();
    direct.destroy();
  }
}

Deno.test(
  "direct convolutions equal the GEMM kernels bit for bit: kernels 3 and 5, odd rows, one channel",
  GPU_TEST,
  async () => {
    await compare({ arch: "6C3-P2-7C3-5F", inShape: [2, 10, 10], batch: 3, seed: 1 });
    await compare({ arch: "4C5-P2-6C5", inShape: [1, 13, 11], batch: 2, maxBatch: 4, seed: 2 });
    await compare({ arch: "5C3-5C3", inShape: [3, 7, 19], batch: 2, seed: 3 });
  },
);

Deno.test(
  "direct convolutions: several blocks of channels (one dispatch each), transposed after each update",
  GPU_TEST,
  async () => {
    // 70C3 on 40 channels, rows of 9 pixels: 70 output channels in blocks of 4 (18 forward
    // dispatches, the last one short), 40 input channels in blocks of 16 (3 input-gradient
    // dispatches, the last one short).
    const g = gemmShape(planModel("40C3-70C3-P2", [3, 6, 9], 3)[1]);
    assert.deepEqual(directConvTile(g, false), { tm: 4, tn: 9 });
    assert.deepEqual(directConvTile(g, true), { tm: 16, tn: 9 });
    assert.ok(directBlock(70 * 9, 16) <= 16384);
    await compare({ arch: "40C3-70C3-P2", inShape: [3, 6, 9], batch: 2, seed: 4 });
  },
);

Deno.test(
  "direct convolutions with 256 forward accumulators (rows whose pooled tile has no padding) " +
    "equal the GEMM kernels bit for bit",
  GPU_TEST,
  async () => {
    // 6C3 on rows of 16: 8 channels x 16 pixels (fused: 8 x 8 of two rows); 12C3 on rows of 8:
    // 12 channels x 8 pixels (fused: 12 x 4); on rows of 10 the pooled tile would pad: 4 x 10.
    const plan = planModel("6C3-P2-12C3-P2-5F", [2, 16, 16], 3);
    const [a, b] = [gemmShape(plan[0]), gemmShape(plan[2])];
    assert.deepEqual(directConvTile(a, false), { tm: 8, tn: 16 });
    assert.deepEqual(directConvTile(a, false, true), { tm: 8, tn: 8 });
    assert.deepEqual(directConvTile(b, false), { tm: 12, tn: 8 });
    assert.deepEqual(directConvTile(b, false, true), { tm: 12, tn: 4 });
    const padded = gemmShape(planModel("6C3-P2-7C3-5F", [2, 10, 10], 3)[0]);
    assert.deepEqual(directConvTile(padded, false), { tm: 4, tn: 10 });
    await compare({ arch: "6C3-P2-12C3-P2-5F", inShape: [2, 16, 16], batch: 3, seed: 7 });
    await compare({ arch: "16C3-20C3", inShape: [3, 8, 16], batch: 2, seed: 8 });
  },
);

Deno.test(
  "a convolution fused with its 2 x 2 pool (training steps without statistics) gives the " +
    "unfused step's pooled times, gradients and updated weights bit for bit",
  GPU_TEST,
  async () => {
    const engine = await testEngine();
    // Odd sizes (the last row and column are pooled by nobody), a layer with an input gradient
    // before a pool and one without, batch below maxBatch, several blocks of channels.
    for (
      const c of [
        { arch: "6C3-P2-9C3-P2-5F", inShape: [2, 9, 11], batch: 3, maxBatch: 4, seed: 5 },
        { arch: "20C5-P2", inShape: [1, 12, 14], batch: 2, maxBatch: 2, seed: 6 },
        // 256 accumulators: 8 x 8 and 12 x 4 pooled tiles of two rows.
        { arch: "6C3-P2-12C3-P2-5F", inShape: [2, 16, 16], batch: 3, maxBatch: 4, seed: 9 },
      ]
    ) {
      const make = () =>
        Model.create(engine, {
          arch: c.arch,
          inputShape: c.inShape,
          classes: 3,
          maxBatch: c.maxBatch,
          optimizer: { kind: "sgd" as const, lr: 0.05, weightDecay: 0 },
        });
      const [plain, fused] = [await make(), await make()];
      try {
        fused.setWeights(await plain.getWeights());
        const rng = new Rng(c.seed);
        const x = randomTimes(rng, c.batch * sizeOf(c.inShape), 1, 0.7);
        const labels = Uint32Array.from({ length: c.batch }, () => rng.int(3));
        const lb = engine.buffer(c.batch * 4), ib = engine.buffer(c.batch * 4);
        engine.write(lb, labels);
        engine.write(ib, Uint32Array.from({ length: c.batch }, (_, i) => i));
        for (const [m, stats] of [[plain, true], [fused, false]] as const) {
          // The same encoded input, then one step recorded as the training loop records it.
          await m.forward(x, { encoded: true });
          const [off] = engine.steps([m.nextTrainStep(c.batch)]);
          const enc = engine.device.createCommandEncoder();
          const pass = enc.beginComputePass();
          m.encodeTrainStep(pass, off, c.batch, m.lossGroup(lb, ib), stats, false);
          pass.end();
          engine.device.queue.submit([enc.finish()]);
        }
        const [ga, gb] = [await plain.getGradients(), await fused.getGradients()];
        for (const name of Object.keys(ga)) {
          assertSame(`${c.arch} ${name} gradient`, ga[name].data, gb[name].data);
        }
        // The pools' outputs of that step (read before any other pass rewrites them).
        const pools = plain.plan.filter((p) => p.spec.kind === "pool").map((p) => p.index);
        for (const i of pools) {
          const n = c.batch * sizeOf(plain.plan[i].outShape);
          const [a, b] = [
            await engine.readF32(plain.acts[i], n),
            await engine.readF32(fused.acts[i], n),
          ];
          assertSame(`${c.arch} layer ${i} pooled times`, a, b);
        }
        const [wa, wb] = [await plain.getWeights(), await fused.getWeights()];
        for (const name of Object.keys(wa)) {
          assertSame(`${c.arch} ${name}`, wa[name].data, wb[name].data);
        }
        lb.destroy();
        ib.destroy();
      } finally {
        plain.destroy();
        fused.destroy();
      }
    }
  },
);
