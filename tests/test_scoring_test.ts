// test_each_epoch: false scores the test set once, at the end, on the best-validation
// weights: the same weights as when it is scored every epoch, the same test accuracy and
// spikes in run.yaml (those of the best epoch, not the last), the numbers eval gives; the
// per-epoch records carry no test score and say their spike statistics are validation's.
// It only changes what is recorded: not in the id, not in a grid, and a run continues
// when it changes.
import assert from "node:assert/strict";
import { join } from "node:path";
import YAML from "yaml";
import { expandGrid } from "../src/experiment/grid.ts";
import { runPoint } from "../src/run/train.ts";
import { evalTarget, evaluate } from "../src/run/evaluate.ts";
import { tinyExperiment, weightsOf, withTempDir, writeFakeFmnist } from "./_data.ts";
import { GPU_TEST, testEngine } from "./_compare.ts";
import { runTask, withUserFolder } from "./_task.ts";

async function records(dir: string) {
  return (await Deno.readTextFile(join(dir, "metrics.jsonl"))).trim().split("\n")
    .map((l) => JSON.parse(l));
}

Deno.test(
  "test_each_epoch: false: the best epoch's weights scored once, equal to scoring every epoch",
  GPU_TEST,
  async () => {
    const engine = await testEngine();
    await withTempDir(async (tmp) => {
      await writeFakeFmnist(join(tmp, "data"));
      // A high learning rate: validation peaks at epoch 2 of 5, so the best epoch is not the last.
      const run = async (each: boolean) => {
        const [p] = expandGrid(
          tinyExperiment(join(tmp, "data"), { lr: 0.3, epochs: 5, test_each_epoch: each }),
        );
        const dir = join(tmp, String(each));
        const r = await runPoint({ ...p, dir, engine, log: () => {} });
        return { r, dir, recs: await records(dir) };
      };
      const every = await run(true), end = await run(false);
      assert.ok(
        every.r.best_epoch < every.r.epochs_run,
        `precondition: the best epoch (${every.r.best_epoch}) is not the last`,
      );
      const last = every.recs[every.recs.length - 1];
      assert.notEqual(last.test_acc, every.r.test_acc, "precondition: the last epoch scores other");
      // Scoring the test set never changes the weights or the validation that chose them.
      assert.deepEqual(await weightsOf(end.dir), await weightsOf(every.dir));
      assert.equal(end.r.best_epoch, every.r.best_epoch);
      assert.equal(end.r.best_val_acc, every.r.best_val_acc);
      // The results describe the best epoch's weights, as when scored every epoch.
      assert.equal(end.r.test_acc, every.r.test_acc);
      assert.equal(end.r.spikes_per_sample, every.r.spikes_per_sample);
      const yaml = YAML.parse(await Deno.readTextFile(join(end.dir, "run.yaml")));
      assert.equal(yaml.results.test_acc, every.r.test_acc);
      assert.equal(yaml.test_each_epoch, false);
      // The records: no test score; spike statistics of the validation set, said so.
      for (const [i, rec] of end.recs.entries()) {
        assert.equal(rec.test_acc, null);
        assert.equal(rec.test_loss, null);
        assert.equal(rec.stats_split, "val");
        assert.equal(rec.val_acc, every.recs[i].val_acc);
        assert.equal(rec.train_loss, every.recs[i].train_loss);
        assert.ok(rec.spikes_per_sample > 0 && rec.layers.length === 1);
      }
      for (const rec of every.recs) assert.equal(rec.stats_split, "test");
      // eval on the folder gives the numbers run.yaml records.
      const test = await evaluate(await evalTarget(end.dir), { engine, log: () => {} });
      assert.equal(test.accuracy, end.r.test_acc);
      assert.equal(test.spikes_per_sample, end.r.spikes_per_sample);
    });
  },
);

Deno.test(
  "test_each_epoch: no id of its own, not in a grid; a run continues when it changes",
  GPU_TEST,
  async () => {
    await withUserFolder(async (dir) => {
      const dry = await runTask("exp", ["tiny.yaml", "test_each_epoch=false", "--dry-run"], {
        cwd: dir,
      });
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, /^default\t/);
      const sweep = await runTask("exp", ["tiny.yaml", "test_each_epoch=true,false"], {
        cwd: dir,
      });
      assert.equal(sweep.code, 2);
      assert.match(sweep.stderr, /test_each_epoch: cannot be swept \(expected one value, got 2\)/);
      await Deno.writeTextFile(
        join(dir, "g.yaml"),
        "dataset: fmnist\narch: 8F\ngrid:\n  test_each_epoch: [true, false]\n",
      );
      const grid = await runTask("exp", ["g.yaml", "--dry-run"], { cwd: dir });
      assert.equal(grid.code, 2);
      assert.match(grid.stderr, /grid\.test_each_epoch: cannot be varied in a grid/);
      // One epoch scoring the test set, one without: one run, continued.
      const a = await runTask("exp", ["tiny.yaml", "--max-epochs", "1"], { cwd: dir });
      assert.equal(a.code, 0, a.stderr);
      const b = await runTask("exp", ["tiny.yaml", "test_each_epoch=false"], { cwd: dir });
      assert.equal(b.code, 0, b.stderr);
      assert.match(b.stderr, /resuming default at epoch 2/);
      const recs = await records(join(dir, "runs/tiny/default"));
      assert.deepEqual(recs.map((r) => r.test_acc === null), [false, true]);
      const y = YAML.parse(await Deno.readTextFile(join(dir, "runs/tiny/default/run.yaml")));
      assert.equal(typeof y.results.test_acc, "number");
      // The epoch line says the spikes are validation's and shows no test score.
      assert.match(b.stderr, /epoch 2: loss \S+ train \S+% val \S+% spikes\/sample \S+ \(val\) lr/);
    });
  },
);
