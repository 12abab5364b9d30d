// Learning-rate schedules: the rates against hand-computed ones, each rate reaching the
// optimiser at its own step (two SGD steps equal the reference's with those rates, and
// not with the rates of a wrong schedule), the schedule in the fingerprint (a changed
// schedule refuses to continue a run, through deno task), and the warnings about settings
// a schedule does not read.
import assert from "node:assert/strict";
import { join } from "node:path";
import { DEFAULTS, type Experiment, experimentWarnings } from "../src/experiment/config.ts";
import { expandGrid } from "../src/experiment/grid.ts";
import { learningRate, type ScheduleSettings, warmupSteps } from "../src/run/lr_schedule.ts";
import { fingerprint, settingChanges } from "../src/run/fingerprint.ts";
import { runPoint } from "../src/run/train.ts";
import { readSafetensors, writeSafetensors } from "../src/engine/safetensors.ts";
import { planModel } from "../src/engine/spec.ts";
import { loadDataset } from "../src/data/datasets.ts";
import { encode, trainStepRef } from "../src/reference/mod.ts";
import { kaimingNormal, Rng } from "../src/util/rng.ts";
import { tinyExperiment, withTempDir, writeFakeFmnist } from "./_data.ts";
import { assertClose, GPU_TEST, testEngine } from "./_compare.ts";
import { runTask, withUserFolder } from "./_task.ts";

const base: ScheduleSettings = { ...DEFAULTS, lr: 1, epochs: 2 };

/** The rates of every step of a run of `epochs` epochs of `steps` steps. */
function rates(s: Partial<ScheduleSettings>, steps: number): number[] {
  const all = { ...base, ...s };
  const out: number[] = [];
  for (let e = 0; e < all.epochs; e++) {
    for (let i = 0; i < steps; i++) out.push(learningRate(all, steps, e, i));
  }
  return out;
}

function close(got: number[], want: number[], what: string) {
  assert.equal(got.length, want.length, what);
  got.forEach((g, i) =>
    assert.ok(Math.abs(g - want[i]) <= 1e-15, `${what}: step ${i}: expected ${want[i]}, got ${g}`)
  );
}

Deno.test("exponential: lr * annealing^epoch, the same all epoch (the reference's)", () => {
  const s = { lr: 0.01, annealing: 0.5, epochs: 3 };
  assert.deepEqual(rates(s, 2), [0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025]);
  // Exactly the expression the loop used before schedules (bit for bit, so runs stay equal).
  const d = { ...base, lr: 1e-4, annealing: 0.999, epochs: 1000 };
  for (const e of [0, 1, 7, 999]) assert.equal(learningRate(d, 211, e, 100), 1e-4 * 0.999 ** e);
});

Deno.test("step: lr * lr_gamma per milestone passed; [1, 3] lowers epochs 2 and 4", () => {
  const s = { lr: 0.8, lr_schedule: "step" as const, lr_milestones: [1, 3], lr_gamma: 0.5 };
  assert.deepEqual(rates({ ...s, epochs: 5 }, 1), [0.8, 0.4, 0.4, 0.2, 0.2]);
  assert.deepEqual(rates({ ...s, lr_milestones: [], epochs: 3 }, 2), [
    0.8,
    0.8,
    0.8,
    0.8,
    0.8,
    0.8,
  ]);
});

Deno.test("cosine: a half cosine over all steps of all epochs, from lr towards lr_min", () => {
  // 2 epochs of 4 steps: T = 8, rate (1 + cos(pi t / 8)) / 2, written out.
  close(rates({ lr_schedule: "cosine" }, 4), [
    1,
    0.9619397662556434,
    0.8535533905932737,
    0.6913417161825449,
    0.5,
    0.3086582838174551,
    0.14644660940672627,
    0.03806023374435663,
  ], "cosine");
  // With lr_min 0.2 and lr 0.6: 0.2 + 0.4 * the same.
  close(rates({ lr_schedule: "cosine", lr: 0.6, lr_min: 0.2 }, 4).slice(3, 5), [
    0.2 + 0.4 * 0.6913417161825449,
    0.4,
  ], "cosine to lr_min");
});

