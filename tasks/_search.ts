/**
 * `deno task exp FILE` for an experiment with a `search:` section: one
 * worker of the search (any number may run at once, in shells or as Slurm
 * array tasks), `--dry-run` to list the trials, their values, rungs and
 * states, and `--slurm` to submit an array of workers.
 *
 * A worker says on stderr which trial it trains and why (new, promoted,
 * resumed), each rung's metric and the best so far, and at the end the
 * search's best; with `--json` the same as events on stdout:
 * `search_started`, `trial_started`, `epoch`, `kernels`, `trial_finished`,
 * `trial_failed`, `trial_busy`, `waiting`, `search_finished`, and with
 * `--dry-run` one `trial_listed` per trial.
 *
 * @module
 */

import { join, relative, resolve } from "node:path";
import type { ParsedExperiment } from "../src/experiment/config.ts";
import type { Override } from "../src/experiment/overrides.ts";
import { metricGoal } from "../src/experiment/search_spec.ts";
import { Engine } from "../src/engine/gpu.ts";
import { DatasetCache } from "../src/data/dataset_cache.ts";
import { slurmKey } from "../src/run/run_lock.ts";
import { requeueSelf, slurmContext, slurmScript } from "../src/cluster/slurm.ts";
import { datasetCacheDir } from "../src/data/datasets.ts";
import { delegate } from "./_launch.ts";
import { printOrSubmit, type SlurmFlags, slurmSettings } from "./_slurm.ts";
import { lockIsLive } from "../src/report/load.ts";
import { bestExperimentYaml } from "../src/search/best.ts";
import { planTrialId, type SearchPlan, SearchPlanError, searchPlans } from "../src/search/plan.ts";
import { sampleTrial } from "../src/search/samplers.ts";
import {
  bestJob,
  bracketOf,
  epochsTrained,
  latestJobs,
  nextCandidates,
} from "../src/search/schedule.ts";
import { readHeader, readJobs } from "../src/search/state.ts";
import { trainJob, trialDir } from "../src/search/trainer.ts";
import { runWorker } from "../src/search/worker.ts";
import { writeFileAtomic } from "../src/util/fs.ts";
import { requirePermissions, UsageError } from "./_args.ts";
import { startGpu } from "./_gpu.ts";
import {
  eventWriter,
  formatDuration,
  plainInterval,
  ProgressDisplay,
  settingsSummary,
} from "./_progress.ts";
import { experimentWarnings } from "../src/experiment/config.ts";
import { envGet } from "../src/util/env.ts";
import { installStop } from "./_signals.ts";
import { Interrupted } from "../src/run/train.ts";
import { SearchChanged } from "../src/search/state.ts";
import type { GpuSelection } from "../src/engine/gpu_select.ts";

/** What `deno task exp` was asked (its `ExpArgs`, the part a search reads). */
export interface SearchArgs {
  file: string;
  overrides: string[];
  maxEpochs?: number;
  values: SlurmFlags & {
    "dry-run": boolean;
    json: boolean;
    only?: string;
    output?: string;
    force: boolean;
    slurm: boolean;
    "slurm-print": boolean;
    parallel?: number;
    gpu?: GpuSelection;
  };
}

/** Exit status of a worker stopped by a signal is the signal's; a failed trial makes 1. */
const FAILED_EXIT = 1;

/** `lr=1.2e-3 batch_size=64`: a trial's drawn values, short. */
export function valuesText(plan: SearchPlan, point: Record<string, unknown>): string {
  return Object.keys(plan.spec.space).map((k) => `${k}=${short(point[k])}`).join(" ");
}

