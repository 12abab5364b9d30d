/**
 * `deno task bench [--quick] [--peer] [--json FILE] [--only NAME[,NAME]] [--reps N] [--steps N]`
 *
 * The claim measured: a firstspike training step (input encoding, forward,
 * loss, event-driven backward, Adam update; one compute pass, no host
 * read-back) is fast on a real GPU. Targets from the performance issue:
 * vgg7 on 32x32x3 at batch 256 in at most 35 ms per step (fp32, H200); every
 * shape below at least 15x faster than the same-shape ReLU ANN in
 * TensorFlow.js WebGPU under Deno; one Fashion-MNIST epoch of vgg7 with
 * evaluation in at most 5 s on an H200.
 *
 * Shapes (names for `--only`): `mnist-cnn` (32C5-P2-64C5-P2 on 1x28x28, batch
 * 256), `vgg7-b256`, `vgg7-b32` (vgg7 on 3x32x32), `vgg11-b256`, and
 * `fmnist-epoch` (one end-to-end epoch through `runPoint`). `--quick` runs
 * the same names on small variants sized for a 2-core CPU with a software
 * Vulkan driver (channels divided by 8, batch divided by 32; the epoch uses
 * the quick start's network and settings on 5000 training samples); the
 * issue's anchors only apply to the full shapes.
 *
 * Method, per shape: build the model, warm up (a few steps, then wait), then
 * time R repetitions; each encodes S steps into one submission and waits once
 * (`engine.sync()`), with no other host synchronisation in the timed region.
 * ms/step is the median over repetitions of elapsed / S (also the minimum).
 * Inference (encode and forward only) is timed the same way. GFLOP/s (in
 * the JSON, `tflops`) divides the counted FLOPs (`src/bench/flops.ts`;
 * pools, encoding, loss and optimiser count 0) by the time. Memory is the sum of the model's GPU
 * buffers, beside what the layer plan counts (activations per step and five
 * weight-sized buffers). `--precision f16` times the float16 path.
 *
 * Start-up: how long `Engine.create` takes (once), and per shape
 * `Model.create` (it creates the network's pipelines) and the first training
 * step with its read-back (the "start-up s" column is their sum); a cold Mesa
 * cache, `MESA_SHADER_CACHE_DISABLE=true`, shows the cold cost.
 *
 * `--peer` also trains the same-shape ReLU network in TensorFlow.js's WebGPU
 * backend (`src/bench/peer.ts`, `peer_tfjs.ts`; loaded only then) on the same
 * adapter: per shape it is built and warmed up (its first step, which
 * compiles its shaders, timed apart), then its samples alternate with
 * firstspike's training repetitions (A B A B ...), each the same S steps
 * ending in one read-back (the loss's `data()`). The table gives both ms per
 * step, the ratio TF.js / firstspike and whether it reaches the target (4x on
 * a CPU driver, 15x on a GPU).
 *
 * Prints the adapter, Deno's version, the git commit, the date and a table;
 * writes JSON to `bench.json` (or `--json FILE`). Any GPU error exits non-zero.
 *
 * @module
 */

import { type CommandSpec, type ParsedArgs, runTask, UsageError } from "./_args.ts";
import { GPU_OPTION, gpuFlag, startGpu } from "./_gpu.ts";
import { join } from "node:path";
import { Engine, type StepParams } from "../src/engine/gpu.ts";
import { Model } from "../src/engine/model.ts";
import type { Precision } from "../src/engine/layers.ts";
import { Rng } from "../src/util/rng.ts";
import { sizeOf } from "../src/engine/spec.ts";
import {
  forwardBytes,
  inferenceFlops,
  stepBytes,
  stepFlops,
  weightBytes,
} from "../src/bench/flops.ts";
import { parseExperiment } from "../src/experiment/config.ts";
import { runPoint } from "../src/run/train.ts";
import { gitCommit, VERSION } from "../src/run/provenance.ts";
import { writeFileAtomic } from "../src/util/fs.ts";
import {
  formatPeerTable,
  PEER_TARGETS,
  peerLayers,
  type PeerShapeResult,
  peerTarget,
  speedRatio,
} from "../src/bench/peer.ts";
import { loadPeer, type PeerRuntime, PeerTrainer } from "../src/bench/peer_tfjs.ts";

