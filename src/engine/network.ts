/**
 * Builds a network on the GPU: every buffer it needs (sized for `maxBatch`),
 * its compiled programs and the bind groups that tie them together, all made
 * once. What it returns is plain data that the step encoder
 * (`step_encoder.ts`) records dispatches from and the model reads back from;
 * nothing here runs a kernel.
 *
 * @module
 */

import { type Engine, type Program, UNIFORM_WINDOW_BYTES } from "./gpu.ts";
import {
  directBlock,
  type DirectConv,
  directConvProgram,
  directConvTile,
  type EventsGemm,
  type GemmShape,
  gemmShape,
  gradEventsProgram,
  inputSkip,
  type PoolPrograms,
  poolPrograms,
  type WeightedPrograms,
  weightedPrograms,
  weightEventsProgram,
  WINDOW_FLOATS,
} from "./layers.ts";
import { accumFloats, SLOTS, STATS_BASE, STATS_FLOATS } from "./metrics.ts";
import type { ResolvedModelOptions } from "./model_options.ts";
import { layoutParams, type ParamLayout } from "./param_layout.ts";
import { type LayerPlan, sizeOf } from "./spec.ts";
import { envGet } from "../util/env.ts";

/** One planned layer with its programs and bind groups. */
export interface LayerRun {
  /** The planned layer. */
  plan: LayerPlan;
  /** Its product's shape (weighted layers). */
  gemm?: GemmShape;
  /** Its GEMM programs (weighted layers). */
  weighted?: WeightedPrograms;
  /** Its pooling programs (pooling layers). */
  pool?: PoolPrograms;
  /** Spike statistics programs and bind group (spiking layers). */
  stats?: { partial: Program; final: Program; group: GPUBindGroup };
  /** Bind groups of its passes. */
  groups: {
    forward: GPUBindGroup;
    /** A split forward's finishing pass. */
    finish?: GPUBindGroup;
    backward?: GPUBindGroup;
    weight?: GPUBindGroup;
    reduce?: GPUBindGroup;
    /** A spiking layer's folding of dL/dtau into its backward factors (`scale_grad.wgsl`). */
    scale?: GPUBindGroup;
    /** Group 2: the uniform windows over its weights (forward and input gradient; see `windows`). */
    windows?: GPUBindGroup;
    /** Group 2 of a direct input gradient: the windows over its transposed weights. */
    windowsInput?: GPUBindGroup;
  };
  /**
   * The event-driven backward of a spiking layer (when the model's sparse mode
   * enables it): the kernel that folds dL/dtau into its factors and lists its
   * events (`grad_events.wgsl`, replacing `scale_grad.wgsl`, and with `pooled`
   * the next layer's pool backward), and the weight gradient over the events.
   */
  events?: {
    builder: Program;
    weight: EventsGemm;
    /** The builder takes the gradient of the max pool right after this layer (whose backward it replaces). */
    pooled: boolean;
    /** The builder writes every neuron's G (zeros included), so the dense products may read them. */
    dense: boolean;
    groups: { builder: GPUBindGroup; weight: GPUBindGroup };
  };
  /** Whether the weight gradient runs over the events now (else the dense product); see `events`. */
  sparse: boolean;
  /** A pooling layer whose backward pass the previous layer's event builder does. */
  fusedBackward: boolean;
  /** Where a direct convolution's transposed weights start in `transposed.buffer` (floats): forward and input-gradient copies. */
  transposedAt?: { forward: number; input: number };
  /**
   * A direct convolution before a 2 x 2 max pool whose backward takes events: its forward fused
   * with the pool's, for training steps without statistics (`conv_forward_direct.wgsl`, POOLED).
   */
  fusedPool?: { conv: DirectConv; group: GPUBindGroup };
  /** Offset (floats) of the weights in the flat parameter buffer, or -1. */
  offset: number;
  /** Floats of the weights (0 without weights). */
  size: number;
}

