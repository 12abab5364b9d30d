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
const DIRECT_BLOCKS = [1, 2, 3, 4, 5, 6, 8, 10, 12, 16];
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
  /** Forward GEMM (S and I, or U); with splits > 1 it writes partial sums. Null with `direct`. */
  forward: Gemm | null;
  /** With a split forward: adds the partial sums and applies the epilogue; else null. */
  finishForward: Program | null;
  /** Gradient w.r.t. the input times; null with `direct`, or when the layer passes none. */
  backwardInput: Gemm | null;
  /** Weight gradient, split-K into partial sums; null with `direct.weight`. */
  backwardWeight: Gemm | null;
  /** K splits of the weight gradient (every implementation of it takes the same). */
  weightSplits: number;
  /** The dense weight gradient's GEMM tile (chosen whether or not the GEMM is built). */
  weightTile: Tile;
  /** Adds the weight gradient's partial sums into the gradient. */
  reduce: Program;
  /** A spiking layer's folding of dL/dtau into its backward factors, run before both backward products; null for the readout. */
  scale: Program | null;
  /**
   * A convolution's forward, input gradient and (kernels of 2 and up) dense weight gradient as
   * direct convolutions (CPU drivers, {@link useDirectConv}), or null.
   */
  direct: {
    forward: DirectConv;
    backwardInput: DirectConv | null;
    weight: DirectWeight | null;
  } | null;
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
  inputGradient = true,
  inputSkip = false,
): Promise<WeightedPrograms> {
  const directConv = useDirectConv(engine.cpu, g, precision);
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
  const [
    forward,
    finishForward,
    backwardInput,
    backwardWeight,
    reduce,
    scale,
    directs,
    directWeightGradient,
  ] = await Promise
    .all([
      directConv ? Promise.resolve(null) : gemm(
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
      directConv || !inputGradient ? Promise.resolve(null) : gemm(
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
      directConv && g.ks > 1 ? Promise.resolve(null) : gemm(
        ["conv_backward_weight.wgsl", coreFile(tiles.backwardWeight)],
        tiles.backwardWeight,
        [
          "read",
          "read",
          "read",
          "rw",
        ],
        {
          ...shape,
          A_DUAL: !readout,
          B_DUAL: !readout,
          Y_USED: !readout,
          A_K_FAST: true,
          B_K_FAST: true,
        },
        splits,
      ),
      engine.program({
        files: ["reduce_splits.wgsl"],
        bindings: ["read", "rw"],
        constants: { LEN: g.co * g.ci * g.ks * g.ks, SPLITS: splits },
      }),
      readout ? Promise.resolve(null) : engine.program({
        files: ["scale_grad.wgsl"],
        bindings: ["read", "rw"],
      }),
      directConv
        ? directConvPrograms(engine, g, tWin, clip, inputGradient, inputSkip)
        : Promise.resolve(null),
      directConv && g.ks > 1 ? directWeightProgram(engine, g) : Promise.resolve(null),
    ]);
  return {
    forward,
    finishForward,
    backwardInput,
    backwardWeight,
    weightSplits: splits,
    weightTile: tiles.backwardWeight,
    reduce,
    scale,
    direct: directs ? { ...directs, weight: directWeightGradient } : null,
  };
}

/**
 * Tiling of the event-driven weight gradient (`conv_weight_events.wgsl`):
 * each invocation owns one output channel and `tc` input channels (all their
 * taps), a workgroup `lanes` output channels.
 */
export interface EventsTile {
  /** Input channels per invocation (their KS * KS taps each: 2 * tc * KS * KS accumulators). */
  tc: number;
  /** Invocations per workgroup. */
  lanes: number;
  /**
   * The lanes of a workgroup share an output channel and its event list, each with its own
   * input channels (else each lane has its own output channel and list).
   */
  alongCi: boolean;
}

/** Most accumulators per invocation of the event-driven weight gradient (as the direct core). */
const EVENTS_MAX_ACCUMULATORS = 128;

/**
 * Most accumulators where rounding the input channels per invocation up to a
 * power of two takes them (3 x 3 kernels: 8 channels, 144 accumulators, whole
 * blocks of the usual 8 to 64 channels instead of blocks of 7 whose last
 * lanes idle: vgg7/8's 64C3 weight gradient 0.6x, PERFORMANCE.md 36).
 */
const EVENTS_POW2_ACCUMULATORS = 160;

/**
 * The event-driven weight gradient's tile for a layer: as many input channels
 * per invocation as {@link EVENTS_MAX_ACCUMULATORS} allows (at least one; the
 * next power of two within {@link EVENTS_POW2_ACCUMULATORS}), balanced over
 * the column blocks; 8 lanes on a CPU driver (its SIMD width),
 * 32 or 64 on a GPU. Where the input channels fill the lanes (a block each),
 * the lanes share an output channel's event list (`alongCi`: no lane waits
 * for a longer list; a 64C5 layer's weight gradient 1.2x faster on llvmpipe).
 * `FIRSTSPIKE_EVENTS_ALONG=ci|co` forces the lanes' direction (for tuning).
 *
 * @example
 * ```ts
 * import { eventsTile } from "./layers.ts";
 * // 20 input channels of 3 x 3 taps: at most 8 per invocation (144 accumulators), so 3 blocks of 7.
 * const t = eventsTile({ ci: 20, h: 8, w: 8, co: 32, ks: 3, mode: 0 }, true);
 * if (t.tc !== 7 || t.lanes !== 8 || t.alongCi) throw new Error(JSON.stringify(t));
 * // 64 channels: 8 blocks of 8, one per lane.
 * const v = eventsTile({ ci: 64, h: 8, w: 8, co: 64, ks: 3, mode: 0 }, true);
 * if (v.tc !== 8 || !v.alongCi) throw new Error(JSON.stringify(v));
 * // 32 channels of 5 x 5 taps: 2 per invocation, 16 blocks: the lanes take the channels.
 * const u = eventsTile({ ci: 32, h: 14, w: 14, co: 64, ks: 5, mode: 0 }, true);
 * if (u.tc !== 2 || !u.alongCi) throw new Error(JSON.stringify(u));
 * ```
 */
export function eventsTile(g: GemmShape, cpu: boolean): EventsTile {
  const kk = g.ks * g.ks;
  const fit = Math.max(1, Math.floor(EVENTS_MAX_ACCUMULATORS / (2 * kk)));
  const pow2 = 2 ** Math.ceil(Math.log2(fit));
  const most = 2 * pow2 * kk <= EVENTS_POW2_ACCUMULATORS ? pow2 : fit;
  const blocks = Math.ceil(g.ci / most);
  const lanes = cpu ? 8 : g.co > 32 ? 64 : 32;
  const along = envGet("FIRSTSPIKE_EVENTS_ALONG");
  if (along !== undefined && along !== "ci" && along !== "co") {
    throw new Error(`FIRSTSPIKE_EVENTS_ALONG: expected 'ci' or 'co', got '${along}'`);
  }
  const alongCi = along === undefined ? cpu && blocks >= lanes : along === "ci";
  return { tc: Math.ceil(g.ci / blocks), lanes, alongCi };
}

/**
 * How much the dense weight gradient's estimated time must exceed the
 * event-driven one's before a layer runs event-driven ({@link
 * preferEvents}). Measured on llvmpipe (vgg7/8, trained, 2 cores, the direct
 * dense weight gradient against the event-driven one, layers 8C3 to 64C3):
 * estimated event-driven / dense 1.50, 0.83, 2.41, 0.86, 1.76 and 0.32,
 * measured 0.75, 0.74, 2.00, 0.69, 1.54 and 0.50 (PERFORMANCE.md): with no
 * margin the estimates choose the faster product for all but the smallest
 * layer, whose two products are within 0.2 ms.
 */
export const EVENTS_MARGIN = 1;

/**
 * Whether a spiking layer's weight gradient should run over its events on a
 * CPU driver with `cores` threads, when `share` of its neurons pass a
 * gradient: the events' estimated time, times {@link EVENTS_MARGIN}, below
 * the dense product's. Both in the units of {@link chooseDirectTile} (25 per
 * value read per lane, 1 per FMA): the dense product with its tile and K
 * splits; the event-driven one per event and block of input channels reading
 * the event's pixel and G and the receptive field of `tc` channels, with the
 * lanes of a workgroup waiting for the longest of their lists (1.7x) unless
 * they share one (`alongCi`).
 *
 * @example
 * ```ts
 * import { chooseDirectTile, preferEvents } from "./layers.ts";
 * // vgg7/8's 64C3 on 32 channels (8 x 8 pixels, batch 8) against the GEMM: 7% passing, yes;
 * // 30%, no.
 * const g = { ci: 32, h: 8, w: 8, co: 64, ks: 3, mode: 0 as const };
 * const t = chooseDirectTile(64, 288, 512, true, 2, 1, 2);
 * if (!preferEvents(g, 0.07, 8, t, 1, 2) || preferEvents(g, 0.3, 8, t, 1, 2)) throw new Error();
 * ```
 */
export function preferEvents(
  g: GemmShape,
  share: number,
  batch: number,
  dense: Tile | DirectWeight,
  splits: number,
  cores: number,
): boolean {
  const kk = g.ks * g.ks, n = g.ci * kk, k = batch * g.h * g.w;
  let denseCost: number;
  if ("bm" in dense) {
    const lanes = dense.bn / dense.tn;
    const groups = Math.ceil(g.co / dense.bm) * Math.ceil(n / dense.bn) * splits;
    denseCost = Math.ceil(groups / cores) * lanes * Math.ceil(k / splits) *
      (DIRECT_READ_COST * (dense.tm * 2 + dense.tn) + 2 * dense.tm * dense.tn);
  } else {
    // The direct weight gradient: per pixel and invocation KS new inputs and tm values of G.
    const work = Math.ceil(g.co / dense.tm) * g.ci;
    denseCost = (k * work * (DIRECT_READ_COST * (g.ks + dense.tm) + 2 * dense.tm * kk)) / cores;
  }
  const t = eventsTile(g, true);
  const blocks = Math.ceil(g.ci / t.tc);
  const events = share * batch * g.co * g.h * g.w;
  const eventsCost = (events * blocks * (DIRECT_READ_COST * (2 + t.tc * kk) + 2 * t.tc * kk) *
    (t.alongCi ? 1 : 1.7)) / cores;
  return eventsCost * EVENTS_MARGIN < denseCost;
}

/** The event-driven weight gradient of a spiking layer, with its tile. */
export interface EventsGemm {
  program: Program;
  tile: EventsTile;
}

/** Builds (or fetches) the event-driven weight gradient of a spiking layer (mode 0). */
export function weightEventsProgram(
  engine: Engine,
  g: GemmShape,
  precision: Precision = "f32",
): Promise<EventsGemm> {
  if (g.mode !== 0) throw new Error("weightEventsProgram: expected a spiking layer (mode 0)");
  const tile = eventsTile(g, engine.cpu);
  return engine.program({
    files: ["conv_weight_events.wgsl"],
    prelude: gemmPrelude(precision),
    defines: {
      BK: 16,
      MIXED: precision === "f16" ? 1 : 0,
      TC: tile.tc,
      LANES: tile.lanes,
      ALONG_CI: tile.alongCi ? 1 : 0,
    },
    repeats: { c: tile.tc, r: g.ks * g.ks },
    bindings: ["read", "read", "read", "read", "rw"],
    constants: { CI: g.ci, H: g.h, W: g.w, CO: g.co, KS: g.ks },
  }).then((program) => ({ program, tile }));
}

/**
 * Builds (or fetches) the kernel that folds a spiking layer's upstream
 * gradient into its backward factors and lists its events
 * (`grad_events.wgsl`): `pool` is the kernel of a max pool right after the
 * layer whose backward pass it replaces (0: none), `dense` whether every
 * neuron's factor must be written (a dense product reads them), `layer` the
 * layer's index (its activity counter).
 */
export function gradEventsProgram(
  engine: Engine,
  g: GemmShape,
  pool: number,
  dense: boolean,
  layer: number,
): Promise<Program> {
  return engine.program({
    files: ["grad_events.wgsl"],
    bindings: ["read", "read", "rw", "rw", "rw", "rw"],
    constants: { CO: g.co, H: g.h, W: g.w, POOL: pool, DENSE: dense, EVENTS: true, LAYER: layer },
  });
}

/**
 * Records the event-driven weight gradient of a layer: [ceil(CI / tc), ceil(CO / lanes), splits]
 * workgroups, or along the input channels [ceil(CI / (tc * lanes)), CO, splits].
 */
export function dispatchWeightEvents(
  pass: GPUComputePassEncoder,
  e: EventsGemm,
  g: GemmShape,
  splits: number,
): void {
  pass.setPipeline(e.program.pipeline);
  const t = e.tile;
  if (t.alongCi) pass.dispatchWorkgroups(Math.ceil(g.ci / (t.tc * t.lanes)), g.co, splits);
  else pass.dispatchWorkgroups(Math.ceil(g.ci / t.tc), Math.ceil(g.co / t.lanes), splits);
}

/**
 * A direct convolution of a spiking KS x KS layer on a CPU driver
 * (`conv_forward_direct.wgsl` or `conv_backward_input_direct.wgsl`): `tm`
 * rows (output channels; input channels for the input gradient) by `tn`
 * consecutive pixels of an image row per invocation, `lanes` invocations
 * per workgroup, one dispatch per block of `tm` rows, each reading its
 * block of transposed weights (`transpose_weights.wgsl`, `block` floats
 * apart) through one uniform window bound at the block's offset.
 */
export interface DirectConv {
  program: Program;
  tm: number;
  tn: number;
  lanes: number;
  /** Image rows per invocation: 2 for a forward fused with a 2 x 2 pool, else 1. */
  rows: number;
  /** Floats from one block of transposed weights to the next (a multiple of 64: 256 bytes). */
  block: number;
  /** Blocks (dispatches): ceil(rows / tm). */
  blocks: number;
  /**
   * An input gradient that skips the output channels without events on its workgroup's images
   * (SKIP, binding 3: the event builder's counts per plane); see {@link inputSkip}.
   */
  skip: boolean;
}

/**
 * Floats of one block of transposed weights: a vec4 header, then `taps`
 * rows of `tm` floats, rounded up to 64 floats (dynamic uniform offsets are
 * 256-byte aligned).
 *
 * @example
 * ```ts
 * import { directBlock } from "./layers.ts";
 * if (directBlock(9, 8) !== 128 || directBlock(800, 16) !== 12864) throw new Error();
 * ```
 */
export function directBlock(taps: number, tm: number): number {
  return Math.ceil((4 + taps * tm) / 64) * 64;
}

/**
 * Pixels per invocation of a direct convolution for rows of `w` pixels: a
 * whole row up to 16, else the least padding among 8 to 16, the largest on a
 * tie. Longer segments read less of their neighbours per pixel (a row of
 * TN + KS - 1 inputs for TN pixels): on llvmpipe a 64C5 layer on 14 x 14
 * rows ran its forward 1.9x and its input gradient 1.7x faster with 14
 * pixels than with 7 (PERFORMANCE.md).
 *
 * @example
 * ```ts
 * import { directPixels } from "./layers.ts";
 * if (directPixels(32) !== 16 || directPixels(14) !== 14 || directPixels(28) !== 14) throw new Error();
 * if (directPixels(3) !== 3 || directPixels(20) !== 10) throw new Error();
 * ```
 */
export function directPixels(w: number): number {
  if (w <= 16) return w;
  let best = 16;
  const waste = (tn: number) => Math.ceil(w / tn) * tn - w;
  for (let tn = 15; tn >= 8; tn--) if (waste(tn) < waste(best)) best = tn;
  return best;
}

/**
 * Whether a layer runs its forward and input-gradient products as direct
 * convolutions: a spiking convolution on a CPU driver, float32, whose
 * transposed weights fit a block of 4 channels in one uniform window, unless
 * `FIRSTSPIKE_DIRECT_CONV=0`, or a setting that asks for the GEMM path
 * (`FIRSTSPIKE_TILE`, `FIRSTSPIKE_UNIFORM_WEIGHTS=0`,
 * `FIRSTSPIKE_FORWARD_SPLITS`: the tests that force them test the GEMM
 * kernels).
 */
export function useDirectConv(cpu: boolean, g: GemmShape, precision: Precision): boolean {
  const env = envGet("FIRSTSPIKE_DIRECT_CONV");
  if (env !== undefined && env !== "0" && env !== "1") {
    throw new Error(`FIRSTSPIKE_DIRECT_CONV: expected 0 or 1, got '${env}'`);
  }
  if (!cpu || env === "0" || precision !== "f32" || g.mode !== 0 || g.h * g.w === 1) return false;
  if (
    envGet("FIRSTSPIKE_TILE") || envGet("FIRSTSPIKE_UNIFORM_WEIGHTS") === "0" ||
    envGet("FIRSTSPIKE_FORWARD_SPLITS")
  ) {
    return false;
  }
  const taps = g.ks * g.ks;
  return directBlock(g.ci * taps, 4) <= WINDOW_FLOATS &&
    directBlock(g.co * taps, 4) <= WINDOW_FLOATS;
}

/**
 * The tile of one direct convolution of a layer (forward, or with `input` the
 * input gradient): `tn` pixels from {@link directPixels}, and as many rows
 * (a multiple of 4, at most 16) as the accumulators and a block of weights
 * in one window allow: 256 for the input gradient; for the forward 256 (S
 * and I of 128 outputs) where the tile fused with a 2 x 2 pool, two rows of
 * at most 64 / tm pixels (256 accumulators too), covers a row without
 * padding, else 128 (the forward is the same channels fused or not: one
 * layout of transposed weights). `FIRSTSPIKE_DIRECT_TILE=<tm>x<tn>` forces
 * one (for tuning; tm a multiple of 4).
 *
 * @example
 * ```ts
 * import { directConvTile, type GemmShape } from "./layers.ts";
 * // 8C3 -> 16 on rows of 32: 8 channels x 16 pixels, fused with a pool 8 x 8 of two rows.
 * const g: GemmShape = { ci: 8, co: 16, ks: 3, h: 32, w: 32, mode: 0 };
 * const t = [directConvTile(g, false), directConvTile(g, false, true)];
 * if (t[0].tm !== 8 || t[0].tn !== 16 || t[1].tm !== 8 || t[1].tn !== 8) throw new Error();
 * ```
 */
export function directConvTile(
  g: GemmShape,
  input: boolean,
  pooled = false,
): { tm: number; tn: number } {
  const taps = g.ks * g.ks;
  const rows = input ? g.ci : g.co;
  const forced = envGet("FIRSTSPIKE_DIRECT_TILE");
  if (forced !== undefined) {
    const m = /^(\d+)x(\d+)$/.exec(forced);
    const [tm, tn] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
    if (!(tm >= 4 && tm % 4 === 0 && tn >= 1 && tm * tn <= 256)) {
      throw new Error(
        `FIRSTSPIKE_DIRECT_TILE: expected <tm>x<tn> with tm a multiple of 4 and tm * tn up to ` +
          `256, got '${forced}'`,
      );
    }
    return { tm, tn: pooled ? tn + (tn % 2) : tn };
  }
  const tn = directPixels(g.w);
  // Rows of channels for up to `acc` accumulators: one per output for the input gradient, at most
  // 256 (16 x 14 beat 8 x 14); two per output forward (S and I).
  const rowsFor = (acc: number) => {
    const most = Math.max(4, Math.floor((input ? acc : acc / 2) / tn / 4) * 4);
    let tm = Math.min(Math.ceil(rows / 4) * 4, most, 16);
    while (tm > 4 && directBlock((input ? g.co : g.ci) * taps, tm) > WINDOW_FLOATS) tm -= 4;
    return tm;
  };
  if (input) return { tm: rowsFor(256), tn };
  // Forward: 256 accumulators where the pooled tile of as many channels has whole windows without
  // padding (vgg7/8's forwards 0.8x; where it pads, a 64C5 layer on rows of 14 fused ran 1.2x
  // slower), else 128 (4 x 14 beat 8 x 14 and 8 x 7 on that 64C5 layer). PERFORMANCE.md, 34.
  const narrow = rowsFor(128), wide = rowsFor(256);
  const widePixels = Math.max(2, Math.floor(64 / wide / 2) * 2);
  const tm = wide > narrow && widePixels <= tn && g.w % widePixels === 0 ? wide : narrow;
  // A forward fused with a 2 x 2 pool: the same channels (the same blocks of transposed weights),
  // whole windows (an even number of pixels) of two rows.
  if (pooled) return { tm, tn: tm === narrow ? Math.min(16, tn + (tn % 2)) : widePixels };
  return { tm, tn };
}

/**
 * Whether a layer's direct input gradient skips the output channels without
 * events (`SKIP` in `conv_backward_input_direct.wgsl`): where its event
 * builder runs (`events`: the model's event-driven backward is built for the
 * layer), unless `FIRSTSPIKE_INPUT_SKIP=0`. The skipped terms are zeros, so
 * the sums are the dense ones bit for bit.
 */
export function inputSkip(events: boolean): boolean {
  const env = envGet("FIRSTSPIKE_INPUT_SKIP");
  if (env !== undefined && env !== "0" && env !== "1") {
    throw new Error(`FIRSTSPIKE_INPUT_SKIP: expected 0 or 1, got '${env}'`);
  }
  return events && env !== "0";
}

/**
 * Builds (or fetches) one direct convolution program of a layer: the forward
 * (with `pooled`, fused with the 2 x 2 max pool after it), or with `input`
 * the input gradient (with `skip`, skipping output channels without events).
 */
export async function directConvProgram(
  engine: Engine,
  g: GemmShape,
  input: boolean,
  tWin: number,
  clip: number,
  pooled = false,
  skip = false,
): Promise<DirectConv> {
  const taps = g.ks * g.ks;
  const { tm, tn } = directConvTile(g, input, pooled);
  const lanes = 8;
  const rows = pooled ? 2 : 1;
  skip = skip && input;
  const program = await engine.program({
    files: input
      ? ["conv_backward_input_direct.wgsl"]
      : ["conv_forward_direct.wgsl", "_epilogue.wgsl"],
    defines: {
      TM: tm,
      TN: tn,
      LANES: lanes,
      ...(input ? { SKIP: skip ? 1 : 0 } : { ROWS: rows, POOLED: rows - 1 }),
    },
    repeats: {
      i: tm,
      q: tn,
      x: g.ks,
      j: tn + g.ks - 1,
      v: tm / 4,
      ...(input ? {} : { h: rows, w: Math.max(1, Math.floor(tn / 2)), d: Math.min(2, tn) }),
      K: g.ks - 1,
    },
    windows: 1,
    dynamicWindow: true,
    bindings: input ? ["read", "read", "rw", "read"] : ["read", "rw", "rw", "rw", "rw"],
    constants: {
      CI: g.ci,
      H: g.h,
      W: g.w,
      CO: g.co,
      KS: g.ks,
      ...(input ? {} : { TWIN: tWin, CLIP: clip }),
    },
  });
  return {
    program,
    tm,
    tn,
    lanes,
    rows,
    block: directBlock((input ? g.co : g.ci) * taps, tm),
    blocks: Math.ceil((input ? g.ci : g.co) / tm),
    skip,
  };
}

/**
 * Builds the direct forward and (when the layer has one) input-gradient
 * programs of a layer (with `skip`, an input gradient that skips output
 * channels without events).
 */
export async function directConvPrograms(
  engine: Engine,
  g: GemmShape,
  tWin: number,
  clip: number,
  inputGradient: boolean,
  skip = false,
): Promise<{ forward: DirectConv; backwardInput: DirectConv | null }> {
  const [forward, backwardInput] = await Promise.all([
    directConvProgram(engine, g, false, tWin, clip),
    inputGradient
      ? directConvProgram(engine, g, true, tWin, clip, false, skip)
      : Promise.resolve(null),
  ]);
  return { forward, backwardInput };
}

/**
 * The dense weight gradient of a spiking KS x KS convolution as a direct
 * convolution on a CPU driver (`conv_backward_weight_direct.wgsl`): `tm`
 * output channels and one input channel per invocation, `lanes` per
 * workgroup.
 */
export interface DirectWeight {
  program: Program;
  tm: number;
  lanes: number;
}

/** Output channels per invocation of the direct weight gradient: 2 * tm * KS * KS accumulators, at most 128 (and 4 channels). */
export function directWeightRows(g: GemmShape): number {
  return Math.max(1, Math.min(4, Math.floor(128 / (2 * g.ks * g.ks)), g.co));
}

/** Builds (or fetches) the direct weight gradient of a layer (kernels of 2 and up). */
export async function directWeightProgram(engine: Engine, g: GemmShape): Promise<DirectWeight> {
  const tm = directWeightRows(g), lanes = 8;
  const program = await engine.program({
    files: ["conv_backward_weight_direct.wgsl"],
    defines: { TM: tm, LANES: lanes, BK: 16 },
    repeats: { i: tm, a: g.ks, c: g.ks, s: g.ks - 1, K: g.ks - 1 },
    bindings: ["read", "read", "rw"],
    constants: { CI: g.ci, H: g.h, W: g.w, CO: g.co, KS: g.ks },
  });
  return { program, tm, lanes };
}

/** Records the direct weight gradient: [ceil(ceil(CO / tm) * CI / lanes), 1, splits] workgroups. */
export function dispatchDirectWeight(
  pass: GPUComputePassEncoder,
  d: DirectWeight,
  g: GemmShape,
  splits: number,
): void {
  pass.setPipeline(d.program.pipeline);
  pass.dispatchWorkgroups(Math.ceil((Math.ceil(g.co / d.tm) * g.ci) / d.lanes), 1, splits);
}

/**
 * Records a direct convolution over `batch` images, one dispatch per block of
 * rows: group 2 (`window`, one uniform window over the transposed weights)
 * at block c's offset, `offset + c * block` floats, and
 * ceil(batch * H * ceil(W / tn) / lanes) workgroups.
 */
export function dispatchDirectConv(
  pass: GPUComputePassEncoder,
  d: DirectConv,
  g: GemmShape,
  batch: number,
  window: GPUBindGroup,
  offset: number,
): void {
  pass.setPipeline(d.program.pipeline);
  const rows = Math.floor(g.h / d.rows);
  const groups = Math.ceil((batch * rows * Math.ceil(g.w / d.tn)) / d.lanes);
  for (let c = 0; c < d.blocks; c++) {
    pass.setBindGroup(2, window, [(offset + c * d.block) * 4]);
    pass.dispatchWorkgroups(groups);
  }
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
