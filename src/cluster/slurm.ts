/**
 * Slurm job arrays for experiment grids: one array task per grid point (or,
 * for a search, `workers` array tasks that share its trials).
 *
 * {@link slurmScript} writes an sbatch script whose task `i` runs
 * `deno task exp FILE --only <ids[i]>`; {@link pendingIds} picks the points whose
 * `run.yaml` is not `done` yet, so a resubmission runs only what is unfinished;
 * {@link submitSlurm} hands a script to `sbatch --parsable`; {@link slurmContext}
 * tells a running task which job and array task it is.
 *
 * The script asks for `--requeue`, `--open-mode=append` (a requeued task appends
 * to its log) and `--signal=B:TERM@120` (SIGTERM two minutes before the time
 * limit). It `exec`s the runner, so the signal reaches Deno directly (`deno task`
 * forwards it to the task's process).
 *
 * Logs go to `<runsDir>/<experiment>/slurm/<arrayJobId>_<taskIndex>.log`; each
 * task also links it as `slurm-<arrayJobId>_<taskIndex>.log` inside its run folder.
 *
 * @module
 */

import { basename, extname, isAbsolute, join, resolve } from "node:path";
import { parse as parseYaml } from "../deps/yaml.ts";
import type { SlurmContext } from "../run/run_lock.ts";

export type { SlurmContext };

/** Options of {@link slurmScript}. */
export interface SlurmScriptOptions {
  /** The experiment YAML passed to the runner (relative to `cwd` or absolute). */
  experimentPath: string;
  /** Run ids of the grid points, one array task each (in this order); ignored with `workers`. */
  ids: string[];
  /**
   * A search instead of a grid: this many array tasks, each a worker of the
   * search running the same command (no `--only`); they share its trials.
   */
  workers?: number;
  /** Folder holding `<experiment>/<run-id>/` (relative to `cwd` or absolute). */
  runsDir: string;
  /** Working directory of every task (the repository root); made absolute. */
  cwd: string;
  /** Experiment name (the folder under `runsDir`); default: the YAML's file name without extension. */
  experiment?: string;
  /** `--job-name`; default `firstspike-<experiment>`. */
  jobName?: string;
  /** `--account`: whose allocation the jobs are charged to. */
  account?: string;
  /** `--qos`: the quality of service (a queue's limits and priority). */
  qos?: string;
  /** `--partition`. */
  partition?: string;
  /** `--time`, e.g. `"04:00:00"` or `"1-00:00:00"`. */
  time?: string;
  /** `--gres`, e.g. `"gpu:1"`. */
  gres?: string;
  /** `--cpus-per-task`. */
  cpusPerTask?: number;
  /** `--mem`, e.g. `"16G"`. */
  mem?: string;
  /** At most this many tasks at once (`--array=0-(n-1)%N`). */
  maxParallel?: number;
  /**
   * More lines. An entry starting with `-` is an sbatch option (`"--qos=long"` becomes
   * `#SBATCH --qos=long`); one starting with `#SBATCH` is kept as it is; anything else is a
   * shell line run before the runner starts (e.g. `"module load cuda"`).
   */
  extra?: string[];
  /** The runner command; default `"deno task exp"`. */
  denoCommand?: string;
  /** More arguments for the runner after `--only <id>` (each shell-quoted). */
  args?: string[];
  /** Link the log into each run folder (default true). */
  linkLogs?: boolean;
}

/**
 * Quotes a string for bash (single quotes).
 *
 * @example
 * ```ts
 * import { shellQuote } from "./slurm.ts";
 * if (shellQuote("it's") !== `'it'\\''s'`) throw new Error();
 * ```
 */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

function checkLine(what: string, value: string): void {
  if (/[\r\n\0]/.test(value)) {
    throw new Error(
      `Cannot write Slurm script: ${what} expected a single line, got ${JSON.stringify(value)}`,
    );
  }
}

function checkWord(what: string, value: string): void {
  if (value === "" || /\s|\0/.test(value)) {
    throw new Error(
      `Cannot write Slurm script: ${what} expected a non-empty value without spaces ` +
        `(it goes on an #SBATCH line), got ${JSON.stringify(value)}`,
    );
  }
}

