/**
 * Where a step's time goes: the dispatches a step records, replayed in order
 * with each dispatch in its own compute pass between two GPU timestamps.
 *
 * {@link recordDispatches} runs an encoding function (a model's
 * `encodeTrainStep`, a data source's gather, ...) against a stand-in pass that
 * keeps every dispatch with the pipeline and bind groups set at that moment.
 * {@link profileDispatches} replays the whole list `reps` times on the device,
 * in the recorded order (so each kernel sees the data it would see in a real
 * step: the sparse products' work depends on it), and gives each dispatch's
 * median GPU time. Timestamps need the adapter's `timestamp-query` feature
 * (the {@link Engine} asks for it where offered: Vulkan drivers, Mesa's
 * llvmpipe); without it the result is null.
 *
 * Each dispatch in a pass of its own adds the pass's overhead (a few
 * microseconds on a GPU, less on a CPU driver) and stops a GPU from
 * overlapping neighbouring dispatches, so the sum is an upper bound of a step
 * recorded into one pass: read it as shares, and time whole steps apart.
 *
 * @module
 */

import type { Engine } from "../engine/gpu.ts";

/** One recorded dispatch: its pipeline, the bind groups set when it was recorded and its size. */
export interface RecordedDispatch {
  /** The pipeline's label (the program's cache key, or a kernel's name). */
  label: string;
  /** The pipeline. */
  pipeline: GPUComputePipeline;
  /** Bind group index -> the group and its dynamic offsets. */
  groups: Map<number, { group: GPUBindGroup; offsets: number[] }>;
  /** Workgroups, or the indirect buffer and offset. */
  size: [number, number, number] | { buffer: GPUBuffer; offset: number };
}

/**
 * The dispatches an encoding function records, in order, each with the
 * pipeline and bind groups set at that point.
 *
 * @example
 * ```ts
 * import { recordDispatches } from "./profile.ts";
 * const p = { label: "k" } as GPUComputePipeline;
 * const list = recordDispatches((pass) => {
 *   pass.setPipeline(p);
 *   pass.dispatchWorkgroups(4);
 *   pass.dispatchWorkgroups(2, 3);
 * });
 * if (list.length !== 2 || JSON.stringify(list[1].size) !== "[2,3,1]") throw new Error();
 * ```
 */
export function recordDispatches(
  encode: (pass: GPUComputePassEncoder) => void,
): RecordedDispatch[] {
  const out: RecordedDispatch[] = [];
  let pipeline: GPUComputePipeline | null = null;
  const groups = new Map<number, { group: GPUBindGroup; offsets: number[] }>();
  const take = (size: RecordedDispatch["size"]) => {
    if (!pipeline) throw new Error("recordDispatches: a dispatch before any setPipeline");
    out.push({ label: pipeline.label, pipeline, groups: new Map(groups), size });
  };
  const pass = {
    setPipeline(p: GPUComputePipeline) {
      pipeline = p;
    },
    setBindGroup(index: number, group: GPUBindGroup, offsets: number[] = []) {
      groups.set(index, { group, offsets: [...offsets] });
    },
    dispatchWorkgroups(x: number, y = 1, z = 1) {
      take([x, y, z]);
    },
    dispatchWorkgroupsIndirect(buffer: GPUBuffer, offset: number) {
      take({ buffer, offset });
    },
    end() {},
  };
  encode(pass as unknown as GPUComputePassEncoder);
  return out;
}

/** Replays recorded dispatches into a pass (the same calls, in order). */
export function replayDispatches(pass: GPUComputePassEncoder, list: readonly RecordedDispatch[]) {
  for (const d of list) replayOne(pass, d);
}

function replayOne(pass: GPUComputePassEncoder, d: RecordedDispatch): void {
  pass.setPipeline(d.pipeline);
  for (const [i, g] of d.groups) pass.setBindGroup(i, g.group, g.offsets);
  if (Array.isArray(d.size)) pass.dispatchWorkgroups(...d.size);
  else pass.dispatchWorkgroupsIndirect(d.size.buffer, d.size.offset);
}

/** Median of a non-empty list. */
function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Each dispatch's median GPU time in milliseconds over `reps` replays of the
 * whole list (each replay one submission, each dispatch its own timed pass),
 * or null when the engine has no timestamp queries. `before` runs before each
 * replay (e.g. writing the step parameters the list's offsets point at).
 */
export async function profileDispatches(
  engine: Engine,
  list: readonly RecordedDispatch[],
  reps: number,
  before?: () => void,
): Promise<number[] | null> {
  if (!engine.timestamps || list.length === 0) return null;
  const device = engine.device;
  const count = 2 * list.length;
  const querySet = device.createQuerySet({ type: "timestamp", count });
  const resolve = device.createBuffer({
    size: count * 8,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
  });
  const read = device.createBuffer({
    size: count * 8,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const samples: number[][] = list.map(() => []);
  try {
    for (let r = 0; r < reps; r++) {
      before?.();
      const enc = device.createCommandEncoder();
      list.forEach((d, i) => {
        const pass = enc.beginComputePass({
          timestampWrites: {
            querySet,
            beginningOfPassWriteIndex: 2 * i,
            endOfPassWriteIndex: 2 * i + 1,
          },
        });
        replayOne(pass, d);
        pass.end();
      });
      enc.resolveQuerySet(querySet, 0, count, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, read, 0, count * 8);
      device.queue.submit([enc.finish()]);
      await read.mapAsync(GPUMapMode.READ);
      const t = new BigUint64Array(read.getMappedRange().slice(0));
      read.unmap();
      engine.check();
      list.forEach((_, i) => samples[i].push(Number(t[2 * i + 1] - t[2 * i]) / 1e6));
    }
  } finally {
    querySet.destroy();
    resolve.destroy();
    read.destroy();
  }
  return samples.map(median);
}

/** A short name for a recorded dispatch: the first kernel file of its program's key, or its label. */
export function kernelName(label: string): string {
  try {
    const key = JSON.parse(label);
    if (Array.isArray(key) && Array.isArray(key[1]) && typeof key[1][0] === "string") {
      return key[1][0].replace(/\.wgsl$/, "") + (key[2] && key[2] !== "main" ? `:${key[2]}` : "");
    }
  } catch {
    // not a program key
  }
  return label || "(unlabelled)";
}
