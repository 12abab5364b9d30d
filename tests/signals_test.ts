/**
 * Signals: SIGTERM is obeyed within seconds whatever the runner is doing
 * (also while a CPU driver compiles kernels with the shader cache off), and
 * Ctrl-C writes a checkpoint and exits like SIGTERM, with status 130.
 */

import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { join } from "node:path";
import { withTempDir, writeFakeFmnist } from "./_data.ts";
import { GPU_TEST } from "./_compare.ts";

const EXP = new URL("../tasks/exp.ts", import.meta.url).pathname;

async function waitFor(what: () => boolean | Promise<boolean>, seconds: number): Promise<void> {
  const end = Date.now() + seconds * 1000;
  while (!(await what())) {
    if (Date.now() > end) throw new Error(`timed out after ${seconds} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function spawnExp(file: string, env: Record<string, string> = {}) {
  let err = "";
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", EXP, file],
    stdout: "null",
    stderr: "piped",
    env,
  }).spawn();
  const done = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) err += chunk;
    return (await child.status).code;
  })();
  return { child, done, err: () => err };
}

function yamlOf(tmp: string, arch: string, epochs: number): string {
  return `dataset: fmnist\ndata_dir: ${JSON.stringify(join(tmp, "data"))}\narch: "${arch}"\n` +
    `batch_size: 16\nepochs: ${epochs}\nvalidation_fraction: 0.25\n` +
    `output: ${JSON.stringify(join(tmp, "runs"))}\n`;
}

Deno.test(
  "SIGTERM while the kernels compile (shader cache off): exit 143 within seconds, lock released",
  GPU_TEST,
  async () => {
    await withTempDir(async (tmp) => {
      await writeFakeFmnist(join(tmp, "data"));
      const file = join(tmp, "k.yaml");
      await Deno.writeTextFile(file, yamlOf(tmp, "8C3-8C3-P2-16F", 50));
      const run = spawnExp(file, { MESA_SHADER_CACHE_DISABLE: "true" });
      await waitFor(() => run.err().includes("running in"), 60);
      await new Promise((r) => setTimeout(r, 2500)); // inside data loading or kernel compilation
      const t0 = performance.now();
      run.child.kill("SIGTERM");
      const code = await run.done;
      const seconds = (performance.now() - t0) / 1000;
      assertEquals(code, 143, run.err());
      assert.ok(seconds < 5, `exited ${seconds.toFixed(1)} s after SIGTERM\n${run.err()}`);
      const dir = join(tmp, "runs", "k", "default");
      assert.ok(!(await Deno.stat(join(dir, "lock")).catch(() => null)), "lock released");
    });
  },
);

Deno.test(
  "Ctrl-C (SIGINT) writes a checkpoint and exits 130; the rerun resumes",
  GPU_TEST,
  async () => {
    await withTempDir(async (tmp) => {
      await writeFakeFmnist(join(tmp, "data"));
      const file = join(tmp, "c.yaml");
      await Deno.writeTextFile(file, yamlOf(tmp, "P2-16F", 4));
      const dir = join(tmp, "runs", "c", "default");
      const run = spawnExp(file);
      await waitFor(
        async () => !!(await Deno.stat(join(dir, "metrics.jsonl")).catch(() => null)),
        120,
      );
      run.child.kill("SIGINT");
      const code = await run.done;
      assertEquals(code, 130, run.err());
      assert.match(run.err(), /Ctrl-C: writing a checkpoint at the next chunk boundary/);
      assert.match(run.err(), /Interrupted: checkpoint written in/);
      assert.ok(await Deno.stat(join(dir, "checkpoint.safetensors")));
      const again = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", EXP, file],
        stdout: "null",
        stderr: "piped",
      }).output();
      const log = new TextDecoder().decode(again.stderr);
      assertEquals(again.code, 0, log);
      assert.match(log, /resuming default at epoch/);
    });
  },
);
