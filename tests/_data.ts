/**
 * Generated, learnable image data for tests: class c lights up a blob at a
 * class-specific place, with noise. Written as real IDX files when needed.
 *
 * @module
 */

import { join } from "node:path";
import type { Engine } from "../src/engine/gpu.ts";
import type { Precision } from "../src/engine/layers.ts";
import { type Metrics, Model } from "../src/engine/model.ts";
import { blobs } from "../src/data/blobs.ts";
import YAML from "yaml";
import { type ParsedExperiment, parseExperiment } from "../src/experiment/config.ts";
import { readSafetensors } from "../src/engine/safetensors.ts";

export { blobs };

function idx(magic: number, dims: number[], data: Uint8Array): Uint8Array {
  const head = new DataView(new ArrayBuffer(4 + 4 * dims.length));
  head.setUint32(0, magic);
  dims.forEach((d, i) => head.setUint32(4 + 4 * i, d));
  const out = new Uint8Array(head.byteLength + data.length);
  out.set(new Uint8Array(head.buffer));
  out.set(data, head.byteLength);
  return out;
}

/** Writes a small Fashion-MNIST-format dataset (28 x 28, 10 classes) of blobs into `dir`. */
export async function writeFakeFmnist(
  dir: string,
  train = 320,
  test = 96,
  seed = 1,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  for (const [prefix, count, s] of [["train", train, seed], ["t10k", test, seed + 1]] as const) {
    const { images, labels } = blobs(count, 28, 28, 10, s);
    await Deno.writeFile(
      join(dir, `${prefix}-images-idx3-ubyte`),
      idx(2051, [count, 28, 28], images),
    );
    await Deno.writeFile(join(dir, `${prefix}-labels-idx1-ubyte`), idx(2049, [count], labels));
  }
}

/** Writes a small CIFAR-10 binary dataset (3 x 32 x 32, 10 classes) of coloured blobs into `dir`. */
export async function writeFakeCifar10(
  dir: string,
  train = 100,
  test = 40,
  seed = 3,
): Promise<void> {
  const inner = join(dir, "cifar-10-batches-bin");
  await Deno.mkdir(inner, { recursive: true });
  const records = (count: number, s: number) => {
    const { images, labels } = blobs(count, 32, 32, 10, s);
    const out = new Uint8Array(count * 3073);
    for (let n = 0; n < count; n++) {
      out[n * 3073] = labels[n];
      for (let c = 0; c < 3; c++) {
        const plane = images.subarray(n * 1024, (n + 1) * 1024);
        out.set(plane.map((v) => (v * (c + 1)) % 256), n * 3073 + 1 + c * 1024);
      }
    }
    return out;
  };
  const per = Math.ceil(train / 5);
  for (let b = 0; b < 5; b++) {
    const count = Math.max(0, Math.min(per, train - b * per));
    await Deno.writeFile(join(inner, `data_batch_${b + 1}.bin`), records(count, seed + b));
  }
  await Deno.writeFile(join(inner, "test_batch.bin"), records(test, seed + 9));
}

/**
 * Trains "8C3-8C3-P2" on 8 x 8 blobs of 4 classes (300 Adam steps of 32) and
 * returns the test-set metrics (256 samples): the whole loop must learn.
 */
export async function learnBlobs(engine: Engine, precision: Precision): Promise<Metrics> {
  const H = 8, classes = 4, B = 32;
  const model = await Model.create(engine, {
    arch: "8C3-8C3-P2",
    inputShape: [1, H, H],
    classes,
    maxBatch: B,
    seed: 3,
    precision,
    optimizer: { kind: "adam", lr: 3e-3, weightDecay: 0 },
  });
  try {
    const train = blobs(B * 40, H, H, classes, 5);
    const test = blobs(256, H, H, classes, 6);
    const batch = (d: typeof train, i: number) => ({
      x: Float32Array.from(d.images.subarray(i * H * H, (i + B) * H * H), (v) => v / 255),
      y: Array.from(d.labels.subarray(i, i + B)),
    });
    for (let step = 0; step < 300; step++) {
      const { x, y } = batch(train, (step % 40) * B);
      model.trainStep(x, y);
    }
    const trained = await model.readMetrics(0);
    if (!Number.isFinite(trained.loss)) throw new Error(`training loss ${trained.loss}`);
    for (let i = 0; i < 256; i += B) {
      const { x, y } = batch(test, i);
      model.evaluate(x, y, 2);
    }
    return await model.readMetrics(2);
  } finally {
    model.destroy();
  }
}

/** Runs `fn` with a fresh temporary folder, removed afterwards whatever happens. */
export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * A tiny Fashion-MNIST experiment on the fake data in `dataDir` (P2-32F, batch 32, 2 epochs, 20%
 * held out, seed 7), with `overrides` on top.
 */
export function tinyExperiment(
  dataDir: string,
  overrides: Record<string, unknown> = {},
): ParsedExperiment {
  const settings = {
    dataset: "fmnist",
    data_dir: dataDir,
    arch: "P2-32F",
    batch_size: 32,
    lr: 3e-3,
    weight_decay: 0,
    epochs: 2,
    validation_fraction: 0.2,
    seed: 7,
    ...overrides,
  };
  return parseExperiment(YAML.stringify(settings), "test.yaml");
}

/** A run folder's `weights.safetensors`, tensors in name order. */
export async function weightsOf(dir: string): Promise<Float32Array[]> {
  const f = await readSafetensors(join(dir, "weights.safetensors"));
  return Object.keys(f.tensors).sort().map((k) => f.tensors[k].data);
}
