/**
 * Measures how typical one search's scheduler result is: ASHA (or Hyperband)
 * replayed on the per-epoch curves of a finished `scheduler: none` search,
 * over many random orders of its trials. Claim checked (the issue's target
 * for a scheduler): at least 3x less compute for a best within 0.5 points of
 * test accuracy of the full search's best (both ranked by the search's
 * metric).
 *
 *     deno run -A tasks/search_replay.ts FULL_SEARCH_DIR [--scheduler asha|hyperband]
 *         [--orders N] [--seed S] [--grid ID] [--reference DIR] [--out DIR]
 *
 * FULL_SEARCH_DIR is the experiment folder of a finished search with
 * `scheduler: none` (e.g. `runs/measure-compare/none/search-example`): its
 * `search/<grid id>/` state says what the search is (search.json) and how
 * each trial ended (the job files), its trials' `metrics.jsonl` give their
 * curves. It is only read.
 *
 * Why a replay is exact: a trial trained in rungs resumes bit-identically,
 * so a scheduler's job `(trial, k)` ends with the metrics the full search
 * recorded for that trial's first `rungs[k]` epochs. Each order (order 0 is
 * the order the search drew its trials; orders 1 to N - 1 are random
 * permutations drawn from the seed) gives trial position `i` the curve of
 * the order's `i`-th trial, and runs the project's own worker (`runWorker`,
 * with its job files in a temporary folder, so `nextCandidates`, `bestJob`
 * and `epochsTrained` decide as in a real search) with a trainer that
 * answers a job from that curve as `trainer.ts` derives a result from a run
 * folder: the metric's best over epochs 1 to `job.epochs`, and the test
 * accuracy of the best validation epoch so far (the epoch whose weights the
 * run keeps). Before any replay, every trial's result so derived is checked
 * against the full search's own job result, and with `--reference DIR` (the
 * same search run with the scheduler) order 0's job files are compared with
 * the real ones.
 *
 * Per order it records the epochs trained, the sum of the curves' epoch
 * seconds for those epochs (wall time without start-up and resumes), the
 * best trial by the schedule's `bestJob` and its metric and test accuracy.
 * Writes `DIR/replay.json` and `DIR/replay.md` (default DIR:
 * `runs/measure-replay`).
 *
 * Assumptions: a trial that ended early in the full search (early stopping,
 * `max_steps`) ends at the same epoch under the scheduler; one that failed
 * after `n` whole epochs trains normally to `n` epochs and fails beyond. TPE
 * searches are refused: their trials depend on the results the scheduler
 * records, so the full search's trials are not the ones a scheduled search
 * would draw.
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { type Experiment, parseExperiment, SETTING_KEYS } from "../src/experiment/config.ts";
import { metricGoal, type SearchSpec } from "../src/experiment/search_spec.ts";
import type { EpochRecord } from "../src/run/records.ts";
import { type SearchPlan, searchPlans } from "../src/search/plan.ts";
import {
  bestJob,
  epochsTrained,
  type Job,
  type JobResult,
  latestJobs,
  type Schedule,
} from "../src/search/schedule.ts";
import { readHeader, readJobs, type SearchHeader } from "../src/search/state.ts";
import { readHistory } from "../src/search/trainer.ts";
import { runWorker } from "../src/search/worker.ts";
import { Rng } from "../src/util/rng.ts";
import { machine, ROOT, save } from "./_measure.ts";

/** One trial of the full search: its whole-epoch records and how it ended. */
export interface Curve {
  /** Its id in the full search (`t0017`). */
  trial: string;
  /** Its index in the full search. */
  index: number;
  /** Its `metrics.jsonl`, epochs 1 to `epochs`. */
  records: EpochRecord[];
  /** Epochs it trained in the full search. */
  epochs: number;
  /**
   * `done`: trained to the last epoch; `ended`: ended before it (early
   * stopping, `max_steps`), and would end there under a scheduler too;
   * `failed`: failed after `epochs` whole epochs.
   */
  end: "done" | "ended" | "failed";
}

