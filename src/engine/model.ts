/**
 * A TTFS network on the GPU, as a library user holds it: build it, set and
 * read its weights, train and evaluate on batches given from the host, run
 * inference, and read the metrics that accumulate on the GPU.
 *
 * The work is split by concern: `model_options.ts` (settings and their
 * checks), `network.ts` (buffers, programs and bind groups, made once),
 * `step_encoder.ts` (the dispatches of a step), `param_layout.ts` (the flat
 * weight layout) and `metrics.ts` (the accumulators' layout and decoding).
 * A step only writes its parameters into the engine's step ring and records
 * dispatches; nothing is read back until asked.
 *
 * @module
 */

import type { Engine, StepParams } from "./gpu.ts";
import { type Precision, preferEvents } from "./layers.ts";
import {
  accumFloats,
  type Metrics,
  metricsOf,
  SLOTS,
  STATS_BASE,
  STATS_FLOATS,
} from "./metrics.ts";
import {
  type ModelOptions,
  type ModelState,
  type OptimizerOptions,
  resolveModelOptions,
  type Tensor,
} from "./model_options.ts";
import { buildNetwork, lossGroup, type Network } from "./network.ts";
import { flattenWeights, unflattenWeights, weightShapes } from "./param_layout.ts";
import { type LayerPlan, planModel, sizeOf } from "./spec.ts";
import { encodeBackward, encodeForward, encodeLoss, encodeTransposes } from "./step_encoder.ts";
import { kaimingNormal, Rng } from "../util/rng.ts";

export { type Metrics, SLOTS } from "./metrics.ts";
export {
  DEFAULT_OPTIMIZER,
  type ModelOptions,
  type ModelState,
  type OptimizerOptions,
  type SparseMode,
  type Tensor,
} from "./model_options.ts";

/** What {@link Model.predict} returns for N samples. */
export interface Prediction {
  /** Predicted class of each sample. */
  predictions: number[];
  /** `[N, classes]`: the readout's potentials U, or -min(t, T) with `readout: "spike"`. */
  scores: Float32Array;
  /** `[N, classes]` output spike times (`Infinity` = none) with `readout: "spike"`; else null. */
  outputTimes: Float32Array | null;
  /** Spikes the conv and linear layers fired for each sample. */
  spikes: number[];
  /** With `{ times: true }`: per layer (readout excluded unless it spikes) `[N, ...outShape]`. */
  times?: Float32Array[];
}

/**
 * Below this share of a layer's neurons passing a gradient, its weight
 * gradient runs event-driven (`sparse: "auto"`) where no estimate of the
 * two products' times applies (a tiled core); CPU drivers compare the
 * estimates (`preferEvents` in `layers.ts`). Measured on llvmpipe (2 cores,
 * vgg7 with channels / 8, trained): the two products took about the same
 * time at 0.29 to 0.31, and at 0.23 either way by layer.
 */
export const EVENTS_SHARE = 0.25;

/** The GPU's "no spike" time (`NO_SPIKE` in `_common.wgsl`); read-backs turn it into Infinity. */
export const NO_SPIKE = 1e30;

/**
 * A spiking network on the GPU.
 *
 * @example
 * ```ts
 * import { Engine, Model } from "../../mod.ts";
 * const engine = await Engine.create();
 * const model = await Model.create(engine, { arch: "8C3-P2", inputShape: [1, 8, 8], classes: 2, maxBatch: 4 });
 * model.trainStep(new Float32Array(4 * 64).fill(0.5), [0, 1, 0, 1]); // queued, nothing read back
 * const m = await model.readMetrics(0); // loss, accuracy, firing per layer
 * if (m.samples !== 4 || m.layers[0].token !== "8C3") throw new Error();
 * engine.destroy();
 * ```
 */
