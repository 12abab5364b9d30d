// The schedulers' promotion rules against schedules computed by hand on
// synthetic learning curves, through the pure rules and through the worker
// with its state files.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  bestJob,
  epochsTrained,
  type Job,
  nextCandidates,
  rungEpochs,
} from "../src/search/schedule.ts";
import { readJobs } from "../src/search/state.ts";
import { runWorker } from "../src/search/worker.ts";
import { curveResult, plansOf, simulate } from "./_search.ts";

// Nine trials, reduction 3, rungs of 1, 3 and 9 epochs. The curve of trial i gives its
// metric at the end of rung 0, 1 and 2 (constant in between, so a rung's best is its last).
const CURVES: Record<number, [number, number, number]> = {
  0: [0.50, 0.60, 0.70],
  1: [0.40, 0.70, 0.80],
  2: [0.60, 0.65, 0.66],
  3: [0.62, 0.75, 0.90],
  4: [0.30, 0.40, 0.50],
  5: [0.65, 0.66, 0.67],
  6: [0.45, 0.50, 0.55],
  7: [0.70, 0.72, 0.74],
  8: [0.20, 0.30, 0.40],
};
const at = (job: Job, epochs: number) => CURVES[job.index][epochs >= 9 ? 2 : epochs >= 3 ? 1 : 0];

// By hand, with ASHA's rule (a trial is promotable from rung k when it is among the best
// floor(n_k / 3) of the n_k trials that finished rung k and is not promoted yet; the top
// rung is looked at first; else a new trial):
//  t0 r0 .50 (n0=1, keep 0) | t1 r0 .40 (n0=2, 0) | t2 r0 .60 (n0=3, keep 1: t2)
//  t2 r1 .65 (n1=1)         | t3 r0 .62 (n0=4, keep 1: t3, not t2 any more)
//  t3 r1 .75 (n1=2, keep 0) | t4 r0 .30 (n0=5, keep 1: t3, promoted)
//  t5 r0 .65 (n0=6, keep 2: t5 t3) -> t5 r1 .66 (n1=3, keep 1: t3 .75) -> t3 r2 .90 (top)
//  t6 r0 .45 (n0=7, keep 2: t5 t3) | t7 r0 .70 (n0=8, keep 2: t7 t5) -> t7 r1 .72
//  (n1=4, keep 1: t3, done) | t8 r0 .20 (n0=9, keep 3: t7 t5 t3, all promoted): complete.
// t2 was promoted while it was the best of three; it is no longer among the best 3 of 9
// (ASHA's price for never waiting).
const ASHA_ORDER = [
  "t0000.0",
  "t0001.0",
  "t0002.0",
  "t0002.1",
  "t0003.0",
  "t0003.1",
  "t0004.0",
  "t0005.0",
  "t0005.1",
  "t0003.2",
  "t0006.0",
  "t0007.0",
  "t0007.1",
  "t0008.0",
];

const ASHA = {
  epochs: 9,
  search: {
    trials: 9,
    scheduler: "asha",
    min_epochs: 1,
    reduction: 3,
    space: { lr: { log_uniform: [1e-4, 1e-2] } },
  },
};

Deno.test("rungs: min * reduction^k below epochs, then epochs", () => {
  assert.deepEqual(rungEpochs(1, 3, 9), [1, 3, 9]);
  assert.deepEqual(rungEpochs(1, 3, 27), [1, 3, 9, 27]);
  assert.deepEqual(rungEpochs(2, 2, 20), [2, 4, 8, 16, 20]);
  assert.deepEqual(rungEpochs(5, 3, 5), [5]);
  const [none] = plansOf({ ...ASHA, search: { ...ASHA.search, scheduler: "none" } });
  assert.deepEqual(none.schedule.rungs, [9]);
  assert.throws(
    () => plansOf({ ...ASHA, epochs: 2, search: { ...ASHA.search, min_epochs: 3 } }),
    /search.min_epochs: expected at most epochs \(2\), got 3/,
  );
});

Deno.test("ASHA, one worker: the hand-computed schedule on synthetic curves", () => {
  const [plan] = plansOf(ASHA);
  const { order, jobs } = simulate(plan, at);
  assert.deepEqual(order.map((j) => `${j.trial}.${j.rung}`), ASHA_ORDER);
  assert.deepEqual(order.map((j) => j.epochs), order.map((j) => [1, 3, 9][j.rung]));
  const best = bestJob(plan.schedule, jobs)!;
  assert.equal(best.trial, "t0003");
  assert.equal(best.result!.value, 0.90);
  // Epochs trained: 1 for t0, t1, t4, t6 and t8, 3 for t2, t5 and t7, 9 for t3.
  assert.equal(epochsTrained(jobs), 5 * 1 + 3 * 3 + 9);
  // Without a scheduler, the same trials each train 9 epochs.
  const [full] = plansOf({ ...ASHA, search: { ...ASHA.search, scheduler: "none" } });
  const f = simulate(full, at);
  assert.equal(epochsTrained(f.jobs), 81);
  assert.equal(bestJob(full.schedule, f.jobs)!.trial, "t0003");
  assert.deepEqual(
    f.jobs.map((j) => j.point),
    jobs.filter((j) => j.rung === 0).map((j) => j.point),
  );
});