/** The command line of `deno task bench`. */
export const BENCH: CommandSpec = {
  name: "bench",
  summary: "Time training steps of the reference shapes (vgg7, vgg11, an MNIST CNN) and one " +
    "Fashion-MNIST epoch; print a table and write JSON.",
  usage: "[options]",
  options: [
    {
      name: "quick",
      type: "boolean",
      help: "small variants sized for a CPU with a software driver",
    },
    {
      name: "json",
      type: "string",
      value: "FILE",
      help: "write the results to FILE (default bench.json)",
    },
    {
      name: "only",
      type: "string",
      value: "NAME[,NAME]",
      multiple: true,
      help: "run only these shapes: mnist-cnn, vgg7-b256, vgg7-b32, vgg11-b256, fmnist-epoch",
    },
    {
      name: "reps",
      type: "string",
      value: "N",
      help: "repetitions per shape (default 7, --quick 3)",
    },
    {
      name: "steps",
      type: "string",
      value: "N",
      help: "steps per repetition (default 20, --quick 3)",
    },
    {
      name: "precision",
      type: "string",
      value: "f32|f16",
      help: "arithmetic of the matrix products",
    },
    {
      name: "peer",
      type: "boolean",
      help: "also time TensorFlow.js on the same shapes and adapter (interleaved), with ratios",
    },
    GPU_OPTION,
  ],
  examples: [
    "deno task bench --quick",
    "deno task bench --quick --peer",
    "deno task bench --only vgg7-b256 --json vgg7.json",
  ],
};

/** Timings from the performance issue (ms per training step). */
export interface Anchor {
  /** Reference T2FSNN, PyTorch with cuDNN. */
  reference_ms: number;
  /** Same-shape ReLU ANN, PyTorch fp32. */
  pytorch_ann_ms: number;
  /** Same-shape ReLU ANN, TensorFlow.js WebGPU in Deno. */
  tfjs_ms: number;
}

/** One benchmarked training shape. */
export interface BenchShape {
  name: string;
  arch: string;
  input: number[];
  classes: number;
  batch: number;
  /** The issue's timings; only for the full shapes. */
  anchor: Anchor | null;
}

const VGG7_QUICK = "8C3-16C3-P2-32C3-32C3-P2-64C3-64C3-P2";
const VGG11_QUICK = "16C3-16C3-16C3-P2-32C3-32C3-32C3-P2-64C3-64C3-64C3-64C3-P2";

/** The issue's four shapes with their anchors. */
export const FULL_SHAPES: readonly BenchShape[] = [
  {
    name: "mnist-cnn",
    arch: "32C5-P2-64C5-P2",
    input: [1, 28, 28],
    classes: 10,
    batch: 256,
    anchor: { reference_ms: 4.95, pytorch_ann_ms: 1.98, tfjs_ms: 91.6 },
  },
  {
    name: "vgg7-b256",
    arch: "vgg7",
    input: [3, 32, 32],
    classes: 10,
    batch: 256,
    anchor: { reference_ms: 17.66, pytorch_ann_ms: 6.3, tfjs_ms: 524.8 },
  },
  {
    name: "vgg7-b32",
    arch: "vgg7",
    input: [3, 32, 32],
    classes: 10,
    batch: 32,
    anchor: { reference_ms: 11.51, pytorch_ann_ms: 3.08, tfjs_ms: 72.4 },
  },
  {
    name: "vgg11-b256",
    arch: "vgg11",
    input: [3, 32, 32],
    classes: 10,
    batch: 256,
    anchor: { reference_ms: 33.27, pytorch_ann_ms: 11.41, tfjs_ms: 961.2 },
  },
];

/** The same names on small variants (channels / 8, batch / 32) for a CPU driver. */
export const QUICK_SHAPES: readonly BenchShape[] = [
  {
    name: "mnist-cnn",
    arch: "4C5-P2-8C5-P2",
    input: [1, 28, 28],
    classes: 10,
    batch: 8,
    anchor: null,
  },
  { name: "vgg7-b256", arch: VGG7_QUICK, input: [3, 32, 32], classes: 10, batch: 8, anchor: null },
  { name: "vgg7-b32", arch: VGG7_QUICK, input: [3, 32, 32], classes: 10, batch: 1, anchor: null },
  {
    name: "vgg11-b256",
    arch: VGG11_QUICK,
    input: [3, 32, 32],
    classes: 10,
    batch: 8,
    anchor: null,
  },
];

