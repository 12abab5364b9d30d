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

import { createHash } from "node:crypto";
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

/** 16 hex digits of a lock file's bytes: the identity of one holder's lock. */
function lockHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** Reads a file's text, or null when it is not there. */
async function readText(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/**
 * Takes the lock of a run folder, or throws naming the holder. Returns the
 * function that releases it.
 *
 * The lock file appears whole or not at all (written aside, then linked into
 * place, which fails if a lock exists). A stale lock is taken over through a
 * claim on that very lock (`lock.takeover-<hash of its bytes>`, created
 * exclusively): of several runners that find the same stale lock, exactly
 * one gets the claim, checks the lock is still the stale one, and renames
 * its own lock over it; the others then find a live holder and refuse.
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
  const mine = JSON.stringify({ ...me, token: crypto.randomUUID() }) + "\n";
  const aside = join(dir, `.lock.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`); // isTempFile
  await Deno.writeTextFile(aside, mine);
  const release = async () => {
    if ((await readText(path).catch(() => null)) === mine) {
      await Deno.remove(path).catch(() => {});
    }
  };
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await Deno.link(aside, path); // atomic: fails when a lock exists
        return release;
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      }
      const text = await readText(path);
      if (text === null) continue; // released meanwhile: try again
      let held: LockOwner | null = null;
      try {
        held = JSON.parse(text) as LockOwner;
      } catch {
        held = null; // unreadable (an older writer's partial file): stale
      }
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
      // Claim this stale lock; only one runner can.
      const claim = join(dir, `lock.takeover-${lockHash(text)}`);
      try {
        await Deno.writeTextFile(claim, mine, { createNew: true });
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
        continue; // another runner is taking it over: look again
      }
      try {
        if ((await readText(path)) === text) {
          await Deno.rename(aside, path); // replaces the stale lock atomically
          return release;
        }
      } finally {
        await Deno.remove(claim).catch(() => {});
      }
    }
    const now = await readText(path);
    throw new RunLocked(
      `Cannot run in '${dir}': another runner took its lock at the same moment` +
        (now ? ` (${now.trim()})` : ""),
    );
  } finally {
    await Deno.remove(aside).catch(() => {});
  }
}