export class Model {
  /** The GPU engine the model runs on. */
  readonly engine: Engine;
  /** The planned layers, in order, with their shapes. */
  readonly plan: LayerPlan[];
  /** Largest batch a step may have (buffers are sized for it). */
  readonly maxBatch: number;
  /** Window length T. */
  readonly tWin: number;
  /** Clip of the two partial factors in backward. */
  readonly gradClip: number;
  /** Input shape of one sample, `[C, H, W]` or `[F]`. */
  readonly inputShape: number[];
  /** Number of classes. */
  readonly classes: number;
  /** Optimiser settings (defaults merged with the options). */
  readonly optimizer: OptimizerOptions;
  /** How the output layer reads out: potentials U, or spike times. */
  readonly readout: "potential" | "spike";
  /** Arithmetic of the matrix products. */
  readonly precision: Precision;
  /** Per-channel pixel mean and std applied before encoding, or null. */
  readonly normalize: { mean: number[]; std: number[] } | null;
  /** Learning rate of the next step (the training loop anneals it). */
  lr: number;
  /** Optimiser steps taken (Adam's t). */
  adamStep = 0;

  /** Flat weights, `paramCount` f32 (each layer at a 256-byte aligned offset, zero padding). */
  readonly params: GPUBuffer;
  /** Weight gradients of the last step (summed over the batch), laid out like `params`. */
  readonly grads: GPUBuffer;
  /** Adam first moments, laid out like `params`. */
  readonly adamM: GPUBuffer;
  /** Adam second moments, laid out like `params`. */
  readonly adamV: GPUBuffer;
  /** Initial weight signs (-1, 0 or 1) for `fixedSigns`, laid out like `params`. */
  readonly signs: GPUBuffer;
  /** Intensities in [0, 1], `[maxBatch, ...inputShape]`. */
  readonly inputX: GPUBuffer;
  /** Encoded input spike times, `[maxBatch, ...inputShape]`. */
  readonly inputT: GPUBuffer;
  /** Per layer output (spike times, or U for the readout), layer i `[maxBatch, ...outShape]`. */
  readonly acts: GPUBuffer[];
  /** Per layer gradient w.r.t. its output, layer i `[maxBatch, ...outShape]`. */
  readonly deltas: GPUBuffer[];
  /**
   * Metric accumulators (f32): per slot `[loss sum, correct, samples, unused]` at `slot * 4`, then
   * from `statsBase` per slot and layer 18 floats: spike count, spike time sum, 16-bin histogram.
   */
  readonly accum: GPUBuffer;
  /** Floats in the flat parameter buffers (weights plus alignment padding). */
  readonly paramCount: number;
  /** Offset (floats) of the per-layer spike statistics in `accum`. */
  readonly statsBase: number;

  #net: Network;

  private constructor(engine: Engine, net: Network) {
    const o = net.opts;
    this.engine = engine;
    this.#net = net;
    this.plan = net.plan;
    this.inputShape = o.inputShape;
    this.classes = o.classes;
    this.maxBatch = o.maxBatch;
    this.tWin = o.tWin;
    this.gradClip = o.gradClip;
    this.optimizer = o.optimizer;
    this.lr = o.optimizer.lr;
    this.readout = o.readout;
    this.precision = o.precision;
    this.normalize = o.normalize
      ? { mean: [...o.normalize.mean], std: [...o.normalize.std] }
      : null;
    this.params = net.params;
    this.grads = net.grads;
    this.adamM = net.adamM;
    this.adamV = net.adamV;
    this.signs = net.signs;
    this.inputX = net.inputX;
    this.inputT = net.inputT;
    this.acts = net.acts;
    this.deltas = net.deltas;
    this.accum = net.accum;
    this.paramCount = net.layout.count;
    this.statsBase = STATS_BASE;
  }

  /** Builds a model: plans the layers, allocates buffers, compiles kernels, initialises weights. */
  static async create(engine: Engine, opts: ModelOptions): Promise<Model> {
    const resolved = resolveModelOptions(opts, engine);
    const plan = planModel(opts.arch, resolved.inputShape, resolved.classes);
    const model = new Model(engine, await buildNetwork(engine, plan, resolved));
    model.initWeights(opts.seed ?? 0);
    engine.check();
    return model;
  }