/** Name of the end-to-end epoch entry (for `--only`). */
export const EPOCH_NAME = "fmnist-epoch";
/** Where Debian's `dataset-fashion-mnist` installs the files. */
export const FMNIST_DIR = "/usr/share/datasets/fashion-mnist";
/** Targets of the issue (full shapes, H200). */
export const TARGETS = { vgg7_b256_ms: 35, speedup_vs_tfjs: 15, fmnist_epoch_s: 5 } as const;

/** Timing summary of repetitions (ms per step or per batch). */
export interface Timing {
  median_ms: number;
  min_ms: number;
  /** Every repetition's elapsed / S. */
  reps_ms: number[];
  samples_per_s: number;
  tflops: number;
}

/** One shape's results in the JSON. */
export interface ShapeResult {
  name: string;
  arch: string;
  input: number[];
  batch: number;
  steps_per_rep: number;
  reps: number;
  flops: { step: number; step_forward: number; step_backward: number; inference: number };
  train: Timing;
  inference: Timing;
  memory: {
    /** Sum of the sizes of every GPU buffer the model allocated. */
    allocated_bytes: number;
    /** Counted from the plan (src/bench/flops.ts): per-step activations and weight-sized buffers. */
    activations_bytes: number;
    weight_buffers_bytes: number;
    step_bytes_per_sample: number;
    forward_bytes_per_sample: number;
  };
  anchor: Anchor | null;
  speedup_vs_tfjs: number | null;
  speedup_vs_reference: number | null;
  /** `Model.create` of this shape (it creates the network's pipelines) and the first step. */
  startup: { model_create_ms: number; first_step_ms: number };
  /** TensorFlow.js on the same shape, interleaved (`--peer`); null without. */
  peer: PeerShapeResult | null;
}

/** The end-to-end epoch's result (or why it was skipped). */
export type EpochResult =
  | {
    name: string;
    arch: string;
    batch_size: number;
    train_samples: number | null;
    epoch_seconds: number;
    wall_seconds: number;
    test_acc: number;
    val_acc: number | null;
    /** True when Fashion-MNIST was absent and random data of its size stood in (timing only). */
    synthetic: boolean;
  }
  | { name: string; skipped: string };

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function timing(repsMs: number[], batch: number, flops: number): Timing {
  const med = median(repsMs);
  return {
    median_ms: med,
    min_ms: Math.min(...repsMs),
    reps_ms: repsMs,
    samples_per_s: batch / (med / 1000),
    tflops: flops / (med / 1000) / 1e12,
  };
}

/**
 * Times `reps` repetitions of `steps` steps, each repetition one submission
 * and one wait; returns each repetition's ms per step.
 */
async function timeReps(
  engine: Engine,
  reps: number,
  steps: number,
  params: () => StepParams,
  encode: (pass: GPUComputePassEncoder, offset: number) => void,
  after?: () => Promise<void>,
): Promise<number[]> {
  const out: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    const offsets = engine.steps(Array.from({ length: steps }, params));
    const enc = engine.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (const off of offsets) encode(pass, off);
    pass.end();
    engine.device.queue.submit([enc.finish()]);
    await engine.sync();
    out.push((performance.now() - t0) / steps);
    await after?.();
  }
  return out;
}

