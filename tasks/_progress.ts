/**
 * What `deno task exp` says while a grid runs: where it is (`point 2 of 6`),
 * how long it has taken and an estimate of the rest, and with `--json` the
 * same as machine-readable events, one JSON object per line on stdout.
 *
 * @example
 * ```ts
 * import { formatDuration, gridLine } from "./_progress.ts";
 * if (formatDuration(125) !== "2 min 05 s") throw new Error(formatDuration(125));
 * // Two of five points so far (one skipped), 100 s: 50 s a point, three left.
 * const line = gridLine({ index: 2, total: 5, pointSeconds: 98, elapsedSeconds: 100 });
 * if (line !== "point 2 of 5 took 1 min 38 s; grid: 1 min 40 s elapsed, about 2 min 30 s left for 3 points") {
 *   throw new Error(line);
 * }
 * ```
 *
 * @module
 */

import type { Experiment } from "../src/experiment/config.ts";

/** `42.1 s`, `2 min 05 s`, `3 h 07 min`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, seconds);
  if (s < 60) return `${s.toFixed(1)} s`;
  const whole = Math.round(s);
  if (whole < 3600) {
    return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, "0")} s`;
  }
  const minutes = Math.round(s / 60);
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

/**
 * Seconds the rest of a grid should take: the mean of the points so far
 * (`elapsedSeconds` over `done` points; skipped points count, as about 0 s
 * each) times the points left.
 */
export function gridEstimate(elapsedSeconds: number, done: number, left: number): number {
  return done > 0 ? (elapsedSeconds / done) * left : 0;
}

/** The line printed after point `index` of `total` (1-based) finished or failed. */
export function gridLine(
  o: { index: number; total: number; pointSeconds: number; elapsedSeconds: number },
): string {
  const left = o.total - o.index;
  const head = `point ${o.index} of ${o.total} took ${formatDuration(o.pointSeconds)}; ` +
    `grid: ${formatDuration(o.elapsedSeconds)} elapsed`;
  if (left === 0) return `${head}, nothing left`;
  const rest = gridEstimate(o.elapsedSeconds, o.index, left);
  return `${head}, about ${formatDuration(rest)} left for ${left} point${left === 1 ? "" : "s"}`;
}

/** The settings a `point_started` event names: what most often tells points apart. */
export function settingsSummary(s: Experiment): Record<string, unknown> {
  return {
    dataset: s.dataset,
    arch: s.arch,
    batch_size: s.batch_size,
    epochs: s.epochs,
    optimizer: s.optimizer,
    lr: s.lr,
    seed: s.seed,
    train_subset: s.train_subset,
    test_subset: s.test_subset,
  };
}

/** Writes one event: `{"event": ..., "time": ISO 8601, ...fields}`. */
export type EventWriter = (event: string, fields?: Record<string, unknown>) => void;

/**
 * The `--json` event writer: one JSON object per line through `write`
 * (stdout by default), each with `event` and `time`; without `--json`, one
 * that writes nothing. Non-finite numbers become null.
 */
export function eventWriter(
  enabled: boolean,
  write: (line: string) => void = (line) => console.log(line),
): EventWriter {
  if (!enabled) return () => {};
  return (event, fields = {}) =>
    write(JSON.stringify({ event, time: new Date().toISOString(), ...fields }));
}