  /** Kaiming-normal initialisation (std sqrt(2 / fan_in)) from a seeded generator, layer by layer. */
  initWeights(seed: number): void {
    const rng = new Rng(seed);
    const tensors: Record<string, Tensor> = {};
    for (const p of this.plan) {
      if (!p.weightShape) continue;
      tensors[`layers.${p.index}.weight`] = {
        shape: p.weightShape,
        data: kaimingNormal(p.weightShape, p.fanIn, rng),
      };
    }
    this.setWeights(tensors);
  }

  /** Names and PyTorch shapes of the weight tensors. */
  weightShapes(): Record<string, number[]> {
    return weightShapes(this.#net.layout);
  }

  /**
   * Replaces all weights (every tensor must be present with its exact shape and
   * finite values; nothing is written unless all are valid). Resets the
   * optimiser state and records the new weights' signs for `fixedSigns`.
   */
  setWeights(
    tensors: Record<string, { shape: number[]; data: ArrayLike<number> }>,
    source = "weights",
  ): void {
    const flat = flattenWeights(this.#net.layout, tensors, source);
    this.engine.write(this.params, flat);
    this.engine.write(this.signs, flat.map((v) => Math.sign(v)));
    const zeros = new Float32Array(this.paramCount);
    this.engine.write(this.adamM, zeros);
    this.engine.write(this.adamV, zeros);
    this.adamStep = 0;
    this.#weightsChanged();
  }

  /**
   * Brings what is derived from `params` up to date after a host write: the
   * transposed copies that direct convolutions read (queued, nothing read
   * back). Call it after writing {@link Model.params} directly.
   */
  weightsWritten(): void {
    this.#weightsChanged();
  }

  #weightsChanged(): void {
    if (this.#net.transposed.copies.length === 0) return;
    const enc = this.engine.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setBindGroup(0, this.engine.stepGroup, [0]);
    encodeTransposes(this.#net, pass);
    pass.end();
    this.engine.device.queue.submit([enc.finish()]);
  }

  /** Reads the weights back as PyTorch-shaped tensors named `layers.<i>.weight`. */
  async getWeights(): Promise<Record<string, Tensor>> {
    const flat = await this.engine.readF32(this.params, this.paramCount);
    return unflattenWeights(this.#net.layout, flat);
  }

  /** Reads the last step's weight gradients (summed over the batch). */
  async getGradients(): Promise<Record<string, Tensor>> {
    return unflattenWeights(
      this.#net.layout,
      await this.engine.readF32(this.grads, this.paramCount),
    );
  }

  /** Optimiser state for checkpoints (one read-back). */
  async exportState(): Promise<ModelState> {
    const n = this.paramCount;
    const [params, m, v, signs] = await this.engine.readManyF32(
      [this.params, this.adamM, this.adamV, this.signs].map((buffer) => ({ buffer, count: n })),
    );
    return { params, m, v, signs, adamStep: this.adamStep, lr: this.lr };
  }

  /** Restores {@link exportState}'s result. */
  importState(s: ModelState): void {
    for (const [k, a] of Object.entries({ params: s.params, m: s.m, v: s.v, signs: s.signs })) {
      if (a.length !== this.paramCount) {
        throw new Error(
          `Cannot restore state: '${k}' expected ${this.paramCount} values, got ${a.length}`,
        );
      }
    }
    this.engine.write(this.params, s.params);
    this.engine.write(this.adamM, s.m);
    this.engine.write(this.adamV, s.v);
    this.engine.write(this.signs, s.signs);
    this.adamStep = s.adamStep;
    this.lr = s.lr;
    this.#weightsChanged();
  }

  /** The loss kernel's bind group for a label source (made once per pair of buffers). */
  lossGroup(labels: GPUBuffer, indices: GPUBuffer): GPUBindGroup {
    return lossGroup(this.engine, this.#net, labels, indices);
  }

  /** Step parameters for the next optimiser step (advances Adam's counter). */
  nextTrainStep(
    batch: number,
    extra: { sampleOffset?: number; seed?: number; epoch?: number; flags?: number } = {},
  ): StepParams & { batch: number } {
    this.#checkBatch(batch);
    const t = ++this.adamStep;
    const [b1, b2] = this.optimizer.betas;
    return {
      batch,
      ...extra,
      adamStep: t,
      metricSlot: 0,
      lr: this.lr,
      bc1: 1 - Math.pow(b1, t),
      bc2: 1 - Math.pow(b2, t),
    };
  }

  #checkBatch(batch: number): void {
    if (!(Number.isInteger(batch) && batch >= 1 && batch <= this.maxBatch)) {
      throw new Error(
        `Cannot run a step of ${batch} samples: expected 1 to ${this.maxBatch} (maxBatch)`,
      );
    }
  }

  /**
   * Records the input encoding and the forward pass of `batch` samples (with
   * `fuse`, as a training step without statistics records it: see
   * {@link encodeTrainStep}).
   */
  encodeForward(
    pass: GPUComputePassEncoder,
    batch: number,
    stats: boolean,
    encode = true,
    fuse = false,
  ): void {
    encodeForward(this.#net, pass, batch, stats, encode, fuse);
  }

  /** Records the loss (and its gradient) into the accumulators of the step's slot. */
  encodeLoss(pass: GPUComputePassEncoder, lossGroup: GPUBindGroup): void {
    encodeLoss(this.#net, pass, lossGroup);
  }

  /** Records the event-driven backward pass and the optimiser update. */
  encodeBackward(pass: GPUComputePassEncoder, batch: number, update = true): void {
    encodeBackward(this.#net, pass, batch, update);
  }

  /**
   * Records one whole training step (encode, forward, loss, backward,
   * update). Without `stats`, a CPU driver's convolution before a 2 x 2 pool
   * computes the pool's output in the same pass and does not write its own
   * spike times (the pool's are written; nothing else reads them in the
   * step).
   */
  encodeTrainStep(
    pass: GPUComputePassEncoder,
    stepOffset: number,
    batch: number,
    lossGroup: GPUBindGroup,
    stats = true,
    encode = true,
  ): void {
    pass.setBindGroup(0, this.engine.stepGroup, [stepOffset]);
    this.encodeForward(pass, batch, stats, encode, !stats);
    this.encodeLoss(pass, lossGroup);
    this.encodeBackward(pass, batch);
  }

  #upload(
    x: ArrayLike<number>,
    labels: ArrayLike<number> | null,
    what: string,
    encoded: boolean,
  ): number {
    const inSize = sizeOf(this.inputShape);
    if (x.length % inSize !== 0 || x.length === 0) {
      throw new Error(
        `Cannot ${what}: expected input of shape [B, ${this.inputShape}] (a multiple of ${inSize} values), got ${x.length} values`,
      );
    }
    const batch = x.length / inSize;
    this.#checkBatch(batch);
    const data = Float32Array.from(x);
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (encoded ? !(v === Infinity || Number.isFinite(v)) : !(v >= 0 && v <= 1)) {
        const s = Math.floor(i / inSize);
        throw new Error(
          `Cannot ${what}: expected ${
            encoded ? "spike times (finite or Infinity)" : "intensities in [0, 1]"
          }, ` +
            `got ${v} in sample ${s} at element ${i - s * inSize}`,
        );
      }
      if (encoded && v === Infinity) data[i] = NO_SPIKE;
    }
    this.engine.write(encoded ? this.inputT : this.inputX, data);
    if (labels) {
      if (labels.length !== batch) {
        throw new Error(
          `Cannot ${what}: expected ${batch} labels (one per sample), got ${labels.length}`,
        );
      }
      const l = new Uint32Array(batch);
      for (let i = 0; i < batch; i++) {
        const y = labels[i];
        if (!(Number.isInteger(y) && y >= 0 && y < this.classes)) {
          throw new Error(
            `Cannot ${what}: expected labels in 0..${this.classes - 1}, got ${y} at sample ${i}`,
          );
        }
        l[i] = y;
      }
      this.engine.write(this.#net.directLabels, l);
    }
    return batch;
  }

  /**
   * One training step on a batch: `x` holds intensities in [0, 1] laid out
   * `[B, ...inputShape]`, `labels` one class per sample. Returns once the
   * step is submitted (nothing is read back); the metrics accumulate in slot 0.
   */
  trainStep(x: ArrayLike<number>, labels: ArrayLike<number>, { encoded = false } = {}): void {
    const batch = this.#upload(x, labels, "train on batch", encoded);
    const [offset] = this.engine.steps([this.nextTrainStep(batch)]);
    const enc = this.engine.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    this.encodeTrainStep(
      pass,
      offset,
      batch,
      this.lossGroup(this.#net.directLabels, this.#net.directIndices),
      true,
      !encoded,
    );
    pass.end();
    this.engine.device.queue.submit([enc.finish()]);
  }

  /**
   * Runs the network on a batch of intensities and returns every spiking or
   * pooling layer's spike times (`Infinity` for no spike), the readout's
   * potentials U and the predicted classes, with one read-back. With
   * `readout: "spike"`, `times` also holds the output layer's spike times and
   * `potentials` the logits -min(tau, T).
   */
  async forward(
    x: ArrayLike<number>,
    { encoded = false } = {},
  ): Promise<{ times: Float32Array[]; potentials: Float32Array; predictions: number[] }> {
    const batch = this.#upload(x, null, "run inference", encoded);
    const [offset] = this.engine.steps([{ batch, metricSlot: SLOTS - 1 }]);
    const enc = this.engine.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setBindGroup(0, this.engine.stepGroup, [offset]);
    this.encodeForward(pass, batch, false, !encoded);
    pass.end();
    this.engine.device.queue.submit([enc.finish()]);
    const outs = await this.engine.readManyF32(
      this.plan.map((p, i) => ({ buffer: this.acts[i], count: batch * sizeOf(p.outShape) })),
    );
    const spiking = this.readout === "spike";
    const last = outs[outs.length - 1];
    const potentials = spiking ? last.map((t) => -Math.min(t, this.tWin)) : last;
    if (!spiking) outs.pop();
    for (const t of outs) {
      for (let i = 0; i < t.length; i++) if (t[i] >= NO_SPIKE / 10) t[i] = Infinity;
    }
    const K = this.classes;
    const predictions = Array.from({ length: batch }, (_, b) => {
      let best = 0;
      for (let k = 1; k < K; k++) if (potentials[b * K + k] > potentials[b * K + best]) best = k;
      return best;
    });
    return { times: outs, potentials, predictions };
  }

  /**
   * Inference on any number of samples (run `maxBatch` at a time): the
   * predicted class of each, its scores (the readout's potentials U, or
   * -min(t, T) with `readout: "spike"`), the output layer's spike times
   * (`readout: "spike"` only), how many spikes the network fired for it
   * (conv and linear layers), and with `{ times: true }` every layer's spike
   * times (`Infinity` = no spike; pooling layers pass their winner's time).
   * `images` are intensities in [0, 1] laid out `[N, ...inputShape]`.
   *
   * @example
   * ```ts
   * import { Engine, Model } from "../../mod.ts";
   * const engine = await Engine.create();
   * const model = await Model.create(engine, { arch: "8C3-P2", inputShape: [1, 8, 8], classes: 3, maxBatch: 2 });
   * const images = new Float32Array(5 * 64).map((_, i) => (i % 9) / 9); // 5 samples, 3 batches
   * const p = await model.predict(images, { times: true });
   * if (p.predictions.length !== 5 || p.scores.length !== 15 || p.spikes.length !== 5) throw new Error();
   * if (p.times!.length !== 2 || p.times![0].length !== 5 * 8 * 8 * 8) throw new Error();
   * if (!p.predictions.every((c, n) => p.scores[n * 3 + c] === Math.max(...p.scores.subarray(n * 3, n * 3 + 3)))) {
   *   throw new Error("a prediction is not its sample's highest score");
   * }
   * engine.destroy();
   * ```
   */
  async predict(
    images: ArrayLike<number>,
    { times = false }: { times?: boolean } = {},
  ): Promise<Prediction> {
    const inSize = sizeOf(this.inputShape);
    if (images.length % inSize !== 0 || images.length === 0) {
      throw new Error(
        `Cannot predict: expected images of shape [N, ${this.inputShape}] (a multiple of ${inSize} values), got ${images.length} values`,
      );
    }
    const n = images.length / inSize;
    const K = this.classes;
    const spiking = this.readout === "spike";
    const layers = spiking ? this.plan : this.plan.slice(0, -1);
    const out: Prediction = {
      predictions: [],
      scores: new Float32Array(n * K),
      outputTimes: spiking ? new Float32Array(n * K) : null,
      spikes: [],
      ...(times ? { times: layers.map((p) => new Float32Array(n * sizeOf(p.outShape))) } : {}),
    };
    const counted = this.#net.spiking;
    const all = Array.from(images as ArrayLike<number>);
    for (let first = 0; first < n; first += this.maxBatch) {
      const b = Math.min(this.maxBatch, n - first);
      const r = await this.forward(all.slice(first * inSize, (first + b) * inSize));
      out.predictions.push(...r.predictions);
      out.scores.set(r.potentials, first * K);
      if (out.outputTimes) out.outputTimes.set(r.times[r.times.length - 1], first * K);
      for (let s = 0; s < b; s++) {
        let count = 0;
        for (const i of counted) {
          const size = sizeOf(this.plan[i].outShape);
          const t = r.times[i].subarray(s * size, (s + 1) * size);
          for (let j = 0; j < size; j++) if (t[j] !== Infinity) count++;
        }
        out.spikes.push(count);
      }
      if (out.times) {
        r.times.forEach((t, i) => out.times![i].set(t, first * sizeOf(layers[i].outShape)));
      }
    }
    return out;
  }

  /**
   * Evaluates a batch into a metrics slot (loss, accuracy and spike
   * statistics, no update); read them with {@link readMetrics}.
   */
  evaluate(
    x: ArrayLike<number>,
    labels: ArrayLike<number>,
    slot = 2,
    { encoded = false } = {},
  ): void {
    const batch = this.#upload(x, labels, "evaluate batch", encoded);
    const [offset] = this.engine.steps([{ batch, metricSlot: slot }]);
    const enc = this.engine.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setBindGroup(0, this.engine.stepGroup, [offset]);
    this.encodeForward(pass, batch, true, !encoded);
    this.encodeLoss(pass, this.lossGroup(this.#net.directLabels, this.#net.directIndices));
    pass.end();
    this.engine.device.queue.submit([enc.finish()]);
  }

  /** Reads the accumulated metrics of a slot (one read-back). */
  async readMetrics(slot = 0): Promise<Metrics> {
    return (await this.readAllMetrics())[slot];
  }

  /** Reads every slot's metrics with one read-back (with the event counters of the training slot). */
  async readAllMetrics(): Promise<Metrics[]> {
    const net = this.#net;
    const [all, counts] = await this.engine.readManyF32([
      { buffer: this.accum, count: accumFloats(this.plan.length) },
      { buffer: net.counter, count: this.plan.length },
    ]);
    const events = net.sparse
      ? new Uint32Array(counts.buffer, counts.byteOffset, counts.length)
      : null;
    return Array.from(
      { length: SLOTS },
      (_, s) => metricsOf(all, this.plan, net.spiking, s, events),
    );
  }

  /**
   * Which product each weighted layer's weight gradient runs now: `events`
   * (over the neurons that pass a gradient) or `dense`. Both give the same
   * sums bit for bit.
   */
  get weightGradients(): ("events" | "dense" | null)[] {
    return this.#net.layers.map((L) => L.weighted ? (L.sparse ? "events" : "dense") : null);
  }

  /**
   * What each weighted layer's input gradient runs: `skip` (a direct
   * convolution that skips the output channels without events on a
   * workgroup's images, from the event builder's counts: the same sums bit for
   * bit), `dense`, or null (no input gradient, or not a weighted layer).
   */
  get inputGradients(): ("skip" | "dense" | null)[] {
    return this.#net.layers.map((L) => {
      if (!L.weighted || !L.groups.backward) return null;
      return L.weighted.direct?.backwardInput?.skip ? "skip" : "dense";
    });
  }

  /**
   * Sets one weighted layer's weight gradient to the event-driven or the dense
   * product (for benchmarks and tests; {@link chooseProducts} does it from
   * measured activity). The event-driven one needs a model built with
   * event-driven products (`sparse` not `off`, and on a GPU `on`).
   */
  setWeightGradient(index: number, product: "events" | "dense"): void {
    const L = this.#net.layers[index];
    if (!L?.weighted) {
      throw new Error(`Cannot set layer ${index}'s weight gradient: expected a weighted layer`);
    }
    if (product === "events" && !L.events) {
      throw new Error(
        `Cannot run layer ${index} '${L.plan.spec.token}' event-driven: expected a spiking layer ` +
          `of a model with sparse products (sparse 'on', or 'auto' on a CPU driver)`,
      );
    }
    if (product === "dense" && L.events?.pooled && !L.events.dense) {
      throw new Error(
        `Cannot run layer ${index} '${L.plan.spec.token}' dense: its pool's gradient reaches ` +
          `only its events (no dense factors are written)`,
      );
    }
    L.sparse = product === "events";
  }

  /**
   * With `sparse: "auto"`, chooses each spiking layer's weight gradient from
   * the measured share of its neurons that passed a gradient (the training
   * slot's {@link Metrics}, as the training loop reads it every epoch): with
   * the direct core (CPU drivers) the product whose estimated time is less
   * (`preferEvents`: the events' count against the dense product's tile),
   * else the event-driven one below {@link EVENTS_SHARE}. Layers right before
   * a max pool stay event-driven (at most one neuron per window passes a
   * gradient). Returns the products now chosen.
   */
  chooseProducts(train: Metrics): ("events" | "dense" | null)[] {
    if (this.#net.opts.sparse === "auto") {
      const cores = navigator.hardwareConcurrency || 1;
      for (const l of train.layers) {
        const L = this.#net.layers[l.index];
        if (!L.events || L.events.pooled || !Number.isFinite(l.gradientShare)) continue;
        const W = L.weighted!;
        L.sparse = W.weightTile.core === "direct"
          ? preferEvents(
            L.gemm!,
            l.gradientShare,
            this.maxBatch,
            W.direct?.weight ?? W.weightTile,
            W.weightSplits,
            cores,
          )
          : l.gradientShare < EVENTS_SHARE;
      }
    }
    return this.weightGradients;
  }

  /** Zeroes the metric accumulators (all slots, or one). */
  resetMetrics(slot?: number): void {
    if (slot === undefined) {
      this.engine.write(this.accum, new Float32Array(accumFloats(this.plan.length)));
      this.engine.write(this.#net.counter, new Uint32Array(this.plan.length));
      return;
    }
    this.engine.write(this.accum, new Float32Array(4), slot * 16);
    this.engine.write(
      this.accum,
      new Float32Array(this.plan.length * STATS_FLOATS),
      (STATS_BASE + slot * this.plan.length * STATS_FLOATS) * 4,
    );
    if (slot === 0) this.engine.write(this.#net.counter, new Uint32Array(this.plan.length));
  }

  /** Bytes of all GPU buffers the model allocated (activations, weights, optimiser state, partials). */
  get allocatedBytes(): number {
    return this.#net.buffers.reduce((a, b) => a + b.size, 0);
  }

  /** Frees the model's GPU buffers. */
  destroy(): void {
    for (const b of this.#net.buffers) b.destroy();
  }
}
