/**
 * A run folder never mixes settings, writers or data: changed settings are
 * refused (extending ones continue), cuts are recorded as stopped, --force
 * takes the lock before deleting, ids stay inside the output folder, and
 * damaged checkpoints fall back or explain themselves.
 */

import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { readSafetensors } from "../src/engine/safetensors.ts";
import { parseExperiment } from "../src/experiment/config.ts";
import { expandGrid } from "../src/experiment/grid.ts";
import { runPoint } from "../src/run/train.ts";
import { withTempDir, writeFakeFmnist } from "./_data.ts";
import { GPU_TEST, testEngine } from "./_compare.ts";
import { lockHolder } from "./_runs.ts";
import { runTask } from "./_task.ts";

/** `deno task exp ARGS` as users run it, with deno.json's permissions. */
async function exp(...args: string[]): Promise<{ code: number; err: string }> {
  const r = await runTask("exp", args, { inside: true });
  return { code: r.code, err: r.stderr };
}

function yamlOf(tmp: string, extra: Record<string, string | number>): string {
  const base: Record<string, string | number> = {
    dataset: "fmnist",
    data_dir: JSON.stringify(join(tmp, "data")),
    arch: '"P4-8F"',
    batch_size: 64,
    lr: "1.0e-3",
    epochs: 2,
    validation_fraction: 0.25,
    output: JSON.stringify(join(tmp, "runs")),
    ...extra,
  };
  return Object.entries(base).map(([k, v]) => `${k}: ${v}\n`).join("");
}

async function runYaml(dir: string): Promise<Record<string, any>> {
  return parseYaml(await Deno.readTextFile(join(dir, "run.yaml")));
}

async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile) continue;
    const bytes = await Deno.readFile(join(dir, e.name));
    out[e.name] = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)))
      .map((b) => b.toString(16).padStart(2, "0")).join("");
  }
  return out;
}

Deno.test(
  "rerunning an edited experiment: changed settings refused, cuts stopped, extensions continue",
  GPU_TEST,
  async () => {
    await withTempDir(async (tmp) => {
      await writeFakeFmnist(join(tmp, "data"));
      const file = join(tmp, "e.yaml");
      const dir = join(tmp, "runs", "e", "default");
      await Deno.writeTextFile(file, yamlOf(tmp, {}));

      // --max-epochs 1 cuts the run: stopped, not done.
      let r = await exp(file, "--max-epochs", "1");
      assertEquals(r.code, 0, r.err);
      let y = await runYaml(dir);
      assertEquals(y.status.state, "stopped");
      assertEquals(y.status.reason, "max_epochs");
      assertEquals(y.results.epochs_run, 1);
      assert.match(y.fingerprint, /^[0-9a-f]{16}$/);
      assertEquals(y.output, join(tmp, "runs"));

      // The same cut again: nothing to do.
      r = await exp(file, "--max-epochs", "1");
      assertEquals(r.code, 0, r.err);
      assert.match(
        r.err,
        /default: stopped at --max-epochs 1; raise or drop the cut to continue, skipped/,
      );

      // Edited lr and seed: refused, naming both with old and new values; the folder is untouched.
      const before = await snapshot(dir);
      await Deno.writeTextFile(file, yamlOf(tmp, { lr: "3.0e-3", seed: 4 }));
      r = await exp(file);
      assertEquals(r.code, 1, r.err);
      assert.match(
        r.err,
        /default: Cannot continue the run in '.*default': its settings differ from this run's \(lr: 0\.001 -> 0\.003, seed: 0 -> 4\)\. .* rerun with --force to start this point over, or give another --output/,
      );
      assertEquals(await snapshot(dir), before);
      const dry = await runTask("exp", [file, "--dry-run"], { inside: true });
      assert.match(dry.stdout, /default\tsettings differ: refused/);

      // Back to the old settings, without the cut: the run continues to its 2 epochs, done.
      await Deno.writeTextFile(file, yamlOf(tmp, {}));
      r = await exp(file);
      assertEquals(r.code, 0, r.err);
      assert.match(r.err, /resuming default at epoch 2/);
      y = await runYaml(dir);
      assertEquals([y.status.state, y.results.epochs_run], ["done", 2]);

      // Done: skipped. More epochs (an extending setting): continued, not restarted.
      assert.match((await exp(file)).err, /default: done, skipped/);
      await Deno.writeTextFile(file, yamlOf(tmp, { epochs: 3 }));
      r = await exp(file);
      assertEquals(r.code, 0, r.err);
      assert.match(r.err, /resuming default at epoch 3/);
      y = await runYaml(dir);
      assertEquals([y.status.state, y.results.epochs_run, y.epochs], ["done", 3, 3]);
      const lines = (await Deno.readTextFile(join(dir, "metrics.jsonl"))).trim().split("\n");
      assertEquals(lines.map((l) => JSON.parse(l).epoch), [1, 2, 3]);

      // --force with other settings starts the point over.
      await Deno.writeTextFile(file, yamlOf(tmp, { epochs: 1, seed: 4 }));
      r = await exp(file, "--force");
      assertEquals(r.code, 0, r.err);
      y = await runYaml(dir);
      assertEquals([y.status.state, y.results.epochs_run, y.seed], ["done", 1, 4]);
      assertEquals(
        (await Deno.readTextFile(join(dir, "metrics.jsonl"))).trim().split("\n").length,
        1,
      );
    });
  },
);

