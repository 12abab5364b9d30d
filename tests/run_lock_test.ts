/**
 * One writer per run folder: a second runner is refused while the first
 * lives; a dead holder's lock (or the same Slurm task's, after a requeue) is
 * taken over; `deno task exp` leaves a folder in use untouched.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  acquireLock,
  lockHeld,
  readLock,
  removeLeftovers,
  RunLocked,
} from "../src/run/run_lock.ts";
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
    let single = 0;
    for (let round = 0; round < 6; round++) {
      const dir = join(root, `r${round}`);
      await Deno.mkdir(dir);
      // The stale lock of a process of this host that is gone.
      await Deno.writeTextFile(
        join(dir, "lock"),
        JSON.stringify({ host: Deno.hostname(), pid: deadPid, slurm: null, since: "then" }) + "\n",
      );
      const startAt = Date.now() + 2500; // all of them start their attempt at the same moment
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
      // Never two holders at once: a winner's hold never overlaps another's. (On a loaded
      // machine a contender may start after the first winner released: then it wins too.)
      const holds = said.filter((s) => s.startsWith("won")).map((s) =>
        s.split(" ").slice(1).map(Number)
      )
        .sort((a, b) => a[0] - b[0]);
      assert.ok(holds.length >= 1, `round ${round}: ${said}`);
      for (let i = 1; i < holds.length; i++) {
        assert.ok(holds[i][0] >= holds[i - 1][1], `round ${round}: overlapping holds ${said}`);
      }
      assert.equal(said.filter((s) => s === "busy").length + holds.length, 4);
      // Nearly always all four try while the first holds it (1 s): count how often.
      if (holds.length === 1) single++;
      // Released by the winner; no claim or temporary file is left behind.
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), []);
    }
    assert.ok(single >= 3, `the four raced at once in only ${single} of 6 rounds`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("the holder's cleanup leaves a second runner's lock being written: it is refused as busy, never 'No such file'", async () => {
  // Two search workers met this: the holder removed the other's `.lock.tmp-*` between its
  // write and its link, and the other's trial failed with NotFound instead of being busy.
  const dir = await Deno.makeTempDir();
  try {
    const release = await acquireLock(dir, null);
    let cleaning = true;
    const cleaner = (async () => {
      while (cleaning) {
        await removeLeftovers(dir);
        await new Promise((r) => setTimeout(r, 0));
      }
    })();
    const errors: string[] = [];
    for (let i = 0; i < 200; i++) {
      await acquireLock(dir, null).then(
        () => errors.push("acquired a held lock"),
        (e) => {
          if (!(e instanceof RunLocked)) errors.push(String(e));
        },
      );
    }
    cleaning = false;
    await cleaner;
    await release();
    assert.deepEqual(errors, []);
    // A partial write of the holder's own is removed; nothing of the runners' is left.
    await Deno.writeTextFile(join(dir, ".run.yaml.tmp-1-0123abcd"), "partial");
    await removeLeftovers(dir);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
