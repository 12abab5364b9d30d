// Evaluating saved weights: a run folder's weights give exactly the numbers
// its training recorded for its best epoch; the weights file alone carries
// what is needed (metadata round trip); `deno task eval --json` parses.
import assert from "node:assert/strict";
import { join } from "node:path";
import YAML from "yaml";
import { expandGrid } from "../src/experiment/grid.ts";
import { runPoint } from "../src/run/train.ts";
import {
  classNames,
  evalIndices,
  type EvalResult,
  evalTarget,
  evaluate,
  formatEvaluation,
} from "../src/run/evaluate.ts";
import { readSafetensors } from "../src/engine/safetensors.ts";
import { weightsInfo } from "../src/engine/weights.ts";
import { loadDataset } from "../src/data/datasets.ts";
import { tinyExperiment, withTempDir, writeFakeFmnist } from "./_data.ts";
import { GPU_TEST, testEngine } from "./_compare.ts";
import { runTask } from "./_task.ts";

/** The metrics.jsonl record of the epoch whose weights a run kept. */
async function bestRecord(dir: string) {
  const run = YAML.parse(await Deno.readTextFile(join(dir, "run.yaml")));
  const lines = (await Deno.readTextFile(join(dir, "metrics.jsonl"))).trim().split("\n")
    .map((l) => JSON.parse(l));
  return lines[run.results.best_epoch - 1];
}

function assertSameAsTraining(
  r: EvalResult,
  rec: Record<string, any>,
  split: "test" | "val",
  samples: number,
) {
  assert.equal(r.samples, samples);
  assert.equal(r.accuracy, rec[`${split}_acc`]);
  assert.equal(r.loss, rec[`${split}_loss`]);
  // The confusion matrix counts every sample once and agrees with the GPU's accuracy.
  const total = r.confusion.flat().reduce((a, b) => a + b, 0);
  const correct = r.confusion.reduce((a, row, k) => a + row[k], 0);
  assert.equal(total, samples);
  assert.equal(correct / total, r.accuracy);
}

Deno.test(
  "eval: a run's weights give its recorded best-epoch test and validation numbers; the file alone too",
  GPU_TEST,
  async () => {
    const engine = await testEngine();
    await withTempDir(async (tmp) => {
      const dataDir = join(tmp, "data");
      await writeFakeFmnist(dataDir);
      const exp = tinyExperiment(dataDir);
      const [p] = expandGrid(exp);
      const dir = join(tmp, "run");
      await runPoint({ ...p, dir, engine, log: () => {} });
      const rec = await bestRecord(dir);

      const target = await evalTarget(dir);
      assert.equal(target.run, "default");
      const test = await evaluate(target, { engine, log: () => {} });
      assertSameAsTraining(test, rec, "test", 96);
      // Spike statistics are the test evaluation's, layer by layer.
      assert.equal(test.spikes_per_sample, rec.spikes_per_sample);
      assert.deepEqual(
        test.layers.map((l) => [l.index, l.token, l.firing, l.mean_time, l.hist]),
        rec.layers.map((l: any) => [l.index, l.token, l.firing, l.mean_time, l.hist]),
      );
      // The rows of the confusion matrix are the test set's class counts.
      const testSet = await loadDataset("fmnist", "test", { dir: dataDir, log: () => {} });
      const perClass = new Array(10).fill(0);
      for (const y of testSet.labels) perClass[y]++;
      assert.deepEqual(test.confusion.map((row) => row.reduce((a, b) => a + b, 0)), perClass);

      const val = await evaluate(target, { split: "val", engine, log: () => {} });
      assertSameAsTraining(val, rec, "val", Math.floor(320 * 0.2));

      // The weights file alone: its metadata says everything, and gives the same numbers.
      const lone = join(tmp, "lone.safetensors");
      await Deno.copyFile(join(dir, "weights.safetensors"), lone);
      const { metadata } = await readSafetensors(lone);
      const info = weightsInfo(metadata, lone);
      assert.deepEqual(
        [info.arch, info.inputShape, info.classes, info.tWin, info.readout, info.normalize],
        ["P2-32F", [1, 28, 28], 10, 1, "potential", null],
      );
      assert.deepEqual(
        [
          info.dataset,
          metadata.run,
          metadata.seed,
          metadata.validation_fraction,
          metadata.batch_size,
        ],
        ["fmnist", "default", "7", "0.2", "32"],
      );
      assert.deepEqual(JSON.parse(metadata.layers).map((l: any) => l.kind), [
        "pool",
        "linear",
        "readout",
      ]);
      const alone = await evalTarget(lone, { dataDir });
      assert.equal(alone.runDir, null);
      const loneTest = await evaluate(alone, { engine, log: () => {} });
      assert.deepEqual({ ...loneTest, weights: "" }, { ...test, weights: "" });
      const loneVal = await evaluate(alone, { split: "val", engine, log: () => {} });
      assert.deepEqual({ ...loneVal, weights: "" }, { ...val, weights: "" });

      // `deno task eval --json` on the run folder prints JSON with the same numbers.
      const out = await runTask("eval", [dir, "--json"], { inside: true });
      assert.equal(out.code, 0, out.stderr);
      const json = JSON.parse(out.stdout);
      assert.equal(json.accuracy, test.accuracy);
      assert.equal(json.loss, test.loss);
      assert.deepEqual(json.confusion, test.confusion);
      assert.deepEqual(json.class_names, classNames("fmnist", 10));
      assert.equal(test.class_names[0], "T-shirt/top");
      assert.match(out.stderr, /^adapter: .+/m);
    });
  },
);

