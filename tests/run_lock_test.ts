/**
 * One writer per run folder: a second runner is refused while the first
 * lives; a dead holder's lock (or the same Slurm task's, after a requeue) is
 * taken over; `deno task exp` leaves a folder in use untouched.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { acquireLock, lockHeld, readLock, RunLocked } from "../src/run/run_lock.ts";
import { runTask, withUserFolder } from "./_task.ts";
import { lockHolder } from "./_runs.ts";
import { GPU_TEST } from "./_compare.ts";

Deno.test("a held lock refuses a second runner and names it; killed with SIGKILL, it is taken over", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const release = await acquireLock(dir, null);
    const held = await readLock(dir);
    assert.equal(held?.pid, Deno.pid);
    await assert.rejects(acquireLock(dir, null), RunLocked); // this very process holds it
    await release();
    await release(); // releasing twice is harmless
    assert.equal(await readLock(dir), null);
    assert.equal(await lockHeld(dir), false);
    // Another live process holds it: refused, naming it.
    const other = await lockHolder(dir);
    try {
      assert.equal(await lockHeld(dir), true);
      await assert.rejects(
        acquireLock(dir, null),
        (e: unknown) => e instanceof RunLocked && e.message.includes(`pid ${other.pid}`),
      );
    } finally {
      other.kill("SIGKILL"); // as the OOM killer would: its lock file stays behind
      await other.status;
    }
    assert.equal((await readLock(dir))?.pid, other.pid, "the killed runner's lock is left");
    assert.equal(await lockHeld(dir), false);
    // Its process is gone: the lock is stale and taken over, without any permission to
    // run commands or to read /proc.
    const again = await acquireLock(dir, null);
    assert.equal((await readLock(dir))?.pid, Deno.pid);
    await again();
    assert.equal(await readLock(dir), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a requeued Slurm task takes over its own lock; another task is refused", async () => {
  const dir = await Deno.makeTempDir();
  const other = await lockHolder(dir, "100_3");
  try {
    await assert.rejects(acquireLock(dir, "100_4"), /in use by pid \d+ on .* \(Slurm 100_3\)/);
    await assert.rejects(acquireLock(dir, null), RunLocked);
    const release = await acquireLock(dir, "100_3");
    assert.equal((await readLock(dir))?.slurm, "100_3");
    assert.equal((await readLock(dir))?.pid, Deno.pid);
    await release();
  } finally {
    other.kill("SIGKILL");
    await other.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  "deno task exp leaves a run folder in use alone and exits 75 (busy, not failed)",
  GPU_TEST,
  async () => {
    await withUserFolder(async (tmp) => {
      const dir = join(tmp, "runs", "tiny", "default");
      await Deno.mkdir(dir, { recursive: true });
      const other = await lockHolder(dir);
      try {
        const lock = await Deno.readTextFile(join(dir, "lock"));
        await Deno.writeTextFile(join(dir, "run.yaml"), "kind: run\nstatus: {state: running}\n");
        const r = await runTask("exp", ["tiny.yaml"], { cwd: tmp });
        assert.equal(r.code, 75, r.stderr);
        assert.match(r.stderr, /default: busy: Cannot run in '.*': it is in use by pid/);
        assert.match(r.stderr, /1 of 1 point\(s\) busy in another runner/);
        assert.equal(
          await Deno.readTextFile(join(dir, "run.yaml")),
          "kind: run\nstatus: {state: running}\n",
        );
        assert.equal(await Deno.readTextFile(join(dir, "lock")), lock);
      } finally {
        other.kill("SIGKILL");
        await other.status;
      }
    });
  },
);

Deno.test("runners racing for one stale lock: exactly one takes it, every time", async () => {
  const contender = new URL("./fixtures/lock_contender.ts", import.meta.url).pathname;
  const dead = new Deno.Command("true").spawn();
  const deadPid = dead.pid;
  await dead.status;
  const root = await Deno.makeTempDir();
  try {
    for (let round = 0; round < 8; round++) {
      const dir = join(root, `r${round}`);
      await Deno.mkdir(dir);
      // The stale lock of a process of this host that is gone.
      await Deno.writeTextFile(
        join(dir, "lock"),
        JSON.stringify({ host: Deno.hostname(), pid: deadPid, slurm: null, since: "then" }) + "\n",
      );
      const startAt = Date.now() + 1500; // all of them start their attempt at the same moment
      const outs = await Promise.all(
        Array.from({ length: 4 }, () =>
          new Deno.Command(Deno.execPath(), {
            args: ["run", "-A", contender, dir, String(startAt)],
            stdout: "piped",
            stderr: "piped",
          }).output()),
      );
      const said = outs.map((o) => {
        assert.ok(o.success, new TextDecoder().decode(o.stderr));
        return new TextDecoder().decode(o.stdout).trim();
      });
      assert.deepEqual(said.filter((s) => s === "won").length, 1, `round ${round}: ${said}`);
      assert.deepEqual(said.filter((s) => s === "busy").length, 3, `round ${round}: ${said}`);
      // Released by the winner; no claim or temporary file is left behind.
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), []);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
