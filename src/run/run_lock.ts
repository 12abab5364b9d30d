/**
 * One writer per run folder: `runPoint` holds `<run>/lock` while it trains.
 * The lock file says who holds it (host, pid, Slurm job); a second runner
 * refuses the folder instead of writing into it. A lock is taken over when
 * its holder is provably gone, or is the same Slurm array task (a requeued
 * task restarting, maybe on another node).
 *
 * Whether the holder is gone is the kernel's to say: the holder keeps an
 * exclusive `flock` on the lock file for as long as it runs, and the kernel
 * drops it when the process ends in any way (`kill -9`, the OOM killer),
 * which needs no permission to run commands or to read `/proc` (Deno grants
 * neither to a task). Others probe it with a shared `flock`. A lock of this
 * host that nobody holds is stale: its holder is gone (or was a firstspike
 * older than this rule). Another host's lock is trusted while it is there
 * (an NFS mount without locks would hide that host's `flock`): a lost node's
 * lock is taken over by the requeued Slurm task, or removed by hand. Where a
 * file system refuses `flock`, a holder of this host counts as gone only
 * when `Deno.kill` may ask and says so.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { isTempFile } from "../util/fs.ts";

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

/**
 * Whether a process holds the lock file at `path` (an exclusive `flock`):
 * true or false, or null when the file system cannot tell (no `flock`
 * there). A missing file is held by nobody.
 */
