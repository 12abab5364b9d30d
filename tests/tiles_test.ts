/**
 * Tile and split choices (pure functions of the shapes and the device):
 * the largest tile that fills the device, the most workgroups when none
 * does, the device's workgroup-memory limit respected, split-K only where
 * the output is too small.
 */

import assert from "node:assert/strict";
import {
  chooseDirectTile,
  chooseTile,
  directTile,
  FILL_WORKGROUPS,
  forwardSplits,
  gemmShape,
  namedTile,
  tileBytes,
  TILES,
  uniformWindows,
  weightSplits,
} from "../src/engine/layers.ts";
import { planModel } from "../src/engine/spec.ts";
import { expandRepeats } from "../src/engine/kernels.ts";

Deno.test("chooseTile: the largest tile that fills the device, else the most workgroups", () => {
  // vgg7's second convolution at batch 256: M = 128, N = 262144.
  assert.equal(chooseTile(128, 262144, true).name, "128x64");
  assert.equal(chooseTile(128, 262144, false).name, "128x128");
  // A readout: 10 x 256 outputs cannot fill anything; 32x32 gives the most workgroups.
  assert.equal(chooseTile(10, 256, false).name, "32x32");
  // A CPU driver (nothing counts as filled) always takes the most workgroups.
  assert.equal(chooseTile(128, 262144, true, Infinity).name, "32x32");
  for (const [m, n] of [[64, 1024], [512, 4096], [1000, 300]]) {
    const t = chooseTile(m, n, false);
    const groups = Math.ceil(m / t.bm) * Math.ceil(n / t.bn);
    const best = Math.max(
      ...Object.values(TILES).map((u) => Math.ceil(m / u.bm) * Math.ceil(n / u.bn)),
    );
    assert.ok(groups >= FILL_WORKGROUPS || groups === best, `${m}x${n}: ${t.name} gives ${groups}`);
  }
});

Deno.test("chooseTile: never above the device's workgroup memory; FIRSTSPIKE_TILE forces one", () => {
  for (const t of Object.values(TILES)) assert.ok(tileBytes(t) <= 32768, t.name);
  const t = chooseTile(128, 262144, false, FILL_WORKGROUPS, undefined, 16384);
  assert.ok(tileBytes(t) <= 16384, `${t.name} needs ${tileBytes(t)} bytes`);
  assert.equal(t.name, "64x64");
  assert.equal(chooseTile(10, 10, true, FILL_WORKGROUPS, "128x128").name, "128x128");
  assert.throws(
    () => chooseTile(10, 10, true, FILL_WORKGROUPS, "99x99"),
    /expected one of .*got '99x99'/,
  );
});

Deno.test("split-K: weight gradients always fill; forward splits only small outputs on a GPU", () => {
  const plan = planModel("vgg7", [3, 32, 32], 10);
  const readout = gemmShape(plan.at(-1)!);
  const conv2 = gemmShape(plan[1]);
  const t = chooseTile(readout.co, 256, false);
  assert.ok(forwardSplits(readout, 256, t, false) > 1, "the readout's forward is split");
  assert.equal(forwardSplits(readout, 256, t, true), 1, "not on a CPU driver");
  assert.equal(forwardSplits(conv2, 256, chooseTile(conv2.co, 256 * 1024, true), false), 1);
  // Weight gradients: K = batch * H * W is long; splits fill the device, each at least 8 K slices.
  const first = gemmShape(plan[0]);
  const s = weightSplits(first, 256);
  assert.ok(s > 1 && (256 * 32 * 32) / s >= 8 * 16, `vgg7 layer 0 weight gradient: ${s} splits`);
  assert.equal(weightSplits(first, 1), 8, "batch 1: 1024 pixels give 8 splits of 8 slices");
});

Deno.test("direct tiles: a block per invocation, invocations a multiple of 8 lanes, named for FIRSTSPIKE_TILE", () => {
  const t = directTile(8, 4, 2, 16);
  assert.deepEqual(t, { name: "d8x4/2x16", bm: 16, bn: 64, bk: 16, tm: 8, tn: 4, core: "direct" });
  assert.deepEqual(namedTile("d8x4/2x16"), t);
  assert.equal(namedTile("direct").name, "d4x4/8x8");
  assert.equal(tileBytes(t), 0, "no workgroup memory");
  for (const bad of ["d8x4/3x3", "d0x4/8x8", "d32x32/8x8", "d4x4/16x32", "d4x4", "direct2"]) {
    assert.throws(() => namedTile(bad), new RegExp(`got '${bad.replace("/", "\\/")}'$`), bad);
  }
});

