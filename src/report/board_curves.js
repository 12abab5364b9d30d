// The board's curves, as plain functions of a run's metrics.jsonl lines: what
// each panel draws, against epoch, optimiser step or training time, raw or
// smoothed. The page imports this file as a module (served at
// /board_curves.js) and so does the server (board.ts) and the tests, so the
// numbers the page draws are the numbers the tests check by hand.

/** The panels of the board's chart, in order. */
export const PANELS = ["accuracy (%)", "loss", "spikes per sample"];

/** The series of each panel, in the order the legend lists them. */
export const SERIES = ["validation", "test", "training", "per test sample"];

/** What the x axis can be: the epoch, the optimiser step, the training time. */
export const X_AXES = ["epoch", "step", "time"];

/** How a curve can be smoothed. */
export const SMOOTHERS = ["none", "ema", "mean"];

/**
 * Where each epoch ends on an x axis: its number; the optimiser steps taken by
 * its end (the `steps` of every epoch so far, summed); or the training seconds
 * by its end (the `seconds` so far, summed). null where a line lacks the
 * number (an older metrics.jsonl without `steps`), and for every later line.
 *
 * @param {{ epoch: number, steps?: number | null, seconds?: number | null }[]} metrics
 * @param {string} axis one of {@link X_AXES}
 * @returns {(number | null)[]}
 */
export function xValues(metrics, axis) {
  if (axis === "epoch") return metrics.map((m) => m.epoch);
  const field = axis === "step" ? "steps" : "seconds";
  let sum = 0;
  let known = true;
  return metrics.map((m) => {
    const v = m[field];
    if (!known || typeof v !== "number" || !Number.isFinite(v)) {
      known = false;
      return null;
    }
    sum += v;
    return sum;
  });
}

/**
 * An exponential moving average: `s[0] = x[0]`, then
 * `s[i] = weight * s[i - 1] + (1 - weight) * x[i]`. `weight` 0 leaves the
 * values as they are; nearer 1 smooths more.
 *
 * @param {number[]} values
 * @param {number} weight in [0, 1)
 * @returns {number[]}
 */
export function ema(values, weight) {
  const out = [];
  let s = 0;
  values.forEach((x, i) => {
    s = i === 0 ? x : weight * s + (1 - weight) * x;
    out.push(s);
  });
  return out;
}

/**
 * A trailing moving average over `window` values: the mean of `x[i - window + 1]`
 * to `x[i]` (fewer at the start).
 *
 * @param {number[]} values
 * @param {number} window a positive integer
 * @returns {number[]}
 */
export function movingAverage(values, window) {
  const w = Math.max(1, Math.floor(window));
  return values.map((_, i) => {
    const part = values.slice(Math.max(0, i - w + 1), i + 1);
    return part.reduce((a, b) => a + b, 0) / part.length;
  });
}

/**
 * Smooths values: `none`, `ema` (`amount` is the weight) or `mean` (`amount`
 * is the window).
 *
 * @param {number[]} values
 * @param {{ kind: string, amount: number }} smoothing
 * @returns {number[]}
 */
export function smooth(values, smoothing) {
  if (smoothing.kind === "ema") return ema(values, smoothing.amount);
  if (smoothing.kind === "mean") return movingAverage(values, smoothing.amount);
  return values.slice();
}

/**
 * The unit a time axis reads best in for its longest run: seconds up to two
 * minutes, minutes up to two hours, then hours.
 *
 * @param {number} maxSeconds
 * @returns {{ unit: string, seconds: number }}
 */
export function timeUnit(maxSeconds) {
  if (!(maxSeconds > 120)) return { unit: "s", seconds: 1 };
  if (maxSeconds <= 7200) return { unit: "min", seconds: 60 };
  return { unit: "h", seconds: 3600 };
}

/** The panel, series, value and scale of each number a line holds. */
const FIELDS = [
  ["accuracy (%)", "validation", "val_acc", 100],
  ["accuracy (%)", "test", "test_acc", 100],
  ["loss", "training", "train_loss", 1],
  ["loss", "validation", "val_loss", 1],
  ["spikes per sample", "per test sample", "spikes_per_sample", 1],
];

/**
 * The rows the chart draws for one point: per panel and series, one row per
 * epoch that has both the number and an x, with `x` on the chosen axis
 * (seconds divided by `unitSeconds` on the time axis), `raw` the number and
 * `value` the number smoothed along the series.
 *
 * @param {string} point the name the legend shows
 * @param {Record<string, unknown>[]} metrics metrics.jsonl lines, in order
 * @param {{ x?: string, smoothing?: { kind: string, amount: number }, unitSeconds?: number }} [opts]
 * @returns {{ point: string, panel: string, series: string, epoch: number, x: number, raw: number, value: number }[]}
 */
export function curveRows(point, metrics, opts = {}) {
  const axis = opts.x ?? "epoch";
  const smoothing = opts.smoothing ?? { kind: "none", amount: 0 };
  const unit = axis === "time" ? opts.unitSeconds ?? 1 : 1;
  const xs = xValues(/** @type {any} */ (metrics), axis);
  const rows = [];
  for (const [panel, series, field, scale] of FIELDS) {
    const kept = [];
    metrics.forEach((m, i) => {
      const v = m[field];
      if (typeof v === "number" && Number.isFinite(v) && xs[i] !== null) {
        kept.push({ epoch: m.epoch, x: xs[i] / unit, raw: v * scale });
      }
    });
    const smoothed = smooth(kept.map((k) => k.raw), smoothing);
    kept.forEach((k, i) => rows.push({ point, panel, series, ...k, value: smoothed[i] }));
  }
  return rows;
}
