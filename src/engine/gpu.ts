/**
 * The WebGPU engine: adapter and device, GPU errors as exceptions, buffers,
 * WGSL programs with a pipeline cache, and the ring of per-step parameters.
 *
 * @module
 */

import { expandRepeats, kernelSource } from "./kernels.ts";
import { envAllowed } from "../util/env.ts";
import {
  applyGpuSelection,
  checkSelectedAdapter,
  type GpuEnvironment,
  type GpuSelection,
} from "./gpu_select.ts";

/** Values that change from one step to the next (`Step` in `_common.wgsl`). */
export interface StepParams {
  /** Samples in this step. */
  batch: number;
  /** First position of this step in the epoch's sample index list (default 0). */
  sampleOffset?: number;
  /** 1-based optimiser (Adam) step (default 1). */
  adamStep?: number;
  /** Augmentation seed (default 0). */
  seed?: number;
  /** Epoch number, selecting the augmentation random stream (default 0). */
  epoch?: number;
  /** Augmentation flag bits, see `AUGMENT_FLAGS` (default 0). */
  flags?: number;
  /** Which metric accumulator to add to (train, validation, test, ...; default 0). */
  metricSlot?: number;
  /** Learning rate of this step (default 0). */
  lr?: number;
  /** Adam bias correction `1 - beta1^step`, computed in float64 (default 1). */
  bc1?: number;
  /** Adam bias correction `1 - beta2^step`, computed in float64 (default 1). */
  bc2?: number;
}

/** Bytes between two entries of the step ring (the largest dynamic-offset alignment). */
export const STEP_STRIDE = 256;
/** Entries in the step ring: steps that one submission can hold. */
export const STEP_RING = 1024;
/** How buffers bind in a program: read-only storage or read-write storage. */
export type BindingKind = "read" | "rw";

/** A compute program: WGSL files, entry point, bindings and override constants. */
export interface ProgramSpec {
  /** Kernel files under `kernels/`, concatenated after `_common.wgsl`. */
  files: string[];
  /** Entry point function name (default "main"). */
  entry?: string;
  /** Kind of each storage binding of group 1, in binding order. */
  bindings: BindingKind[];
  /** Pipeline-overridable constants (`override` in WGSL); booleans are passed as 0/1. */
  constants?: Record<string, number | boolean>;
  /** WGSL `const` declarations (u32) placed before the files: for what changes the code's structure. */
  defines?: Record<string, number>;
  /** Source placed first (directives such as `enable f16;` and type aliases). */
  prelude?: string;
  /** Counts of the repeated lines (`$i`, `$q`, ...; see `expandRepeats`): for what changes the code's structure. */
  repeats?: Record<string, number>;
  /**
   * Uniform windows of {@link UNIFORM_WINDOW_BYTES} each in group 2 (bindings
   * 0 .. n-1; `_weights_uniform.wgsl`); 0 or absent for none.
   */
  windows?: number;
}

/** Bytes of one uniform window (WebGPU's default `maxUniformBufferBindingSize`). */
export const UNIFORM_WINDOW_BYTES = 65536;

/** A built pipeline with the layout of its buffer group (group 1). */
export interface Program {
  /** Cache key: JSON of prelude, files, entry, bindings, constants, defines and repeats. */
  key: string;
  /** The compute pipeline (group 0: step parameters, group 1: buffers). */
  pipeline: GPUComputePipeline;
  /** Bind group layout of the program's buffers (group 1). */
  layout: GPUBindGroupLayout;
  /** Number of storage bindings in group 1. */
  bindings: number;
  /** Number of uniform windows in group 2 (0: the program has no group 2). */
  windows: number;
}

/**
 * A pipeline made outside the engine's programs (e.g. the augmentation
 * kernel) for {@link Engine.warmUp}, with a dispatch of it that changes
 * nothing that matters.
 */