/** Builds a model of `shape`, warms up and times training and inference steps. */
export async function benchShape(
  engine: Engine,
  shape: BenchShape,
  opts: { reps: number; steps: number; warmup: number; precision?: Precision; peer?: PeerRuntime },
): Promise<ShapeResult> {
  const B = shape.batch;
  const t0 = performance.now();
  const model = await Model.create(engine, {
    arch: shape.arch,
    inputShape: shape.input,
    classes: shape.classes,
    maxBatch: B,
    precision: opts.precision ?? "f32",
  });
  const modelCreateMs = performance.now() - t0;
  const rng = new Rng(1);
  let peer: PeerTrainer | null = null;
  const labels = engine.buffer(B * 4, "bench labels");
  const indices = engine.buffer(B * 4, "bench indices");
  try {
    engine.write(
      model.inputX,
      Float32Array.from({ length: B * sizeOf(shape.input) }, () => rng.next()),
    );
    engine.write(labels, Uint32Array.from({ length: B }, () => rng.int(shape.classes)));
    engine.write(indices, Uint32Array.from({ length: B }, (_, i) => i));
    const loss = model.lossGroup(labels, indices);
    const train = (pass: GPUComputePassEncoder, off: number) =>
      model.encodeTrainStep(pass, off, B, loss, false);
    const trainParams = () => model.nextTrainStep(B);
    const infer = (pass: GPUComputePassEncoder, off: number) => {
      pass.setBindGroup(0, engine.stepGroup, [off]);
      model.encodeForward(pass, B, false);
    };
    const inferParams = () => ({ batch: B, metricSlot: 3 });

    let peerWarmup = null;
    const peerMs: number[] = [];
    if (opts.peer) {
      peer = PeerTrainer.create(
        opts.peer.tf,
        peerLayers(model.plan),
        shape.input,
        shape.classes,
        B,
      );
      peerWarmup = await peer.warmup(opts.warmup);
    }
    // Warm-up; its first step (with its read-back) is timed apart: lazy pipeline work shows there.
    const firstStepMs = (await timeReps(engine, 1, 1, trainParams, train))[0];
    if (opts.warmup > 1) await timeReps(engine, 1, opts.warmup - 1, trainParams, train);
    // The first step compiled what the step uses; mark the shape's pipelines as run (warmUp
    // dispatches each once more, compiling only the inference-only ones), so the epoch's
    // "compiling N GPU kernels for this network" counts its own.
    await engine.warmUp();
    // With a peer, its samples alternate with firstspike's (A B A B ...).
    const trainMs = await timeReps(
      engine,
      opts.reps,
      opts.steps,
      trainParams,
      train,
      peer ? async () => void peerMs.push(await peer!.sample(opts.steps)) : undefined,
    );
    await timeReps(engine, 1, opts.warmup, inferParams, infer);
    const inferMs = await timeReps(engine, opts.reps, opts.steps, inferParams, infer);
    // The loss must stay finite: a benchmark of a broken step is worthless.
    const m = await model.readMetrics(0);
    if (!Number.isFinite(m.loss)) {
      throw new Error(`Benchmark '${shape.name}': expected a finite training loss, got ${m.loss}`);
    }
    engine.check();

    const plan = model.plan;
    const f = stepFlops(plan, B);
    const inf = inferenceFlops(plan, B);
    const activations = stepBytes(plan, B);
    const weights = weightBytes(plan);

    const trainT = timing(trainMs, B, f.total);
    let peerResult: PeerShapeResult | null = null;
    if (peer && opts.peer && peerWarmup) {
      const med = median(peerMs), min = Math.min(...peerMs);
      const ratio = speedRatio(med, trainT.median_ms);
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
        ratio_min: speedRatio(min, trainT.min_ms),
        target,
        met: ratio >= target,
      };
    }
    return {
      name: shape.name,
      arch: shape.arch,
      input: [...shape.input],
      batch: B,
      steps_per_rep: opts.steps,
      reps: opts.reps,
      flops: { step: f.total, step_forward: f.forward, step_backward: f.backward, inference: inf },
      train: trainT,
      inference: timing(inferMs, B, inf),
      memory: {
        allocated_bytes: model.allocatedBytes,
        activations_bytes: activations,
        weight_buffers_bytes: weights,
        step_bytes_per_sample: stepBytes(plan, 1),
        forward_bytes_per_sample: forwardBytes(plan, 1),
      },
      anchor: shape.anchor,
      speedup_vs_tfjs: shape.anchor ? shape.anchor.tfjs_ms / trainT.median_ms : null,
      speedup_vs_reference: shape.anchor ? shape.anchor.reference_ms / trainT.median_ms : null,
      startup: { model_create_ms: modelCreateMs, first_step_ms: firstStepMs },
      peer: peerResult,
    };
  } finally {
    peer?.dispose();
    labels.destroy();
    indices.destroy();
    model.destroy();
  }
}

/**
 * The experiment settings of the end-to-end epoch (YAML, as a user would
 * write them): vgg7 with the reference's defaults, or with `quick` the
 * quick start's network and settings (experiments/quickstart.yaml) on 5000
 * training samples.
 */
