/**
 * The benchmark's counting (src/bench/flops.ts) against counts worked out by
 * hand, the vgg7 figure, the README's memory claim, and
 * `tasks/bench.ts --quick` run end to end as a subprocess.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  forwardBytes,
  gemmDims,
  inferenceFlops,
  stepBytes,
  stepFlops,
  weightBytes,
} from "../src/bench/flops.ts";
import { planModel } from "../src/engine/spec.ts";
import { parseExperiment } from "../src/experiment/config.ts";
import { epochYaml, FMNIST_DIR, median, QUICK_SHAPES } from "../tasks/bench.ts";
import { EPOCH_RUNS } from "../src/bench/epoch.ts";
import { placeImages, realBatch, trainedWeightsName } from "../src/bench/activity.ts";
import { dispatchLabel } from "../src/bench/shape_bench.ts";
import { stepsFor } from "../src/bench/timing.ts";
import { runTask } from "./_task.ts";

Deno.test("stepFlops: a tiny conv-pool-linear plan counted by hand", () => {
  // 2C3 on 1x4x4: M=2, K=1*3*3=9, N=batch 2 * 16 positions = 32 -> product 2*2*32*9 = 1152.
  // P2 -> 2x2x2: 0. 4F on 8 inputs: M=4, K=8, N=2 -> 128. Readout 3 on 4: M=3, K=4, N=2 -> 48.
  const plan = planModel("2C3-P2-4F", [1, 4, 4], 3);
  const f = stepFlops(plan, 2);
  assert.deepEqual(f.perLayer.map((l) => l.product), [1152, 0, 128, 48]);
  // Spiking layers: forward 2 products, weight gradient 2, input gradient 1 (none at layer 0).
  // Readout: 1 each.
  assert.deepEqual(f.perLayer.map((l) => [l.forward, l.backwardWeight, l.backwardInput]), [
    [2304, 2304, 0],
    [0, 0, 0],
    [256, 256, 128],
    [48, 48, 48],
  ]);
  assert.deepEqual(f.perLayer.map((l) => l.total), [4608, 0, 640, 144]);
  assert.equal(f.forward, 2304 + 256 + 48);
  assert.equal(f.backward, 2304 + (256 + 128) + (48 + 48));
  assert.equal(f.total, 5392);
  assert.equal(inferenceFlops(plan, 2), 2608);
  // Linear in the batch.
  assert.equal(stepFlops(plan, 7).total, 5392 / 2 * 7);
});

Deno.test("stepFlops: a weighted layer after a leading pool gets its input gradient", () => {
  // P2 on 1x4x4 -> 1x2x2; 5F: M=5, K=4, N=3 -> 120; readout 2 on 5: M=2, K=5, N=3 -> 60.
  const f = stepFlops(planModel("P2-5F", [1, 4, 4], 2), 3);
  assert.deepEqual(f.perLayer.map((l) => [l.forward, l.backwardWeight, l.backwardInput]), [
    [0, 0, 0],
    [240, 240, 120],
    [60, 60, 60],
  ]);
});

Deno.test("gemmDims: kernel 5 conv and the 1x1 layers; pools have none", () => {
  const plan = planModel("32C5-P2-64C5-P2", [1, 28, 28], 10);
  assert.deepEqual(gemmDims(plan[0], 256), { m: 32, n: 256 * 28 * 28, k: 25 });
  assert.equal(gemmDims(plan[1], 256), null);
  assert.deepEqual(gemmDims(plan[2], 256), { m: 64, n: 256 * 14 * 14, k: 32 * 25 });
  assert.deepEqual(gemmDims(plan[4], 256), { m: 10, n: 256, k: 64 * 7 * 7 });
  assert.throws(
    () => stepFlops(plan, 0),
    /expected a batch size that is a positive integer, got 0/,
  );
  assert.throws(() => stepBytes(plan, 2.5), /got 2.5/);
});

Deno.test("stepFlops: vgg7 at batch 256 is about 1.36 TFLOP (the issue's figure)", () => {
  const plan = planModel("vgg7", [3, 32, 32], 10);
  const f = stepFlops(plan, 256);
  // Independently: [M, K, H*W] of the six convolutions, then 5 products each
  // minus layer 0's input gradient, plus 3 readout products.
  const convs = [[64, 27, 1024], [128, 576, 1024], [256, 1152, 256], [256, 2304, 256], [
    512,
    2304,
    64,
  ], [512, 4608, 64]];
  const prod = convs.map(([m, k, hw]) => 2 * m * k * hw * 256);
  const readout = 2 * 10 * 8192 * 256;
  const expected = 5 * prod.reduce((a, b) => a + b, 0) - prod[0] + 3 * readout;
  assert.equal(f.total, expected);
  assert.ok(Math.abs(f.total / 1.36e12 - 1) < 0.01, `expected about 1.36e12, got ${f.total}`);
  assert.equal(f.perLayer.reduce((a, l) => a + l.total, 0), f.total);
});

Deno.test("stepBytes and forwardBytes: hand counts and the README's 'within twice' memory claim", () => {
  // 2C3-P2 on 1x4x4: 16 pixels, 32 spiking, 8 pooled, 3 readout neurons.
  const tiny = planModel("2C3-P2", [1, 4, 4], 3);
  assert.equal(stepBytes(tiny, 1), 16 * 8 + 32 * 16 + 8 * 12 + 3 * 8);
  assert.equal(forwardBytes(tiny, 3), 3 * (32 * 12 + 8 * 4 + 3 * 4));

  const vgg7 = planModel("vgg7", [3, 32, 32], 10);
  // Spiking neurons: 64*1024 + 128*1024 + 256*256 * 2 + 512*64 * 2; pooled: 128*256 + 256*64 + 512*16.
  const spiking = 64 * 1024 + 128 * 1024 + 2 * 256 * 256 + 2 * 512 * 64;
  const pooled = 128 * 256 + 256 * 64 + 512 * 16;
  assert.equal(spiking, 393216);
  const perSample = stepBytes(vgg7, 1);
  assert.equal(perSample, 3072 * 8 + spiking * 16 + pooled * 12 + 10 * 8);
  assert.equal(forwardBytes(vgg7, 1), spiking * 12 + pooled * 4 + 10 * 4);
  assert.equal(stepBytes(vgg7, 256), 256 * perSample);
  // The claim: a step's memory is within twice the forward activations and saved sums.
  for (
    const [arch, shape] of [["vgg7", [3, 32, 32]], ["vgg11", [3, 32, 32]], ["32C5-P2-64C5-P2", [
      1,
      28,
      28,
    ]]] as const
  ) {
    const plan = planModel(arch, shape, 10);
    const ratio = stepBytes(plan, 256) / forwardBytes(plan, 256);
    assert.ok(
      ratio <= 2,
      `${arch}: expected step bytes within 2x forward bytes, got ${ratio.toFixed(3)}x`,
    );
    assert.ok(
      ratio > 1,
      `${arch}: a step must hold more than the forward pass, got ${ratio.toFixed(3)}x`,
    );
  }
  // Weights: 1728 + 73728 + 294912 + 589824 + 1179648 + 2359296 + 81920 floats, each padded
  // to 64 (all already are), times 5 buffers of 4 bytes.
  assert.equal(
    weightBytes(vgg7),
    5 * 4 * (1728 + 73728 + 294912 + 589824 + 1179648 + 2359296 + 81920),
  );
  // Padding: 2C3 on 1 channel holds 18 floats, padded to 64.
  assert.equal(weightBytes(planModel("2C3", [1, 3, 3], 2)), 5 * 4 * (64 + 64));
});

Deno.test("median: odd and even counts, unsorted input", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([5]), 5);
});

Deno.test("epochYaml: parses into the intended settings", async () => {
  const quick = parseExperiment(epochYaml(true, "/tmp/x y"), "bench").base;
  assert.equal(quick.dataset, "fmnist");
  assert.equal(quick.data_dir, FMNIST_DIR);
  // The quick start's network and settings (experiments/quickstart.yaml), on all of the data.
  const start = parseExperiment(
    await Deno.readTextFile(new URL("../experiments/quickstart.yaml", import.meta.url)),
    "quickstart",
  ).base;
  for (
    const key of [
      "arch",
      "batch_size",
      "lr",
      "weight_decay",
      "annealing",
      "normalize",
      "train_subset",
      "validation_fraction",
      "seed",
    ] as const
  ) {
    assert.deepEqual(quick[key], start[key], key);
  }
  assert.equal(quick.epochs, EPOCH_RUNS);
  assert.equal(EPOCH_RUNS, 2, "the second epoch is the steady one");
  assert.equal(quick.output, "/tmp/x y");
  const full = parseExperiment(epochYaml(false, "/tmp/o"), "bench").base;
  assert.equal(full.arch, "vgg7");
  assert.equal(full.train_subset, null);
  assert.equal(full.batch_size, 256);
});

/** `deno task bench ARGS` as users run it, from `cwd`, with deno.json's permissions. */
function runBench(args: string[], cwd: string) {
  return runTask("bench", args, { cwd });
}

