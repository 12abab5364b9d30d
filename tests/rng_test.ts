import assert from "node:assert/strict";
import { kaimingNormal, Rng } from "../src/util/rng.ts";

Deno.test("xoshiro128** core matches the reference C implementation", () => {
  // Expected values printed by the authors' reference xoshiro128starstar.c
  // (compiled with gcc) started from state {1, 2, 3, 4}.
  const r = Rng.fromState([1, 2, 3, 4, 0, 0]);
  const got = Array.from({ length: 8 }, () => r.nextU32());
  assert.deepEqual(got, [
    11520,
    0,
    5927040,
    70819200,
    2031721883,
    1637235492,
    1287239034,
    3734860849,
  ]);
});

Deno.test("seeded streams are fixed (values cross-checked with an independent Python port)", () => {
  const a = new Rng(42);
  assert.deepEqual(
    Array.from({ length: 5 }, () => a.nextU32()),
    [4028452981, 1728466427, 2602216039, 2376777727, 3663948994],
  );
  const b = new Rng(42);
  assert.equal(b.next(), 0.9379472986045475);
  assert.equal(b.next(), 0.6058756377800306);
  const c = new Rng(42);
  assert.equal(c.normal(), -1.8551022816613103);
  assert.equal(c.normal(), -1.455382420384268);
  assert.equal(new Rng(-1).nextU32(), 2942002509);
  assert.equal(new Rng(2 ** 40 + 3).nextU32(), 85051716);
  assert.equal(new Rng(42).fork("init").nextU32(), 801039963);
  assert.equal(new Rng(42).fork(1).nextU32(), 3879705421);
  assert.deepEqual(Array.from(new Rng(7).permutation(10)), [0, 5, 4, 6, 1, 7, 2, 8, 9, 3]);
});

Deno.test("same seed gives same numbers, different seeds differ", () => {
  const a = new Rng(123), b = new Rng(123), c = new Rng(124);
  const xa = Array.from({ length: 100 }, () => a.nextU32());
  const xb = Array.from({ length: 100 }, () => b.nextU32());
  const xc = Array.from({ length: 100 }, () => c.nextU32());
  assert.deepEqual(xa, xb);
  assert.notDeepEqual(xa, xc);
  // seeds 0 and 2^32 must not collide (high word is used)
  assert.notEqual(new Rng(0).nextU32(), new Rng(2 ** 32).nextU32());
});

Deno.test("state round-trip continues identically, including the cached normal", () => {
  const r = new Rng(9);
  for (let i = 0; i < 17; i++) r.nextU32();
  r.normal(); // leaves a spare normal cached
  const saved = JSON.parse(JSON.stringify(r.state()));
  assert.equal(saved[4], 1);
  const q = Rng.fromState(saved);
  for (let i = 0; i < 200; i++) {
    assert.equal(q.normal(), r.normal());
    assert.equal(q.next(), r.next());
    assert.equal(q.int(1000), r.int(1000));
  }
  assert.deepEqual(Array.from(q.permutation(50)), Array.from(r.permutation(50)));
  assert.deepEqual(q.state(), r.state());
});

Deno.test("fromState rejects malformed states", () => {
  assert.throws(() => Rng.fromState([1, 2, 3]), /expected state of 6 numbers/);
  assert.throws(() => Rng.fromState([1, 2, 3, 2 ** 32, 0, 0]), /state word 3/);
  assert.throws(() => Rng.fromState([1, 2.5, 3, 4, 0, 0]), /state word 1/);
  assert.throws(() => Rng.fromState([0, 0, 0, 0, 0, 0]), /not all zero/);
  assert.throws(() => Rng.fromState([1, 2, 3, 4, 2, 0]), /has spare normal/);
  assert.throws(() => Rng.fromState([1, 2, 3, 4, 1, NaN]), /spare normal/);
});

Deno.test("constructor and fork reject non-integer seeds", () => {
  assert.throws(() => new Rng(1.5), /seed expected a safe integer, got 1.5/);
  assert.throws(() => new Rng(NaN), /got NaN/);
  assert.throws(() => new Rng(2 ** 60), /safe integer/);
  assert.throws(() => new Rng(1).fork(0.5), /fork stream/);
});

Deno.test("next() lies in [0, 1) and uses more than 32 bits", () => {
  const r = new Rng(5);
  let finer = 0;
  for (let i = 0; i < 10000; i++) {
    const x = r.next();
    assert.ok(x >= 0 && x < 1, `next() gave ${x}`);
    if (x * 2 ** 32 !== Math.floor(x * 2 ** 32)) finer++;
  }
  assert.ok(finer > 9900, `only ${finer} of 10000 values had bits beyond 2^-32`);
});

Deno.test("int(n) stays in bounds for small, 32-bit and 53-bit n", () => {
  const r = new Rng(11);
  for (const n of [1, 2, 3, 7, 10, 1000, 2 ** 31 + 1, 2 ** 32, 2 ** 32 + 5, 2 ** 40 + 7, 2 ** 53]) {
    for (let i = 0; i < 2000; i++) {
      const x = r.int(n);
      assert.ok(Number.isInteger(x) && x >= 0 && x < n, `int(${n}) gave ${x}`);
    }
  }
  assert.equal(r.int(1), 0);
  for (const bad of [0, -3, 2.5, NaN, 2 ** 53 + 2]) {
    assert.throws(() => r.int(bad), /Rng.int: expected an integer n/);
  }
});