Deno.test("max_steps: stopped, and raising it continues the run", GPU_TEST, async () => {
  await withTempDir(async (tmp) => {
    await writeFakeFmnist(join(tmp, "data"));
    const file = join(tmp, "m.yaml");
    const dir = join(tmp, "runs", "m", "default");
    await Deno.writeTextFile(file, yamlOf(tmp, { max_steps: 1 }));
    let r = await exp(file);
    assertEquals(r.code, 0, r.err);
    let y = await runYaml(dir);
    assertEquals([y.status.state, y.status.reason, y.results.steps], ["stopped", "max_steps", 1]);
    assert.match((await exp(file)).err, /stopped at max_steps 1; raise or drop the cut/);
    await Deno.writeTextFile(file, yamlOf(tmp, { max_steps: "null" }));
    r = await exp(file);
    assertEquals(r.code, 0, r.err);
    y = await runYaml(dir);
    assertEquals(y.status.state, "done");
    assert.ok(y.results.steps > 1);
  });
});

Deno.test("--force takes the lock before it deletes anything", async () => {
  await withTempDir(async (tmp) => {
    await writeFakeFmnist(join(tmp, "data"));
    const file = join(tmp, "f.yaml");
    await Deno.writeTextFile(file, yamlOf(tmp, {}));
    const dir = join(tmp, "runs", "f", "default");
    await Deno.mkdir(dir, { recursive: true });
    const other = await lockHolder(dir); // another live runner
    try {
      const lock = await Deno.readTextFile(join(dir, "lock"));
      await Deno.writeTextFile(join(dir, "checkpoint.safetensors"), "another runner's");
      await Deno.writeTextFile(join(dir, "metrics.jsonl"), "another runner's\n");
      const r = await exp(file, "--force");
      assertEquals(r.code, 75, r.err);
      assert.match(r.err, /busy: Cannot run in .* in use by pid/);
      assertEquals(
        await Deno.readTextFile(join(dir, "checkpoint.safetensors")),
        "another runner's",
      );
      assertEquals(await Deno.readTextFile(join(dir, "metrics.jsonl")), "another runner's\n");
      assertEquals(await Deno.readTextFile(join(dir, "lock")), lock);
    } finally {
      other.kill("SIGKILL");
      await other.status;
    }
  });
});

