/**
 * Float64 reference network: forward and backward passes over a planned
 * model (`planModel` in `../spec.ts`) and one full training step
 * (forward, softmax cross-entropy, backward, optimiser update).
 *
 * Inputs are encoded spike times `[B, ...inShape]` (see `encode`). A map that
 * feeds a fully connected layer or the readout is flattened per sample in
 * `C, H, W` order, which for row-major NCHW data is the same buffer.
 *
 * @module
 */

import { type LayerPlan, sizeOf } from "../engine/spec.ts";
import {
  convBackward,
  convForward,
  type ConvShape,
  linearBackward,
  linearForward,
  type LinearShape,
  poolBackward,
  poolForward,
  type PoolShape,
  readoutBackward,
  readoutForward,
  type ReadoutShape,
  softmaxCrossEntropy,
} from "./layers.ts";
import { adamStep, sgdStep } from "./optim.ts";

/** What the backward pass needs from a spiking layer's forward pass. */
export interface SavedSpiking {
  kind: "spiking";
  S: Float64Array;
  I: Float64Array;
}

/** What the backward pass needs from a pooling layer's forward pass. */
export interface SavedPool {
  kind: "pool";
  idx: Int32Array;
}

/** Per-layer saved state: spiking layers, pools, and `null` for the readout. */
export type LayerSaved = SavedSpiking | SavedPool | null;

/** Result of {@link networkForward}. */
export interface NetworkForward {
  /** Per layer: spike times (`[B, ...outShape]`), or the potentials `U` (`[B, K]`) for the readout. */
  outputs: Float64Array[];
  /** Per layer: what the backward pass needs. */
  saved: LayerSaved[];
}

function convShapeOf(p: LayerPlan, B: number): ConvShape {
  if (p.spec.kind !== "conv") throw new Error(`layer ${p.index}: expected conv`);
  return {
    B,
    Ci: p.inShape[0],
    H: p.inShape[1],
    W: p.inShape[2],
    Co: p.spec.channels,
    k: p.spec.kernel,
  };
}

function linearShapeOf(p: LayerPlan, B: number): LinearShape {
  if (p.spec.kind !== "linear") throw new Error(`layer ${p.index}: expected linear`);
  return { B, In: sizeOf(p.inShape), Out: p.spec.features };
}

function poolShapeOf(p: LayerPlan, B: number): PoolShape {
  if (p.spec.kind !== "pool") throw new Error(`layer ${p.index}: expected pool`);
  return { B, C: p.inShape[0], H: p.inShape[1], W: p.inShape[2], k: p.spec.kernel };
}

function readoutShapeOf(p: LayerPlan, B: number): ReadoutShape {
  if (p.spec.kind !== "readout") throw new Error(`layer ${p.index}: expected readout`);
  return { B, F: sizeOf(p.inShape), K: p.spec.classes };
}

/**
 * Checks the plan ends with the readout (or, for a spiking output layer, a
 * fully connected spiking layer) and that weights match it.
 */
function checkPlan(plan: LayerPlan[], weights: (Float64Array | null)[], fn: string): void {
  const last = plan[plan.length - 1]?.spec.kind;
  if (last !== "readout" && last !== "linear") {
    throw new Error(
      `${fn}: expected a plan ending with the readout or a spiking output layer, got ${plan.length} layers`,
    );
  }
  if (weights.length !== plan.length) {
    throw new Error(`${fn}: expected ${plan.length} weight entries, got ${weights.length}`);
  }
  for (const p of plan) {
    if (p.spec.kind === "readout" && p.index !== plan.length - 1) {
      throw new Error(`${fn}: expected the readout only as the last layer, got it at ${p.index}`);
    }
    const w = weights[p.index];
    if (p.weightShape === null) {
      if (w !== null) {
        throw new Error(`${fn}: layer ${p.index} '${p.spec.token}' expected no weights, got some`);
      }
    } else if (w === null || w.length !== sizeOf(p.weightShape)) {
      throw new Error(
        `${fn}: layer ${p.index} '${p.spec.token}' expected weights of shape ` +
          `[${p.weightShape}] (${sizeOf(p.weightShape)} values), got ${
            w === null ? "null" : w.length
          }`,
      );
    }
  }
}

/**
 * Forward pass of the whole network on encoded input times `x`
 * (`[B, ...plan[0].inShape]`) with window length `T`.
 *
 * @example
 * ```ts
 * import { networkForward } from "./network.ts";
 * import { planModel } from "../engine/spec.ts";
 * const plan = planModel("2F", [2], 2);
 * const w = [new Float64Array([0.5, 0.5, -1, 0.2]), new Float64Array([1, 0, 0, 1])];
 * const f = networkForward(plan, w, new Float64Array([0, 0.5]), 1, 1);
 * if (f.outputs.length !== 2 || f.outputs[1].length !== 2) throw new Error();
 * ```
 */