Deno.test("warm-up: (t + 1) / W of the schedule's rate for the first W steps, across epochs", () => {
  assert.equal(warmupSteps({ warmup_epochs: 0 }, 10), 0);
  assert.equal(warmupSteps({ warmup_epochs: 0.5 }, 10), 5);
  assert.equal(warmupSteps({ warmup_epochs: 0.01 }, 10), 1, "at least one step");
  assert.equal(warmupSteps({ warmup_epochs: 1.5 }, 4), 6);
  // exponential, annealing 0.5, W = 6 over epochs of 4 steps: epoch 2 starts at 0.5 * 5/6.
  close(rates({ warmup_epochs: 1.5, annealing: 0.5 }, 4), [
    1 / 6,
    2 / 6,
    3 / 6,
    4 / 6,
    0.5 * 5 / 6,
    0.5,
    0.5,
    0.5,
  ], "warm-up");
  // cosine after a warm-up of W = 2 of T = 8 steps: p = (t - 2) / 6.
  close(rates({ lr_schedule: "cosine", warmup_epochs: 0.5 }, 4), [
    0.5,
    1,
    1,
    (1 + Math.cos(Math.PI / 6)) / 2,
    (1 + Math.cos(Math.PI * 2 / 6)) / 2,
    0.5,
    (1 + Math.cos(Math.PI * 4 / 6)) / 2,
    (1 + Math.cos(Math.PI * 5 / 6)) / 2,
  ], "warm-up then cosine");
});

Deno.test("the schedule is in the fingerprint; with cosine, epochs is too", () => {
  const s = tinyExperiment("/data").base;
  const cosine: Experiment = { ...s, lr_schedule: "cosine" };
  for (
    const other of [
      cosine,
      { ...s, warmup_epochs: 1 },
      { ...s, lr_schedule: "step", lr_milestones: [2] } as Experiment,
      { ...cosine, lr_min: 1e-5 },
    ]
  ) assert.notEqual(fingerprint(other), fingerprint(s), JSON.stringify(other));
  // A setting the schedule does not read still counts: the run's record must say it.
  assert.notEqual(fingerprint({ ...s, lr_gamma: 0.5 }), fingerprint(s));
  // At their defaults, the new settings leave fingerprints of earlier runs as they were.
  assert.equal(fingerprint(s), fingerprint({ ...s, lr_schedule: "exponential", lr_min: 0 }));
  // epochs extends an exponential run, but is the horizon of a cosine one.
  assert.deepEqual(settingChanges(s, { ...s, epochs: 9 }), []);
  assert.deepEqual(settingChanges(cosine, { ...cosine, epochs: 9 }).map((c) => c.key), ["epochs"]);
  assert.deepEqual(
    settingChanges(cosine, { ...s, epochs: 9 }).map((c) => c.key),
    ["lr_schedule", "epochs"],
  );
  assert.notEqual(fingerprint({ ...cosine, epochs: 9 }), fingerprint(cosine));
  assert.equal(fingerprint({ ...s, epochs: 9 }), fingerprint(s));
  // test_each_epoch changes only what is recorded.
  assert.equal(fingerprint({ ...s, test_each_epoch: false }), fingerprint(s));
  assert.deepEqual(settingChanges(s, { ...s, test_each_epoch: false }), []);
});

Deno.test("warnings: a setting the schedule does not read, a step schedule without milestones", () => {
  const s = tinyExperiment("/data").base;
  assert.deepEqual(experimentWarnings(s), []);
  assert.deepEqual(experimentWarnings({ ...s, lr_schedule: "cosine", annealing: 0.9 }), [
    "annealing 0.9 is read only by lr_schedule exponential; lr_schedule cosine ignores it",
  ]);
  assert.deepEqual(experimentWarnings({ ...s, lr_milestones: [3], lr_min: 1e-6 }), [
    "lr_milestones [3] is read only by lr_schedule step; lr_schedule exponential ignores it",
    "lr_min 0.000001 is read only by lr_schedule cosine; lr_schedule exponential ignores it",
  ]);
  // annealing at its default (unwritten) is no warning.
  assert.deepEqual(experimentWarnings({ ...s, lr_schedule: "step" }), [
    "lr_schedule step without lr_milestones keeps the learning rate constant",
  ]);
  assert.deepEqual(experimentWarnings({ ...s, lr_schedule: "cosine", lr_min: 3e-3 }), [
    "lr_min 0.003 is not below lr 0.003: the cosine schedule does not fall",
  ]);
  assert.deepEqual(experimentWarnings({ ...s, warmup_epochs: 2 }), [
    "warmup_epochs 2 is not shorter than the run (epochs 2): the learning rate never reaches lr",
  ]);
});

