/**
 * Arithmetic and memory of one training step, counted from the layer plan
 * alone (pure: no GPU, no timing), for the benchmark's TFLOP/s and the
 * README's memory claim.
 *
 * FLOPs: every weighted layer (convolution, fully connected, readout) is a
 * GEMM of `M = out channels` by `K = in channels * k * k` over
 * `N = batch * H * W` output positions (`N = batch` for the 1x1 layers); one
 * such "product" costs `2 * M * N * K` FLOPs (a multiply and an add each).
 * Per step, a spiking layer computes
 *
 * - forward: 2 products (the sums `S` and `I` of MODEL.md),
 * - weight gradient: 2 products (the `t_i * g_I` and the `g_S` terms),
 * - input gradient: 1 product (`w_ij * g_I`),
 *
 * and the readout 1 product each (`U`, `dU/dw`, `dU/dt`). The input gradient
 * is counted for every weighted layer except layer 0, which is what the model
 * dispatches (nothing lies before layer 0 to receive it). Pooling, input
 * encoding, the loss, the spike-time epilogue, the split-K reduction and the
 * optimiser are counted as 0 FLOPs: they are memory-bound and linear in the
 * activations or weights, negligible next to the products.
 *
 * Bytes: what the model allocates per sample for a step (see
 * {@link stepBytes}) and what the forward pass alone must keep
 * ({@link forwardBytes}).
 *
 * @example
 * ```ts
 * import { stepFlops } from "./flops.ts";
 * import { planModel } from "../engine/spec.ts";
 * const f = stepFlops(planModel("vgg7", [3, 32, 32], 10), 256);
 * if (Math.abs(f.total / 1.36e12 - 1) > 0.01) throw new Error(`${f.total}`);
 * ```
 *
 * @module
 */

import { type LayerPlan, sizeOf } from "../engine/spec.ts";

/** GEMM view of a weighted layer for `batch` samples. */
export interface GemmDims {
  /** Output channels (features, classes). */
  m: number;
  /** Output positions times batch. */
  n: number;
  /** Inputs per output neuron: `in channels * k * k` (or in features). */
  k: number;
}

/** FLOPs of one layer in one training step. */
export interface LayerFlops {
  index: number;
  token: string;
  kind: LayerPlan["spec"]["kind"];
  /** `2 * M * N * K`, or 0 for layers without weights. */
  product: number;
  forward: number;
  backwardWeight: number;
  backwardInput: number;
  total: number;
}

/** FLOPs of one training step (forward, loss, backward, update). */
export interface StepFlops {
  forward: number;
  /** Weight and input gradients. */
  backward: number;
  total: number;
  perLayer: LayerFlops[];
}

/**
 * The GEMM dimensions of a weighted layer for `batch` samples, or null for
 * pooling.
 *
 * @example
 * ```ts
 * import { gemmDims } from "./flops.ts";
 * import { planModel } from "../engine/spec.ts";
 * const d = gemmDims(planModel("8C3", [2, 5, 5], 3)[0], 4)!;
 * if (d.m !== 8 || d.k !== 18 || d.n !== 100) throw new Error();
 * ```
 */
export function gemmDims(layer: LayerPlan, batch: number): GemmDims | null {
  checkBatch(batch);
  const s = layer.spec;
  if (s.kind === "conv") {
    const [, h, w] = layer.outShape;
    return { m: s.channels, n: batch * h * w, k: layer.inShape[0] * s.kernel * s.kernel };
  }
  if (s.kind === "linear" || s.kind === "readout") {
    return { m: layer.outShape[0], n: batch, k: sizeOf(layer.inShape) };
  }
  return null;
}

/**
 * FLOPs of one training step of `batch` samples, per layer and in total
 * (products as in the module notes; memory-bound work counted as 0).
 */
export function stepFlops(plan: readonly LayerPlan[], batch: number): StepFlops {
  checkBatch(batch);
  const perLayer = plan.map((layer): LayerFlops => {
    const d = gemmDims(layer, batch);
    const product = d ? 2 * d.m * d.n * d.k : 0;
    const products = layer.spec.kind === "readout" ? 1 : 2;
    const forward = products * product;
    const backwardWeight = products * product;
    const backwardInput = layer.index > 0 ? product : 0;
    return {
      index: layer.index,
      token: layer.spec.token,
      kind: layer.spec.kind,
      product,
      forward,
      backwardWeight,
      backwardInput,
      total: forward + backwardWeight + backwardInput,
    };
  });
  const forward = perLayer.reduce((a, l) => a + l.forward, 0);
  const backward = perLayer.reduce((a, l) => a + l.backwardWeight + l.backwardInput, 0);
  return { forward, backward, total: forward + backward, perLayer };
}

