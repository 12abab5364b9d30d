// The samplers draw what their distributions say: Kolmogorov-Smirnov and chi-square
// tests on many draws, the Sobol sequence's net property, reproducibility by seed,
// and TPE against random sampling on a seeded synthetic objective.
import assert from "node:assert/strict";
import { sampleTrial, unitPoint } from "../src/search/samplers.ts";
import { sobolPoint } from "../src/search/sobol.ts";
import { fromUnit, toUnit } from "../src/search/space.ts";
import type { Distribution } from "../src/experiment/search_spec.ts";
import { bestScore, plansOf, simulate } from "./_search.ts";

const N = 4000;

/** Kolmogorov-Smirnov distance between samples and a CDF. */
function ks(samples: number[], cdf: (x: number) => number): number {
  const xs = [...samples].sort((a, b) => a - b);
  let d = 0;
  xs.forEach((x, i) => {
    const f = cdf(x);
    d = Math.max(d, Math.abs(f - i / xs.length), Math.abs((i + 1) / xs.length - f));
  });
  return d;
}
// The KS statistic exceeds 1.95 / sqrt(n) with probability 0.1% for a correct sampler (0.1%
// per check, since each test makes a dozen: a correct sampler fails one of them with ~1%).
const KS_LIMIT = 1.95 / Math.sqrt(N);

/** Pearson's chi-square of counts against probabilities. */
function chiSquare(counts: number[], probs: number[]): number {
  const n = counts.reduce((a, b) => a + b, 0);
  return counts.reduce((s, c, i) => s + (c - n * probs[i]) ** 2 / (n * probs[i]), 0);
}
// 0.1% points of chi-square with k - 1 degrees of freedom.
const CHI2_LIMIT: Record<number, number> = { 1: 10.83, 2: 13.82, 7: 24.32, 15: 37.70 };

function draws(sampler: "random" | "sobol", space: Record<string, unknown>, seed = 0) {
  const [plan] = plansOf({ search: { trials: N, sampler, seed, space } });
  return Array.from({ length: N }, (_, i) => sampleTrial(plan.spec, i, []));
}

for (const sampler of ["random", "sobol"] as const) {
  Deno.test(`${sampler}: uniform, log_uniform, int, log int and choice draw their distributions`, () => {
    const d = draws(sampler, {
      annealing: { uniform: [0.5, 1.0] },
      lr: { log_uniform: [1e-4, 1e-2] },
      batch_size: { int: [16, 23] },
      train_subset: { int: [1, 16], log: true },
      optimizer: { choice: ["adam", "sgd"] },
      weight_decay: { choice: [0, 0.01, 0.1] },
    });
    const ann = d.map((v) => v.annealing as number);
    assert.ok(ann.every((x) => x >= 0.5 && x <= 1.0));
    assert.ok(
      ks(ann, (x) => (x - 0.5) / 0.5) < KS_LIMIT,
      `uniform KS ${ks(ann, (x) => (x - 0.5) / 0.5)}`,
    );
    const lr = d.map((v) => v.lr as number);
    assert.ok(lr.every((x) => x >= 1e-4 && x <= 1e-2));
    const logCdf = (x: number) => (Math.log10(x) + 4) / 2;
    assert.ok(ks(lr, logCdf) < KS_LIMIT, `log_uniform KS ${ks(lr, logCdf)}`);
    // Not uniform on the plain scale: half the draws lie below 1e-3.
    assert.ok(Math.abs(lr.filter((x) => x < 1e-3).length / N - 0.5) < 0.03);
    // int [16, 23]: each of the 8 values, both ends included, with 1/8.
    const bs = d.map((v) => v.batch_size as number);
    assert.ok(bs.every((x) => Number.isInteger(x) && x >= 16 && x <= 23));
    const bsCounts = Array.from({ length: 8 }, (_, k) => bs.filter((x) => x === 16 + k).length);
    assert.ok(chiSquare(bsCounts, Array(8).fill(1 / 8)) < CHI2_LIMIT[7], `int ${bsCounts}`);
    // log int [1, 16]: k with probability log((k + 1) / k) / log(17).
    const ts = d.map((v) => v.train_subset as number);
    const tsCounts = Array.from({ length: 16 }, (_, k) => ts.filter((x) => x === k + 1).length);
    const tsProbs = tsCounts.map((_, k) => Math.log((k + 2) / (k + 1)) / Math.log(17));
    assert.ok(chiSquare(tsCounts, tsProbs) < CHI2_LIMIT[15], `log int ${tsCounts}`);
    assert.ok(tsCounts[0] > tsCounts[15] * 8, "log int favours small values");
    const opt = d.map((v) => v.optimizer);
    const optCounts = ["adam", "sgd"].map((c) => opt.filter((x) => x === c).length);
    assert.ok(chiSquare(optCounts, [0.5, 0.5]) < CHI2_LIMIT[1], `choice ${optCounts}`);
    const wd = d.map((v) => v.weight_decay);
    const wdCounts = [0, 0.01, 0.1].map((c) => wd.filter((x) => x === c).length);
    assert.ok(chiSquare(wdCounts, [1 / 3, 1 / 3, 1 / 3]) < CHI2_LIMIT[2], `choice ${wdCounts}`);
  });
}

