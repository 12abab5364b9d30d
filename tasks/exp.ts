/**
 * `deno task exp FILE.yaml [key=value ...] [options]`: runs every point of an
 * experiment's grid in turn (or hands the grid to Slurm). `key=value`
 * overrides a setting, `key=v1,v2` sweeps it (with the file's grid, one
 * cartesian product); see {@link EXP} for the options and `--help`.
 *
 * Points already finished are skipped; an interrupted point resumes from its
 * checkpoint; a failed point is recorded with its error and the grid goes on.
 * The exit status is 0 when every point is done or skipped, 1 when a point
 * failed (or was refused: its folder holds a run with other settings), 2 on
 * a usage error, and 75 when none failed but some were busy in another runner.
 *
 * One process runs all its points on one GPU device: each dataset is read
 * once, and kernels compiled for one point serve the next. Before each point
 * it prints `point i of N: ID`, after it the time taken and an estimate for
 * the rest; `--json` adds events on stdout, one JSON object per line.
 *
 * @module
 */

import {
  type CommandSpec,
  isPermissionError,
  type ParsedArgs,
  requirePermissions,
  runTask,
  UsageError,
} from "./_args.ts";
import { GPU_OPTION, gpuFlag, startGpu } from "./_gpu.ts";
import { basename, dirname, join, relative, resolve } from "node:path";
import {
  type Experiment,
  experimentWarnings,
  loadExperiment,
  SETTING_KEYS,
} from "../src/experiment/config.ts";
import { type GridPoint, GridTooLarge } from "../src/experiment/grid.ts";
import { experimentPoints, isOverride, parseOverrides } from "../src/experiment/overrides.ts";
import { Interrupted, runDir, runPoint } from "../src/run/train.ts";
import { Engine } from "../src/engine/gpu.ts";
import { DatasetCache } from "../src/data/dataset_cache.ts";
import {
  eventWriter,
  formatDuration,
  gridLine,
  nonDefaultSettings,
  plainInterval,
  ProgressDisplay,
  settingsLines,
  settingsSummary,
} from "./_progress.ts";
import {
  earlierThroughput,
  epochsLeft,
  measureThroughput,
  pointEstimate,
  readEarlierRuns,
  recordedWork,
  type SplitSizes,
  splitSizes,
  type Throughput,
} from "./_estimate.ts";
import { SettingsChanged } from "../src/run/fingerprint.ts";
import { formerFolder, planPoint, type PointPlan, readPriorRun } from "../src/run/prior.ts";
import { installStop } from "./_signals.ts";
import { searchMain } from "./_search.ts";
import { RunLocked, slurmKey } from "../src/run/run_lock.ts";
import { statKind } from "../src/util/fs.ts";
import { datasetCacheDir } from "../src/data/datasets.ts";
import { delegate } from "./_launch.ts";
import { printOrSubmit, type SlurmFlags, slurmSettings } from "./_slurm.ts";
import { envGet } from "../src/util/env.ts";
import { requeueSelf, slurmContext, slurmScript } from "../src/cluster/slurm.ts";