Deno.test("int(n) is roughly uniform (chi-square) and has no modulo bias", () => {
  const r = new Rng(2024);
  const counts = new Array(10).fill(0);
  const draws = 100000;
  for (let i = 0; i < draws; i++) counts[r.int(10)]++;
  const e = draws / 10;
  const chi2 = counts.reduce((s, c) => s + (c - e) ** 2 / e, 0);
  assert.ok(chi2 < 27.88, `chi-square ${chi2} over the 99.9% quantile (df 9); counts ${counts}`);

  // n = 3 * 2^30: a plain `u32 % n` would give values below 2^30 with probability 1/2.
  const n = 3 * 2 ** 30;
  let low = 0;
  const m = 30000;
  for (let i = 0; i < m; i++) if (r.int(n) < 2 ** 30) low++;
  assert.ok(Math.abs(low / m - 1 / 3) < 0.015, `fraction below 2^30 is ${low / m}, expected 1/3`);

  // 53-bit path: top half must be hit about half the time.
  let high = 0;
  for (let i = 0; i < m; i++) if (r.int(2 ** 50) >= 2 ** 49) high++;
  assert.ok(Math.abs(high / m - 0.5) < 0.015, `fraction in the upper half is ${high / m}`);
});

Deno.test("normal() has mean 0, std 1 and the Gaussian one-sigma mass on 1e5 samples", () => {
  const r = new Rng(77);
  const n = 100000;
  let s = 0, s2 = 0, within = 0;
  for (let i = 0; i < n; i++) {
    const x = r.normal();
    s += x;
    s2 += x * x;
    if (Math.abs(x) < 1) within++;
  }
  const mean = s / n;
  const std = Math.sqrt(s2 / n - mean * mean);
  // standard errors: mean 0.0032, std 0.0022, mass 0.0015
  assert.ok(Math.abs(mean) < 0.015, `mean ${mean}`);
  assert.ok(Math.abs(std - 1) < 0.01, `std ${std}`);
  assert.ok(Math.abs(within / n - 0.682689) < 0.007, `P(|x|<1) = ${within / n}`);
});

Deno.test("permutation is a permutation; shuffle covers all orders uniformly", () => {
  const r = new Rng(3);
  for (const n of [0, 1, 2, 10, 1000]) {
    const p = r.permutation(n);
    assert.ok(p instanceof Uint32Array);
    assert.equal(p.length, n);
    const sorted = Array.from(p).sort((a, b) => a - b);
    assert.deepEqual(sorted, Array.from({ length: n }, (_, i) => i));
  }
  assert.notDeepEqual(
    Array.from(new Rng(1).permutation(20)),
    Array.from(new Rng(2).permutation(20)),
  );

  const counts = new Map<string, number>();
  const trials = 60000;
  for (let i = 0; i < trials; i++) {
    const a = ["a", "b", "c"];
    r.shuffle(a);
    const k = a.join("");
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  assert.equal(counts.size, 6);
  const e = trials / 6;
  let chi2 = 0;
  for (const c of counts.values()) chi2 += (c - e) ** 2 / e;
  assert.ok(chi2 < 20.52, `chi-square ${chi2} over the 99.9% quantile (df 5)`);
  assert.throws(() => r.permutation(-1), /Rng.permutation/);
});

Deno.test("fork does not advance the parent; streams are reproducible and distinct", () => {
  const r = new Rng(8);
  r.nextU32();
  const before = r.state();
  const f1 = r.fork("data"), f2 = r.fork("data"), g = r.fork("init"), h = r.fork(0);
  assert.deepEqual(r.state(), before);
  const xs = (q: Rng) => Array.from({ length: 20 }, () => q.nextU32());
  const a = xs(f1);
  assert.deepEqual(xs(f2), a);
  assert.notDeepEqual(xs(g), a);
  assert.notDeepEqual(xs(h), a);
  assert.notDeepEqual(xs(r.fork("0")), xs(r.fork(0)));
  assert.notDeepEqual(xs(r.fork(1)), xs(r));
});

Deno.test("kaimingNormal: size, float32 values of rng.normal() * sqrt(2/fanIn), std", () => {
  const shape = [64, 32, 3, 3];
  const fanIn = 32 * 9;
  const w = kaimingNormal(shape, fanIn, new Rng(5));
  assert.ok(w instanceof Float32Array);
  assert.equal(w.length, 64 * 32 * 9);
  const ref = new Rng(5);
  const sd = Math.sqrt(2 / fanIn);
  for (let i = 0; i < 100; i++) assert.equal(w[i], Math.fround(ref.normal() * sd));
  let s = 0, s2 = 0;
  for (const x of w) {
    s += x;
    s2 += x * x;
  }
  const mean = s / w.length;
  const std = Math.sqrt(s2 / w.length - mean * mean);
  // n = 18432: relative std error of the std is about 0.5%
  assert.ok(Math.abs(std / sd - 1) < 0.025, `std ${std}, expected ${sd}`);
  assert.ok(Math.abs(mean) < 5 * sd / Math.sqrt(w.length), `mean ${mean}`);
  assert.equal(kaimingNormal([0, 3], 3, new Rng(1)).length, 0);
  assert.throws(() => kaimingNormal([2, 2], 0, new Rng(1)), /expected fanIn > 0, got 0/);
  assert.throws(() => kaimingNormal([2, -1], 2, new Rng(1)), /got \[2, -1\]/);
});
