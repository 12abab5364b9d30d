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

/**
 * Writes a finished synthetic search into `root/<name>`: its state (search.json, jobs)
 * and each trial's run folder (run.yaml, metrics.jsonl) as the worker and runPoint write
 * them, from learning curves that depend on the drawn values. Returns the plan and jobs.
 */
export async function writeSyntheticSearch(
  root: string,
  doc: Record<string, unknown> = {},
  name = "srch",
): Promise<{ plan: SearchPlan; jobs: Job[] }> {
  const { join } = await import("node:path");
  const { resolvedYaml } = await import("../src/experiment/grid.ts");
  const { createJob, finishJob, openSearch, searchHeader } = await import(
    "../src/search/state.ts"
  );
  const [plan] = plansOf({
    name,
    epochs: 9,
    validation_fraction: 0.1,
    search: {
      trials: 12,
      seed: 4,
      scheduler: "asha",
      space: {
        lr: { log_uniform: [1e-4, 1e-1] },
        batch_size: { choice: [64, 128, 256] },
        annealing: { uniform: [0.5, 1.0] },
      },
    },
    ...doc,
  }, root);
  // Accuracy rises with epochs towards a ceiling that peaks at lr 3e-3, batch 128.
  const curve = (job: Job, e: number) => {
    const x = Math.log10(job.point.lr as number) + 2.5;
    const ceiling = 0.9 - 0.15 * x * x - (job.point.batch_size === 128 ? 0 : 0.02);
    return Math.max(
      0.1,
      ceiling - 0.25 / (e + 1) - 0.02 * ((job.point.annealing as number) - 0.75),
    );
  };
  await openSearch(
    plan.stateDir,
    searchHeader(plan.gridId, plan.gridPoint, plan.spec, plan.schedule, plan.settings),
  );
  const { order, jobs } = simulate(plan, curve);
  for (const j of order) {
    await createJob(plan.stateDir, { ...j, result: undefined });
    await finishJob(plan.stateDir, j, { ...j.result!, test_acc: j.result!.value! - 0.01 });
  }
  const K = plan.schedule.rungs.length;
  const latest = new Map<string, Job>();
  for (const j of order) latest.set(j.trial, j);
  for (const [id, j] of latest) {
    const dir = join(root, name, id);
    await Deno.mkdir(dir, { recursive: true });
    const epochs = j.epochs;
    const metrics = Array.from({ length: epochs }, (_, i) => {
      const v = curve(j, i + 1);
      return {
        epoch: i + 1,
        lr: j.point.lr,
        train_loss: 1 - v,
        train_acc: v,
        val_loss: 1 - v,
        val_acc: v,
        test_loss: 1 - v,
        test_acc: v - 0.01,
        seconds: 10,
        spikes_per_sample: 100,
        layers: [{ index: 1, token: "32F", firing: 0.3, mean_time: 0.5, hist: Array(16).fill(1) }],
      };
    });
    await Deno.writeTextFile(
      join(dir, "metrics.jsonl"),
      metrics.map((m) => JSON.stringify(m) + "\n").join(""),
    );
    const settings = { ...plan.settings, ...j.point };
    const top = j.rung === K - 1;
    await Deno.writeTextFile(
      join(dir, "run.yaml"),
      resolvedYaml(settings as typeof plan.settings, {
        id,
        grid_point: j.point,
        status: {
          ...(top
            ? { state: "done" }
            : { state: "pruned", rung: j.rung + 1, rungs: K, epochs: j.epochs }),
          search: { grid_id: "default", trial: j.index, bracket: 0, rung: j.rung + 1, rungs: K },
        },
        results: {
          epochs_run: epochs,
          steps: epochs * 10,
          best_epoch: epochs,
          best_val_acc: metrics.at(-1)!.val_acc,
          test_acc: metrics.at(-1)!.test_acc,
          spikes_per_sample: 100,
          wall_seconds: 10 * epochs,
          stopped: top ? "epochs" : "max_epochs",
        },
      }),
    );
  }
  return { plan, jobs };
}
