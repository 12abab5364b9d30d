/**
 * Layer programs: for each planned layer, the kernels it runs, their override
 * constants and dispatch sizes. A layer owns no buffers and holds no state:
 * the model binds its buffers once and asks the layer to encode dispatches.
 *
 * @module
 */

import {
  type BindingKind,
  type Engine,
  grid1d,
  type Program,
  UNIFORM_WINDOW_BYTES,
} from "./gpu.ts";
import { type LayerPlan, sizeOf } from "./spec.ts";
import { envGet } from "../util/env.ts";

/** A tile configuration of the GEMM core (`_gemm.wgsl`): output tile BM x BN, K slice BK, TM x TN per invocation. */
export interface Tile {
  /** Key in {@link TILES}, e.g. "64x64" (BM x BN). */
  name: string;
  /** Rows (M) of the output tile. */
  bm: number;
  /** Columns (N) of the output tile. */
  bn: number;
  /** Depth of the K slice staged per iteration. */
  bk: number;
  /** Output rows per invocation. */
  tm: number;
  /** Output columns per invocation. */
  tn: number;
  /**
   * `tiled` (`_gemm.wgsl`: workgroup-memory staging, prefetch, barriers: for
   * GPUs) or `direct` (`_gemm_direct.wgsl`: each invocation reads its own
   * operands, no barriers: for CPU drivers, which compile it in seconds).
   */
  core: "tiled" | "direct";
}

/**
 * The tile table. Larger tiles reuse each staged value more (a 128 x 128
 * tile does 8 x 8 FMAs per pair of vec4 reads, a 64 x 64 tile 4 x 4) but
 * give fewer workgroups; {@link chooseTile} takes the largest tile that still
 * fills the device. Measured on lavapipe (2 cores; `deno run -A
 * tasks/bench.ts --quick`), 64x64 and 128x64 were within noise of each other;
 * the choice between them on a large GPU awaits a measurement there
 * (PERFORMANCE.md).
 */
export const TILES: Readonly<Record<string, Tile>> = {
  "128x128": { name: "128x128", bm: 128, bn: 128, bk: 16, tm: 8, tn: 8, core: "tiled" },
  "128x64": { name: "128x64", bm: 128, bn: 64, bk: 16, tm: 8, tn: 4, core: "tiled" },
  "64x128": { name: "64x128", bm: 64, bn: 128, bk: 16, tm: 4, tn: 8, core: "tiled" },
  "64x64": { name: "64x64", bm: 64, bn: 64, bk: 16, tm: 4, tn: 4, core: "tiled" },
  "32x32": { name: "32x32", bm: 32, bn: 32, bk: 16, tm: 4, tn: 4, core: "tiled" },
  direct: directTile(4, 4, 8, 8),
};

/**
 * A tile of the direct core (`_gemm_direct.wgsl`): each invocation owns a
 * `tm` x `tn` block of outputs, a workgroup has `wy` x `wx` invocations.
 * Its name, `d4x4/8x8`, is what `FIRSTSPIKE_TILE` takes for it (`direct`
 * is that one).
 */
export function directTile(tm: number, tn: number, wy: number, wx: number): Tile {
  return {
    name: `d${tm}x${tn}/${wy}x${wx}`,
    bm: tm * wy,
    bn: tn * wx,
    bk: 16,
    tm,
    tn,
    core: "direct",
  };
}

/** Block sides the direct core is built with (rows or columns per invocation). */
const DIRECT_BLOCKS = [1, 2, 4, 8, 16];
/** Invocations per direct workgroup: multiples of a CPU's 8 SIMD lanes. */
const DIRECT_LANES = [8, 16, 32, 64];
/**
 * Most accumulators per invocation (block outputs, twice for dual sums).
 * Measured on llvmpipe (2 cores, PERFORMANCE.md): a cap of 128 against 64
 * made vgg7/8 steps 1.3x faster and its first (cold) compilation 8.6 s ->
 * 16 s; 256 was faster again but took 94 s to compile.
 */
const DIRECT_MAX_ACCUMULATORS = 128;
/**
 * What one storage read costs against one FMA on a CPU driver, per
 * invocation (llvmpipe reads lane by lane: tens of cycles per 8 lanes,
 * against one for an 8-wide FMA, spills included).
 */