Deno.test("eval: which samples each split takes; a lone file without split metadata has no val", () => {
  const split = { seed: 7, validation_fraction: 0.25, train_subset: null, test_subset: 5 };
  const t = { weights: "w.safetensors", split };
  assert.deepEqual([...evalIndices(t, "test", { train: 0, test: 9 })], [0, 1, 2, 3, 4]);
  const val = evalIndices(t, "val", { train: 20, test: 0 });
  const train = evalIndices(t, "train", { train: 20, test: 0 });
  assert.equal(val.length, 5);
  assert.equal(train.length, 15);
  assert.deepEqual(
    [...val, ...train].sort((a, b) => a - b),
    Array.from({ length: 20 }, (_, i) => i),
  );
  assert.throws(
    () => evalIndices({ weights: "w.safetensors", split: null }, "val", { train: 20, test: 0 }),
    /Cannot evaluate 'w\.safetensors' on the validation split: its metadata does not say/,
  );
  assert.throws(
    () =>
      evalIndices({ weights: "w", split: { ...split, validation_fraction: 0 } }, "val", {
        train: 4,
        test: 0,
      }),
    /held out no validation samples/,
  );
});

Deno.test("deno task eval: a path that is no run folder or weights file is a usage error (exit 2)", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "run.yaml"), "not: [a run\n");
    const cases: [string, RegExp][] = [
      [
        join(dir, "nope"),
        /^deno task eval: Cannot evaluate '.+nope': expected a run folder or a weights file/m,
      ],
      [dir, /^deno task eval: .+run\.yaml:2:1: YAML syntax error/m],
    ];
    for (const [path, message] of cases) {
      const out = await runTask("eval", [path], { inside: true });
      assert.equal(out.code, 2, `${path}: ${out.stderr}`);
      assert.match(out.stderr, message);
    }
  });
});

Deno.test("eval: the confusion matrix names the classes and gives each one's recall", () => {
  // Fashion-MNIST, 3 samples per class: class k is right k % 3 times, else predicted k + 1.
  const confusion = Array.from({ length: 10 }, (_, t) => {
    const row = new Array(10).fill(0);
    row[t] = t % 3;
    row[(t + 1) % 10] += 3 - (t % 3);
    return row;
  });
  const r: EvalResult = {
    weights: "w.safetensors",
    run: null,
    dataset: "fmnist",
    split: "test",
    samples: 30,
    accuracy: 9 / 30,
    loss: 1,
    spikes_per_sample: 10,
    layers: [],
    classes: 10,
    class_names: classNames("fmnist", 10),
    confusion,
    adapter: "x",
  };
  const lines = formatEvaluation(r).split("\n");
  const at = lines.findIndex((l) => l.startsWith("confusion matrix"));
  assert.ok(at > 0);
  const header = lines[at + 1], rows = lines.slice(at + 2);
  assert.equal(rows.length, 10);
  assert.match(header, /^\s+0\s+1\s+2\s+3\s+4\s+5\s+6\s+7\s+8\s+9\s+recall$/);
  // Row labels: the label and the name; then the counts; recall = row[t] / 3.
  const cells = (l: string) => l.trim().split(/\s+/);
  assert.ok(rows[0].startsWith("0 T-shirt/top "), rows[0]);
  assert.deepEqual(cells(rows[0]).slice(2), [
    "0",
    "3",
    "0",
    "0",
    "0",
    "0",
    "0",
    "0",
    "0",
    "0",
    "0.00%",
  ]);
  assert.ok(rows[9].startsWith("9 Ankle boot "), rows[9]);
  assert.deepEqual(cells(rows[9]).slice(-1), ["0.00%"]);
  assert.deepEqual(cells(rows[2]).slice(-1), ["66.67%"]);
  assert.deepEqual(cells(rows[1]).slice(-1), ["33.33%"]);
  // Every row is as wide as the header: the columns line up.
  for (const row of rows) assert.equal(row.length, header.length, row);
  // A network whose classes the dataset does not name: labels only.
  assert.deepEqual(classNames("cifar100", 10), ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
  assert.equal(classNames("cifar100", 100)[99], "worm");
  const plain = formatEvaluation({ ...r, class_names: classNames("cifar100", 10) });
  assert.match(plain, /\n0 {4}\s+0\s+3\s/);
});
