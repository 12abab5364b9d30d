/**
 * A model's weights as a safetensors file: F32 tensors named
 * `layers.<i>.weight` (every layer counted from 0, pools included) with
 * PyTorch's shapes, `[out, in, k, k]` and `[out, in]`, and in the
 * `__metadata__` (strings, as the format requires) what is needed to use the
 * file alone:
 *
 * | key           | value                                                                  |
 * | ------------- | ---------------------------------------------------------------------- |
 * | `format`      | `pt`                                                                   |
 * | `firstspike`  | version of this metadata (`1`)                                         |
 * | `arch`        | the layers without the readout, e.g. `32C5-P2-64C5-P2-100F`            |
 * | `input_shape` | JSON `[C, H, W]` or `[F]`                                              |
 * | `classes`     | number of classes (readout neurons)                                    |
 * | `t_win`       | window length T                                                        |
 * | `readout`     | `potential` (argmax of U) or `spike` (earliest output spike)           |
 * | `normalize`   | JSON `{"mean": [...], "std": [...]}` per channel, or `null`            |
 * | `precision`   | `f32` or `f16` (arithmetic the weights were trained with)              |
 * | `layers`      | JSON list per layer: kind, shapes, kernel, stride and padding          |
 *
 * plus what the writer adds (a run adds `dataset`, `run`, `seed`,
 * `validation_fraction`). A PyTorch user rebuilds the network from `layers`:
 * `conv` is `Conv2d(in, out, kernel, stride=1, padding=kernel//2, bias=False)`,
 * `linear` and `readout` are `Linear(in, out, bias=False)` on the flattened
 * input, `pool` is `MaxPool2d(kernel)` on spike times' negation (the
 * earliest spike wins); the neurons are MODEL.md's.
 *
 * @module
 */

import type { Engine } from "./gpu.ts";
import type { Precision } from "./layers.ts";
import { Model } from "./model.ts";
import { readSafetensors, writeSafetensors } from "./safetensors.ts";

/** Version of the metadata layout written by {@link weightsMetadata}. */
export const WEIGHTS_FORMAT_VERSION = "1";

/** What a weights file says about its network (from its `__metadata__`). */
export interface WeightsInfo {
  /** Layers without the readout, e.g. `32C5-P2-100F`. */
  arch: string;
  /** Shape of one input sample. */
  inputShape: number[];
  /** Number of classes. */
  classes: number;
  /** Window length T. */
  tWin: number;
  /** How the output reads out. */
  readout: "potential" | "spike";
  /** Per-channel pixel normalisation, or null. */
  normalize: { mean: number[]; std: number[] } | null;
  /** Arithmetic the model was trained with. */
  precision: Precision;
  /** The dataset's name, when the writer recorded it. */
  dataset: string | null;
  /** Every metadata entry as written. */
  metadata: Record<string, string>;
}

/**
 * The `__metadata__` of a model's weights file: what {@link loadModel} (or a
 * PyTorch user) needs to rebuild the network; see the module's table.
 */
export function weightsMetadata(model: Model): Record<string, string> {
  const layers = model.plan.map((p) => {
    const s = p.spec;
    const shapes = { input: p.inShape, output: p.outShape };
    switch (s.kind) {
      case "conv":
        return {
          index: p.index,
          kind: "conv",
          token: s.token,
          in_channels: p.inShape[0],
          out_channels: s.channels,
          kernel: s.kernel,
          stride: 1,
          padding: Math.floor(s.kernel / 2),
          ...shapes,
        };
      case "pool":
        return {
          index: p.index,
          kind: "pool",
          token: s.token,
          kernel: s.kernel,
          stride: s.kernel,
          ...shapes,
        };
      default:
        return {
          index: p.index,
          kind: s.kind,
          token: s.token,
          in_features: p.fanIn,
          out_features: p.outShape[0],
          ...shapes,
        };
    }
  });
  return {
    format: "pt",
    firstspike: WEIGHTS_FORMAT_VERSION,
    arch: model.plan.slice(0, -1).map((p) => p.spec.token).join("-"),
    input_shape: JSON.stringify(model.inputShape),
    classes: String(model.classes),
    t_win: String(model.tWin),
    readout: model.readout,
    normalize: JSON.stringify(model.normalize),
    precision: model.precision,
    layers: JSON.stringify(layers),
  };
}

/**
 * Reads a weights file's metadata into a {@link WeightsInfo}; a missing or
 * malformed entry is an error naming the file, the key and what came.
 *
 * @example
 * ```ts
 * import { weightsInfo } from "./weights.ts";
 * const info = weightsInfo({
 *   arch: "8C3-P2", input_shape: "[1,8,8]", classes: "4", t_win: "1", readout: "potential",
 *   normalize: "null", precision: "f32", dataset: "fmnist",
 * }, "w.safetensors");
 * if (info.classes !== 4 || info.inputShape.join() !== "1,8,8" || info.dataset !== "fmnist") throw new Error();
 * try {
 *   weightsInfo({ arch: "8C3" }, "w.safetensors");
 *   throw new Error("accepted");
 * } catch (e) {
 *   if (!(e as Error).message.startsWith("Cannot use weights 'w.safetensors' alone: metadata 'input_shape'")) throw e;
 * }
 * ```
 */
