/**
 * The peer of `deno task bench --peer`: the same-shape ReLU network that
 * TensorFlow.js trains beside firstspike's spiking one. This file says what
 * that network is (its layers in TensorFlow.js's NHWC layout, from the same
 * layer plan), counts its parameters and forward FLOPs, and does the ratio
 * arithmetic and the targets; `peer_tfjs.ts` builds and times it.
 *
 * @module
 */

import { type LayerPlan, sizeOf } from "../engine/spec.ts";

/** A convolution with ReLU: stride 1, 'same' padding, no bias. Shapes are per sample, NHWC. */
export interface PeerConv {
  /** Discriminant. */
  kind: "conv";
  /** Input `[H, W, C]`. */
  inShape: [number, number, number];
  /** Output `[H, W, filters]`. */
  outShape: [number, number, number];
  /** TensorFlow.js filter `[k, k, C_in, C_out]`. */
  weightShape: [number, number, number, number];
  /** Inputs per output (He initialisation). */
  fanIn: number;
}

/** Max pooling, kernel and stride `size`, 'valid' padding (the plan floors odd sizes). */
export interface PeerPool {
  /** Discriminant. */
  kind: "pool";
  /** Kernel and stride. */
  size: number;
  /** Input `[H, W, C]`. */
  inShape: [number, number, number];
  /** Output `[floor(H / size), floor(W / size), C]`. */
  outShape: [number, number, number];
  /** Pools hold no weights. */
  weightShape: null;
}

/** A dense layer, no bias: with ReLU for a hidden layer, plain for the readout (the logits). */
export interface PeerDense {
  /** Discriminant. */
  kind: "dense";
  /** ReLU after the product (false: the readout). */
  relu: boolean;
  /** The input is a map that is flattened first. */
  flatten: boolean;
  /** Input features `[n]` after flattening. */
  inShape: [number];
  /** Output features `[units]`. */
  outShape: [number];
  /** TensorFlow.js kernel `[n, units]`. */
  weightShape: [number, number];
  /** Inputs per output (He initialisation). */
  fanIn: number;
}

/** One layer of the peer network. */
export type PeerLayer = PeerConv | PeerPool | PeerDense;

/** Per-sample shape `[C, H, W]` as NHWC's `[H, W, C]`. */
function nhwc(shape: readonly number[], where: string): [number, number, number] {
  if (shape.length !== 3) {
    throw new Error(`${where}: expected a map shape [C, H, W], got [${shape}]`);
  }
  return [shape[1], shape[2], shape[0]];
}

/**
 * The peer's layers for a firstspike layer plan: each spiking convolution a
 * ReLU convolution with the same channels and kernel, each pool the same max
 * pool, each spiking fully connected layer a ReLU dense layer, the readout a
 * dense layer giving the logits of a softmax cross-entropy.
 *
 * @example
 * ```ts
 * import { peerLayers, peerParams } from "./peer.ts";
 * import { planModel } from "../engine/spec.ts";
 * const layers = peerLayers(planModel("4C5-P2", [1, 28, 28], 10));
 * if (layers[0].kind !== "conv" || layers[0].weightShape.join() !== "5,5,1,4") throw new Error();
 * if (layers[1].outShape.join() !== "14,14,4") throw new Error();
 * if (peerParams(layers) !== 5 * 5 * 4 + 14 * 14 * 4 * 10) throw new Error();
 * ```
 */
export function peerLayers(plan: readonly LayerPlan[]): PeerLayer[] {
  return plan.map((layer): PeerLayer => {
    const where = `Peer of layer ${layer.index} '${layer.spec.token}'`;
    const spec = layer.spec;
    switch (spec.kind) {
      case "conv": {
        const inShape = nhwc(layer.inShape, where);
        return {
          kind: "conv",
          inShape,
          outShape: [inShape[0], inShape[1], spec.channels],
          weightShape: [spec.kernel, spec.kernel, inShape[2], spec.channels],
          fanIn: spec.kernel * spec.kernel * inShape[2],
        };
      }
      case "pool": {
        const inShape = nhwc(layer.inShape, where);
        return {
          kind: "pool",
          size: spec.kernel,
          inShape,
          outShape: [
            Math.floor(inShape[0] / spec.kernel),
            Math.floor(inShape[1] / spec.kernel),
            inShape[2],
          ],
          weightShape: null,
        };
      }
      case "linear":
      case "readout": {
        const n = sizeOf(layer.inShape);
        const units = spec.kind === "linear" ? spec.features : spec.classes;
        return {
          kind: "dense",
          relu: spec.kind === "linear",
          flatten: layer.inShape.length !== 1,
          inShape: [n],
          outShape: [units],
          weightShape: [n, units],
          fanIn: n,
        };
      }
    }
  });
}

/** Trainable parameters of the peer (weights only: the spiking layers have no bias either). */
export function peerParams(layers: readonly PeerLayer[]): number {
  return layers.reduce((a, l) => a + (l.weightShape ? sizeOf(l.weightShape) : 0), 0);
}

/**
 * FLOPs of the peer's forward pass for `batch` samples: one product per
 * weighted layer (`product` in `flops.ts`; the spiking forward does two), 2
 * per multiply-add; ReLU, pooling and the loss count 0.
 *
 * @example
 * ```ts
 * import { peerForwardFlops, peerLayers } from "./peer.ts";
 * import { planModel } from "../engine/spec.ts";
 * // 2C3 on 1x4x4: 2 * 16 positions * 2 filters * 9 taps; readout 3 on 32: 2 * 3 * 32.
 * const layers = peerLayers(planModel("2C3", [1, 4, 4], 3));
 * if (peerForwardFlops(layers, 1) !== 2 * 16 * 2 * 9 + 2 * 3 * 32) throw new Error();
 * ```
 */
