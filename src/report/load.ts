/**
 * Reads an experiment's run folders (`runs/<experiment>/<run-id>/`): `run.yaml`
 * and `metrics.jsonl`, tolerating runs that are still being written.
 *
 * @module
 */

import { RUN_SECTIONS } from "../experiment/config.ts";
import { join } from "node:path";
import { parse as parseYaml } from "../deps/yaml.ts";
import { lockHeld, type LockOwner } from "../run/run_lock.ts";
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
 * scheduler stopped at a rung (a promotion continues it; `running` while a
 * promoted trial trains); `pending` is a folder without `run.yaml` yet (e.g.
 * only a Slurm log); `invalid` is an unreadable `run.yaml`.
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
 * Reads a file's text, or null when it does not exist; throws, saying why, when
 * something is there that cannot be read (a folder, no permission). The report
 * reads with Deno's own; the board passes one that treats anything outside its
 * runs folder as absent.
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
  /**
   * Why the run is in its state, in one line: a failed run's error, what stopped
   * a stopped run, who trains a running one, what a pending folder holds.
   */
  reason: string | null;
  /**
   * When the state began (ISO 8601), where the folder says: a running run's lock
   * (or its start), a finished or cut run's end (its start plus its wall time).
   */
  since: string | null;
  /** Every top-level key of `run.yaml` except the sections (kind, status, grid_point, ...). */
  settings: Record<string, unknown>;
  gridPoint: Record<string, unknown>;
  results: RunResults | null;
  provenance: Record<string, unknown> | null;
  slurm: Record<string, unknown> | null;
  metrics: EpochMetrics[];
  /**
   * For a search's trial (`status.search`): the rung (1-based) it was pruned at, or
   * its last job trained to, of how many; null (or absent) otherwise.
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

/**
 * Reads a file's text, or null when it does not exist; a folder or an unreadable
 * file is an error naming the path.
 */
export async function readOptional(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw unreadable(path, e);
  }
}