export function networkForward(
  plan: LayerPlan[],
  weights: (Float64Array | null)[],
  x: Float64Array,
  B: number,
  T: number,
): NetworkForward {
  checkPlan(plan, weights, "networkForward");
  const inSize = B * sizeOf(plan[0].inShape);
  if (x.length !== inSize) {
    throw new Error(
      `networkForward: expected input of shape [${B}, ${plan[0].inShape}] (${inSize} values), ` +
        `got ${x.length}`,
    );
  }
  const outputs: Float64Array[] = [];
  const saved: LayerSaved[] = [];
  let input = x;
  for (const p of plan) {
    const w = weights[p.index];
    switch (p.spec.kind) {
      case "conv": {
        const f = convForward(input, w!, convShapeOf(p, B), T);
        outputs.push(f.tau);
        saved.push({ kind: "spiking", S: f.S, I: f.I });
        break;
      }
      case "linear": {
        const f = linearForward(input, w!, linearShapeOf(p, B), T);
        outputs.push(f.tau);
        saved.push({ kind: "spiking", S: f.S, I: f.I });
        break;
      }
      case "pool": {
        const f = poolForward(input, poolShapeOf(p, B));
        outputs.push(f.y);
        saved.push({ kind: "pool", idx: f.idx });
        break;
      }
      case "readout": {
        outputs.push(readoutForward(input, w!, readoutShapeOf(p, B), T));
        saved.push(null);
        break;
      }
    }
    input = outputs[outputs.length - 1];
  }
  return { outputs, saved };
}

/**
 * Backward pass: from `dU` (dL/dU of the readout, `[B, K]`) to the weight
 * gradients of every layer (summed over the batch; `null` for pools) and the
 * gradient w.r.t. the input times (`dInput`). `clip` is the gradient factor
 * clip (`grad_clip`). `dOutputs[l]` is the gradient w.r.t. layer l's outputs
 * (its spike times, or U for the readout).
 *
 * @example
 * ```ts
 * import { networkBackward, networkForward } from "./network.ts";
 * import { planModel } from "../engine/spec.ts";
 * const plan = planModel("2F", [2], 2);
 * const w = [new Float64Array([0.5, 0.5, -1, 0.2]), new Float64Array([1, 0, 0, 1])];
 * const x = new Float64Array([0, 0.5]);
 * const f = networkForward(plan, w, x, 1, 1);
 * const { grads } = networkBackward(plan, w, x, f, new Float64Array([0.5, -0.5]), 1, 1, 1);
 * if (grads[0]!.length !== 4 || grads[1]!.length !== 4) throw new Error();
 * ```
 */
export function networkBackward(
  plan: LayerPlan[],
  weights: (Float64Array | null)[],
  x: Float64Array,
  fwd: NetworkForward,
  dU: Float64Array,
  B: number,
  T: number,
  clip: number,
): { grads: (Float64Array | null)[]; dInput: Float64Array; dOutputs: Float64Array[] } {
  checkPlan(plan, weights, "networkBackward");
  const grads: (Float64Array | null)[] = plan.map(() => null);
  const dOutputs: Float64Array[] = [];
  let dOut = dU;
  for (let l = plan.length - 1; l >= 0; l--) {
    dOutputs[l] = dOut;
    const p = plan[l];
    const w = weights[l];
    const input = l === 0 ? x : fwd.outputs[l - 1];
    const saved = fwd.saved[l];
    switch (p.spec.kind) {
      case "readout": {
        const g = readoutBackward(input, w!, dOut, readoutShapeOf(p, B), T);
        grads[l] = g.dW;
        dOut = g.dX;
        break;
      }
      case "conv": {
        if (saved?.kind !== "spiking") throw new Error(`networkBackward: layer ${l} not saved`);
        const g = convBackward(
          input,
          w!,
          saved.S,
          saved.I,
          fwd.outputs[l],
          dOut,
          convShapeOf(p, B),
          T,
          clip,
        );
        grads[l] = g.dW;
        dOut = g.dX;
        break;
      }
      case "linear": {
        if (saved?.kind !== "spiking") throw new Error(`networkBackward: layer ${l} not saved`);
        const g = linearBackward(
          input,
          w!,
          saved.S,
          saved.I,
          fwd.outputs[l],
          dOut,
          linearShapeOf(p, B),
          T,
          clip,
        );
        grads[l] = g.dW;
        dOut = g.dX;
        break;
      }
      case "pool": {
        if (saved?.kind !== "pool") throw new Error(`networkBackward: layer ${l} not saved`);
        dOut = poolBackward(dOut, saved.idx, input.length);
        break;
      }
    }
  }
  return { grads, dInput: dOut, dOutputs };
}

