/**
 * Progress and output of `deno task exp`: kernels compiled before training
 * and announced, the grid's position and estimate, `--json` events, one GPU
 * device and one read of each dataset per process, and `train_subset`
 * shrinking the validation split.
 */

import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { join } from "node:path";
import YAML from "yaml";
import { parseExperiment } from "../src/experiment/config.ts";
import { expandGrid } from "../src/experiment/grid.ts";
import { type EpochRecord, runPoint, splitIndices } from "../src/run/train.ts";
import { DatasetCache } from "../src/data/dataset_cache.ts";
import { type Dataset, loadDataset } from "../src/data/datasets.ts";
import { Rng } from "../src/util/rng.ts";
import { eventWriter, formatDuration, gridEstimate, gridLine } from "../tasks/_progress.ts";
import { weightsOf, withTempDir, writeFakeFmnist } from "./_data.ts";
import { GPU_TEST, testEngine } from "./_compare.ts";

import { runTask } from "./_task.ts";

Deno.test("splitIndices without subsets divides the whole training split as before", () => {
  for (const [n, fraction, seed] of [[1000, 0.1, 0], [60000, 0.1, 3], [97, 0.25, 7], [50, 0, 1]]) {
    const s = { seed, validation_fraction: fraction, train_subset: null, test_subset: null };
    const { train, val, test } = splitIndices(n, 40, s);
    // The split of the reference experiments: the first floor(n * fraction) of the seed's
    // permutation are validation samples, the rest train; both in file order.
    const order = Array.from(new Rng(seed).fork("validation-split").permutation(n));
    const nVal = Math.floor(n * fraction);
    assertEquals(Array.from(val), order.slice(0, nVal).sort((a, b) => a - b));
    assertEquals(Array.from(train), order.slice(nVal).sort((a, b) => a - b));
    assertEquals(Array.from(test), Array.from({ length: 40 }, (_, i) => i));
  }
});

Deno.test("train_subset: N samples, validation_fraction of them held out for validation", () => {
  const n = 60000;
  const full = splitIndices(n, 10000, {
    seed: 5,
    validation_fraction: 0.1,
    train_subset: null,
    test_subset: null,
  });
  for (const [subset, nVal] of [[1000, 100], [55, 5], [9, 0], [1, 0]]) {
    const { train, val } = splitIndices(n, 10000, {
      seed: 5,
      validation_fraction: 0.1,
      train_subset: subset,
      test_subset: 7,
    });
    assertEquals(val.length, nVal, `validation samples of train_subset ${subset}`);
    assertEquals(train.length, subset - nVal, `training samples of train_subset ${subset}`);
    const all = new Set([...train, ...val]);
    assertEquals(all.size, subset, "training and validation samples are distinct");
    assert([...all].every((i) => Number.isInteger(i) && i >= 0 && i < n));
    for (const a of [train, val]) {
      assert(a.every((v, i) => i === 0 || a[i - 1] < v), "in file order");
    }
    // The subset's validation samples are some of the full run's: never one it trained on.
    const fullVal = new Set(full.val);
    assert([...val].every((i) => fullVal.has(i)));
  }
  // Not 6000 validation samples for a run of 1000.
  const small = splitIndices(n, 10000, {
    seed: 5,
    validation_fraction: 0.1,
    train_subset: 1000,
    test_subset: null,
  });
  assert(small.val.length < 6000);
  // The seed chooses the subset; a subset larger than the split is the whole split.
  const other = splitIndices(n, 10000, {
    seed: 6,
    validation_fraction: 0.1,
    train_subset: 1000,
    test_subset: null,
  });
  assert.notDeepStrictEqual(Array.from(other.train), Array.from(small.train));
  const big = splitIndices(500, 10, {
    seed: 5,
    validation_fraction: 0.2,
    train_subset: 10_000,
    test_subset: null,
  });
  const whole = splitIndices(500, 10, {
    seed: 5,
    validation_fraction: 0.2,
    train_subset: null,
    test_subset: null,
  });
  assertEquals(big, whole);
});

