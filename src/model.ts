/**
 * A TTFS network on the GPU: its buffers, bind groups and the encoding of
 * whole training and evaluation steps into one compute pass each.
 *
 * Buffers and bind groups are made once when the model is built (sized for
 * `maxBatch`); a step only writes its parameters into the engine's step ring
 * and records dispatches. Loss, accuracy and spike statistics accumulate in a
 * GPU buffer and are read back only when asked.
 *
 * @module
 */

import { type Engine, grid1d, type Program, type StepParams } from "./gpu.ts";
import {
  dispatchGemm,
  elementwise,
  type GemmShape,
  gemmShape,
  type PoolPrograms,
  poolPrograms,
  type Precision,
  type WeightedPrograms,
  weightedPrograms,
} from "./layers.ts";
import { kaimingNormal, Rng } from "./rng.ts";
import { type LayerPlan, type LayerSpec, planModel, sizeOf } from "./spec.ts";

/** Optimiser settings (MODEL.md defaults in {@link DEFAULT_OPTIMIZER}). */
export interface OptimizerOptions {
  /** Update rule: Adam, or plain SGD (`w -= lr * g`). */
  kind: "adam" | "sgd";
  /** Initial learning rate. */
  lr: number;
  /** Adam's decay rates [beta1, beta2] of the first and second moments. */
  betas: [number, number];
  /** Adam's epsilon, added to sqrt of the bias-corrected second moment. */
  eps: number;
  /** Decoupled weight decay factor: after the update, `w -= lr * weightDecay * w`. */
  weightDecay: number;
  /** Clip weights to [min, max] after each update, or null. */
  weightClip: [number, number] | null;
  /** Keep each weight's initial sign (a weight that would cross zero becomes 0). */
  fixedSigns: boolean;
}

/** The reference's optimiser defaults. */
export const DEFAULT_OPTIMIZER: OptimizerOptions = {
  kind: "adam",
  lr: 1e-4,
  betas: [0.9, 0.999],
  eps: 1e-8,
  weightDecay: 0.1,
  weightClip: null,
  fixedSigns: false,
};

/** Options of {@link Model.create}. */
export interface ModelOptions {
  /** Architecture: `vgg7`, `vgg11` or a spec string such as `16C3-P2-100F`. */
  arch: string | LayerSpec[];
  /** `[C, H, W]` or `[F]`. */
  inputShape: number[];
  /** Number of classes (outputs of the readout layer). */
  classes: number;
  /** Largest batch a step may have (buffers are sized for it). Default 256. */
  maxBatch?: number;
  /** Window length T. Default 1. */
  tWin?: number;
  /** Clip of the two partial factors in backward. Default 1. */
  gradClip?: number;
  /** Normalise pixels by per-channel mean and std before encoding. */
  normalize?: { mean: number[]; std: number[] } | null;
  /**
   * `potential` (default): the readout does not fire, prediction is argmax of
   * its potentials U. `spike`: the output layer spikes, prediction is the
   * earliest spike, and the loss is softmax cross-entropy on -min(tau, T).
   */
  readout?: "potential" | "spike";
  /**
   * Arithmetic of the matrix products: `f32` (default), or `f16` (float16
   * tiles and per-slice sums, float32 totals; needs the `shader-f16` feature).
   */
  precision?: Precision;
  /** Seed of the Kaiming-normal initialisation. Default 0. */
  seed?: number;
  /** Optimiser settings, overriding {@link DEFAULT_OPTIMIZER} field by field. */
  optimizer?: Partial<OptimizerOptions>;
}

/** Accumulator slots: training, validation, test, and a free one. */
export const SLOTS = 4;
const REC = 18;
const HIST_BINS = 16;

