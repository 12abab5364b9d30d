/**
 * Layer programs: for each planned layer, the kernels it runs, their override
 * constants and dispatch sizes. A layer owns no buffers and holds no state:
 * the model binds its buffers once and asks the layer to encode dispatches.
 *
 * @module
 */

import { type Engine, grid1d, type Program } from "./gpu.ts";
import { type LayerPlan, sizeOf } from "./spec.ts";

/** Output tile of the GEMM core (`_gemm.wgsl`). */
export const GEMM_TILE = 64;
const GEMM_FILES = (op: string) => [op, "_gemm.wgsl"];

/** GEMM view of a weighted layer: a convolution with CI x H x W input and KS x KS taps. */
export interface GemmShape {
  ci: number;
  h: number;
  w: number;
  co: number;
  ks: number;
  /** 0: spiking layer, 1: readout. */
  mode: 0 | 1;
}

/**
 * The convolution shape a conv, linear or readout layer computes. With
 * `spikingReadout` the readout is a spiking layer like the others (mode 0).
 */
export function gemmShape(plan: LayerPlan, spikingReadout = false): GemmShape {
  const s = plan.spec;
  if (s.kind === "conv") {
    const [ci, h, w] = plan.inShape;
    return { ci, h, w, co: s.channels, ks: s.kernel, mode: 0 };
  }
  if (s.kind === "linear" || s.kind === "readout") {
    return {
      ci: sizeOf(plan.inShape),
      h: 1,
      w: 1,
      co: plan.outShape[0],
      ks: 1,
      mode: s.kind === "readout" && !spikingReadout ? 1 : 0,
    };
  }
  throw new Error(`Layer ${plan.index} '${s.token}' has no weights`);
}

/**
 * Number of K splits for the weight gradient: enough workgroups to fill a
 * large GPU (about 1024 tiles in flight), each split at least 8 K-tiles long.
 * Fixed by the layer shape and the largest batch, so the pipeline and the
 * partial buffer never change with the batch.
 */
export function weightSplits(g: GemmShape, maxBatch: number): number {
  const tiles = Math.ceil(g.co / GEMM_TILE) * Math.ceil((g.ci * g.ks * g.ks) / GEMM_TILE);
  const k = maxBatch * g.h * g.w;
  const byWork = Math.ceil(1024 / tiles);
  const byLength = Math.max(1, Math.floor(k / (16 * 8)));
  return Math.max(1, Math.min(byWork, byLength, 256));
}

/** Programs of a weighted layer. */
export interface WeightedPrograms {
  forward: Program;
  backwardInput: Program;
  backwardWeight: Program;
  reduce: Program;
  splits: number;
}

/** Builds (or fetches from the cache) the programs of a conv, linear or readout layer. */
export async function weightedPrograms(
  engine: Engine,
  g: GemmShape,
  tWin: number,
  clip: number,
  maxBatch: number,
): Promise<WeightedPrograms> {
  const shape = { CI: g.ci, H: g.h, W: g.w, CO: g.co, KS: g.ks, TWIN: tWin, MODE: g.mode };
  const readout = g.mode === 1;
  const splits = weightSplits(g, maxBatch);
  const [forward, backwardInput, backwardWeight, reduce] = await Promise.all([
    engine.program({
      files: GEMM_FILES("conv_forward.wgsl"),
      bindings: ["read", "read", "rw", "rw"],
      constants: { ...shape, CLIP: clip, B_DUAL: !readout, Y_USED: !readout },
    }),
    engine.program({
      files: GEMM_FILES("conv_backward_input.wgsl"),
      bindings: ["read", "read", "read", "read", "rw"],
      constants: { ...shape, Y_USED: false },
    }),
    engine.program({
      files: GEMM_FILES("conv_backward_weight.wgsl"),
      bindings: ["read", "read", "read", "rw"],
      constants: {
        ...shape,
        A_DUAL: !readout,
        B_DUAL: !readout,
        Y_USED: !readout,
        A_K_FAST: true,
        B_K_FAST: true,
      },
    }),
    engine.program({
      files: ["reduce_splits.wgsl"],
      bindings: ["read", "rw"],
      constants: { LEN: g.co * g.ci * g.ks * g.ks, SPLITS: splits },
    }),
  ]);
  return { forward, backwardInput, backwardWeight, reduce, splits };
}

/** Workgroups of a GEMM dispatch: [ceil(N / 64), ceil(M / 64), splits]. */
export function gemmGrid(m: number, n: number, splits = 1): [number, number, number] {
  return [Math.ceil(n / GEMM_TILE), Math.ceil(m / GEMM_TILE), splits];
}

/** Programs of a max-pooling layer. */
export interface PoolPrograms {
  forward: Program;
  backward: Program;
}

/** Builds the programs of a pooling layer. */
export async function poolPrograms(engine: Engine, plan: LayerPlan): Promise<PoolPrograms> {
  if (plan.spec.kind !== "pool") throw new Error(`Layer ${plan.index} is not a pooling layer`);
  const [c, h, w] = plan.inShape;
  const constants = { C: c, H: h, W: w, KS: plan.spec.kernel };
  const [forward, backward] = await Promise.all([
    engine.program({ files: ["pool_forward.wgsl"], bindings: ["read", "rw", "rw"], constants }),
    engine.program({ files: ["pool_backward.wgsl"], bindings: ["read", "read", "rw"], constants }),
  ]);
  return { forward, backward };
}

/** Dispatch of an elementwise kernel (256 per workgroup) over `n` elements. */
export function elementwise(pass: GPUComputePassEncoder, n: number): void {
  const [x, y] = grid1d(Math.ceil(n / 256));
  pass.dispatchWorkgroups(x, y);
}
