/**
 * Real activity for the benchmark: Fashion-MNIST placed in a shape's input,
 * trained weights for the shape (its {@link TrainRecipe}, cached on disk
 * after the first run), a batch of real test images to time steps on, and
 * what fires: the silent share of the input and of every spiking layer, and
 * the share of each layer's neurons that pass a gradient.
 *
 * Random inputs and initial weights do not fire like a trained network (a
 * vgg7-shaped network after two epochs fires 28% to 75% of its neurons layer
 * by layer, and passes a gradient through 6% to 30%), and event-driven
 * products are only as fast as that activity lets them be.
 *
 * @module
 */

import { join } from "node:path";
import { type Dataset, datasetInfo, loadDataset } from "../data/datasets.ts";
import { GpuData } from "../data/data_gpu.ts";
import type { Engine } from "../engine/gpu.ts";
import { type Metrics, Model, type Tensor } from "../engine/model.ts";
import { readSafetensors, writeSafetensors } from "../engine/safetensors.ts";
import { sizeOf } from "../engine/spec.ts";
import { compactSplit, epochOrder, splitIndices, submitTrainSteps } from "../run/train.ts";
import type { BenchShape, TrainRecipe } from "./shapes.ts";

/**
 * Fashion-MNIST as u8 inputs of `shape` (`[C, H, W]`, H and W at least 28):
 * each 28 x 28 image centred in an H x W frame of zeros and repeated over the
 * C channels. The images themselves for `[1, 28, 28]`.
 *
 * @example
 * ```ts
 * import { placeImages } from "./activity.ts";
 * const img = new Uint8Array(28 * 28).fill(7);
 * const out = placeImages(img, 1, [3, 32, 32]);
 * if (out.length !== 3 * 32 * 32 || out[0] !== 0 || out[2 * 32 + 2] !== 7 || out[1024 + 66] !== 7) {
 *   throw new Error();
 * }
 * ```
 */
export function placeImages(
  images: Uint8Array,
  count: number,
  shape: readonly number[],
): Uint8Array {
  if (shape.length !== 3 || shape[1] < 28 || shape[2] < 28) {
    throw new Error(
      `Cannot place Fashion-MNIST images: expected an input shape [C, H, W] with H and W at ` +
        `least 28, got [${shape}]`,
    );
  }
  const [c, h, w] = shape;
  const top = (h - 28) >> 1, left = (w - 28) >> 1;
  const out = new Uint8Array(count * c * h * w);
  for (let n = 0; n < count; n++) {
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < 28; y++) {
        const from = (n * 28 + y) * 28;
        out.set(images.subarray(from, from + 28), ((n * c + ch) * h + top + y) * w + left);
      }
    }
  }
  return out;
}

/** Fashion-MNIST's training and test splits placed in a shape's input. */
export interface ShapeData {
  train: Dataset;
  test: Dataset;
}

/**
 * Fashion-MNIST (from `dir`, or where `loadDataset` finds it without
 * downloading) placed in `shape`'s input, or null when it is not on this
 * machine.
 */
export async function fmnistFor(shape: BenchShape, dir?: string): Promise<ShapeData | null> {
  const load = (split: "train" | "test") =>
    loadDataset("fmnist", split, { dir, download: false, log: () => {} });
  let sets: [Dataset, Dataset];
  try {
    sets = await Promise.all([load("train"), load("test")]);
  } catch {
    return null;
  }
  const place = (d: Dataset): Dataset => ({
    ...d,
    images: placeImages(d.images, d.count, shape.input),
    shape: [...shape.input] as [number, number, number],
  });
  return { train: place(sets[0]), test: place(sets[1]) };
}

/** The model options of a shape (its normalisation, Adam at the recipe's settings). */
export function shapeModelOptions(shape: BenchShape, maxBatch: number, recipe?: TrainRecipe) {
  const info = datasetInfo("fmnist");
  return {
    arch: shape.arch,
    inputShape: shape.input,
    classes: shape.classes,
    maxBatch,
    normalize: shape.normalize ? { mean: info.mean, std: info.std } : null,
    seed: 0,
    optimizer: {
      kind: "adam" as const,
      lr: recipe?.lr ?? 0,
      ...(recipe?.weightDecay !== undefined ? { weightDecay: recipe.weightDecay } : {}),
    },
  };
}

/** Trained weights of a shape, and where they came from. */
export interface TrainedWeights {
  tensors: Record<string, Tensor>;
  /** `cache` (a file of an earlier run) or `trained` (now). */
  source: "cache" | "trained";
  /** The cache file, or null when there is no cache folder. */
  path: string | null;
  /** Seconds the training took (0 from the cache). */
  seconds: number;
  /** Training accuracy of the last epoch (NaN from the cache). */
  train_acc: number;
}

/**
 * File name of a shape's trained weights in the cache: its network, input and
 * recipe (shapes that differ only in their timed batch share a file).
 */