/** Metrics read back from the GPU for one slot. */
export interface Metrics {
  /** Samples accumulated in this slot since the last reset. */
  samples: number;
  /** Mean softmax cross-entropy loss per sample (NaN when no samples). */
  loss: number;
  /** Fraction of samples predicted correctly, in [0, 1] (NaN when no samples). */
  accuracy: number;
  /** Per spiking layer (conv and linear, in order). */
  layers: {
    /** Index of the layer in the model's plan. */
    index: number;
    /** The layer's spec token, e.g. "16C3". */
    token: string;
    /** Fraction of the layer's neurons that fired, per sample, in [0, 1]. */
    firing: number;
    /** Mean spike time of the neurons that fired (NaN when none fired). */
    meanTime: number;
    /** Spikes of this layer per sample. */
    spikesPerSample: number;
    /** Counts of spike times in 16 equal bins over [0, T]. */
    hist: number[];
  }[];
  /** Spikes per sample summed over all spiking layers. */
  spikesPerSample: number;
}

/** What a checkpoint holds of a model: flat weights, Adam moments, initial signs, step and lr. */
export interface ModelState {
  /** Flat weights, `paramCount` floats (layers at 256-byte aligned offsets, zero padding). */
  params: Float32Array;
  /** Adam first moments, laid out like `params`. */
  m: Float32Array;
  /** Adam second moments, laid out like `params`. */
  v: Float32Array;
  /** Initial weight signs (-1, 0 or 1), laid out like `params`. */
  signs: Float32Array;
  /** Optimiser steps taken (Adam's t). */
  adamStep: number;
  /** Learning rate of the next step. */
  lr: number;
}

/** A named tensor as safetensors stores it. */
export interface Tensor {
  /** Dimensions (PyTorch order). */
  shape: number[];
  /** Values in row-major order, `product(shape)` floats. */
  data: Float32Array;
}

interface LayerRun {
  plan: LayerPlan;
  gemm?: GemmShape;
  weighted?: WeightedPrograms;
  pool?: PoolPrograms;
  stats?: { partial: Program; final: Program; group: GPUBindGroup };
  groups: {
    forward: GPUBindGroup;
    /** A split forward's finishing pass. */
    finish?: GPUBindGroup;
    backward?: GPUBindGroup;
    weight?: GPUBindGroup;
    reduce?: GPUBindGroup;
  };
  /** Offset (floats) of the weights in the flat parameter buffer, or -1. */
  offset: number;
  size: number;
}

const ALIGN = 64; // floats: 256-byte aligned layer offsets
/** The GPU's "no spike" time (`NO_SPIKE` in `_common.wgsl`); read-backs turn it into Infinity. */
export const NO_SPIKE = 1e30;