Deno.test("run ids from a run.yaml cannot leave the output folder", async () => {
  await withTempDir(async (tmp) => {
    await writeFakeFmnist(join(tmp, "data"));
    const file = join(tmp, "out", "run.yaml");
    await Deno.mkdir(join(tmp, "out"));
    for (const id of ["../../../x", "..", "a/b", ""]) {
      await Deno.writeTextFile(
        file,
        `kind: run\n${yamlOf(tmp, {})}id: ${JSON.stringify(id)}\n`,
      );
      const r = await exp(file);
      assertEquals(r.code, 2, r.err); // bad input, refused before anything runs
      assert.match(
        r.err,
        /Cannot place a run folder: run id expected one plain folder name .* got "/,
      );
    }
    // Nothing was written anywhere.
    assertEquals([...Deno.readDirSync(tmp)].map((e) => e.name).sort(), ["data", "out"]);
    assertEquals([...Deno.readDirSync(join(tmp, "out"))].map((e) => e.name), ["run.yaml"]);
  });
});

Deno.test(
  "a damaged checkpoint falls back to the previous one; both damaged: an error saying what to do",
  GPU_TEST,
  async () => {
    const engine = await testEngine();
    await withTempDir(async (tmp) => {
      await writeFakeFmnist(join(tmp, "data"));
      const parsed = parseExperiment(yamlOf(tmp, { epochs: 3 }), "c.yaml");
      const [p] = expandGrid(parsed);
      const dir = join(tmp, "run");
      const logs: string[] = [];
      const run = (maxEpochs?: number) =>
        runPoint({
          settings: p.settings,
          id: p.id,
          point: p.point,
          dir,
          engine,
          maxEpochs,
          log: (l) => logs.push(l),
        });
      await run(2);
      const ck = join(dir, "checkpoint.safetensors");
      const prev = join(dir, "checkpoint.prev.safetensors");
      assertEquals(JSON.parse((await readSafetensors(prev)).metadata.state).epoch, 1);
      assertEquals(JSON.parse((await readSafetensors(ck)).metadata.state).epoch, 2);
      // One flipped bit in the latest checkpoint: resumed from the previous one (epoch 2 again).
      const good = await Deno.readFile(ck);
      const bad = good.slice();
      bad[bad.length - 100] ^= 4;
      await Deno.writeFile(ck, bad);
      // A leftover temporary file of an interrupted write is cleaned up.
      await Deno.writeTextFile(join(dir, ".weights.safetensors.tmp-123-0123abcd"), "half");
      logs.length = 0;
      const r = await run();
      assertEquals(r.epochs_run, 3);
      assert.ok(
        logs.some((l) => /checksum mismatch.*resuming from the previous checkpoint/.test(l)),
        logs.join("\n"),
      );
      assert.ok(logs.some((l) => l.startsWith("resuming default at epoch 2")), logs.join("\n"));
      assert.ok(
        !(await Deno.stat(join(dir, ".weights.safetensors.tmp-123-0123abcd")).catch(() => null)),
      );

      // Both damaged (a truncated latest, a previous missing a tensor): one error naming each.
      await Deno.writeFile(ck, good.subarray(0, good.length - 10));
      const prevFile = await readSafetensors(prev);
      const { adam_v: _, ...rest } = prevFile.tensors;
      const { writeSafetensors } = await import("../src/engine/safetensors.ts");
      await writeSafetensors(prev, rest, prevFile.metadata);
      await Deno.writeTextFile(
        join(dir, "run.yaml"),
        (await Deno.readTextFile(join(dir, "run.yaml"))).replace("epochs: 3", "epochs: 4"),
      );
      const p4 = { ...p, settings: { ...p.settings, epochs: 4 } };
      await assert.rejects(
        runPoint({ ...p4, dir, engine, log: () => {} }),
        /Cannot resume: .*checkpoint\.safetensors: .*truncated or damaged.*; .*checkpoint\.prev\.safetensors: it lacks tensor\(s\) 'adam_v'\. Start this point over with --force/,
      );
    });
  },
);