export function epochYaml(quick: boolean, output: string, dataDir = FMNIST_DIR): string {
  return [
    "dataset: fmnist",
    `data_dir: ${JSON.stringify(dataDir)}`,
    `arch: ${quick ? "P2-32C3-P2" : "vgg7"}`,
    "batch_size: 256",
    "epochs: 1",
    "seed: 0",
    ...(quick ? ["train_subset: 5000", "lr: 3.0e-3", "weight_decay: 0", "normalize: true"] : []),
    `output: ${JSON.stringify(output)}`,
    "",
  ].join("\n");
}

/**
 * Random IDX files of Fashion-MNIST's sizes and mean pixel (60,000 + 10,000
 * images of 28 x 28), for timing the epoch where the real files are absent
 * (the lent GPU machine has no package registry).
 */
export async function writeSyntheticFmnist(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const rng = new Rng(7);
  for (const [prefix, count] of [["train", 60000], ["t10k", 10000]] as const) {
    const images = new Uint8Array(16 + count * 784);
    new DataView(images.buffer).setUint32(0, 2051);
    [count, 28, 28].forEach((d, i) => new DataView(images.buffer).setUint32(4 + 4 * i, d));
    for (let i = 16; i < images.length; i++) {
      const u = rng.nextU32();
      images[i] = (u & 0xffff) < 0.57 * 65536 ? u >>> 24 : 0; // mean about 0.285
    }
    const labels = new Uint8Array(8 + count);
    new DataView(labels.buffer).setUint32(0, 2049);
    new DataView(labels.buffer).setUint32(4, count);
    for (let i = 8; i < labels.length; i++) labels[i] = rng.int(10);
    await Deno.writeFile(join(dir, `${prefix}-images-idx3-ubyte`), images);
    await Deno.writeFile(join(dir, `${prefix}-labels-idx1-ubyte`), labels);
  }
}

/** One Fashion-MNIST epoch with evaluation through `runPoint` (on random data of its size when absent). */
export async function benchEpoch(
  engine: Engine,
  quick: boolean,
  log: (l: string) => void,
): Promise<EpochResult> {
  const st = await Deno.stat(FMNIST_DIR).catch(() => null);
  const synthetic = !st?.isDirectory;
  const tmp = await Deno.makeTempDir({ prefix: "firstspike-bench-" });
  try {
    let dataDir = FMNIST_DIR;
    if (synthetic) {
      log(
        `  no Fashion-MNIST in ${FMNIST_DIR}: timing on random data of its size (accuracy meaningless)`,
      );
      dataDir = join(tmp, "synthetic-fmnist");
      await writeSyntheticFmnist(dataDir);
    }
    const settings = parseExperiment(epochYaml(quick, tmp, dataDir), "bench").base;
    const dir = join(tmp, EPOCH_NAME);
    const results = await runPoint({
      settings,
      id: EPOCH_NAME,
      point: {},
      dir,
      engine,
      log: (l) => log(`  ${l}`),
    });
    const first = (await Deno.readTextFile(join(dir, "metrics.jsonl"))).split("\n")[0];
    const rec = JSON.parse(first) as { seconds: number; test_acc: number; val_acc: number | null };
    engine.check();
    return {
      name: EPOCH_NAME,
      arch: settings.arch,
      batch_size: settings.batch_size,
      train_samples: settings.train_subset,
      epoch_seconds: rec.seconds,
      wall_seconds: results.wall_seconds,
      test_acc: rec.test_acc,
      val_acc: rec.val_acc,
      synthetic,
    };
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 100) return Math.round(x).toString();
  if (a !== 0 && a < 0.01) return x.toExponential(2);
  return x.toPrecision(3);
}