Deno.test("grid progress: durations, the estimate counts skipped points as 0 s, the line", () => {
  assertEquals(formatDuration(0), "0.0 s");
  assertEquals(formatDuration(42.14), "42.1 s");
  assertEquals(formatDuration(59.96), "60.0 s");
  assertEquals(formatDuration(60), "1 min 00 s");
  assertEquals(formatDuration(3599), "59 min 59 s");
  assertEquals(formatDuration(3600), "1 h 00 min");
  assertEquals(formatDuration(2 * 86400 + 5 * 60), "48 h 05 min");
  // Three points trained in 300 s and one skipped: 75 s a point on average, 6 left.
  assertEquals(gridEstimate(300, 4, 6), 450);
  assertEquals(gridEstimate(0, 0, 3), 0);
  assertEquals(
    gridLine({ index: 1, total: 3, pointSeconds: 61, elapsedSeconds: 62 }),
    "point 1 of 3 took 1 min 01 s; grid: 1 min 02 s elapsed, about 2 min 04 s left for 2 points",
  );
  assertEquals(
    gridLine({ index: 2, total: 2, pointSeconds: 5, elapsedSeconds: 9 }),
    "point 2 of 2 took 5.0 s; grid: 9.0 s elapsed, nothing left",
  );
});

Deno.test("--json events: one object per line with event and time; off writes nothing", () => {
  const lines: string[] = [];
  const emit = eventWriter(true, (l) => lines.push(l));
  emit("epoch", { id: "a", epoch: 1, val_loss: NaN, layers: [{ mean_time: Infinity }] });
  emit("grid_finished");
  assertEquals(lines.length, 2);
  const [e, g] = lines.map((l) => JSON.parse(l));
  assertEquals(e.event, "epoch");
  assertEquals(e.val_loss, null);
  assertEquals(e.layers, [{ mean_time: null }]);
  assert(!Number.isNaN(Date.parse(e.time)) && e.time.endsWith("Z"), e.time);
  assertEquals(Object.keys(g), ["event", "time"]);
  const off: string[] = [];
  eventWriter(false, (l) => off.push(l))("epoch", { id: "a" });
  assertEquals(off, []);
});

Deno.test("DatasetCache reads a split once per folder and retries a read that failed", async () => {
  const reads: string[] = [];
  let fail = true;
  const cache = new DatasetCache((name, split, opts) => {
    reads.push(`${name} ${split} ${opts?.dir}`);
    if (opts?.dir === "/flaky" && fail) return Promise.reject(new Error("not there yet"));
    return Promise.resolve({ name, split, count: 0 } as unknown as Dataset);
  });
  const [a, b] = await Promise.all([
    cache.load("mnist", "train", { dir: "/d" }),
    cache.load("mnist", "train", { dir: "/d" }),
  ]);
  assert(a === b);
  await cache.load("mnist", "test", { dir: "/d" });
  await cache.load("fmnist", "train", { dir: "/d" });
  await cache.load("mnist", "train", {});
  await assert.rejects(cache.load("mnist", "train", { dir: "/flaky" }), /not there yet/);
  fail = false;
  await cache.load("mnist", "train", { dir: "/flaky" });
  assertEquals(reads, [
    "mnist train /d",
    "mnist test /d",
    "fmnist train /d",
    "mnist train undefined",
    "mnist train /flaky",
    "mnist train /flaky",
  ]);
  assertEquals(cache.loads, 6);
});

Deno.test(
  "DatasetCache keeps a GPU upload for the same samples, replaces an idle one",
  GPU_TEST,
  async () => {
    const engine = await testEngine();
    const cache = new DatasetCache();
    const d = { name: "mnist", split: "train" } as unknown as Dataset;
    const other = { name: "mnist", split: "test" } as unknown as Dataset;
    let made = 0;
    const make = () => {
      made++;
      return { images: engine.buffer(16, "images"), labels: engine.buffer(16, "labels") };
    };
    const first = cache.upload(engine, d, Uint32Array.of(0, 1, 2), make);
    const again = cache.upload(engine, d, Uint32Array.of(0, 1, 2), make);
    assert(first.images === again.images && first.labels === again.labels);
    assertEquals(made, 1);
    // Other samples while the first are in use: a second upload, the first kept.
    const subset = cache.upload(engine, d, Uint32Array.of(0, 2), make);
    assertEquals(made, 2);
    first.release();
    again.release();
    const third = cache.upload(engine, d, Uint32Array.of(0, 1, 2), make);
    assert(third.images === first.images, "kept while idle");
    assertEquals(made, 2);
    // New samples when nobody uses the others: those are freed, not kept.
    third.release();
    subset.release();
    const fresh = cache.upload(engine, d, Uint32Array.of(1, 2), make);
    assertEquals(made, 3);
    cache.upload(engine, d, Uint32Array.of(0, 1, 2), make).release();
    assertEquals(made, 4, "the idle upload of samples 0, 1, 2 was freed");
    // Another dataset's upload leaves this one's alone.
    cache.upload(engine, other, Uint32Array.of(0, 1, 2), make);
    assert(cache.upload(engine, d, Uint32Array.of(1, 2), make).images === fresh.images);
    assertEquals([made, cache.uploads], [5, 5]);
    cache.forget(engine);
    cache.upload(engine, d, Uint32Array.of(1, 2), make);
    assertEquals(made, 6, "forget drops the engine's uploads");
    cache.destroy();
  },
);

