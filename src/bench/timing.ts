/**
 * How the benchmark times: whole steps encoded into one submission and one
 * wait per repetition (no host synchronisation inside the timed region),
 * enough steps per repetition that the wait's fixed cost (a read-back takes
 * about 11 ms on a CPU driver) does not count, variants interleaved
 * repetition by repetition so that a shared machine's load falls on all of
 * them alike, and medians (with minima) over repetitions.
 *
 * @module
 */

import type { Engine, StepParams } from "../engine/gpu.ts";

/** Timing summary of repetitions (ms per step or per batch). */
export interface Timing {
  median_ms: number;
  min_ms: number;
  /** Every repetition's elapsed / S. */
  reps_ms: number[];
  samples_per_s: number;
  /** FLOPs counted for the dense products (`flops.ts`) over the median time, in TFLOP/s. */
  tflops: number;
}

/**
 * Median of a non-empty list.
 *
 * @example
 * ```ts
 * import { median } from "./timing.ts";
 * if (median([3, 1, 2]) !== 2 || median([4, 1, 3, 2]) !== 2.5) throw new Error();
 * ```
 */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A {@link Timing} of repetitions for `batch` samples and `flops` per step. */
export function timing(repsMs: number[], batch: number, flops: number): Timing {
  const med = median(repsMs);
  return {
    median_ms: med,
    min_ms: Math.min(...repsMs),
    reps_ms: repsMs,
    samples_per_s: batch / (med / 1000),
    tflops: flops / (med / 1000) / 1e12,
  };
}

/** Something to time: step parameters and the dispatches of one step. */
export interface Timed {
  params: () => StepParams;
  encode: (pass: GPUComputePassEncoder, offset: number) => void;
}

/**
 * Runs `steps` steps of `t` in one submission and waits once; returns the
 * elapsed ms per step.
 */
export async function timeSteps(engine: Engine, t: Timed, steps: number): Promise<number> {
  const t0 = performance.now();
  const offsets = engine.steps(Array.from({ length: steps }, t.params));
  const enc = engine.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  for (const off of offsets) t.encode(pass, off);
  pass.end();
  engine.device.queue.submit([enc.finish()]);
  await engine.sync();
  return (performance.now() - t0) / steps;
}

/**
 * Steps per repetition so that one repetition lasts at least `seconds`, from
 * a step's time (`stepMs`, measured while warming up), between `min` and
 * `max`.
 *
 * @example
 * ```ts
 * import { stepsFor } from "./timing.ts";
 * if (stepsFor(10, 0.3, 3, 200) !== 30 || stepsFor(500, 0.3, 3, 200) !== 3) throw new Error();
 * ```
 */
export function stepsFor(stepMs: number, seconds: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, Math.ceil((seconds * 1000) / Math.max(stepMs, 1e-3))));
}

/**
 * Times `reps` repetitions of each variant, interleaved (A B C A B C ...);
 * `others` run after each round (e.g. a peer's sample). Returns each
 * variant's ms per step per repetition.
 */
export async function timeInterleaved(
  engine: Engine,
  variants: readonly Timed[],
  reps: number,
  steps: number,
  others?: () => Promise<void>,
): Promise<number[][]> {
  const out = variants.map(() => [] as number[]);
  for (let r = 0; r < reps; r++) {
    for (let v = 0; v < variants.length; v++) {
      out[v].push(await timeSteps(engine, variants[v], steps));
    }
    await others?.();
  }
  return out;
}
