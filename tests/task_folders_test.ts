// Tasks as users run them (deno.json's permissions, from their own folder, into a pipe and
// on a terminal): reports of real runs, writing where --output and --out say, Slurm scripts
// printed from the user's folder, and the library imported by path from any folder.
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, runTask, startTask, withUserFolder } from "./_task.ts";
import { GPU_TEST } from "./_compare.ts";

const T = { ...GPU_TEST };

Deno.test(
  "exp writes runs in the user's folder; report into a pipe and on a terminal reads them",
  T,
  async () => {
    await withUserFolder(async (dir) => {
      const exp = await runTask("exp", ["tiny.yaml"], { cwd: dir });
      assert.equal(exp.code, 0, exp.stderr);
      assert.ok((await Deno.stat(join(dir, "runs/tiny/default/run.yaml"))).isFile);
      for (const tty of [false, true]) {
        const r = await runTask("report", ["runs/tiny"], { cwd: dir, tty });
        const all = r.stdout + r.stderr;
        assert.equal(r.code, 0, all);
        assert.match(all, /1 run: 1 done/);
        assert.doesNotMatch(all, /invalid|No readable runs|TypeError|Deno requests|Allow\?/);
        const md = await Deno.readTextFile(join(dir, "runs/tiny/report.md"));
        assert.match(md, /\| default \| done \|/);
      }
    });
  },
);

Deno.test(
  "exp --output and report --out write elsewhere without editing deno.json",
  T,
  async () => {
    await withUserFolder(async (dir) => {
      const elsewhere = await Deno.makeTempDir({ prefix: "firstspike_scratch_" });
      try {
        const exp = await runTask("exp", ["tiny.yaml", "--output", join(elsewhere, "runs")], {
          cwd: dir,
        });
        assert.equal(exp.code, 0, exp.stderr);
        assert.ok(
          (await Deno.stat(join(elsewhere, "runs/tiny/default/weights.safetensors"))).isFile,
        );
        // Inside the checkout, as the README shows, with an absolute path.
        const rep = await runTask(
          "report",
          [join(elsewhere, "runs/tiny"), "--out", join(elsewhere, "paper")],
          { inside: true },
        );
        assert.equal(rep.code, 0, rep.stderr);
        assert.ok((await Deno.stat(join(elsewhere, "paper/report.md"))).isFile);
        // The task writes nowhere else: nothing appeared in the user's folder or the checkout.
        assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
          "data",
          "tiny.yaml",
        ]);
      } finally {
        await Deno.remove(elsewhere, { recursive: true });
      }
    });
  },
);

Deno.test(
  "exp --slurm-print --output elsewhere: the printed script's task trains there",
  T,
  async () => {
    await withUserFolder(async (dir) => {
      const out = join(dir, "scratch");
      const p = await runTask("exp", ["tiny.yaml", "--slurm-print", "--output", out], { cwd: dir });
      assert.equal(p.code, 0, p.stderr);
      assert.match(p.stdout, /^#!\/bin\/bash/);
      const script = join(dir, "job.sh");
      await Deno.writeTextFile(script, p.stdout);
      // What an array task does: bash with Slurm's variables, in a clean environment.
      const r = await new Deno.Command("bash", {
        args: [script],
        cwd: "/",
        clearEnv: true,
        env: {
          PATH: Deno.env.get("PATH")!,
          HOME: Deno.env.get("HOME")!,
          XDG_RUNTIME_DIR: "/tmp",
          SLURM_JOB_ID: "41",
          SLURM_ARRAY_JOB_ID: "40",
          SLURM_ARRAY_TASK_ID: "0",
          FIRSTSPIKE_REQUEUE: "0",
        },
      }).output();
      const err = new TextDecoder().decode(r.stderr);
      assert.equal(r.code, 0, err);
      assert.ok((await Deno.stat(join(out, "tiny/default/weights.safetensors"))).isFile, err);
    });
  },
);

Deno.test(
  "the README's library example runs from a folder outside the checkout with narrow permissions",
  T,
  async () => {
    const readme = await Deno.readTextFile(join(ROOT, "README.md"));
    const block = /```ts\n(import [^]*?)```/.exec(readme);
    assert.ok(block, "the README has a ts block that imports the library");
    const mod = new URL("../mod.ts", import.meta.url).href;
    assert.match(block[1], /from "\.\/mod\.ts"/);
    const dir = await Deno.makeTempDir({ prefix: "firstspike_lib_" });
    try {
      await Deno.writeTextFile(join(dir, "example.ts"), block[1].replace('"./mod.ts"', `"${mod}"`));
      const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-prompt", `--allow-read=${tmp}`, `--allow-write=${tmp}`, "example.ts"],
        cwd: dir,
        clearEnv: true,
        env: { PATH: Deno.env.get("PATH")!, HOME: Deno.env.get("HOME")!, NO_COLOR: "1" },
      }).output();
      const err = new TextDecoder().decode(r.stderr);
      assert.equal(r.code, 0, err);
      assert.match(new TextDecoder().decode(r.stdout), /classes|spikesPerSample/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "report and board read runs with their own permissions (no env prompt, no 'invalid')",
  T,
  async () => {
    await withUserFolder(async (dir) => {
      assert.equal(
        (await runTask("exp", ["tiny.yaml", "--max-epochs", "1"], { cwd: dir })).code,
        0,
      );
      const board = startTask("board", ["runs", "--port", "0"], { cwd: dir });
      try {
        const m = await board.waitFor(/http:\/\/127\.0\.0\.1:(\d+)\//, 60_000);
        const res = await fetch(`http://127.0.0.1:${m[1]}/api/experiments`);
        const text = await res.text();
        assert.equal(res.status, 200, text);
        assert.doesNotMatch(text, /invalid/);
        assert.match(text, /"stopped"/);
      } finally {
        board.kill("SIGTERM");
        await board.finished();
      }
    });
  },
);
