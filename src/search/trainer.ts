/**
 * Training one job of a search: its trial is an ordinary run folder
 * (`<output>/<name>/<trial id>/`, with run.yaml, metrics.jsonl, checkpoint,
 * lock and fingerprint), its drawn values recorded as the point, trained by
 * `runPoint` up to the job's rung. A trial the scheduler stops is recorded
 * as `pruned` with its rung; a promotion resumes it from its checkpoint, so
 * its weights and metrics are bit-identical to a run that never paused.
 *
 * @module
 */

import { join } from "node:path";
import { metricGoal } from "../experiment/search_spec.ts";
import type { EpochRecord } from "../run/records.ts";
import { planPoint, readPriorRun } from "../run/prior.ts";
import { runDir, runPoint, type RunPointOptions } from "../run/train.ts";
import { RunLocked } from "../run/run_lock.ts";
import { Interrupted } from "../run/train.ts";
import { jobSettings, type SearchPlan } from "./plan.ts";
import type { Job, JobResult } from "./schedule.ts";

/** The run folder of a job's trial. */
export function trialDir(plan: SearchPlan, job: Pick<Job, "trial">): string {
  return runDir(plan.settings, job.trial, plan.settings.output);
}

/** Reads a trial folder's `metrics.jsonl` (complete lines; none when absent). */
export async function readHistory(dir: string): Promise<EpochRecord[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(dir, "metrics.jsonl"));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}

/**
 * How a job ended, from its trial's folder: the metric's best over the
 * epochs up to the job's rung, and whether the trial can train further.
 * Null when the folder has not reached the rung (nor ended before it).
 */
export async function resultFromFolder(plan: SearchPlan, job: Job): Promise<JobResult | null> {
  const dir = trialDir(plan, job);
  const prior = await readPriorRun(dir);
  if (!prior?.results || !["done", "pruned", "stopped"].includes(prior.state ?? "")) return null;
  const history = (await readHistory(dir)).filter((r) => r.epoch <= job.epochs);
  const ended = prior.state === "done" || prior.state === "stopped";
  if (prior.results.epochs_run < job.epochs && !ended) return null;
  const metric = plan.spec.metric;
  const values = history.map((r) => r[metric]).filter((v): v is number => typeof v === "number");
  if (values.length === 0) {
    throw new Error(
      `Cannot rank trial ${job.trial}: its metrics.jsonl has no ${metric} in its first ` +
        `${job.epochs} epochs`,
    );
  }
  const value = metricGoal(metric) === "max" ? Math.max(...values) : Math.min(...values);
  const final = ended || job.epochs >= plan.settings.epochs;
  return {
    state: final ? "done" : "pruned",
    value,
    epochs_run: Math.min(prior.results.epochs_run, job.epochs),
    final,
    test_acc: prior.results.test_acc,
    best_epoch: prior.results.best_epoch,
  };
}

/** What a trainer passes to `runPoint` besides the job (engine, datasets, signal, callbacks, ...). */
export type TrainContext = Omit<
  RunPointOptions,
  "settings" | "id" | "point" | "dir" | "maxEpochs" | "cut" | "fresh" | "skipDone"
>;

/**
 * Trains `job` (or finds it already trained) and returns how it ended.
 * Throws {@link RunLocked} when another worker holds the trial,
 * {@link Interrupted} when `ctx.signal` stopped it (its checkpoint written;
 * the job stays unfinished, to be resumed), and rethrows permission errors;
 * any other failure is the trial's: recorded in its run.yaml and returned
 * as `failed`.
 */
export async function trainJob(
  plan: SearchPlan,
  job: Job,
  ctx: TrainContext,
  started: () => void = () => {},
): Promise<JobResult> {
  const settings = jobSettings(plan, job);
  const dir = trialDir(plan, job);
  const top = job.epochs >= settings.epochs;
  const K = plan.schedule.rungs.length - 1;
  const status = {
    ...ctx.status,
    search: {
      grid_id: plan.gridId,
      trial: job.index,
      bracket: job.bracket,
      rung: job.rung + 1,
      rungs: K + 1,
    },
  };
  try {
    const already = planPoint(dir, await readPriorRun(dir), settings, top ? undefined : job.epochs);
    if (already.action === "skip") {
      const r = await resultFromFolder(plan, job);
      if (r) return r;
    }
    await runPoint({
      ...ctx,
      settings,
      id: job.trial,
      point: job.point,
      dir,
      maxEpochs: top ? undefined : job.epochs,
      skipDone: true,
      onPhase: (phase) => {
        if (phase === "starting") started();
        ctx.onPhase?.(phase);
      },
      cut: {
        status: {
          state: "pruned",
          rung: job.rung + 1,
          rungs: K + 1,
          epochs: job.epochs,
          ...status,
        },
        note:
          `pruned by the search's ${plan.spec.scheduler} scheduler after rung ${job.rung + 1} ` +
          `of ${K + 1} (${job.epochs} epochs); a promotion continues it from its checkpoint`,
      },
      status,
    });
    const r = await resultFromFolder(plan, job);
    if (!r) throw new Error(`Cannot read the result of ${job.trial} from '${dir}'`);
    return r;
  } catch (e) {
    if (e instanceof RunLocked || e instanceof Interrupted) throw e;
    if (e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotCapable) throw e;
    // runPoint has recorded the failure in the trial's run.yaml (under its lock).
    const error = e instanceof Error ? e.message : String(e);
    const epochs = (await readHistory(dir).catch(() => [])).length;
    return { state: "failed", value: null, epochs_run: epochs, final: true, error };
  }
}