/** Adam moments per layer (`null` for pools) and the number of steps taken so far. */
export interface AdamState {
  m: (Float64Array | null)[];
  v: (Float64Array | null)[];
  step: number;
}

/**
 * Fresh Adam state (zero moments, 0 steps) for `weights`.
 *
 * @example
 * ```ts
 * import { createAdamState } from "./network.ts";
 * const s = createAdamState([new Float64Array(3), null]);
 * if (s.m[0]!.length !== 3 || s.v[1] !== null || s.step !== 0) throw new Error();
 * ```
 */
export function createAdamState(weights: (Float64Array | null)[]): AdamState {
  return {
    m: weights.map((w) => (w ? new Float64Array(w.length) : null)),
    v: weights.map((w) => (w ? new Float64Array(w.length) : null)),
    step: 0,
  };
}

/** Settings of {@link trainStepRef}. */
export interface TrainStepOptions {
  optimizer: "adam" | "sgd";
  lr: number;
  weightDecay: number;
  /** Gradient factor clip (`grad_clip`, MODEL.md default 1). */
  gradClip: number;
  /** Adam's b1 (default 0.9). */
  b1?: number;
  /** Adam's b2 (default 0.999). */
  b2?: number;
  /** Adam's eps (default 1e-8). */
  eps?: number;
  /** Optional weight clipping `[w_min, w_max]`. */
  weightClip?: [number, number] | null;
  /** Optional fixed signs per layer (`+1` / `-1` per weight; `null` for pools). */
  signs?: (Float64Array | null)[] | null;
  /**
   * Adam state, updated in place (its `step` is incremented before the
   * update). When absent, a fresh state is used, so the step is a first step.
   */
  adam?: AdamState;
}

/**
 * One training step in place on `weights`: forward, softmax cross-entropy on
 * the readout, backward, then the optimiser update of every weighted layer.
 * Returns the batch's mean loss, the number of correct predictions and the
 * weight gradients (taken before the update).
 *
 * @example
 * ```ts
 * import { trainStepRef } from "./network.ts";
 * import { planModel } from "../engine/spec.ts";
 * const plan = planModel("2F", [2], 2);
 * const w = [new Float64Array([0.5, 0.5, -1, 0.2]), new Float64Array([1, 0, 0, 1])];
 * const r = trainStepRef(plan, w, new Float64Array([0, 0.5]), [0], 1, 1,
 *   { optimizer: "sgd", lr: 0.1, weightDecay: 0, gradClip: 1 });
 * if (!(r.loss > 0) || r.grads.length !== 2) throw new Error();
 * ```
 */
export function trainStepRef(
  plan: LayerPlan[],
  weights: (Float64Array | null)[],
  x: Float64Array,
  labels: ArrayLike<number>,
  B: number,
  T: number,
  opt: TrainStepOptions,
): { loss: number; correct: number; grads: (Float64Array | null)[] } {
  const fwd = networkForward(plan, weights, x, B, T);
  const U = fwd.outputs[fwd.outputs.length - 1];
  const K = plan[plan.length - 1].outShape[0];
  const { loss, dU, correct } = softmaxCrossEntropy(U, labels, B, K);
  const { grads } = networkBackward(plan, weights, x, fwd, dU, B, T, opt.gradClip);
  const adam = opt.optimizer === "adam" ? (opt.adam ?? createAdamState(weights)) : null;
  if (adam) adam.step += 1;
  for (let l = 0; l < plan.length; l++) {
    const w = weights[l];
    const g = grads[l];
    if (w === null || g === null) continue;
    const constraints = {
      lr: opt.lr,
      weightDecay: opt.weightDecay,
      clip: opt.weightClip ?? null,
      signs: opt.signs?.[l] ?? null,
    };
    if (adam) {
      adamStep(w, g, adam.m[l]!, adam.v[l]!, adam.step, {
        ...constraints,
        b1: opt.b1 ?? 0.9,
        b2: opt.b2 ?? 0.999,
        eps: opt.eps ?? 1e-8,
      });
    } else if (opt.optimizer === "sgd") {
      sgdStep(w, g, constraints);
    } else {
      throw new Error(`trainStepRef: expected optimizer 'adam' or 'sgd', got '${opt.optimizer}'`);
    }
  }
  return { loss, correct, grads };
}
