/**
 * Datasets on the GPU for the training loop: the samples a run uses,
 * uploaded once as bytes with their labels, and per split ("source") an
 * index list, the augmentation kernel's per-step parameters and its bind
 * groups (made once, reused every epoch). A step gathers, augments and
 * writes its batch into the model's input with one dispatch. Splits that are
 * not augmented (validation, test, and training without augmentation) use
 * the plain gather kernel, which gives the same bytes and compiles at once.
 *
 * @module
 */

import {
  AUGMENT_PARAMS_BYTES,
  augmentDims,
  createAugmentPipeline,
  packAugmentParams,
} from "./augment.ts";
import { createGatherPipeline } from "./gather.ts";
import type { DatasetCache, SampleBuffers } from "./dataset_cache.ts";
import type { Dataset } from "./datasets.ts";
import type { Engine, WarmUpDispatch } from "../engine/gpu.ts";
import type { Model } from "../engine/model.ts";

/** One split the loop iterates over: its indices, augmentation parameters and bind groups. */
export interface Source {
  /** "train", "validation" or "test" (used in buffer labels). */
  name: string;
  /** u32 class labels of the uploaded samples (train and validation share one buffer). */
  labels: GPUBuffer;
  /** `count` u32 positions into the uploaded samples, in the order the epoch visits them. */
  indices: GPUBuffer;
  /** Samples in the split. */
  count: number;
  /** Per step: 256-byte entries of the augmentation kernel's parameters. */
  params: GPUBuffer;
  /** Per step: the bind group of the source's kernel. */
  groups: GPUBindGroup[];
  /** The source's kernel: augmentation (training with augmentation) or plain gather. */
  pipeline: GPUComputePipeline;
  /** The model's loss bind group for this split's labels. */
  loss: GPUBindGroup;
}

/** Byte stride of the per-step augmentation parameters (uniform offset alignment). */
const PARAM_STRIDE = 256;

/** The training and test data of a run on the GPU. */
export class GpuData {
  /** The training samples. */
  readonly train: Source;
  /** The validation samples (held out of the training split); null without a validation split. */
  readonly val: Source | null;
  /** The test samples used. */
  readonly test: Source;
  readonly #engine: Engine;
  readonly #batch: number;
  readonly #buffers: GPUBuffer[];
  readonly #release: (() => void)[];

  private constructor(
    engine: Engine,
    batch: number,
    buffers: GPUBuffer[],
    release: (() => void)[],
    sources: { train: Source; val: Source | null; test: Source },
  ) {
    this.#engine = engine;
    this.#batch = batch;
    this.#buffers = buffers;
    this.#release = release;
    this.train = sources.train;
    this.val = sources.val;
    this.test = sources.test;
  }

  /**
   * Uploads the samples a run uses: `trainUsed` of the training split
   * (ascending), which `train` and `val` index into, and `testUsed` of the
   * test split. With `augment` false (default true) the training split uses
   * the plain gather kernel too (its flags must then stay 0). With `cache`,
   * samples uploaded for an earlier run on this engine are used again when
   * they are the same (and kept for the next).
   */
  static async create(
    engine: Engine,
    model: Model,
    sets: { train: Dataset; test: Dataset },
    split: { trainUsed: Uint32Array; train: Uint32Array; val: Uint32Array; testUsed: Uint32Array },
    { augment = true, cache }: { augment?: boolean; cache?: DatasetCache } = {},
  ): Promise<GpuData> {
    const gather = await createGatherPipeline(engine.device, sets.train.shape);
    const augmenting = augment
      ? await createAugmentPipeline(engine.device, sets.train.shape)
      : gather;
    const buffers: GPUBuffer[] = [];
    const release: (() => void)[] = [];
    const batch = model.maxBatch;
    // The augmentation kernel reads the image shape from a uniform (one pipeline per capacity).
    let dims: GPUBuffer | null = null;
    if (augment) {
      dims = engine.device.createBuffer({
        size: 16,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        label: "augment dims",
      });
      engine.write(dims, augmentDims(sets.train.shape));
      buffers.push(dims);
    }
    const upload = (d: Dataset, used: Uint32Array): SampleBuffers => {
      if (!cache) {
        const made = uploadSamples(engine, d, used);
        buffers.push(made.images, made.labels);
        return made;
      }
      const got = cache.upload(engine, d, used, () => uploadSamples(engine, d, used));
      release.push(got.release);
      return got;
    };
    const source = (
      data: { images: GPUBuffer; labels: GPUBuffer },
      idx: Uint32Array,
      name: string,
      pipeline: GPUComputePipeline,
    ): Source => {
      const indices = engine.buffer(idx.length * 4, `${name} indices`);
      engine.write(indices, idx);
      const steps = Math.ceil(idx.length / batch);
      const params = engine.device.createBuffer({
        size: Math.max(1, steps) * PARAM_STRIDE,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        label: `${name} augment params`,
      });
      buffers.push(indices, params);
      const layout = pipeline.getBindGroupLayout(0);
      const groups = Array.from({ length: steps }, (_, i) =>
        engine.device.createBindGroup({
          layout,
          entries: [
            { binding: 0, resource: { buffer: data.images } },
            { binding: 1, resource: { buffer: indices } },
            { binding: 2, resource: { buffer: model.inputX } },
            {
              binding: 3,
              resource: { buffer: params, offset: i * PARAM_STRIDE, size: AUGMENT_PARAMS_BYTES },
            },
            ...(pipeline === augmenting && dims
              ? [{ binding: 4, resource: { buffer: dims } }]
              : []),
          ],
        }));
      const loss = model.lossGroup(data.labels, indices);
      return {
        name,
        labels: data.labels,
        indices,
        count: idx.length,
        params,
        groups,
        pipeline,
        loss,
      };
    };
    const trainData = upload(sets.train, split.trainUsed);
    const testData = upload(sets.test, split.testUsed);
    return new GpuData(engine, batch, buffers, release, {
      train: source(trainData, split.train, "train", augmenting),
      val: split.val.length ? source(trainData, split.val, "validation", gather) : null,
      test: source(testData, Uint32Array.from(split.testUsed.keys()), "test", gather),
    });
  }

