/**
 * The whole loop learns, and the experiment runner keeps its promises:
 * run folders, determinism, exact resume after an interruption, failures
 * recorded while the grid goes on.
 */

import assert, { deepStrictEqual as assertEquals, rejects } from "node:assert/strict";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { parseExperiment } from "../src/experiment/config.ts";
import { expandGrid } from "../src/experiment/grid.ts";
import { epochOrder, Interrupted, runPoint } from "../src/run/train.ts";
import { readSafetensors, writeSafetensors } from "../src/engine/safetensors.ts";
import { loadDataset } from "../src/data/datasets.ts";
import { kaimingNormal, Rng } from "../src/util/rng.ts";
import { planModel } from "../src/engine/spec.ts";
import { encode, trainStepRef } from "../src/reference/mod.ts";
import {
  learnBlobs,
  tinyExperiment,
  weightsOf,
  withTempDir,
  writeFakeCifar10,
  writeFakeFmnist,
} from "./_data.ts";
import { assertClose, GPU_TEST, testEngine } from "./_compare.ts";
import { taskCommand } from "./_task.ts";

Deno.test("a conv-conv-pool network learns generated data to high accuracy", GPU_TEST, async () => {
  const m = await learnBlobs(await testEngine(), "f32");
  assertEquals(m.samples, 256);
  assert(
    m.accuracy >= 0.9,
    `expected test accuracy >= 90% after 300 steps, got ${(m.accuracy * 100).toFixed(1)}%`,
  );
  assert(m.layers.every((l) => l.firing > 0 && l.firing <= 1), "every spiking layer fires");
});

/** `deno task exp ARGS` as users run it (deno.json's permissions; stdout and stderr piped). */
function expTask(args: string[], env: Record<string, string> = {}): Deno.Command {
  return taskCommand("exp", args, { inside: true, env });
}

Deno.test(
  "a run writes its folder, and the same seed gives bit-identical weights",
  GPU_TEST,
  async () => {
    const engine = await testEngine();
    await withTempDir(async (tmp) => {
      await writeFakeFmnist(join(tmp, "data"));
      const exp = tinyExperiment(join(tmp, "data"));
      const [p] = expandGrid(exp);
      const a = join(tmp, "a"), b = join(tmp, "b");
      const r = await runPoint({
        settings: p.settings,
        id: p.id,
        point: p.point,
        dir: a,
        engine,
        log: () => {},
      });
      await runPoint({
        settings: p.settings,
        id: p.id,
        point: p.point,
        dir: b,
        engine,
        log: () => {},
      });
      assertEquals(r.epochs_run, 2);
      assertEquals(r.steps, 2 * Math.ceil(256 / 32));
      const run = parseYaml(await Deno.readTextFile(join(a, "run.yaml")));
      assertEquals(run.status.state, "done");
      assertEquals(run.results.test_acc, r.test_acc);
      assert(run.provenance.adapter && run.provenance.deno && run.provenance.datasets.length === 4);
      // run.yaml reproduces the settings exactly.
      assertEquals(
        parseExperiment(await Deno.readTextFile(join(a, "run.yaml")), "run.yaml").base,
        p.settings,
      );
      const lines = (await Deno.readTextFile(join(a, "metrics.jsonl"))).trim().split("\n").map((
        l,
      ) => JSON.parse(l));
      assertEquals(lines.length, 2);
      assertEquals(lines.map((l) => l.epoch), [1, 2]);
      assert(lines[1].train_loss < lines[0].train_loss, "the training loss falls");
      for (const l of lines) {
        assert(
          l.val_acc !== null && l.test_acc >= 0 && l.layers.length === 1 &&
            l.layers[0].hist.length === 16,
        );
      }
      assertEquals(await weightsOf(a), await weightsOf(b));
    });
  },
);