Deno.test("bench --quick: bad options are usage errors (exit 2) with what was expected", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = await runBench(["--quick", "--only", "vgg9"], dir);
    assert.equal(a.code, 2);
    assert.match(
      a.stderr,
      /--only: expected one of mnist-cnn, mnist-cnn-b32, vgg7-b256, vgg7-b32, vgg11-b256, quickstart, fmnist-epoch, got 'vgg9'/,
    );
    const b = await runBench(["--reps", "0"], dir);
    assert.equal(b.code, 2);
    assert.match(b.stderr, /--reps: expected a positive integer, got '0'/);
    assert.deepEqual([...Deno.readDirSync(dir)], [], "a failed run writes no JSON");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  "bench --quick --only mnist-cnn --reps 2: dense and sparse on trained activity, the JSON",
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const json = join(dir, "out.json");
      // The trained weights' cache in the run's own folder: it starts without one.
      const cache = join(dir, "cache");
      const r = await runBench(
        ["--quick", "--only", "mnist-cnn", "--reps", "2", "--json", json, "--cache", cache],
        dir,
      );
      assert.equal(r.code, 0, `bench exited ${r.code}:\n${r.stderr}`);
      assert.match(r.stdout, /^adapter: .+$/m);
      assert.match(r.stdout, /^\| mnist-cnn +\| 4C5-P2-8C5-P2 +\| 8 +\|/m);
      const j = JSON.parse(await Deno.readTextFile(json));
      assert.equal(typeof j.adapter, "string");
      assert.equal(j.deno, Deno.version.deno);
      assert.ok(!Number.isNaN(Date.parse(j.date)), `date: expected an ISO date, got ${j.date}`);
      assert.ok(
        j.commit === null || /^[0-9a-f]{40}(-dirty)?$/.test(j.commit),
        `commit: got ${j.commit}`,
      );
      assert.equal(j.quick, true);
      assert.equal(j.epoch, null, "--only mnist-cnn runs no epoch");
      assert.equal(j.shapes.length, 1);
      const s = j.shapes[0];
      const shape = QUICK_SHAPES.find((q) => q.name === "mnist-cnn")!;
      assert.equal(s.name, "mnist-cnn");
      assert.equal(s.arch, shape.arch);
      assert.equal(s.batch, shape.batch);
      const plan = planModel(shape.arch, shape.input, shape.classes);
      const f = stepFlops(plan, shape.batch);
      assert.equal(s.flops.step, f.total);
      assert.equal(s.flops.inference, inferenceFlops(plan, shape.batch));
      for (const t of [s.train, s.train_dense, s.train_sparse, s.inference]) {
        assert.equal(t.reps_ms.length, 2);
        assert.ok(t.reps_ms.every((x: number) => x > 0 && Number.isFinite(x)));
        assert.equal(t.median_ms, median(t.reps_ms));
        assert.equal(t.min_ms, Math.min(...t.reps_ms));
        assert.ok(
          Math.abs(t.samples_per_s - shape.batch / (t.median_ms / 1000)) < 1e-9 * t.samples_per_s,
        );
      }
      assert.ok(s.steps_per_rep >= 3, "at least 3 steps per repetition");
      assert.equal(s.sparse_speedup, s.train_dense.median_ms / s.train_sparse.median_ms);
      const cpu = /llvmpipe|lavapipe|swiftshader|software|warp/i.test(j.adapter);
      assert.deepEqual(s.train, cpu ? s.train_sparse : s.train_dense, "the default products");
      assert.ok(
        Math.abs(s.train.tflops - s.flops.step / (s.train.median_ms / 1000) / 1e12) < 1e-12,
      );
      // Activity: trained on Fashion-MNIST when it is here, with every spiking layer reported.
      const a = s.activity;
      assert.equal(a.kind, "trained");
      assert.equal(a.weights, "trained", "an empty cache: trained now");
      const cached = [...Deno.readDirSync(cache)].map((e) => e.name);
      assert.deepEqual(cached, [await trainedWeightsName(shape)], "and cached");
      assert.deepEqual(a.layers.map((l: { token: string }) => l.token), ["4C5", "8C5"]);
      for (const l of a.layers) {
        assert.ok(l.firing > 0 && l.firing < 1 && Math.abs(l.silent - (1 - l.firing)) < 1e-12);
        // Both layers lie before a pool: event-driven, and at most one neuron of 4 passes.
        assert.equal(l.weight_gradient, "events");
        // The first layer has no input gradient; the second's skips channels without events
        // (a CPU driver's direct convolution).
        assert.equal(l.input_gradient, l.index === 0 ? null : cpu ? "skip" : "dense");
        assert.ok(l.gradient_share > 0 && l.gradient_share <= 0.25, `${l.gradient_share}`);
      }
      assert.ok(a.input_silent > 0.3 && a.input_silent < 0.7, "Fashion-MNIST: half its pixels 0");
      // Performed FLOPs: each event-driven weight gradient at its events' share.
      const saved = a.layers.reduce(
        (t: number, l: { index: number; gradient_share: number }) =>
          t + (1 - l.gradient_share) * f.perLayer[l.index].backwardWeight,
        0,
      );
      assert.ok(Math.abs(s.flops.step_performed - (f.total - saved)) < 1e-6 * f.total);
      assert.ok(
        Math.abs(s.gflops.performed - s.flops.step_performed / s.train_sparse.median_ms / 1e6) <
          1e-9 * s.gflops.performed,
      );
      // Memory: what the model allocated is the plan's activations and weight-sized buffers
      // plus small extras (split-K partials, accumulators, statistics partials, event lists).
      const m = s.memory;
      const batch = shape.batch;
      const counted = m.activations_bytes + m.weight_buffers_bytes;
      assert.ok(
        m.allocated_bytes >= counted,
        `allocated ${m.allocated_bytes} < counted ${counted}`,
      );
      assert.ok(
        m.allocated_bytes <= 1.5 * counted,
        `allocated ${m.allocated_bytes} vs counted ${counted}`,
      );
      assert.equal(m.activations_bytes, stepBytes(plan, batch));
      assert.equal(m.weight_buffers_bytes, weightBytes(plan));
      assert.equal(m.step_bytes_per_sample, stepBytes(plan, 1));
      assert.equal(m.forward_bytes_per_sample, forwardBytes(plan, 1));
      assert.equal(s.anchor, null);
      assert.equal(s.cpu_reference_ms, 4.3);
      assert.equal(s.speedup_vs_cpu_reference, 4.3 / s.train.median_ms);
      assert.equal(s.speedup_vs_tfjs, null);
      assert.equal(s.peer, null, "no --peer, no TF.js");
      assert.equal(s.profile, null, "no --profile");
      assert.equal(j.peer, null);
      assert.ok(s.startup.model_create_ms > 0 && s.startup.first_step_ms > 0);
      assert.ok(j.startup.engine_create_ms > 0);
      assert.match(r.stdout, /^mnist-cnn target <= the reference's 4\.3 ms\/step .+\((not )?met/m);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("placeImages and realBatch: Fashion-MNIST in a 3 x 32 x 32 input, silent pixels", () => {
  const img = Uint8Array.from({ length: 2 * 784 }, (_, i) => (i % 784 === 0 ? 0 : 1 + (i % 200)));
  const out = placeImages(img, 2, [3, 32, 32]);
  // Image 1, channel 2, row 2 + 0, column 2 + 5: pixel 5 of image 1.
  assert.equal(out[((1 * 3 + 2) * 32 + 2) * 32 + 2 + 5], img[784 + 5]);
  assert.equal(out[((1 * 3 + 2) * 32 + 0) * 32 + 0], 0, "the frame is 0");
  assert.throws(() => placeImages(img, 2, [1, 20, 20]), /H and W at least 28, got \[1,20,20\]/);
  const test = {
    name: "fmnist" as const,
    split: "test" as const,
    images: placeImages(img, 2, [1, 28, 28]),
    labels: Uint8Array.from([3, 7]),
    count: 2,
    shape: [1, 28, 28] as [number, number, number],
    classes: 10,
    files: [],
  };
  const shape = { ...QUICK_SHAPES[0], batch: 3 };
  const b = realBatch({ train: test, test }, shape, 3);
  assert.deepEqual([...b.labels], [3, 7, 3], "cycles through the images");
  assert.equal(b.x[784 + 5], Math.fround(img[784 + 5] / 255));
  assert.equal(b.silent, 3 / (3 * 784), "one 0 pixel per image");
  // Normalised (the quick start's encoding): no pixel sits exactly at the mean.
  assert.equal(realBatch({ train: test, test }, { ...shape, normalize: true }, 3).silent, 0);
});

