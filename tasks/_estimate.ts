/**
 * How long the points of a grid should take, for `deno task exp --dry-run`:
 * each point's epochs left times the seconds of one of its epochs, from one
 * of two throughputs, and the output says which:
 *
 * - earlier runs (the default): the `metrics.jsonl` of the run folders under
 *   the output folder. A point whose network and data match an earlier
 *   run's (same dataset and folder, architecture, batch, precision, readout,
 *   augmentation, subsets, validation fraction and test scoring) takes the
 *   median seconds of those epochs; any other point takes its epoch's FLOPs
 *   (`src/bench/flops.ts`: the steps' products and the evaluated samples'
 *   forward passes) at the median FLOP rate of the earlier runs, which is
 *   rougher (a small network fills a GPU less). Only runs on one adapter
 *   count: the one with the most recorded epochs (its name is printed).
 * - `--measure`: this machine's adapter, timing a few training steps and
 *   evaluations of random data on each network the grid trains (the
 *   kernels are compiled first, untimed).
 *
 * Epoch sizes come from the dataset files of a `data_dir` (their headers,
 * when uncompressed) or else the datasets' published sizes
 * (`src/data/info.ts`), with `train_subset`, `test_subset` and
 * `validation_fraction` applied. A
 * point's epochs left are its epochs (or `--max-epochs`, or what `max_steps`
 * allows) less those its folder already holds; done and skipped points take
 * 0 s. Early stopping can end a point sooner: an estimate is an upper bound
 * in that sense, and it leaves out start-up (reading data, compiling kernels).
 *
 * @module
 */

import { join } from "node:path";
import type { Experiment } from "../src/experiment/config.ts";
import { parseExperiment } from "../src/experiment/config.ts";
import { datasetInfo, datasetLayout } from "../src/data/datasets.ts";
import { planModel } from "../src/engine/spec.ts";
import { inferenceFlops, stepFlops } from "../src/bench/flops.ts";
import type { Engine } from "../src/engine/gpu.ts";
import { modelFor } from "../src/run/train.ts";

/** Samples in a dataset's splits. */
export interface SplitSizes {
  train: number;
  test: number;
}

/**
 * The split sizes of the dataset `s` reads: from the files of its
 * `data_dir` when they say (an uncompressed IDX label file's header, CIFAR
 * binaries' lengths), else the published ones. Never reads more than a
 * header; never fails (a folder it cannot read gives the published sizes).
 */
export async function splitSizes(s: Pick<Experiment, "dataset" | "data_dir">): Promise<SplitSizes> {
  const info = datasetInfo(s.dataset);
  const published = { train: info.trainCount, test: info.testCount };
  if (s.data_dir === null) return published;
  const count = async (split: "train" | "test"): Promise<number | null> => {
    const layout = datasetLayout(s.dataset, split);
    try {
      if (layout.kind === "idx") {
        const f = await Deno.open(join(s.data_dir!, layout.labels));
        try {
          const head = new Uint8Array(8);
          if ((await f.read(head)) !== 8) return null;
          const v = new DataView(head.buffer);
          return v.getUint32(0) === 2049 ? v.getUint32(4) : null;
        } finally {
          f.close();
        }
      }
      const record = s.dataset === "cifar10" ? 3073 : 3074;
      let n = 0;
      for (const name of layout.files) {
        let size: number | null = null;
        for (const dir of [join(s.data_dir!, layout.inner), s.data_dir!]) {
          size ??= await Deno.stat(join(dir, name)).then((st) => st.size, () => null);
        }
        if (size === null) return null;
        n += Math.floor(size / record);
      }
      return n;
    } catch {
      return null;
    }
  };
  return {
    train: (await count("train")) ?? published.train,
    test: (await count("test")) ?? published.test,
  };
}

/** What one epoch of a point does. */
export interface EpochWork {
  /** Training steps. */
  steps: number;
  /** Samples evaluated after the epoch (validation, and test when scored every epoch). */
  evalSamples: number;
}

