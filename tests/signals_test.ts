/**
 * Signals as users send them, through `deno task exp` with deno.json's
 * permissions: SIGTERM (Slurm's warning, `kill`) is obeyed within seconds
 * whatever the runner is doing, also while a CPU driver compiles kernels with
 * the shader cache off, and `--json` still ends with `grid_finished`; one
 * Ctrl-C on a terminal is one (the terminal's SIGINT to the process group and
 * the copies `deno task` passes on count once), writes a checkpoint and exits
 * 130; a run killed with `kill -9` is taken over by the next run.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { GPU_TEST } from "./_compare.ts";
import { runTask, startTask, withUserFolder } from "./_task.ts";

const RUN = "runs/tiny/default";

/** The last JSON line of `--json` output. */
function lastEvent(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split("\n").filter((l) => l.startsWith("{"));
  return JSON.parse(lines[lines.length - 1]);
}

Deno.test(
  "SIGTERM while the kernels compile (shader cache off): exit 143 within seconds, lock released, a final JSON event",
  GPU_TEST,
  async () => {
    await withUserFolder(async (dir) => {
      const t = startTask("exp", ["tiny.yaml", "--json"], {
        cwd: dir,
        env: { MESA_SHADER_CACHE_DISABLE: "true" },
      });
      await t.waitFor(/"event":"point_started"/, 60_000);
      await new Promise((r) => setTimeout(r, 1500)); // inside data loading or kernel compilation
      const t0 = performance.now();
      t.kill("SIGTERM"); // to `deno task`, as `kill PID` or Slurm's signal to the batch shell
      const r = await t.finished();
      const seconds = (performance.now() - t0) / 1000;
      assert.equal(r.code, 143, r.stderr);
      assert.ok(seconds < 5, `exited ${seconds.toFixed(1)} s after SIGTERM\n${r.stderr}`);
      assert.ok(!(await Deno.stat(join(dir, RUN, "lock")).catch(() => null)), "lock released");
      const last = lastEvent(r.stdout);
      assert.equal(last.event, "grid_finished", r.stdout);
      assert.equal(last.exit_code, 143);
      assert.equal(last.interrupted, "SIGTERM");
    }, { arch: "8C3-8C3-P2-16F", epochs: 50 });
  },
);

Deno.test(
  "one Ctrl-C on a terminal is one: a checkpoint, exit 130, three times in a row; the rerun resumes",
  GPU_TEST,
  async () => {
    await withUserFolder(async (dir) => {
      for (let i = 0; i < 3; i++) {
        const t = startTask("exp", ["tiny.yaml"], { cwd: dir, tty: true });
        await t.waitFor(i === 0 ? /epoch 2: loss/ : /resuming default[^]*epoch \d+: loss/);
        await t.ctrlC();
        const r = await t.finished();
        assert.equal(r.code, 130, r.stdout);
        assert.match(r.stdout, /Ctrl-C: writing a checkpoint at the next chunk boundary/);
        assert.match(r.stdout, /Interrupted: checkpoint written in/);
        assert.doesNotMatch(r.stdout, /Ctrl-C again: exiting/);
      }
      const again = await runTask("exp", ["tiny.yaml"], { cwd: dir });
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /resuming default at epoch/);
    }, { epochs: 40 });
  },
);

Deno.test(
  "Ctrl-C passed on by deno task alone (kill -INT to it, no terminal) is one too",
  GPU_TEST,
  async () => {
    await withUserFolder(async (dir) => {
      const t = startTask("exp", ["tiny.yaml"], { cwd: dir });
      await t.waitFor(/epoch 1: loss/);
      t.kill("SIGINT");
      const r = await t.finished();
      assert.equal(r.code, 130, r.stderr);
      assert.match(r.stderr, /Interrupted: checkpoint written in/);
      assert.doesNotMatch(r.stderr, /Ctrl-C again: exiting/);
    }, { epochs: 40 });
  },
);

Deno.test(
  "a run killed with kill -9 (its lock left behind) is taken over by the next run, twice",
  GPU_TEST,
  async () => {
    await withUserFolder(async (dir) => {
      for (let k = 0; k < 2; k++) {
        const t = startTask("exp", ["tiny.yaml"], { cwd: dir });
        // Epoch 1's checkpoint is written before epoch 2 ends.
        await t.waitFor(k === 0 ? /epoch 2: loss/ : /resuming default[^]*epoch \d+: loss/);
        const lock = JSON.parse(await Deno.readTextFile(join(dir, RUN, "lock")));
        Deno.kill(lock.pid, "SIGKILL"); // the process that trains, as the OOM killer picks it
        const r = await t.finished();
        assert.equal(r.code, 137, r.stderr);
        assert.ok(await Deno.stat(join(dir, RUN, "lock")), "the killed run's lock is left");
      }
      const again = await runTask("exp", ["tiny.yaml"], { cwd: dir });
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /resuming default at epoch/);
      assert.doesNotMatch(again.stderr, /busy|in use by/);
    }, { epochs: 40 });
  },
);

Deno.test(
  "the watchdog counts copies of one Ctrl-C once; a later one exits at once with a final JSON event",
  async () => {
    // A runner held in a long synchronous call (a driver compiling kernels): only the
    // watchdog thread hears the signals.
    const script = `
      import { installStop } from ${
      JSON.stringify(new URL("../tasks/_signals.ts", import.meta.url).href)
    };
      const stop = await installStop((l) => console.error(l), 60_000);
      stop.finalEvent({ experiment: "x", total: 3, done: 1 });
      stop.phase("training");
      console.error("ready");
      const end = Date.now() + 20_000;
      while (Date.now() < end) { /* busy */ }
      console.error("not stopped");
    `;
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(join(dir, "hold.ts"), script);
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", join(dir, "hold.ts")],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      let err = "";
      let out = "";
      const reading = Promise.all([
        (async () => {
          for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) err += c;
        })(),
        (async () => {
          for await (const c of child.stdout.pipeThrough(new TextDecoderStream())) out += c;
        })(),
      ]);
      const end = Date.now() + 30_000;
      while (!err.includes("ready") && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 20));
      }
      for (let i = 0; i < 3; i++) child.kill("SIGINT"); // one press, three copies
      await new Promise((r) => setTimeout(r, 300));
      assert.doesNotMatch(err, /Ctrl-C again/);
      await new Promise((r) => setTimeout(r, 900)); // a second press, later
      child.kill("SIGINT");
      const status = await child.status;
      await reading;
      assert.equal(status.code, 130, err);
      assert.match(err, /Ctrl-C again: exiting at once/);
      assert.doesNotMatch(err, /not stopped/);
      const last = lastEvent(out);
      assert.deepEqual(
        { ...last, time: undefined },
        {
          event: "grid_finished",
          time: undefined,
          experiment: "x",
          total: 3,
          done: 1,
          exit_code: 130,
          interrupted: "SIGINT",
          forced: true,
        },
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