/** A built network: its buffers, programs and bind groups. */
export interface Network {
  /** The planned layers, in order. */
  plan: LayerPlan[];
  /** The settings it was built for. */
  opts: ResolvedModelOptions;
  /** Where each layer's weights sit in the flat buffers. */
  layout: ParamLayout;
  /** Per layer of the plan. */
  layers: LayerRun[];
  /** Indices of the spiking (conv and linear) layers. */
  spiking: number[];
  /** Flat weights. */
  params: GPUBuffer;
  /** Weight gradients of the last step, laid out like `params`. */
  grads: GPUBuffer;
  /** Adam first moments. */
  adamM: GPUBuffer;
  /** Adam second moments. */
  adamV: GPUBuffer;
  /** Initial weight signs. */
  signs: GPUBuffer;
  /** Intensities, `[maxBatch, ...inputShape]`. */
  inputX: GPUBuffer;
  /** Encoded input spike times, `[maxBatch, ...inputShape]`. */
  inputT: GPUBuffer;
  /** Per layer output. */
  acts: GPUBuffer[];
  /** Per layer gradient w.r.t. its output. */
  deltas: GPUBuffer[];
  /** Metric accumulators (`metrics.ts` has the layout). */
  accum: GPUBuffer;
  /** Per layer of the plan, u32: events counted by the event builders since the last reset. */
  counter: GPUBuffer;
  /** Whether event-driven products are built (the resolved sparse mode on this device). */
  sparse: boolean;
  /**
   * The direct convolutions' transposed weights (`transpose_weights.wgsl`), and the kernels that
   * write them from `params`, one per such layer (empty without direct convolutions).
   */
  transposed: {
    buffer: GPUBuffer | null;
    copies: { program: Program; group: GPUBindGroup; count: number }[];
  };
  /** Labels of a batch given directly (not from GPU data). */
  directLabels: GPUBuffer;
  /** Sample indices 0..maxBatch-1 for directly given batches. */
  directIndices: GPUBuffer;
  /** The input encoder. */
  encode: { program: Program; group: GPUBindGroup };
  /** The loss program (bound per label source, see {@link lossGroup}). */
  loss: Program;
  /** The optimiser. */
  optim: { program: Program; group: GPUBindGroup };
  /** Loss bind groups per (labels, indices) pair. */
  lossGroups: Map<GPUBuffer, Map<GPUBuffer, GPUBindGroup>>;
  /** Every buffer the network owns. */
  buffers: GPUBuffer[];
}

/** Whether layer i must pass a gradient to its input: some earlier layer has weights. */
function needsInputGrad(plan: readonly LayerPlan[], i: number): boolean {
  return plan.slice(0, i).some((p) => p.weightShape !== null);
}

