/**
 * One shape's benchmark: the same network twice, every product dense and
 * with the event-driven backward products, on the same weights and batch
 * (trained weights and real images with `activity: "trained"`), timed
 * interleaved (with TensorFlow.js's peer when given), with the activity that
 * decided the products, the FLOPs performed beside the dense-equivalent
 * ones, inference, memory, start-up, and optionally each kernel's share.
 *
 * @module
 */

import type { Engine } from "../engine/gpu.ts";
import { Model, type SparseMode } from "../engine/model.ts";
import type { Precision } from "../engine/layers.ts";
import { sizeOf } from "../engine/spec.ts";
import { Rng } from "../util/rng.ts";
import {
  type LayerActivity,
  layerActivity,
  realBatch,
  type ShapeData,
  shapeModelOptions,
  trainedWeights,
} from "./activity.ts";
import { forwardBytes, inferenceFlops, stepBytes, stepFlops, weightBytes } from "./flops.ts";
import { peerLayers, type PeerShapeResult, peerTarget, speedRatio } from "./peer.ts";
import { type PeerRuntime, PeerTrainer } from "./peer_tfjs.ts";
import { kernelName, profileDispatches, recordDispatches } from "./profile.ts";
import type { Anchor, BenchShape } from "./shapes.ts";
import {
  median,
  stepsFor,
  type Timed,
  timeInterleaved,
  timeSteps,
  type Timing,
  timing,
} from "./timing.ts";

/** Options of {@link benchShape}. */
export interface ShapeBenchOptions {
  /** Timed repetitions per variant. */
  reps: number;
  /** Steps per repetition; null: enough for `seconds` per repetition. */
  steps: number | null;
  /** Least duration of a repetition when `steps` is null, seconds. */
  seconds: number;
  /** Warm-up steps (the first one timed apart). */
  warmup: number;
  precision?: Precision;
  /** TensorFlow.js, to time its same-shape network interleaved. */
  peer?: PeerRuntime;
  /** Fashion-MNIST in the shape's input (trained activity), or null (random inputs and weights). */
  data: ShapeData | null;
  /** Folder of the trained weights' cache, or null. */
  cacheDir: string | null;
  /** Train the weights again (and replace the cache's). */
  retrain?: boolean;
  /** The sparse variant's mode: `auto` (the default products) or `on` (every spiking layer). */
  sparse: SparseMode;
  /** Also time every dispatch of a step of each variant (`profile.ts`). */
  profile: boolean;
  log: (line: string) => void;
}

/** A kernel's time in a step (summed over its dispatches), dense and sparse. */
export interface ProfileRow {
  /** Kernel file and the layer's shape, e.g. `conv_forward 32>64 8x8 k3`. */
  kernel: string;
  dense_ms: number;
  sparse_ms: number;
}

