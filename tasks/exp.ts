/**
 * `deno task exp FILE.yaml [options]`: runs every point of an experiment's
 * grid in turn (or hands the grid to Slurm).
 *
 *   --dry-run          list the points, their ids and whether they are done
 *   --only ID          run one point
 *   --max-epochs N     cap the epochs (a quick look)
 *   --output DIR       write runs under DIR instead of the file's `output`
 *   --force            run points again even when they are done
 *   --slurm            write an sbatch array script (one task per unfinished point) and submit it
 *   --slurm-print      print that script instead of submitting it
 *   --partition P --time T --gres G --cpus N --mem M --parallel N   Slurm options
 *                      (override the experiment's `slurm:` section)
 *
 * Points already finished are skipped; an interrupted point resumes from its
 * checkpoint; a failed point is recorded with its error and the grid goes on.
 * The exit status is 0 when every point is done or skipped, 1 when a point
 * failed (or was refused: its folder holds a run with other settings), and
 * 75 when none failed but some were busy in another runner.
 *
 * @module
 */

import { positiveInt } from "./_args.ts";
import { installStop } from "./_signals.ts";
import { parseArgs } from "node:util";
import { join, relative, resolve } from "node:path";
import { loadExperiment } from "../src/experiment/config.ts";
import { expandGrid, type GridPoint, resolvedYaml } from "../src/experiment/grid.ts";
import { Interrupted, runDir, runPoint } from "../src/run/train.ts";
import { SettingsChanged } from "../src/run/fingerprint.ts";
import { planPoint, readPriorRun } from "../src/run/prior.ts";
import { RunLocked, slurmKey } from "../src/run/run_lock.ts";
import { writeFileAtomic } from "../src/util/fs.ts";
import {
  pendingIds,
  requeueSelf,
  slurmContext,
  slurmScript,
  submitSlurm,
} from "../src/cluster/slurm.ts";

const USAGE =
  "usage: deno task exp FILE.yaml [--dry-run] [--only ID] [--max-epochs N] [--output DIR] " +
  "[--force] [--slurm | --slurm-print] [--partition P] [--time T] [--gres G] [--cpus N] [--mem M] [--parallel N]";

