/**
 * What a model is built from and what it hands back: its options (with the
 * reference's optimiser defaults), the tensors of weights I/O and the state a
 * checkpoint keeps. Plain types and their validation; no GPU work.
 *
 * @module
 */

import type { Precision } from "./layers.ts";
import type { LayerSpec } from "./spec.ts";
import { envGet } from "../util/env.ts";

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
  /**
   * Event-driven backward products: `on` (every spiking layer's weight
   * gradient runs over the neurons that pass a gradient only), `off` (every
   * product dense), or `auto` (default): on a CPU driver, layers followed by a
   * max pool (at most one neuron in a window passes a gradient) run
   * event-driven from the start and the others by their measured activity
   * ({@link Model.chooseProducts}); on a GPU, dense until the sparse path is
   * measured there. Both give the same sums bit for bit, so this only
   * changes the speed. `FIRSTSPIKE_SPARSE=on|off|auto` overrides it.
   */
  sparse?: SparseMode;
  /** Seed of the Kaiming-normal initialisation. Default 0. */
  seed?: number;
  /** Optimiser settings, overriding {@link DEFAULT_OPTIMIZER} field by field. */
  optimizer?: Partial<OptimizerOptions>;
}

/** How a model chooses between event-driven and dense backward products (see {@link ModelOptions.sparse}). */
export type SparseMode = "auto" | "on" | "off";

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

/** {@link ModelOptions} with every default filled in and checked. */
export interface ResolvedModelOptions {
  /** `[C, H, W]` or `[F]`. */
  inputShape: number[];
  /** Number of classes. */
  classes: number;
  /** Largest batch a step may have. */
  maxBatch: number;
  /** Window length T. */
  tWin: number;
  /** Clip of the two partial factors in backward. */
  gradClip: number;
  /** Per-channel mean and std, or null. */
  normalize: { mean: number[]; std: number[] } | null;
  /** How the output layer reads out. */
  readout: "potential" | "spike";
  /** Arithmetic of the matrix products. */
  precision: Precision;
  /** Event-driven backward products (after `FIRSTSPIKE_SPARSE`). */
  sparse: SparseMode;
  /** Optimiser settings (defaults merged with the options). */
  optimizer: OptimizerOptions;
}

/**
 * Fills in the defaults of {@link ModelOptions} and checks each value, with
 * an error that says what was expected and what came.
 */
export function resolveModelOptions(
  opts: ModelOptions,
  adapter: { features: readonly string[]; adapterName: string },
): ResolvedModelOptions {
  const r: ResolvedModelOptions = {
    inputShape: [...opts.inputShape],
    classes: opts.classes,
    maxBatch: opts.maxBatch ?? 256,
    tWin: opts.tWin ?? 1,
    gradClip: opts.gradClip ?? 1,
    normalize: opts.normalize ?? null,
    readout: opts.readout ?? "potential",
    precision: opts.precision ?? "f32",
    sparse: (envGet("FIRSTSPIKE_SPARSE") as SparseMode | undefined) ?? opts.sparse ?? "auto",
    optimizer: { ...DEFAULT_OPTIMIZER, ...opts.optimizer },
  };
  if (!["auto", "on", "off"].includes(r.sparse)) {
    const env = envGet("FIRSTSPIKE_SPARSE");
    throw new Error(
      `Cannot build model: expected ${env !== undefined ? "FIRSTSPIKE_SPARSE" : "sparse"} ` +
        `'auto', 'on' or 'off', got '${r.sparse}'`,
    );
  }
  if (r.precision !== "f32" && r.precision !== "f16") {
    throw new Error(
      `Cannot build model: expected precision 'f32' or 'f16', got '${opts.precision}'`,
    );
  }
  if (r.precision === "f16" && !adapter.features.includes("shader-f16")) {
    throw new Error(
      `Cannot build model: precision 'f16' expected an adapter with 'shader-f16', got ${adapter.adapterName} without it`,
    );
  }
  if (r.readout !== "potential" && r.readout !== "spike") {
    throw new Error(
      `Cannot build model: expected readout 'potential' or 'spike', got '${opts.readout}'`,
    );
  }
  if (!(r.maxBatch >= 1 && Number.isInteger(r.maxBatch))) {
    throw new Error(
      `Cannot build model: expected maxBatch a positive integer, got ${opts.maxBatch}`,
    );
  }
  if (!(r.tWin > 0)) {
    throw new Error(`Cannot build model: expected tWin > 0, got ${opts.tWin}`);
  }
  return r;
}