export interface WarmUpDispatch {
  /** The pipeline; warmed once per engine. */
  pipeline: GPUComputePipeline;
  /** Records one harmless dispatch of the pipeline (sets the pipeline and its bind groups). */
  encode(pass: GPUComputePassEncoder): void;
}

/** What {@link Engine.warmUp} did. */
export interface WarmUpResult {
  /** Pipelines run for the first time. */
  count: number;
  /** Seconds it took (compilation on drivers that compile at first use). */
  seconds: number;
}

/** Options of {@link Engine.create}. */
export interface EngineOptions {
  /** Adapter power preference (default "high-performance"). */
  powerPreference?: GPUPowerPreference;
  /**
   * Which GPU: an index (PCI order, as `nvidia-smi` counts), a PCI address
   * (`0000:41:00.0`) or a `vendor:device` id (`10de:2335`); null or absent for
   * the default adapter. The first adapter request of a process fixes its GPU
   * (see `gpu_select.ts` for how and what it needs).
   */
  gpu?: GpuSelection | null;
}

/** Adapter description, or vendor/architecture/device, or "unknown adapter". */
function adapterNameOf(info: GPUAdapterInfo): string {
  return info.description || [info.vendor, info.architecture, info.device]
    .filter((s) => s && s !== "0").join(" ") ||
    "unknown adapter";
}

/** Applies the GPU selection, requests the adapter and checks it against the selection. */
async function requestAdapter(
  options: EngineOptions,
): Promise<{ adapter: GPUAdapter; selection: GpuEnvironment | null }> {
  // Mesa's drivers warn without it; set it where this process may.
  if (envAllowed("XDG_RUNTIME_DIR") && !Deno.env.get("XDG_RUNTIME_DIR")) {
    Deno.env.set("XDG_RUNTIME_DIR", "/tmp");
  }
  const selection = await applyGpuSelection(options.gpu);
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  const adapter = await gpu?.requestAdapter({
    powerPreference: options.powerPreference ?? "high-performance",
  });
  if (!adapter) {
    throw new Error(
      (selection
        ? `No WebGPU adapter for ${selection.description}: `
        : "No WebGPU adapter found: ") +
        "expected a GPU with a Vulkan, Metal or D3D12 driver, got none. " +
        "On Debian without a GPU install Mesa's software Vulkan driver " +
        "(`apt-get install -y mesa-vulkan-drivers`) and set XDG_RUNTIME_DIR.",
    );
  }
  if (selection) checkSelectedAdapter(selection, adapter.info);
  return { adapter, selection };
}

/**
 * The adapter an {@link Engine} made with these options gets, as a line for
 * logs (`NVIDIA H200 (gpu 1 (PCI 0000:41:00.0, 10de:2335))`), without making
 * a device. It applies the GPU selection, so call it first to fix and show
 * the GPU of a process.
 */
export async function describeAdapter(options: EngineOptions = {}): Promise<string> {
  const { adapter, selection } = await requestAdapter(options);
  return adapterNameOf(adapter.info) + (selection ? ` (${selection.description})` : "");
}

/** Splits `n` workgroups into a 2D dispatch within the per-dimension limit. */
export function grid1d(n: number, max = 65535): [number, number] {
  if (n <= max) return [Math.max(n, 1), 1];
  const y = Math.ceil(n / max);
  return [Math.ceil(n / y), y];
}

/**
 * Owns the GPU device. GPU validation errors, out-of-memory and device loss
 * are recorded as they happen and thrown by {@link Engine.check}, which every
 * read-back calls, so wrong numbers are never returned silently.
 *
 * @example
 * ```ts
 * import { Engine } from "./gpu.ts";
 * const engine = await Engine.create();
 * const buffer = engine.buffer(16, "example");
 * engine.write(buffer, new Float32Array([1, 2, 3, 4]));
 * const back = await engine.readF32(buffer, 4); // one read-back
 * if (back[3] !== 4 || !engine.adapterName) throw new Error();
 * engine.destroy();
 * ```
 */