const DIRECT_READ_COST = 25;

/**
 * Picks the direct core's tile for an M x N output with K-long sums on a CPU
 * driver with `cores` threads: the least estimated time, counting per
 * invocation and k `DIRECT_READ_COST` per value read (tm rows of A of
 * `readsA` values each, tn columns of B of `readsB`) and one per
 * FMA (tm * tn, twice when `dual`), over the padded output, and the rounds
 * of workgroups the cores run (`splits` of K each). An invocation's lanes
 * all lie along N: they share A's rows, which llvmpipe reads 2 to 6 times
 * faster than rows that differ per lane (a 32C3 layer's forward at batch 8:
 * 6.7 ms with 8 x 1 lanes along N, 28 ms along M). Blocks of more than
 * {@link DIRECT_MAX_ACCUMULATORS} accumulators are skipped; on a tie, the
 * smaller block.
 */
export function chooseDirectTile(
  m: number,
  n: number,
  k: number,
  dual: boolean,
  cores: number,
  splits = 1,
  readsA = 1,
  readsB = 1,
): Tile {
  let best: Tile | null = null;
  let bestCost = Infinity;
  for (const tm of DIRECT_BLOCKS) {
    for (const tn of DIRECT_BLOCKS) {
      const accumulators = tm * tn * (dual ? 2 : 1);
      if (accumulators > DIRECT_MAX_ACCUMULATORS) continue;
      for (const lanes of DIRECT_LANES) {
        const t = directTile(tm, tn, 1, lanes);
        const groups = Math.ceil(m / t.bm) * Math.ceil(n / t.bn) * splits;
        const perInvocation = Math.ceil(k / splits) *
          (DIRECT_READ_COST * (tm * readsA + tn * readsB) + accumulators);
        const cost = Math.ceil(groups / cores) * lanes * perInvocation;
        if (cost < bestCost || (cost === bestCost && tm * tn < best!.tm * best!.tn)) {
          best = t;
          bestCost = cost;
        }
      }
    }
  }
  return best!;
}

/**
 * Workgroups a large GPU needs to be busy (an H200 has 132 SMs; two waves).
 * On a CPU driver (lavapipe) nothing counts as filled, so the smallest tiles
 * win: there 32 x 32 ran 2.9 times faster than 128 x 128 and 1.2 times faster
 * than 64 x 64 on a 64C3 layer (2 cores, forward of batch 8 at 16 x 16).
 */
export const FILL_WORKGROUPS = 264;

/**
 * Picks a tile for an M x N output: the largest tile (by area) that gives at
 * least {@link FILL_WORKGROUPS} workgroups, else the one that gives the most
 * (the smallest of those on a tie).
 * Dual-accumulator products (`dual`) skip 128 x 128 to keep registers in
 * bounds. `FIRSTSPIKE_TILE=<name>` forces one (for tuning).
 */
export function chooseTile(
  m: number,
  n: number,
  dual: boolean,
  fill: number = FILL_WORKGROUPS,
  force?: string,
  maxWorkgroupBytes = Infinity,
): Tile {
  const forced = force ?? envGet("FIRSTSPIKE_TILE");
  if (forced) return namedTile(forced);
  const candidates = Object.values(TILES).filter((t) =>
    t.core === "tiled" && !(dual && t.name === "128x128") && tileBytes(t) <= maxWorkgroupBytes
  );
  const groups = (t: Tile) => Math.ceil(m / t.bm) * Math.ceil(n / t.bn);
  const filling = candidates.filter((t) => groups(t) >= fill);
  if (filling.length) return filling.reduce((a, b) => (b.bm * b.bn > a.bm * a.bn ? b : a));
  // Nothing fills the device: the most workgroups, and on a tie the smallest tile (less padding).
  return candidates.reduce((a, b) =>
    groups(b) > groups(a) || (groups(b) === groups(a) && b.bm * b.bn < a.bm * a.bn) ? b : a
  );
}

/**
 * The tile `FIRSTSPIKE_TILE` names: a key of {@link TILES}, or a direct tile
 * as `d<tm>x<tn>/<wy>x<wx>` (invocations a multiple of 8, at most 256).
 */
