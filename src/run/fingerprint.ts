/**
 * Which settings a run folder's contents depend on, and how a rerun may
 * differ from the run already in a folder.
 *
 * Every setting changes the trajectory of a run except two kinds:
 * - settings that only place, describe or record it (`name`, `description`,
 *   `output`, `data_dir`: the data itself is compared by its files' SHA-256;
 *   `gpu`: which device runs it; `test_each_epoch`: whether each epoch's
 *   record scores the test set), and
 * - settings that only extend it (`epochs`, `early_stopping`, `max_steps`):
 *   raising them continues a run where it stopped; but `epochs` is the
 *   horizon of `lr_schedule: cosine`, so with it `epochs` is a trajectory
 *   setting ({@link trajectoryKeys}).
 *
 * `run.yaml` records the {@link fingerprint} of the trajectory settings; a
 * rerun whose trajectory settings differ never resumes or skips silently.
 *
 * @example
 * ```ts
 * import { settingChanges } from "./fingerprint.ts";
 * import { parseExperiment } from "../experiment/config.ts";
 * const a = parseExperiment("dataset: fmnist\narch: 8F\n", "a.yaml").base;
 * const b = { ...a, lr: 3e-4, epochs: 5, output: "elsewhere" };
 * const changes = settingChanges(a, b);
 * if (changes.length !== 1 || changes[0].key !== "lr") throw new Error();
 * ```
 *
 * @module
 */

import { createHash } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import {
  type DefaultedKey,
  DEFAULTS,
  type Experiment,
  SETTING_KEYS,
} from "../experiment/config.ts";

/** Settings that only place, describe or record a run (never its weights). */
export const PLACEMENT_KEYS: readonly (keyof Experiment)[] = [
  "name",
  "description",
  "output",
  "data_dir",
  "gpu",
  "test_each_epoch",
];

/** Settings that only extend a run: raising them continues it. */
export const EXTENDING_KEYS: readonly (keyof Experiment)[] = [
  "epochs",
  "early_stopping",
  "max_steps",
];

/** The settings that change a run's trajectory, in {@link SETTING_KEYS} order. */
export const TRAJECTORY_KEYS: readonly (keyof Experiment)[] = SETTING_KEYS.filter(
  (k) => !PLACEMENT_KEYS.includes(k) && !EXTENDING_KEYS.includes(k),
);

/**
 * Trajectory settings added after fingerprints were first recorded: at their
 * defaults they stay out of the hash, so a run's fingerprint does not change
 * with the version that computes it.
 */
const LATER_KEYS: readonly (keyof Experiment)[] = [
  "lr_schedule",
  "warmup_epochs",
  "lr_min",
  "lr_milestones",
  "lr_gamma",
];

/**
 * The trajectory settings of `s`: {@link TRAJECTORY_KEYS}, and `epochs`
 * when the cosine schedule reads it (its horizon).
 */
export function trajectoryKeys(s: Partial<Experiment>): (keyof Experiment)[] {
  return s.lr_schedule === "cosine"
    ? SETTING_KEYS.filter((k) => k === "epochs" || TRAJECTORY_KEYS.includes(k))
    : [...TRAJECTORY_KEYS];
}

/**
 * 16 hex digits of the SHA-256 of the trajectory settings' canonical JSON
 * (settings added later count only away from their defaults).
 *
 * @example
 * ```ts
 * import { fingerprint } from "./fingerprint.ts";
 * import { parseExperiment } from "../experiment/config.ts";
 * const a = parseExperiment("dataset: fmnist\narch: 8F\n", "a.yaml").base;
 * if (fingerprint({ ...a, lr_schedule: "exponential" }) !== fingerprint(a)) throw new Error();
 * if (fingerprint({ ...a, lr_schedule: "cosine" }) === fingerprint(a)) throw new Error();
 * ```
 */
export function fingerprint(s: Experiment): string {
  const values = trajectoryKeys(s)
    .filter((k) => !LATER_KEYS.includes(k) || !isDeepStrictEqual(s[k], DEFAULTS[k as DefaultedKey]))
    .map((k) => [k, s[k] ?? null]);
  return createHash("sha256").update(JSON.stringify(values)).digest("hex").slice(0, 16);
}

/** One trajectory setting that differs between the run in a folder and a rerun. */
export interface SettingChange {
  /** The setting. */
  key: string;
  /** Its value in the folder's run. */
  old: unknown;
  /** Its value in the rerun. */
  new: unknown;
}

/**
 * The trajectory settings whose values differ between `old` and `s` (with
 * a cosine schedule in either, `epochs` too).
 */
export function settingChanges(old: Partial<Experiment>, s: Experiment): SettingChange[] {
  const keys = new Set([...trajectoryKeys(old), ...trajectoryKeys(s)]);
  return SETTING_KEYS.filter((k) => keys.has(k))
    .filter((k) => !isDeepStrictEqual(old[k] ?? null, s[k] ?? null))
    .map((k) => ({ key: k, old: old[k] ?? null, new: s[k] ?? null }));
}

/** `lr: 0.0001 -> 0.0003, seed: 0 -> 1` */
export function describeChanges(changes: SettingChange[]): string {
  return changes.map((c) => `${c.key}: ${JSON.stringify(c.old)} -> ${JSON.stringify(c.new)}`)
    .join(", ");
}

/** Thrown when a rerun's settings differ from those of the run in its folder. */
export class SettingsChanged extends Error {
  /** The settings that differ. */
  readonly changes: SettingChange[];
  constructor(dir: string, changes: SettingChange[], what = "settings") {
    super(
      `Cannot continue the run in '${dir}': its ${what} differ from this run's ` +
        `(${describeChanges(changes)}). Its files would mix two runs: rerun with --force to ` +
        `start this point over, or give another --output to keep both.`,
    );
    this.name = "SettingsChanged";
    this.changes = changes;
  }
}