Deno.test(
  "a run interrupted mid-epoch resumes to exactly the uninterrupted result, with any lr schedule",
  GPU_TEST,
  async () => {
    const engine = await testEngine();
    // The default (per-epoch annealing), and per-step rates: a warm-up that the interruption
    // (after chunk 4 of 3 steps, in epoch 2 of 8 steps) cuts, then a cosine; and a step schedule.
    const schedules = [
      {},
      { lr_schedule: "cosine", warmup_epochs: 1.5, lr_min: 1e-4 },
      { lr_schedule: "step", lr_milestones: [1], lr_gamma: 0.3 },
    ];
    for (const schedule of schedules) {
      await withTempDir(async (tmp) => {
        await writeFakeFmnist(join(tmp, "data"));
        const exp = tinyExperiment(join(tmp, "data"), { augment: ["flip"], ...schedule });
        const [p] = expandGrid(exp);
        const whole = join(tmp, "whole"), cut = join(tmp, "cut");
        await runPoint({
          settings: p.settings,
          id: p.id,
          point: p.point,
          dir: whole,
          engine,
          chunk: 3,
          log: () => {},
        });
        // Interrupt after the first chunk of the second epoch.
        const controller = new AbortController();
        let chunks = 0;
        await rejects(
          runPoint({
            settings: p.settings,
            id: p.id,
            point: p.point,
            dir: cut,
            engine,
            chunk: 3,
            log: () => {},
            signal: controller.signal,
            progress: (_line, final) => {
              if (!final && ++chunks === 4) controller.abort();
            },
          }),
          Interrupted,
        );
        const mid = parseYaml(await Deno.readTextFile(join(cut, "run.yaml")));
        assertEquals(mid.status.state, "running");
        await runPoint({
          settings: p.settings,
          id: p.id,
          point: p.point,
          dir: cut,
          engine,
          chunk: 3,
          log: () => {},
        });
        assertEquals(await weightsOf(cut), await weightsOf(whole));
        const strip = (t: string) =>
          t.trim().split("\n").map((l) => ({ ...JSON.parse(l), seconds: 0 }));
        assertEquals(
          strip(await Deno.readTextFile(join(cut, "metrics.jsonl"))),
          strip(await Deno.readTextFile(join(whole, "metrics.jsonl"))),
        );
      });
    }
  },
);

Deno.test(
  "deno task exp: dry run, a failing point is recorded and the grid goes on",
  GPU_TEST,
  async () => {
    await withTempDir(async (tmp) => {
      await writeFakeFmnist(join(tmp, "data"));
      const file = join(tmp, "g.yaml");
      await Deno.writeTextFile(
        file,
        `name: g
dataset: fmnist
arch: "P4-8F"
batch_size: 64
epochs: 1
output: ${JSON.stringify(join(tmp, "runs"))}
grid:
  data_dir: [${JSON.stringify(join(tmp, "data"))}, ${JSON.stringify(join(tmp, "missing"))}]
`,
      );
      const env = { FIRSTSPIKE_DATA: join(tmp, "nowhere"), XDG_CACHE_HOME: join(tmp, "cache") };
      const exp = (...args: string[]) => expTask([file, ...args], env).output();
      const dry = await exp("--dry-run");
      const listing = new TextDecoder().decode(dry.stdout);
      assertEquals(dry.code, 0);
      assert(listing.includes("2 point(s)"), listing);
      const run = await exp();
      const err = new TextDecoder().decode(run.stderr);
      assertEquals(run.code, 1, err);
      const parsed = parseExperiment(await Deno.readTextFile(file), file);
      const [ok, bad] = expandGrid(parsed);
      const okRun = parseYaml(await Deno.readTextFile(join(tmp, "runs", "g", ok.id, "run.yaml")));
      const badRun = await Deno.readTextFile(join(tmp, "runs", "g", bad.id, "run.yaml")).then(
        parseYaml,
        () => undefined,
      );
      assertEquals(okRun.status.state, "done");
      // The bad point failed before it held its folder's lock: nothing is written there, the
      // error is on stderr.
      assertEquals(badRun, undefined);
      assert(err.includes(`${bad.id}: failed: data_dir: expected an existing folder`), err);
      // Running again skips the finished point and retries only the failed one.
      const again = await exp();
      assert(new TextDecoder().decode(again.stderr).includes(`${ok.id}: done, skipped`));
    });
  },
);

