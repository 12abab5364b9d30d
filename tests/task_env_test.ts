// Tasks under the environment of a cluster: `module load` sets LD_LIBRARY_PATH nearly
// always, and some sites preload a library for monitoring (LD_PRELOAD). Deno lets such a
// process start another only under an unrestricted --allow-run; with the programs named in
// deno.json every task that starts its work in a second process (exp, eval, report, bench)
// exited 2 there, and git's provenance and sbatch would have been refused too. Run through
// `deno task` with deno.json's permissions, from a folder outside the checkout.
import assert from "node:assert/strict";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { runTask, withUserFolder } from "./_task.ts";
import { GPU_TEST } from "./_compare.ts";
import { gitCommit } from "../src/run/provenance.ts";

/** A cluster's kind of environment; values that change nothing the loader finds. */
const CLUSTER_ENV = { LD_LIBRARY_PATH: "/usr/lib", LD_PRELOAD: "" };

Deno.test(
  "with LD_LIBRARY_PATH and LD_PRELOAD set: exp trains (git provenance recorded), eval, report and bench run",
  GPU_TEST,
  async () => {
    await withUserFolder(async (dir) => {
      const env = CLUSTER_ENV;
      const exp = await runTask("exp", ["tiny.yaml"], { cwd: dir, env });
      assert.equal(exp.code, 0, exp.stdout + exp.stderr);
      assert.doesNotMatch(exp.stderr, /Requires --allow-run|missing permission/);
      const run = parseYaml(
        await Deno.readTextFile(join(dir, "runs/tiny/default/run.yaml")),
      ) as Record<string, any>;
      assert.equal(run.status.state, "done");
      if ((await gitCommit()) !== null) { // a clone is a git work tree; an unpacked archive is not
        assert.match(String(run.provenance.commit), /^[0-9a-f]{40}(-dirty)?$/, "git ran");
      }

      const ev = await runTask("eval", ["runs/tiny/default", "--json"], { cwd: dir, env });
      assert.equal(ev.code, 0, ev.stdout + ev.stderr);
      assert.equal(typeof JSON.parse(ev.stdout).accuracy, "number", ev.stdout);

      const rep = await runTask("report", ["runs/tiny"], { cwd: dir, env });
      assert.equal(rep.code, 0, rep.stdout + rep.stderr);
      assert.match(rep.stdout + rep.stderr, /1 run: 1 done/);
      assert.ok((await Deno.stat(join(dir, "runs/tiny/report.md"))).isFile);

      const bench = await runTask("bench", [
        "--quick",
        "--only",
        "mnist-cnn-b32",
        "--reps",
        "1",
        "--steps",
        "1",
        "--activity",
        "random",
        "--json",
        "b.json",
      ], { cwd: dir, env });
      assert.equal(bench.code, 0, bench.stdout + bench.stderr);
      assert.ok((await Deno.stat(join(dir, "b.json"))).isFile);
    }, { epochs: 1 });
  },
);

// Another Deno first on PATH (a site's module of an older Deno, a wrapper script) while the
// user runs this one: the work must run in the Deno the user started, not in the PATH's.
Deno.test(
  "with another deno first on PATH, exp's work and schema's deno fmt run in the Deno started",
  GPU_TEST,
  async () => {
    const bin = await Deno.makeTempDir({ prefix: "firstspike_path_" });
    try {
      const fake = join(bin, "deno");
      await Deno.writeTextFile(fake, "#!/bin/sh\necho 'the deno on PATH ran' >&2\nexit 42\n");
      await Deno.chmod(fake, 0o755);
      const env = { PATH: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}` };
      await withUserFolder(async (dir) => {
        const exp = await runTask("exp", ["tiny.yaml"], { cwd: dir, env });
        assert.equal(exp.code, 0, exp.stdout + exp.stderr);
        assert.doesNotMatch(exp.stderr, /the deno on PATH ran/);
        assert.ok((await Deno.stat(join(dir, "runs/tiny/default/weights.safetensors"))).isFile);
      }, { epochs: 1 });
      const schema = await runTask("schema", ["--check"], { inside: true, env });
      assert.equal(schema.code, 0, schema.stdout + schema.stderr);
      assert.doesNotMatch(schema.stderr, /the deno on PATH ran/);
    } finally {
      await Deno.remove(bin, { recursive: true });
    }
  },
);

// TMPDIR naming no folder (a job script's TMPDIR=/scratch/$USER/tmp not made yet): bench's
// epoch makes its temporary run there. Said at once, naming the variable and its value (it
// was "No such file or directory (os error 2): tmpdir", exit 1, after the GPU's start).
Deno.test("bench with TMPDIR naming no folder: a usage error naming TMPDIR, before any work", async () => {
  await withUserFolder(async (dir) => {
    for (const tmp of [join(dir, "no-such-tmp"), ""]) {
      const r = await runTask("bench", ["--quick", "--activity", "random"], {
        cwd: dir,
        env: { TMPDIR: tmp },
      });
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /TMPDIR/);
      if (tmp) assert.ok(r.stderr.includes(tmp), r.stderr);
      assert.doesNotMatch(r.stdout + r.stderr, /adapter|os error/);
    }
  });
});

Deno.test(
  "TERM=dumb on a terminal: exp prints the plain lines of a log, no cursor movement",
  GPU_TEST,
  async () => {
    // Emacs' M-x shell is such a terminal: the progress bar's \r and \x1b[K showed as junk.
    await withUserFolder(async (dir) => {
      const r = await runTask("exp", ["tiny.yaml"], { cwd: dir, tty: true, env: { TERM: "dumb" } });
      const out = r.stdout + r.stderr;
      assert.equal(r.code, 0, out);
      assert.match(out, /epoch 1: loss/);
      assert.ok(!out.includes("\x1b[") && !out.includes("\r"), JSON.stringify(out));
    }, { epochs: 1 });
  },
);