Deno.test("chooseDirectTile: fits the block to the output's shape and keeps the cores busy", () => {
  const shapes: [number, number, number, boolean][] = [
    [32, 256 * 196, 9, true], // a first convolution: few rows, many pixels, short sums
    [400, 8, 784, true], // a fully connected layer at batch 8: 8 columns
    [10, 256, 1568, false], // a readout
    [16, 72, 8192, true], // a weight gradient: long sums
    [1, 1, 1, false],
  ];
  for (const [m, n, k, dual] of shapes) {
    const t = chooseDirectTile(m, n, k, dual, 2);
    const what = `${m}x${n}x${k}: ${t.name}`;
    assert.equal(t.core, "direct", what);
    assert.ok(t.tm * t.tn * (dual ? 2 : 1) <= 128, `${what}: at most 128 accumulators`);
    assert.equal(t.bm, t.tm, `${what}: lanes along N only (they share A's rows)`);
    assert.equal((t.bn / t.tn) % 8, 0, `${what}: whole SIMD vectors`);
    // Padding stays small next to the output (or the output is tiny).
    const padded = Math.ceil(m / t.bm) * t.bm * Math.ceil(n / t.bn) * t.bn;
    assert.ok(padded <= Math.max(4 * m * n, 64), `${what}: pads ${m * n} outputs to ${padded}`);
  }
  // 8 columns: no invocation is laid across columns that do not exist.
  assert.ok(chooseDirectTile(400, 8, 784, true, 2).bn <= 8);
  // Two cores get at least two workgroups where the output allows it.
  const t = chooseDirectTile(32, 256 * 196, 9, true, 2);
  assert.ok(Math.ceil(32 / t.bm) * Math.ceil((256 * 196) / t.bn) >= 2);
  // More reads per FMA cost more: a large output gets a block larger than 1 x 1.
  const big = chooseDirectTile(512, 4096, 4608, true, 2);
  assert.ok(big.tm * big.tn >= 16, big.name);
});

Deno.test("expandRepeats: lines naming $i / $q are written once per value (both: every pair)", () => {
  const code = [
    "// a comment naming $i stays",
    "let m$i = $iu;",
    "var s$i_$q = 0.0;",
    "let b$q = load_b($q);",
    "let k = 1u;",
  ].join("\n");
  assert.equal(
    expandRepeats(code, { i: 2, q: 3 }),
    [
      "// a comment naming $i stays",
      "let m0 = 0u;",
      "let m1 = 1u;",
      ...["var s0_0 = 0.0;", "var s0_1 = 0.0;", "var s0_2 = 0.0;"],
      ...["var s1_0 = 0.0;", "var s1_1 = 0.0;", "var s1_2 = 0.0;"],
      "let b0 = load_b(0);",
      "let b1 = load_b(1);",
      "let b2 = load_b(2);",
      "let k = 1u;",
    ].join("\n"),
  );
  assert.equal(expandRepeats(code, {}), code, "no counts, no change");
  assert.throws(() => expandRepeats(code, { i: 0 }), /counts >= 1, got i=0$/);
  assert.throws(() => expandRepeats(code, { ij: 2 }), /single-letter variables .*got ij=2$/);
});

Deno.test("uniformWindows: 64 KiB windows per layer, at most 8, off with FIRSTSPIKE_UNIFORM_WEIGHTS=0", () => {
  const conv = (ci: number, co: number) => ({ ci, h: 8, w: 8, co, ks: 3, mode: 0 as const });
  assert.equal(uniformWindows(conv(3, 8)), 1); // 216 weights
  assert.equal(uniformWindows(conv(64, 64)), 3); // 36,864: 2.25 windows
  assert.equal(uniformWindows({ ci: 16384, h: 1, w: 1, co: 8, ks: 1, mode: 1 }), 8);
  assert.equal(uniformWindows({ ci: 16385, h: 1, w: 1, co: 8, ks: 1, mode: 1 }), 0, "9: storage");
  try {
    Deno.env.set("FIRSTSPIKE_UNIFORM_WEIGHTS", "0");
    assert.equal(uniformWindows(conv(3, 8)), 0);
    Deno.env.set("FIRSTSPIKE_UNIFORM_WEIGHTS", "yes");
    assert.throws(() => uniformWindows(conv(3, 8)), /expected 0 or 1, got 'yes'$/);
  } finally {
    Deno.env.delete("FIRSTSPIKE_UNIFORM_WEIGHTS");
  }
});
