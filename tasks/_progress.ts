/**
 * What `deno task exp` says while a grid runs: where it is (`point 2 of 6`),
 * how long it has taken and an estimate of the rest, and with `--json` the
 * same as machine-readable events, one JSON object per line on stdout.
 *
 * While a point trains ({@link ProgressDisplay}): on a terminal one line
 * rewritten in place after every chunk of steps, a bar of the epoch with
 * the running loss and accuracy, samples/s, the run's ETA and the grid's
 * position and ETA; into a pipe or a log (Slurm's), a plain line of the same
 * once 30 s have passed since the last line, so a log shows life without
 * filling up (short epochs print only their epoch lines;
 * `FIRSTSPIKE_PROGRESS_SECONDS` sets the interval, 0 for no such lines).
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

import { DEFAULTS, type Experiment, SETTING_KEYS } from "../src/experiment/config.ts";
import { numberText } from "../src/experiment/grid.ts";
import type { StepProgress } from "../src/run/train.ts";

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

/** Where the grid is while one of its points trains. */
export interface GridPosition {
  /** The point, 1-based, and the number of points. */
  index: number;
  total: number;
  /** Seconds of earlier points that trained (skipped and failed ones not included). */
  trainedSeconds: number[];
}

/**
 * Seconds until the grid ends: what is left of this point, then each later
 * point as long as the mean of the points trained so far with this one's
 * projected length (its time so far plus what is left).
 *
 * @example
 * ```ts
 * import { gridSecondsLeft } from "./_progress.ts";
 * // Point 2 of 4 has run 30 s with 70 s left; point 1 took 140 s: (140 + 100) / 2 each after.
 * if (gridSecondsLeft({ index: 2, total: 4, trainedSeconds: [140] }, 30, 70) !== 70 + 2 * 120) {
 *   throw new Error();
 * }
 * ```
 */
export function gridSecondsLeft(g: GridPosition, pointSeconds: number, pointLeft: number): number {
  const lengths = [...g.trainedSeconds, pointSeconds + pointLeft];
  const mean = lengths.reduce((a, b) => a + b, 0) / lengths.length;
  return pointLeft + (g.total - g.index) * mean;
}