Deno.test("random: coordinates are independent (no correlation between settings or trials)", () => {
  const d = draws("random", {
    grad_clip: { uniform: [0.1, 1.0] },
    weight_decay: { uniform: [0, 0.9] },
  });
  const a = d.map((v) => (v.grad_clip as number) - 0.1);
  const b = d.map((v) => v.weight_decay as number);
  const corr = (x: number[], y: number[]) => {
    const mx = x.reduce((s, v) => s + v, 0) / x.length,
      my = y.reduce((s, v) => s + v, 0) / y.length;
    let sxy = 0, sxx = 0, syy = 0;
    x.forEach((_, i) => {
      sxy += (x[i] - mx) * (y[i] - my);
      sxx += (x[i] - mx) ** 2;
      syy += (y[i] - my) ** 2;
    });
    return sxy / Math.sqrt(sxx * syy);
  };
  // |r| > 3 / sqrt(n) has probability below 0.3% for independent draws.
  assert.ok(Math.abs(corr(a, b)) < 3 / Math.sqrt(N), `settings ${corr(a, b)}`);
  assert.ok(Math.abs(corr(a.slice(1), a.slice(0, -1))) < 3 / Math.sqrt(N), "successive trials");
});

Deno.test("samplers: the same seed gives the same trials; another seed others; a new key leaves the old", () => {
  for (const sampler of ["random", "sobol", "tpe"] as const) {
    const a = draws(sampler === "tpe" ? "random" : sampler, { lr: { log_uniform: [1e-4, 1e-2] } });
    const b = draws(sampler === "tpe" ? "random" : sampler, { lr: { log_uniform: [1e-4, 1e-2] } });
    assert.deepEqual(a, b);
    const c = draws(
      sampler === "tpe" ? "random" : sampler,
      { lr: { log_uniform: [1e-4, 1e-2] } },
      1,
    );
    assert.ok(a.filter((v, i) => v.lr === c[i].lr).length < N / 100);
  }
  const [one] = plansOf({ search: { trials: 9, space: { lr: { uniform: [0.001, 0.01] } } } });
  const [two] = plansOf({
    search: { trials: 9, space: { lr: { uniform: [0.001, 0.01] }, seed: { int: [0, 9] } } },
  });
  for (let i = 0; i < 9; i++) {
    assert.equal(sampleTrial(one.spec, i, []).lr, sampleTrial(two.spec, i, []).lr);
  }
  // TPE's startup trials are random's.
  const [tpe] = plansOf({
    search: { trials: 9, sampler: "tpe", space: { lr: { uniform: [0.001, 0.01] } } },
  });
  for (let i = 0; i < 9; i++) {
    assert.deepEqual(sampleTrial(tpe.spec, i, []), sampleTrial(one.spec, i, []));
  }
});