/**
 * One epoch's steps and evaluated samples for settings `s` on splits of
 * `sizes` (default: the published ones), with `train_subset`,
 * `validation_fraction`, `test_subset` and `test_each_epoch` applied, as
 * `splitIndices` divides them.
 *
 * @example
 * ```ts
 * import { epochWork } from "./_estimate.ts";
 * import { DEFAULTS } from "../src/experiment/config.ts";
 * const s = { ...DEFAULTS, dataset: "fmnist" as const, batch_size: 256 };
 * // 60000 training samples: 6000 validate, 54000 train in 211 steps; 10000 test.
 * const w = epochWork(s);
 * if (w.steps !== 211 || w.evalSamples !== 16000) throw new Error(JSON.stringify(w));
 * ```
 */
export function epochWork(
  s: Pick<
    Experiment,
    | "dataset"
    | "batch_size"
    | "train_subset"
    | "validation_fraction"
    | "test_subset"
    | "test_each_epoch"
  >,
  sizes?: SplitSizes,
): EpochWork {
  const info = datasetInfo(s.dataset);
  const n = sizes ?? { train: info.trainCount, test: info.testCount };
  const pool = s.train_subset === null ? n.train : Math.min(s.train_subset, n.train);
  const val = Math.floor(pool * s.validation_fraction);
  const test = s.test_subset === null ? n.test : Math.min(s.test_subset, n.test);
  return {
    steps: Math.ceil((pool - val) / s.batch_size),
    evalSamples: val + (s.test_each_epoch ? test : 0),
  };
}

/** FLOPs of one epoch of `s` (its steps' products and its evaluations' forward passes). */
export function epochFlops(s: Experiment, work: EpochWork): number {
  const info = datasetInfo(s.dataset);
  const plan = planModel(s.arch, info.shape, info.classes);
  return work.steps * stepFlops(plan, s.batch_size).total +
    work.evalSamples * inferenceFlops(plan, 1);
}

/** The settings that decide how long an epoch takes: equal keys, equal epochs. */
export function costKey(s: Experiment): string {
  return JSON.stringify([
    s.dataset,
    s.data_dir,
    s.arch.replace(/\s+/g, "").toLowerCase(),
    s.batch_size,
    s.precision,
    s.readout,
    s.augment,
    s.train_subset,
    s.test_subset,
    s.validation_fraction,
    s.test_each_epoch,
  ]);
}

/** The settings that make the network a measurement times. */
function networkKey(s: Experiment): string {
  return JSON.stringify([
    s.dataset,
    s.arch.replace(/\s+/g, "").toLowerCase(),
    s.batch_size,
    s.precision,
    s.readout,
  ]);
}

/** An earlier run folder's record: its settings, adapter and epochs. */
export interface EarlierRun {
  dir: string;
  settings: Experiment;
  adapter: string | null;
  /** Per recorded epoch: wall-clock seconds and training steps. */
  epochs: { seconds: number; steps: number }[];
  /** The split sizes of its dataset ({@link splitSizes}). */
  sizes: SplitSizes;
}

/**
 * The run folders under `runsDir` (`<runsDir>/<experiment>/<id>/`) with a
 * readable `run.yaml` and at least one epoch in `metrics.jsonl` (at most
 * `limit` folders are read).
 */
export async function readEarlierRuns(runsDir: string, limit = 2000): Promise<EarlierRun[]> {
  const out: EarlierRun[] = [];
  const list = async (dir: string) => {
    try {
      return (await Array.fromAsync(Deno.readDir(dir))).filter((e) => e.isDirectory)
        .map((e) => join(dir, e.name)).sort();
    } catch {
      return [];
    }
  };
  let seen = 0;
  for (const exp of await list(runsDir)) {
    for (const dir of await list(exp)) {
      if (++seen > limit) return out;
      try {
        const path = join(dir, "run.yaml");
        const parsed = parseExperiment(await Deno.readTextFile(path), path);
        const prov = (parsed.sections.provenance ?? {}) as { adapter?: unknown };
        const epochs = (await Deno.readTextFile(join(dir, "metrics.jsonl"))).split("\n")
          .filter((l) => l.trim() !== "").map((l) => JSON.parse(l))
          .filter((r) => r.seconds > 0 && r.steps > 0)
          .map((r) => ({ seconds: Number(r.seconds), steps: Number(r.steps) }));
        if (epochs.length === 0) continue;
        out.push({
          dir,
          settings: parsed.base,
          adapter: typeof prov.adapter === "string" ? prov.adapter : null,
          epochs,
          sizes: await splitSizes(parsed.base),
        });
      } catch {
        // not a run folder, or one being written: not counted
      }
    }
  }
  return out;
}