/** Exit status when no point failed but some were busy in another runner (EX_TEMPFAIL). */
export const BUSY_EXIT = 75;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      "dry-run": { type: "boolean" },
      only: { type: "string" },
      "max-epochs": { type: "string" },
      output: { type: "string" },
      force: { type: "boolean" },
      slurm: { type: "boolean" },
      "slurm-print": { type: "boolean" },
      partition: { type: "string" },
      time: { type: "string" },
      gres: { type: "string" },
      cpus: { type: "string" },
      mem: { type: "string" },
      parallel: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new Error(`expected one experiment file, got ${positionals.length}\n${USAGE}`);
  }
  const file = positionals[0];
  const maxEpochs = positiveInt("max-epochs", values["max-epochs"]);
  const parsed = await loadExperiment(file);
  const points: GridPoint[] = parsed.kind === "run"
    ? [{
      id: String(parsed.sections.id ?? "default"),
      settings: parsed.base,
      point: (parsed.sections.grid_point ?? {}) as Record<string, unknown>,
    }]
    : expandGrid(parsed);
  const output = values.output ?? parsed.base.output;
  const name = parsed.base.name;
  // run.yaml records the output folder actually used.
  for (const p of points) p.settings.output = output;
  if (values.only !== undefined && !points.some((p) => p.id === values.only)) {
    throw new Error(
      `--only: expected one of the point ids (${
        points.map((p) => p.id).join(", ")
      }), got '${values.only}'`,
    );
  }
  const selected = points.filter((p) => values.only === undefined || p.id === values.only);

  if (values["dry-run"]) {
    for (const p of selected) {
      const dir = runDir(p.settings, p.id, output);
      let state: string;
      try {
        const prior = await readPriorRun(dir);
        const plan = planPoint(dir, prior, p.settings, maxEpochs);
        state = plan.action === "skip" ? plan.note : prior ? `pending (${plan.note})` : "pending";
      } catch (e) {
        state = e instanceof SettingsChanged ? "settings differ: refused" : `unreadable`;
      }
      console.log(`${p.id}\t${state}\t${dir}\t${JSON.stringify(p.point)}`);
    }
    console.log(`${selected.length} point(s)`);
    return 0;
  }

  if (values.slurm || values["slurm-print"]) {
    const ids = values.force
      ? selected.map((p) => p.id)
      : await pendingIds(output, name, selected.map((p) => p.id));
    if (ids.length === 0) {
      console.log("every point is done: nothing to submit");
      return 0;
    }
    const sl = parsed.slurm;
    const script = slurmScript({
      experimentPath: relative(Deno.cwd(), resolve(file)),
      ids,
      runsDir: output,
      cwd: Deno.cwd(),
      experiment: name,
      partition: values.partition ?? sl.partition,
      time: values.time ?? sl.time,
      gres: values.gres ?? sl.gres,
      cpusPerTask: positiveInt("cpus", values.cpus) ?? sl.cpus_per_task,
      mem: values.mem ?? sl.mem,
      maxParallel: positiveInt("parallel", values.parallel) ?? sl.max_parallel,
      extra: sl.extra,
      args: [
        ...(maxEpochs ? ["--max-epochs", String(maxEpochs)] : []),
        ...(values.output ? ["--output", values.output] : []),
      ],
    });
    if (values["slurm-print"]) {
      console.log(script);
      return 0;
    }
    const { jobId } = await submitSlurm(script);
    console.log(`submitted job ${jobId}: ${ids.length} array task(s) for ${name}`);
    return 0;
  }

  const stop = await installStop((line) => console.error(line));
  const tty = Deno.stderr.isTerminal();
  let lastPlain = 0;
  const progress = (line: string, final: boolean) => {
    if (tty) {
      Deno.stderr.writeSync(new TextEncoder().encode(final ? "\r\x1b[K" : `\r\x1b[K${line}`));
    } else if (!final && performance.now() - lastPlain > 30_000) {
      lastPlain = performance.now();
      console.error(line);
    }
  };
  const ctx = slurmContext(Deno.env);
  let failed = 0;
  let busy = 0;
  try {
    for (const p of selected) {
      const dir = runDir(p.settings, p.id, output);
      if (!values.force) {
        let plan;
        try {
          plan = planPoint(dir, await readPriorRun(dir), p.settings, maxEpochs);
        } catch (e) {
          if (!(e instanceof SettingsChanged)) plan = null; // runPoint reports it, under the lock
          else {
            failed++;
            console.error(`${p.id}: ${e.message}`);
            continue; // the folder is left exactly as it is
          }
        }
        if (plan?.action === "skip") {
          console.error(`${p.id}: ${plan.note}, skipped (${dir})`);
          continue;
        }
      }
      console.error(`${p.id}: running in ${dir}`);
      const status = ctx
        ? {
          slurm: {
            job_id: ctx.jobId,
            array_job_id: ctx.arrayJobId,
            array_task_id: ctx.arrayTaskId,
          },
        }
        : {};
      try {
        const r = await runPoint({
          settings: p.settings,
          id: p.id,
          point: p.point,
          dir,
          maxEpochs,
          fresh: values.force,
          signal: stop.signal,
          onPhase: (phase) => stop.phase(phase, dir),
          progress,
          status,
          lockOwner: slurmKey(ctx),
        });
        console.error(
          `${p.id}: done: test ${(r.test_acc * 100).toFixed(2)}% at epoch ${r.best_epoch}` +
            `${
              r.best_val_acc !== null ? ` (validation ${(r.best_val_acc * 100).toFixed(2)}%)` : ""
            }, ` +
            `${r.spikes_per_sample.toFixed(1)} spikes/sample, ${r.wall_seconds.toFixed(1)} s`,
        );
      } catch (e) {
        if (e instanceof Interrupted) {
          console.error(e.message);
          const code = stop.exitCode() || 143;
          if (code === 143 && ctx && Deno.env.get("FIRSTSPIKE_REQUEUE") !== "0") {
            await requeueSelf(ctx).catch((err) => console.error(`requeue failed: ${err.message}`));
          }
          return code;
        }
        const msg = e instanceof Error ? e.message : String(e);
        if (e instanceof RunLocked) {
          busy++; // another runner owns the folder: leave it alone
          console.error(`${p.id}: busy: ${msg}`);
          continue;
        }
        failed++;
        console.error(`${p.id}: failed: ${msg}`);
        if (e instanceof SettingsChanged) continue; // never write into another run's folder
        await writeFileAtomic(
          join(dir, "run.yaml"),
          resolvedYaml(p.settings, {
            id: p.id,
            grid_point: p.point,
            status: { state: "failed", error: msg, ...status },
          }),
        ).catch((err) => console.error(`${p.id}: cannot record the failure: ${err.message}`));
      }
    }
  } finally {
    stop.dispose();
  }
  if (failed) console.error(`${failed} of ${selected.length} point(s) failed`);
  if (busy) console.error(`${busy} of ${selected.length} point(s) busy in another runner`);
  return failed ? 1 : busy ? BUSY_EXIT : 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error(`error: ${e instanceof Error ? e.message : e}`);
    Deno.exit(2);
  }
}
