/**
 * Tile and split choices (pure functions of the shapes and the device):
 * the largest tile that fills the device, the most workgroups when none
 * does, the device's workgroup-memory limit respected, split-K only where
 * the output is too small.
 */

import assert from "node:assert/strict";
import {
  chooseTile,
  FILL_WORKGROUPS,
  forwardSplits,
  gemmShape,
  tileBytes,
  TILES,
  weightSplits,
} from "../src/engine/layers.ts";
import { planModel } from "../src/engine/spec.ts";

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