export function weightsInfo(metadata: Record<string, string>, source: string): WeightsInfo {
  const fail = (key: string, expected: string): never => {
    const got = metadata[key] === undefined ? "nothing" : JSON.stringify(metadata[key]);
    throw new Error(
      `Cannot use weights '${source}' alone: metadata '${key}' expected ${expected}, got ${got} ` +
        `(older files lack it: evaluate their run folder instead)`,
    );
  };
  const json = (key: string): unknown => {
    try {
      return JSON.parse(metadata[key] ?? "");
    } catch {
      return undefined;
    }
  };
  const num = (key: string, ok: (n: number) => boolean, expected: string): number => {
    const n = Number(metadata[key]);
    return metadata[key] !== undefined && metadata[key].trim() !== "" && ok(n)
      ? n
      : fail(key, expected);
  };
  if (typeof metadata.arch !== "string" || metadata.arch.trim() === "") {
    fail("arch", "an architecture such as '32C5-P2-100F'");
  }
  const shape = json("input_shape");
  if (
    !Array.isArray(shape) || !(shape.length === 1 || shape.length === 3) ||
    !shape.every((d) => Number.isInteger(d) && d > 0)
  ) {
    fail("input_shape", "a JSON list [C, H, W] or [F] of positive integers");
  }
  const classes = num("classes", (n) => Number.isInteger(n) && n >= 2, "an integer >= 2");
  const tWin = num("t_win", (n) => Number.isFinite(n) && n > 0, "a positive number");
  const readout = metadata.readout;
  if (readout !== "potential" && readout !== "spike") fail("readout", "'potential' or 'spike'");
  const norm = json("normalize") as { mean?: unknown; std?: unknown } | null | undefined;
  const isList = (v: unknown) =>
    Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "number");
  if (norm !== null && !(norm && isList(norm.mean) && isList(norm.std))) {
    fail("normalize", 'null or JSON {"mean": [...], "std": [...]}');
  }
  const precision = metadata.precision ?? "f32";
  if (precision !== "f32" && precision !== "f16") fail("precision", "'f32' or 'f16'");
  return {
    arch: metadata.arch,
    inputShape: shape as number[],
    classes,
    tWin,
    readout: readout as "potential" | "spike",
    normalize: norm ? { mean: norm.mean as number[], std: norm.std as number[] } : null,
    precision: precision as Precision,
    dataset: metadata.dataset ?? null,
    metadata: { ...metadata },
  };
}

/**
 * Writes the model's weights to `path` (atomically) with the metadata that
 * describes the network ({@link weightsMetadata}) and `metadata` (e.g. the
 * dataset's name; the network's own entries win over these).
 *
 * @example
 * ```ts
 * import { Engine } from "./gpu.ts";
 * import { Model } from "./model.ts";
 * import { loadWeights, saveWeights } from "./weights.ts";
 * const engine = await Engine.create();
 * const model = await Model.create(engine, { arch: "2F", inputShape: [3], classes: 2, maxBatch: 1 });
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await saveWeights(model, path, { dataset: "toy" });
 * await loadWeights(model, path);
 * engine.destroy();
 * ```
 */
export async function saveWeights(
  model: Model,
  path: string,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeSafetensors(path, await model.getWeights(), {
    ...metadata,
    ...weightsMetadata(model),
  });
}

/**
 * Loads weights from `path` into the model. Every tensor must be present with
 * its exact shape; nothing is written to the model otherwise.
 *
 * @example
 * ```ts
 * import { Engine } from "./gpu.ts";
 * import { Model } from "./model.ts";
 * import { loadWeights } from "./weights.ts";
 * const engine = await Engine.create();
 * const model = await Model.create(engine, { arch: "2F", inputShape: [3], classes: 2, maxBatch: 1 });
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await Deno.writeFile(path, new Uint8Array(8)); // not a weights file
 * await loadWeights(model, path).then(() => { throw new Error("loaded") }, (e) => console.log(e.message));
 * engine.destroy();
 * ```
 */
export async function loadWeights(model: Model, path: string): Promise<void> {
  const file = await readSafetensors(path);
  model.setWeights(file.tensors, `'${path}'`);
}

/**
 * Builds the network a weights file describes and loads its weights: the
 * file alone is enough. `maxBatch` sizes the buffers (default 256);
 * `precision` replaces the recorded arithmetic (e.g. `f32` for weights
 * trained in `f16`, on an adapter without `shader-f16`).
 *
 * @example
 * ```ts
 * import { Engine } from "./gpu.ts";
 * import { Model } from "./model.ts";
 * import { loadModel, saveWeights } from "./weights.ts";
 * const engine = await Engine.create();
 * const trained = await Model.create(engine, {
 *   arch: "8C3-P2", inputShape: [1, 8, 8], classes: 3, maxBatch: 4, seed: 5,
 *   normalize: { mean: [0.5], std: [0.25] },
 * });
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await saveWeights(trained, path, { dataset: "toy" });
 * const { model, info } = await loadModel(engine, path, { maxBatch: 4 });
 * const images = new Float32Array(4 * 64).map((_, i) => (i % 13) / 13);
 * const [a, b] = [await trained.predict(images), await model.predict(images)];
 * if (info.dataset !== "toy" || model.normalize?.std[0] !== 0.25) throw new Error();
 * if (a.scores.some((s, i) => s !== b.scores[i])) throw new Error("different scores");
 * engine.destroy();
 * ```
 */
export async function loadModel(
  engine: Engine,
  path: string,
  opts: { maxBatch?: number; precision?: Precision } = {},
): Promise<{ model: Model; info: WeightsInfo }> {
  const file = await readSafetensors(path);
  const info = weightsInfo(file.metadata, path);
  const model = await Model.create(engine, {
    arch: info.arch,
    inputShape: info.inputShape,
    classes: info.classes,
    maxBatch: opts.maxBatch ?? 256,
    tWin: info.tWin,
    normalize: info.normalize,
    readout: info.readout,
    precision: opts.precision ?? info.precision,
  });
  try {
    model.setWeights(file.tensors, `'${path}'`);
  } catch (e) {
    model.destroy();
    throw e;
  }
  return { model, info };
}
