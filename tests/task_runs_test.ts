// Run folders as `deno task exp` leaves them when attempts fail, through deno.json's
// permissions: an attempt that does not hold a folder's lock writes nothing there; a failure
// under the lock keeps the run's provenance, so a rerun on other dataset files is refused.
import assert from "node:assert/strict";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { GPU_TEST } from "./_compare.ts";
import { writeFakeFmnist } from "./_data.ts";
import { lockHolder } from "./_runs.ts";
import { runTask, withUserFolder } from "./_task.ts";

const RUN = "runs/tiny/default";

Deno.test(
  "an attempt that fails before it holds the lock writes nothing into the run folder",
  GPU_TEST,
  async () => {
    await withUserFolder(async (dir) => {
      // Stopped after one epoch: a checkpoint, and run.yaml with provenance and fingerprint.
      const first = await runTask("exp", ["tiny.yaml", "--max-epochs", "1"], { cwd: dir });
      assert.equal(first.code, 0, first.stderr);
      const before = await Deno.readTextFile(join(dir, RUN, "run.yaml"));
      assert.match(before, /^provenance:/m);
      assert.match(before, /^fingerprint:/m);
      // A missing data folder fails before the lock is taken: nothing is written.
      const bad = await runTask("exp", ["tiny.yaml", "data_dir=/nonexistent", "--json"], {
        cwd: dir,
      });
      assert.equal(bad.code, 1, bad.stderr);
      assert.match(bad.stderr, /default: failed: data_dir: expected an existing folder/);
      assert.match(bad.stdout, /"event":"point_failed"/);
      assert.equal(await Deno.readTextFile(join(dir, RUN, "run.yaml")), before);
      // The same while another runner holds the folder: still nothing written.
      const other = await lockHolder(join(dir, RUN));
      try {
        const busy = await runTask("exp", ["tiny.yaml", "data_dir=/nonexistent"], { cwd: dir });
        assert.equal(busy.code, 1, busy.stderr);
        assert.equal(await Deno.readTextFile(join(dir, RUN, "run.yaml")), before);
      } finally {
        other.kill("SIGKILL");
        await other.status;
      }
      // Other dataset files under the same data_dir: refused, naming them, folder untouched.
      await Deno.remove(join(dir, "data"), { recursive: true });
      await writeFakeFmnist(join(dir, "data"), 320, 96, 7);
      const other2 = await runTask("exp", ["tiny.yaml"], { cwd: dir });
      assert.equal(other2.code, 1, other2.stderr);
      assert.match(other2.stderr, /dataset files \(SHA-256\)/);
      assert.equal(await Deno.readTextFile(join(dir, RUN, "run.yaml")), before);
    });
  },
);

Deno.test(
  "a failure under the lock is recorded and keeps the run's provenance and fingerprint",
  GPU_TEST,
  async () => {
    await withUserFolder(async (dir) => {
      const first = await runTask("exp", ["tiny.yaml", "--max-epochs", "1"], { cwd: dir });
      assert.equal(first.code, 0, first.stderr);
      const before = await Deno.readTextFile(join(dir, RUN, "run.yaml"));
      // The data folder is there but its files are not: the attempt fails holding the lock.
      await Deno.remove(join(dir, "data", "t10k-images-idx3-ubyte"));
      const bad = await runTask("exp", ["tiny.yaml"], { cwd: dir });
      assert.equal(bad.code, 1, bad.stderr);
      const after = await Deno.readTextFile(join(dir, RUN, "run.yaml"));
      assert.match(after, /state: failed/);
      assert.match(after, /t10k-images-idx3-ubyte/);
      const [was, now] = [parseYaml(before), parseYaml(after)];
      for (const section of ["provenance", "fingerprint", "results"]) {
        assert.ok(was[section], section);
        assert.deepEqual(now[section], was[section], `${section} is kept`);
      }
    });
  },
);

Deno.test(
  "a 3 GB all-zero checkpoint is rejected from its header, not read whole",
  GPU_TEST,
  async () => {
    await withUserFolder(async (dir) => {
      const first = await runTask("exp", ["tiny.yaml", "--max-epochs", "1"], { cwd: dir });
      assert.equal(first.code, 0, first.stderr);
      for (const f of ["checkpoint.safetensors", "checkpoint.prev.safetensors"]) {
        const path = join(dir, RUN, f);
        await Deno.remove(path).catch(() => {});
        const file = await Deno.open(path, { write: true, create: true });
        await file.truncate(3 * 2 ** 30); // sparse: 3 GiB of zeros without using the disk
        file.close();
      }
      const t0 = performance.now();
      const r = await runTask("exp", ["tiny.yaml"], { cwd: dir });
      const seconds = (performance.now() - t0) / 1000;
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /header is not valid JSON/);
      assert.ok(seconds < 15, `took ${seconds.toFixed(1)} s`);
    });
  },
);

