// A weights file carries its network: the metadata a model writes, read
// back into the same options, and a model rebuilt from the file alone that
// predicts exactly what the original does (spike readout, normalisation and
// a window other than 1 included). Malformed metadata is refused by key.
import assert from "node:assert/strict";
import { Model } from "../src/engine/model.ts";
import { readSafetensors, writeSafetensors } from "../src/engine/safetensors.ts";
import { loadModel, saveWeights, weightsInfo } from "../src/engine/weights.ts";
import { GPU_TEST, testEngine } from "./_compare.ts";
import { withTempDir } from "./_data.ts";

Deno.test(
  "weights metadata round trip: a model rebuilt from the file predicts the same",
  GPU_TEST,
  async () => {
    const engine = await testEngine();
    const opts = {
      arch: "8C3-P2-16F",
      inputShape: [1, 8, 8],
      classes: 2,
      maxBatch: 4,
      tWin: 2,
      readout: "spike" as const,
      normalize: { mean: [0.25], std: [0.5] },
      seed: 11,
    };
    const original = await Model.create(engine, opts);
    await withTempDir(async (dir) => {
      const path = `${dir}/w.safetensors`;
      await saveWeights(original, path, {
        dataset: "toy",
        arch: "ignored: the network's own wins",
      });
      const { metadata, tensors } = await readSafetensors(path);
      // What a PyTorch user reads, written out by hand from the options above.
      assert.deepEqual(
        {
          format: metadata.format,
          arch: metadata.arch,
          input_shape: metadata.input_shape,
          classes: metadata.classes,
          t_win: metadata.t_win,
          readout: metadata.readout,
          normalize: metadata.normalize,
          precision: metadata.precision,
          dataset: metadata.dataset,
        },
        {
          format: "pt",
          arch: "8C3-P2-16F",
          input_shape: "[1,8,8]",
          classes: "2",
          t_win: "2",
          readout: "spike",
          normalize: '{"mean":[0.25],"std":[0.5]}',
          precision: "f32",
          dataset: "toy",
        },
      );
      assert.deepEqual(JSON.parse(metadata.layers), [
        {
          index: 0,
          kind: "conv",
          token: "8C3",
          in_channels: 1,
          out_channels: 8,
          kernel: 3,
          stride: 1,
          padding: 1,
          input: [1, 8, 8],
          output: [8, 8, 8],
        },
        {
          index: 1,
          kind: "pool",
          token: "P2",
          kernel: 2,
          stride: 2,
          input: [8, 8, 8],
          output: [8, 4, 4],
        },
        {
          index: 2,
          kind: "linear",
          token: "16F",
          in_features: 128,
          out_features: 16,
          input: [8, 4, 4],
          output: [16],
        },
        {
          index: 3,
          kind: "readout",
          token: "2R",
          in_features: 16,
          out_features: 2,
          input: [16],
          output: [2],
        },
      ]);
      // The layers' weight shapes agree with what the metadata says.
      assert.deepEqual(tensors["layers.0.weight"].shape, [8, 1, 3, 3]);
      assert.deepEqual(tensors["layers.2.weight"].shape, [16, 128]);
      assert.deepEqual(tensors["layers.3.weight"].shape, [2, 16]);

      const { model, info } = await loadModel(engine, path, { maxBatch: 3 });
      try {
        assert.deepEqual(
          [info.arch, info.inputShape, info.classes, info.tWin, info.readout, info.normalize],
          ["8C3-P2-16F", [1, 8, 8], 2, 2, "spike", { mean: [0.25], std: [0.5] }],
        );
        assert.deepEqual(
          [model.tWin, model.readout, model.normalize, model.maxBatch],
          [2, "spike", { mean: [0.25], std: [0.5] }, 3],
        );
        const images = new Float32Array(7 * 64).map((_, i) => ((i * 37) % 101) / 100);
        const a = await original.predict(images, { times: true });
        const b = await model.predict(images, { times: true }); // other batches: 3 + 3 + 1
        assert.deepEqual(b.predictions, a.predictions);
        assert.deepEqual([...b.scores], [...a.scores]);
        assert.deepEqual([...b.outputTimes!], [...a.outputTimes!]);
        assert.deepEqual(b.spikes, a.spikes);
        assert.deepEqual(b.times!.map((t) => [...t]), a.times!.map((t) => [...t]));
        // Spike readout: the score is -min(t, T) of the output spike time, the prediction its argmax.
        a.outputTimes!.forEach((t, i) => assert.equal(a.scores[i], -Math.min(t, 2)));
        // Spikes per sample count the finite times of the conv and linear layers.
        const counted = a.predictions.map((_, n) =>
          [0, 2].reduce((sum, layer) => {
            const size = layer === 0 ? 512 : 16;
            return sum +
              a.times![layer].subarray(n * size, (n + 1) * size).filter((t) => t !== Infinity)
                .length;
          }, 0)
        );
        assert.deepEqual(a.spikes, counted);
      } finally {
        model.destroy();
      }

      // A file without the network's metadata cannot be used alone.
      const bare = `${dir}/bare.safetensors`;
      await writeSafetensors(bare, tensors, { format: "pt" });
      await assert.rejects(
        () => loadModel(engine, bare),
        /^Error: Cannot use weights '.*bare\.safetensors' alone: metadata 'arch' expected an architecture such as '32C5-P2-100F', got nothing/,
      );
    });
    original.destroy();
  },
);

Deno.test("weightsInfo refuses malformed metadata, naming the key and what came", () => {
  const good = {
    arch: "8C3",
    input_shape: "[1,8,8]",
    classes: "4",
    t_win: "1",
    readout: "potential",
    normalize: "null",
  };
  assert.equal(weightsInfo(good, "w").precision, "f32");
  const cases: [Record<string, string>, string][] = [
    [
      { ...good, input_shape: "[1,8]" },
      `'input_shape' expected a JSON list [C, H, W] or [F] of positive integers, got "[1,8]"`,
    ],
    [{ ...good, classes: "1" }, `'classes' expected an integer >= 2, got "1"`],
    [{ ...good, t_win: "0" }, `'t_win' expected a positive number, got "0"`],
    [{ ...good, readout: "argmax" }, `'readout' expected 'potential' or 'spike', got "argmax"`],
    [
      { ...good, normalize: '{"mean":[0.1]}' },
      `'normalize' expected null or JSON {"mean": [...], "std": [...]}, got "{\\"mean\\":[0.1]}"`,
    ],
    [{ ...good, precision: "f64" }, `'precision' expected 'f32' or 'f16', got "f64"`],
  ];
  for (const [m, msg] of cases) {
    assert.throws(() => weightsInfo(m, "w.safetensors"), {
      message: `Cannot use weights 'w.safetensors' alone: metadata ${msg} (older files lack it: ` +
        "evaluate their run folder instead)",
    });
  }
});