function checkPositiveInt(what: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`Cannot write Slurm script: ${what} expected an integer >= 1, got ${value}`);
  }
}

/** The experiment name used under `runsDir`: the YAML file name without extension. */
export function experimentName(experimentPath: string): string {
  const base = basename(experimentPath);
  return base.slice(0, base.length - extname(base).length);
}

/**
 * Writes an sbatch script that runs one array task per id.
 *
 * @example
 * ```ts
 * import { slurmScript } from "./slurm.ts";
 * const s = slurmScript({
 *   experimentPath: "experiments/grid.yaml", ids: ["a", "b", "c"], runsDir: "runs",
 *   cwd: "/repo", maxParallel: 2, time: "01:00:00",
 * });
 * if (!s.includes("#SBATCH --array=0-2%2\n")) throw new Error(s);
 * if (!s.includes("#SBATCH --output=/repo/runs/grid/slurm/%A_%a.log\n")) throw new Error(s);
 * ```
 */
export function slurmScript(opts: SlurmScriptOptions): string {
  if (opts.workers !== undefined) checkPositiveInt("workers", opts.workers);
  const ids = opts.workers !== undefined
    ? Array.from({ length: opts.workers }, (_, i) => `worker${i}`)
    : opts.ids;
  if (!Array.isArray(ids) || ids.length === 0) {
    throw new Error(`Cannot write Slurm script: ids expected at least one run id, got none`);
  }
  const seen = new Set<string>();
  ids.forEach((id, i) => {
    if (typeof id !== "string" || !/^[A-Za-z0-9._=+,:@-]+$/.test(id) || id === "." || id === "..") {
      throw new Error(
        `Cannot write Slurm script: ids[${i}] expected a folder name of letters, digits and ` +
          `._=+,:@-, got ${JSON.stringify(id)}`,
      );
    }
    if (seen.has(id)) {
      throw new Error(`Cannot write Slurm script: ids expected to be unique, got '${id}' twice`);
    }
    seen.add(id);
  });
  checkLine("experimentPath", opts.experimentPath);
  if (opts.experimentPath === "") {
    throw new Error(`Cannot write Slurm script: experimentPath expected a file, got ''`);
  }
  const cwd = resolve(opts.cwd);
  checkWord("cwd", cwd);
  const experiment = opts.experiment ?? experimentName(opts.experimentPath);
  if (!/^[A-Za-z0-9._=+,:@-]+$/.test(experiment) || experiment === "." || experiment === "..") {
    throw new Error(
      `Cannot write Slurm script: experiment name expected letters, digits and ._=+,:@-, ` +
        `got ${JSON.stringify(experiment)}`,
    );
  }
  const expDir = join(
    isAbsolute(opts.runsDir) ? opts.runsDir : join(cwd, opts.runsDir),
    experiment,
  );
  checkWord("runsDir", expDir);
  const logDir = join(expDir, "slurm");

  let array = `0-${ids.length - 1}`;
  if (opts.maxParallel !== undefined) {
    checkPositiveInt("maxParallel", opts.maxParallel);
    array += `%${opts.maxParallel}`;
  }
  const sbatch: string[] = [
    `--job-name=${opts.jobName ?? `firstspike-${experiment}`}`,
    `--array=${array}`,
    `--requeue`,
    `--signal=B:TERM@120`,
    `--open-mode=append`,
    `--output=${logDir}/%A_%a.log`,
    `--chdir=${cwd}`,
  ];
  if (opts.jobName !== undefined) checkWord("jobName", opts.jobName);
  const words: [string, string | undefined][] = [
    ["account", opts.account],
    ["qos", opts.qos],
    ["partition", opts.partition],
    ["time", opts.time],
    ["gres", opts.gres],
    ["mem", opts.mem],
  ];
  for (const [key, value] of words) {
    if (value === undefined) continue;
    checkWord(key, value);
    sbatch.push(`--${key}=${value}`);
  }
  if (opts.cpusPerTask !== undefined) {
    checkPositiveInt("cpusPerTask", opts.cpusPerTask);
    sbatch.push(`--cpus-per-task=${opts.cpusPerTask}`);
  }
  const header = ["#!/bin/bash", ...sbatch.map((o) => `#SBATCH ${o}`)];
  const shellLines: string[] = [];
  (opts.extra ?? []).forEach((line, i) => {
    checkLine(`extra[${i}]`, line);
    const t = line.trim();
    if (t.startsWith("#SBATCH")) header.push(t);
    else if (t.startsWith("-")) header.push(`#SBATCH ${t}`);
    else if (t !== "") shellLines.push(line);
  });
  const denoCommand = opts.denoCommand ?? "deno task exp";
  checkLine("denoCommand", denoCommand);
  if (denoCommand.trim() === "") {
    throw new Error(`Cannot write Slurm script: denoCommand expected a command, got ''`);
  }
  const args = (opts.args ?? []).map((a, i) => {
    checkLine(`args[${i}]`, a);
    return " " + shellQuote(a);
  }).join("");

  if (opts.workers !== undefined) {
    const body = [
      "",
      `# firstspike: ${ids.length} worker(s) of the search '${experiment}', one array task each;`,
      "# each asks the search's files which trial to train next.",
      "set -euo pipefail",
      `task="\${SLURM_ARRAY_TASK_ID:?submit this script with sbatch (SLURM_ARRAY_TASK_ID is not set)}"`,
      `cd ${shellQuote(cwd)}`,
      `echo "firstspike: job \${SLURM_JOB_ID} (array \${SLURM_ARRAY_JOB_ID}_$task), search worker` +
      ` on $(hostname) at $(date -Is)"`,
      ...shellLines,
      `exec ${denoCommand} ${shellQuote(opts.experimentPath)}${args}`,
      "",
    ];
    return header.join("\n") + "\n" + body.join("\n");
  }
  const body = [
    "",
    `# firstspike: ${ids.length} grid point(s) of '${experiment}', one array task each.`,
    "set -euo pipefail",
    `ids=(${ids.map(shellQuote).join(" ")})`,
    `task="\${SLURM_ARRAY_TASK_ID:?submit this script with sbatch (SLURM_ARRAY_TASK_ID is not set)}"`,
    `if (( task < 0 || task >= \${#ids[@]} )); then`,
    `  echo "firstspike: array task $task expected in [0, \${#ids[@]}), got none for it" >&2`,
    "  exit 2",
    "fi",
    `id="\${ids[$task]}"`,
  ];
  if (opts.linkLogs ?? true) {
    body.push(
      `run_dir=${shellQuote(expDir)}/"$id"`,
      `mkdir -p "$run_dir"`,
      `log="\${SLURM_ARRAY_JOB_ID}_\${task}.log"`,
      `ln -sfn "../slurm/$log" "$run_dir/slurm-$log"`,
    );
  }
  body.push(
    `cd ${shellQuote(cwd)}`,
    `echo "firstspike: job \${SLURM_JOB_ID} (array \${SLURM_ARRAY_JOB_ID}_$task), point '$id'` +
      ` on $(hostname) at $(date -Is)"`,
    ...shellLines,
    `exec ${denoCommand} ${shellQuote(opts.experimentPath)} --only "$id"${args}`,
    "",
  );
  return header.join("\n") + "\n" + body.join("\n");
}