/** `1:05`, `12:40`, `3:07:12`: a duration the width of a clock, for the bar. */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const two = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(sec)}` : `${m}:${two(sec)}`;
}

/**
 * The terminal line of a training point, fitted to `columns`: the epoch and
 * a bar of its steps with the percentage, then (as room allows, in this
 * order of importance) the run's ETA, the running loss and accuracy, the
 * grid's position and ETA, and samples/s.
 *
 * @example
 * ```ts
 * import { barLine } from "./_progress.ts";
 * const p = {
 *   epoch: 2, epochs: 4, step: 50, steps: 100, samplesPerSecond: 3777.4, epochSecondsLeft: 12,
 *   runSecondsLeft: 100, elapsedSeconds: 60, loss: 0.51234, accuracy: 0.8123, lr: 1e-3,
 * };
 * const line = barLine(p, { index: 1, total: 3, trainedSeconds: [] }, 60, 120);
 * // Point 1 of 3: 60 s so far and 100 s left, so 160 s for each of the two after it.
 * if (line !== "epoch 2/4 [==========>         ]  50% 50/100 loss 0.5123 acc 81.2% " +
 *   "3777 samples/s ETA 1:40 | point 1/3, grid ETA 7:00") throw new Error(line);
 * ```
 */
export function barLine(
  p: StepProgress,
  grid: GridPosition | null,
  pointSeconds: number,
  columns: number,
): string {
  const width = 20;
  const done = p.steps > 0 ? p.step / p.steps : 1;
  const filled = Math.min(width, Math.floor(done * width));
  const bar = "[" + "=".repeat(filled) + (filled < width ? ">" : "") +
    " ".repeat(Math.max(0, width - filled - 1)) + "]";
  const head = `epoch ${p.epoch}/${p.epochs} ${bar} ${
    String(Math.floor(done * 100)).padStart(3)
  }% ${p.step}/${p.steps}`;
  const parts: { text: string; rank: number }[] = [];
  if (p.loss !== null) {
    parts.push({
      text: `loss ${p.loss.toFixed(4)} acc ${(p.accuracy! * 100).toFixed(1)}%`,
      rank: 2,
    });
  }
  parts.push({ text: `${Math.round(p.samplesPerSecond)} samples/s`, rank: 4 });
  parts.push({ text: `ETA ${clock(p.runSecondsLeft)}`, rank: 1 });
  if (grid && grid.total > 1) {
    const left = gridSecondsLeft(grid, pointSeconds, p.runSecondsLeft);
    parts.push({ text: `| point ${grid.index}/${grid.total}, grid ETA ${clock(left)}`, rank: 3 });
  }
  // Drop the least important parts until the line fits.
  let kept = parts;
  const line = () => [head, ...kept.map((x) => x.text)].join(" ");
  while (line().length > columns && kept.length > 0) {
    const worst = Math.max(...kept.map((x) => x.rank));
    kept = kept.filter((x) => x.rank !== worst);
  }
  return line().slice(0, Math.max(columns, 1));
}

/**
 * The plain progress line for a pipe or a log.
 *
 * @example
 * ```ts
 * import { plainLine } from "./_progress.ts";
 * const p = {
 *   epoch: 2, epochs: 4, step: 50, steps: 100, samplesPerSecond: 3777.4, epochSecondsLeft: 12,
 *   runSecondsLeft: 100, elapsedSeconds: 60, loss: 0.51234, accuracy: 0.8123, lr: 1e-3,
 * };
 * const line = plainLine(p, { index: 1, total: 3, trainedSeconds: [] }, 60);
 * if (line !== "epoch 2/4 step 50/100 (50%) loss 0.5123 acc 81.2% 3777 samples/s; run: " +
 *   "1 min 40 s left; grid: point 1 of 3, 7 min 00 s left") throw new Error(line);
 * ```
 */
export function plainLine(
  p: StepProgress,
  grid: GridPosition | null,
  pointSeconds: number,
): string {
  const metrics = p.loss === null
    ? ""
    : ` loss ${p.loss.toFixed(4)} acc ${(p.accuracy! * 100).toFixed(1)}%`;
  const where = grid && grid.total > 1
    ? `; grid: point ${grid.index} of ${grid.total}, ${
      formatDuration(gridSecondsLeft(grid, pointSeconds, p.runSecondsLeft))
    } left`
    : "";
  return `epoch ${p.epoch}/${p.epochs} step ${p.step}/${p.steps} (${
    Math.floor(p.steps ? (100 * p.step) / p.steps : 100)
  }%)${metrics} ${Math.round(p.samplesPerSecond)} samples/s; run: ${
    formatDuration(p.runSecondsLeft)
  } left${where}`;
}

/** Seconds between two plain progress lines into a pipe or a log (by default). */
export const PLAIN_INTERVAL_SECONDS = 30;

/**
 * The interval of plain progress lines from `FIRSTSPIKE_PROGRESS_SECONDS`
 * (unset: {@link PLAIN_INTERVAL_SECONDS}; 0: none); a value that is not a
 * number of seconds >= 0 is an error naming it.
 *
 * @example
 * ```ts
 * import { plainInterval } from "./_progress.ts";
 * if (plainInterval(undefined) !== 30 || plainInterval("2.5") !== 2.5) throw new Error();
 * ```
 */
export function plainInterval(value: string | undefined): number {
  if (value === undefined || value.trim() === "") return PLAIN_INTERVAL_SECONDS;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) {
    throw new Error(
      `FIRSTSPIKE_PROGRESS_SECONDS: expected a number of seconds >= 0, got '${value}'`,
    );
  }
  return n;
}

/**
 * Shows a point's training progress: on a terminal a bar rewritten in place
 * (see {@link barLine}); into a pipe or a log a plain line
 * ({@link plainLine}) once `interval` seconds
 * (default {@link PLAIN_INTERVAL_SECONDS}; 0 for none) have passed since the
 * last line of this point (progress or epoch).
 */
export class ProgressDisplay {
  readonly #tty: boolean;
  readonly #write: (text: string) => void;
  readonly #columns: () => number;
  readonly #now: () => number;
  readonly #interval: number;
  #grid: GridPosition | null = null;
  #pointStart = 0;
  #lastLine = 0;
  #shown = false;

  constructor(o: {
    tty: boolean;
    write: (text: string) => void;
    columns?: () => number;
    now?: () => number;
    interval?: number;
  }) {
    this.#interval = o.interval ?? PLAIN_INTERVAL_SECONDS;
    this.#tty = o.tty;
    this.#write = o.write;
    this.#columns = o.columns ?? (() => 100);
    this.#now = o.now ?? (() => performance.now() / 1000);
  }

  /** A point starts (its position in the grid; null outside a grid, e.g. a search's trial). */
  startPoint(grid: GridPosition | null): void {
    this.#grid = grid;
    this.#pointStart = this.#lastLine = this.#now();
  }

  /** For `runPoint`'s `progress`: a chunk's progress, or (final) the end of an epoch. */
  update(info: StepProgress | null, final: boolean): void {
    const now = this.#now();
    if (final || info === null) {
      this.clear();
      this.#lastLine = now; // the epoch's line follows
      return;
    }
    const pointSeconds = now - this.#pointStart;
    if (this.#tty) {
      this.#write(`\r\x1b[K${barLine(info, this.#grid, pointSeconds, this.#columns() - 1)}`);
      this.#shown = true;
    } else if (this.#interval > 0 && now - this.#lastLine >= this.#interval) {
      this.#lastLine = now;
      this.#write(plainLine(info, this.#grid, pointSeconds) + "\n");
    }
  }

  /** Clears the bar (before another line is printed). */
  clear(): void {
    if (this.#shown) this.#write("\r\x1b[K");
    this.#shown = false;
  }
}

/** A setting's value as the settings line writes it: `1e-4`, `[crop,flip]`, `null`. */
function settingText(v: unknown): string {
  if (typeof v === "number") return numberText(v);
  if (Array.isArray(v)) return `[${v.map(settingText).join(",")}]`;
  if (v === null) return "null";
  return String(v);
}

/**
 * The resolved settings that differ from {@link DEFAULTS} (with `dataset`
 * and `arch`, which have none), in settings order; `name`, `description`
 * and `output` place the run and are left out.
 *
 * @example
 * ```ts
 * import { nonDefaultSettings } from "./_progress.ts";
 * import { parseExperiment } from "../src/experiment/config.ts";
 * const { base } = parseExperiment("dataset: fmnist\narch: 8F\nlr: 1.0e-4\nseed: 3\n", "x.yaml");
 * const s = nonDefaultSettings(base);
 * if (JSON.stringify(s) !== '{"dataset":"fmnist","arch":"8F","seed":3}') throw new Error();
 * ```
 */
export function nonDefaultSettings(s: Experiment): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of SETTING_KEYS) {
    if (k === "name" || k === "description" || k === "output") continue;
    const d = (DEFAULTS as Record<string, unknown>)[k];
    if (k in DEFAULTS && JSON.stringify(s[k]) === JSON.stringify(d)) continue;
    out[k] = s[k];
  }
  return out;
}