Deno.test(
  "each step gets its own rate: two SGD steps equal the reference's with the schedule's rates",
  GPU_TEST,
  async () => {
    const engine = await testEngine();
    await withTempDir(async (tmp) => {
      const data = join(tmp, "data");
      await writeFakeFmnist(data);
      const train = await loadDataset("fmnist", "train", { dir: data, log: () => {} });
      const plan = planModel("P2-16F", [1, 28, 28], 10);
      const rng = new Rng(5);
      const w0 = plan.map((p) =>
        p.weightShape ? Float64Array.from(kaimingNormal(p.weightShape, p.fanIn, rng)) : null
      );
      const init = join(tmp, "init.safetensors");
      const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
      plan.forEach((p, i) => {
        if (p.weightShape) {
          tensors[`layers.${i}.weight`] = { shape: p.weightShape, data: Float32Array.from(w0[i]!) };
        }
      });
      await writeSafetensors(init, tensors);
      /** The reference after two steps of 32 samples (file order) with these rates. */
      const reference = (lrs: number[]) => {
        const w = w0.map((a) => a && Float64Array.from(a));
        lrs.forEach((lr, k) => {
          const x = encode(
            Float64Array.from(
              train.images.subarray(k * 32 * 784, (k + 1) * 32 * 784),
              (v) => Math.fround(v / 255),
            ),
            1,
          );
          const labels = Array.from(train.labels.subarray(k * 32, (k + 1) * 32));
          trainStepRef(plan, w, x, labels, 32, 1, {
            optimizer: "sgd",
            lr,
            weightDecay: 0.1,
            gradClip: 1,
          });
        });
        return w;
      };
      // 320 samples, no validation: 10 steps an epoch. Warm-up of 2 steps: lr/2, then lr.
      // Cosine over 1 epoch (T = 10): lr, then lr (1 + cos(pi / 10)) / 2.
      const lr = 0.5;
      const cases: [Record<string, unknown>, number[], number[]][] = [
        [{ warmup_epochs: 0.2 }, [lr / 2, lr], [lr, lr]],
        [
          { lr_schedule: "cosine", epochs: 1 },
          [lr, lr * (1 + Math.cos(Math.PI / 10)) / 2],
          [lr, lr],
        ],
      ];
      for (const [schedule, want, wrong] of cases) {
        const exp = tinyExperiment(data, {
          arch: "P2-16F",
          optimizer: "sgd",
          lr,
          weight_decay: 0.1,
          max_steps: 2,
          shuffle: false,
          validation_fraction: 0,
          init,
          ...schedule,
        });
        const [p] = expandGrid(exp);
        const dir = join(tmp, JSON.stringify(schedule).replace(/\W+/g, "_"));
        await runPoint({ ...p, dir, engine, log: () => {} });
        const out = await readSafetensors(join(dir, "weights.safetensors"));
        const good = reference(want), bad = reference(wrong);
        plan.forEach((pl, i) => {
          if (!pl.weightShape) return;
          const got = out.tensors[`layers.${i}.weight`].data;
          assertClose(`layer ${i}, ${JSON.stringify(schedule)}`, got, good[i]!, 1e-5);
          assert.throws(
            () => assertClose("with the wrong rates", got, bad[i]!, 1e-5),
            /relative error/,
            "the test tells the rates apart",
          );
        });
        const rec = JSON.parse(await Deno.readTextFile(join(dir, "metrics.jsonl")));
        assert.equal(rec.lr, want[0], "metrics.jsonl records the epoch's first rate");
      }
    });
  },
);

Deno.test(
  "deno task exp: a changed schedule refuses to continue a run; with cosine, so do more epochs",
  GPU_TEST,
  async () => {
    await withUserFolder(async (dir) => {
      const file = (extra: string) =>
        Deno.writeTextFile(
          join(dir, "s.yaml"),
          `dataset: fmnist\ndata_dir: data\narch: P4-8F\nbatch_size: 64\n${extra}`,
        );
      await file("epochs: 2\nlr_schedule: cosine\nwarmup_epochs: 0.5\n");
      const first = await runTask("exp", ["s.yaml", "--max-epochs", "1"], { cwd: dir });
      assert.equal(first.code, 0, first.stderr);
      const run = await Deno.readTextFile(join(dir, "runs/s/default/run.yaml"));
      assert.match(run, /^lr_schedule: cosine$/m);
      assert.match(run, /^warmup_epochs: 0\.5$/m);
      await file("epochs: 2\nlr_schedule: cosine\nwarmup_epochs: 1\n");
      const warm = await runTask("exp", ["s.yaml"], { cwd: dir });
      assert.equal(warm.code, 1, warm.stderr);
      assert.match(warm.stderr, /its settings differ from this run's \(warmup_epochs: 0\.5 -> 1\)/);
      await file("epochs: 3\nlr_schedule: cosine\nwarmup_epochs: 0.5\n");
      const longer = await runTask("exp", ["s.yaml"], { cwd: dir });
      assert.equal(longer.code, 1, longer.stderr);
      assert.match(longer.stderr, /\(epochs: 2 -> 3\)/);
      // The same schedule continues where it stopped.
      await file("epochs: 2\nlr_schedule: cosine\nwarmup_epochs: 0.5\n");
      const same = await runTask("exp", ["s.yaml"], { cwd: dir });
      assert.equal(same.code, 0, same.stderr);
      assert.match(same.stderr, /resuming default at epoch 2/);
    });
  },
);