Deno.test(
  "fidelity: one SGD step from given weights on given data equals the reference update, plain and normalised",
  GPU_TEST,
  async () => {
    const engine = await testEngine();
    for (const normalize of [false, true]) {
      await withTempDir(async (tmp) => {
        const data = join(tmp, "data");
        await writeFakeFmnist(data);
        const plan = planModel("P2-16F", [1, 28, 28], 10);
        const rng = new Rng(21);
        const w64 = plan.map((
          p,
        ) => (p.weightShape
          ? Float64Array.from(kaimingNormal(p.weightShape, p.fanIn, rng))
          : null)
        );
        const init = join(tmp, "init.safetensors");
        const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
        plan.forEach((p, i) => {
          if (p.weightShape) {
            tensors[`layers.${i}.weight`] = {
              shape: p.weightShape,
              data: Float32Array.from(w64[i]!),
            };
          }
        });
        await writeSafetensors(init, tensors);
        const exp = tinyExperiment(data, {
          arch: "P2-16F",
          optimizer: "sgd",
          lr: 0.05,
          weight_decay: 0.1,
          max_steps: 1,
          normalize,
          shuffle: false,
          validation_fraction: 0,
          augment: [],
          init,
        });
        const [p] = expandGrid(exp);
        const r = await runPoint({
          settings: p.settings,
          id: p.id,
          point: p.point,
          dir: join(tmp, "run"),
          engine,
          log: () => {},
        });
        assertEquals(r.steps, 1);
        assertEquals(r.stopped, "max_steps");
        // The reference: the first 32 training images in file order.
        const train = await loadDataset("fmnist", "train", { dir: data, log: () => {} });
        // Normalised as the reference does: 0 pixels spike late, at T (1 + mean / std).
        const x = encode(
          Float64Array.from(train.images.subarray(0, 32 * 784), (v) => Math.fround(v / 255)),
          1,
          normalize ? { mean: [0.2860], std: [0.3530], channels: 1, plane: 784 } : undefined,
        );
        if (normalize) assert(x.some((t) => t > 1.8), "0 pixels spike after the window");
        trainStepRef(plan, w64, x, Array.from(train.labels.subarray(0, 32)), 32, 1, {
          optimizer: "sgd",
          lr: 0.05,
          weightDecay: 0.1,
          gradClip: 1,
        });
        const out = await readSafetensors(join(tmp, "run", "weights.safetensors"));
        plan.forEach((pl, i) => {
          if (pl.weightShape) {
            assertClose(
              `layer ${i} after one step (normalize ${normalize})`,
              out.tensors[`layers.${i}.weight`].data,
              w64[i]!,
              1e-5,
            );
          }
        });
      });
    }
  },
);

Deno.test("deno task exp on a run.yaml reruns exactly that point", GPU_TEST, async () => {
  await withTempDir(async (tmp) => {
    await writeFakeFmnist(join(tmp, "data"));
    const file = join(tmp, "r.yaml");
    await Deno.writeTextFile(
      file,
      `dataset: fmnist\ndata_dir: ${
        JSON.stringify(join(tmp, "data"))
      }\narch: "P4-8F"\nbatch_size: 64\n` +
        `epochs: 1\noutput: ${JSON.stringify(join(tmp, "runs"))}\n`,
    );
    const exp = (...args: string[]) => expTask(args).output();
    assertEquals((await exp(file)).code, 0);
    const first = join(tmp, "runs", "r", "default");
    const again = await exp(join(first, "run.yaml"), "--output", join(tmp, "rerun"));
    assertEquals(again.code, 0, new TextDecoder().decode(again.stderr));
    assertEquals(await weightsOf(join(tmp, "rerun", "r", "default")), await weightsOf(first));
  });
});