/** A Markdown table of the results. */
export function formatTable(results: readonly ShapeResult[]): string {
  const head = [
    "shape",
    "arch",
    "batch",
    "train ms/step (median)",
    "min",
    "samples/s",
    "GFLOP/s",
    "infer ms/batch",
    "memory MB",
    "reference ms",
    "TF.js ms",
    "vs TF.js",
    "start-up s",
  ];
  const rows = results.map((r) => [
    r.name,
    r.arch,
    String(r.batch),
    fmt(r.train.median_ms),
    fmt(r.train.min_ms),
    fmt(r.train.samples_per_s),
    fmt(r.train.tflops * 1000),
    fmt(r.inference.median_ms),
    fmt(r.memory.allocated_bytes / 1e6),
    r.anchor ? String(r.anchor.reference_ms) : "-",
    r.anchor ? String(r.anchor.tfjs_ms) : "-",
    r.speedup_vs_tfjs !== null ? `${r.speedup_vs_tfjs.toFixed(1)}x` : "-",
    fmt((r.startup.model_create_ms + r.startup.first_step_ms) / 1000),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)]
    .join("\n");
}

async function main(args: ParsedArgs): Promise<number> {
  if (args.positionals.length) {
    throw new UsageError(
      `expected no arguments, got ${args.positionals.map((p) => `'${p}'`).join(", ")}`,
    );
  }
  const quick = args.flag("quick");
  const shapes = quick ? QUICK_SHAPES : FULL_SHAPES;
  const names = [...shapes.map((s) => s.name), EPOCH_NAME];
  const only = args.has("only") ? args.list("only") : undefined;
  for (const n of only ?? []) {
    if (!names.includes(n)) {
      throw new UsageError(`--only: expected one of ${names.join(", ")}, got '${n}'`);
    }
  }
  const wanted = (n: string) => !only || only.includes(n);
  const reps = args.positiveInt("reps") ?? (quick ? 3 : 7);
  const steps = args.positiveInt("steps") ?? (quick ? 3 : 20);
  const warmup = quick ? 2 : 5;
  const jsonPath = args.string("json") ?? "bench.json";
  const precision: Precision = args.choice("precision", ["f32", "f16"] as const, "f32");
  const gpu = gpuFlag(args.string("gpu"));

  console.error(await startGpu({ flag: gpu }));
  let t0 = performance.now();
  const engine = await Engine.create();
  const engineCreateMs = performance.now() - t0;
  const commit = await gitCommit();
  const date = new Date().toISOString();
  const header = [
    `firstspike ${VERSION} benchmark${quick ? " (--quick: small variants, no anchors)" : ""}`,
    `adapter: ${engine.adapterName}`,
    `deno: ${Deno.version.deno}`,
    `commit: ${commit ?? "unknown"}`,
    `date: ${date}`,
    `method: median over ${reps} repetitions of ${steps} steps per submission, ${warmup} warm-up steps`,
    `precision: ${precision} (matrix products)`,
    `start-up: Engine.create ${fmt(engineCreateMs)} ms`,
  ];
  console.log(header.join("\n"));
  const results: ShapeResult[] = [];
  try {
    let peer: PeerRuntime | undefined;
    if (args.flag("peer")) {
      t0 = performance.now();
      peer = await loadPeer(engine.adapterName, (l) => console.error(l));
      console.log(
        `peer: TensorFlow.js ${peer.version}, webgpu backend on ${peer.adapter} ` +
          `(loaded in ${fmt(performance.now() - t0)} ms: bundle ${fmt(peer.bundle.bundle_ms)}, ` +
          `import ${fmt(peer.import_ms)}, backend start ${fmt(peer.backend_init_ms)})`,
      );
    }
    for (const shape of shapes) {
      if (!wanted(shape.name)) continue;
      console.error(
        `${shape.name}: ${shape.arch} on ${shape.input.join("x")}, batch ${shape.batch}`,
      );
      const r = await benchShape(engine, shape, { reps, steps, warmup, precision, peer });
      results.push(r);
      console.error(
        `  ${fmt(r.train.median_ms)} ms/step, Model.create ${fmt(r.startup.model_create_ms)} ms, ` +
          `first step ${fmt(r.startup.first_step_ms)} ms` +
          (r.peer
            ? `; TF.js ${fmt(r.peer.train.median_ms)} ms/step, build ${fmt(r.peer.build_ms)} ms, ` +
              `first step ${fmt(r.peer.warmup.first_step_ms)} ms; ratio ${r.peer.ratio.toFixed(2)}x`
            : ""),
      );
    }
    let epoch: EpochResult | null = null;
    if (wanted(EPOCH_NAME)) {
      console.error(`${EPOCH_NAME}: one Fashion-MNIST epoch with evaluation`);
      epoch = await benchEpoch(engine, quick, (l) => console.error(l));
    }
    await engine.sync();

    console.log("");
    if (results.length) console.log(formatTable(results));
    const peered = results.filter((r) => r.peer).map((r) => ({ ...r, peer: r.peer! }));
    if (peered.length) {
      console.log(`\nsame shapes in TensorFlow.js (interleaved, ${steps} steps per read-back):`);
      console.log(formatPeerTable(peered));
    }
    if (epoch) {
      console.log("");
      if ("skipped" in epoch) console.log(`${EPOCH_NAME}: skipped, ${epoch.skipped}`);
      else {
        console.log(
          `${EPOCH_NAME}: ${epoch.arch}, batch ${epoch.batch_size}` +
            (epoch.train_samples !== null ? `, ${epoch.train_samples} training samples` : "") +
            `: ${epoch.epoch_seconds.toFixed(2)} s/epoch with evaluation ` +
            `(${epoch.wall_seconds.toFixed(2)} s with loading and setup), ` +
            (epoch.synthetic
              ? "random stand-in data (timing only)"
              : `test accuracy ${(epoch.test_acc * 100).toFixed(2)}%`),
        );
      }
    }
    const notes: string[] = [];
    if (!quick) {
      const v = results.find((r) => r.name === "vgg7-b256");
      if (v) {
        notes.push(
          `vgg7-b256 target <= ${TARGETS.vgg7_b256_ms} ms/step on an H200: ` +
            `${fmt(v.train.median_ms)} ms (${
              v.train.median_ms <= TARGETS.vgg7_b256_ms ? "met" : "not met"
            })`,
        );
      }
      const slow = results.filter((r) => (r.speedup_vs_tfjs ?? Infinity) < TARGETS.speedup_vs_tfjs);
      if (results.length) {
        notes.push(
          `speed-up vs TF.js target >= ${TARGETS.speedup_vs_tfjs}x: ` +
            (slow.length
              ? `not met by ${slow.map((r) => r.name).join(", ")}`
              : "met by every shape run"),
        );
      }
      if (epoch && !("skipped" in epoch)) {
        notes.push(
          `${EPOCH_NAME} target <= ${TARGETS.fmnist_epoch_s} s/epoch on an H200: ${
            epoch.epoch_seconds.toFixed(2)
          } s ` +
            `(${epoch.epoch_seconds <= TARGETS.fmnist_epoch_s ? "met" : "not met"})`,
        );
      }
    }
    if (peered.length) {
      const short = peered.filter((r) => !r.peer.met);
      notes.push(
        `measured speed-up vs TF.js target >= ${peered[0].peer.target}x ` +
          `(${engine.cpu ? "CPU driver" : "GPU"}): ` +
          (short.length
            ? `not met by ${short.map((r) => r.name).join(", ")}`
            : "met by every shape run"),
      );
    }
    if (notes.length) console.log(["", ...notes].join("\n"));
    const report = {
      firstspike: VERSION,
      adapter: engine.adapterName,
      deno: Deno.version.deno,
      commit,
      date,
      quick,
      method: { reps, steps_per_rep: steps, warmup_steps: warmup },
      memory_note:
        "allocated_bytes sums every GPU buffer of the model; activations_bytes and weight_buffers_bytes " +
        "are counted from the layer plan (src/bench/flops.ts)",
      flops_note:
        "products of conv/linear/readout layers only; pools, encoding, loss, optimiser count 0",
      targets: TARGETS,
      startup: { engine_create_ms: engineCreateMs },
      peer: peer
        ? {
          library: `TensorFlow.js ${peer.version} (webgpu)`,
          packages: peer.bundle.packages,
          adapter: peer.adapter,
          bundle_ms: peer.bundle.bundle_ms,
          import_ms: peer.import_ms,
          backend_init_ms: peer.backend_init_ms,
          targets: PEER_TARGETS,
          network: "same layers as the plan with ReLU, no bias, NHWC, softmax cross-entropy, Adam",
        }
        : null,
      shapes: results,
      epoch,
    };
    await writeFileAtomic(jsonPath, JSON.stringify(report, null, 2) + "\n");
    console.log(`\nwrote ${jsonPath}`);
    return 0;
  } finally {
    engine.destroy();
  }
}

if (import.meta.main) await runTask(BENCH, main);