export function namedTile(name: string): Tile {
  const t = TILES[name];
  if (t) return t;
  const d = /^d(\d+)x(\d+)\/(\d+)x(\d+)$/.exec(name);
  if (d) {
    const [tm, tn, wy, wx] = d.slice(1).map(Number);
    const lanes = wy * wx;
    if (tm >= 1 && tn >= 1 && tm * tn <= 256 && lanes % 8 === 0 && lanes <= 256) {
      return directTile(tm, tn, wy, wx);
    }
  }
  throw new Error(
    `FIRSTSPIKE_TILE: expected one of ${Object.keys(TILES).join(", ")} or a direct tile ` +
      `d<tm>x<tn>/<wy>x<wx> (wy * wx a multiple of 8 up to 256, tm * tn up to 256), got '${name}'`,
  );
}

/**
 * Workgroup memory a tile may use: both operands staged twice (dual) in
 * float32. Tiles over the device's limit are never chosen (the WebGPU
 * default limit, 16 KiB, admits 32x32 and 64x64).
 */
export function tileBytes(t: Tile): number {
  if (t.core === "direct") return 0;
  return 2 * 4 * t.bk * (t.bm + t.bn);
}

/** Arithmetic of the GEMM core: float32, or float16 tiles and slice sums with float32 totals. */
export type Precision = "f32" | "f16";

/** WGSL constants a tile defines for `_gemm.wgsl`. */
export function tileDefines(t: Tile, precision: Precision = "f32"): Record<string, number> {
  return { BM: t.bm, BN: t.bn, BK: t.bk, TM: t.tm, TN: t.tn, MIXED: precision === "f16" ? 1 : 0 };
}

/** Directives and the staging type of `_gemm.wgsl` for a precision. */
export function gemmPrelude(precision: Precision): string {
  return precision === "f16" ? "enable f16;\nalias ST = f16;" : "alias ST = f32;";
}

/** The GEMM core file of a tile. */
const coreFile = (t: Tile) => t.core === "direct" ? "_gemm_direct.wgsl" : "_gemm.wgsl";

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
 * Number of K splits for the weight gradient with tile `t`: enough
 * workgroups to fill a large GPU, each split at least 8 K slices long. Fixed
 * by the layer shape and the largest batch, so the pipeline and the partial
 * buffer never change with the batch.
 */
export function weightSplits(
  g: GemmShape,
  maxBatch: number,
  t: Tile = weightTile(g, FILL_WORKGROUPS),
  fill: number = FILL_WORKGROUPS,
): number {
  const tiles = Math.ceil(g.co / t.bm) * Math.ceil((g.ci * g.ks * g.ks) / t.bn);
  const k = maxBatch * g.h * g.w;
  const byWork = Math.ceil((4 * fill) / tiles);
  const byLength = Math.max(1, Math.floor(k / (t.bk * 8)));
  return Math.max(1, Math.min(byWork, byLength, 256));
}

/** The weight gradient's tile: its output is CO x (CI k k), independent of the batch (split-K fills the GPU). */
function weightTile(g: GemmShape, fill: number, maxBytes = Infinity): Tile {
  return chooseTile(g.co, g.ci * g.ks * g.ks, g.mode === 0, fill, undefined, maxBytes);
}

/** A GEMM program with its tile and K splits. */
export interface Gemm {
  program: Program;
  tile: Tile;
  splits: number;
}

/** Programs of a weighted layer. */
export interface WeightedPrograms {
  /** Forward GEMM (S and I, or U); with splits > 1 it writes partial sums. */
  forward: Gemm;
  /** With a split forward: adds the partial sums and applies the epilogue; else null. */
  finishForward: Program | null;
  /** Gradient w.r.t. the input times. */
  backwardInput: Gemm;
  /** Weight gradient, split-K into partial sums. */
  backwardWeight: Gemm;
  /** Adds the weight gradient's partial sums into the gradient. */
  reduce: Program;
  /** A spiking layer's folding of dL/dtau into its backward factors, run before both backward products; null for the readout. */
  scale: Program | null;
}