/** The command line of `deno task exp`. */
export const EXP: CommandSpec = {
  name: "exp",
  summary: "Train every point of an experiment (its grid times the command-line sweeps), " +
    "or submit them to Slurm.",
  usage: "FILE.yaml [key=value ...] [options]",
  positionals: [
    { name: "FILE.yaml", help: "an experiment file, or a run's run.yaml to rerun that point" },
    { name: "key=value", help: "override a setting (lr=3e-4); key=v1,v2 sweeps it (seed=0,1,2)" },
  ],
  options: [
    {
      name: "dry-run",
      type: "boolean",
      help: "list the points: id, state, folder, grid values, time estimate; and their settings",
    },
    {
      name: "measure",
      type: "boolean",
      help:
        "with --dry-run: estimate from a few steps timed on this machine's GPU, not earlier runs",
    },
    { name: "only", type: "string", value: "ID", help: "run one point" },
    { name: "max-epochs", type: "string", value: "N", help: "cap the epochs (a quick look)" },
    {
      name: "output",
      type: "string",
      value: "DIR",
      help: "write runs under DIR instead of the file's output",
    },
    {
      name: "json",
      type: "boolean",
      help: "also write events (point started, epoch, point finished, ...) as JSON lines on stdout",
    },
    {
      name: "force",
      type: "boolean",
      help: "start points over (each folder's lock is taken before anything is deleted)",
    },
    GPU_OPTION,
    {
      name: "slurm",
      type: "boolean",
      help: "submit an sbatch array (one task per unfinished point)",
    },
    {
      name: "slurm-print",
      type: "boolean",
      help: "print that sbatch script instead of submitting it",
    },
    {
      name: "account",
      type: "string",
      value: "A",
      help: "Slurm account charged (overrides slurm: account)",
    },
    {
      name: "qos",
      type: "string",
      value: "Q",
      help: "Slurm quality of service, e.g. long (overrides slurm: qos)",
    },
    {
      name: "partition",
      type: "string",
      value: "P",
      help: "Slurm partition, e.g. gpu (overrides slurm: partition)",
    },
    {
      name: "time",
      type: "string",
      value: "T",
      help: "Slurm time limit per task, e.g. 24:00:00 (overrides slurm: time)",
    },
    {
      name: "gres",
      type: "string",
      value: "G",
      help: "Slurm generic resources, gpu:1 for a GPU (overrides slurm: gres)",
    },
    {
      name: "cpus",
      type: "string",
      value: "N",
      help: "Slurm CPUs per task (overrides slurm: cpus_per_task)",
    },
    {
      name: "mem",
      type: "string",
      value: "M",
      help: "Slurm memory per task, e.g. 32G (overrides slurm: mem)",
    },
    {
      name: "parallel",
      type: "string",
      value: "N",
      help: "at most N array tasks at once (overrides slurm: max_parallel); a search: N workers",
    },
  ],
  examples: [
    "deno task exp experiments/quickstart.yaml",
    "deno task exp experiments/fmnist-vgg7.yaml lr=3e-4 batch_size=128",
    "deno task exp experiments/grid-example.yaml seed=0,1,2 --dry-run",
    "deno task exp runs/grid-example/lr1e-3_seed0/run.yaml --output rerun",
    "deno task exp experiments/grid-example.yaml --dry-run --measure",
    "deno task exp experiments/search-example.yaml --dry-run",
    "deno task exp experiments/search-example.yaml --slurm --parallel 4",
    "deno task exp experiments/grid-example.yaml --slurm --partition gpu --gres gpu:1 --time 24:00:00",
    "deno task exp experiments/fmnist-vgg7.yaml --slurm-print --account proj42 --qos long",
  ],
  notes: [
    "Settings are YAML values checked like the file's (lr=1e-4, augment=[crop,flip], " +
    "weight_clip=null). Overrides and sweeps join the point's id (lr3e-4_seed1) and run.yaml, " +
    "so they never reuse the folder of a run without them; the id does not depend on their " +
    "order or spelling, and a value equal to the file's is no override. name, description, " +
    "output, data_dir, gpu and test_each_epoch take one value and stay out of the id.",
    "A file with a search: section runs one worker of that search (start several, or " +
    "--slurm --parallel N for N array tasks): it trains the trial its scheduler picks next, " +
    "until the search is complete; --dry-run lists the trials, their values, rungs and states " +
    "(docs/search.md).",
    "Before a point trains it prints its settings that differ from the defaults. On a terminal " +
    "a bar shows each epoch with the running loss and accuracy, samples/s, the run's ETA and " +
    "the grid's position and ETA; into a pipe or a log, a plain line every 30 s " +
    "(FIRSTSPIKE_PROGRESS_SECONDS=N to change, 0 for none). Every setting, its default and " +
    "meaning (lr_schedule, warmup_epochs, test_each_epoch, ...): docs/experiments.md.",
    "Slurm: the slurm: section of the file gives account, qos, partition, time, gres, " +
    "cpus_per_task, mem, max_parallel and extra (more #SBATCH options, or shell lines such as " +
    "'module load cuda' run before the task); the options above override them. A script that " +
    "asks for no GPU (no gres gpu, --gpus) is warned about: its tasks would train on a CPU.",
  ],
  unknownHint: (name) => {
    const key = name.replaceAll("-", "_");
    return (SETTING_KEYS as readonly string[]).includes(key)
      ? `settings are given as ${key}=VALUE, without dashes`
      : null;
  },
};