/**
 * Whether a script's options ask Slurm for a GPU: `gres` naming `gpu`
 * (`gpu:1`, `gpu:a100:2`), or an extra line with `--gres=...gpu...`,
 * `--gpus`, `--gpus-per-node`, `--gpus-per-task`, `--gpus-per-socket` or
 * `-G`. A firstspike task trains on the GPU: a script without one runs on a
 * node's CPU driver, or finds no adapter.
 *
 * @example
 * ```ts
 * import { asksForGpu } from "./slurm.ts";
 * if (asksForGpu({}) || !asksForGpu({ gres: "gpu:1" })) throw new Error();
 * if (!asksForGpu({ extra: ["--gpus-per-node=2"] }) || asksForGpu({ extra: ["--qos=long"] })) {
 *   throw new Error();
 * }
 * ```
 */
export function asksForGpu(opts: Pick<SlurmScriptOptions, "gres" | "extra">): boolean {
  if (opts.gres !== undefined && /(^|,)gpu(:|$|,)/i.test(opts.gres)) return true;
  return (opts.extra ?? []).some((line) => {
    const t = line.trim().replace(/^#SBATCH\s+/, "");
    return /^--gres[= ]\S*gpu/i.test(t) || /^--gpus(-per-(node|task|socket))?([= ]|$)/.test(t) ||
      /^-G(\s|\d|$)/.test(t);
  });
}

/**
 * Returns the ids (in the given order) whose `<runsDir>/<experiment>/<id>/run.yaml` does
 * not say `status.state: done`: missing, unreadable, running or failed.
 *
 * @example
 * ```ts
 * import { pendingIds } from "./slurm.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dir}/e/a`, { recursive: true });
 * await Deno.writeTextFile(`${dir}/e/a/run.yaml`, "kind: run\nstatus: {state: done}\n");
 * const left = await pendingIds(dir, "e", ["a", "b"]);
 * if (left.join() !== "b") throw new Error(left.join());
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function pendingIds(
  runsDir: string,
  experiment: string,
  ids: string[],
): Promise<string[]> {
  const left: string[] = [];
  for (const id of ids) {
    let text: string;
    try {
      text = await Deno.readTextFile(join(runsDir, experiment, id, "run.yaml"));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        left.push(id);
        continue;
      }
      throw e;
    }
    let done = false;
    try {
      done = parseYaml(text)?.status?.state === "done";
    } catch {
      // A half-written or broken run.yaml is not done.
    }
    if (!done) left.push(id);
  }
  return left;
}

/** Options of {@link submitSlurm}. */
export interface SubmitOptions {
  /** The sbatch executable (default `"sbatch"`). */
  sbatch?: string;
  /** Working directory of sbatch. */
  cwd?: string;
  /** Extra environment variables for sbatch (e.g. `SLURM_CONF`). */
  env?: Record<string, string>;
}

/**
 * Submits a script with `sbatch --parsable` (the script goes to its standard input).
 * Creates the folder of the script's `#SBATCH --output=` first, as Slurm does not.
 * Throws with sbatch's standard error when it fails.
 */
export async function submitSlurm(
  script: string,
  opts: SubmitOptions = {},
): Promise<{ jobId: string }> {
  const out = /^#SBATCH\s+--output=(\S+)\s*$/m.exec(script);
  if (out) {
    const dir = out[1].slice(0, Math.max(0, out[1].lastIndexOf("/")));
    if (dir !== "") await Deno.mkdir(dir, { recursive: true });
  }
  const sbatch = opts.sbatch ?? "sbatch";
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(sbatch, {
      args: ["--parsable"],
      cwd: opts.cwd,
      env: opts.env,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    throw new Error(
      `Cannot submit Slurm job: expected the sbatch executable '${sbatch}', got ` +
        `${e instanceof Deno.errors.NotFound ? "no such command" : String(e)}`,
    );
  }
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const text = new TextDecoder().decode(stdout).trim();
  const err = new TextDecoder().decode(stderr).trim();
  if (code !== 0) {
    throw new Error(`Cannot submit Slurm job: '${sbatch} --parsable' exited with ${code}: ${err}`);
  }
  const m = /^(\d+)(;\S+)?$/.exec(text.split("\n").pop() ?? "");
  if (!m) {
    throw new Error(
      `Cannot submit Slurm job: '${sbatch} --parsable' expected a job id on standard output, ` +
        `got ${JSON.stringify(text)}${err ? ` (stderr: ${err})` : ""}`,
    );
  }
  return { jobId: m[1] };
}

/** Environment lookup: `Deno.env`, or a plain record such as `Deno.env.toObject()`. */
export type EnvSource =
  | { get(key: string): string | undefined }
  | Record<string, string | undefined>;

function envGet(env: EnvSource, key: string): string | undefined {
  return typeof env.get === "function"
    ? (env as { get(key: string): string | undefined }).get(key)
    : (env as Record<string, string | undefined>)[key];
}

/**
 * Reads `SLURM_JOB_ID`, `SLURM_ARRAY_JOB_ID` and `SLURM_ARRAY_TASK_ID`; null outside Slurm.
 *
 * @example
 * ```ts
 * import { slurmContext } from "./slurm.ts";
 * const c = slurmContext({ SLURM_JOB_ID: "12", SLURM_ARRAY_JOB_ID: "10", SLURM_ARRAY_TASK_ID: "2" });
 * if (c?.arrayJobId !== "10" || c.arrayTaskId !== 2) throw new Error();
 * if (slurmContext({}) !== null) throw new Error();
 * ```
 */
export function slurmContext(env: EnvSource): SlurmContext | null {
  const jobId = envGet(env, "SLURM_JOB_ID");
  if (!jobId) return null;
  const arrayJobId = envGet(env, "SLURM_ARRAY_JOB_ID") || null;
  const task = envGet(env, "SLURM_ARRAY_TASK_ID");
  let arrayTaskId: number | null = null;
  if (task !== undefined && task !== "") {
    if (!/^\d+$/.test(task)) {
      throw new Error(`Cannot read SLURM_ARRAY_TASK_ID: expected an integer >= 0, got '${task}'`);
    }
    arrayTaskId = Number(task);
  }
  return { jobId, arrayJobId, arrayTaskId };
}

/**
 * The Slurm log a task writes with {@link slurmScript}'s `--output`:
 * `<runsDir>/<experiment>/slurm/<arrayJobId>_<arrayTaskId>.log` (null outside an array).
 */
export function slurmLogPath(
  runsDir: string,
  experiment: string,
  ctx: SlurmContext,
): string | null {
  if (ctx.arrayJobId === null || ctx.arrayTaskId === null) return null;
  return join(runsDir, experiment, "slurm", `${ctx.arrayJobId}_${ctx.arrayTaskId}.log`);
}

/**
 * Slurm's state of this task (`squeue -h -j <arrayJobId>_<taskId> -o %T`), e.g. `RUNNING`,
 * or `COMPLETING` / `CANCELLED` after `scancel`; null when squeue cannot tell.
 */
export async function slurmJobState(
  ctx: SlurmContext,
  opts: { squeue?: string } = {},
): Promise<string | null> {
  try {
    const { code, stdout } = await new Deno.Command(opts.squeue ?? "squeue", {
      args: ["-h", "-j", slurmTarget(ctx), "-o", "%T"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const state = new TextDecoder().decode(stdout).trim().split("\n")[0]?.trim() ?? "";
    return code === 0 && state !== "" ? state : null;
  } catch {
    return null;
  }
}

function slurmTarget(ctx: SlurmContext): string {
  return ctx.arrayJobId !== null && ctx.arrayTaskId !== null
    ? `${ctx.arrayJobId}_${ctx.arrayTaskId}`
    : ctx.jobId;
}

/**
 * Puts this task back in the queue (`scontrol requeue <arrayJobId>_<taskId>`): call it after
 * saving a checkpoint on SIGTERM; Slurm then stops and restarts the task. SIGTERM comes both
 * before the time limit (`--signal=B:TERM@120`, the job still `RUNNING`) and from `scancel`
 * (the job already `COMPLETING`/`CANCELLED`): only in the first case does this requeue, so
 * scancel still cancels. Returns whether it requeued. When squeue cannot tell the state, it
 * requeues.
 */
export async function requeueSelf(
  ctx: SlurmContext,
  opts: { scontrol?: string; squeue?: string } = {},
): Promise<boolean> {
  const target = slurmTarget(ctx);
  const state = await slurmJobState(ctx, opts);
  if (state !== null && state !== "RUNNING") return false;
  const scontrol = opts.scontrol ?? "scontrol";
  const { code, stderr } = await new Deno.Command(scontrol, {
    args: ["requeue", target],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(
      `Cannot requeue Slurm job '${target}': '${scontrol} requeue' exited with ${code}: ` +
        new TextDecoder().decode(stderr).trim(),
    );
  }
  return true;
}