export class Engine {
  /** The WebGPU device. */
  readonly device: GPUDevice;
  /** Adapter description, or vendor/architecture/device, or "unknown adapter". */
  readonly adapterName: string;
  /** Features the adapter offers (e.g. "shader-f16"). */
  readonly features: string[];
  /** A software (CPU) driver such as lavapipe: kernels pick CPU-friendly tiles. */
  readonly cpu: boolean;
  /** The GPU selection this engine was made with (e.g. `gpu 1 (PCI 0000:41:00.0, 10de:2335)`), or null. */
  readonly selection: string | null;
  /** Layout of group 0: the step parameters as a uniform with a dynamic offset. */
  readonly stepLayout: GPUBindGroupLayout;
  /** Uniform ring of step parameters, {@link STEP_RING} entries {@link STEP_STRIDE} bytes apart. */
  readonly stepBuffer: GPUBuffer;
  /** Bind group 0 over {@link Engine.stepBuffer} (48 bytes per entry, bound at a dynamic offset). */
  readonly stepGroup: GPUBindGroup;
  #errors: string[] = [];
  #lost: string | null = null;
  #programs = new Map<string, Promise<Program>>();
  #warmed = new WeakSet<GPUComputePipeline>();
  #layouts = new Map<string, GPUBindGroupLayout>();
  #stepCursor = 0;
  static #devices = 0;