function experimentYaml(tmp: string, extra: Record<string, unknown> = {}): string {
  return YAML.stringify({
    name: "p",
    dataset: "fmnist",
    data_dir: join(tmp, "data"),
    arch: "P4-8F",
    batch_size: 64,
    epochs: 2,
    lr: 3e-3,
    seed: 2,
    output: join(tmp, "runs"),
    ...extra,
  });
}

Deno.test(
  "points on one engine and DatasetCache: read and uploaded once, kernels reused, same weights",
  GPU_TEST,
  async () => {
    const engine = await testEngine();
    await withTempDir(async (tmp) => {
      await writeFakeFmnist(join(tmp, "data"));
      const points = expandGrid(
        parseExperiment(
          experimentYaml(tmp, { grid: { lr: [1e-3, 3e-3] } }),
          "p.yaml",
        ),
      );
      let reads = 0;
      const datasets = new DatasetCache((...a) => {
        reads++;
        return loadDataset(...a);
      });
      const kernels: number[] = [];
      const epochs: EpochRecord[] = [];
      for (const p of points) {
        await runPoint({
          settings: p.settings,
          id: p.id,
          point: p.point,
          dir: join(tmp, "shared", p.id),
          engine,
          datasets,
          log: () => {},
          onKernels: (k) => kernels.push(k.count),
          onEpoch: (r) => epochs.push(r),
        });
      }
      assertEquals(reads, 2, "train and test read once");
      assertEquals(datasets.uploads, 2, "the second point uses the first one's uploads");
      assertEquals(kernels[1], 0, "the same network compiles nothing new");
      assertEquals(epochs.map((r) => r.epoch), [1, 2, 1, 2]);
      const metrics = (await Deno.readTextFile(join(tmp, "shared", points[1].id, "metrics.jsonl")))
        .trim().split("\n").map((l) => JSON.parse(l));
      assertEquals(epochs.slice(2), metrics, "onEpoch gets the records of metrics.jsonl");
      // The second point alone, reading and uploading its own data: the same weights.
      const p = points[1];
      await runPoint({
        settings: p.settings,
        id: p.id,
        point: p.point,
        dir: join(tmp, "alone"),
        engine,
        log: () => {},
      });
      assertEquals(await weightsOf(join(tmp, "alone")), await weightsOf(join(tmp, "shared", p.id)));
      // A subset: other samples, a new upload (the idle one of the same split is freed).
      const sub = expandGrid(parseExperiment(experimentYaml(tmp, { train_subset: 100 }), "s.yaml"));
      const r = await runPoint({
        settings: sub[0].settings,
        id: sub[0].id,
        point: sub[0].point,
        dir: join(tmp, "subset"),
        engine,
        datasets,
        log: () => {},
      });
      assertEquals(r.steps, 2 * Math.ceil(90 / 64), "90 training samples: 10 of 100 validate");
      assertEquals([reads, datasets.uploads], [2, 3]);
      datasets.destroy();
    });
  },
);

/** `deno task exp ARGS` as users run it, with deno.json's permissions. */
function exp(args: string[]) {
  return runTask("exp", args, { inside: true });
}

