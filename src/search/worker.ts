/**
 * A search worker: asks the recorded state "what next?", claims that job,
 * trains it, records how it ended, and asks again, until the search is
 * complete. Any number of workers (shells, Slurm array tasks, on one node
 * or several sharing the folder) may work on one search at once:
 *
 * - a new trial or a promotion is claimed by creating its job file
 *   exclusively (`state.ts`): of two workers that decide the same, one
 *   creates it and the other looks again;
 * - a job is trained under its trial's run-folder lock: a worker that finds
 *   the lock held by a live runner leaves the job to it and tries the next
 *   candidate; a lock whose process is gone is taken over, and the job
 *   resumes from the trial's checkpoint;
 * - a job's result is derived from its trial's folder, so two workers that
 *   record the same job (one trained it, the other found it trained)
 *   record the same result.
 *
 * So a trial is never trained twice and never lost, and `kill -9` of a
 * worker at any moment followed by a rerun continues the search: the rerun
 * first resumes the job that was cut, then decides exactly as the
 * uninterrupted worker would have. A worker with nothing to do while other
 * workers hold jobs waits (polling the folder), since their results may make
 * more work; it ends when every search is complete.
 *
 * @module
 */

import { RunLocked } from "../run/run_lock.ts";
import type { SearchPlan } from "./plan.ts";
import { planTrialId } from "./plan.ts";
import { sampleTrial } from "./samplers.ts";
import {
  type Candidate,
  type Job,
  type JobResult,
  nextCandidates,
  observationsFor,
} from "./schedule.ts";
import { createJob, finishJob, openSearch, readJobs, searchHeader } from "./state.ts";

/** What a worker tells its caller. */
export type WorkerEvent =
  | { kind: "job_started"; plan: SearchPlan; job: Job; how: Candidate["kind"] }
  | { kind: "job_finished"; plan: SearchPlan; job: Job; result: JobResult; trained: boolean }
  | { kind: "job_busy"; plan: SearchPlan; job: Job; message: string }
  | { kind: "waiting"; held: { plan: SearchPlan; job: Job }[] };

/**
 * Trains a job and returns how it ended; calls `started` once it holds the
 * trial and begins to train (not when it finds the job already trained).
 * Throws `RunLocked` when another worker holds the trial.
 */
export type JobTrainer = (plan: SearchPlan, job: Job, started: () => void) => Promise<JobResult>;

/** Options of {@link runWorker}. */
export interface WorkerOptions {
  /** The searches to work on, in order (a grid's points). */
  plans: SearchPlan[];
  /** Trains one job (`trainer.ts`'s `trainJob`, or a stand-in in tests). */
  train: JobTrainer;
  /** Stops the worker between jobs (a job in training stops through the trainer). */
  signal?: AbortSignal;
  /** Milliseconds between looks while other workers hold every job left. Default 2000. */
  pollMs?: number;
  /** Told what happens. */
  onEvent?: (e: WorkerEvent) => void;
}

/** What one worker did. */
export interface WorkerSummary {
  /** Jobs it trained (not those it found trained by another worker and recorded). */
  jobs: number;
  /** Of those, jobs whose trial failed. */
  failed: number;
  /** Whether every search is complete (false: stopped by the signal). */
  complete: boolean;
}

/**
 * The job a candidate stands for: a new trial's values are drawn now, from
 * the recorded `jobs` (TPE learns from them).
 */
export function candidateJob(plan: SearchPlan, c: Candidate, jobs: readonly Job[]): Job {
  if (c.kind !== "new") return c.job;
  const drawn = sampleTrial(
    plan.spec,
    c.index,
    plan.spec.sampler === "tpe" ? observationsFor(plan.schedule, jobs) : [],
  );
  return {
    trial: planTrialId(plan, c.index),
    index: c.index,
    rung: c.rung,
    epochs: c.epochs,
    bracket: c.bracket,
    point: { ...structuredClone(plan.gridPoint), ...drawn },
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Works on `plans` until every search is complete or `signal` stops it.
 * Opens (creates or checks) each search's `search.json` first, so a folder
 * holding another search is refused before anything trains.
 */
export async function runWorker(o: WorkerOptions): Promise<WorkerSummary> {
  const summary: WorkerSummary = { jobs: 0, failed: 0, complete: false };
  for (const plan of o.plans) {
    await openSearch(
      plan.stateDir,
      searchHeader(plan.gridId, plan.gridPoint, plan.spec, plan.schedule, plan.settings),
    );
  }
  let announced = "";
  const busy = new Set<string>();
  while (!o.signal?.aborted) {
    const held: { plan: SearchPlan; job: Job }[] = [];
    let moved = false;
    plans: for (const plan of o.plans) {
      const jobs = await readJobs(plan.stateDir);
      for (const c of nextCandidates(plan.schedule, jobs)) {
        if (o.signal?.aborted) break plans;
        const job = candidateJob(plan, c, jobs);
        if (c.kind !== "resume" && !(await createJob(plan.stateDir, job))) {
          moved = true; // another worker claimed it first: look again
          break plans;
        }
        let result: JobResult;
        let trained = false;
        try {
          result = await o.train(plan, job, () => {
            trained = true;
            o.onEvent?.({ kind: "job_started", plan, job, how: c.kind });
          });
        } catch (e) {
          if (!(e instanceof RunLocked)) throw e;
          held.push({ plan, job });
          const key = `${plan.gridId}/${job.trial}.${job.rung}`;
          if (!busy.has(key)) {
            busy.add(key);
            o.onEvent?.({ kind: "job_busy", plan, job, message: e.message });
          }
          continue;
        }
        await finishJob(plan.stateDir, job, result);
        if (trained) summary.jobs++;
        if (result.state === "failed") summary.failed++;
        o.onEvent?.({ kind: "job_finished", plan, job, result, trained });
        moved = true;
        break plans;
      }
    }
    if (moved) continue;
    if (o.signal?.aborted) break;
    if (held.length === 0) {
      summary.complete = true;
      break;
    }
    const key = held.map((h) => `${h.plan.gridId}/${h.job.trial}.${h.job.rung}`).join();
    if (key !== announced) {
      announced = key;
      o.onEvent?.({ kind: "waiting", held });
    }
    await sleep(o.pollMs ?? 2000, o.signal);
  }
  return summary;
}
