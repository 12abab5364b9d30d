/**
 * The metric accumulators' layout on the GPU and their decoding: per slot
 * (training, validation, test, free) the loss sum, correct count and sample
 * count, then per slot and layer the spike count, spike-time sum and a 16-bin
 * histogram of spike times. The kernels (`loss.wgsl`, `stats.wgsl`) add into
 * this buffer; the host reads it only when asked.
 *
 * @module
 */

import { type LayerPlan, sizeOf } from "./spec.ts";

/** Accumulator slots: training, validation, test, and a free one. */
export const SLOTS = 4;
/** Floats per slot and layer: spike count, spike-time sum, then the histogram. */
export const STATS_FLOATS = 18;
/** Bins of the spike-time histogram over [0, T]. */
export const HIST_BINS = 16;
/** Offset (floats) of the per-layer statistics; the loss metrics take `SLOTS * 4 <= 64`. */
export const STATS_BASE = 64;

/** Floats of the whole accumulator buffer for a network of `layers` layers. */
export function accumFloats(layers: number): number {
  return STATS_BASE + SLOTS * layers * STATS_FLOATS;
}

/** Metrics read back from the GPU for one slot. */
export interface Metrics {
  /** Samples accumulated in this slot since the last reset. */
  samples: number;
  /** Mean softmax cross-entropy loss per sample (NaN when no samples). */
  loss: number;
  /** Fraction of samples predicted correctly, in [0, 1] (NaN when no samples). */
  accuracy: number;
  /** Per spiking layer (conv and linear, in order). */
  layers: {
    /** Index of the layer in the model's plan. */
    index: number;
    /** The layer's spec token, e.g. "16C3". */
    token: string;
    /** Fraction of the layer's neurons that fired, per sample, in [0, 1]. */
    firing: number;
    /** Mean spike time of the neurons that fired (NaN when none fired). */
    meanTime: number;
    /** Spikes of this layer per sample. */
    spikesPerSample: number;
    /** Counts of spike times in 16 equal bins over [0, T]. */
    hist: number[];
    /**
     * Training slot only: the fraction of the layer's neurons that passed a
     * gradient (their G = dL/dtau * (g_I, g_S) is not zero: the events of the
     * event-driven backward), per training sample. NaN where not counted:
     * other slots, or a model without event-driven products.
     */
    gradientShare: number;
  }[];
  /** Spikes per sample summed over all spiking layers. */
  spikesPerSample: number;
}

/**
 * Decodes one slot of the accumulators `all` (as read back) for the network
 * `plan`, whose spiking layers are `spiking` (indices into `plan`); `events`
 * are the event builders' counters per layer of the plan (training), or null.
 */
export function metricsOf(
  all: Float32Array,
  plan: readonly LayerPlan[],
  spiking: readonly number[],
  slot: number,
  events: Uint32Array | null = null,
): Metrics {
  const samples = all[slot * 4 + 2];
  const layers = spiking.map((i) => {
    const o = STATS_BASE + (slot * plan.length + i) * STATS_FLOATS;
    const neurons = sizeOf(plan[i].outShape);
    const count = all[o];
    return {
      index: i,
      token: plan[i].spec.token,
      firing: samples ? count / (samples * neurons) : 0,
      meanTime: count ? all[o + 1] / count : NaN,
      spikesPerSample: samples ? count / samples : 0,
      hist: Array.from(all.subarray(o + 2, o + 2 + HIST_BINS)),
      gradientShare: slot === 0 && events && samples ? events[i] / (samples * neurons) : NaN,
    };
  });
  return {
    samples,
    loss: samples ? all[slot * 4] / samples : NaN,
    accuracy: samples ? all[slot * 4 + 1] / samples : NaN,
    layers,
    spikesPerSample: layers.reduce((a, l) => a + l.spikesPerSample, 0),
  };
}