/** One shape's results in the JSON. */
export interface ShapeResult {
  name: string;
  arch: string;
  input: number[];
  batch: number;
  steps_per_rep: number;
  /** Steps of each TensorFlow.js sample (`--peer`; at most `steps_per_rep`), or null. */
  peer_steps_per_sample: number | null;
  reps: number;
  flops: {
    /** Dense products of a training step (`flops.ts`). */
    step: number;
    step_forward: number;
    step_backward: number;
    /** What the sparse variant's products performed (event-driven weight gradients count their events). */
    step_performed: number;
    inference: number;
  };
  /** The products a user gets by default on this device (`sparse: "auto"`). */
  train: Timing;
  /** Every product dense. */
  train_dense: Timing;
  /** With the event-driven products (`sparse_mode`). */
  train_sparse: Timing;
  sparse_mode: SparseMode;
  /** Dense over sparse median ms per step. */
  sparse_speedup: number;
  /** GFLOP/s of the sparse variant: dense-equivalent (the dense FLOPs) and performed. */
  gflops: { dense_equivalent: number; performed: number };
  inference: Timing;
  activity: {
    /** `trained` (weights trained on Fashion-MNIST, real test images) or `random`. */
    kind: "trained" | "random";
    /** Where the weights came from. */
    weights: "cache" | "trained" | "initial";
    train_seconds: number;
    /** Share of the input neurons that never spike. */
    input_silent: number;
    layers: LayerActivity[];
  };
  memory: {
    /** Sum of the sizes of every GPU buffer of the sparse variant's model. */
    allocated_bytes: number;
    /** Counted from the plan (src/bench/flops.ts): per-step activations and weight-sized buffers. */
    activations_bytes: number;
    weight_buffers_bytes: number;
    step_bytes_per_sample: number;
    forward_bytes_per_sample: number;
  };
  anchor: Anchor | null;
  /** The reference's ms per step on the 2-core machine (CPU driver target). */
  cpu_reference_ms: number | null;
  /** The CPU reference's time over `train`'s (above 1: faster than the reference). */
  speedup_vs_cpu_reference: number | null;
  speedup_vs_tfjs: number | null;
  speedup_vs_reference: number | null;
  /** `Model.create` of this shape (it creates the network's pipelines) and the first step. */
  startup: { model_create_ms: number; first_step_ms: number };
  /** TensorFlow.js on the same shape, interleaved (`--peer`); null without. */
  peer: PeerShapeResult | null;
  /** Per kernel (`--profile`), or null. */
  profile: ProfileRow[] | null;
}

/** A dispatch's kernel and, from its program key, the layer shape it serves. */
export function dispatchLabel(label: string): string {
  const name = kernelName(label);
  try {
    const key = JSON.parse(label);
    const c = key?.[4] ?? {};
    if (typeof c.C === "number" && typeof c.H === "number" && typeof c.KS === "number") {
      return `${name} ${c.C} ${c.H}x${c.W} k${c.KS}`; // a pool
    }
    if (typeof c.CO === "number" && typeof c.H === "number") {
      const ci = typeof c.CI === "number" ? `${c.CI}>` : "";
      return `${name} ${ci}${c.CO} ${c.H}x${c.W}` + (c.KS ? ` k${c.KS}` : "") +
        (c.POOL ? ` pool${c.POOL}` : "");
    }
  } catch {
    // not a program key
  }
  return name;
}

/** Kernel times of a step, summed per label, in first-seen order. */
function sumByLabel(labels: string[], ms: number[]): Map<string, number> {
  const out = new Map<string, number>();
  labels.forEach((l, i) => out.set(l, (out.get(l) ?? 0) + ms[i]));
  return out;
}