  /** Samples in step `i` of a source (the last batch may be short). */
  batchOf(src: Source, i: number): number {
    return Math.min(this.#batch, src.count - i * this.#batch);
  }

  /** Writes the order a source's samples are visited in (the epoch's shuffle). */
  writeOrder(src: Source, order: Uint32Array): void {
    this.#engine.write(src.indices, order);
  }

  /** Writes every step's augmentation parameters of a source for one epoch. */
  writeParams(src: Source, seed: number, epoch: number, flags: number): void {
    const data = new Uint32Array((src.groups.length * PARAM_STRIDE) / 4);
    for (let i = 0; i < src.groups.length; i++) {
      const p = {
        batch: this.batchOf(src, i),
        offset: i * this.#batch,
        seed: seed >>> 0,
        epoch,
        flags,
      };
      data.set(packAugmentParams(p), (i * PARAM_STRIDE) / 4);
    }
    this.#engine.write(src.params, data);
  }

  /** Records the gather (and augmentation) of step `i` of a source into the model's input. */
  encodeGather(pass: GPUComputePassEncoder, src: Source, i: number): void {
    pass.setPipeline(src.pipeline);
    pass.setBindGroup(0, src.groups[i]);
    pass.dispatchWorkgroups(this.batchOf(src, i));
  }

  /**
   * A gather of the test split's first batch into the model's input, for
   * {@link Engine.warmUp}: it compiles the augmentation kernel before the
   * first timed step (the input is rewritten by every step).
   */
  get warmUp(): WarmUpDispatch[] {
    const sources = [this.train, this.val, this.test].filter((s) => s !== null && s.groups.length);
    const seen = new Set<GPUComputePipeline>();
    return sources.filter((s) => !seen.has(s!.pipeline) && seen.add(s!.pipeline)).map((s) => ({
      pipeline: s!.pipeline,
      encode: (pass: GPUComputePassEncoder) => this.encodeGather(pass, s!, 0),
    }));
  }

  /** Frees the uploaded data (samples from a cache go back to it). */
  destroy(): void {
    for (const b of this.#buffers) b.destroy();
    for (const r of this.#release) r();
  }
}

/** Uploads samples `used` (in order) of a dataset: their image bytes and u32 labels. */
function uploadSamples(engine: Engine, d: Dataset, used: Uint32Array): SampleBuffers {
  const size = d.shape[0] * d.shape[1] * d.shape[2];
  const images = engine.buffer(
    used.length * size,
    `${d.name} ${d.split} images`,
    "this adapter cannot hold the samples in one buffer (use train_subset / test_subset, or a GPU)",
  );
  const labels = engine.buffer(used.length * 4, `${d.name} ${d.split} labels`);
  const all = used.length === d.count && used.every((v, i) => v === i);
  const bytes = all ? d.images : new Uint8Array(used.length * size);
  if (!all) {
    used.forEach((v, i) => bytes.set(d.images.subarray(v * size, (v + 1) * size), i * size));
  }
  engine.write(images, bytes);
  engine.write(labels, Uint32Array.from(used, (v) => d.labels[v]));
  return { images, labels };
}