/** Most uniform windows a layer's weights may take (12 uniform buffers per stage, one for the step). */
export const MAX_UNIFORM_WINDOWS = 8;
/** Weights per uniform window (64 KiB of float32). */
export const WINDOW_FLOATS = UNIFORM_WINDOW_BYTES / 4;
/** Cost of a read from a uniform window against a storage read, in {@link chooseDirectTile}. */
const UNIFORM_READ = 0.2;

/**
 * How many uniform windows a layer's weights need on a CPU driver, or 0
 * when they read the storage binding: more than {@link MAX_UNIFORM_WINDOWS}
 * windows, or `FIRSTSPIKE_UNIFORM_WEIGHTS=0`.
 */
export function uniformWindows(g: GemmShape): number {
  const forced = envGet("FIRSTSPIKE_UNIFORM_WEIGHTS");
  if (forced !== undefined && forced !== "0" && forced !== "1") {
    throw new Error(`FIRSTSPIKE_UNIFORM_WEIGHTS: expected 0 or 1, got '${forced}'`);
  }
  if (forced === "0") return 0;
  const n = Math.ceil((g.co * g.ci * g.ks * g.ks) / WINDOW_FLOATS);
  return n <= MAX_UNIFORM_WINDOWS ? n : 0;
}

/**
 * K splits of the forward product: when its output gives fewer than half of
 * {@link FILL_WORKGROUPS} workgroups (fully connected layers and the readout
 * at small batches), enough splits to fill the device, each at least 8 K
 * slices long; 1 on a CPU driver. `FIRSTSPIKE_FORWARD_SPLITS=<n>` forces n.
 */
export function forwardSplits(g: GemmShape, maxBatch: number, t: Tile, cpu: boolean): number {
  const forced = envGet("FIRSTSPIKE_FORWARD_SPLITS");
  if (forced !== undefined) {
    const n = Number(forced);
    if (!Number.isInteger(n) || n < 1 || n > 256) {
      throw new Error(`FIRSTSPIKE_FORWARD_SPLITS: expected an integer in 1..256, got '${forced}'`);
    }
    return n;
  }
  if (cpu) return 1;
  const groups = Math.ceil(g.co / t.bm) * Math.ceil((maxBatch * g.h * g.w) / t.bn);
  if (2 * groups >= FILL_WORKGROUPS) return 1;
  const byLength = Math.floor((g.ci * g.ks * g.ks) / (t.bk * 8));
  return Math.max(1, Math.min(Math.ceil(FILL_WORKGROUPS / groups), byLength, 64));
}