/**
 * The settings line printed before a point runs: its settings that differ
 * from the defaults as `key=value`, wrapped after `columns` into at most two
 * lines (what does not fit is counted: the point's run.yaml has them all).
 *
 * @example
 * ```ts
 * import { settingsLines } from "./_progress.ts";
 * const lines = settingsLines({ dataset: "fmnist", arch: "8F", lr: 3e-4, augment: ["crop", "flip"] });
 * if (lines.join("|") !== "settings: dataset=fmnist arch=8F lr=3e-4 augment=[crop,flip]") {
 *   throw new Error(lines.join("|"));
 * }
 * ```
 */
export function settingsLines(settings: Record<string, unknown>, columns = 100): string[] {
  const words = Object.entries(settings).map(([k, v]) => `${k}=${settingText(v)}`);
  const lines: string[] = [];
  let line = "settings:";
  let i = 0;
  for (; i < words.length; i++) {
    if (line.length + 1 + words[i].length > columns) {
      if (lines.length === 1) break;
      lines.push(line);
      line = "         ";
    }
    line += " " + words[i];
  }
  if (i < words.length) {
    const more = ` (${words.length - i} more in run.yaml)`;
    while (line.length + more.length > columns && line.includes(" ", 10)) {
      line = line.slice(0, line.lastIndexOf(" "));
      i--;
    }
    line += ` (${words.length - i} more in run.yaml)`;
  }
  lines.push(line);
  return lines;
}