function median(values: number[]): number {
  const a = [...values].sort((x, y) => x - y);
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
}

/** Seconds of an epoch, by network, from earlier runs or a measurement. */
export interface Throughput {
  /** The adapter the seconds are from. */
  adapter: string;
  /** For people: where the seconds come from. */
  source: string;
  /** Median epoch seconds of earlier runs by {@link costKey}, with their epoch counts. */
  sameNetwork: Map<string, { seconds: number; epochs: number }>;
  /** FLOP/s of earlier runs (the median of their runs' medians), or null. */
  flopRate: number | null;
  /** Measured seconds by network: a training step, and an evaluated sample. */
  measured: Map<string, { step: number; evalSample: number }>;
}

/**
 * The throughput of the earlier runs: of the adapter with the most recorded
 * epochs (or `adapter`, when given and present); null without any.
 */
export function earlierThroughput(runs: EarlierRun[], adapter?: string): Throughput | null {
  const byAdapter = new Map<string, EarlierRun[]>();
  for (const r of runs) {
    const a = r.adapter ?? "an unknown adapter";
    byAdapter.set(a, [...(byAdapter.get(a) ?? []), r]);
  }
  if (byAdapter.size === 0) return null;
  const epochsOf = (rs: EarlierRun[]) => rs.reduce((n, r) => n + r.epochs.length, 0);
  const chosen = adapter !== undefined && byAdapter.has(adapter)
    ? adapter
    : [...byAdapter.keys()].sort((a, b) =>
      epochsOf(byAdapter.get(b)!) - epochsOf(byAdapter.get(a)!)
    )[0];
  const on = byAdapter.get(chosen)!;
  const groups = new Map<string, number[]>();
  const rates: number[] = [];
  for (const r of on) {
    const key = costKey(r.settings);
    groups.set(key, [...(groups.get(key) ?? []), ...r.epochs.map((e) => e.seconds)]);
    try {
      const work = epochWork(r.settings, r.sizes);
      const perStep = epochFlops(r.settings, { steps: 1, evalSamples: 0 });
      const evalFlops = epochFlops(r.settings, { steps: 0, evalSamples: work.evalSamples });
      rates.push(median(r.epochs.map((e) => (e.steps * perStep + evalFlops) / e.seconds)));
    } catch {
      // an architecture this version cannot plan: its own epochs still count
    }
  }
  const sameNetwork = new Map(
    [...groups].map(([k, secs]) => [k, { seconds: median(secs), epochs: secs.length }]),
  );
  return {
    adapter: chosen,
    source: `earlier runs on ${chosen} (${epochsOf(on)} epochs of ${on.length} run${
      on.length === 1 ? "" : "s"
    })`,
    sameNetwork,
    flopRate: rates.length ? median(rates) : null,
    measured: new Map(),
  };
}

/** A point's estimate: seconds, and how it was made. */
export interface PointEstimate {
  /** Seconds of training left. */
  seconds: number;
  /** `same network` (earlier epochs), `FLOPs` (an earlier rate), `measured`, or `nothing left`. */
  how: "same network" | "FLOPs" | "measured" | "nothing left";
}

/**
 * The seconds a point's `epochsLeft` epochs should take with throughput
 * `t`; null when `t` cannot say (no run of its network, no FLOP rate).
 */
export function pointEstimate(
  s: Experiment,
  epochsLeft: number,
  t: Throughput,
  sizes?: SplitSizes,
): PointEstimate | null {
  if (epochsLeft <= 0) return { seconds: 0, how: "nothing left" };
  const measured = t.measured.get(networkKey(s));
  if (measured) {
    const w = epochWork(s, sizes);
    const epoch = w.steps * measured.step + w.evalSamples * measured.evalSample;
    return { seconds: epochsLeft * epoch, how: "measured" };
  }
  const same = t.sameNetwork.get(costKey(s));
  if (same) return { seconds: epochsLeft * same.seconds, how: "same network" };
  if (t.flopRate === null) return null;
  return { seconds: (epochsLeft * epochFlops(s, epochWork(s, sizes))) / t.flopRate, how: "FLOPs" };
}