export function peerForwardFlops(layers: readonly PeerLayer[], batch: number): number {
  let f = 0;
  for (const l of layers) {
    if (l.kind === "conv") {
      const [k1, k2, cin, cout] = l.weightShape;
      f += 2 * l.outShape[0] * l.outShape[1] * cout * k1 * k2 * cin;
    } else if (l.kind === "dense") f += 2 * l.weightShape[0] * l.weightShape[1];
  }
  return f * batch;
}

/**
 * The speed ratio of one shape: TensorFlow.js's ms per step over
 * firstspike's (above 1: firstspike is faster).
 *
 * @example
 * ```ts
 * import { speedRatio } from "./peer.ts";
 * if (speedRatio(400, 50) !== 8) throw new Error();
 * ```
 */
export function speedRatio(peerMs: number, firstspikeMs: number): number {
  for (const [name, v] of [["TF.js", peerMs], ["firstspike", firstspikeMs]] as const) {
    if (!(Number.isFinite(v) && v > 0)) {
      throw new Error(`Cannot compute a speed ratio: expected ${name} ms/step > 0, got ${v}`);
    }
  }
  return peerMs / firstspikeMs;
}

/** The targets for the ratio: on a CPU (software) driver and on a GPU (H200). */
export const PEER_TARGETS = { cpu_driver: 4, gpu: 15 } as const;

/** The ratio a shape must reach on this adapter: {@link PEER_TARGETS}. */
export function peerTarget(cpuDriver: boolean): number {
  return cpuDriver ? PEER_TARGETS.cpu_driver : PEER_TARGETS.gpu;
}

/** The peer's results for one shape, as the bench writes them. */
export interface PeerShapeResult {
  /** What trained: library, version and backend. */
  library: string;
  /** Trainable parameters TensorFlow.js holds (equal to the plan's weights). */
  params: number;
  /** Each layer's output per sample as TensorFlow.js computed it (NHWC). */
  layer_shapes: number[][];
  /** Milliseconds to build the network and data (one forward pass for the shapes included). */
  build_ms: number;
  /** Warm-up: the first step (with WebGPU shader compilation), then the rest per step. */
  warmup: { first_step_ms: number; rest_ms_per_step: number | null; steps: number };
  /** ms per step of each timed sample (interleaved with firstspike's), their median and minimum. */
  train: { median_ms: number; min_ms: number; reps_ms: number[] };
  /** The loss of the last step. */
  final_loss: number;
  /** TF.js median over firstspike's median ms/step. */
  ratio: number;
  /** TF.js minimum over firstspike's minimum ms/step. */
  ratio_min: number;
  /** The ratio to reach ({@link peerTarget}). */
  target: number;
  /** `ratio >= target`. */
  met: boolean;
}

/** A row of {@link formatPeerTable}. */
export interface PeerRow {
  name: string;
  arch: string;
  batch: number;
  /** firstspike's ms per step (median and minimum). */
  train: { median_ms: number; min_ms: number };
  /** firstspike's start-up for this shape: `Model.create` (its pipelines) and the first step. */
  startup: { model_create_ms: number; first_step_ms: number };
  peer: PeerShapeResult;
}

function cell(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 100 ? Math.round(x).toString() : x.toPrecision(3);
}

/**
 * The side-by-side table: per shape firstspike's and TensorFlow.js's ms per
 * step (median, and minimum in brackets), the ratio with its target, and the
 * start-up of each to its first trained step: firstspike's `Model.create`
 * (its pipelines) and first step, TF.js's build and first step (its shaders
 * compile then).
 *
 * @example
 * ```ts
 * import { formatPeerTable } from "./peer.ts";
 * const peer = {
 *   library: "TF.js", params: 1, layer_shapes: [], build_ms: 1, final_loss: 2.3,
 *   warmup: { first_step_ms: 700, rest_ms_per_step: 300, steps: 2 },
 *   train: { median_ms: 200, min_ms: 190, reps_ms: [200, 190, 210] },
 *   ratio: 4, ratio_min: 3.8, target: 4, met: true,
 * };
 * const t = formatPeerTable([{
 *   name: "a", arch: "4C5", batch: 8, train: { median_ms: 50, min_ms: 50 },
 *   startup: { model_create_ms: 1000, first_step_ms: 200 }, peer,
 * }]);
 * if (!/^\| a +\| 4C5 +\| 8 +\| 50\.0 \(50\.0\) +\| 200 \(190\) +\| 4\.00x \(3\.80x\) +\| 4x +\| met +\| 1\.20 +\| 0\.701 +\|$/m.test(t)) {
 *   throw new Error(t);
 * }
 * ```
 */
export function formatPeerTable(rows: readonly PeerRow[]): string {
  const head = [
    "shape",
    "arch",
    "batch",
    "firstspike ms/step (min)",
    "TF.js ms/step (min)",
    "TF.js / firstspike",
    "target",
    "met",
    "firstspike start s",
    "TF.js start s",
  ];
  const body = rows.map((r) => [
    r.name,
    r.arch,
    String(r.batch),
    `${cell(r.train.median_ms)} (${cell(r.train.min_ms)})`,
    `${cell(r.peer.train.median_ms)} (${cell(r.peer.train.min_ms)})`,
    `${r.peer.ratio.toFixed(2)}x (${r.peer.ratio_min.toFixed(2)}x)`,
    `${r.peer.target}x`,
    r.peer.met ? "met" : "not met",
    cell((r.startup.model_create_ms + r.startup.first_step_ms) / 1000),
    cell((r.peer.build_ms + r.peer.warmup.first_step_ms) / 1000),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...body.map(line)]
    .join("\n");
}