/** A finished full search, read. */
export interface FullSearch {
  /** Its state folder (`<dir>/search/<grid id>`). */
  stateDir: string;
  header: SearchHeader;
  /** Its jobs (one per trial, to the last epoch). */
  jobs: Job[];
  /** Its schedule (`none`: one rung, `epochs`). */
  schedule: Schedule;
  /** Per trial index, its curve. */
  curves: Curve[];
  /** Its best trial's job (by the metric, ties to the lower index). */
  best: Job;
  /** What its trial ids start with (`''`, or a grid point's id and `_`). */
  prefix: string;
}

/**
 * The result a job ends with when its trial follows `curve`: what
 * `trainer.ts`'s `resultFromFolder` derives from the trial's folder after
 * `job.epochs` epochs, and the run's `results` (`best_epoch`, `test_acc`:
 * the first epoch of the highest validation accuracy, or the last epoch
 * without a validation split, as `run/train.ts` keeps its weights).
 * `epochs` is the search's last epoch.
 *
 * @example
 * ```ts
 * import { replayResult } from "./search_replay.ts";
 * import type { EpochRecord } from "../src/run/records.ts";
 * const rec = (epoch: number, val_acc: number, test_acc: number) =>
 *   ({ epoch, val_acc, test_acc, seconds: 1 }) as EpochRecord;
 * const curve = {
 *   trial: "t0000", index: 0, epochs: 3, end: "done" as const,
 *   records: [rec(1, 0.5, 0.4), rec(2, 0.7, 0.6), rec(3, 0.6, 0.65)],
 * };
 * const job = { trial: "t0000", index: 0, rung: 1, epochs: 3, bracket: 0, point: {} };
 * const r = replayResult(curve, job, 3, "val_acc");
 * if (r.value !== 0.7 || r.test_acc !== 0.6 || r.best_epoch !== 2 || !r.final) throw new Error();
 * ```
 */
export function replayResult(
  curve: Curve,
  job: Pick<Job, "trial" | "epochs">,
  epochs: number,
  metric: SearchSpec["metric"],
): JobResult {
  if (curve.end === "failed" && job.epochs > curve.epochs) {
    return {
      state: "failed",
      value: null,
      epochs_run: curve.epochs,
      final: true,
      error: `${curve.trial} failed after ${curve.epochs} epochs in the full search`,
    };
  }
  const ended = curve.end === "ended" && curve.epochs <= job.epochs;
  const history = curve.records.filter((r) => r.epoch <= job.epochs);
  const values = history.map((r) => r[metric]).filter((v): v is number => typeof v === "number");
  if (values.length === 0) {
    throw new Error(
      `Cannot rank trial ${curve.trial}: its metrics.jsonl has no ${metric} in its first ` +
        `${job.epochs} epochs`,
    );
  }
  const value = metricGoal(metric) === "max" ? Math.max(...values) : Math.min(...values);
  let keep: EpochRecord | null = null;
  for (const r of history) {
    if (r.val_acc === null || keep === null || keep.val_acc === null || r.val_acc > keep.val_acc) {
      keep = r;
    }
  }
  const final = ended || job.epochs >= epochs;
  return {
    state: final ? "done" : "pruned",
    value,
    epochs_run: Math.min(curve.epochs, job.epochs),
    final,
    test_acc: keep!.test_acc,
    best_epoch: keep!.epoch,
  };
}

