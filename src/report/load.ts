/**
 * Reads an experiment's run folders (`runs/<experiment>/<run-id>/`): `run.yaml`
 * and `metrics.jsonl`, tolerating runs that are still being written.
 *
 * @module
 */

import { RUN_SECTIONS } from "../experiment/config.ts";
import { join } from "node:path";
import { parse as parseYaml } from "../deps/yaml.ts";
import { lockHeld } from "../run/run_lock.ts";
import { compareIds } from "./order.ts";

/** Per-layer statistics of one epoch. */
export interface LayerEpoch {
  index: number;
  token: string;
  /** Fraction of the layer's neurons that fired. */
  firing: number;
  mean_time: number | null;
  /** Counts of spike times in equal bins over `[0, t_win]`. */
  hist: number[];
}

/** One line of `metrics.jsonl`. Accuracies are fractions in [0, 1]. */
export interface EpochMetrics {
  epoch: number;
  lr?: number;
  train_loss?: number | null;
  train_acc?: number | null;
  val_loss?: number | null;
  val_acc: number | null;
  test_loss?: number | null;
  test_acc: number | null;
  seconds?: number | null;
  spikes_per_sample?: number | null;
  layers?: LayerEpoch[];
}

/** `results` of a finished run. */
export interface RunResults {
  epochs_run: number;
  best_epoch: number;
  best_val_acc: number | null;
  test_acc: number | null;
  spikes_per_sample: number | null;
  wall_seconds: number | null;
}

/**
 * State of a run folder: `done` and `failed` come from `run.yaml`; a run that
 * `run.yaml` calls `running` is `running` while a live runner holds its `lock`
 * and `stopped` when none does (killed, out of time, interrupted: it resumes
 * from its checkpoint when run again); `pruned` is a search's trial its
 * scheduler stopped at a rung (a promotion continues it); `pending` is a folder
 * without `run.yaml` yet (e.g. only a Slurm log); `invalid` is an unreadable
 * `run.yaml`.
 */
export type RunState =
  | "done"
  | "running"
  | "stopped"
  | "pruned"
  | "failed"
  | "pending"
  | "invalid";

/** Every state, in the order reports list them. */
export const RUN_STATES: readonly RunState[] = [
  "done",
  "running",
  "stopped",
  "pruned",
  "failed",
  "pending",
  "invalid",
];

/**
 * Reads a file's text, or null when it does not exist. The report reads with
 * Deno's own; the board passes one that refuses anything outside its runs folder.
 */
export type TextReader = (path: string) => Promise<string | null>;

/** One run folder as read. */
export interface RunRecord {
  /** The folder name. */
  id: string;
  dir: string;
  state: RunState;
  /** `status.error`, or why the folder could not be read. */
  error: string | null;
  /** Every top-level key of `run.yaml` except the sections (kind, status, grid_point, ...). */
  settings: Record<string, unknown>;
  gridPoint: Record<string, unknown>;
  results: RunResults | null;
  provenance: Record<string, unknown> | null;
  slurm: Record<string, unknown> | null;
  metrics: EpochMetrics[];
  /**
   * For a search's trial (`status.search`): the rung (1-based) it was pruned at, or
   * last trained to, of how many; null otherwise.
   */
  rung?: { rung: number; rungs: number } | null;
  /** Problems met while reading (bad metrics lines, ...). */
  warnings: string[];
}