/**
 * The epochs a point has left: its epochs (at most `maxEpochs`, and what
 * `max_steps` allows) less the `epochsDone` and `stepsDone` its folder holds.
 *
 * @example
 * ```ts
 * import { epochsLeft } from "./_estimate.ts";
 * import { DEFAULTS } from "../src/experiment/config.ts";
 * const s = { ...DEFAULTS, dataset: "fmnist" as const, epochs: 10, max_steps: 1000 };
 * // 211 steps an epoch: max_steps 1000 allows 5 epochs (the last cut short); 2 are done.
 * if (epochsLeft(s, 2, 422) !== 3) throw new Error();
 * if (epochsLeft({ ...s, max_steps: null }, 2, 422, 4) !== 2) throw new Error();
 * ```
 */
export function epochsLeft(
  s: Pick<
    Experiment,
    | "epochs"
    | "max_steps"
    | "dataset"
    | "batch_size"
    | "train_subset"
    | "validation_fraction"
    | "test_subset"
    | "test_each_epoch"
  >,
  epochsDone: number,
  stepsDone: number,
  maxEpochs?: number,
  sizes?: SplitSizes,
): number {
  const cap = Math.min(s.epochs, maxEpochs ?? Infinity);
  let left = Math.max(0, cap - epochsDone);
  if (s.max_steps !== null) {
    const steps = epochWork(s, sizes).steps;
    left = Math.min(left, Math.ceil(Math.max(0, s.max_steps - stepsDone) / steps));
  }
  return left;
}

/** Epochs and steps recorded in a run folder's `metrics.jsonl` (0 when none). */
export async function recordedWork(dir: string): Promise<{ epochs: number; steps: number }> {
  try {
    const recs = (await Deno.readTextFile(join(dir, "metrics.jsonl"))).split("\n")
      .filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
    return { epochs: recs.length, steps: recs.reduce((n, r) => n + (Number(r.steps) || 0), 0) };
  } catch {
    return { epochs: 0, steps: 0 };
  }
}

/**
 * Times each network of `settings` on `engine`: a training step and an
 * evaluated batch of random data, after one untimed round that compiles
 * the kernels; repeated (doubling, up to 64) until a timing lasts 0.2 s.
 */
export async function measureThroughput(
  engine: Engine,
  settings: Experiment[],
  log: (line: string) => void = () => {},
): Promise<Throughput> {
  const measured = new Map<string, { step: number; evalSample: number }>();
  for (const s of settings) {
    const key = networkKey(s);
    if (measured.has(key)) continue;
    const info = datasetInfo(s.dataset);
    log(`timing ${s.arch} at batch ${s.batch_size} (its kernels compile first)...`);
    const model = await modelFor(engine, s, info);
    try {
      const B = s.batch_size;
      const size = info.shape[0] * info.shape[1] * info.shape[2];
      const x = new Float32Array(B * size).map(() => Math.random());
      const y = Uint32Array.from({ length: B }, () => Math.floor(Math.random() * info.classes));
      const time = async (run: () => void) => {
        run();
        await engine.sync(); // compiles, untimed
        for (let n = 2;; n *= 2) {
          const t0 = performance.now();
          for (let i = 0; i < n; i++) run();
          await engine.sync();
          const seconds = (performance.now() - t0) / 1000;
          if (seconds >= 0.2 || n >= 64) return seconds / n;
        }
      };
      const step = await time(() => model.trainStep(x, y));
      const batch = await time(() => model.evaluate(x, y, 3));
      measured.set(key, { step, evalSample: batch / B });
      log(
        `measured ${s.arch} at batch ${B}: ${(step * 1000).toFixed(1)} ms a training step, ` +
          `${(batch * 1000).toFixed(1)} ms an evaluated batch`,
      );
    } finally {
      model.destroy();
    }
  }
  return {
    adapter: engine.adapterName,
    source: `measured on this machine's ${engine.adapterName} (random data, ${measured.size} ` +
      `network${measured.size === 1 ? "" : "s"})`,
    sameNetwork: new Map(),
    flopRate: null,
    measured,
  };
}