/** The error for a path that exists but cannot be read as a file. */
export function unreadable(path: string, e: unknown): Error {
  if (e instanceof Deno.errors.IsADirectory) {
    return new Error(`Cannot read '${path}': expected a file, got a folder`);
  }
  const why = e instanceof Error ? e.message : String(e);
  return new Error(`Cannot read '${path}': ${why}`);
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

/** What a run folder's `lock` says: whether its runner still runs, and who it is. */
export interface LockState {
  /** A runner holds the folder (or the lock is being written). */
  live: boolean;
  /** The lock's contents, when it could be read. */
  owner: Partial<LockOwner> | null;
}

/**
 * Reads a run folder's `lock`: whether a runner holds it (see `lockHeld` in
 * `run/run_lock.ts`: the kernel's flock for this host's runners; another host's
 * lock is trusted) and who it names (host, pid, Slurm task, since when), read with
 * `read`. No lock: not live, no owner.
 */
export async function readLock(dir: string, read: TextReader = readOptional): Promise<LockState> {
  let owner: Partial<LockOwner> | null = null;
  try {
    const text = await read(join(dir, "lock"));
    const v = text === null ? null : JSON.parse(text);
    if (isObject(v)) owner = v as Partial<LockOwner>;
  } catch {
    // Being written, or unreadable: who holds it is unknown.
  }
  let live: boolean;
  try {
    live = await lockHeld(dir);
  } catch {
    live = true; // cannot look: someone may be at work
  }
  return { live, owner };
}

/**
 * Whether the runner named by a run folder's `lock` still runs (see {@link readLock}).
 * No lock: false.
 */
export async function lockIsLive(dir: string, read: TextReader = readOptional): Promise<boolean> {
  return (await readLock(dir, read)).live;
}

/** Who holds a lock, as text: `pid 12 on node3 (Slurm 7_0)`. */
function ownerText(o: Partial<LockOwner> | null): string {
  if (!o) return "a runner";
  const slurm = typeof o.slurm === "string" && o.slurm !== "" ? ` (Slurm ${o.slurm})` : "";
  return `pid ${o.pid ?? "?"} on ${o.host ?? "?"}${slurm}`;
}

/** Why a run without a live runner is stopped. */
function stoppedReason(lock: LockState): string {
  return lock.owner
    ? `its runner (${ownerText(lock.owner)}) has ended without finishing (killed, out of ` +
      `time or interrupted); running the experiment again resumes it from its checkpoint`
    : "no runner holds it (killed, out of time or interrupted); running the experiment " +
      "again resumes it from its checkpoint";
}

/** The state of a run that says it runs: who runs it, or why it is stopped. */
function liveOrStopped(rec: RunRecord, lock: LockState, started: string | null): void {
  if (lock.live) {
    rec.state = "running";
    rec.reason = `trained by ${ownerText(lock.owner)}`;
    rec.since = typeof lock.owner?.since === "string" ? lock.owner.since : started;
  } else {
    rec.state = "stopped";
    rec.reason = stoppedReason(lock);
    rec.since = null;
  }
}

/** What a `results.stopped` or `status.reason` says, as text. */
const STOP_TEXT: Record<string, string> = {
  epochs: "trained every epoch",
  early_stopping: "early stopping: validation accuracy stopped improving",
  max_steps: "reached max_steps; a later run with a higher or no max_steps continues it",
  max_epochs: "cut by --max-epochs; a later run without the cut continues it",
};

/** An ISO time `seconds` after `start`, or null. */
function after(start: string | null, seconds: number | null): string | null {
  if (start === null || seconds === null) return null;
  const t = Date.parse(start);
  return Number.isFinite(t) ? new Date(t + seconds * 1000).toISOString() : null;
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
    reason: null,
    since: null,
    settings: {},
    gridPoint: {},
    results: null,
    provenance: null,
    slurm: null,
    metrics: [],
    warnings: [],
  };
  const invalid = (error: string): RunRecord => {
    rec.state = "invalid";
    rec.error = rec.reason = error;
    return rec;
  };
  let metricsText: string | null = null;
  try {
    metricsText = await read(join(dir, "metrics.jsonl"));
  } catch (e) {
    rec.warnings.push(`${id}: ${e instanceof Error ? e.message : e}; no metrics shown`);
  }
  if (metricsText !== null) {
    const m = parseMetrics(metricsText, `${id}/metrics.jsonl`);
    rec.metrics = m.metrics;
    rec.warnings.push(...m.warnings);
  }
  let yamlText: string | null;
  try {
    yamlText = await read(join(dir, "run.yaml"));
  } catch (e) {
    return invalid(e instanceof Error ? e.message : String(e));
  }
  if (yamlText === null) {
    if (rec.metrics.length > 0) {
      liveOrStopped(rec, await readLock(dir, read), null);
      rec.warnings.push(`${id}: metrics.jsonl but no run.yaml; shown as ${rec.state}`);
    } else {
      rec.reason = "no run.yaml yet: queued or starting";
    }
    return rec;
  }
  let doc: unknown;
  try {
    doc = parseYaml(yamlText);
  } catch (e) {
    return invalid(
      `Cannot read '${join(dir, "run.yaml")}': expected YAML, got a parse error: ${
        e instanceof Error ? e.message.split("\n")[0] : String(e)
      }`,
    );
  }
  if (!isObject(doc) || doc.kind !== "run") {
    return invalid(
      `Cannot read '${join(dir, "run.yaml")}': expected a mapping with 'kind: run', got ${
        isObject(doc) ? `kind ${JSON.stringify(doc.kind ?? null)}` : JSON.stringify(doc)
      }`,
    );
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
  const started = typeof rec.provenance?.started === "string" ? rec.provenance.started : null;
  const ended = after(started, rec.results?.wall_seconds ?? null);
  // A search's trial: the rung it was pruned at, or the one its last job trained to.
  const search = isObject(status.search) ? status.search : {};
  const rung = typeof status.rung === "number" ? status.rung : search.rung;
  const rungs = typeof status.rungs === "number" ? status.rungs : search.rungs;
  if (typeof rung === "number" && typeof rungs === "number") rec.rung = { rung, rungs };
  if (state === "done") {
    rec.state = state;
    const why = rec.results ? (doc.results as Record<string, unknown>).stopped : undefined;
    rec.reason = typeof why === "string" && STOP_TEXT[why] ? STOP_TEXT[why] : "finished";
    rec.since = ended;
  } else if (state === "stopped") {
    rec.state = state;
    const why = status.reason;
    rec.reason = typeof why === "string"
      ? STOP_TEXT[why] ?? why
      : "stopped (no reason recorded); running the experiment again continues it";
    rec.since = ended;
  } else if (state === "failed") {
    rec.state = state;
    rec.error = typeof status.error === "string" && status.error !== ""
      ? status.error
      : "(no error message recorded)";
    rec.reason = rec.error;
  } else if (state === "running") {
    liveOrStopped(rec, await readLock(dir, read), started);
  } else if (state === "pruned") {
    // Promoted, it trains again under a live lock before its run.yaml says so.
    const lock = await readLock(dir, read);
    if (lock.live) liveOrStopped(rec, lock, started);
    else {
      rec.state = "pruned";
      rec.reason = `stopped by the search's scheduler after rung ${rec.rung?.rung ?? "?"} of ` +
        `${rec.rung?.rungs ?? "?"}; a promotion continues it`;
      rec.since = ended;
    }
  } else {
    return invalid(
      `Cannot read '${join(dir, "run.yaml")}': status.state expected ` +
        `"running", "done", "stopped", "pruned" or "failed", got ${JSON.stringify(state ?? null)}`,
    );
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
 * The experiment folders directly inside a runs folder: sub-folders holding run
 * folders (see {@link runFolders}), sorted by name with {@link compareIds}; symbolic
 * links are not followed. A sub-folder that vanishes while listed is left out.
 */
export async function experimentFolders(root: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(root)) {
    if (!e.isDirectory) continue;
    const runs = await runFolders(join(root, e.name)).catch((err) => {
      if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.PermissionDenied) {
        return [];
      }
      throw err;
    });
    if (runs.length > 0) names.push(e.name);
  }
  return names.sort(compareIds);
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
