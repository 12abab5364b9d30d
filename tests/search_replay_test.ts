// tasks/search_replay.ts: a finished `scheduler: none` search written in the real formats
// (search.json, job files, metrics.jsonl) from synthetic curves, replayed with ASHA in the
// drawn order and in a permuted one, against schedules computed by hand.
import assert from "node:assert/strict";
import { join } from "node:path";
import type { EpochRecord } from "../src/run/records.ts";
import type { Job } from "../src/search/schedule.ts";
import { createJob, finishJob, openSearch, searchHeader } from "../src/search/state.ts";
import { candidateJob } from "../src/search/worker.ts";
import {
  quantile,
  readFullSearch,
  replayOrder,
  replayPlan,
  replayResult,
} from "../tasks/search_replay.ts";
import { plansOf } from "./_search.ts";

// Validation accuracy of trial i at epochs 1..9; test accuracy is val - 0.02 but for t6,
// whose best validation epoch (5) is not its best test epoch (6 to 9). Epoch seconds 10 + i.
const VAL: number[][] = [
  [.50, .52, .54, .56, .58, .60, .62, .64, .66],
  [.60, .62, .63, .64, .65, .66, .67, .68, .69],
  [.70, .72, .74, .76, .78, .80, .81, .82, .83],
  [.55, .58, .60, .62, .64, .66, .68, .70, .72],
  [.65, .70, .72, .74, .76, .78, .80, .82, .84],
  [.80, .81, .82, .83, .84, .85, .86, .87, .88],
  [.52, .60, .93, .94, .95, .94, .93, .93, .93],
  [.45, .50, .55, .60, .65, .70, .75, .80, .85],
  [.75, .85, .86, .87, .88, .90, .89, .89, .89],
];
const TEST6 = [.50, .58, .90, .90, .91, .92, .92, .92, .92];
const testAt = (i: number, e: number) => (i === 6 ? TEST6[e - 1] : VAL[i][e - 1] - 0.02);

/** Writes the full search into `root/syn` as the worker and runPoint write them. */
async function writeFull(root: string, scheduler = "none") {
  const [plan] = plansOf({
    name: "syn",
    epochs: 9,
    validation_fraction: 0.1,
    search: { trials: 9, scheduler, space: { lr: { log_uniform: [1e-4, 1e-2] } } },
  }, root);
  await openSearch(
    plan.stateDir,
    searchHeader(plan.gridId, plan.gridPoint, plan.spec, plan.schedule, plan.settings),
  );
  for (let i = 0; i < 9; i++) {
    const job = candidateJob(plan, { kind: "new", index: i, bracket: 0, rung: 0, epochs: 9 }, []);
    const best = VAL[i].indexOf(Math.max(...VAL[i])) + 1; // the first epoch of the highest
    await createJob(plan.stateDir, job);
    await finishJob(plan.stateDir, job, {
      state: "done",
      value: Math.max(...VAL[i]),
      epochs_run: 9,
      final: true,
      test_acc: testAt(i, best),
      best_epoch: best,
    });
    const dir = join(root, "syn", job.trial);
    await Deno.mkdir(dir, { recursive: true });
    const lines = VAL[i].map((v, k) =>
      JSON.stringify({
        epoch: k + 1,
        lr: job.point.lr,
        steps: 10,
        train_loss: 1 - v,
        train_acc: v,
        val_loss: 1 - v,
        val_acc: v,
        test_loss: 1 - v,
        test_acc: testAt(i, k + 1),
        seconds: 10 + i,
        spikes_per_sample: 100,
        layers: [],
      }) + "\n"
    );
    await Deno.writeTextFile(join(dir, "metrics.jsonl"), lines.join(""));
  }
  return join(root, "syn");
}

/** The replay's jobs as `curve trial.rung`, sorted. */
const jobsOf = (jobs: Job[], order: number[]) =>
  jobs.map((j) => `t${order[j.index]}.r${j.rung}`).sort();