Deno.test(
  "SIGTERM: deno task exp writes a checkpoint, exits 143, and a rerun resumes exactly",
  GPU_TEST,
  async () => {
    await withTempDir(async (tmp) => {
      await writeFakeFmnist(join(tmp, "data"));
      const yaml = (out: string) =>
        `dataset: fmnist\ndata_dir: ${
          JSON.stringify(join(tmp, "data"))
        }\narch: "P2-16F"\nbatch_size: 16\n` +
        `lr: 3.0e-3\nepochs: 12\nvalidation_fraction: 0.25\noutput: ${
          JSON.stringify(join(tmp, out))
        }\n`;
      await Deno.writeTextFile(join(tmp, "s.yaml"), yaml("cut"));
      await Deno.writeTextFile(join(tmp, "w.yaml"), yaml("whole"));
      const cmd = (file: string) => expTask([join(tmp, file)]);
      const child = cmd("s.yaml").spawn();
      const metrics = join(tmp, "cut", "s", "default", "metrics.jsonl");
      for (let i = 0; i < 600 && !(await Deno.stat(metrics).catch(() => null)); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      child.kill("SIGTERM");
      const { code, stderr } = await child.output();
      const log = new TextDecoder().decode(stderr);
      assertEquals(code, 143, log);
      assert(log.includes("checkpoint written"), log);
      const mid = parseYaml(await Deno.readTextFile(join(tmp, "cut", "s", "default", "run.yaml")));
      assertEquals(mid.status.state, "running");
      const resumed = await cmd("s.yaml").output();
      assertEquals(resumed.code, 0, new TextDecoder().decode(resumed.stderr));
      assert(new TextDecoder().decode(resumed.stderr).includes("resuming"));
      assertEquals((await cmd("w.yaml").output()).code, 0);
      assertEquals(
        await weightsOf(join(tmp, "cut", "s", "default")),
        await weightsOf(join(tmp, "whole", "w", "default")),
      );
    });
  },
);

Deno.test("CIFAR-10 format, three channels, every augmentation on the GPU", GPU_TEST, async () => {
  const engine = await testEngine();
  await withTempDir(async (tmp) => {
    await writeFakeCifar10(join(tmp, "c10"));
    const exp = tinyExperiment(join(tmp, "c10"), {
      dataset: "cifar10",
      arch: "8C3-P4-16F",
      batch_size: 25,
      epochs: 2,
      normalize: true,
      augment: ["crop", "flip", "autoaugment", "cutout"],
    });
    const [p] = expandGrid(exp);
    const dir = join(tmp, "run");
    const r = await runPoint({
      settings: p.settings,
      id: p.id,
      point: p.point,
      dir,
      engine,
      log: () => {},
    });
    assertEquals(r.epochs_run, 2);
    assertEquals(r.steps, 2 * Math.ceil(80 / 25));
    const w = await weightsOf(dir);
    assert(w.every((t) => t.every(Number.isFinite)), "finite weights");
    const lines = (await Deno.readTextFile(join(dir, "metrics.jsonl"))).trim().split("\n").map((
      l,
    ) => JSON.parse(l));
    assert(lines.every((l) => Number.isFinite(l.train_loss) && l.layers.length === 2));
  });
});

Deno.test("shuffle: once keeps one seeded order every epoch (the reference's), true reshuffles", () => {
  const train = Uint32Array.from({ length: 50 }, (_, i) => 100 + i);
  const once = [1, 2, 3].map((e) => Array.from(epochOrder(train, 5, e, "once")));
  assertEquals(once[1], once[0]);
  assertEquals(once[2], once[0]);
  assert.notDeepStrictEqual(once[0], Array.from(train), "a random order, not the files'");
  assertEquals([...once[0]].sort((a, b) => a - b), Array.from(train), "a permutation");
  assert.notDeepStrictEqual(
    Array.from(epochOrder(train, 6, 1, "once")),
    once[0],
    "the seed chooses the order",
  );
  const every = [1, 2].map((e) => Array.from(epochOrder(train, 5, e, true)));
  assert.notDeepStrictEqual(every[0], every[1]);
  assertEquals(Array.from(epochOrder(train, 5, 3, false)), Array.from(train));
  assertEquals(
    parseExperiment("dataset: fmnist\narch: 8F\nshuffle: once\n", "x.yaml").base.shuffle,
    "once",
  );
  assert.throws(
    () => parseExperiment("dataset: fmnist\narch: 8F\nshuffle: twice\n", "x.yaml"),
    /x\.yaml:3:10: shuffle: expected true, false or 'once', got "twice"/,
  );
});