Deno.test(
  "a done run whose weights were deleted is not skipped: written again from its checkpoint",
  GPU_TEST,
  async () => {
    await withUserFolder(async (dir) => {
      const first = await runTask("exp", ["tiny.yaml"], { cwd: dir });
      assert.equal(first.code, 0, first.stderr);
      const weights = join(dir, RUN, "weights.safetensors");
      const bytes = await Deno.readFile(weights);
      const metrics = await Deno.readTextFile(join(dir, RUN, "metrics.jsonl"));
      await Deno.remove(weights);
      const again = await runTask("exp", ["tiny.yaml"], { cwd: dir });
      assert.equal(again.code, 0, again.stderr);
      assert.match(
        again.stderr,
        /weights\.safetensors is missing: written again from the checkpoint/,
      );
      assert.doesNotMatch(again.stderr, /epoch \d+: loss/, "no epoch is trained again");
      // The same best weights (the safetensors checksum in the metadata covers the tensors).
      const tensors = (b: Uint8Array) => {
        const n = Number(new DataView(b.buffer).getBigUint64(0, true));
        return b.subarray(8 + n);
      };
      assert.deepEqual(tensors(await Deno.readFile(weights)), tensors(bytes));
      assert.equal(await Deno.readTextFile(join(dir, RUN, "metrics.jsonl")), metrics);
      // Without the checkpoint either, it is trained again.
      await Deno.remove(weights);
      for (const f of ["checkpoint.safetensors", "checkpoint.prev.safetensors"]) {
        await Deno.remove(join(dir, RUN, f)).catch(() => {});
      }
      const fresh = await runTask("exp", ["tiny.yaml"], { cwd: dir });
      assert.equal(fresh.code, 0, fresh.stderr);
      assert.match(fresh.stderr, /the checkpoint are missing: trained again/);
      assert.ok(await Deno.stat(weights));
    });
  },
);

Deno.test("--max-epochs: the run is reported stopped, not done", GPU_TEST, async () => {
  await withUserFolder(async (dir) => {
    const r = await runTask("exp", ["tiny.yaml", "--max-epochs", "1", "--json"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /default: stopped after epoch 1 \(--max-epochs 1; run again without it/);
    assert.doesNotMatch(r.stderr, /default: done/);
    assert.match(
      r.stdout,
      /"event":"point_finished","time":"[^"]+","id":"default","state":"stopped"/,
    );
    assert.match(await Deno.readTextFile(join(dir, RUN, "run.yaml")), /state: stopped/);
  });
});

Deno.test(
  "eval on a run folder holding another network's weights warns, naming both",
  GPU_TEST,
  async () => {
    await withUserFolder(async (dir) => {
      assert.equal(
        (await runTask("exp", ["tiny.yaml", "--max-epochs", "1"], { cwd: dir })).code,
        0,
      );
      const other = await runTask("exp", ["tiny.yaml", "arch=P2-4C3-P2", "--max-epochs", "1"], {
        cwd: dir,
      });
      assert.equal(other.code, 0, other.stderr);
      await Deno.copyFile(
        join(dir, "runs/tiny/arch=P2-4C3-P2/weights.safetensors"),
        join(dir, RUN, "weights.safetensors"),
      );
      const r = await runTask("eval", [RUN], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stderr,
        /warning: .*weights\.safetensors holds another network than .*run\.yaml says: arch 'P2-4C3-P2', expected 'P2-8C3-P2'/,
      );
      assert.match(
        r.stderr,
        /warning: .* comes from run 'arch=P2-4C3-P2', but .* is run 'default'/,
      );
    });
  },
);

Deno.test(
  "a network too large for the adapter's buffers says so, not 'use a smaller batch'",
  GPU_TEST,
  async () => {
    await withUserFolder(async (dir) => {
      // 196 inputs x 20,000,000 features and their readout: 16.5 GB of float32 parameters, over any adapter's
      // largest buffer (128 MiB on CPU drivers, 2 GiB on an H200).
      const r = await runTask("exp", ["tiny.yaml", "arch=P2-20000000F", "batch_size=1"], {
        cwd: dir,
      });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /Cannot allocate params: .*the network has 4,120,000,000 parameters/);
      assert.match(r.stderr, /use fewer or smaller layers/);
      assert.doesNotMatch(r.stderr, /smaller batch/);
    });
  },
);