Deno.test(
  "deno task exp --json: a 2-point grid in one process, its events on stdout, progress on stderr",
  GPU_TEST,
  async () => {
    await withTempDir(async (tmp) => {
      await writeFakeFmnist(join(tmp, "data"));
      const file = join(tmp, "p.yaml");
      await Deno.writeTextFile(file, experimentYaml(tmp, { grid: { seed: [0, 1] } }));
      const run = await exp([file, "--json"]);
      assertEquals(run.code, 0, run.stderr);
      const lines = run.stdout.trim().split("\n");
      const events = lines.map((l, i) => {
        try {
          return JSON.parse(l);
        } catch {
          throw new Error(`stdout line ${i + 1} is not JSON: ${l}`);
        }
      });
      for (const e of events) {
        assert(typeof e.event === "string" && !Number.isNaN(Date.parse(e.time)), JSON.stringify(e));
      }
      assertEquals(events.map((e) => e.event), [
        "grid_started",
        "point_started",
        "kernels",
        "epoch",
        "epoch",
        "point_finished",
        "point_started",
        "kernels",
        "epoch",
        "epoch",
        "point_finished",
        "grid_finished",
      ]);
      const ids = ["seed0", "seed1"];
      const started = events.filter((e) => e.event === "point_started");
      assertEquals(started.map((e) => [e.id, e.index, e.total]), [[ids[0], 1, 2], [ids[1], 2, 2]]);
      assertEquals(started[1].dir, join(tmp, "runs", "p", ids[1]));
      assertEquals(started[1].settings.arch, "P4-8F");
      assertEquals(started[1].grid_point, { seed: 1 });
      // The settings that differ from the defaults, as printed before the point runs.
      assertEquals(started[1].non_default_settings, {
        dataset: "fmnist",
        data_dir: join(tmp, "data"),
        arch: "P4-8F",
        lr: 3e-3,
        batch_size: 64,
        epochs: 2,
        seed: 1,
      });
      const [k1, k2] = events.filter((e) => e.event === "kernels");
      assert(k1.compiled > 0, "the first point compiles the network's kernels");
      assertEquals(k2.compiled, 0, "the second point reuses them");
      const epochs = events.filter((e) => e.event === "epoch" && e.id === ids[0]);
      const metrics = (await Deno.readTextFile(join(tmp, "runs", "p", ids[0], "metrics.jsonl")))
        .trim().split("\n").map((l) => JSON.parse(l));
      assertEquals(epochs.map(({ event: _e, time: _t, id: _i, ...rec }) => rec), metrics);
      const finished = events.filter((e) => e.event === "point_finished");
      assertEquals(finished[0].results.epochs_run, 2);
      const grid = events[events.length - 1];
      assertEquals(
        [grid.total, grid.done, grid.skipped, grid.failed, grid.busy, grid.exit_code],
        [2, 2, 0, 0, 0, 0],
      );
      assertEquals(grid.gpu_devices, 1, "one GPU device for the grid");
      assertEquals(grid.dataset_loads, 2, "train and test read once");
      assertEquals(grid.kernels_compiled, k1.compiled);
      // Human lines on stderr: where the grid is, the kernels, each dataset read once.
      const err = run.stderr;
      assert(
        err.includes(`point 1 of 2: ${ids[0]}\n`) && err.includes(`point 2 of 2: ${ids[1]}\n`),
      );
      const compiling = err.match(/compiling (\d+) GPU kernels for this network/g) ?? [];
      assertEquals(compiling, [`compiling ${k1.compiled} GPU kernels for this network`], err);
      assert(/kernels ready in \d+\.\d s/.test(err), err);
      assert(/point 1 of 2 took .*; grid: .* elapsed, about .* left for 1 point\n/.test(err), err);
      assert(/point 2 of 2 took .*; grid: .* elapsed, nothing left\n/.test(err), err);
      assertEquals(err.match(/Fashion-MNIST train: 320 images from/g)?.length, 1, err);

      // Again: both done, skipped, no device made.
      const again = await exp([file, "--json"]);
      assertEquals(again.code, 0, again.stderr);
      const skip = again.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assertEquals(skip.map((e) => e.event), [
        "grid_started",
        "point_skipped",
        "point_skipped",
        "grid_finished",
      ]);
      assertEquals(skip[1].reason, "done");
      assertEquals([skip[3].skipped, skip[3].gpu_devices], [2, 0]);

      // A point that fails: point_failed, exit 1.
      const bad = join(tmp, "bad.yaml");
      await Deno.writeTextFile(bad, experimentYaml(tmp, { data_dir: join(tmp, "missing") }));
      const failed = await exp([bad, "--json"]);
      assertEquals(failed.code, 1, failed.stderr);
      const fe = failed.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assertEquals(fe.map((e) => e.event), [
        "grid_started",
        "point_started",
        "point_failed",
        "grid_finished",
      ]);
      assert(fe[2].error.includes("missing"), fe[2].error);
      assertEquals([fe[3].failed, fe[3].exit_code], [1, 1]);
    });
  },
);

Deno.test("--json with --slurm is a usage error", async () => {
  const file = new URL("../experiments/quickstart.yaml", import.meta.url).pathname;
  const r = await exp([file, "--json", "--slurm-print"]);
  assertEquals(r.code, 2);
  assert(r.stderr.includes("--json: events come from training or --dry-run"), r.stderr);
});
