// Helpers for the search tests: plans from YAML text, a stand-in trainer that
// follows synthetic learning curves, and an in-memory search driven by the
// same pure rules the worker uses.
import YAML from "yaml";
import { parseExperiment } from "../src/experiment/config.ts";
import { parseOverrides } from "../src/experiment/overrides.ts";
import { type SearchPlan, searchPlans } from "../src/search/plan.ts";
import {
  bestJob,
  type Job,
  type JobResult,
  nextCandidates,
  score,
} from "../src/search/schedule.ts";
import { candidateJob } from "../src/search/worker.ts";

/** The plans of an experiment given as an object (dataset and arch filled in). */
export function plansOf(
  doc: Record<string, unknown>,
  output = "runs",
  overrides: string[] = [],
): SearchPlan[] {
  const text = YAML.stringify({ dataset: "fmnist", arch: "P2-32F", ...doc });
  return searchPlans(parseExperiment(text, "s.yaml"), parseOverrides(overrides), output);
}

/** A learning curve: the metric after `epochs` epochs of the trial with these values. */
export type Curve = (job: Job, epochs: number) => number;

/** The result a stand-in trainer records for `job` on `curve` (monotone curves assumed). */
export function curveResult(plan: SearchPlan, job: Job, curve: Curve): JobResult {
  const final = job.epochs >= plan.settings.epochs;
  let best = -Infinity;
  const goal = plan.schedule.goal;
  for (let e = 1; e <= job.epochs; e++) {
    const v = curve(job, e);
    best = Math.max(best, goal === "max" ? v : -v);
  }
  return {
    state: final ? "done" : "pruned",
    value: goal === "max" ? best : -best,
    epochs_run: job.epochs,
    final,
  };
}

/**
 * Runs a whole search in memory, one worker: the candidates and draws of
 * `worker.ts`, each job's result from `curve`. Returns the jobs in the order
 * they ran.
 */
export function simulate(plan: SearchPlan, curve: Curve): { order: Job[]; jobs: Job[] } {
  const jobs: Job[] = [];
  const order: Job[] = [];
  for (let step = 0; step < 100_000; step++) {
    const [c] = nextCandidates(plan.schedule, jobs);
    if (!c) return { order, jobs };
    const job = candidateJob(plan, c, jobs);
    const done = { ...job, result: curveResult(plan, job, curve) };
    jobs.push(done);
    order.push(done);
  }
  throw new Error("simulate: the search did not end");
}

/** The best score an in-memory search reached (the metric, higher is better). */
export function bestScore(plan: SearchPlan, jobs: Job[]): number {
  const b = bestJob(plan.schedule, jobs);
  return b ? score(plan.schedule, b.result!) : -Infinity;
}
