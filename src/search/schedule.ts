/**
 * The schedulers as pure functions of the recorded jobs: which job a free
 * worker should take next, which trials TPE learns from, which trial is
 * best, and whether the search is complete.
 *
 * A trial trains in jobs: job `(trial, k)` takes it to rung `k`, that is
 * `rungs[k]` epochs (resuming from its checkpoint after rung `k - 1`). The
 * rungs are `min_epochs * reduction^k` below `epochs`, then `epochs`
 * itself; without a scheduler there is one rung, `epochs`.
 *
 * - ASHA (asynchronous successive halving; Li, Jamieson, Rostamizadeh et
 *   al., "A system for massively parallel hyperparameter tuning", MLSys
 *   2020): a free worker promotes a trial from rung `k` to `k + 1` when it is
 *   among the best `floor(n_k / reduction)` of the `n_k` trials that finished
 *   rung `k` and has not been promoted yet, looking from the top rung down
 *   and taking the best such trial; when none is promotable it starts a new
 *   trial at rung 0. Nobody waits for a rung to fill.
 * - Hyperband (Li et al., JMLR 2018), asynchronously: bracket `b` starts its
 *   trials at rung `b` and runs ASHA among them. Trials are dealt to
 *   brackets in blocks of one Hyperband iteration, `n_b = ceil((K + 1) /
 *   (K + 1 - b) * reduction^(K - b))` trials to bracket `b` (K + 1 rungs),
 *   the most exploratory bracket first.
 *
 * Before anything else, a worker resumes jobs that were started and never
 * finished (their worker died, or was stopped), oldest trial first. So one
 * worker interrupted at any moment and run again takes exactly the jobs an
 * uninterrupted one takes.
 *
 * A failed trial scores worst and is never promoted. A trial that ended
 * before its rung (early stopping) is final: it keeps its place among the
 * best of the rung, but is never promoted, and never trains again.
 *
 * @module
 */

import { metricGoal, type SearchSpec } from "../experiment/search_spec.ts";
import type { Observation } from "./tpe.ts";

/** How a job ended. */
export interface JobResult {
  /** `pruned`: at a rung below the top; `done`: at the top, or ended early; `failed`. */
  state: "pruned" | "done" | "failed";
  /** The metric at this rung: its best over the epochs so far; null when failed. */
  value: number | null;
  /** Epochs trained in all. */
  epochs_run: number;
  /** The trial cannot train further (it reached the top rung, or stopped early, or failed). */
  final: boolean;
  /** Test accuracy at the best validation epoch so far (the run's `results.test_acc`). */
  test_acc?: number | null;
  /** The epoch (1-based) of the best validation accuracy so far. */
  best_epoch?: number | null;
  /** The error, when failed. */
  error?: string;
}

/** One job: a trial taken to a rung. `result` once it has ended. */
export interface Job {
  /** The trial's id (its run folder's name), e.g. `t0007`. */
  trial: string;
  /** The trial's index (0-based), which seeds its draw. */
  index: number;
  /** The rung (0-based) this job takes the trial to. */
  rung: number;
  /** Its epochs: `rungs[rung]`. */
  epochs: number;
  /** The Hyperband bracket (0 for ASHA and none). */
  bracket: number;
  /** The trial's drawn values (with the grid point's, where a grid is beside the search). */
  point: Record<string, unknown>;
  /** How it ended; absent while it runs or waits to be resumed. */
  result?: JobResult;
}

/** A scheduler made concrete for one search. */
export interface Schedule {
  scheduler: SearchSpec["scheduler"];
  /** Epochs of each rung, increasing; the last is the experiment's `epochs`. */
  rungs: number[];
  /** Keep the best 1/reduction of a rung. */
  reduction: number;
  /** Trials to start in all. */
  trials: number;
  /** Hyperband's block of bracket numbers, dealt in turn to trials (`[0]` otherwise). */
  deal: number[];
  /** Whether higher metric values are better. */
  goal: "max" | "min";
}

