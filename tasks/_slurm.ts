/**
 * The cluster settings of a Slurm script `deno task exp --slurm` writes, for a grid's
 * points and a search's workers alike: the command line's options over the experiment's
 * `slurm:` section, the command each task runs, and the warning when no GPU is asked for.
 *
 * @module
 */

import type { Slurm } from "../src/experiment/config.ts";
import {
  asksForGpu,
  shellQuote,
  type SlurmScriptOptions,
  submitSlurm,
} from "../src/cluster/slurm.ts";
import { requirePermissions } from "./_args.ts";
import { CONFIG_PATH, delegate } from "./_launch.ts";

/** The cluster options of `deno task exp` (each overrides the experiment's `slurm:` key). */
export interface SlurmFlags {
  account?: string;
  qos?: string;
  partition?: string;
  time?: string;
  gres?: string;
  cpus?: number;
  mem?: string;
}

/** What a script's tasks are: grid points (`tasks`) or a search's workers (`workers`). */
export type SlurmTaskKind = "tasks" | "workers";

/**
 * The options of `slurmScript` that come from the command line and the experiment, warning on
 * stderr when they ask Slurm for no GPU (the tasks would train on a node's CPU driver).
 *
 * @example
 * ```ts
 * import { slurmSettings } from "./_slurm.ts";
 * const s = slurmSettings({ time: "2:00:00" }, { time: "24:00:00", gres: "gpu:1" }, "tasks");
 * if (s.time !== "2:00:00" || s.gres !== "gpu:1") throw new Error("expected the flag over the file");
 * ```
 */
export function slurmSettings(
  flags: SlurmFlags,
  sl: Slurm,
  kind: SlurmTaskKind,
): Pick<
  SlurmScriptOptions,
  | "account"
  | "qos"
  | "partition"
  | "time"
  | "gres"
  | "cpusPerTask"
  | "mem"
  | "extra"
  | "denoCommand"
> {
  const gres = flags.gres ?? sl.gres;
  if (!asksForGpu({ gres, extra: sl.extra })) {
    console.error(
      "warning: the script asks Slurm for no GPU (no --gres gpu:N, slurm: gres or --gpus in " +
        `slurm: extra): its ${kind} would train on a node's CPU driver, or find no adapter; ` +
        'add --gres gpu:1 (or gres: "gpu:1" under slurm: in the experiment)',
    );
  }
  return {
    account: flags.account ?? sl.account,
    qos: flags.qos ?? sl.qos,
    partition: flags.partition ?? sl.partition,
    time: flags.time ?? sl.time,
    gres,
    cpusPerTask: flags.cpus ?? sl.cpus_per_task,
    mem: flags.mem ?? sl.mem,
    extra: sl.extra,
    // The task runs from the folder it was submitted from, which need not be the checkout.
    denoCommand: `deno task --config ${shellQuote(CONFIG_PATH)} exp`,
  };
}

/**
 * Prints the script (`--slurm-print`) or submits it (`--slurm`), making the Slurm log folder
 * under `<output>/<name>` with the task's work permissions; `what` ends the "submitted job N:"
 * line. Returns the exit status.
 */
export async function printOrSubmit(
  script: string,
  print: boolean,
  expDir: string,
  what: string,
): Promise<number> {
  if (print) {
    console.log(script);
    return 0;
  }
  // Submitting makes the Slurm log folder.
  const child = await delegate("exp", [expDir]);
  if (child !== null) return child;
  requirePermissions("exp", [{ name: "run", command: "sbatch" }]);
  const { jobId } = await submitSlurm(script);
  console.log(`submitted job ${jobId}: ${what}`);
  return 0;
}
