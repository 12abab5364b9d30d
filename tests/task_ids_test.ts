// Run ids as users meet them through `deno task exp`: a point's folder depends on its
// settings, not on the order of the arguments or how a number is written; an override equal
// to the file's value is no override (finished work is not trained again); folders made
// under the ids of an older firstspike are found.
import assert from "node:assert/strict";
import { join } from "node:path";
import { GPU_TEST } from "./_compare.ts";
import { runTask, withUserFolder } from "./_task.ts";

/** The ids and states `--dry-run` lists. */
async function listed(dir: string, args: string[]): Promise<string[]> {
  const r = await runTask("exp", ["tiny.yaml", ...args, "--dry-run"], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  // One tab-separated line per point, then the shared settings, the estimate and the count.
  return r.stdout.trim().split("\n").filter((l) => l.includes("\t"))
    .map((l) => l.split("\t").slice(0, 2).join(" "));
}

Deno.test(
  "deno task exp: canonical ids; the file's own values and finished work are not trained again",
  GPU_TEST,
  async () => {
    await withUserFolder(async (dir) => {
      const first = await runTask("exp", ["tiny.yaml"], { cwd: dir });
      assert.equal(first.code, 0, first.stderr);
      // seed 0 is the file's: the same run, skipped as done.
      const same = await runTask("exp", ["tiny.yaml", "seed=0"], { cwd: dir });
      assert.equal(same.code, 0, same.stderr);
      assert.match(same.stderr, /default: done, skipped/);
      assert.deepEqual(await listed(dir, ["seed=0,1"]), ["default done", "seed1 pending"]);
      // Order and spelling of the arguments do not matter.
      const a = await runTask("exp", ["tiny.yaml", "lr=0.01", "seed=1", "--max-epochs", "1"], {
        cwd: dir,
      });
      assert.equal(a.code, 0, a.stderr);
      assert.ok(await Deno.stat(join(dir, "runs/tiny/lr1e-2_seed1/run.yaml")));
      assert.deepEqual(await listed(dir, ["seed=1", "lr=1e-2", "--max-epochs", "1"]), [
        "lr1e-2_seed1 stopped at --max-epochs 1; raise or drop the cut to continue",
      ]);
      assert.deepEqual(await listed(dir, ["seed=1", "lr=1.0e-2", "--max-epochs", "1"]), [
        "lr1e-2_seed1 stopped at --max-epochs 1; raise or drop the cut to continue",
      ]);
      // A folder named by an older firstspike (lr0.01 before the argument that came first) is
      // found where it is and continued, not trained again beside it.
      await Deno.rename(join(dir, "runs/tiny/lr1e-2_seed1"), join(dir, "runs/tiny/lr0.01_seed1"));
      const found = await runTask("exp", ["tiny.yaml", "seed=1", "lr=0.01"], { cwd: dir });
      assert.equal(found.code, 0, found.stderr);
      assert.match(found.stderr, /lr1e-2_seed1: its run is in runs\/tiny\/lr0\.01_seed1/);
      assert.match(
        found.stderr,
        /running in runs\/tiny\/lr0\.01_seed1 \(continuing a run stopped at --max-epochs 1\)/,
      );
      assert.deepEqual(
        [...Deno.readDirSync(join(dir, "runs/tiny"))].map((e) => e.name).sort(),
        ["default", "lr0.01_seed1"],
      );
    });
  },
);
