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