/**
 * The rungs' epochs: `min * reduction^k` while below `max`, then `max`.
 *
 * @example
 * ```ts
 * import { rungEpochs } from "./schedule.ts";
 * if (rungEpochs(1, 3, 9).join() !== "1,3,9") throw new Error();
 * if (rungEpochs(1, 3, 10).join() !== "1,3,9,10") throw new Error();
 * if (rungEpochs(2, 2, 2).join() !== "2") throw new Error();
 * ```
 */
export function rungEpochs(min: number, reduction: number, max: number): number[] {
  const out: number[] = [];
  for (let r = min; r < max; r *= reduction) out.push(r);
  out.push(max);
  return out;
}

/**
 * The schedule of a search whose trials train at most `epochs` epochs.
 * Throws when `min_epochs` exceeds `epochs`.
 */
export function scheduleOf(spec: SearchSpec, epochs: number): Schedule {
  if (spec.scheduler !== "none" && spec.min_epochs > epochs) {
    throw new Error(
      `search.min_epochs: expected at most epochs (${epochs}), got ${spec.min_epochs}`,
    );
  }
  const rungs = spec.scheduler === "none"
    ? [epochs]
    : rungEpochs(spec.min_epochs, spec.reduction, epochs);
  const K = rungs.length - 1;
  const deal: number[] = [];
  if (spec.scheduler === "hyperband") {
    for (let b = 0; b <= K; b++) {
      const n = Math.ceil(((K + 1) / (K + 1 - b)) * spec.reduction ** (K - b));
      for (let i = 0; i < n; i++) deal.push(b);
    }
  } else deal.push(0);
  return {
    scheduler: spec.scheduler,
    rungs,
    reduction: spec.reduction,
    trials: spec.trials,
    deal,
    goal: metricGoal(spec.metric),
  };
}

/** The bracket of trial `index`; its first job is at the bracket's rung. */
export function bracketOf(s: Schedule, index: number): number {
  return s.deal[index % s.deal.length];
}

/** A job's score: the metric, oriented so that higher is better; failed: -Infinity. */
export function score(s: Pick<Schedule, "goal">, r: JobResult): number {
  if (r.state === "failed" || r.value === null) return -Infinity;
  return s.goal === "max" ? r.value : -r.value;
}

/** What a free worker may do, in order of preference. */
export type Candidate =
  | { kind: "resume"; job: Job }
  | { kind: "promote"; job: Job }
  | { kind: "new"; index: number; bracket: number; rung: number; epochs: number };

/** The trial id of index `index`: `t` and four digits, after the grid point's id and `_` if any. */
export function trialId(index: number, prefix = ""): string {
  return `${prefix}t${String(index).padStart(4, "0")}`;
}

/** Orders by score (best first), then by trial index. */
function byScore(s: Schedule) {
  return (a: Job, b: Job) => {
    const x = score(s, a.result!), y = score(s, b.result!);
    if (x !== y) return x > y ? -1 : 1;
    return a.index - b.index;
  };
}

/** Per trial index, its jobs by rung. */
function byTrial(jobs: readonly Job[]): Map<number, Map<number, Job>> {
  const out = new Map<number, Map<number, Job>>();
  for (const j of jobs) {
    if (!out.has(j.index)) out.set(j.index, new Map());
    out.get(j.index)!.set(j.rung, j);
  }
  return out;
}

/**
 * What a free worker should do next, most wanted first: resume unfinished
 * jobs, then promotions (top rung down, best trial first), then a new
 * trial. Empty when the search is complete. A worker takes the first it
 * can (another worker may hold a job it lists).
 *
 * @example
 * ```ts
 * import { nextCandidates, scheduleOf } from "./schedule.ts";
 * import { parseExperiment } from "../experiment/config.ts";
 * const { search } = parseExperiment(
 *   "dataset: fmnist\narch: P2-32F\nsearch:\n  trials: 9\n  space:\n    lr: {log_uniform: [1.0e-4, 1.0e-2]}\n",
 *   "s.yaml",
 * );
 * const s = scheduleOf(search!, 9);
 * const job = (index: number, value: number) => ({
 *   trial: `t${index}`, index, rung: 0, epochs: 1, bracket: 0, point: {},
 *   result: { state: "pruned" as const, value, epochs_run: 1, final: false },
 * });
 * // Three trials at rung 0: the best of them (1 = floor(3 / 3)) goes on to rung 1.
 * const [c] = nextCandidates(s, [job(0, 0.5), job(1, 0.7), job(2, 0.6)]);
 * if (c.kind !== "promote" || c.job.index !== 1 || c.job.rung !== 1 || c.job.epochs !== 3) throw new Error();
 * ```
 */