export async function trainedWeightsName(shape: BenchShape): Promise<string> {
  const key = JSON.stringify({
    v: 1,
    arch: shape.arch,
    input: shape.input,
    classes: shape.classes,
    normalize: !!shape.normalize,
    recipe: shape.train,
  });
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
  const hex = Array.from(hash.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join("");
  return `${shape.arch.replace(/[^A-Za-z0-9]+/g, "-").slice(0, 40)}-${hex}.safetensors`;
}

/**
 * The shape's trained weights: read from `cacheDir` when an earlier run left
 * them there (unless `retrain`), else trained now by its recipe on `data`
 * and written there (a cache that cannot be written is skipped, with a note).
 */
export async function trainedWeights(
  engine: Engine,
  shape: BenchShape,
  data: ShapeData,
  cacheDir: string | null,
  log: (line: string) => void,
  retrain = false,
): Promise<TrainedWeights> {
  const path = cacheDir ? join(cacheDir, await trainedWeightsName(shape)) : null;
  if (path && !retrain) {
    const cached = await readSafetensors(path).catch(() => null);
    if (cached) {
      return { tensors: cached.tensors, source: "cache", path, seconds: 0, train_acc: NaN };
    }
  }
  const r = shape.train;
  const t0 = performance.now();
  log(
    `  training ${shape.arch} for its activity: ${r.epochs} epoch(s) of ${r.samples} ` +
      `Fashion-MNIST images, batch ${r.batch}, lr ${r.lr}` + (path ? " (cached afterwards)" : ""),
  );
  const model = await Model.create(engine, shapeModelOptions(shape, r.batch, r));
  let gpu: GpuData | null = null;
  try {
    const split = splitIndices(data.train.count, data.test.count, {
      seed: 0,
      validation_fraction: 0,
      train_subset: r.samples,
      test_subset: null,
    });
    const compact = compactSplit(split);
    gpu = await GpuData.create(engine, model, data, { ...compact, testUsed: split.test }, {
      augment: false,
    });
    const steps = gpu.train.groups.length;
    for (let epoch = 0; epoch < r.epochs; epoch++) {
      model.lr = r.lr * Math.pow(r.annealing ?? 1, epoch);
      gpu.writeOrder(gpu.train, epochOrder(compact.train, 0, epoch, true));
      gpu.writeParams(gpu.train, 0, epoch, 0);
      model.resetMetrics(0);
      for (let first = 0; first < steps; first += 32) {
        submitTrainSteps(engine, model, gpu, first, Math.min(32, steps - first));
        await engine.device.queue.onSubmittedWorkDone();
      }
    }
    const m = await model.readMetrics(0);
    if (!Number.isFinite(m.loss)) {
      throw new Error(`Training ${shape.name} for its activity diverged: loss ${m.loss}`);
    }
    const tensors = await model.getWeights();
    if (path) {
      try {
        await Deno.mkdir(cacheDir!, { recursive: true });
        await writeSafetensors(path, tensors, { firstspike_bench: JSON.stringify(shape.train) });
      } catch (e) {
        log(`  (not cached: ${(e as Error).message})`);
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    log(
      `  trained in ${seconds.toFixed(1)} s (training accuracy ${(m.accuracy * 100).toFixed(1)}%)`,
    );
    return { tensors, source: "trained", path, seconds, train_acc: m.accuracy };
  } finally {
    gpu?.destroy();
    model.destroy();
  }
}

/** A batch of real images as intensities in [0, 1] with their labels. */
export interface RealBatch {
  x: Float32Array;
  labels: Uint32Array;
  /** Share of the batch's input neurons that never spike (MODEL.md's encoding). */
  silent: number;
}

/**
 * The first `batch` test images as a step's input, and the share of input
 * neurons that never spike: a 0 pixel in the plain encoding, a pixel at the
 * mean with `normalize`.
 */
export function realBatch(data: ShapeData, shape: BenchShape, batch: number): RealBatch {
  const n = sizeOf(shape.input);
  const count = Math.min(batch, data.test.count);
  const x = new Float32Array(batch * n);
  const labels = new Uint32Array(batch);
  for (let b = 0; b < batch; b++) {
    const s = b % count;
    for (let i = 0; i < n; i++) x[b * n + i] = data.test.images[s * n + i] / 255;
    labels[b] = data.test.labels[s];
  }
  const info = datasetInfo("fmnist");
  let silent = 0;
  for (const v of x) {
    // encode.wgsl's rule in float32: plain, 0 does not spike; normalised, t == T does not.
    if (shape.normalize) {
      const t = Math.fround(1 - Math.fround(Math.fround(v - info.mean[0]) / info.std[0]));
      if (t === 1) silent++;
    } else if (v === 0) silent++;
  }
  return { x, labels, silent: silent / x.length };
}

/** One spiking layer's activity on the timed batch. */
export interface LayerActivity {
  index: number;
  token: string;
  /** Share of its neurons that fired. */
  firing: number;
  /** Share that stayed silent (1 - firing). */
  silent: number;
  /** Share that passed a gradient (NaN where not counted). */
  gradient_share: number;
  /** The product its weight gradient runs (`events` or `dense`). */
  weight_gradient: "events" | "dense";
  /**
   * Its input gradient: `skip` (output channels without events skipped), `dense`, or null (none:
   * nothing before it has weights).
   */
  input_gradient: "skip" | "dense" | null;
}

/** The activity of a model's spiking layers from its training-slot metrics. */
export function layerActivity(model: Model, train: Metrics): LayerActivity[] {
  const products = model.weightGradients;
  const inputs = model.inputGradients;
  return train.layers.map((l) => ({
    index: l.index,
    token: l.token,
    firing: l.firing,
    silent: 1 - l.firing,
    gradient_share: l.gradientShare,
    weight_gradient: products[l.index] ?? "dense",
    input_gradient: inputs[l.index] ?? null,
  }));
}
