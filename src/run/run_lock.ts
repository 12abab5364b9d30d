/**
 * One writer per run folder: `runPoint` holds `<run>/lock` while it trains.
 * The lock file says who holds it (host, pid, Slurm job); a second runner
 * refuses the folder instead of writing into it. A lock is taken over when
 * its holder is provably gone: a process of this host that no longer runs,
 * or the same Slurm array task (a requeued task restarting, maybe on another
 * node).
 *
 * @module
 */

import { join } from "node:path";

/** Who holds a run folder. */
export interface LockOwner {
  /** Host name of the holder. */
  host: string;
  /** Process id on that host. */
  pid: number;
  /** The Slurm array task (`<array job>_<task>`) or job id, or null outside Slurm. */
  slurm: string | null;
  /** When it was taken (ISO 8601). */
  since: string;
}

/** Thrown when another runner holds a run folder. */
export class RunLocked extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RunLocked";
  }
}

/** A Slurm task's identity, from its `SLURM_*` environment variables (read by `slurmContext` in `cluster/`). */
export interface SlurmContext {
  /** `SLURM_JOB_ID`: this task's own job id. */
  jobId: string;
  /** `SLURM_ARRAY_JOB_ID`: the array's job id; null outside an array. */
  arrayJobId: string | null;
  /** `SLURM_ARRAY_TASK_ID`: the index in the array; null outside an array. */
  arrayTaskId: number | null;
}

/** The Slurm identity a lock records: `<array job>_<task>`, or the job id. */
export function slurmKey(ctx: SlurmContext | null): string | null {
  if (!ctx) return null;
  return ctx.arrayJobId !== null && ctx.arrayTaskId !== null
    ? `${ctx.arrayJobId}_${ctx.arrayTaskId}`
    : ctx.jobId;
}

function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch (e) {
    // ESRCH: no such process; EPERM: exists but not ours (alive).
    return !(e instanceof Deno.errors.NotFound) && !String(e).includes("ESRCH");
  }
}

/** Reads a folder's lock, or null when there is none (or it is unreadable). */
export async function readLock(dir: string): Promise<LockOwner | null> {
  try {
    return JSON.parse(await Deno.readTextFile(join(dir, "lock"))) as LockOwner;
  } catch {
    return null;
  }
}

/**
 * Takes the lock of a run folder, or throws naming the holder. Returns the
 * function that releases it.
 *
 * @example
 * ```ts
 * import { acquireLock } from "./run_lock.ts";
 * const dir = await Deno.makeTempDir();
 * const release = await acquireLock(dir, null);
 * await acquireLock(dir, null).then(() => { throw new Error("locked twice") }, () => {});
 * await release();
 * await (await acquireLock(dir, null))();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function acquireLock(dir: string, slurm: string | null): Promise<() => Promise<void>> {
  await Deno.mkdir(dir, { recursive: true });
  const path = join(dir, "lock");
  const me: LockOwner = {
    host: Deno.hostname(),
    pid: Deno.pid,
    slurm,
    since: new Date().toISOString(),
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const f = await Deno.open(path, { write: true, createNew: true });
      await f.write(new TextEncoder().encode(JSON.stringify(me) + "\n"));
      f.close();
      return async () => {
        const held = await readLock(dir);
        if (held && held.host === me.host && held.pid === me.pid) {
          await Deno.remove(path).catch(() => {});
        }
      };
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
    const held = await readLock(dir);
    const stale = held === null ||
      (held.host === me.host && held.pid !== me.pid && !alive(held.pid)) ||
      (slurm !== null && held.slurm === slurm);
    if (!stale) {
      throw new RunLocked(
        `Cannot run in '${dir}': it is in use by pid ${held!.pid} on ${held!.host}` +
          `${held!.slurm ? ` (Slurm ${held!.slurm})` : ""} since ${held!.since}; ` +
          `remove ${path} if that process is gone`,
      );
    }
    await Deno.remove(path).catch(() => {});
  }
  throw new Error(`Cannot lock '${dir}': another runner took it at the same moment`);
}
