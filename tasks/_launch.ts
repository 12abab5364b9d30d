/**
 * Exact permissions for the tasks that write, download or use the GPU. Such a
 * task's entry in deno.json grants little: reading, the few environment
 * variables its first steps read, and running programs (`deno`; see
 * {@link WORK_PERMISSIONS} for why the grant cannot name it). It checks its arguments
 * and works out the folders it will write (`--output /scratch/runs`, `report
 * --out paper/figures`, the dataset cache); then {@link delegate} runs the
 * work in a second Deno process with exactly the permissions of
 * {@link WORK_PERMISSIONS} plus `--allow-write` for those folders, and the
 * task exits with its status. No one edits deno.json to write elsewhere, and a
 * task writes nowhere else.
 *
 * Under `deno run -A` (the unit tests, scripts) the work runs in the same
 * process. The second process is started with the running Deno
 * ({@link denoExecutable}), with `--config` naming this
 * repository's deno.json (its working folder is the user's) and
 * `FIRSTSPIKE_TASK_CHILD=1`, so it never starts a third. Signals the first
 * process gets (SIGINT, SIGTERM, SIGHUP) are passed on; the second counts
 * copies of one Ctrl-C as one (`_signals.ts`).
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { resolve } from "node:path";
import { MissingPermission } from "./_args.ts";
import { envGet } from "../src/util/env.ts";
import { denoExecutable } from "../src/util/deno_executable.ts";

/** Set in the second process's environment: it does the work and starts no other. */
export const CHILD_ENV = "FIRSTSPIKE_TASK_CHILD";

/** This repository's deno.json. */
export const CONFIG_PATH = fileURLToPath(new URL("../deno.json", import.meta.url));

/** Hosts a dataset may be downloaded from (their published archives). */
export const DATASET_HOSTS = [
  "ossci-datasets.s3.amazonaws.com",
  "yann.lecun.com",
  "fashion-mnist.s3-website.eu-central-1.amazonaws.com",
  "www.cs.toronto.edu",
] as const;

/**
 * Environment variables the work reads, by name: npm `yaml`'s debug switches
 * (`LOG_TOKENS`, `LOG_STREAM`), where the task was started (`INIT_CWD`), the
 * dataset cache and data (`HOME`, `XDG_CACHE_HOME`, `FIRSTSPIKE_*`), the
 * GPU's choice (`DENO_WEBGPU_BACKEND`, `DRI_PRIME`, `MESA_VK_DEVICE_SELECT*`,
 * `XDG_RUNTIME_DIR`), Slurm's (`SLURM_*`), and the terminal's width where it
 * does not say its size (`COLUMNS`, for the progress bar) and whether it can
 * move the cursor (`TERM=dumb`: plain lines).
 */
export const WORK_ENV = [
  "LOG_TOKENS",
  "LOG_STREAM",
  "INIT_CWD",
  "HOME",
  "XDG_CACHE_HOME",
  "XDG_RUNTIME_DIR",
  "FIRSTSPIKE_*",
  "SLURM_*",
  "DENO_WEBGPU_BACKEND",
  "DRI_PRIME",
  "MESA_VK_DEVICE_SELECT*",
  "COLUMNS",
  "TERM",
] as const;

/**
 * The permissions of each delegating task's work, before the write access it
 * works out: `exp` trains (GPU, the watchdog's `_exit` through FFI, `git` for
 * provenance, Slurm's commands, dataset downloads), `eval` evaluates, `report`
 * writes its files.
 *
 * Running programs is granted whole (`--allow-run`), not by name: Deno lets a
 * process whose environment holds any `LD_*` or `DYLD_*` variable start
 * another only under an unrestricted `--allow-run`, and on clusters `module
 * load` sets `LD_LIBRARY_PATH` nearly always. Named, every task failed there
 * ("Requires --allow-run permissions to spawn subprocess with
 * LD_LIBRARY_PATH"), and dropping the variable would hide the libraries the
 * GPU's driver and Slurm's commands are found by. What the work runs:
 * `git`, `sbatch`, `squeue`, `scontrol` (exp), `git` and `deno` (bench).
 */