/** Top-level keys of run.yaml that are not settings (the run file's sections and the runner's). */
const SECTION_KEYS = new Set<string>([
  "kind",
  "slurm",
  "description",
  "point",
  ...RUN_SECTIONS,
]);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Reads a file's text, or null when it does not exist. */
export async function readOptional(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

function numOrNull(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** Parses `metrics.jsonl` text; bad lines are skipped and reported in `warnings`. */
export function parseMetrics(
  text: string,
  where: string,
): { metrics: EpochMetrics[]; warnings: string[] } {
  const metrics: EpochMetrics[] = [];
  const warnings: string[] = [];
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      // The last line of a running job may be half-written.
      const last = lines.slice(i + 1).every((l) => l.trim() === "");
      warnings.push(
        `${where} line ${i + 1}: expected a JSON object, got ${
          JSON.stringify(line.length > 60 ? line.slice(0, 60) + "..." : line)
        }${last ? " (last line, maybe still being written)" : ""}`,
      );
      return;
    }
    if (!isObject(row) || typeof row.epoch !== "number") {
      warnings.push(`${where} line ${i + 1}: expected an object with a numeric 'epoch'`);
      return;
    }
    const layers = Array.isArray(row.layers)
      ? row.layers.filter(isObject).map((l, j): LayerEpoch => ({
        index: typeof l.index === "number" ? l.index : j,
        token: typeof l.token === "string" ? l.token : String(l.token ?? `layer ${j}`),
        firing: numOrNull(l.firing) ?? NaN,
        mean_time: numOrNull(l.mean_time),
        hist: Array.isArray(l.hist) ? l.hist.map((h) => numOrNull(h) ?? 0) : [],
      }))
      : undefined;
    metrics.push({
      ...(row as Record<string, unknown>),
      epoch: row.epoch,
      val_acc: numOrNull(row.val_acc),
      test_acc: numOrNull(row.test_acc),
      seconds: numOrNull(row.seconds),
      spikes_per_sample: numOrNull(row.spikes_per_sample),
      layers,
    } as EpochMetrics);
  });
  return { metrics, warnings };
}

function parseResults(v: unknown): RunResults | null {
  if (!isObject(v)) return null;
  return {
    epochs_run: numOrNull(v.epochs_run) ?? 0,
    best_epoch: numOrNull(v.best_epoch) ?? -1,
    best_val_acc: numOrNull(v.best_val_acc),
    test_acc: numOrNull(v.test_acc),
    spikes_per_sample: numOrNull(v.spikes_per_sample),
    wall_seconds: numOrNull(v.wall_seconds),
  };
}

/**
 * Whether a runner holds a run folder's `lock` (see `lockHeld` in
 * `run/run_lock.ts`: the kernel's flock for this host's runners; another
 * host's lock is trusted). No lock: false. `_read` is kept for callers that
 * pass their cached reader; the lock is probed on disk.
 */
export async function lockIsLive(dir: string, _read: TextReader = readOptional): Promise<boolean> {
  try {
    return await lockHeld(dir);
  } catch {
    return true; // cannot look: someone may be at work
  }
}

/** Reads one run folder; `read` reads its files (default: {@link readOptional}). */
export async function readRun(
  dir: string,
  id: string,
  read: TextReader = readOptional,
): Promise<RunRecord> {
  const rec: RunRecord = {
    id,
    dir,
    state: "pending",
    error: null,
    settings: {},
    gridPoint: {},
    results: null,
    provenance: null,
    slurm: null,
    metrics: [],
    rung: null,
    warnings: [],
  };
  const metricsText = await read(join(dir, "metrics.jsonl"));
  if (metricsText !== null) {
    const m = parseMetrics(metricsText, `${id}/metrics.jsonl`);
    rec.metrics = m.metrics;
    rec.warnings.push(...m.warnings);
  }
  const yamlText = await read(join(dir, "run.yaml"));
  if (yamlText === null) {
    if (rec.metrics.length > 0) {
      rec.state = await lockIsLive(dir, read) ? "running" : "stopped";
      rec.warnings.push(`${id}: metrics.jsonl but no run.yaml; shown as ${rec.state}`);
    }
    return rec;
  }
  let doc: unknown;
  try {
    doc = parseYaml(yamlText);
  } catch (e) {
    rec.state = "invalid";
    rec.error = `Cannot read '${join(dir, "run.yaml")}': expected YAML, got a parse error: ${
      e instanceof Error ? e.message.split("\n")[0] : String(e)
    }`;
    return rec;
  }
  if (!isObject(doc) || doc.kind !== "run") {
    rec.state = "invalid";
    rec.error = `Cannot read '${join(dir, "run.yaml")}': expected a mapping with 'kind: run', got ${
      isObject(doc) ? `kind ${JSON.stringify(doc.kind ?? null)}` : JSON.stringify(doc)
    }`;
    return rec;
  }
  for (const [k, v] of Object.entries(doc)) {
    if (!SECTION_KEYS.has(k)) rec.settings[k] = v;
  }
  rec.gridPoint = isObject(doc.grid_point) ? doc.grid_point : isObject(doc.point) ? doc.point : {};
  rec.provenance = isObject(doc.provenance) ? doc.provenance : null;
  rec.results = parseResults(doc.results);
  const status = isObject(doc.status) ? doc.status : {};
  rec.slurm = isObject(status.slurm) ? status.slurm : null;
  const state = status.state;
  // A search's trial: the rung it was pruned at, or the one its last job trained to.
  const search = isObject(status.search) ? status.search : {};
  const rung = typeof status.rung === "number" ? status.rung : search.rung;
  const rungs = typeof status.rungs === "number" ? status.rungs : search.rungs;
  if (typeof rung === "number" && typeof rungs === "number") rec.rung = { rung, rungs };
  if (state === "done" || state === "failed" || state === "stopped") {
    rec.state = state;
  } else if (state === "pruned") {
    // Promoted: it trains again under a live lock before its run.yaml says so.
    rec.state = await lockIsLive(dir, read) ? "running" : "pruned";
  } else if (state === "running") {
    rec.state = await lockIsLive(dir, read) ? "running" : "stopped";
  } else {
    rec.state = "invalid";
    rec.error = `Cannot read '${join(dir, "run.yaml")}': status.state expected ` +
      `"running", "done", "stopped", "pruned" or "failed", got ${JSON.stringify(state ?? null)}`;
    return rec;
  }
  if (state === "failed") {
    rec.error = typeof status.error === "string" && status.error !== ""
      ? status.error
      : "(no error message recorded)";
  }
  if (state === "done" && rec.results === null) {
    rec.warnings.push(`${id}: status done but run.yaml has no results; taken from metrics.jsonl`);
  }
  return rec;
}