/** Allocates the network's buffers, compiles its programs and binds them. */
export async function buildNetwork(
  e: Engine,
  plan: LayerPlan[],
  opts: ResolvedModelOptions,
): Promise<Network> {
  const buffers: GPUBuffer[] = [];
  const buf = (bytes: number, label: string, uniform = false, hint?: string) => {
    const b = e.buffer(bytes, label, hint, uniform);
    buffers.push(b);
    return b;
  };
  const layout = layoutParams(plan);
  const layers: LayerRun[] = plan.map((p, i) => ({
    plan: p,
    offset: layout.slots[i]?.offset ?? -1,
    size: layout.slots[i]?.size ?? 0,
    groups: {} as LayerRun["groups"],
    sparse: false,
    fusedBackward: false,
  }));
  // Event-driven products: `on`, or `auto` on a CPU driver (GPUs keep the dense path until the
  // sparse one is measured there).
  const sparse = opts.sparse === "on" || (opts.sparse === "auto" && e.cpu);
  const total = layout.count;
  // The parameters do not depend on the batch: what is too large there is the network.
  const tooMany = `the network has ${total.toLocaleString("en")} parameters ` +
    `(${(total * 4 / 2 ** 20).toFixed(0)} MiB of float32 per copy); use fewer or smaller layers`;
  const B = opts.maxBatch;
  const inShape = opts.inputShape;
  const inSize = sizeOf(inShape);
  const net: Omit<Network, "encode" | "loss" | "optim" | "transposed"> = {
    plan,
    opts,
    layout,
    layers,
    spiking: plan.filter((p) => p.spec.kind === "conv" || p.spec.kind === "linear")
      .map((p) => p.index),
    // On a CPU driver layers read their weights through 64 KiB uniform windows; the last one
    // may reach past the last layer, so the buffer holds one window more.
    params: buf(total * 4 + (e.cpu ? UNIFORM_WINDOW_BYTES : 0), "params", e.cpu, tooMany),
    grads: buf(total * 4, "grads", false, tooMany),
    adamM: buf(total * 4, "adam m", false, tooMany),
    adamV: buf(total * 4, "adam v", false, tooMany),
    signs: buf(total * 4, "signs", false, tooMany),
    inputX: buf(B * inSize * 4, "input x"),
    inputT: buf(B * inSize * 4, "input t"),
    acts: plan.map((p) => buf(B * sizeOf(p.outShape) * 4, `layer ${p.index} out`)),
    deltas: plan.map((p) => buf(B * sizeOf(p.outShape) * 4, `layer ${p.index} delta`)),
    accum: buf(accumFloats(plan.length) * 4, "accumulators"),
    counter: buf(plan.length * 4, "event counters"),
    sparse,
    directLabels: buf(B * 4, "labels"),
    directIndices: buf(B * 4, "indices"),
    lossGroups: new Map(),
    buffers,
  };
  e.write(net.directIndices, Uint32Array.from({ length: B }, (_, i) => i));

  const norm = opts.normalize;
  const channels = inShape.length === 3 ? inShape[0] : 1;
  const plane = inSize / channels;
  if (norm && (norm.mean.length !== channels || norm.std.length !== channels)) {
    throw new Error(
      `Cannot build model: normalize expects ${channels} means and stds, got ${norm.mean.length} and ${norm.std.length}`,
    );
  }
  const normBuf = buf(channels * 8, "norm");
  e.write(
    normBuf,
    Float32Array.from(
      { length: channels * 2 },
      (_, i) => norm ? (i % 2 ? norm.std : norm.mean)[i >> 1] : 0,
    ),
  );
  const encodeProgram = await e.program({
    files: ["encode.wgsl"],
    bindings: ["read", "read", "rw"],
    constants: { C: channels, PLANE: plane, TWIN: opts.tWin, NORMALIZE: !!norm },
  });
  const encode = {
    program: encodeProgram,
    group: e.bind(encodeProgram, [net.inputX, normBuf, net.inputT]),
  };

  let partMax = 16;
  let eventsMax = 4;
  let planesMax = 4;
  for (const L of layers) {
    if (L.plan.weightShape) {
      L.gemm = gemmShape(L.plan, opts.readout === "spike");
      L.weighted = await weightedPrograms(
        e,
        L.gemm,
        opts.tWin,
        opts.gradClip,
        B,
        opts.precision,
        needsInputGrad(plan, L.plan.index),
        // The event builder (below) runs before the input gradient and leaves its counts.
        inputSkip(sparse && L.gemm.mode === 0),
      );
      const W = L.weighted;
      const columns = Math.ceil(
        (B * L.gemm.h * L.gemm.w) /
          Math.min(
            W.forward?.tile.bn ?? Infinity,
            W.backwardInput?.tile.bn ?? Infinity,
            W.direct ? W.direct.forward.lanes * W.direct.forward.tn : Infinity,
          ),
      );
      const limit = e.device.limits.maxComputeWorkgroupsPerDimension;
      if (columns > limit) {
        throw new Error(
          `Cannot build layer ${L.plan.index} '${L.plan.spec.token}': expected at most ${limit} workgroups ` +
            `per dispatch dimension, got ${columns} for batch ${B}; use a smaller batch`,
        );
      }
      const fwdPart = W.forward && W.forward.splits > 1
        ? W.forward.splits * L.gemm.co * B * L.gemm.h * L.gemm.w * 2
        : 0;
      partMax = Math.max(partMax, W.weightSplits * L.size, fwdPart);
      if (sparse && L.gemm.mode === 0) {
        const i = L.plan.index;
        const next = plan[i + 1];
        const pool = next?.spec.kind === "pool" ? next.spec.kernel : 0;
        // Without a pool every neuron's G is written; after one, only when a dense product reads
        // them (the input gradient).
        const dense = pool === 0 || needsInputGrad(plan, i);
        const [builder, weight] = await Promise.all([
          gradEventsProgram(e, L.gemm, pool, dense, i),
          weightEventsProgram(e, L.gemm, opts.precision),
        ]);
        L.events = { builder, weight, pooled: pool > 0, dense, groups: {} as never };
        // A layer followed by a pool passes a gradient through one neuron per window at most:
        // event-driven from the start. The others start dense (see `chooseProducts`), unless `on`.
        L.sparse = pool > 0 || opts.sparse === "on";
        if (pool > 0) layers[i + 1].fusedBackward = true;
        if (pool === 2 && L.weighted.direct && envGet("FIRSTSPIKE_FUSE_POOL") !== "0") {
          const conv = await directConvProgram(e, L.gemm, false, opts.tWin, opts.gradClip, true);
          L.fusedPool = { conv, group: null as unknown as GPUBindGroup };
        }
        eventsMax = Math.max(eventsMax, B * sizeOf(L.plan.outShape));
        planesMax = Math.max(planesMax, B * L.gemm.co);
      }
    } else {
      L.pool = await poolPrograms(e, L.plan);
    }
  }
  const part = buf(partMax * 4, "split-K partials");
  // Direct convolutions read their weights transposed, in blocks that a uniform window covers.
  let transposedFloats = 0;
  for (const L of layers) {
    const d = L.weighted?.direct;
    if (!d) continue;
    const g = L.gemm!, input = directConvTile(g, true);
    const forward = transposedFloats;
    transposedFloats += d.forward.blocks * d.forward.block;
    L.transposedAt = { forward, input: transposedFloats };
    transposedFloats += Math.ceil(g.ci / input.tm) * directBlock(g.co * g.ks * g.ks, input.tm);
  }
  // One window more: the last block's window reaches past its block.
  const transposed = transposedFloats > 0
    ? buf((transposedFloats + WINDOW_FLOATS) * 4, "transposed weights", true)
    : null;
  const copies: Network["transposed"]["copies"] = [];
  // One layer's events at a time: the backward pass builds them and reads them right after.
  const act = buf(eventsMax * 4, "event pixels");
  const count = buf(planesMax * 4, "event counts");
  const noPool = buf(16, "no pool argmin");
  const noPoolIdx = buf(16, "no pool argmin (2)");
  let statsPartMax = 16;
  for (const i of net.spiking) {
    statsPartMax = Math.max(
      statsPartMax,
      Math.ceil((B * sizeOf(plan[i].outShape)) / 4096) * STATS_FLOATS,
    );
  }
  const statsPart = buf(statsPartMax * 4, "stats partials");
  const statsAcc = {
    buffer: net.accum,
    offset: STATS_BASE * 4,
    size: SLOTS * plan.length * STATS_FLOATS * 4,
  };

  const gfacOf: GPUBuffer[] = [];
  for (const L of layers) {
    const i = L.plan.index;
    const x = i === 0 ? net.inputT : net.acts[i - 1];
    const y = net.acts[i];
    if (L.weighted) {
      const w = { buffer: net.params, offset: L.offset * 4, size: L.size * 4 };
      const g = { buffer: net.grads, offset: L.offset * 4, size: L.size * 4 };
      const outCount = B * sizeOf(L.plan.outShape);
      const gfac = buf(L.gemm!.mode === 0 ? outCount * 8 : 16, `layer ${i} gfac`);
      gfacOf[i] = gfac;
      const W = L.weighted;
      if (W.direct) {
        const d = W.direct, g = L.gemm!;
        // Bindings 3 and 4 (a fused pool's outputs) are not read without POOLED.
        L.groups.forward = e.bind(d.forward.program, [x, y, gfac, noPool, noPoolIdx]);
        L.groups.windows = e.bindWindows(d.forward.program, transposed!, 0);
        if (d.backwardInput) {
          // Binding 3, the event builder's counts, is read with SKIP only.
          L.groups.backward = e.bind(d.backwardInput.program, [
            x,
            gfac,
            net.deltas[i - 1],
            count,
          ]);
          L.groups.windowsInput = e.bindWindows(d.backwardInput.program, transposed!, 0);
        }
        const input = directConvTile(g, true);
        const program = await e.program({
          files: ["transpose_weights.wgsl"],
          bindings: ["read", "rw"],
          constants: {
            CO: g.co,
            CI: g.ci,
            KS: g.ks,
            WOFF: L.offset,
            FOFF: L.transposedAt!.forward,
            TMF: d.forward.tm,
            FBLOCK: d.forward.block,
            BOFF: L.transposedAt!.input,
            TMB: input.tm,
            BBLOCK: directBlock(g.co * g.ks * g.ks, input.tm),
          },
        });
        copies.push({ program, group: e.bind(program, [net.params, transposed!]), count: L.size });
      } else {
        L.groups.forward = e.bind(W.forward!.program, [x, w, y, gfac, part]);
        if (needsInputGrad(plan, i)) {
          L.groups.backward = e.bind(W.backwardInput!.program, [
            x,
            w,
            net.deltas[i],
            gfac,
            net.deltas[i - 1],
          ]);
        }
      }
      if (W.finishForward) L.groups.finish = e.bind(W.finishForward, [part, y, gfac]);
      // One split: the weight gradient writes the layer's gradients itself (no reduce pass, which
      // would copy them: 0 + v, the same number).
      const out = W.weightSplits === 1 ? g : part;
      L.groups.weight = W.direct?.weight
        ? e.bind(W.direct.weight.program, [x, gfac, out])
        : e.bind(W.backwardWeight!.program, [x, net.deltas[i], gfac, out]);
      if (W.scale) L.groups.scale = e.bind(W.scale, [net.deltas[i], gfac]);
      // Forward and input gradient read the weights through the same uniform windows, if any
      // (`uniformWindows`: CPU drivers); one group 2 serves both.
      if (W.forward && W.forward.program.windows > 0) {
        L.groups.windows = e.bindWindows(W.forward.program, net.params, L.offset * 4);
      }
      if (L.events) {
        // The pool after this layer is bound below (its argmin buffer comes with it).
        L.events.groups.weight = e.bind(L.events.weight.program, [x, gfac, act, count, out]);
        if (!L.events.pooled) {
          L.events.groups.builder = e.bind(L.events.builder, [
            net.deltas[i],
            noPool, // unread without a pool
            gfac,
            act,
            count,
            net.counter,
          ]);
        }
      }
      if (out === part) {
        L.groups.reduce = e.bind(W.reduce, [
          { buffer: part, offset: 0, size: W.weightSplits * L.size * 4 },
          g,
        ]);
      }
    } else {
      const idx = buf(B * sizeOf(L.plan.outShape) * 4, `layer ${i} argmin`);
      L.groups.forward = e.bind(L.pool!.forward, [x, y, idx]);
      if (i > 0) {
        L.groups.backward = e.bind(L.pool!.backward, [net.deltas[i], idx, net.deltas[i - 1]]);
      }
      const prev = layers[i - 1];
      if (prev?.fusedPool) {
        prev.fusedPool.group = e.bind(prev.fusedPool.conv.program, [
          i === 1 ? net.inputT : net.acts[i - 2],
          net.acts[i - 1],
          gfacOf[i - 1],
          y,
          idx,
        ]);
      }
      if (prev?.events?.pooled) {
        prev.events.groups.builder = e.bind(prev.events.builder, [
          net.deltas[i],
          idx,
          gfacOf[i - 1],
          act,
          count,
          net.counter,
        ]);
      }
    }
    if (net.spiking.includes(i)) {
      // One pair of stats pipelines for every layer: the layer is described by `info`.
      const bindings: ("read" | "rw")[] = ["read", "rw", "rw", "read"];
      const [partial, final] = await Promise.all([
        e.program({ files: ["stats.wgsl"], entry: "partial", bindings, repeats: { j: 4, b: 4 } }),
        e.program({ files: ["stats.wgsl"], entry: "finish", bindings, repeats: { j: 4, b: 4 } }),
      ]);
      const info = buf(16, `layer ${i} stats info`);
      const words = new Uint32Array(4);
      words.set([sizeOf(L.plan.outShape), i, plan.length]);
      new Float32Array(words.buffer, 12, 1)[0] = opts.tWin;
      e.write(info, words);
      L.stats = { partial, final, group: e.bind(partial, [y, statsPart, statsAcc, info]) };
    }
  }
  const loss = await e.program({
    files: ["loss.wgsl"],
    bindings: ["read", "rw", "read", "read", "rw"],
    constants: { K: opts.classes, SPIKE_OUT: opts.readout === "spike", TWIN: opts.tWin },
  });
  const o = opts.optimizer;
  if (o.weightClip && !(o.weightClip[0] < o.weightClip[1])) {
    throw new Error(
      `Cannot build optimiser: expected weightClip [min, max] with min < max, got [${o.weightClip}]`,
    );
  }
  const optimProgram = await e.program({
    files: ["optimizer.wgsl"],
    bindings: ["rw", "read", "rw", "rw", "read"],
    constants: {
      LEN4: total / 4,
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
  const optim = {
    program: optimProgram,
    group: e.bind(optimProgram, [net.params, net.grads, net.adamM, net.adamV, net.signs]),
  };
  return { ...net, encode, loss, optim, transposed: { buffer: transposed, copies } };
}

/** The loss kernel's bind group for a label source (made once per pair of buffers). */
export function lossGroup(
  e: Engine,
  net: Network,
  labels: GPUBuffer,
  indices: GPUBuffer,
): GPUBindGroup {
  let m = net.lossGroups.get(labels);
  if (!m) net.lossGroups.set(labels, m = new Map());
  let g = m.get(indices);
  if (!g) {
    const last = net.plan.length - 1;
    g = e.bind(net.loss, [net.acts[last], net.deltas[last], labels, indices, {
      buffer: net.accum,
      offset: 0,
      size: SLOTS * 4 * 4,
    }]);
    m.set(indices, g);
  }
  return g;
}