/** The grid ids of the searches in an experiment folder. */
async function gridIds(dir: string): Promise<string[]> {
  const ids: string[] = [];
  try {
    for await (const e of Deno.readDir(join(dir, "search"))) {
      if (e.isDirectory && (await readHeader(join(dir, "search", e.name))) !== null) {
        ids.push(e.name);
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return ids.sort();
}

/** The fields of a job result two replays of one job must agree on. */
function resultKey(r: JobResult | undefined): string {
  if (!r) return "none";
  return JSON.stringify([
    r.state,
    r.value,
    r.epochs_run,
    r.final,
    r.test_acc ?? null,
    r.best_epoch ?? null,
  ]);
}

/**
 * Reads the finished `scheduler: none` search in experiment folder `dir`
 * (its grid point `gridId`; needed only when it holds several). Throws when
 * it is not one, is unfinished, or a trial's curve does not give back the
 * result the search recorded for it.
 */
export async function readFullSearch(dir: string, gridId?: string): Promise<FullSearch> {
  const ids = await gridIds(dir);
  if (ids.length === 0) {
    throw new Error(
      `expected a search's experiment folder, got '${dir}' (no search/*/search.json)`,
    );
  }
  if (gridId === undefined && ids.length > 1) {
    throw new Error(
      `'${dir}' holds ${ids.length} searches (${ids.join(", ")}): choose one with --grid`,
    );
  }
  const id = gridId ?? ids[0];
  if (!ids.includes(id)) {
    throw new Error(`--grid: expected one of ${ids.join(", ")}, got ${JSON.stringify(id)}`);
  }
  const stateDir = join(dir, "search", id);
  const header = (await readHeader(stateDir))!;
  const where = join(stateDir, "search.json");
  if (header.search.scheduler !== "none") {
    throw new Error(
      `${where}: expected a search with scheduler none (every trial to the last epoch), got ` +
        `${JSON.stringify(header.search.scheduler)}`,
    );
  }
  if (header.search.sampler === "tpe") {
    throw new Error(
      `${where}: expected a random or sobol search, got tpe: TPE's trials depend on the ` +
        `results the scheduler records, so a scheduled search would not draw these trials`,
    );
  }
  const metric = header.search.metric as SearchSpec["metric"];
  const epochs = header.settings.epochs;
  const schedule: Schedule = {
    scheduler: "none",
    rungs: [epochs],
    reduction: Number(header.search.reduction),
    trials: Number(header.search.trials),
    deal: [0],
    goal: metricGoal(metric),
  };
  const jobs = await readJobs(stateDir);
  const trials = latestJobs(jobs);
  if (trials.length === 0) throw new Error(`${stateDir}: expected finished trials, got none`);
  const curves: Curve[] = [];
  for (const [i, job] of trials.entries()) {
    if (job.index !== i) {
      throw new Error(
        `${stateDir}: expected trials 0 to ${trials.length - 1}, trial ${i} is missing`,
      );
    }
    const r = job.result;
    if (!r) {
      throw new Error(`${stateDir}: expected a finished search, ${job.trial} has no result yet`);
    }
    const records = (await readHistory(join(dir, job.trial))).filter((x) =>
      x.epoch <= r.epochs_run
    );
    if (records.length !== r.epochs_run || records.some((x, e) => x.epoch !== e + 1)) {
      throw new Error(
        `${join(dir, job.trial, "metrics.jsonl")}: expected epochs 1 to ${r.epochs_run} (the ` +
          `search recorded ${r.epochs_run}), got ${
            records.map((x) => x.epoch).join(", ") || "none"
          }`,
      );
    }
    const curve: Curve = {
      trial: job.trial,
      index: job.index,
      records,
      epochs: r.epochs_run,
      end: r.state === "failed" ? "failed" : r.epochs_run < epochs ? "ended" : "done",
    };
    // The replay's results must be the search's own: check them on its jobs.
    const again = replayResult(curve, job, epochs, metric);
    if (r.state !== "failed" && resultKey(again) !== resultKey(r)) {
      throw new Error(
        `${job.trial}: its curve gives ${resultKey(again)} (state, value, epochs, final, ` +
          `test_acc, best_epoch), the search recorded ${resultKey(r)}`,
      );
    }
    curves.push(curve);
  }
  const best = bestJob(schedule, jobs);
  if (!best) throw new Error(`${stateDir}: expected a trial that did not fail, got none`);
  const prefix = trials[0].trial.replace(/t\d{4,}$/, "");
  return { stateDir, header, jobs, schedule, curves, best, prefix };
}

/**
 * The plan of the search `full` would have been with `scheduler` (its
 * settings, sampler and rungs; as many trials as it has), its state in
 * `stateDir`.
 */
export function replayPlan(
  full: FullSearch,
  scheduler: "asha" | "hyperband",
  stateDir: string,
): SearchPlan {
  const settings = full.header.settings as Experiment;
  const body: Record<string, unknown> = {};
  for (const key of SETTING_KEYS) if (settings[key] !== undefined) body[key] = settings[key];
  body.search = { ...full.header.search, trials: full.curves.length, scheduler };
  const [plan] = searchPlans(parseExperiment(stringify(body), join(full.stateDir, "search.json")));
  return {
    ...plan,
    gridId: full.header.grid_id,
    gridPoint: structuredClone(full.header.grid_point),
    prefix: full.prefix,
    stateDir,
  };
}

/** One order replayed. */
export interface Replay {
  /** The full search's trial index at each position. */
  order: number[];
  /** The jobs the worker recorded (trial ids and indices are positions, as the worker saw them). */
  jobs: Job[];
  /** Epochs trained in all. */
  epochs: number;
  /** The curves' epoch seconds of those epochs. */
  seconds: number;
  /** The best job by the schedule's `bestJob`, and the full search's trial at its position. */
  best: Job;
  bestTrial: string;
  /** The rung (0-based) the full search's best trial reached, and whether it was stopped below the top. */
  fullBestRung: number;
  fullBestPruned: boolean;
}

/**
 * Replays `plan`'s scheduler on `full`'s curves in `order` (position `i`
 * trains like the full search's trial `order[i]`): `runWorker` with job
 * files in `plan.stateDir` (a new folder) and a trainer answering from the
 * curves. Removes the folder afterwards.
 */
export async function replayOrder(
  plan: SearchPlan,
  full: FullSearch,
  order: readonly number[],
): Promise<Replay> {
  const epochs = plan.settings.epochs, metric = plan.spec.metric;
  const summary = await runWorker({
    plans: [plan],
    pollMs: 0,
    train: (_plan, job, started) => {
      started();
      return Promise.resolve(replayResult(full.curves[order[job.index]], job, epochs, metric));
    },
  });
  if (!summary.complete) throw new Error(`the replay in ${plan.stateDir} did not complete`);
  const jobs = await readJobs(plan.stateDir);
  await Deno.remove(plan.stateDir, { recursive: true });
  const seconds = latestJobs(jobs).reduce(
    (sum, j) =>
      sum + full.curves[order[j.index]].records.slice(0, j.result?.epochs_run ?? 0)
        .reduce((s, r) => s + r.seconds, 0),
    0,
  );
  const best = bestJob(plan.schedule, jobs)!;
  const at = order.indexOf(full.best.index);
  const fullBestJobs = jobs.filter((j) => j.index === at);
  const fullBestRung = Math.max(...fullBestJobs.map((j) => j.rung));
  const top = fullBestJobs.find((j) => j.rung === fullBestRung)!;
  return {
    order: [...order],
    jobs,
    epochs: epochsTrained(jobs),
    seconds,
    best,
    bestTrial: full.curves[order[best.index]].trial,
    fullBestRung,
    fullBestPruned: !top.result?.final,
  };
}

/** The `q` quantile of `xs` (linear between order statistics, as R's type 7 and numpy's default). */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = (s.length - 1) * q, lo = Math.floor(h);
  return lo + 1 < s.length ? s[lo] + (h - lo) * (s[lo + 1] - s[lo]) : s[lo];
}

/** A job as JSON with every object's keys sorted, without when and by whom it was written. */
function jobKey(j: Job): string {
  const sorted = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sorted) : v !== null && typeof v === "object"
      ? Object.fromEntries(
        Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
      )
      : v;
  const { created: _c, finished: _f, ...rest } = j as unknown as Record<string, unknown>;
  return JSON.stringify(sorted(rest));
}

if (import.meta.main) {
  const args = parseArgs({
    args: Deno.args,
    options: {
      scheduler: { type: "string", default: "asha" },
      orders: { type: "string", default: "1000" },
      seed: { type: "string", default: "0" },
      grid: { type: "string" },
      reference: { type: "string" },
      out: { type: "string" },
    },
    allowPositionals: true,
  });
  const usage = (msg: string): never => {
    console.error(
      `search_replay: ${msg}\nusage: deno run -A tasks/search_replay.ts FULL_SEARCH_DIR ` +
        `[--scheduler asha|hyperband] [--orders N] [--seed S] [--grid ID] [--reference DIR] [--out DIR]`,
    );
    Deno.exit(2);
  };
  if (args.positionals.length !== 1) {
    usage(`expected one FULL_SEARCH_DIR, got ${args.positionals.length}`);
  }
  const scheduler = args.values.scheduler as "asha" | "hyperband";
  if (scheduler !== "asha" && scheduler !== "hyperband") {
    usage(`--scheduler: expected asha or hyperband, got ${JSON.stringify(scheduler)}`);
  }
  const orders = Number(args.values.orders), seed = Number(args.values.seed);
  if (!Number.isInteger(orders) || orders < 1) {
    usage(`--orders: expected a positive integer, got ${JSON.stringify(args.values.orders)}`);
  }
  if (!Number.isInteger(seed) || seed < 0) {
    usage(`--seed: expected a non-negative integer, got ${JSON.stringify(args.values.seed)}`);
  }
  const dir = args.positionals[0];
  const out = args.values.out ?? join(ROOT, "runs", "measure-replay");
  const before = await machine();
  const t0 = performance.now();

  const full = await readFullSearch(dir, args.values.grid);
  const metric = full.header.search.metric as SearchSpec["metric"];
  const fullEpochs = epochsTrained(full.jobs);
  const fullSeconds = full.curves.reduce(
    (s, c) => s + c.records.reduce((t, r) => t + r.seconds, 0),
    0,
  );
  const fullTest = full.best.result!.test_acc;
  if (typeof fullTest !== "number") {
    throw new Error(`${full.best.trial}: expected a test accuracy, its records have none`);
  }
  const fullBest = { trial: full.best.trial, value: full.best.result!.value!, test_acc: fullTest };
  // Job files go to a temporary folder, one per order; tmpfs where there is one (no disk syncs).
  const tmpRoot = await Deno.makeTempDir({
    prefix: "search-replay-",
    dir: (await Deno.stat("/dev/shm").then((s) => s.isDirectory).catch(() => false))
      ? "/dev/shm"
      : undefined,
  });
  const rng = new Rng(seed);
  const n = full.curves.length;
  const plan = replayPlan(full, scheduler, tmpRoot);
  const schedule = plan.schedule;
  const replays: Replay[] = [];
  try {
    for (let k = 0; k < orders; k++) {
      const order = k === 0 ? [...Array(n).keys()] : [...rng.permutation(n)];
      replays.push(
        await replayOrder({ ...plan, stateDir: join(tmpRoot, `order${k}`) }, full, order),
      );
      if ((k + 1) % 100 === 0) console.error(`${k + 1} of ${orders} orders replayed`);
    }
  } finally {
    await Deno.remove(tmpRoot, { recursive: true }).catch(() => {});
  }

  // Order 0 against the real scheduled search, when given.
  let reference: Record<string, unknown> | null = null;
  if (args.values.reference) {
    const ref = await readFullSearchState(args.values.reference, full.header.grid_id);
    if (ref.scheduler !== scheduler) {
      throw new Error(
        `--reference: expected a search with scheduler ${scheduler}, got ${ref.scheduler}`,
      );
    }
    const got = new Map(replays[0].jobs.map((j) => [`${j.trial}.r${j.rung}`, jobKey(j)]));
    const want = new Map(ref.jobs.map((j) => [`${j.trial}.r${j.rung}`, jobKey(j)]));
    const differ = [...new Set([...got.keys(), ...want.keys()])].filter((key) =>
      got.get(key) !== want.get(key)
    ).sort();
    reference = {
      dir: args.values.reference,
      jobs: want.size,
      replayed_jobs: got.size,
      differing: differ,
      epochs: epochsTrained(ref.jobs),
      best: ref.best,
      identical: differ.length === 0,
    };
  }

  const test = (r: Replay) => r.best.result!.test_acc ?? null;
  const rows = replays.map((r, k) => ({
    order: k,
    epochs: r.epochs,
    seconds: Math.round(r.seconds * 10) / 10,
    compute_ratio: fullEpochs / r.epochs,
    best: r.bestTrial,
    best_value: r.best.result!.value,
    best_test_acc: test(r),
    gap_points: (fullBest.test_acc - (test(r) ?? NaN)) * 100,
    full_best_rung: r.fullBestRung + 1,
    full_best_pruned: r.fullBestPruned,
    permutation: r.order,
  }));
  const ratios = rows.map((r) => r.compute_ratio);
  const secondsRatios = rows.map((r) => fullSeconds / r.seconds);
  const gaps = rows.map((r) => r.gap_points);
  const meets = rows.filter((r) => r.compute_ratio >= 3 && r.gap_points <= 0.5).length;
  const pruned = rows.filter((r) => r.full_best_pruned).length;
  const sameBest = rows.filter((r) => r.best === fullBest.trial).length;
  const within = rows.filter((r) => r.gap_points <= 0.5).length;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const bestCounts = Object.entries(
    rows.reduce((m, r) => ({ ...m, [r.best]: (m[r.best] ?? 0) + 1 }), {} as Record<string, number>),
  ).sort((a, b) => b[1] - a[1]);
  const after = await machine();
  const o0 = rows[0];

  const pct = (v: number | null) => (v === null ? "–" : `${(v * 100).toFixed(2)}%`);
  const val = (v: number | null) =>
    v === null ? "–" : metric.endsWith("_acc") ? pct(v) : v.toFixed(4);
  const share = (c: number) => `${c} of ${orders} (${((100 * c) / orders).toFixed(1)}%)`;
  const f2 = (v: number) => v.toFixed(2);
  const name = scheduler === "asha" ? "ASHA" : "Hyperband";
  const refLine = reference === null
    ? `(no --reference given: not compared with a real ${name} run)`
    : reference.identical
    ? `identical to the real ${name} run in ${reference.dir}: all ${reference.jobs} job files ` +
      `(trial, rung, values, result) equal, ${reference.epochs} epochs, best ${
        (reference.best as { trial: string }).trial
      }`
    : `DIFFERS from the real ${name} run in ${reference.dir}: ${
      (reference.differing as string[]).length
    } jobs differ (${(reference.differing as string[]).slice(0, 10).join(", ")})`;
  const md = [
    `${name} (rungs ${schedule.rungs.join(", ")} epochs, reduction ${schedule.reduction}${
      scheduler === "hyperband" ? `, brackets of ${countDeal(schedule.deal)} trials` : ""
    }) replayed on the curves of the full search in ${dir} (${n} trials, every one to ${full.header.settings.epochs} epochs: ${fullEpochs} epochs, ${
      Math.round(fullSeconds)
    } s of epochs; best ${fullBest.trial}, ` +
    `${metric} ${val(fullBest.value)}, test ${pct(fullBest.test_acc)}), ranked by ${metric}; ` +
    `${orders} orders of the trials (order 0: the search's own, then random permutations, seed ${seed}).`,
    "",
    `Order 0 (the order the search drew): ${o0.epochs} epochs (${
      f2(o0.compute_ratio)
    }x fewer), best ` +
    `${o0.best}, ${metric} ${val(o0.best_value)}, test ${pct(o0.best_test_acc)} (${
      f2(o0.gap_points)
    } points below the full search's best); ${fullBest.trial} ${
      o0.full_best_pruned ? `pruned at rung ${o0.full_best_rung}` : "reached the top"
    }. Replay ${refLine}.`,
    "",
    `| over ${orders} orders | min | median | mean | 90th percentile | max |`,
    `| --- | --- | --- | --- | --- | --- |`,
    `| compute ratio (full epochs / replay epochs) | ${f2(Math.min(...ratios))} | ${
      f2(quantile(ratios, 0.5))
    } | ${f2(mean(ratios))} | ${f2(quantile(ratios, 0.9))} | ${f2(Math.max(...ratios))} |`,
    `| epoch-seconds ratio | ${f2(Math.min(...secondsRatios))} | ${
      f2(quantile(secondsRatios, 0.5))
    } | ${f2(mean(secondsRatios))} | ${f2(quantile(secondsRatios, 0.9))} | ${
      f2(Math.max(...secondsRatios))
    } |`,
    `| gap: full best's test minus replay best's, points | ${f2(Math.min(...gaps))} | ${
      f2(quantile(gaps, 0.5))
    } | ${f2(mean(gaps))} | ${f2(quantile(gaps, 0.9))} | ${f2(Math.max(...gaps))} |`,
    "",
    `- claim (>= 3x fewer epochs and <= 0.5 points): met in ${share(meets)}`,
    `- best within 0.5 points: ${share(within)}; ratio >= 3: ${
      share(rows.filter((r) => r.compute_ratio >= 3).length)
    }`,
    `- the full search's best (${fullBest.trial}) pruned before the top rung: ${share(pruned)}; ` +
    `the replay's best is ${fullBest.trial}: ${share(sameBest)}`,
    `- the replay's best trials (times, and the gap): ${
      bestCounts.slice(0, 8).map(([t, c]) =>
        `${t} ${c} (${f2(rows.find((r) => r.best === t)!.gap_points)} points)`
      ).join(", ")
    }${bestCounts.length > 8 ? `, ${bestCounts.length - 8} others` : ""}`,
    "",
    `Machine: ${before.cpu}, ${before.cores} cores, ${before.memory_gib} GiB; load average ${before.load_average} ` +
    `before, ${after.load_average} after; Deno ${before.deno}; commit ${before.commit}; ${before.time} to ${after.time} ` +
    `(${((performance.now() - t0) / 1000).toFixed(1)} s).`,
  ].join("\n");
  const result = {
    full_search: dir,
    grid_id: full.header.grid_id,
    scheduler,
    rungs: schedule.rungs,
    reduction: schedule.reduction,
    deal: schedule.deal,
    metric,
    orders,
    seed,
    trials: n,
    full: { epochs: fullEpochs, seconds: fullSeconds, best: fullBest },
    order0: { ...o0, reference },
    summary: {
      compute_ratio: {
        min: Math.min(...ratios),
        median: quantile(ratios, 0.5),
        mean: mean(ratios),
        p90: quantile(ratios, 0.9),
        max: Math.max(...ratios),
      },
      seconds_ratio: {
        min: Math.min(...secondsRatios),
        median: quantile(secondsRatios, 0.5),
        mean: mean(secondsRatios),
        p90: quantile(secondsRatios, 0.9),
        max: Math.max(...secondsRatios),
      },
      gap_points: {
        min: Math.min(...gaps),
        median: quantile(gaps, 0.5),
        mean: mean(gaps),
        p90: quantile(gaps, 0.9),
        max: Math.max(...gaps),
      },
      claim_met: meets,
      within_half_point: within,
      full_best_pruned: pruned,
      full_best_found: sameBest,
      best_counts: Object.fromEntries(bestCounts),
    },
    rows,
    machine_before: before,
    machine_after: after,
  };
  // One line per order.
  const json = JSON.stringify({ ...result, rows: "ROWS" }, null, 2).replace(
    '"ROWS"',
    `[\n${rows.map((r) => `    ${JSON.stringify(r)}`).join(",\n")}\n  ]`,
  );
  await save(join(out, "replay.json"), json + "\n");
  await save(join(out, "replay.md"), md + "\n");
  console.log(md);
  if (reference !== null && !reference.identical) Deno.exit(1);
}

/** `9, 5, 3` for a deal of nine 0s, five 1s and three 2s. */
function countDeal(deal: readonly number[]): string {
  const counts: number[] = [];
  for (const b of deal) counts[b] = (counts[b] ?? 0) + 1;
  return counts.join(", ");
}

/** A scheduled search's jobs, scheduler and best (for `--reference`). */
async function readFullSearchState(dir: string, gridId: string) {
  const stateDir = join(dir, "search", gridId);
  const header = await readHeader(stateDir);
  if (header === null) throw new Error(`--reference: expected a search in '${stateDir}', got none`);
  const metric = header.search.metric as SearchSpec["metric"];
  const schedule = { rungs: header.schedule.rungs, goal: metricGoal(metric) } as Schedule;
  const jobs = await readJobs(stateDir);
  const best = bestJob(schedule, jobs);
  return {
    scheduler: String(header.search.scheduler),
    jobs,
    best: best
      ? { trial: best.trial, value: best.result?.value, test_acc: best.result?.test_acc }
      : null,
  };
}