/** Builds the shape's two models, warms up and times them, with the peer and the activity. */
export async function benchShape(
  engine: Engine,
  shape: BenchShape,
  opts: ShapeBenchOptions,
): Promise<ShapeResult> {
  const B = shape.batch;
  const trained = opts.data !== null;
  const weights = trained
    ? await trainedWeights(engine, shape, opts.data!, opts.cacheDir, opts.log, opts.retrain)
    : null;
  const make = (sparse: SparseMode) =>
    Model.create(engine, {
      ...shapeModelOptions(shape, B),
      precision: opts.precision ?? "f32",
      sparse,
    });
  const t0 = performance.now();
  const sparseModel = await make(opts.sparse);
  const modelCreateMs = performance.now() - t0;
  const denseModel = await make("off");
  const models = [denseModel, sparseModel];
  const rng = new Rng(1);
  let peer: PeerTrainer | null = null;
  const labels = engine.buffer(B * 4, "bench labels");
  const indices = engine.buffer(B * 4, "bench indices");
  try {
    // Same weights, same batch: trained weights and real test images, or the initial weights
    // (seed 0) and random intensities.
    let inputSilent: number;
    if (trained) {
      const batch = realBatch(opts.data!, shape, B);
      inputSilent = batch.silent;
      for (const m of models) {
        m.setWeights(weights!.tensors);
        engine.write(m.inputX, batch.x);
      }
      engine.write(labels, batch.labels);
    } else {
      const x = Float32Array.from({ length: B * sizeOf(shape.input) }, () => rng.next());
      inputSilent = x.filter((v) => v === 0).length / x.length;
      for (const m of models) engine.write(m.inputX, x);
      engine.write(labels, Uint32Array.from({ length: B }, () => rng.int(shape.classes)));
    }
    engine.write(indices, Uint32Array.from({ length: B }, (_, i) => i));
    // lr 0: the weights, and so the activity, stay as they are while timing.
    for (const m of models) m.lr = 0;
    const step = (m: Model, stats: boolean): Timed => {
      const loss = m.lossGroup(labels, indices);
      return {
        params: () => m.nextTrainStep(B),
        encode: (pass, off) => m.encodeTrainStep(pass, off, B, loss, stats),
      };
    };
    const infer: Timed = {
      params: () => ({ batch: B, metricSlot: 3 }),
      encode: (pass, off) => {
        pass.setBindGroup(0, engine.stepGroup, [off]);
        sparseModel.encodeForward(pass, B, false);
      },
    };

    if (opts.peer) {
      peer = PeerTrainer.create(
        opts.peer.tf,
        peerLayers(sparseModel.plan),
        shape.input,
        shape.classes,
        B,
      );
    }
    const peerWarmup = peer ? await peer.warmup(opts.warmup) : null;
    // Warm-up with statistics: the first step timed apart (lazy pipeline work shows there), then
    // the activity that chooses the sparse variant's products.
    const firstStepMs = await timeSteps(engine, step(sparseModel, true), 1);
    await timeSteps(engine, step(denseModel, true), 1);
    for (const m of models) m.resetMetrics();
    let warmMs = Infinity;
    for (const m of models) {
      warmMs = Math.min(
        warmMs,
        await timeSteps(engine, step(m, true), Math.max(1, opts.warmup - 1)),
      );
    }
    const measured = await sparseModel.readMetrics(0);
    sparseModel.chooseProducts(measured);
    const activity = layerActivity(sparseModel, measured);
    for (const m of models) m.resetMetrics();
    // Mark the pipelines as run, so a later epoch counts only its own kernels.
    await engine.warmUp();

    const steps = opts.steps ?? stepsFor(warmMs, opts.seconds, 3, 200);
    // A peer's samples: as many steps, up to about 1.5 s of its time each (one read-back per
    // sample on both sides; the peer's steps are 10 to 100 times slower).
    const peerMs0 = peerWarmup?.rest_ms_per_step ?? peerWarmup?.first_step_ms ?? 0;
    const peerSteps = Math.min(steps, Math.max(3, Math.floor(1500 / Math.max(peerMs0, 1e-3))));
    const peerMs: number[] = [];
    const [denseMs, sparseMs] = await timeInterleaved(
      engine,
      [step(denseModel, false), step(sparseModel, false)],
      opts.reps,
      steps,
      peer ? async () => void peerMs.push(await peer!.sample(peerSteps)) : undefined,
    );
    await timeSteps(engine, infer, Math.max(1, opts.warmup));
    const inferMs = (await timeInterleaved(engine, [infer], opts.reps, steps))[0];
    for (const m of models) {
      const r = await m.readMetrics(0);
      if (!Number.isFinite(r.loss)) {
        throw new Error(
          `Benchmark '${shape.name}': expected a finite training loss, got ${r.loss}`,
        );
      }
    }
    engine.check();

    let profile: ProfileRow[] | null = null;
    if (opts.profile) {
      const sums: (Map<string, number> | null)[] = [];
      for (const m of models) {
        const [off] = engine.steps([m.nextTrainStep(B)]);
        const loss = m.lossGroup(labels, indices);
        const list = recordDispatches((pass) => m.encodeTrainStep(pass, off, B, loss, false));
        const ms = await profileDispatches(engine, list, Math.max(3, opts.reps));
        sums.push(ms ? sumByLabel(list.map((d) => dispatchLabel(d.label)), ms) : null);
      }
      if (sums[0] && sums[1]) {
        const keys = [...new Set([...sums[0].keys(), ...sums[1].keys()])];
        profile = keys.map((k) => ({
          kernel: k,
          dense_ms: sums[0]!.get(k) ?? 0,
          sparse_ms: sums[1]!.get(k) ?? 0,
        }));
      }
    }

    const plan = sparseModel.plan;
    const f = stepFlops(plan, B);
    // The event-driven weight gradients perform their events' share of the dense product.
    let saved = 0;
    for (const a of activity) {
      if (a.weight_gradient === "events" && Number.isFinite(a.gradient_share)) {
        saved += (1 - a.gradient_share) * f.perLayer[a.index].backwardWeight;
      }
    }
    const performed = f.total - saved;
    const dense = timing(denseMs, B, f.total);
    const sparse = timing(sparseMs, B, f.total);
    // What a user gets by default: the event-driven products on a CPU driver, dense on a GPU.
    const train = engine.cpu ? sparse : dense;
    let peerResult: PeerShapeResult | null = null;
    if (peer && opts.peer && peerWarmup) {
      const med = median(peerMs), min = Math.min(...peerMs);
      const ratio = speedRatio(med, train.median_ms);
      const target = peerTarget(engine.cpu);
      peerResult = {
        library: `TensorFlow.js ${opts.peer.version} (webgpu)`,
        params: peer.params,
        layer_shapes: peer.layerShapes,
        build_ms: peer.buildMs,
        warmup: peerWarmup,
        train: { median_ms: med, min_ms: min, reps_ms: peerMs },
        final_loss: peer.lastLoss,
        ratio,
        ratio_min: speedRatio(min, train.min_ms),
        target,
        met: ratio >= target,
      };
    }
    return {
      name: shape.name,
      arch: shape.arch,
      input: [...shape.input],
      batch: B,
      steps_per_rep: steps,
      peer_steps_per_sample: peer ? peerSteps : null,
      reps: opts.reps,
      flops: {
        step: f.total,
        step_forward: f.forward,
        step_backward: f.backward,
        step_performed: performed,
        inference: inferenceFlops(plan, B),
      },
      train,
      train_dense: dense,
      train_sparse: sparse,
      sparse_mode: opts.sparse,
      sparse_speedup: dense.median_ms / sparse.median_ms,
      gflops: {
        dense_equivalent: f.total / (sparse.median_ms / 1000) / 1e9,
        performed: performed / (sparse.median_ms / 1000) / 1e9,
      },
      inference: timing(inferMs, B, inferenceFlops(plan, B)),
      activity: {
        kind: trained ? "trained" : "random",
        weights: weights?.source ?? "initial",
        train_seconds: weights?.seconds ?? 0,
        input_silent: inputSilent,
        layers: activity,
      },
      memory: {
        allocated_bytes: sparseModel.allocatedBytes,
        activations_bytes: stepBytes(plan, B),
        weight_buffers_bytes: weightBytes(plan),
        step_bytes_per_sample: stepBytes(plan, 1),
        forward_bytes_per_sample: forwardBytes(plan, 1),
      },
      anchor: shape.anchor,
      cpu_reference_ms: shape.cpu_reference_ms,
      speedup_vs_cpu_reference: shape.cpu_reference_ms !== null
        ? shape.cpu_reference_ms / train.median_ms
        : null,
      speedup_vs_tfjs: shape.anchor ? shape.anchor.tfjs_ms / train.median_ms : null,
      speedup_vs_reference: shape.anchor ? shape.anchor.reference_ms / train.median_ms : null,
      startup: { model_create_ms: modelCreateMs, first_step_ms: firstStepMs },
      peer: peerResult,
      profile,
    };
  } finally {
    peer?.dispose();
    labels.destroy();
    indices.destroy();
    for (const m of models) m.destroy();
  }
}