function short(v: unknown): string {
  if (typeof v === "number" && !Number.isInteger(v)) {
    const t = Number(v.toPrecision(3));
    return Math.abs(t) < 1e-2 || Math.abs(t) >= 1e4 ? t.toExponential().replace("e+", "e") : `${t}`;
  }
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** A metric value as people read it: accuracies in %, losses as numbers. */
function metricText(plan: SearchPlan, v: number | null | undefined): string {
  if (v === null || v === undefined) return "-";
  return plan.spec.metric.endsWith("_acc") ? percent(v) : v.toFixed(4);
}

function epochsText(n: number): string {
  return `${n} epoch${n === 1 ? "" : "s"}`;
}

function percent(v: number | null | undefined): string {
  return v === null || v === undefined ? "-" : `${(v * 100).toFixed(2)}%`;
}

/** One line saying what the search is. */
export function searchLine(plan: SearchPlan): string {
  const s = plan.spec, sch = plan.schedule;
  const how = s.scheduler === "none"
    ? `each trained ${plan.settings.epochs} epochs`
    : `${s.scheduler === "asha" ? "ASHA" : "Hyperband"} over rungs of ${
      sch.rungs.join(", ")
    } epochs (keep the best 1/${s.reduction})`;
  return `search${plan.prefix === "" ? "" : ` ${plan.gridId}`}: ${s.trials} trials, ${s.sampler} ` +
    `sampling (seed ${s.seed}), ${how}, ranked by ${s.metric} (${
      metricGoal(s.metric) === "max" ? "higher" : "lower"
    } is better)`;
}

/** What a dry run says about one trial. */
interface Listed {
  id: string;
  index: number;
  state: string;
  rung: number | null;
  epochs: number | null;
  value: number | null;
  point: Record<string, unknown> | null;
  dir: string;
}

/** Every trial of a search, as it stands: recorded ones from the state, the rest as drawn. */
async function listTrials(plan: SearchPlan): Promise<Listed[]> {
  const jobs = await readJobs(plan.stateDir);
  const latest = new Map(latestJobs(jobs).map((j) => [j.index, j]));
  const K = plan.schedule.rungs.length - 1;
  const out: Listed[] = [];
  const count = Math.max(plan.spec.trials, ...[...latest.keys()].map((k) => k + 1));
  for (let index = 0; index < count; index++) {
    const j = latest.get(index);
    const id = planTrialId(plan, index);
    const dir = trialDir(plan, { trial: id });
    if (!j) {
      const drawnNow = plan.spec.sampler !== "tpe" || index < plan.spec.startup_trials;
      const start = bracketOf(plan.schedule, index);
      out.push({
        id,
        index,
        state: drawnNow ? "pending" : "pending (drawn by TPE when it starts)",
        rung: start,
        epochs: plan.schedule.rungs[start],
        value: null,
        point: drawnNow ? { ...plan.gridPoint, ...sampleTrial(plan.spec, index, []) } : null,
        dir,
      });
      continue;
    }
    let state: string;
    if (!j.result) state = (await lockIsLive(dir)) ? "running" : "to resume";
    else if (j.result.state === "failed") state = `failed: ${j.result.error ?? ""}`;
    else if (j.result.final) state = j.rung === K ? "done" : "done (ended early)";
    else state = "pruned";
    out.push({
      id: j.trial,
      index,
      state,
      rung: j.rung,
      epochs: j.epochs,
      value: j.result?.value ?? null,
      point: j.point,
      dir,
    });
  }
  return out;
}

/** Whether every search of `plans` is complete. */
async function complete(plans: SearchPlan[]): Promise<boolean> {
  for (const p of plans) {
    if ((await readHeader(p.stateDir)) === null) return false;
    if (nextCandidates(p.schedule, await readJobs(p.stateDir)).length > 0) return false;
  }
  return true;
}

/** Runs `deno task exp` on a search (the caller has parsed the arguments and the file). */
export async function searchMain(
  a: SearchArgs,
  parsed: ParsedExperiment,
  overrides: Override[],
): Promise<number> {
  const { values } = a;
  for (
    const [flag, set, why] of [
      ["--only", values.only !== undefined, "a search decides which trial runs next"],
      ["--max-epochs", a.maxEpochs !== undefined, "the scheduler gives each trial its epochs"],
      ["--force", values.force, "its trials depend on each other"],
    ] as const
  ) {
    if (set) {
      throw new UsageError(
        `${flag}: not for a search (${why}); to start a search over, give another --output or ` +
          `remove its experiment folder`,
      );
    }
  }
  let plans: SearchPlan[];
  try {
    plans = searchPlans(parsed, overrides, values.output);
  } catch (e) {
    if (e instanceof SearchPlanError) throw new UsageError(`${a.file}: ${e.message}`);
    throw e;
  }
  const output = plans[0].settings.output;
  const name = plans[0].settings.name;
  const emit = eventWriter(values.json);
  const print = values.json ? console.error : console.log;

  if (values["dry-run"]) {
    let n = 0;
    for (const plan of plans) {
      print(searchLine(plan));
      for (const t of await listTrials(plan)) {
        n++;
        if (values.json) {
          emit("trial_listed", {
            id: t.id,
            search: plan.gridId,
            index: t.index,
            state: t.state,
            rung: t.rung === null ? null : t.rung + 1,
            rungs: plan.schedule.rungs.length,
            epochs: t.epochs,
            [plan.spec.metric]: t.value,
            dir: t.dir,
            grid_point: t.point,
          });
        } else {
          console.log(
            `${t.id}\t${t.state}\trung ${(t.rung ?? 0) + 1} of ${plan.schedule.rungs.length} (${
              epochsText(t.epochs ?? 0)
            })\t${metricText(plan, t.value)}\t${t.dir}\t${t.point ? JSON.stringify(t.point) : "-"}`,
          );
        }
      }
    }
    print(`${n} trial(s)`);
    return 0;
  }

  if (values.slurm || values["slurm-print"]) {
    if (await complete(plans)) {
      console.log("the search is complete: nothing to submit");
      return 0;
    }
    const sl = parsed.slurm;
    const workers = values.parallel ?? sl.max_parallel ?? 1;
    const script = slurmScript({
      experimentPath: relative(Deno.cwd(), resolve(a.file)),
      ids: [],
      workers,
      runsDir: output,
      cwd: Deno.cwd(),
      experiment: name,
      ...slurmSettings(values, sl, "workers"),
      args: [...a.overrides, ...(values.output ? ["--output", values.output] : [])],
    });
    return await printOrSubmit(
      script,
      values["slurm-print"],
      join(output, name),
      `${workers} worker(s) for the search ${name}`,
    );
  }

  // From here on the worker writes: its search's folder and the dataset cache, nowhere else.
  const cache = datasetCacheDir();
  const child = await delegate("exp", [join(output, name), ...(cache ? [cache] : [])]);
  if (child !== null) return child;
  requirePermissions("exp", [{ name: "sys", kind: "hostname" }]);
  for (const w of new Set(plans.flatMap((p) => experimentWarnings(p.settings)))) {
    console.error(`warning: ${w}`);
  }
  let interval: number;
  try {
    interval = plainInterval(envGet("FIRSTSPIKE_PROGRESS_SECONDS"));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const encoder = new TextEncoder();
  const display = new ProgressDisplay({
    tty: Deno.stderr.isTerminal(),
    interval,
    write: (text) => Deno.stderr.writeSync(encoder.encode(text)),
    columns: () => {
      try {
        const c = Deno.consoleSize().columns;
        if (c >= 20) return c;
      } catch {
        // not a terminal
      }
      return 100;
    },
  });
  const say = (line: string) => {
    display.clear();
    console.error(line);
  };
  const stop = await installStop(say);
  const adapter = await startGpu({ flag: values.gpu, setting: plans[0].settings.gpu });
  say(adapter);
  const ctx = slurmContext(Deno.env);
  const status = ctx
    ? {
      slurm: { job_id: ctx.jobId, array_job_id: ctx.arrayJobId, array_task_id: ctx.arrayTaskId },
    }
    : {};
  let engine: Engine | null = null;
  const datasets = new DatasetCache();
  let kernels = 0;
  const started = performance.now();
  const finish = (code: number, summary: { jobs: number; failed: number; complete: boolean }) =>
    emit("search_finished", {
      experiment: name,
      ...summary,
      exit_code: code,
      seconds: Math.round(performance.now() - started) / 1000,
      gpu_devices: Engine.devicesCreated,
      dataset_loads: datasets.loads,
      kernels_compiled: kernels,
    });
  for (const plan of plans) say(searchLine(plan));
  emit("search_started", {
    experiment: name,
    adapter: adapter.replace(/^adapter: /, ""),
    searches: plans.map((p) => ({
      grid_id: p.gridId,
      trials: p.spec.trials,
      sampler: p.spec.sampler,
      scheduler: p.spec.scheduler,
      metric: p.spec.metric,
      rungs: p.schedule.rungs,
      dir: p.stateDir,
    })),
  });
  const K = (p: SearchPlan) => p.schedule.rungs.length;
  let summary = { jobs: 0, failed: 0, complete: false };
  try {
    summary = await runWorker({
      plans,
      signal: stop.signal,
      train: async (plan, job, began) => {
        engine ??= await Engine.create();
        const e = engine;
        const result = await trainJob(plan, job, {
          engine: e,
          datasets,
          signal: stop.signal,
          onPhase: (phase) => stop.phase(phase, trialDir(plan, job)),
          onEpoch: (record) => emit("epoch", { id: job.trial, rung: job.rung, ...record }),
          onKernels: (k) => {
            kernels += k.count;
            emit("kernels", { id: job.trial, compiled: k.count, seconds: k.seconds });
          },
          progress: (_line, final, info) => display.update(info, final),
          status,
          lockOwner: slurmKey(ctx),
          log: say,
        }, () => {
          display.startPoint(null);
          began();
        });
        if (result.state === "failed" && !healthy(e)) {
          say("the GPU device reported an error: the next trial gets a new one");
          datasets.forget(e);
          e.destroy();
          engine = null;
        }
        return result;
      },
      onEvent: (ev) => {
        if (ev.kind === "job_started") {
          const { plan, job } = ev;
          const why = ev.how === "new" ? "new" : ev.how === "promote" ? "promoted" : "resumed";
          say(
            `trial ${job.trial} (${job.index + 1} of ${plan.spec.trials}), rung ${job.rung + 1} ` +
              `of ${K(plan)} (${epochsText(job.epochs)}), ${why}: ${valuesText(plan, job.point)}`,
          );
          emit("trial_started", {
            id: job.trial,
            search: plan.gridId,
            index: job.index,
            rung: job.rung + 1,
            rungs: K(plan),
            epochs: job.epochs,
            bracket: job.bracket,
            how: ev.how,
            dir: trialDir(plan, job),
            grid_point: job.point,
            settings: settingsSummary({ ...plan.settings, ...job.point }),
          });
        } else if (ev.kind === "job_finished") {
          const { plan, job, result } = ev;
          if (result.state === "failed") {
            say(`${job.trial}: failed: ${result.error}`);
            emit("trial_failed", { id: job.trial, rung: job.rung + 1, error: result.error });
            return;
          }
          say(
            `${job.trial}: rung ${job.rung + 1} of ${K(plan)}: ${plan.spec.metric} ${
              metricText(plan, result.value)
            } (${result.final ? "done" : "pruned"}${
              ev.trained ? "" : ", trained by another worker"
            })`,
          );
          emit("trial_finished", {
            id: job.trial,
            search: plan.gridId,
            rung: job.rung + 1,
            epochs: job.epochs,
            state: result.state,
            metric: plan.spec.metric,
            value: result.value,
            epochs_run: result.epochs_run,
            test_acc: result.test_acc ?? null,
            trained: ev.trained,
          });
        } else if (ev.kind === "job_busy") {
          emit("trial_busy", { id: ev.job.trial, rung: ev.job.rung + 1, message: ev.message });
        } else if (ev.kind === "waiting") {
          const held = ev.held.map((h) => `${h.job.trial} (rung ${h.job.rung + 1})`).join(", ");
          say(`waiting: ${held} in other workers; their results may bring more work`);
          emit("waiting", {
            held: ev.held.map((h) => ({ id: h.job.trial, rung: h.job.rung + 1 })),
          });
        }
      },
    });
  } catch (e) {
    if (e instanceof Interrupted) {
      say(e.message);
      emit("trial_interrupted", { message: e.message });
      return await interrupted();
    }
    if (e instanceof SearchChanged) throw new UsageError(e.message);
    throw e;
  } finally {
    stop.dispose();
    datasets.destroy();
    (engine as Engine | null)?.destroy();
  }
  if (!summary.complete) return await interrupted();
  for (const plan of plans) await announceBest(plan);
  say(
    `search finished in ${formatDuration((performance.now() - started) / 1000)}` +
      (summary.failed ? `; ${summary.failed} trial(s) failed` : ""),
  );
  say(`report: deno task report ${relative(Deno.cwd(), resolve(output, name))}`);
  const code = summary.failed ? FAILED_EXIT : 0;
  finish(code, summary);
  return code;

  async function interrupted(): Promise<number> {
    const code = stop.exitCode() || 143;
    if (code === 143 && ctx && Deno.env.get("FIRSTSPIKE_REQUEUE") !== "0") {
      await requeueSelf(ctx).catch((err) => say(`requeue failed: ${err.message}`));
    }
    finish(code, summary);
    return code;
  }

  async function announceBest(plan: SearchPlan): Promise<void> {
    const jobs = await readJobs(plan.stateDir);
    const best = bestJob(plan.schedule, jobs);
    const trials = new Set(jobs.map((j) => j.index)).size;
    if (!best) {
      say(`${plan.gridId}: no trial finished`);
      return;
    }
    const path = resolve(plan.stateDir, "best.yaml");
    await writeFileAtomic(path, bestExperimentYaml(plan, best));
    say(
      `best${plan.prefix === "" ? "" : ` of ${plan.gridId}`}: ${best.trial}, ${plan.spec.metric} ${
        metricText(plan, best.result!.value)
      }, test ${percent(best.result!.test_acc)} ` +
        `(${valuesText(plan, best.point)}); ${epochsTrained(jobs)} epochs trained in ${trials} ` +
        `trials; its settings: ${relative(Deno.cwd(), path)}`,
    );
    emit("search_best", {
      search: plan.gridId,
      id: best.trial,
      metric: plan.spec.metric,
      value: best.result!.value,
      test_acc: best.result!.test_acc ?? null,
      grid_point: best.point,
      epochs_trained: epochsTrained(jobs),
      trials,
      best_yaml: path,
    });
  }
}

/** Whether a device has reported no error or loss since its last check. */
function healthy(engine: Engine): boolean {
  try {
    engine.check();
    return true;
  } catch {
    return false;
  }
}