Deno.test("ASHA: the worker with its state files takes the same jobs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "firstspike_search_" });
  try {
    const [plan] = plansOf(ASHA, dir);
    const order: string[] = [];
    const summary = await runWorker({
      plans: [plan],
      train: (p, job, started) => {
        started();
        order.push(`${job.trial}.${job.rung}`);
        return Promise.resolve(curveResult(p, job, at));
      },
    });
    assert.deepEqual(summary, { jobs: ASHA_ORDER.length, failed: 0, complete: true });
    assert.deepEqual(order, ASHA_ORDER);
    const jobs = await readJobs(plan.stateDir);
    assert.equal(jobs.length, ASHA_ORDER.length);
    assert.ok(jobs.every((j) => j.result));
    assert.equal(plan.stateDir, join(dir, "s", "search", "default"));
    // Run again: complete, nothing to train.
    const again = await runWorker({
      plans: [plan],
      train: () => Promise.reject(new Error("trained twice")),
    });
    assert.deepEqual(again, { jobs: 0, failed: 0, complete: true });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ASHA: minimised metrics rank the other way; failed and early-stopped trials", () => {
  const [loss] = plansOf({ ...ASHA, search: { ...ASHA.search, metric: "val_loss" } });
  // Loss = 1 - the accuracy curve: the same ranking, so the same schedule.
  const { order } = simulate(loss, (j, e) => 1 - at(j, e));
  assert.deepEqual(order.map((j) => `${j.trial}.${j.rung}`), ASHA_ORDER);

  const [plan] = plansOf(ASHA);
  const r = (index: number, value: number | null, final = value === null): Job => ({
    trial: `t${index}`,
    index,
    rung: 0,
    epochs: 1,
    bracket: 0,
    point: {},
    result: {
      state: value === null ? "failed" : final ? "done" : "pruned",
      value,
      epochs_run: 1,
      final,
    },
  });
  const next = (jobs: Job[]) =>
    nextCandidates(plan.schedule, jobs).map((c) =>
      c.kind === "new" ? `new ${c.index}` : `${c.kind} ${c.job.trial} to ${c.job.rung}`
    );
  // Failed trials are never promoted, even when they are all there is.
  assert.deepEqual(next([r(0, null), r(1, null), r(2, null)]), ["new 3"]);
  // A trial that stopped early (final) keeps its place among the best, unpromoted.
  const early = [r(0, 0.9, true), r(1, 0.5), r(2, 0.4)];
  assert.deepEqual(next(early), ["new 3"]);
  // n0 = 6 keeps 2: t0 (final) and t5, which is promoted.
  assert.deepEqual(next([...early, r(3, 0.3), r(4, 0.2), r(5, 0.6)]), [
    "promote t5 to 1",
    "new 6",
  ]);
  // An unfinished job comes first: a worker resumes it before anything else.
  const open = { ...r(6, 0.1), result: undefined };
  assert.deepEqual(next([...early, open]), ["resume t6 to 0", "new 3"]);
  // The best: a final trial counts at the top rung.
  assert.equal(bestJob(plan.schedule, early)!.trial, "t0");
});

// Hyperband with reduction 2 and rungs of 1, 2 and 4 epochs (K = 2): one iteration deals
// n_b = ceil(3 / (3 - b) * 2^(2 - b)) trials to bracket b: 4 start at 1 epoch, 3 at 2, 3 at 4.
// Trial i's metric is Q[i] at every rung (so each rung ranks as Q does).
const Q = [0.5, 0.8, 0.6, 0.7, 0.3, 0.9, 0.4, 0.2, 0.1, 0.95];
// By hand (a bracket's trials compete only with each other; rungs looked at top down):
//  b0: t0 r0 .5 | t1 r0 .8 (n=2, keep 1: t1) -> t1 r1 | t2 r0 .6 | t3 r0 .7 (n=4, keep 2:
//  t1 t3) -> t3 r1 (b0 r1: n=2, keep 1: t1) -> t1 r2
//  b1 starts at r1: t4 r1 .3 | t5 r1 .9 (b1 r1: n=2, keep 1: t5) -> t5 r2 | t6 r1 .4
//  b2 starts at r2: t7 r2, t8 r2, t9 r2; complete.
const HB_ORDER = [
  "t0000.0",
  "t0001.0",
  "t0001.1",
  "t0002.0",
  "t0003.0",
  "t0003.1",
  "t0001.2",
  "t0004.1",
  "t0005.1",
  "t0005.2",
  "t0006.1",
  "t0007.2",
  "t0008.2",
  "t0009.2",
];

Deno.test("Hyperband, one worker: brackets dealt and promoted as computed by hand", () => {
  const [plan] = plansOf({
    epochs: 4,
    search: {
      trials: 10,
      scheduler: "hyperband",
      min_epochs: 1,
      reduction: 2,
      space: { lr: { log_uniform: [1e-4, 1e-2] } },
    },
  });
  assert.deepEqual(plan.schedule.rungs, [1, 2, 4]);
  assert.deepEqual(plan.schedule.deal, [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]);
  const { order, jobs } = simulate(plan, (j) => Q[j.index]);
  assert.deepEqual(order.map((j) => `${j.trial}.${j.rung}`), HB_ORDER);
  assert.deepEqual(order.map((j) => j.epochs), order.map((j) => [1, 2, 4][j.rung]));
  assert.equal(bestJob(plan.schedule, jobs)!.trial, "t0009");
});

Deno.test("Hyperband's deal for reduction 3 and three rungs: 9, 5 and 3 trials", () => {
  const [plan] = plansOf({
    epochs: 9,
    search: { trials: 40, scheduler: "hyperband", space: { lr: { uniform: [1e-4, 1e-2] } } },
  });
  const counts = [0, 1, 2].map((b) => plan.schedule.deal.filter((x) => x === b).length);
  assert.deepEqual(counts, [9, 5, 3]);
});