export function nextCandidates(s: Schedule, jobs: readonly Job[]): Candidate[] {
  const out: Candidate[] = [];
  const unfinished = jobs.filter((j) => !j.result)
    .sort((a, b) => a.index - b.index || a.rung - b.rung);
  for (const job of unfinished) out.push({ kind: "resume", job });
  const trials = byTrial(jobs);
  const K = s.rungs.length - 1;
  const brackets = [...new Set(s.deal)].sort((a, b) => a - b);
  for (let k = K - 1; k >= 0; k--) {
    for (const b of brackets) {
      if (b > k) continue;
      const finished = jobs.filter((j) => j.rung === k && j.bracket === b && j.result);
      const top = finished.sort(byScore(s)).slice(0, Math.floor(finished.length / s.reduction));
      for (const j of top) {
        if (j.result!.final || trials.get(j.index)!.has(k + 1)) continue;
        out.push({
          kind: "promote",
          job: {
            trial: j.trial,
            index: j.index,
            rung: k + 1,
            epochs: s.rungs[k + 1],
            bracket: j.bracket,
            point: structuredClone(j.point),
          },
        });
      }
    }
  }
  for (let index = 0; index < s.trials; index++) {
    if (trials.has(index)) continue;
    const bracket = bracketOf(s, index);
    out.push({ kind: "new", index, bracket, rung: bracket, epochs: s.rungs[bracket] });
    break;
  }
  return out;
}

/**
 * What TPE learns from: every trial's latest finished job, ranked first by
 * the rung it reached (a trial that ended early counts at the top), then by
 * its score there; each observation's score is minus its rank, failed
 * trials `-Infinity`. So the model learns from every trial, and a trial the
 * scheduler promoted ranks above one it stopped, which is the scheduler's
 * own judgement (Optuna's TPE ranks pruned trials by the step they reached
 * the same way). Ranking only the highest rung with enough results (as BOHB
 * does) left TPE a handful of promoted trials to split and did far worse
 * on our synthetic learning curves.
 */
export function observationsFor(s: Schedule, jobs: readonly Job[]): Observation[] {
  const K = s.rungs.length - 1;
  const reach = (j: Job) => (j.result!.final && j.result!.state !== "failed" ? K : j.rung);
  const ranked = latestJobs(jobs.filter((j) => j.result)).sort((a, b) =>
    reach(b) - reach(a) || score(s, b.result!) - score(s, a.result!) || a.index - b.index
  );
  return ranked.map((j, i) => ({
    values: j.point,
    score: j.result!.state === "failed" ? -Infinity : -i,
  }));
}

/** The best trial so far: the best score among the results of the highest rung reached. */
export function bestJob(s: Schedule, jobs: readonly Job[]): Job | null {
  const ok = jobs.filter((j) => j.result && j.result.state !== "failed");
  if (ok.length === 0) return null;
  // A trial that ended early counts at every rung above its own.
  const reach = (j: Job) => j.result!.final ? s.rungs.length - 1 : j.rung;
  const top = Math.max(...ok.map(reach));
  return ok.filter((j) => reach(j) === top).sort(byScore(s))[0];
}

/** Each trial's latest job (its highest rung), in trial order. */
export function latestJobs(jobs: readonly Job[]): Job[] {
  return [...byTrial(jobs).entries()].sort((a, b) => a[0] - b[0])
    .map(([, rungs]) => rungs.get(Math.max(...rungs.keys()))!);
}

/** Epochs the recorded jobs trained in all (each epoch counted once). */
export function epochsTrained(jobs: readonly Job[]): number {
  return latestJobs(jobs).reduce((n, j) => n + (j.result?.epochs_run ?? 0), 0);
}