Deno.test("sobol: the published first points, and the first 2^m points form (0, m, 2)-nets", () => {
  // Unshifted, as scipy.stats.qmc.Sobol(3, scramble=False) gives them: 0, 1/2, 3/4, 1/4, 3/8,
  // 7/8, 5/8, 1/8 in dimension 1; 0, 1/2, 1/4, 3/4, 3/8, 7/8, 1/8, 5/8 in dimension 2; and
  // 0, 1/2, 1/4, 3/4, 5/8, 1/8, 7/8, 3/8 in dimension 3 (x^2 + x + 1, m = 1, 3).
  const pts = Array.from({ length: 8 }, (_, i) => sobolPoint(i, 3, null));
  assert.deepEqual(pts.map((p) => p[0] * 8), [0, 4, 6, 2, 3, 7, 5, 1]);
  assert.deepEqual(pts.map((p) => p[1] * 8), [0, 4, 2, 6, 3, 7, 1, 5]);
  assert.deepEqual(pts.map((p) => p[2] * 8), [0, 4, 2, 6, 5, 1, 7, 3]);
  // Every pair of the first dimensions: each elementary box of area 2^-m holds exactly
  // one point among the first 2^m (t = 0 for dimensions 1 and 2; any pair: at most 2^t),
  // with and without the digital shift.
  const m = 8, n = 2 ** m;
  for (const seed of [null, 0, 7]) {
    const p = Array.from({ length: n }, (_, i) => sobolPoint(i, 32, seed));
    for (let i = 0; i <= m; i++) {
      const boxes = new Map<string, number>();
      for (const q of p) {
        const key = `${Math.floor(q[0] * 2 ** i)},${Math.floor(q[1] * 2 ** (m - i))}`;
        boxes.set(key, (boxes.get(key) ?? 0) + 1);
      }
      assert.equal(boxes.size, n, `seed ${seed}: 2^${i} x 2^${m - i} boxes`);
    }
    // Each coordinate of all 32 dimensions: one point per interval of 1/2^m.
    for (let j = 0; j < 32; j++) {
      const cells = new Set(p.map((q) => Math.floor(q[j] * n)));
      assert.equal(cells.size, n, `seed ${seed}: dimension ${j + 1}`);
    }
  }
  assert.throws(() => sobolPoint(0, 33, null), /expected 1 to 32 dimensions, got 33/);
});

Deno.test("sobol covers the space more evenly than random draws (lower discrepancy)", () => {
  const space = { grad_clip: { uniform: [0.1, 1.0] }, weight_decay: { uniform: [0, 0.9] } };
  const [sob] = plansOf({ search: { trials: 64, sampler: "sobol", space } });
  const [rnd] = plansOf({ search: { trials: 64, sampler: "random", space } });
  // Largest gap in a 8 x 8 grid of cells: Sobol fills all 64 cells with 64 points.
  const filled = (spec: typeof sob.spec) =>
    new Set(
      Array.from({ length: 64 }, (_, i) => {
        const [u, v] = unitPoint(spec, i);
        return `${Math.floor(u * 8)},${Math.floor(v * 8)}`;
      }),
    ).size;
  assert.equal(filled(sob.spec), 64);
  assert.ok(filled(rnd.spec) < 50, `random filled ${filled(rnd.spec)}`);
});

Deno.test("fromUnit and toUnit: inverse on every distribution, ends included", () => {
  const ds: Distribution[] = [
    { kind: "uniform", low: -1, high: 3 },
    { kind: "log_uniform", low: 1e-5, high: 1 },
    { kind: "int", low: -3, high: 4, log: false },
    { kind: "int", low: 2, high: 300, log: true },
    { kind: "choice", values: ["a", [1, 2], null, 7] },
  ];
  for (const d of ds) {
    for (const u of [0, 1e-9, 0.25, 0.5, 0.999999]) {
      const v = fromUnit(d, u);
      assert.deepEqual(fromUnit(d, toUnit(d, v)), v, `${d.kind} at ${u}`);
    }
  }
  assert.equal(fromUnit(ds[2], 0), -3);
  assert.equal(fromUnit(ds[2], 1 - 1e-12), 4);
  assert.equal(fromUnit(ds[3], 1 - 1e-12), 300);
  assert.equal(fromUnit(ds[1], 0), 1e-5);
  assert.throws(() => fromUnit(ds[0], 1), /expected u in \[0, 1\), got 1/);
  assert.throws(() => toUnit(ds[4], "b"), /Cannot place "b" in the search space/);
  // Reals keep 5 significant digits.
  assert.equal(fromUnit({ kind: "uniform", low: 0, high: 1 }, 1 / 3), 0.33333);
});

