/**
 * What a run folder already holds, and what a rerun may do with it: train
 * from scratch, resume or continue, skip it (done, or stopped at the same
 * cut), or refuse because its settings differ (see `fingerprint.ts`).
 *
 * @module
 */

import { join } from "node:path";
import { type Experiment, parseExperiment } from "../experiment/config.ts";
import { fingerprint, settingChanges, SettingsChanged } from "./fingerprint.ts";
import type { RunResults } from "./records.ts";
import { statKind } from "../util/fs.ts";

/** The checkpoint's file name in a run folder. */
export const CHECKPOINT = "checkpoint.safetensors";
/** The previous good checkpoint, kept when a new one is written (`previousPath`). */
export const CHECKPOINT_PREV = "checkpoint.prev.safetensors";

/** A run folder's record of an earlier run. */
export interface PriorRun {
  /** The settings it ran with (from its run.yaml). */
  settings: Experiment;
  /**
   * `running`, `done`, `stopped`, `pruned` (a search's scheduler stopped it at a rung; a
   * promotion continues it) or `failed`; null when run.yaml has no status.
   */
  state: string | null;
  /** Why a stopped run stopped: `max_epochs` or `max_steps`. */
  reason: string | null;
  /** Its results, once done or stopped. */
  results: RunResults | null;
  /** SHA-256 of the dataset files it trained on, sorted; null when unknown. */
  datasets: string[] | null;
  /** Whether a checkpoint (or its previous copy) is there to resume from. */
  hasCheckpoint: boolean;
  /** Whether the run's `weights.safetensors` is there. */
  hasWeights: boolean;
}

/** Reads the earlier run recorded in `dir`, or null when there is none (no run.yaml). */
export async function readPriorRun(dir: string): Promise<PriorRun | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(dir, "run.yaml"));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new Error(`Cannot read '${join(dir, "run.yaml")}': ${(e as Error).message}`);
  }
  const parsed = parseExperiment(text, join(dir, "run.yaml"));
  const status = (parsed.sections.status ?? {}) as Record<string, unknown>;
  const prov = (parsed.sections.provenance ?? {}) as Record<string, unknown>;
  const files = Array.isArray(prov.datasets) ? prov.datasets as { sha256?: unknown }[] : null;
  return {
    settings: parsed.base,
    state: typeof status.state === "string" ? status.state : null,
    reason: typeof status.reason === "string" ? status.reason : null,
    results: (parsed.sections.results ?? null) as RunResults | null,
    datasets: files ? files.map((f) => String(f.sha256)).sort() : null,
    hasCheckpoint: (await statKind(join(dir, CHECKPOINT))) === "file" ||
      (await statKind(join(dir, CHECKPOINT_PREV))) === "file",
    hasWeights: (await statKind(join(dir, "weights.safetensors"))) === "file",
  };
}

/** What to do with a point: `train` (from scratch, resuming or continuing) or `skip`. */
export interface PointPlan {
  /** Train, or leave the folder as it is. */
  action: "train" | "skip";
  /** For people: why (`done`, `stopped at max_steps 10`, `resuming`, `new`, ...). */
  note: string;
}

/**
 * Decides what a rerun with settings `s` (and an optional `--max-epochs`
 * cut) does with the run `prior` in `dir`. Throws {@link SettingsChanged}
 * when the trajectory settings differ from the folder's and the folder holds
 * training (a checkpoint, or a done or stopped run).
 */
export function planPoint(
  dir: string,
  prior: PriorRun | null,
  s: Experiment,
  maxEpochs?: number,
): PointPlan {
  if (!prior) return { action: "train", note: "new" };
  const trained = prior.hasCheckpoint || prior.state === "done" || prior.state === "stopped" ||
    prior.state === "pruned";
  if (!trained) return { action: "train", note: "new (nothing trained yet)" };
  const changes = settingChanges(prior.settings, s);
  if (changes.length) throw new SettingsChanged(dir, changes);
  const r = prior.results;
  // A finished run whose weights were deleted is not finished: they are written again from
  // its checkpoint (which holds the best weights), or the run is trained again without one.
  if ((prior.state === "done" || prior.state === "stopped") && !prior.hasWeights) {
    return prior.hasCheckpoint
      ? {
        action: "train",
        note: "weights.safetensors is missing: written again from the checkpoint",
      }
      : {
        action: "train",
        note: "weights.safetensors and the checkpoint are missing: trained again",
      };
  }
  const epochsRun = r?.epochs_run ?? 0;
  const cap = Math.min(s.epochs, maxEpochs ?? Infinity);
  const moreSteps = s.max_steps === null || (r !== null && s.max_steps > r.steps);
  if (prior.state === "done" && r) {
    const more = r.stopped === "early_stopping"
      ? s.early_stopping > prior.settings.early_stopping && cap > epochsRun
      : r.stopped === "max_steps"
      ? moreSteps && cap > epochsRun
      : cap > epochsRun;
    return more
      ? { action: "train", note: `continuing a done run (${epochsRun} epochs) with more` }
      : { action: "skip", note: "done" };
  }
  if (prior.state === "stopped" && r) {
    const more = prior.reason === "max_steps" ? moreSteps && cap > epochsRun : cap > epochsRun;
    const why = prior.reason === "max_steps"
      ? `max_steps ${prior.settings.max_steps}`
      : `--max-epochs ${epochsRun}`;
    return more
      ? { action: "train", note: `continuing a run stopped at ${why}` }
      : { action: "skip", note: `stopped at ${why}; raise or drop the cut to continue` };
  }
  if (prior.state === "pruned" && r) {
    return cap > epochsRun
      ? { action: "train", note: `continuing a trial pruned after ${epochsRun} epochs` }
      : { action: "skip", note: `pruned after ${epochsRun} epochs` };
  }
  return { action: "train", note: "resuming" };
}

/** Per experiment folder: each run folder's trajectory fingerprint (from its run.yaml). */
const folderIndex = new Map<string, Promise<Map<string, string[]>>>();

async function indexFolders(expDir: string): Promise<Map<string, string[]>> {
  const byPrint = new Map<string, string[]>();
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(expDir));
  } catch {
    return byPrint;
  }
  for (const e of entries) {
    if (!e.isDirectory) continue;
    try {
      const dir = join(expDir, e.name);
      const text = await Deno.readTextFile(join(dir, "run.yaml"));
      const print = fingerprint(parseExperiment(text, join(dir, "run.yaml")).base);
      byPrint.set(print, [...(byPrint.get(print) ?? []), e.name]);
    } catch {
      // not a run folder, or unreadable: not a match
    }
  }
  return byPrint;
}

/**
 * The folder of a point whose own folder (`<expDir>/<id>`) does not exist
 * yet: the one run folder of the experiment with the same trajectory
 * settings under another name, made when ids depended on the order of the
 * arguments and on how numbers were written (`lr0.01_seed0` for
 * `lr1e-2`; `seed0` for the file's own run); null when there is none, or
 * more than one, or it is another point's own folder (`taken`: the ids of
 * this invocation's points).
 */
export async function formerFolder(
  expDir: string,
  settings: Experiment,
  taken: ReadonlySet<string>,
): Promise<string | null> {
  let index = folderIndex.get(expDir);
  if (!index) folderIndex.set(expDir, index = indexFolders(expDir));
  const names = ((await index).get(fingerprint(settings)) ?? []).filter((n) => !taken.has(n));
  return names.length === 1 ? join(expDir, names[0]) : null;
}