async function flockHeld(path: string): Promise<boolean | null> {
  let f: Deno.FsFile;
  try {
    f = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
  try {
    const free = await f.tryLock(false);
    return !free; // the shared lock is dropped when the file is closed
  } catch {
    return null;
  } finally {
    f.close();
  }
}

/**
 * Whether a runner holds the run folder's lock (see the module's notes): true
 * while it runs, false once it has ended or when there is no lock.
 *
 * @example
 * ```ts
 * import { acquireLock, lockHeld } from "./run_lock.ts";
 * const dir = await Deno.makeTempDir();
 * if (await lockHeld(dir)) throw new Error("no lock yet");
 * const release = await acquireLock(dir, null);
 * if (!(await lockHeld(dir))) throw new Error("held");
 * await release();
 * if (await lockHeld(dir)) throw new Error("released");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function lockHeld(dir: string): Promise<boolean> {
  const path = join(dir, "lock");
  const text = await readText(path);
  if (text === null) return false;
  const held = await flockHeld(path);
  if (held) return true;
  let owner: LockOwner | null = null;
  try {
    owner = JSON.parse(text) as LockOwner;
  } catch {
    return held === null; // being written (or an older writer's partial file)
  }
  let host: string | null = null;
  try {
    host = Deno.hostname();
  } catch {
    // no permission to ask: another host's, as far as this process can tell
  }
  // Another host's runner may hold a flock this host cannot see: trusted to run.
  if (owner?.host !== host) return true;
  return held === null ? aliveWithoutFlock(owner) : false;
}

/**
 * Takes over the lock at `path`, which read `text`, if no process holds it:
 * the exclusive `flock` on that very file, which only one runner can get,
 * decides who replaces it (by renaming `aside`, this runner's locked file,
 * over it). "held": a runner holds it; "retry": it changed meanwhile, or a
 * reader was probing it; "taken": done; "no-flock": this file system cannot
 * tell.
 */
async function takeOver(
  path: string,
  text: string,
  aside: string,
): Promise<"taken" | "held" | "retry" | "no-flock"> {
  let f: Deno.FsFile;
  try {
    f = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "retry";
    throw e;
  }
  try {
    let mine: boolean;
    try {
      mine = await f.tryLock(true);
    } catch {
      return "no-flock";
    }
    if (!mine) {
      // Held exclusively (a runner), or a reader's shared probe of a moment.
      const held = await flockHeld(path);
      if (held === false) await new Promise((r) => setTimeout(r, 20));
      return held === false ? "retry" : "held";
    }
    const [now, opened] = [await Deno.stat(path).catch(() => null), await f.stat()];
    if (!now || now.ino !== opened.ino || (await readText(path)) !== text) return "retry";
    await Deno.rename(aside, path); // replaces the stale lock atomically
    return "taken";
  } finally {
    f.close();
  }
}

/** Without `flock`: a holder of this host is gone only if `Deno.kill` may ask and says so. */
function aliveWithoutFlock(held: LockOwner): boolean {
  let host: string;
  try {
    host = Deno.hostname();
  } catch {
    return true;
  }
  if (held.host !== host || held.pid === Deno.pid) return true;
  if (Deno.permissions.querySync({ name: "run" }).state !== "granted") return true;
  try {
    Deno.kill(held.pid, "SIGCONT");
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
  const aside = join(dir, `${LOCK_ASIDE}${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`); // isTempFile
  await Deno.writeTextFile(aside, mine);
  // Held from before the file is the lock until this runner releases it or ends.
  const handle = await Deno.open(aside, { read: true, write: true });
  let flock = true;
  try {
    if (!(await handle.tryLock(true))) throw new Error(`Cannot lock '${aside}': locked already`);
  } catch (e) {
    if (String(e).includes("locked already")) throw e;
    flock = false; // this file system has no flock: liveness falls back to pids
  }
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    if ((await readText(path).catch(() => null)) === mine) {
      await Deno.remove(path).catch(() => {});
    }
    handle.close();
  };
  let acquired = false;
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await Deno.link(aside, path); // atomic: fails when a lock exists
        acquired = true;
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
      const mySlurmTask = slurm !== null && held?.slurm === slurm;
      // This host's holders (and unreadable locks): the kernel's flock says whether they run.
      // Another host's flock may not reach this one (NFS mounted without locks): trusted.
      if (flock && !mySlurmTask && (held === null || held.host === me.host)) {
        const taken = await takeOver(path, text, aside);
        if (taken === "taken") {
          acquired = true;
          return release;
        }
        if (taken === "retry") continue;
        if (taken === "held") {
          throw new RunLocked(
            `Cannot run in '${dir}': it is in use by ${
              held
                ? `pid ${held.pid} on ${held.host}${
                  held.slurm ? ` (Slurm ${held.slurm})` : ""
                } since ${held.since}`
                : "another runner"
            }; it is released when that process ends`,
          );
        }
      }
      // No flock here, another host's lock, or the same Slurm task's (its requeued self takes it).
      const stale = held === null || mySlurmTask || !aliveWithoutFlock(held);
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
          acquired = true;
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
    if (!acquired) handle.close();
  }
}

/** How a runner's lock file is named while it is written, before it is linked into place. */
const LOCK_ASIDE = ".lock.tmp-";

/**
 * Removes the temporary files that an interrupted atomic write left in a run
 * folder; the caller holds the folder's lock, so no other writer is at work
 * there. Other runners' lock files being written (`.lock.tmp-*`) are left:
 * each is its runner's, about to be linked into place (or refused), and its
 * runner removes it. Removing one made that runner fail with "No such file"
 * instead of finding the folder busy (two search workers, in the suite).
 *
 * @example
 * ```ts
 * import { removeLeftovers } from "./run_lock.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/.run.yaml.tmp-12-0123abcd`, "partial");
 * await Deno.writeTextFile(`${dir}/.lock.tmp-34-89abcdef`, "another runner's");
 * await removeLeftovers(dir);
 * const left = [...Deno.readDirSync(dir)].map((e) => e.name);
 * if (left.join() !== ".lock.tmp-34-89abcdef") throw new Error(left.join());
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function removeLeftovers(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && isTempFile(e.name) && !e.name.startsWith(LOCK_ASIDE)) {
      await Deno.remove(join(dir, e.name)).catch(() => {});
    }
  }
}