// A synthetic objective, not one TPE's constants were chosen on (those were a quadratic and
// a Gaussian peak): a curved valley in log lr and annealing (best lr ~ 2e-3 at annealing
// 0.9, moving with it), a batch size best near 64 on a log scale, a choice with one good
// value of three.
function objective(v: Record<string, unknown>): number {
  const x = Math.log10(v.lr as number) + 2.7 - 1.5 * ((v.annealing as number) - 0.9);
  const y = (v.annealing as number) - 0.9;
  const b = Math.log2(v.batch_size as number) - 6;
  const c = v.shuffle === true ? 0 : v.shuffle === false ? -0.2 : -0.1;
  return Math.exp(-(x * x) / 0.3 - (y * y) / 0.05 - (b * b) / 4) + c;
}
const SPACE = {
  lr: { log_uniform: [1e-5, 1e-1] },
  annealing: { uniform: [0.5, 1.0] },
  batch_size: { int: [16, 512], log: true },
  shuffle: { choice: [false, true, "once"] },
};

Deno.test("TPE finds better points than random sampling with the same budget, averaged over seeds", () => {
  const seeds = 30, trials = 40;
  const diffs: number[] = [];
  let tpeSum = 0, rndSum = 0;
  for (let seed = 0; seed < seeds; seed++) {
    const run = (sampler: string) => {
      const [plan] = plansOf({
        epochs: 1,
        search: { trials, sampler, seed, scheduler: "none", startup_trials: 10, space: SPACE },
      });
      return bestScore(plan, simulate(plan, (job) => objective(job.point)).jobs);
    };
    const tpe = run("tpe"), rnd = run("random");
    tpeSum += tpe;
    rndSum += rnd;
    diffs.push(tpe - rnd);
  }
  const mean = diffs.reduce((a, b) => a + b, 0) / seeds;
  const sd = Math.sqrt(diffs.reduce((s, d) => s + (d - mean) ** 2, 0) / (seeds - 1));
  const t = mean / (sd / Math.sqrt(seeds));
  console.log(
    `best after ${trials} trials, mean of ${seeds} seeds: TPE ${(tpeSum / seeds).toFixed(4)}, ` +
      `random ${(rndSum / seeds).toFixed(4)} (paired t = ${t.toFixed(1)})`,
  );
  // Paired over seeds (TPE's first 10 trials are random's): better by more than three
  // standard errors.
  assert.ok(t > 3, `TPE - random: mean ${mean}, t ${t}`);
});

Deno.test("TPE learns from finished rungs under ASHA: better than random with the same budget", () => {
  // Learning curves: a trial's metric after e epochs approaches its objective.
  const curve = (point: Record<string, unknown>, e: number) => objective(point) - 0.5 / e;
  const seeds = 30;
  const diffs: number[] = [];
  for (let seed = 0; seed < seeds; seed++) {
    const run = (sampler: string) => {
      const [plan] = plansOf({
        epochs: 9,
        search: { trials: 45, sampler, seed, scheduler: "asha", startup_trials: 10, space: SPACE },
      });
      const { jobs } = simulate(plan, (job, e) => curve(job.point, e));
      return bestScore(plan, jobs);
    };
    diffs.push(run("tpe") - run("random"));
  }
  const mean = diffs.reduce((a, b) => a + b, 0) / seeds;
  const sd = Math.sqrt(diffs.reduce((s, d) => s + (d - mean) ** 2, 0) / (seeds - 1));
  const t = mean / (sd / Math.sqrt(seeds));
  console.log(
    `ASHA, 45 trials: TPE - random, mean over ${seeds} seeds ${mean.toFixed(4)} (t = ${
      t.toFixed(1)
    })`,
  );
  assert.ok(t > 3, `TPE - random under ASHA: mean ${mean}, t ${t}`);
});