  private constructor(
    device: GPUDevice,
    adapterName: string,
    features: string[],
    cpu: boolean,
    selection: string | null,
  ) {
    this.device = device;
    this.selection = selection;
    this.adapterName = adapterName;
    this.features = features;
    this.cpu = cpu;
    Engine.#devices++;
    device.addEventListener("uncapturederror", (e) => {
      this.#errors.push((e as GPUUncapturedErrorEvent).error.message);
    });
    device.lost.then((info) => {
      this.#lost = `GPU device lost (${info.reason}): ${info.message}`;
    });
    this.stepLayout = device.createBindGroupLayout({
      entries: [{
        binding: 0,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: "uniform", hasDynamicOffset: true, minBindingSize: 48 },
      }],
    });
    this.stepBuffer = device.createBuffer({
      size: STEP_STRIDE * STEP_RING,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.stepGroup = device.createBindGroup({
      layout: this.stepLayout,
      entries: [{ binding: 0, resource: { buffer: this.stepBuffer, size: 48 } }],
    });
  }

  /**
   * Acquires an adapter (high performance preferred, or the selected
   * {@link EngineOptions.gpu}) and a device with its larger limits.
   */
  static async create(options: EngineOptions = {}): Promise<Engine> {
    const { adapter, selection } = await requestAdapter(options);
    const l = adapter.limits;
    const requiredLimits: Record<string, number> = {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxStorageBuffersPerShaderStage: Math.min(l.maxStorageBuffersPerShaderStage, 10),
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    };
    const requiredFeatures: GPUFeatureName[] = adapter.features.has("shader-f16")
      ? ["shader-f16"]
      : [];
    const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
    const name = adapterNameOf(adapter.info);
    const cpu = /llvmpipe|lavapipe|swiftshader|software|warp/i.test(name);
    return new Engine(device, name, [...adapter.features], cpu, selection?.description ?? null);
  }

  /** GPU devices (engines) this process has created so far. */
  static get devicesCreated(): number {
    return Engine.#devices;
  }

  /** Throws the first GPU error or device loss seen since the last check. */
  check(): void {
    if (this.#lost) throw new Error(this.#lost);
    if (this.#errors.length) {
      const all = this.#errors.splice(0);
      throw new Error(
        `GPU error: ${all[0]}${all.length > 1 ? ` (and ${all.length - 1} more)` : ""}`,
      );
    }
  }

  /**
   * A storage buffer of `bytes` (rounded up to 4; at least 16); `hint` says
   * what to do if it is too large; `uniform` also lets it be bound as uniform
   * windows ({@link bindWindows}).
   */
  buffer(bytes: number, label?: string, hint = "use a smaller batch", uniform = false): GPUBuffer {
    const size = Math.max(16, Math.ceil(bytes / 4) * 4);
    const limit = this.device.limits.maxStorageBufferBindingSize;
    if (size > limit) {
      throw new Error(
        `Cannot allocate ${
          label ?? "buffer"
        }: expected at most ${limit} bytes per buffer on this ` +
          `adapter, got ${size}; ${hint}`,
      );
    }
    return this.device.createBuffer({
      size,
      label,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST |
        (uniform ? GPUBufferUsage.UNIFORM : 0),
    });
  }

  /**
   * Writes typed data into a buffer at a byte offset (queued before the next
   * submit). Empty data writes nothing (Deno 2.9's `writeBuffer` panics on 0 bytes).
   */
  write(buffer: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    if (data.byteLength === 0) return;
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const padded = bytes.byteLength % 4 === 0 ? bytes : (() => {
      const p = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      p.set(bytes);
      return p;
    })();
    this.device.queue.writeBuffer(buffer, offset, padded as Uint8Array<ArrayBuffer>);
  }

  /** Reads `count` float32 values from `offset` (one host read-back, ~11 ms: never inside a step). */
  async readF32(buffer: GPUBuffer, count: number, offset = 0): Promise<Float32Array> {
    return (await this.readManyF32([{ buffer, count, offset }]))[0];
  }

  /** Reads float32 ranges of several buffers with one read-back (offsets and counts in values). */
  async readManyF32(
    parts: { buffer: GPUBuffer; count: number; offset?: number }[],
  ): Promise<Float32Array[]> {
    const total = parts.reduce((a, p) => a + p.count, 0);
    const staging = this.device.createBuffer({
      size: Math.max(total * 4, 4),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = this.device.createCommandEncoder();
    let at = 0;
    for (const p of parts) {
      if (p.count > 0) {
        enc.copyBufferToBuffer(p.buffer, (p.offset ?? 0) * 4, staging, at * 4, p.count * 4);
      }
      at += p.count;
    }
    this.device.queue.submit([enc.finish()]);
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      this.check();
      throw e;
    }
    const all = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    this.check();
    at = 0;
    return parts.map((p) => all.slice(at, at += p.count));
  }

  /** Builds (once) the pipeline of a program; cached by files, entry and constants. */
  program(spec: ProgramSpec): Promise<Program> {
    const constants = spec.constants ?? {};
    const key = JSON.stringify([
      spec.prelude ?? "",
      spec.files,
      spec.entry ?? "main",
      spec.bindings,
      constants,
      spec.defines ?? {},
      spec.repeats ?? {},
      spec.windows ?? 0,
    ]);
    let p = this.#programs.get(key);
    if (!p) {
      p = this.#build(key, spec, constants);
      this.#programs.set(key, p);
    }
    return p;
  }

  /** Programs built so far (distinct pipelines). */
  get programCount(): number {
    return this.#programs.size;
  }

  async #build(
    key: string,
    spec: ProgramSpec,
    constants: Record<string, number | boolean>,
  ): Promise<Program> {
    const sources = ["_common.wgsl", ...spec.files].map((f) =>
      spec.repeats ? expandRepeats(kernelSource(f), spec.repeats) : kernelSource(f)
    );
    const defines = Object.entries(spec.defines ?? {}).map(([k, v]) => `const ${k}: u32 = ${v}u;`);
    sources.splice(1, 0, defines.join("\n"));
    if (spec.prelude) sources.unshift(spec.prelude);
    const layoutKey = spec.bindings.join(",");
    let layout = this.#layouts.get(layoutKey);
    if (!layout) {
      layout = this.device.createBindGroupLayout({
        entries: spec.bindings.map((kind, binding) => ({
          binding,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: kind === "read" ? "read-only-storage" : "storage" },
        })),
      });
      this.#layouts.set(layoutKey, layout);
    }
    const windows = spec.windows ?? 0;
    const groups = windows > 0 ? [this.stepLayout, layout, this.windowLayout(windows)] : [
      this.stepLayout,
      layout,
    ];
    this.device.pushErrorScope("validation");
    const module = this.device.createShaderModule({ code: sources.join("\n"), label: key });
    const pipeline = this.device.createComputePipeline({
      label: key,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: groups }),
      compute: {
        module,
        entryPoint: spec.entry ?? "main",
        constants: Object.fromEntries(
          Object.entries(constants).map(([k, v]) => [k, typeof v === "boolean" ? Number(v) : v]),
        ),
      },
    });
    const err = await this.device.popErrorScope();
    if (err) {
      throw new Error(`Cannot build kernel ${spec.files.join("+")}: ${err.message}`);
    }
    return { key, pipeline, layout, bindings: spec.bindings.length, windows };
  }

  /** Layout of group 2 with `n` uniform windows (made once per count). */
  windowLayout(n: number): GPUBindGroupLayout {
    const key = `windows:${n}`;
    let layout = this.#layouts.get(key);
    if (!layout) {
      layout = this.device.createBindGroupLayout({
        entries: Array.from({ length: n }, (_, binding) => ({
          binding,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: "uniform" as const, minBindingSize: UNIFORM_WINDOW_BYTES },
        })),
      });
      this.#layouts.set(key, layout);
    }
    return layout;
  }

  /**
   * Bind group 2 of a program with uniform windows: window j covers
   * `buffer` from `offset + j * UNIFORM_WINDOW_BYTES` (`offset` 256-byte
   * aligned; the buffer must have UNIFORM usage and reach past the last window).
   */
  bindWindows(program: Program, buffer: GPUBuffer, offset: number): GPUBindGroup {
    return this.device.createBindGroup({
      layout: this.windowLayout(program.windows),
      entries: Array.from({ length: program.windows }, (_, binding) => ({
        binding,
        resource: {
          buffer,
          offset: offset + binding * UNIFORM_WINDOW_BYTES,
          size: UNIFORM_WINDOW_BYTES,
        },
      })),
    });
  }

  async #coldPrograms(): Promise<Program[]> {
    const built = await Promise.allSettled(this.#programs.values());
    return built.flatMap((b) =>
      b.status === "fulfilled" && !this.#warmed.has(b.value.pipeline) ? [b.value] : []
    );
  }

  /**
   * How many pipelines {@link warmUp} would run: the programs this engine
   * built that it has not warmed yet, and those of `extra` not warmed yet.
   */
  async coldCount(extra: WarmUpDispatch[] = []): Promise<number> {
    const cold = await this.#coldPrograms();
    return cold.length +
      new Set(extra.map((x) => x.pipeline).filter((p) => !this.#warmed.has(p))).size;
  }

  /**
   * Runs every pipeline that has not run yet once, so what a driver compiles
   * on first use is compiled now, not inside the first timed step. Mesa's
   * software driver (lavapipe) pays most of a kernel's compilation at its
   * first dispatch (seconds to minutes per kernel), not when the pipeline is
   * made. Each of the engine's programs is dispatched once (one workgroup,
   * batch 1) on scratch buffers, so no model's weights, gradients or metrics
   * change; `extra` pipelines dispatch as they say. Waits until the GPU is done.
   *
   * @example
   * ```ts
   * import { Engine } from "./gpu.ts";
   * import { Model } from "./model.ts";
   * const engine = await Engine.create();
   * const model = await Model.create(engine, { arch: "4F", inputShape: [3], classes: 2, maxBatch: 2 });
   * const cold = await engine.coldCount();
   * const { count } = await engine.warmUp(); // compiles now, not in the first step
   * if (count !== cold || count === 0 || (await engine.warmUp()).count !== 0) throw new Error();
   * engine.destroy();
   * ```
   */
  async warmUp(extra: WarmUpDispatch[] = []): Promise<WarmUpResult> {
    const start = performance.now();
    const programs = await this.#coldPrograms();
    const others = extra.filter((x, i) =>
      !this.#warmed.has(x.pipeline) && extra.findIndex((y) => y.pipeline === x.pipeline) === i
    );
    const count = programs.length + others.length;
    if (count === 0) return { count: 0, seconds: 0 };
    // One scratch buffer per binding: a buffer bound twice as writable storage is invalid.
    const scratch = Array.from(
      { length: Math.max(0, ...programs.map((p) => p.bindings)) },
      (_, i) => this.buffer(256, `warm-up scratch ${i}`),
    );
    const windowScratch = programs.some((p) => p.windows > 0)
      ? this.buffer(UNIFORM_WINDOW_BYTES * 8, "warm-up uniform windows", undefined, true)
      : null;
    if (windowScratch) scratch.push(windowScratch);
    try {
      const [offset] = this.steps([{ batch: 1 }]);
      const enc = this.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (const p of programs) {
        pass.setPipeline(p.pipeline);
        pass.setBindGroup(0, this.stepGroup, [offset]);
        pass.setBindGroup(1, this.bind(p, scratch.slice(0, p.bindings)));
        if (p.windows > 0) pass.setBindGroup(2, this.bindWindows(p, windowScratch!, 0));
        pass.dispatchWorkgroups(1);
      }
      for (const x of others) x.encode(pass);
      pass.end();
      this.device.queue.submit([enc.finish()]);
      await this.sync();
    } finally {
      for (const b of scratch) b.destroy();
    }
    for (const p of programs) this.#warmed.add(p.pipeline);
    for (const x of others) this.#warmed.add(x.pipeline);
    return { count, seconds: (performance.now() - start) / 1000 };
  }

  /** A bind group for a program's buffers (make once, reuse every step). */
  bind(
    program: Program,
    buffers: (GPUBuffer | { buffer: GPUBuffer; offset: number; size: number })[],
  ): GPUBindGroup {
    return this.device.createBindGroup({
      layout: program.layout,
      entries: buffers.map((b, binding) => ({
        binding,
        resource: b instanceof GPUBuffer ? { buffer: b } : b,
      })),
    });
  }

  /**
   * Writes step parameters into the ring and returns their dynamic offsets.
   * The ring wraps: one submission must hold at most {@link STEP_RING} steps.
   */
  steps(params: StepParams[]): number[] {
    if (params.length > STEP_RING) {
      throw new Error(
        `Cannot encode ${params.length} steps at once: expected at most ${STEP_RING}`,
      );
    }
    if (this.#stepCursor + params.length > STEP_RING) this.#stepCursor = 0;
    const data = new ArrayBuffer(params.length * STEP_STRIDE);
    const u = new Uint32Array(data);
    const f = new Float32Array(data);
    params.forEach((p, i) => {
      const o = (i * STEP_STRIDE) / 4;
      u[o] = p.batch;
      u[o + 1] = p.sampleOffset ?? 0;
      u[o + 2] = p.adamStep ?? 1;
      u[o + 3] = p.seed ?? 0;
      u[o + 4] = p.epoch ?? 0;
      u[o + 5] = p.flags ?? 0;
      u[o + 6] = p.metricSlot ?? 0;
      f[o + 8] = p.lr ?? 0;
      f[o + 9] = p.bc1 ?? 1;
      f[o + 10] = p.bc2 ?? 1;
    });
    const first = this.#stepCursor;
    this.device.queue.writeBuffer(this.stepBuffer, first * STEP_STRIDE, data);
    this.#stepCursor += params.length;
    return params.map((_, i) => (first + i) * STEP_STRIDE);
  }

  /** Waits until the GPU has finished all submitted work, then checks for errors. */
  async sync(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
    this.check();
  }

  /** Releases the device. */
  destroy(): void {
    this.device.destroy();
  }
}