/**
 * FLOPs of inference (input encoding and forward pass) on `batch` samples:
 * the forward part of {@link stepFlops}.
 *
 * @example
 * ```ts
 * import { inferenceFlops } from "./flops.ts";
 * import { planModel } from "../engine/spec.ts";
 * // 4F on 6 inputs: 2 products of 2*4*1*6; readout 3 classes: 1 product of 2*3*1*4.
 * if (inferenceFlops(planModel("4F", [6], 3), 1) !== 2 * 48 + 24) throw new Error();
 * ```
 */
export function inferenceFlops(plan: readonly LayerPlan[], batch: number): number {
  return stepFlops(plan, batch).forward;
}

/**
 * Bytes the model allocates per step for `batch` samples (the activations
 * side; weights and optimiser state are separate):
 *
 * - the input: intensities and encoded times, 4 + 4 bytes per pixel;
 * - every layer: its output and the gradient with respect to it, 4 + 4 bytes
 *   per neuron;
 * - spiking layers (convolution, fully connected): the two saved backward
 *   factors `g_I`, `g_S`, 8 bytes per neuron;
 * - pooling layers: the index of the winning input, 4 bytes per neuron.
 *
 * So 16 bytes per spiking neuron, 12 per pooled one, 8 per readout neuron.
 *
 * @example
 * ```ts
 * import { stepBytes } from "./flops.ts";
 * import { planModel } from "../engine/spec.ts";
 * // input 1x4x4 (16 px), 2C3 -> 2x4x4 (32 spiking), P2 -> 2x2x2 (8 pooled), readout 3.
 * const perSample = 16 * 8 + 32 * 16 + 8 * 12 + 3 * 8;
 * if (stepBytes(planModel("2C3-P2", [1, 4, 4], 3), 5) !== 5 * perSample) throw new Error();
 * ```
 */
export function stepBytes(plan: readonly LayerPlan[], batch: number): number {
  checkBatch(batch);
  if (plan.length === 0) return 0;
  let perSample = 8 * sizeOf(plan[0].inShape);
  for (const layer of plan) {
    const neurons = sizeOf(layer.outShape);
    perSample += 8 * neurons;
    if (isSpiking(layer)) perSample += 8 * neurons;
    else if (layer.spec.kind === "pool") perSample += 4 * neurons;
  }
  return perSample * batch;
}

/**
 * Bytes that a forward pass which keeps what backward needs would hold for
 * `batch` samples: per spiking neuron its time `tau` and its sums `S` and
 * `I` (12 bytes), per pooled neuron its output (4 bytes), per readout neuron
 * its potential `U` (4 bytes). The input is not counted.
 *
 * @example
 * ```ts
 * import { forwardBytes } from "./flops.ts";
 * import { planModel } from "../engine/spec.ts";
 * if (forwardBytes(planModel("2C3-P2", [1, 4, 4], 3), 1) !== 32 * 12 + 8 * 4 + 3 * 4) throw new Error();
 * ```
 */
export function forwardBytes(plan: readonly LayerPlan[], batch: number): number {
  checkBatch(batch);
  let perSample = 0;
  for (const layer of plan) {
    perSample += (isSpiking(layer) ? 12 : 4) * sizeOf(layer.outShape);
  }
  return perSample * batch;
}

/**
 * Bytes of the weight-sized buffers: weights, gradients, Adam's two moments
 * and the signs (5 buffers of 4-byte floats). `align` is the model's padding
 * of each layer's weights to a multiple of that many floats (64 in
 * `src/engine/network.ts`).
 *
 * @example
 * ```ts
 * import { weightBytes } from "./flops.ts";
 * import { planModel } from "../engine/spec.ts";
 * // 2C3 on 1 channel: 18 weights; readout 3 x 32 (2C3 on 1x4x4): 96; each padded to 64s.
 * if (weightBytes(planModel("2C3", [1, 4, 4], 3)) !== 5 * 4 * (64 + 128)) throw new Error();
 * ```
 */
export function weightBytes(plan: readonly LayerPlan[], align = 64): number {
  let floats = 0;
  for (const layer of plan) {
    if (layer.weightShape) floats += Math.ceil(sizeOf(layer.weightShape) / align) * align;
  }
  return 5 * 4 * floats;
}

function isSpiking(layer: LayerPlan): boolean {
  return layer.spec.kind === "conv" || layer.spec.kind === "linear";
}

function checkBatch(batch: number): void {
  if (!(Number.isInteger(batch) && batch >= 1)) {
    throw new Error(
      `Cannot count a step: expected a batch size that is a positive integer, got ${batch}`,
    );
  }
}