export const WORK_PERMISSIONS: Readonly<Record<string, readonly string[]>> = {
  exp: [
    "--allow-read",
    `--allow-env=${WORK_ENV.join(",")}`,
    "--allow-sys=hostname",
    "--allow-ffi",
    "--allow-run",
    `--allow-net=${DATASET_HOSTS.join(",")}`,
  ],
  eval: [
    "--allow-read",
    `--allow-env=${WORK_ENV.join(",")}`,
    `--allow-net=${DATASET_HOSTS.join(",")}`,
  ],
  report: ["--allow-read", `--allow-env=LOG_TOKENS,LOG_STREAM,INIT_CWD,${CHILD_ENV}`],
  // TensorFlow.js (--peer) reads environment variables of its own: the bench alone keeps all.
  bench: ["--allow-read", "--allow-env", "--allow-sys=hostname", "--allow-run"],
};

/**
 * The second process's flags: the work's permissions plus write access to
 * `paths` (absolute; a path with a comma cannot be granted).
 *
 * @example
 * ```ts
 * import { workFlags } from "./_launch.ts";
 * const f = workFlags("report", ["/tmp/out"]);
 * if (!f.join(" ").endsWith("--allow-read --allow-env=LOG_TOKENS,LOG_STREAM,INIT_CWD,FIRSTSPIKE_TASK_CHILD --allow-write=/tmp/out")) {
 *   throw new Error(f.join(" "));
 * }
 * ```
 */
export function workFlags(task: string, paths: readonly string[]): string[] {
  const own = WORK_PERMISSIONS[task];
  if (!own) throw new Error(`Cannot delegate task '${task}': it has no entry in WORK_PERMISSIONS`);
  for (const p of paths) {
    if (p.includes(",")) {
      throw new MissingPermission(
        `Cannot grant write access to '${p}': expected a path without ',' (Deno's permission ` +
          `lists are comma-separated), got one with it`,
      );
    }
  }
  return ["--no-prompt", ...own, ...(paths.length ? [`--allow-write=${paths.join(",")}`] : [])];
}

/** Whether this process may write every one of `paths`. */
export function canWrite(paths: readonly string[]): boolean {
  return paths.every((path) =>
    Deno.permissions.querySync({ name: "write", path }).state === "granted"
  );
}

/** Whether this process has every permission (`-A`). */
function allGranted(): boolean {
  const names = ["read", "write", "net", "env", "run", "ffi", "sys"] as const;
  return names.every((name) => Deno.permissions.querySync({ name }).state === "granted");
}

/**
 * Makes sure the task's work runs with its permissions and may write `paths`
 * (files or folders, resolved against the working folder). Returns null when
 * this process is that work (started by {@link delegate}, or under `-A`):
 * the caller goes on. Otherwise runs the task again with the same arguments
 * in a second process with exactly those permissions, and returns its exit
 * status for the caller to return. Throws {@link MissingPermission} when
 * neither is possible.
 */
export async function delegate(
  task: string,
  paths: readonly string[],
  argv: readonly string[] = Deno.args,
): Promise<number | null> {
  const wanted = [...new Set(paths.map((p) => resolve(p)))];
  const advice = `start it as 'deno task ${task} ...' (which grants exactly these), or ` +
    `'deno run -A tasks/${task}.ts ...'`;
  if (envGet(CHILD_ENV) === "1" || allGranted()) {
    const missing = wanted.filter((p) => !canWrite([p]));
    if (missing.length) {
      throw new MissingPermission(
        `missing permission: write access to '${missing.join("', '")}' (${advice})`,
      );
    }
    return null;
  }
  if (Deno.permissions.querySync({ name: "run", command: "deno" }).state !== "granted") {
    throw new MissingPermission(
      `missing permission: this process may not run 'deno' to do the work with write access ` +
        `to '${wanted.join("', '")}' (${advice})`,
    );
  }
  const script = fileURLToPath(new URL(`./${task}.ts`, import.meta.url));
  return await runChild([
    "run",
    "--config",
    CONFIG_PATH,
    ...workFlags(task, wanted),
    script,
    ...argv,
  ]);
}

const FORWARDED: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/** Runs `deno ARGS` with this process's standard streams, passing signals on; its exit status. */
async function runChild(args: string[]): Promise<number> {
  const child = new Deno.Command(denoExecutable(), {
    args,
    cwd: Deno.cwd(),
    env: { [CHILD_ENV]: "1" },
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const forward = FORWARDED.map((sig) => {
    const f = () => {
      try {
        child.kill(sig);
      } catch {
        // already gone
      }
    };
    Deno.addSignalListener(sig, f);
    return [sig, f] as const;
  });
  try {
    return (await child.status).code; // 128 + N when a signal N ended it
  } finally {
    for (const [sig, f] of forward) Deno.removeSignalListener(sig, f);
  }
}