Deno.test("trainedWeightsName: the cache key follows the network and the recipe", async () => {
  const s = QUICK_SHAPES[0];
  const a = await trainedWeightsName(s);
  assert.match(a, /^4C5-P2-8C5-P2-[0-9a-f]{12}\.safetensors$/);
  // vgg7-b256 and vgg7-b32 differ in their batch only: one file.
  const [v256, v32] = ["vgg7-b256", "vgg7-b32"].map((n) => QUICK_SHAPES.find((q) => q.name === n)!);
  assert.equal(await trainedWeightsName(v256), await trainedWeightsName(v32));
  assert.equal(await trainedWeightsName({ ...s }), a);
  assert.notEqual(await trainedWeightsName({ ...s, train: { ...s.train, epochs: 3 } }), a);
  assert.notEqual(await trainedWeightsName({ ...s, arch: "4C5-P2" }), a);
});

Deno.test("stepsFor and dispatchLabel", () => {
  assert.equal(stepsFor(10, 0.3, 3, 200), 30);
  assert.equal(stepsFor(0.001, 0.3, 3, 200), 200);
  assert.equal(stepsFor(1000, 0.3, 3, 200), 3);
  const key = JSON.stringify([
    "",
    ["conv_forward.wgsl", "_epilogue.wgsl"],
    "main",
    [],
    { CI: 32, H: 8, W: 8, CO: 64, KS: 3 },
  ]);
  assert.equal(dispatchLabel(key), "conv_forward 32>64 8x8 k3");
  const pool = JSON.stringify(["", ["pool_forward.wgsl"], "main", [], { C: 8, H: 4, W: 4, KS: 2 }]);
  assert.equal(dispatchLabel(pool), "pool_forward 8 4x4 k2");
  assert.equal(dispatchLabel("gather"), "gather");
});