/**
 * A spiking network on the GPU.
 *
 * @example
 * ```ts
 * import { Engine, Model } from "../mod.ts";
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

  #layers: LayerRun[] = [];
  #encode!: { program: Program; group: GPUBindGroup };
  #loss!: Program;
  #optim!: { program: Program; group: GPUBindGroup };
  #lossGroups = new Map<GPUBuffer, Map<GPUBuffer, GPUBindGroup>>();
  #directLabels: GPUBuffer;
  #directIndices: GPUBuffer;
  #spikingLayers: number[];
  #buffers: GPUBuffer[] = [];

  private constructor(engine: Engine, opts: ModelOptions) {
    this.engine = engine;
    this.inputShape = [...opts.inputShape];
    this.classes = opts.classes;
    this.plan = planModel(opts.arch, opts.inputShape, opts.classes);
    this.maxBatch = opts.maxBatch ?? 256;
    this.tWin = opts.tWin ?? 1;
    this.gradClip = opts.gradClip ?? 1;
    this.optimizer = { ...DEFAULT_OPTIMIZER, ...opts.optimizer };
    this.lr = this.optimizer.lr;
    this.readout = opts.readout ?? "potential";
    this.precision = opts.precision ?? "f32";
    if (this.precision !== "f32" && this.precision !== "f16") {
      throw new Error(
        `Cannot build model: expected precision 'f32' or 'f16', got '${opts.precision}'`,
      );
    }
    if (this.precision === "f16" && !engine.features.includes("shader-f16")) {
      throw new Error(
        `Cannot build model: precision 'f16' expected an adapter with 'shader-f16', got ${engine.adapterName} without it`,
      );
    }
    if (this.readout !== "potential" && this.readout !== "spike") {
      throw new Error(
        `Cannot build model: expected readout 'potential' or 'spike', got '${opts.readout}'`,
      );
    }
    if (!(this.maxBatch >= 1 && Number.isInteger(this.maxBatch))) {
      throw new Error(
        `Cannot build model: expected maxBatch a positive integer, got ${opts.maxBatch}`,
      );
    }
    if (!(this.tWin > 0)) {
      throw new Error(`Cannot build model: expected tWin > 0, got ${opts.tWin}`);
    }
    const buf = (bytes: number, label: string) => {
      const b = engine.buffer(bytes, label);
      this.#buffers.push(b);
      return b;
    };
    let total = 0;
    for (const p of this.plan) {
      const size = p.weightShape ? sizeOf(p.weightShape) : 0;
      this.#layers.push({
        plan: p,
        offset: p.weightShape ? total : -1,
        size,
        groups: {} as LayerRun["groups"],
      });
      total += Math.ceil(size / ALIGN) * ALIGN;
    }
    this.paramCount = total;
    this.params = buf(total * 4, "params");
    this.grads = buf(total * 4, "grads");
    this.adamM = buf(total * 4, "adam m");
    this.adamV = buf(total * 4, "adam v");
    this.signs = buf(total * 4, "signs");
    const B = this.maxBatch;
    const inSize = sizeOf(this.inputShape);
    this.inputX = buf(B * inSize * 4, "input x");
    this.inputT = buf(B * inSize * 4, "input t");
    this.acts = this.plan.map((p) => buf(B * sizeOf(p.outShape) * 4, `layer ${p.index} out`));
    this.deltas = this.plan.map((p) => buf(B * sizeOf(p.outShape) * 4, `layer ${p.index} delta`));
    this.#spikingLayers = this.plan.filter((p) =>
      p.spec.kind === "conv" || p.spec.kind === "linear"
    )
      .map((p) => p.index);
    this.statsBase = 64; // floats; the loss metrics take SLOTS * 4 <= 64
    this.accum = buf((this.statsBase + SLOTS * this.plan.length * REC) * 4, "accumulators");
    this.#directLabels = buf(B * 4, "labels");
    this.#directIndices = buf(B * 4, "indices");
    engine.write(this.#directIndices, Uint32Array.from({ length: B }, (_, i) => i));
  }

  /** Builds a model: plans the layers, allocates buffers, compiles kernels, initialises weights. */
  static async create(engine: Engine, opts: ModelOptions): Promise<Model> {
    const model = new Model(engine, opts);
    await model.#build(opts);
    model.initWeights(opts.seed ?? 0);
    engine.check();
    return model;
  }

  async #build(opts: ModelOptions): Promise<void> {
    const e = this.engine;
    const B = this.maxBatch;
    const inShape = this.inputShape;
    const norm = opts.normalize ?? null;
    const channels = inShape.length === 3 ? inShape[0] : 1;
    const plane = sizeOf(inShape) / channels;
    if (norm && (norm.mean.length !== channels || norm.std.length !== channels)) {
      throw new Error(
        `Cannot build model: normalize expects ${channels} means and stds, got ${norm.mean.length} and ${norm.std.length}`,
      );
    }
    const normBuf = e.buffer(channels * 8, "norm");
    this.#buffers.push(normBuf);
    e.write(
      normBuf,
      Float32Array.from(
        { length: channels * 2 },
        (_, i) => norm ? (i % 2 ? norm.std : norm.mean)[i >> 1] : 0,
      ),
    );
    const encode = await e.program({
      files: ["encode.wgsl"],
      bindings: ["read", "read", "rw"],
      constants: { C: channels, PLANE: plane, TWIN: this.tWin, NORMALIZE: !!norm },
    });
    this.#encode = { program: encode, group: e.bind(encode, [this.inputX, normBuf, this.inputT]) };

    let partMax = 16;
    for (const L of this.#layers) {
      if (L.plan.weightShape) {
        L.gemm = gemmShape(L.plan, this.readout === "spike");
        L.weighted = await weightedPrograms(e, L.gemm, this.tWin, this.gradClip, B, this.precision);
        const W = L.weighted;
        const columns = Math.ceil(
          (B * L.gemm.h * L.gemm.w) / Math.min(W.forward.tile.bn, W.backwardInput.tile.bn),
        );
        const limit = e.device.limits.maxComputeWorkgroupsPerDimension;
        if (columns > limit) {
          throw new Error(
            `Cannot build layer ${L.plan.index} '${L.plan.spec.token}': expected at most ${limit} workgroups ` +
              `per dispatch dimension, got ${columns} for batch ${B}; use a smaller batch`,
          );
        }
        const fwdPart = W.forward.splits > 1
          ? W.forward.splits * L.gemm.co * B * L.gemm.h * L.gemm.w * 2
          : 0;
        partMax = Math.max(partMax, W.backwardWeight.splits * L.size, fwdPart);
      } else {
        L.pool = await poolPrograms(e, L.plan);
      }
    }
    const part = e.buffer(partMax * 4, "split-K partials");
    this.#buffers.push(part);
    let statsPartMax = 16;
    for (const i of this.#spikingLayers) {
      statsPartMax = Math.max(
        statsPartMax,
        Math.ceil((B * sizeOf(this.plan[i].outShape)) / 4096) * REC,
      );
    }
    const statsPart = e.buffer(statsPartMax * 4, "stats partials");
    this.#buffers.push(statsPart);
    const statsAcc = {
      buffer: this.accum,
      offset: this.statsBase * 4,
      size: SLOTS * this.plan.length * REC * 4,
    };

    for (const L of this.#layers) {
      const i = L.plan.index;
      const x = i === 0 ? this.inputT : this.acts[i - 1];
      const y = this.acts[i];
      if (L.weighted) {
        const w = { buffer: this.params, offset: L.offset * 4, size: L.size * 4 };
        const g = { buffer: this.grads, offset: L.offset * 4, size: L.size * 4 };
        const outCount = B * sizeOf(L.plan.outShape);
        const gfac = e.buffer(L.gemm!.mode === 0 ? outCount * 8 : 16, `layer ${i} gfac`);
        this.#buffers.push(gfac);
        const W = L.weighted;
        L.groups.forward = e.bind(W.forward.program, [x, w, y, gfac, part]);
        if (W.finishForward) L.groups.finish = e.bind(W.finishForward, [part, y, gfac]);
        if (this.#needsInputGrad(i)) {
          L.groups.backward = e.bind(W.backwardInput.program, [
            x,
            w,
            this.deltas[i],
            gfac,
            this.deltas[i - 1],
          ]);
        }
        L.groups.weight = e.bind(W.backwardWeight.program, [x, this.deltas[i], gfac, part]);
        L.groups.reduce = e.bind(W.reduce, [
          { buffer: part, offset: 0, size: W.backwardWeight.splits * L.size * 4 },
          g,
        ]);
      } else {
        const idx = e.buffer(B * sizeOf(L.plan.outShape) * 4, `layer ${i} argmin`);
        this.#buffers.push(idx);
        L.groups.forward = e.bind(L.pool!.forward, [x, y, idx]);
        if (i > 0) {
          L.groups.backward = e.bind(L.pool!.backward, [this.deltas[i], idx, this.deltas[i - 1]]);
        }
      }
      if (this.#spikingLayers.includes(i)) {
        const constants = {
          NEURONS: sizeOf(L.plan.outShape),
          TWIN: this.tWin,
          LAYER: i,
          NLAYERS: this.plan.length,
        };
        const bindings: ("read" | "rw")[] = ["read", "rw", "rw"];
        const [partial, final] = await Promise.all([
          e.program({ files: ["stats.wgsl"], entry: "partial", bindings, constants }),
          e.program({ files: ["stats.wgsl"], entry: "finish", bindings, constants }),
        ]);
        L.stats = { partial, final, group: e.bind(partial, [y, statsPart, statsAcc]) };
      }
    }
    this.#loss = await e.program({
      files: ["loss.wgsl"],
      bindings: ["read", "rw", "read", "read", "rw"],
      constants: { K: this.classes, SPIKE_OUT: this.readout === "spike", TWIN: this.tWin },
    });
    const o = this.optimizer;
    if (o.weightClip && !(o.weightClip[0] < o.weightClip[1])) {
      throw new Error(
        `Cannot build optimiser: expected weightClip [min, max] with min < max, got [${o.weightClip}]`,
      );
    }
    const optim = await e.program({
      files: ["optimizer.wgsl"],
      bindings: ["rw", "read", "rw", "rw", "read"],
      constants: {
        LEN4: this.paramCount / 4,
        MODE: o.kind === "adam" ? 0 : 1,
        B1: o.betas[0],
        B2: o.betas[1],
        EPS: o.eps,
        WD: o.weightDecay,
        WCLIP: !!o.weightClip,
        W_MIN: o.weightClip?.[0] ?? 0,
        W_MAX: o.weightClip?.[1] ?? 0,
        SIGNS: o.fixedSigns,
      },
    });
    this.#optim = {
      program: optim,
      group: e.bind(optim, [this.params, this.grads, this.adamM, this.adamV, this.signs]),
    };
  }

  /** Whether layer i must pass a gradient to its input: some earlier layer has weights. */
  #needsInputGrad(i: number): boolean {
    return this.plan.slice(0, i).some((p) => p.weightShape !== null);
  }

  /** Kaiming-normal initialisation (std sqrt(2 / fan_in)) from a seeded generator, layer by layer. */
  initWeights(seed: number): void {
    const rng = new Rng(seed);
    const tensors: Record<string, Tensor> = {};
    for (const L of this.#layers) {
      if (!L.plan.weightShape) continue;
      tensors[`layers.${L.plan.index}.weight`] = {
        shape: L.plan.weightShape,
        data: kaimingNormal(L.plan.weightShape, L.plan.fanIn, rng),
      };
    }
    this.setWeights(tensors);
  }

  /** Names and PyTorch shapes of the weight tensors. */
  weightShapes(): Record<string, number[]> {
    return Object.fromEntries(
      this.#layers.filter((L) => L.plan.weightShape).map((
        L,
      ) => [`layers.${L.plan.index}.weight`, L.plan.weightShape!]),
    );
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
    const expected = this.weightShapes();
    const flat = new Float32Array(this.paramCount);
    for (const [name, shape] of Object.entries(expected)) {
      const t = tensors[name];
      if (!t) {
        throw new Error(
          `Cannot load ${source}: missing tensor '${name}' of shape [${shape.join(", ")}]`,
        );
      }
      if (t.shape.join() !== shape.join()) {
        throw new Error(
          `Cannot load ${source}: tensor '${name}' expected shape [${shape.join(", ")}], got [${
            t.shape.join(", ")
          }]`,
        );
      }
      if (t.data.length !== sizeOf(shape)) {
        throw new Error(
          `Cannot load ${source}: tensor '${name}' expected ${
            sizeOf(shape)
          } values, got ${t.data.length}`,
        );
      }
      const off = this.#layers[Number(name.split(".")[1])].offset;
      for (let j = 0; j < t.data.length; j++) {
        const v = t.data[j];
        if (!Number.isFinite(v)) {
          throw new Error(
            `Cannot load ${source}: tensor '${name}' expected finite values, got ${v} at element ${j}`,
          );
        }
        flat[off + j] = v;
      }
    }
    const extra = Object.keys(tensors).filter((k) => !(k in expected));
    if (extra.length) {
      throw new Error(
        `Cannot load ${source}: unexpected tensor '${extra[0]}' (expected only ${
          Object.keys(expected).join(", ")
        })`,
      );
    }
    this.engine.write(this.params, flat);
    this.engine.write(this.signs, flat.map((v) => Math.sign(v)));
    const zeros = new Float32Array(this.paramCount);
    this.engine.write(this.adamM, zeros);
    this.engine.write(this.adamV, zeros);
    this.adamStep = 0;
  }

  /** Reads the weights back as PyTorch-shaped tensors named `layers.<i>.weight`. */
  async getWeights(): Promise<Record<string, Tensor>> {
    const flat = await this.engine.readF32(this.params, this.paramCount);
    return this.#unflatten(flat);
  }

  /** Reads the last step's weight gradients (summed over the batch). */
  async getGradients(): Promise<Record<string, Tensor>> {
    return this.#unflatten(await this.engine.readF32(this.grads, this.paramCount));
  }

  #unflatten(flat: Float32Array): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const L of this.#layers) {
      if (!L.plan.weightShape) continue;
      out[`layers.${L.plan.index}.weight`] = {
        shape: [...L.plan.weightShape],
        data: flat.slice(L.offset, L.offset + L.size),
      };
    }
    return out;
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
  }

  /** The loss kernel's bind group for a label source (made once per pair of buffers). */
  lossGroup(labels: GPUBuffer, indices: GPUBuffer): GPUBindGroup {
    let m = this.#lossGroups.get(labels);
    if (!m) this.#lossGroups.set(labels, m = new Map());
    let g = m.get(indices);
    if (!g) {
      const last = this.plan.length - 1;
      g = this.engine.bind(this.#loss, [this.acts[last], this.deltas[last], labels, indices, {
        buffer: this.accum,
        offset: 0,
        size: SLOTS * 4 * 4,
      }]);
      m.set(indices, g);
    }
    return g;
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

  /** Records the input encoding and the forward pass of `batch` samples. */
  encodeForward(pass: GPUComputePassEncoder, batch: number, stats: boolean, encode = true): void {
    if (encode) {
      pass.setPipeline(this.#encode.program.pipeline);
      pass.setBindGroup(1, this.#encode.group);
      elementwise(pass, batch * sizeOf(this.inputShape));
    }
    for (const L of this.#layers) {
      if (L.weighted) {
        const g = L.gemm!;
        pass.setBindGroup(1, L.groups.forward);
        dispatchGemm(pass, L.weighted.forward, g.co, batch * g.h * g.w);
        if (L.weighted.finishForward) {
          pass.setPipeline(L.weighted.finishForward.pipeline);
          pass.setBindGroup(1, L.groups.finish!);
          elementwise(pass, g.co * batch * g.h * g.w);
        }
      } else {
        pass.setPipeline(L.pool!.forward.pipeline);
        pass.setBindGroup(1, L.groups.forward);
        elementwise(pass, batch * sizeOf(L.plan.outShape));
      }
      if (stats && L.stats) {
        const groups = Math.ceil((batch * sizeOf(L.plan.outShape)) / 4096);
        pass.setPipeline(L.stats.partial.pipeline);
        pass.setBindGroup(1, L.stats.group);
        pass.dispatchWorkgroups(...grid1d(groups));
        pass.setPipeline(L.stats.final.pipeline);
        pass.dispatchWorkgroups(1);
      }
    }
  }

  /** Records the loss (and its gradient) into the accumulators of the step's slot. */
  encodeLoss(pass: GPUComputePassEncoder, lossGroup: GPUBindGroup): void {
    pass.setPipeline(this.#loss.pipeline);
    pass.setBindGroup(1, lossGroup);
    pass.dispatchWorkgroups(1);
  }

  /** Records the event-driven backward pass and the optimiser update. */
  encodeBackward(pass: GPUComputePassEncoder, batch: number, update = true): void {
    for (let i = this.#layers.length - 1; i >= 0; i--) {
      const L = this.#layers[i];
      if (L.weighted) {
        const g = L.gemm!;
        const W = L.weighted;
        pass.setBindGroup(1, L.groups.weight!);
        dispatchGemm(pass, W.backwardWeight, g.co, g.ci * g.ks * g.ks);
        pass.setPipeline(W.reduce.pipeline);
        pass.setBindGroup(1, L.groups.reduce!);
        elementwise(pass, L.size);
        if (L.groups.backward) {
          pass.setBindGroup(1, L.groups.backward);
          dispatchGemm(pass, W.backwardInput, g.ci, batch * g.h * g.w);
        }
      } else if (L.groups.backward) {
        pass.setPipeline(L.pool!.backward.pipeline);
        pass.setBindGroup(1, L.groups.backward);
        elementwise(pass, batch * sizeOf(L.plan.inShape));
      }
    }
    if (update) {
      pass.setPipeline(this.#optim.program.pipeline);
      pass.setBindGroup(1, this.#optim.group);
      elementwise(pass, this.paramCount / 4);
    }
  }

  /** Records one whole training step (encode, forward, loss, backward, update). */
  encodeTrainStep(
    pass: GPUComputePassEncoder,
    stepOffset: number,
    batch: number,
    lossGroup: GPUBindGroup,
    stats = true,
    encode = true,
  ): void {
    pass.setBindGroup(0, this.engine.stepGroup, [stepOffset]);
    this.encodeForward(pass, batch, stats, encode);
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
      this.engine.write(this.#directLabels, l);
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
      this.lossGroup(this.#directLabels, this.#directIndices),
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
    this.encodeLoss(pass, this.lossGroup(this.#directLabels, this.#directIndices));
    pass.end();
    this.engine.device.queue.submit([enc.finish()]);
  }

  /** Reads the accumulated metrics of a slot (one read-back). */
  async readMetrics(slot = 0): Promise<Metrics> {
    const all = await this.engine.readF32(
      this.accum,
      this.statsBase + SLOTS * this.plan.length * REC,
    );
    return this.#metricsOf(all, slot);
  }

  /** Reads every slot's metrics with one read-back. */
  async readAllMetrics(): Promise<Metrics[]> {
    const all = await this.engine.readF32(
      this.accum,
      this.statsBase + SLOTS * this.plan.length * REC,
    );
    return Array.from({ length: SLOTS }, (_, s) => this.#metricsOf(all, s));
  }

  #metricsOf(all: Float32Array, slot: number): Metrics {
    const samples = all[slot * 4 + 2];
    const layers = this.#spikingLayers.map((i) => {
      const o = this.statsBase + (slot * this.plan.length + i) * REC;
      const neurons = sizeOf(this.plan[i].outShape);
      const count = all[o];
      return {
        index: i,
        token: this.plan[i].spec.token,
        firing: samples ? count / (samples * neurons) : 0,
        meanTime: count ? all[o + 1] / count : NaN,
        spikesPerSample: samples ? count / samples : 0,
        hist: Array.from(all.subarray(o + 2, o + 2 + HIST_BINS)),
      };
    });
    return {
      samples,
      loss: samples ? all[slot * 4] / samples : NaN,
      accuracy: samples ? all[slot * 4 + 1] / samples : NaN,
      layers,
      spikesPerSample: layers.reduce((a, l) => a + l.spikesPerSample, 0),
    };
  }

  /** Zeroes the metric accumulators (all slots, or one). */
  resetMetrics(slot?: number): void {
    if (slot === undefined) {
      this.engine.write(
        this.accum,
        new Float32Array(this.statsBase + SLOTS * this.plan.length * REC),
      );
      return;
    }
    this.engine.write(this.accum, new Float32Array(4), slot * 16);
    this.engine.write(
      this.accum,
      new Float32Array(this.plan.length * REC),
      (this.statsBase + slot * this.plan.length * REC) * 4,
    );
  }

  /** Bytes of all GPU buffers the model allocated (activations, weights, optimiser state, partials). */
  get allocatedBytes(): number {
    return this.#buffers.reduce((a, b) => a + b.size, 0);
  }

  /** Frees the model's GPU buffers. */
  destroy(): void {
    for (const b of this.#buffers) b.destroy();
  }
}
