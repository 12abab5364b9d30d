/**
 * One writer per run folder: a second runner is refused while the first
 * lives; a dead holder's lock (or the same Slurm task's, after a requeue) is
 * taken over; `deno task exp` leaves a folder in use untouched.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { acquireLock, readLock, RunLocked } from "../src/run/run_lock.ts";
import { writeFakeFmnist } from "./_data.ts";
import { GPU_TEST } from "./_compare.ts";

async function pidOf(cmd: string, args: string[]): Promise<Deno.ChildProcess> {
  return await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).spawn();
}

Deno.test("a held lock refuses a second runner and names the holder; release frees it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const release = await acquireLock(dir, null);
    const held = await readLock(dir);
    assert.equal(held?.pid, Deno.pid);
    // Another live process of this host holds it: refused.
    const sleeper = await pidOf("sleep", ["30"]);
    try {
      await Deno.writeTextFile(
        join(dir, "lock"),
        JSON.stringify({ host: Deno.hostname(), pid: sleeper.pid, slurm: null, since: "then" }),
      );
      await assert.rejects(
        acquireLock(dir, null),
        (e: unknown) => e instanceof RunLocked && e.message.includes(`pid ${sleeper.pid}`),
      );
    } finally {
      sleeper.kill();
      await sleeper.status;
    }
    // Its process is gone now: the lock is stale and taken over.
    const again = await acquireLock(dir, null);
    assert.equal((await readLock(dir))?.pid, Deno.pid);
    await again();
    assert.equal(await readLock(dir), null);
    await release(); // releasing twice is harmless
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a requeued Slurm task takes over its own lock; another task is refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      join(dir, "lock"),
      JSON.stringify({ host: "node-7", pid: 4242, slurm: "100_3", since: "then" }),
    );
    await assert.rejects(acquireLock(dir, "100_4"), /in use by pid 4242 on node-7 \(Slurm 100_3\)/);
    await assert.rejects(acquireLock(dir, null), RunLocked);
    const release = await acquireLock(dir, "100_3");
    assert.equal((await readLock(dir))?.slurm, "100_3");
    await release();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  "deno task exp leaves a run folder in use alone and exits 75 (busy, not failed)",
  GPU_TEST,
  async () => {
    const tmp = await Deno.makeTempDir();
    const sleeper = await pidOf("sleep", ["30"]);
    try {
      await writeFakeFmnist(join(tmp, "data"));
      const file = join(tmp, "l.yaml");
      await Deno.writeTextFile(
        file,
        `dataset: fmnist\ndata_dir: ${JSON.stringify(join(tmp, "data"))}\narch: "P4-8F"\n` +
          `epochs: 1\noutput: ${JSON.stringify(join(tmp, "runs"))}\n`,
      );
      const dir = join(tmp, "runs", "l", "default");
      await Deno.mkdir(dir, { recursive: true });
      const lock = JSON.stringify({
        host: Deno.hostname(),
        pid: sleeper.pid,
        slurm: null,
        since: "then",
      });
      await Deno.writeTextFile(join(dir, "lock"), lock);
      await Deno.writeTextFile(join(dir, "run.yaml"), "kind: run\nstatus: {state: running}\n");
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL("../tasks/exp.ts", import.meta.url).pathname, file],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 75, err);
      assert.match(err, /default: busy: Cannot run in '.*': it is in use by pid/);
      assert.match(err, /1 of 1 point\(s\) busy in another runner/);
      assert.equal(
        await Deno.readTextFile(join(dir, "run.yaml")),
        "kind: run\nstatus: {state: running}\n",
      );
      assert.equal(await Deno.readTextFile(join(dir, "lock")), lock);
    } finally {
      sleeper.kill();
      await sleeper.status;
      await Deno.remove(tmp, { recursive: true });
    }
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