Deno.test("replay: the drawn order and a permuted one against ASHA schedules by hand", async () => {
  const root = await Deno.makeTempDir();
  try {
    const full = await readFullSearch(await writeFull(root));
    assert.equal(full.curves.length, 9);
    assert.equal(full.best.trial, "t0006"); // val .95, the highest
    assert.equal(full.best.result!.test_acc, 0.91);
    const plan = replayPlan(full, "asha", join(root, "state"));
    assert.deepEqual(plan.schedule.rungs, [1, 3, 9]);

    // Drawn order: rung 0 values .50 .60 .70 .55 .65 .80 .52 .45 .75. After t2, floor(3/3) = 1
    // keeps t2 (-> r1 .74); after t5, floor(6/3) = 2 keeps t5 and t2 (t5 -> r1 .82); after t8,
    // 3 keep t5 t8 t2 (t8 -> r1 .86); rung 1 (t2 .74, t5 .82, t8 .86) keeps t8 (-> r2 .90).
    // 9 + 3 * 2 + 6 = 21 epochs; seconds 126 (rung 0) + 2 * (12 + 15 + 18) + 6 * 18 = 324.
    const id = [0, 1, 2, 3, 4, 5, 6, 7, 8];
    const a = await replayOrder(plan, full, id);
    assert.deepEqual(
      jobsOf(a.jobs, id),
      [
        ...id.map((i) => `t${i}.r0`),
        "t2.r1",
        "t5.r1",
        "t8.r1",
        "t8.r2",
      ].sort(),
    );
    assert.equal(a.epochs, 21);
    assert.equal(a.seconds, 324);
    assert.equal(a.bestTrial, "t0008");
    assert.equal(a.best.result!.value, 0.90);
    assert.equal(a.best.result!.test_acc, VAL[8][5] - 0.02); // epoch 6, its best validation one
    assert.equal(a.fullBestRung, 0);
    assert.equal(a.fullBestPruned, true);
    // The worker's job files were in plan.stateDir, removed afterwards.
    await assert.rejects(Deno.stat(join(root, "state")), Deno.errors.NotFound);

    // Permuted: positions hold t0 t6 t7 t3 t4 t5 t1 t2 t8 (.50 .52 .45 .55 .65 .80 .60 .70
    // .75). After 3, t6 (.52) is kept -> r1 .93; after 4, t3 (.55) -> r1 .60; after 5, t4
    // (.65) -> r1 .72; rung 1 (n=3, keep 1) sends t6 to r2 (.95 at epoch 5); after 6, t5 ->
    // r1 .82; after 8, t2 (.70 now in the best 2) -> r1 .74; after 9, t8 -> r1 .86; rung 1
    // (n=6, keep 2: t6 .93, t8 .86) sends t8 to r2. 9 + 6 * 2 + 2 * 6 = 33 epochs; seconds
    // 126 + 2 * (16 + 13 + 14 + 15 + 12 + 18) + 6 * (16 + 18) = 506. Best: t6, test .91.
    const perm = [0, 6, 7, 3, 4, 5, 1, 2, 8];
    const b = await replayOrder({ ...plan, stateDir: join(root, "state2") }, full, perm);
    assert.deepEqual(
      jobsOf(b.jobs, perm),
      [
        ...id.map((i) => `t${i}.r0`),
        "t6.r1",
        "t3.r1",
        "t4.r1",
        "t5.r1",
        "t2.r1",
        "t8.r1",
        "t6.r2",
        "t8.r2",
      ].sort(),
    );
    assert.equal(b.epochs, 33);
    assert.equal(b.seconds, 506);
    assert.equal(b.bestTrial, "t0006");
    assert.equal(b.best.result!.value, 0.95);
    assert.equal(b.best.result!.test_acc, 0.91); // epoch 5, not the later .92
    assert.equal(b.best.result!.best_epoch, 5);
    assert.equal(b.fullBestRung, 2);
    assert.equal(b.fullBestPruned, false);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("replay: refuses a scheduled search, and a curve that disagrees with its job", async () => {
  const root = await Deno.makeTempDir();
  try {
    await assert.rejects(
      readFullSearch(await writeFull(join(root, "a"), "asha")),
      /expected a search with scheduler none .* got "asha"/,
    );
    const dir = await writeFull(join(root, "b"));
    const file = join(dir, "t0003", "metrics.jsonl");
    const text = await Deno.readTextFile(file);
    await Deno.writeTextFile(file, text.replace('"val_acc":0.72', '"val_acc":0.73'));
    await assert.rejects(readFullSearch(dir), /t0003: its curve gives .*the search recorded/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("replayResult: a rung's value, test at the best validation epoch, ends", () => {
  const rec = (epoch: number, val_acc: number | null, test_acc: number, val_loss = 1) =>
    ({ epoch, val_acc, test_acc, val_loss, train_acc: 0.5, seconds: 1 }) as EpochRecord;
  const records = [rec(1, 0.5, 0.4, 0.9), rec(2, 0.7, 0.6, 0.8), rec(3, 0.7, 0.7, 0.7)];
  const curve = { trial: "t0000", index: 0, records, epochs: 3, end: "done" as const };
  const job = (epochs: number) => ({ trial: "t0000", epochs });
  // A tie keeps the first epoch (train.ts keeps the weights only on a strict improvement).
  assert.deepEqual(replayResult(curve, job(3), 9, "val_acc"), {
    state: "pruned",
    value: 0.7,
    epochs_run: 3,
    final: false,
    test_acc: 0.6,
    best_epoch: 2,
  });
  // A loss is minimised; the test accuracy still follows validation accuracy.
  assert.equal(replayResult(curve, job(3), 9, "val_loss").value, 0.7);
  assert.equal(replayResult(curve, job(3), 9, "val_loss").test_acc, 0.6);
  // Ended early after 3 epochs: a job to 9 ends there, final; a job to 1 is pruned.
  const ended = { ...curve, end: "ended" as const };
  assert.deepEqual(
    [replayResult(ended, job(9), 9, "val_acc")].map((r) => [r.state, r.final, r.epochs_run]),
    [["done", true, 3]],
  );
  assert.equal(replayResult(ended, job(1), 9, "val_acc").state, "pruned");
  // Failed after 2 whole epochs: a job to 1 trains, one to 3 fails.
  const failed = { ...curve, records: records.slice(0, 2), epochs: 2, end: "failed" as const };
  assert.equal(replayResult(failed, job(1), 9, "val_acc").value, 0.5);
  assert.deepEqual(
    [replayResult(failed, job(3), 9, "val_acc")].map((r) => [r.state, r.value, r.epochs_run]),
    [["failed", null, 2]],
  );
  // Without a validation split, the run keeps its last epoch.
  const noVal = { ...curve, records: records.map((r) => ({ ...r, val_acc: null })) };
  assert.equal(replayResult(noVal, job(3), 9, "train_acc").best_epoch, 3);
});

Deno.test("quantile: linear between order statistics", () => {
  assert.equal(quantile([3, 1, 2, 4], 0.5), 2.5);
  assert.equal(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9), 9.1);
  assert.equal(quantile([5], 0.9), 5);
});