/**
 * The run folders of an experiment folder, sorted by id with {@link compareIds}
 * (`lr3e-4` before `lr1e-3`, `seed2` before `seed10`). Folders holding neither
 * `run.yaml`, `metrics.jsonl` nor a `slurm-*.log` are not runs and are left out
 * (e.g. `slurm/`, a report folder); so are symbolic links.
 */
export async function runFolders(expDir: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const entry of Deno.readDir(expDir)) {
    if (!entry.isDirectory) continue;
    try {
      for await (const f of Deno.readDir(join(expDir, entry.name))) {
        if (
          f.name === "run.yaml" || f.name === "metrics.jsonl" || /^slurm-.*\.log$/.test(f.name)
        ) {
          ids.push(entry.name);
          break;
        }
      }
    } catch (e) {
      // Removed or made unreadable while we looked: not a run now.
      if (!(e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied)) {
        throw e;
      }
    }
  }
  return ids.sort(compareIds);
}

/**
 * Reads every run folder of an experiment folder (see {@link runFolders}), sorted by
 * id; `read` reads their files (default: {@link readOptional}).
 */
export async function readRuns(
  expDir: string,
  read: TextReader = readOptional,
): Promise<RunRecord[]> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(expDir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(
        `Cannot read runs: expected an experiment folder like runs/<experiment>, got ` +
          `'${expDir}', which does not exist`,
      );
    }
    throw e;
  }
  if (!info.isDirectory) {
    throw new Error(`Cannot read runs: expected a folder, got the file '${expDir}'`);
  }
  const runs: RunRecord[] = [];
  for (const id of await runFolders(expDir)) runs.push(await readRun(join(expDir, id), id, read));
  return withGridKeys(runs);
}

/**
 * Gives every run each key any run's grid point has, from its own settings:
 * a run's id and grid point leave out a swept value equal to the file's
 * (`seed=0,1` runs `default` and `seed1`), but tables show it.
 *
 * @example
 * ```ts
 * import { withGridKeys } from "./load.ts";
 * const runs = withGridKeys([
 *   { gridPoint: {}, settings: { seed: 0 } },
 *   { gridPoint: { seed: 1 }, settings: { seed: 1 } },
 * ]);
 * if (runs[0].gridPoint.seed !== 0) throw new Error();
 * ```
 */
export function withGridKeys<
  R extends { gridPoint: Record<string, unknown>; settings: Record<string, unknown> },
>(runs: R[]): R[] {
  const keys: string[] = [];
  for (const r of runs) {
    for (const k of Object.keys(r.gridPoint)) if (!keys.includes(k)) keys.push(k);
  }
  for (const r of runs) {
    for (const k of keys) {
      if (!(k in r.gridPoint) && k in r.settings) {
        r.gridPoint = { ...r.gridPoint, [k]: r.settings[k] };
      }
    }
  }
  return runs;
}
