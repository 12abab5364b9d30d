/**
 * Bad input gives one clear error that names what was expected and what
 * came, and nothing is written half.
 */

import assert, { deepStrictEqual as assertEquals, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import { Engine } from "../src/engine/gpu.ts";
import { Model } from "../src/engine/model.ts";
import { parseArch, planModel } from "../src/engine/spec.ts";
import { loadWeights, saveWeights } from "../src/engine/weights.ts";
import { writeSafetensors } from "../src/engine/safetensors.ts";
import { GPU_TEST, testEngine } from "./_compare.ts";

Deno.test("architecture strings: names, separators and clear errors", () => {
  assertEquals(parseArch("vgg7").length, 9);
  assertEquals(parseArch("VGG11").length, 13);
  assertEquals(parseArch("64C3 - P2 - 10F").map((s) => s.kind), ["conv", "pool", "linear"]);
  throws(() => parseArch("64C3-X2"), /token 2 of architecture '64C3-X2'.*got 'X2'/);
  throws(() => parseArch("64C4"), /odd kernel.*got '64C4'/);
  throws(() => parseArch(""), /expected tokens/);
  throws(
    () => planModel("100F-128C3", [1, 28, 28], 10),
    /Cannot build layer 1 '128C3' as input has 1 channel dimension: expected \[C, H, W\], got \[100\]/,
  );
  throws(
    () => planModel("P4-P4-P4", [1, 28, 28], 10),
    /layer 2 'P4': expected spatial size at least 4x4, got 1x1/,
  );
  throws(() => planModel("4F", [1, 28, 28], 1), /expected at least 2 classes, got 1/);
});

Deno.test("inputs of the wrong shape, NaN data and bad labels are refused", GPU_TEST, async () => {
  const engine = await testEngine();
  const model = await Model.create(engine, {
    arch: "2C3",
    inputShape: [1, 3, 3],
    classes: 3,
    maxBatch: 2,
  });
  try {
    throws(
      () => model.trainStep(new Float32Array(10), [0]),
      /expected input of shape \[B, 1,3,3\].*got 10 values/,
    );
    throws(() => model.trainStep(new Float32Array(27), [0, 1, 2]), /expected 1 to 2 \(maxBatch\)/);
    const x = new Float32Array(18).fill(0.5);
    x[11] = NaN;
    throws(
      () => model.trainStep(x, [0, 1]),
      /expected intensities in \[0, 1\], got NaN in sample 1 at element 2/,
    );
    x[11] = 1.5;
    throws(() => model.trainStep(x, [0, 1]), /got 1.5 in sample 1/);
    x[11] = 0.5;
    throws(() => model.trainStep(x, [0, 3]), /expected labels in 0..2, got 3 at sample 1/);
    throws(() => model.trainStep(x, [0]), /expected 2 labels \(one per sample\), got 1/);
    x[11] = Infinity;
    throws(() => model.trainStep(x, [0, 1]), /expected intensities in \[0, 1\], got Infinity/);
    model.trainStep(x, [0, 1], { encoded: true }); // spike times: Infinity means no spike
    x[11] = NaN;
    throws(
      () => model.trainStep(x, [0, 1], { encoded: true }),
      /expected spike times \(finite or Infinity\), got NaN/,
    );
    assert((await model.readMetrics(0)).samples === 2, "only the valid step ran");
  } finally {
    model.destroy();
  }
});

Deno.test(
  "weights files with missing or misshapen tensors are refused and change nothing",
  GPU_TEST,
  async () => {
    const engine = await testEngine();
    const model = await Model.create(engine, {
      arch: "2C3-P2-4F",
      inputShape: [1, 4, 4],
      classes: 3,
      maxBatch: 1,
    });
    const tmp = await Deno.makeTempDir();
    try {
      const good = join(tmp, "good.safetensors");
      await saveWeights(model, good);
      const before = await model.getWeights();
      const w = before;
      const write = async (
        name: string,
        t: Record<string, { shape: number[]; data: Float32Array }>,
      ) => {
        const p = join(tmp, name);
        await writeSafetensors(p, t);
        return p;
      };
      const missing = await write("missing.safetensors", {
        "layers.0.weight": w["layers.0.weight"],
      });
      await rejects(
        loadWeights(model, missing),
        /missing tensor 'layers.2.weight' of shape \[4, 8\]/,
      );
      const bad = await write("bad.safetensors", {
        ...w,
        "layers.2.weight": { shape: [8, 4], data: w["layers.2.weight"].data },
      });
      await rejects(
        loadWeights(model, bad),
        /tensor 'layers.2.weight' expected shape \[4, 8\], got \[8, 4\]/,
      );
      const extra = await write("extra.safetensors", {
        ...w,
        "layers.1.weight": { shape: [1], data: new Float32Array(1) },
      });
      await rejects(loadWeights(model, extra), /unexpected tensor 'layers.1.weight'/);
      const nan = await write("nan.safetensors", {
        ...w,
        "layers.0.weight": { shape: [2, 1, 3, 3], data: new Float32Array(18).fill(NaN) },
      });
      await rejects(loadWeights(model, nan), /expected finite values, got NaN at element 0/);
      // Nothing was written: the weights are still the good ones.
      assertEquals(await model.getWeights(), before);
      await loadWeights(model, good);
      assertEquals(await model.getWeights(), before);
    } finally {
      model.destroy();
      await Deno.remove(tmp, { recursive: true });
    }
  },
);

Deno.test("GPU validation errors and device loss surface as exceptions", GPU_TEST, async () => {
  const engine = await Engine.create();
  const model = await Model.create(engine, {
    arch: "2C3",
    inputShape: [1, 3, 3],
    classes: 2,
    maxBatch: 1,
  });
  // A destroyed buffer makes the next submission invalid: the read-back must throw, not return numbers.
  model.grads.destroy();
  model.trainStep(new Float32Array(9).fill(0.5), [1]);
  await rejects(model.readMetrics(0), /GPU error/);
  engine.destroy();
  await new Promise((r) => setTimeout(r, 50));
  await rejects(engine.readF32(model.params, 1), /GPU device lost|GPU error/);
});