/** Exit status when no point failed but some were busy in another runner (EX_TEMPFAIL). */
export const BUSY_EXIT = 75;

/** What `deno task exp` was asked to do. */
export interface ExpArgs {
  /** The experiment file. */
  file: string;
  /** `key=value` arguments, in order. */
  overrides: string[];
  /** Option values by their long names (`dry-run`, `only`, `output`, `force`, Slurm options). */
  values: SlurmFlags & {
    "dry-run": boolean;
    json: boolean;
    only?: string;
    output?: string;
    force: boolean;
    slurm: boolean;
    "slurm-print": boolean;
    measure: boolean;
    parallel?: number;
    gpu?: number | string;
  };
  /** `--max-epochs`. */
  maxEpochs?: number;
}

/** Checks the arguments of `deno task exp` (usage errors before anything runs). */
export function expArgs(args: ParsedArgs): ExpArgs {
  const overrides = args.positionals.filter(isOverride);
  const files = args.positionals.filter((a) => !isOverride(a));
  if (files.length !== 1) {
    throw new UsageError(
      `expected one experiment file (and key=value settings), got ${
        files.length === 0 ? "no file" : files.map((f) => `'${f}'`).join(", ")
      }`,
    );
  }
  if (args.flag("slurm") && args.flag("slurm-print")) {
    throw new UsageError("--slurm and --slurm-print: expected one of them, got both");
  }
  const slurm = args.flag("slurm") || args.flag("slurm-print");
  if (slurm && args.flag("json")) {
    throw new UsageError(
      `--json: events come from training or --dry-run, got --json with --${
        args.flag("slurm") ? "slurm" : "slurm-print"
      }`,
    );
  }
  if (args.flag("measure") && !args.flag("dry-run")) {
    throw new UsageError("--measure: it times the estimate of --dry-run, got it without --dry-run");
  }
  if (slurm && args.has("gpu")) {
    throw new UsageError(
      "--gpu: a Slurm task uses the GPU Slurm gives it (--gres), got --gpu with --slurm",
    );
  }
  return {
    file: files[0],
    overrides,
    maxEpochs: args.positiveInt("max-epochs"),
    values: {
      "dry-run": args.flag("dry-run"),
      json: args.flag("json"),
      only: args.string("only"),
      output: args.string("output"),
      force: args.flag("force"),
      slurm: args.flag("slurm"),
      "slurm-print": args.flag("slurm-print"),
      measure: args.flag("measure"),
      account: args.string("account"),
      qos: args.string("qos"),
      partition: args.string("partition"),
      time: args.string("time"),
      gres: args.string("gres"),
      cpus: args.positiveInt("cpus"),
      mem: args.string("mem"),
      parallel: args.positiveInt("parallel"),
      gpu: gpuFlag(args.string("gpu")),
    },
  };
}