/** Builds (or fetches from the cache) the programs of a conv, linear or readout layer. */
export async function weightedPrograms(
  engine: Engine,
  g: GemmShape,
  tWin: number,
  clip: number,
  maxBatch: number,
  precision: Precision = "f32",
): Promise<WeightedPrograms> {
  const shape = { CI: g.ci, H: g.h, W: g.w, CO: g.co, KS: g.ks, TWIN: tWin, MODE: g.mode };
  const readout = g.mode === 1;
  const pixels = maxBatch * g.h * g.w;
  const fill = engine.cpu ? Infinity : FILL_WORKGROUPS;
  const bytes = engine.device.limits.maxComputeWorkgroupStorageSize;
  // A CPU driver gets the direct core, each product its own tile, unless a tile is forced
  // (FIRSTSPIKE_TILE); there the weight gradient splits K only to keep its cores busy.
  const forced = envGet("FIRSTSPIKE_TILE");
  const direct = engine.cpu && !forced;
  const cores = navigator.hardwareConcurrency || 1;
  const taps = g.ks * g.ks;
  // The uniform windows serve the direct core on a CPU driver (forced direct tiles included).
  const windows = engine.cpu && (!forced || namedTile(forced).core === "direct")
    ? uniformWindows(g)
    : 0;
  // Rows of A read from uniform windows cost next to nothing (one scalar load for all lanes).
  const readsWeights = windows > 0 ? UNIFORM_READ : 1;
  const directWeight = () => {
    // A spiking layer's rows of A are pairs (dL/dtau * (g_I, g_S)): two reads.
    const readsA = readout ? 1 : 2;
    const first = chooseDirectTile(g.co, g.ci * taps, pixels, !readout, cores, 1, readsA);
    const s = weightSplits(g, maxBatch, first, cores);
    return chooseDirectTile(g.co, g.ci * taps, pixels, !readout, cores, s, readsA);
  };
  const tiles = direct
    ? {
      forward: chooseDirectTile(g.co, pixels, g.ci * taps, !readout, cores, 1, readsWeights),
      backwardInput: chooseDirectTile(g.ci, pixels, g.co * taps, false, cores, 1, readsWeights),
      backwardWeight: directWeight(),
    }
    : {
      forward: chooseTile(g.co, pixels, !readout, fill, undefined, bytes),
      backwardInput: chooseTile(g.ci, pixels, false, fill, undefined, bytes),
      backwardWeight: weightTile(g, fill, bytes),
    };
  const splits = weightSplits(g, maxBatch, tiles.backwardWeight, direct ? cores : FILL_WORKGROUPS);
  const fSplits = forwardSplits(g, maxBatch, tiles.forward, engine.cpu);
  const weights = windows > 0 ? "_weights_uniform.wgsl" : "_weights_storage.wgsl";
  const gemm = async (
    files: string[],
    tile: Tile,
    bindings: BindingKind[],
    constants: Record<string, number | boolean>,
    n = 1,
    w = 0,
  ) => ({
    program: await engine.program({
      files,
      prelude: gemmPrelude(precision),
      defines: tileDefines(tile, precision),
      repeats: tile.core === "direct"
        ? { i: tile.tm, q: tile.tn, ...(w > 0 ? { u: w } : {}) }
        : undefined,
      windows: w,
      bindings,
      constants,
    }),
    tile,
    splits: n,
  });
  const [forward, finishForward, backwardInput, backwardWeight, reduce, scale] = await Promise.all([
    gemm(
      ["conv_forward.wgsl", "_epilogue.wgsl", weights, coreFile(tiles.forward)],
      tiles.forward,
      [
        "read",
        "read",
        "rw",
        "rw",
        "rw",
      ],
      {
        ...shape,
        CLIP: clip,
        B_DUAL: !readout,
        Y_USED: !readout,
        SPLIT: fSplits > 1,
      },
      fSplits,
      windows,
    ),
    fSplits > 1
      ? engine.program({
        files: ["forward_splits.wgsl", "_epilogue.wgsl"],
        bindings: ["read", "rw", "rw"],
        constants: {
          H: g.h,
          W: g.w,
          CO: g.co,
          TWIN: tWin,
          CLIP: clip,
          MODE: g.mode,
          SPLITS: fSplits,
        },
      })
      : Promise.resolve(null),
    gemm(
      ["conv_backward_input.wgsl", weights, coreFile(tiles.backwardInput)],
      tiles.backwardInput,
      [
        "read",
        "read",
        "read",
        "read",
        "rw",
      ],
      {
        ...shape,
        Y_USED: false,
      },
      1,
      windows,
    ),
    gemm(["conv_backward_weight.wgsl", coreFile(tiles.backwardWeight)], tiles.backwardWeight, [
      "read",
      "read",
      "read",
      "rw",
    ], {
      ...shape,
      A_DUAL: !readout,
      B_DUAL: !readout,
      Y_USED: !readout,
      A_K_FAST: true,
      B_K_FAST: true,
    }, splits),
    engine.program({
      files: ["reduce_splits.wgsl"],
      bindings: ["read", "rw"],
      constants: { LEN: g.co * g.ci * g.ks * g.ks, SPLITS: splits },
    }),
    readout ? Promise.resolve(null) : engine.program({
      files: ["scale_grad.wgsl"],
      bindings: ["read", "rw"],
    }),
  ]);
  return { forward, finishForward, backwardInput, backwardWeight, reduce, scale };
}

/** Records a GEMM dispatch over an M x N output: [ceil(N / BN), ceil(M / BM), splits] workgroups. */
export function dispatchGemm(pass: GPUComputePassEncoder, g: Gemm, m: number, n: number): void {
  pass.setPipeline(g.program.pipeline);
  pass.dispatchWorkgroups(Math.ceil(n / g.tile.bn), Math.ceil(m / g.tile.bm), g.splits);
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