async function main(args: ParsedArgs): Promise<number> {
  const a = expArgs(args);
  const { file, overrides, values, maxEpochs } = a;
  const settingArgs = parseOverrides(overrides);
  const parsed = await loadExperiment(file);
  // A search: its workers decide which trial runs next (tasks/_search.ts).
  if (parsed.search) return await searchMain(a, parsed, settingArgs);
  let points: GridPoint[];
  try {
    points = experimentPoints(parsed, settingArgs);
  } catch (e) {
    if (e instanceof GridTooLarge) throw new UsageError(e.message);
    throw e;
  }
  if (points.length === 0) throw new UsageError("expected at least one point, got none");
  const base = points[0].settings;
  const output = values.output ?? base.output;
  const name = base.name;
  // run.yaml records the output folder actually used.
  for (const p of points) p.settings.output = output;
  if (values.only !== undefined && !points.some((p) => p.id === values.only)) {
    throw new UsageError(
      `--only: expected one of the point ids (${
        points.map((p) => p.id).join(", ")
      }), got '${values.only}'`,
    );
  }
  const selected = points.filter((p) => values.only === undefined || p.id === values.only);
  // A point that cannot have a folder (an id from a run.yaml such as '..') is bad input.
  const dirs = new Map<GridPoint, string>();
  const formerIds = new Map<GridPoint, string>();
  const ids = new Set(points.map((p) => p.id));
  for (const p of selected) {
    let dir: string;
    try {
      dir = runDir(p.settings, p.id, output);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    // A run made under another id is found by its settings: an older firstspike's id (before ids
    // were canonical), or the id before an override of `epochs` named it. Its own folder may exist
    // without a run: a Slurm task's script makes it (for its log) before the task starts.
    if (!(await exists(join(dir, "run.yaml")))) {
      const former = await formerFolder(dirname(dir), p.settings, ids);
      if (former !== null) {
        formerIds.set(p, basename(former));
        dir = former;
      }
    }
    dirs.set(p, dir);
  }

  const emit = eventWriter(values.json);
  const warn = () => {
    const seen = new Set<string>();
    for (const p of selected) {
      for (const w of experimentWarnings(p.settings)) {
        if (!seen.has(w)) console.error(`warning: ${w}`);
        seen.add(w);
      }
    }
  };
  if (values["dry-run"]) {
    // Measuring uses the GPU: that work runs with the task's work permissions (writing nothing).
    if (values.measure) {
      const child = await delegate("exp", []);
      if (child !== null) return child;
    }
    warn();
    return await dryRun({ selected, dirs, values, maxEpochs, output, emit });
  }

  if (values.slurm || values["slurm-print"]) {
    if (values.force) {
      // Not passed on: a task requeued after preemption must resume from its checkpoint.
      console.error(
        "warning: --force submits every point, but its tasks do not start over (a requeued " +
          "task must resume from its checkpoint): move the run folders away to start them over",
      );
    }
    // What a task would do with each folder, as --dry-run and a run decide it: a done point
    // whose epochs were raised continues; one whose settings differ is refused here.
    const pending: string[] = [];
    let refused = 0;
    for (const p of selected) {
      const dir = dirs.get(p)!;
      if (values.force) pending.push(p.id);
      else {
        try {
          if (planPoint(dir, await readPriorRun(dir), p.settings, maxEpochs).action !== "skip") {
            pending.push(p.id);
          }
        } catch (e) {
          if (!(e instanceof SettingsChanged)) pending.push(p.id); // the task reports it
          else {
            refused++;
            console.error(`${p.id}: ${e.message}`);
          }
        }
      }
    }
    if (refused && pending.length === 0) {
      console.error(`${refused} of ${selected.length} point(s) refused: nothing to submit`);
      return 1;
    }
    if (pending.length === 0) {
      console.log("every point is done: nothing to submit");
      return 0;
    }
    const sl = parsed.slurm;
    const script = slurmScript({
      experimentPath: relative(Deno.cwd(), resolve(file)),
      ids: pending,
      runsDir: output,
      cwd: Deno.cwd(),
      experiment: name,
      ...slurmSettings(values, sl, "tasks"),
      maxParallel: values.parallel ?? sl.max_parallel,
      args: [
        ...overrides,
        ...(maxEpochs ? ["--max-epochs", String(maxEpochs)] : []),
        ...(values.output ? ["--output", values.output] : []),
      ],
    });
    return await printOrSubmit(
      script,
      values["slurm-print"],
      join(output, name),
      `${pending.length} array task(s) for ${name}`,
    );
  }

  // From here on the task writes: its run folders and the dataset cache, nowhere else.
  const cache = datasetCacheDir();
  const child = await delegate("exp", [join(output, name), ...(cache ? [cache] : [])]);
  if (child !== null) return child;
  requirePermissions("exp", [{ name: "sys", kind: "hostname" }]);
  warn();
  // A terminal that cannot move the cursor (TERM=dumb: Emacs' shell) gets the plain lines of a log.
  const tty = Deno.stderr.isTerminal() && envGet("TERM") !== "dumb";
  const encoder = new TextEncoder();
  let interval: number;
  try {
    interval = plainInterval(envGet("FIRSTSPIKE_PROGRESS_SECONDS"));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const display = new ProgressDisplay({
    tty,
    interval,
    write: (text) => Deno.stderr.writeSync(encoder.encode(text)),
    columns: terminalColumns,
  });
  const stop = await installStop((line) => {
    display.clear();
    console.error(line);
  });
  const counts = { done: 0, skipped: 0, failed: 0, busy: 0 };
  const total = selected.length;
  // If the watchdog ends the process itself, --json output still ends with this event.
  const tellWatchdog = () =>
    stop.finalEvent(values.json ? { experiment: name, total, ...counts } : null);
  tellWatchdog();
  const adapter = await startGpu({ flag: values.gpu, setting: base.gpu });
  console.error(adapter);
  const trainedSeconds: number[] = [];
  const ctx = slurmContext(Deno.env);
  const status = ctx
    ? {
      slurm: { job_id: ctx.jobId, array_job_id: ctx.arrayJobId, array_task_id: ctx.arrayTaskId },
    }
    : {};
  let kernels = 0;
  // One device and one copy of each dataset for every point of this process.
  let engine: Engine | null = null;
  const datasets = new DatasetCache();
  const gridStart = performance.now();
  const finish = (code: number, interrupted?: string) => {
    if (counts.failed) console.error(`${counts.failed} of ${total} point(s) failed`);
    if (counts.busy) console.error(`${counts.busy} of ${total} point(s) busy in another runner`);
    emit("grid_finished", {
      experiment: name,
      total,
      ...counts,
      exit_code: code,
      ...(interrupted ? { interrupted } : {}),
      seconds: Math.round(performance.now() - gridStart) / 1000,
      gpu_devices: Engine.devicesCreated,
      dataset_loads: datasets.loads,
      kernels_compiled: kernels,
    });
    return code;
  };
  const interrupted = async () => {
    const code = stop.exitCode() || 143;
    if (code === 143 && ctx && Deno.env.get("FIRSTSPIKE_REQUEUE") !== "0") {
      await requeueSelf(ctx).catch((err) => console.error(`requeue failed: ${err.message}`));
    }
    return finish(code, code === 130 ? "SIGINT" : "SIGTERM");
  };
  emit("grid_started", { experiment: name, total, adapter: adapter.replace(/^adapter: /, "") });
  try {
    for (const [i, p] of selected.entries()) {
      if (stop.signal.aborted) return await interrupted(); // between points: nothing to save
      const index = i + 1;
      const dir = dirs.get(p)!;
      console.error(`point ${index} of ${total}: ${p.id}`);
      if (formerIds.has(p)) {
        console.error(
          `${p.id}: its run is in ${dir} (the id '${
            formerIds.get(p)
          }' it was started under: the same run, found by its settings)`,
        );
      }
      let note = values.force ? "started over (--force)" : "";
      if (!values.force) {
        let plan: PointPlan | null = null;
        try {
          plan = planPoint(dir, await readPriorRun(dir), p.settings, maxEpochs);
        } catch (e) {
          if (!(e instanceof SettingsChanged)) plan = null; // runPoint reports it, under the lock
          else {
            counts.failed++;
            tellWatchdog();
            console.error(`${p.id}: ${e.message}`);
            emit("point_failed", { id: p.id, error: e.message });
            continue; // the folder is left exactly as it is
          }
        }
        if (plan?.action === "skip") {
          counts.skipped++;
          tellWatchdog();
          console.error(`${p.id}: ${plan.note}, skipped (${dir})`);
          emit("point_skipped", { id: p.id, reason: plan.note });
          continue;
        }
        note = plan?.note ?? "";
      }
      console.error(`${p.id}: running in ${dir}${note ? ` (${note})` : ""}`);
      for (const l of settingsLines(nonDefaultSettings(p.settings))) console.error(`  ${l}`);
      emit("point_started", {
        id: p.id,
        index,
        total,
        dir,
        grid_point: p.point,
        settings: settingsSummary(p.settings),
        non_default_settings: nonDefaultSettings(p.settings),
      });
      const pointStart = performance.now();
      display.startPoint({ index, total, trainedSeconds });
      try {
        engine ??= await Engine.create();
        const r = await runPoint({
          settings: p.settings,
          id: p.id,
          point: p.point,
          dir,
          maxEpochs,
          fresh: values.force,
          engine,
          datasets,
          signal: stop.signal,
          onPhase: (phase) => stop.phase(phase, dir),
          onEpoch: (record) => emit("epoch", { id: p.id, ...record }),
          onKernels: (k) => {
            kernels += k.count;
            emit("kernels", { id: p.id, compiled: k.count, seconds: k.seconds });
          },
          progress: (_line, final, info) => display.update(info, final),
          log: (line) => {
            display.clear();
            console.error(line);
          },
          status,
          lockOwner: slurmKey(ctx),
        });
        counts.done++;
        trainedSeconds.push((performance.now() - pointStart) / 1000);
        tellWatchdog();
        // Cut short by --max-epochs or max_steps, the run is recorded as stopped, not done.
        const state = r.stopped === "max_epochs"
          ? `stopped after epoch ${r.epochs_run} (--max-epochs ${maxEpochs}; run again without ` +
            `it to continue)`
          : r.stopped === "max_steps"
          ? `stopped at max_steps ${p.settings.max_steps}`
          : "done";
        console.error(
          `${p.id}: ${state}: test ${(r.test_acc * 100).toFixed(2)}% at epoch ${r.best_epoch}` +
            `${
              r.best_val_acc !== null ? ` (validation ${(r.best_val_acc * 100).toFixed(2)}%)` : ""
            }, ` +
            `${r.spikes_per_sample.toFixed(1)} spikes/sample, ${r.wall_seconds.toFixed(1)} s`,
        );
        emit("point_finished", {
          id: p.id,
          state: state === "done" ? "done" : "stopped",
          results: r,
        });
      } catch (e) {
        display.clear();
        if (e instanceof Interrupted) {
          console.error(e.message);
          emit("point_interrupted", { id: p.id, message: e.message });
          return await interrupted();
        }
        if (isPermissionError(e)) throw e; // how the task was started, not the point, is at fault
        const msg = e instanceof Error ? e.message : String(e);
        if (e instanceof RunLocked) {
          counts.busy++; // another runner owns the folder: leave it alone
          tellWatchdog();
          console.error(`${p.id}: busy: ${msg}`);
          emit("point_skipped", { id: p.id, reason: `busy: ${msg}` });
          continue;
        }
        counts.failed++;
        tellWatchdog();
        console.error(`${p.id}: failed: ${msg}`);
        emit("point_failed", { id: p.id, error: msg });
        // A device that saw an error (out of memory, lost) is not trusted with the next point.
        if (engine && !healthy(engine)) {
          console.error("the GPU device reported an error: the next point gets a new one");
          datasets.forget(engine);
          engine.destroy();
          engine = null;
        }
        // runPoint recorded the failure in run.yaml if it held the folder's lock; an attempt
        // that failed before (a missing data_dir) wrote nothing there.
      }
      console.error(gridLine({
        index,
        total,
        pointSeconds: (performance.now() - pointStart) / 1000,
        elapsedSeconds: (performance.now() - gridStart) / 1000,
      }));
    }
  } finally {
    stop.dispose();
    datasets.destroy();
    engine?.destroy();
  }
  console.error(`grid finished in ${formatDuration((performance.now() - gridStart) / 1000)}`);
  return finish(counts.failed ? 1 : counts.busy ? BUSY_EXIT : 0);
}

/**
 * `--dry-run`: each point's id, state, folder, grid values and time
 * estimate, then the settings the points share that differ from the
 * defaults, the grid's estimate and where it comes from (`_estimate.ts`),
 * and the number of points; with `--json`, `point_listed` events and an
 * `estimate` event.
 */
async function dryRun(o: {
  selected: GridPoint[];
  dirs: Map<GridPoint, string>;
  values: ExpArgs["values"];
  maxEpochs?: number;
  output: string;
  emit: ReturnType<typeof eventWriter>;
}): Promise<number> {
  const { selected, values } = o;
  let throughput: Throughput | null;
  if (values.measure) {
    console.error(await startGpu({ flag: values.gpu, setting: selected[0].settings.gpu }));
    const engine = await Engine.create();
    try {
      throughput = await measureThroughput(
        engine,
        selected.map((p) => p.settings),
        (l) => console.error(l),
      );
    } finally {
      engine.destroy();
    }
  } else throughput = earlierThroughput(await readEarlierRuns(o.output));
  let total = 0, toTrain = 0, unknown = 0, byFlops = 0;
  const known = new Map<string, Promise<SplitSizes>>();
  const sizes = (s: Experiment) => {
    const key = JSON.stringify([s.dataset, s.data_dir]);
    if (!known.has(key)) known.set(key, splitSizes(s));
    return known.get(key)!;
  };
  for (const [i, p] of selected.entries()) {
    const dir = o.dirs.get(p)!;
    let state: string;
    let left: number | null = null;
    try {
      const prior = await readPriorRun(dir);
      const plan = planPoint(dir, prior, p.settings, o.maxEpochs);
      state = plan.action === "skip" ? plan.note : prior ? `pending (${plan.note})` : "pending";
      const done = plan.action === "skip"
        ? null
        : values.force || !prior
        ? { epochs: 0, steps: 0 }
        : await recordedWork(dir);
      left = done === null
        ? 0
        : epochsLeft(p.settings, done.epochs, done.steps, o.maxEpochs, await sizes(p.settings));
    } catch (e) {
      state = e instanceof SettingsChanged ? "settings differ: refused" : "unreadable";
    }
    const est = left === null || throughput === null
      ? null
      : pointEstimate(p.settings, left, throughput, await sizes(p.settings));
    if (left !== null && left > 0) {
      toTrain++;
      if (est === null) unknown++;
      else {
        total += est.seconds;
        if (est.how === "FLOPs") byFlops++;
      }
    }
    if (values.json) {
      o.emit("point_listed", {
        id: p.id,
        index: i + 1,
        total: selected.length,
        state,
        dir,
        grid_point: p.point,
        non_default_settings: nonDefaultSettings(p.settings),
        epochs_left: left,
        estimate_seconds: est ? Math.round(est.seconds * 10) / 10 : null,
        estimate: est?.how ?? null,
      });
    } else {
      const text = est === null
        ? "no estimate"
        : est.how === "nothing left"
        ? "nothing to train"
        : `about ${formatDuration(est.seconds)}${est.how === "FLOPs" ? " (by FLOPs)" : ""}`;
      console.log(`${p.id}\t${state}\t${dir}\t${JSON.stringify(p.point)}\t${text}`);
    }
  }
  const source = throughput?.source ?? null;
  if (values.json) {
    o.emit("estimate", {
      seconds: unknown === 0 && throughput ? Math.round(total * 10) / 10 : null,
      points_to_train: toTrain,
      points_without_estimate: unknown,
      source,
    });
    console.error(`${selected.length} point(s)`);
    return 0;
  }
  // The settings every point shares (each adds its grid values, listed above).
  const shared = nonDefaultSettings(selected[0].settings);
  for (const p of selected.slice(1)) {
    const mine = nonDefaultSettings(p.settings);
    for (const k of Object.keys(shared)) {
      if (JSON.stringify(mine[k]) !== JSON.stringify(shared[k])) delete shared[k];
    }
  }
  for (const l of settingsLines(shared, 100)) console.log(l);
  console.log(estimateLine({ total, toTrain, unknown, byFlops, source, output: o.output }));
  console.log(`${selected.length} point(s)`);
  return 0;
}

/** The grid's estimate line of `--dry-run`. */
function estimateLine(o: {
  total: number;
  toTrain: number;
  unknown: number;
  byFlops: number;
  source: string | null;
  output: string;
}): string {
  if (o.toTrain === 0) return "estimate: nothing to train";
  const points = `${o.toTrain} point${o.toTrain === 1 ? "" : "s"} to train`;
  if (o.source === null) {
    return `estimate: none for ${points}: no earlier runs under ${o.output}/ to take a ` +
      `throughput from (--measure times a few steps on this machine's GPU)`;
  }
  const missing = o.unknown
    ? `; ${o.unknown} without one (no earlier run of their network; --measure times them)`
    : "";
  const rough = o.byFlops ? `; ${o.byFlops} by FLOPs at the runs' rate, rougher` : "";
  return `estimate: about ${formatDuration(o.total)} for ${points}, from ${o.source}` +
    `${rough}${missing} (epochs as set: early stopping may end points sooner; start-up not ` +
    `counted)`;
}

/**
 * The terminal's width: its size, or where it does not say (a pseudo-terminal
 * without one, as some CI runners give, says 0) `$COLUMNS`, else 100.
 */
function terminalColumns(): number {
  let columns = 0;
  try {
    columns = Deno.consoleSize().columns;
  } catch {
    // not a terminal
  }
  if (columns >= 20) return columns;
  const env = Number(envGet("COLUMNS"));
  return Number.isInteger(env) && env >= 20 ? env : 100;
}

/** Whether a path exists. */
async function exists(path: string): Promise<boolean> {
  return (await statKind(path)) !== null;
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

if (import.meta.main) await runTask(EXP, main);
