/**
 * The `search:` section of an experiment file: how many trials, how they
 * are sampled, which metric ranks them, how a scheduler stops poor ones
 * early, and the space: which settings to draw and from which distribution.
 *
 *     epochs: 9                 # the most a trial trains
 *     search:
 *       trials: 27
 *       sampler: random         # random | sobol | tpe
 *       seed: 0
 *       metric: val_acc         # maximised; val_loss and train_loss are minimised
 *       scheduler: asha         # none | asha | hyperband
 *       min_epochs: 1           # first rung
 *       reduction: 3            # keep the best 1/3 at each rung
 *       space:
 *         lr: {log_uniform: [1.0e-4, 1.0e-2]}
 *         batch_size: {choice: [64, 128, 256]}
 *
 * This file holds the section's types, defaults and checks; `config.ts`
 * calls {@link checkSearchSection} while it checks a file, so problems read
 * like the rest of the file's (`x.yaml:9:7: search.space.lr: ...`). What a
 * search does with the section is the `search/` layer's.
 *
 * @module
 */

import { describeValue, type KeyPath, suggestKey } from "./_yaml_errors.ts";

/** A distribution to draw one setting from. */
export type Distribution =
  | { kind: "uniform"; low: number; high: number }
  | { kind: "log_uniform"; low: number; high: number }
  | { kind: "int"; low: number; high: number; log: boolean }
  | { kind: "choice"; values: unknown[] };

/** Samplers: independent uniform draws, a scrambled Sobol sequence, or TPE. */
export const SAMPLERS = ["random", "sobol", "tpe"] as const;
/** Schedulers: every trial to the last epoch, asynchronous successive halving, Hyperband. */
export const SCHEDULERS = ["none", "asha", "hyperband"] as const;
/** Metrics that rank trials: accuracies are maximised, losses minimised. */
export const METRICS = ["val_acc", "val_loss", "train_acc", "train_loss"] as const;

/** Most trials one search may have (as many as a grid's points). */
export const MAX_TRIALS = 10_000;

/** The checked `search:` section, defaults filled in. */
export interface SearchSpec {
  /** How many trials to sample. */
  trials: number;
  /** How trials' values are drawn. */
  sampler: (typeof SAMPLERS)[number];
  /** Seed of the sampler: the same file gives the same trials. */
  seed: number;
  /** What ranks trials (`metrics.jsonl`'s field); see {@link metricGoal}. */
  metric: (typeof METRICS)[number];
  /** What stops poor trials early. */
  scheduler: (typeof SCHEDULERS)[number];
  /** Epochs of the first rung. */
  min_epochs: number;
  /** The scheduler keeps the best 1/reduction of a rung (eta). */
  reduction: number;
  /** TPE: trials drawn at random before the model takes over. */
  startup_trials: number;
  /** The settings to draw, in file order. */
  space: Record<string, Distribution>;
}

/** The defaults of every key but `trials` and `space`. */
export const SEARCH_DEFAULTS: Readonly<Omit<SearchSpec, "trials" | "space">> = Object.freeze({
  sampler: "random",
  seed: 0,
  metric: "val_acc",
  scheduler: "asha",
  min_epochs: 1,
  reduction: 3,
  startup_trials: 10,
});

/** Keys of the `search:` section, in the order files list them. */
export const SEARCH_KEYS = [
  "trials",
  "sampler",
  "seed",
  "metric",
  "scheduler",
  "min_epochs",
  "reduction",
  "startup_trials",
  "space",
] as const;

/** The distribution keys of one searched setting. */
export const DISTRIBUTION_KEYS = ["log_uniform", "uniform", "int", "choice", "log"] as const;

/** Whether a metric is maximised (`max`) or minimised (`min`). */
export function metricGoal(metric: SearchSpec["metric"]): "max" | "min" {
  return metric.endsWith("_acc") ? "max" : "min";
}

/** One problem of the section: where (key path inside the file), what, and whether at the key. */
export interface SectionIssue {
  /** Path from the top of the file, e.g. `["search", "space", "lr", "log_uniform", 0]`. */
  path: KeyPath;
  /** The complete message (`expected ..., got ...`). */
  message: string;
  /** Point at the key rather than its value (unknown keys). */
  atKey: boolean;
}

/** What {@link checkSearchSection} needs to know about the settings. */
export interface SettingRules {
  /** Settings that may be searched (a grid's keys). */
  keys: readonly string[];
  /** Settings every file has but no search may draw (with why), e.g. `output`. */
  fixed: readonly string[];
  /** A setting's problems with a value, worded as `expected ..., got ...`; `[]` when valid. */
  check(key: string, value: unknown): { path: string; message: string }[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function isInt(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v);
}

/**
 * Checks a `search:` section and returns the spec with defaults, or the
 * problems. `grid` is the file's grid (a key may be either gridded or
 * searched) and `epochs` the file's (the budget the scheduler divides).
 *
 * @example
 * ```ts
 * import { checkSearchSection } from "./search_spec.ts";
 * const rules = { keys: ["lr", "seed"], fixed: ["output"], check: () => [] };
 * const ok = checkSearchSection({ trials: 8, space: { lr: { log_uniform: [1e-4, 1e-2] } } }, rules, {});
 * if (!("spec" in ok) || ok.spec.sampler !== "random" || ok.spec.space.lr.kind !== "log_uniform") throw new Error();
 * const bad = checkSearchSection({ trials: 8, space: { lrr: { uniform: [0, 1] } } }, rules, {});
 * if (!("issues" in bad) || bad.issues[0].message !== "unknown key (did you mean 'lr'?)") throw new Error();
 * ```
 */
export function checkSearchSection(
  section: unknown,
  rules: SettingRules,
  grid: Record<string, unknown>,
): { spec: SearchSpec } | { issues: SectionIssue[] } {
  const issues: SectionIssue[] = [];
  const at = (path: KeyPath, message: string, atKey = false) =>
    issues.push({ path: ["search", ...path], message, atKey });
  if (!isRecord(section)) {
    at(
      [],
      `expected a mapping of search options (trials, sampler, space, ...), got ${
        describeValue(section)
      }`,
    );
    return { issues };
  }
  for (const key of Object.keys(section)) {
    if (!(SEARCH_KEYS as readonly string[]).includes(key)) {
      const hint = suggestKey(key, SEARCH_KEYS);
      at([key], hint === null ? "unknown key" : `unknown key (did you mean '${hint}'?)`, true);
    }
  }
  const spec: Partial<SearchSpec> = { ...SEARCH_DEFAULTS };
  const intIn = (key: "trials" | "seed" | "min_epochs" | "reduction" | "startup_trials") => {
    const v = section[key];
    const [lo, hi, text] = key === "trials"
      ? [1, MAX_TRIALS, `an integer from 1 to ${MAX_TRIALS}`]
      : key === "seed"
      ? [0, Number.MAX_SAFE_INTEGER, "an integer >= 0"]
      : key === "reduction"
      ? [2, 1000, "an integer >= 2 (keep the best 1/reduction of each rung)"]
      : key === "startup_trials"
      ? [1, MAX_TRIALS, "a positive integer"]
      : [1, 1_000_000, "a positive integer"];
    if (!(key in section)) return;
    if (!isInt(v) || v < lo || v > hi) at([key], `expected ${text}, got ${describeValue(v)}`);
    else spec[key] = v;
  };
  if (!("trials" in section)) at(["trials"], "missing (expected the number of trials to sample)");
  for (const k of ["trials", "seed", "min_epochs", "reduction", "startup_trials"] as const) {
    intIn(k);
  }
  const oneOf = <T extends string>(key: "sampler" | "scheduler" | "metric", list: readonly T[]) => {
    if (!(key in section)) return;
    const v = section[key];
    if (typeof v === "string" && (list as readonly string[]).includes(v)) {
      (spec as Record<string, unknown>)[key] = v;
    } else {
      const hint = typeof v === "string" ? suggestKey(v, list) : null;
      at(
        [key],
        `expected one of ${list.join(", ")}, got ${describeValue(v)}${
          hint ? ` (did you mean '${hint}'?)` : ""
        }`,
      );
    }
  };
  oneOf("sampler", SAMPLERS);
  oneOf("scheduler", SCHEDULERS);
  oneOf("metric", METRICS);

  const space: Record<string, Distribution> = {};
  if (!("space" in section)) {
    at(["space"], "missing (expected a mapping from settings to distributions)");
  } else if (!isRecord(section.space) || Object.keys(section.space).length === 0) {
    at(
      ["space"],
      `expected a mapping from settings to distributions ({log_uniform: [lo, hi]}, ` +
        `{uniform: [lo, hi]}, {int: [lo, hi]}, {choice: [...]}), got ${
          describeValue(section.space)
        }`,
    );
  } else {
    for (const [key, raw] of Object.entries(section.space)) {
      const path = ["space", key];
      if (!rules.keys.includes(key)) {
        if (rules.fixed.includes(key)) {
          at(
            path,
            "cannot be searched (expected any setting but name, description, output " +
              "and gpu)",
            true,
          );
        } else {
          const hint = suggestKey(key, rules.keys);
          at(path, hint === null ? "unknown key" : `unknown key (did you mean '${hint}'?)`, true);
        }
        continue;
      }
      if (key in grid) {
        at(path, "is in the grid too: expected each setting either gridded or searched", true);
        continue;
      }
      const d = checkDistribution(key, raw, rules, (p, m, k) => at([...path, ...p], m, k));
      if (d) space[key] = d;
    }
  }
  if (issues.length > 0) return { issues };
  const full = Object.fromEntries(
    SEARCH_KEYS.map((k) => [k, k === "space" ? space : spec[k]]),
  ) as unknown as SearchSpec;
  if (full.scheduler !== "none" && "epochs" in space) {
    at(
      ["space", "epochs"],
      `cannot be searched with scheduler ${full.scheduler}: the scheduler gives each trial its ` +
        "epochs, up to the file's epochs (use scheduler: none to search epochs)",
      true,
    );
    return { issues };
  }
  return { spec: full };
}

const SHAPES = "{log_uniform: [lo, hi]}, {uniform: [lo, hi]}, {int: [lo, hi]} (log: true " +
  "optional) or {choice: [v1, v2, ...]}";

/** Checks one searched setting's distribution; reports problems through `at`. */
function checkDistribution(
  key: string,
  raw: unknown,
  rules: SettingRules,
  at: (path: KeyPath, message: string, atKey?: boolean) => void,
): Distribution | null {
  if (!isRecord(raw)) {
    at([], `expected a distribution: ${SHAPES}, got ${describeValue(raw)}`);
    return null;
  }
  const kinds = Object.keys(raw).filter((k) => k !== "log");
  let ok = true;
  for (const k of Object.keys(raw)) {
    if (!(DISTRIBUTION_KEYS as readonly string[]).includes(k)) {
      const hint = suggestKey(k, DISTRIBUTION_KEYS);
      at(
        [k],
        hint === null
          ? `unknown key (expected ${SHAPES})`
          : `unknown key (did you mean '${hint}'?)`,
        true,
      );
      ok = false;
    }
  }
  if (!ok) return null;
  if (kinds.length !== 1) {
    at(
      [],
      `expected one distribution: ${SHAPES}, got ${
        kinds.length === 0 ? "none" : kinds.join(" and ")
      }`,
    );
    return null;
  }
  const kind = kinds[0] as "log_uniform" | "uniform" | "int" | "choice";
  const log = raw.log;
  if ("log" in raw && (kind !== "int" || typeof log !== "boolean")) {
    at(
      ["log"],
      kind !== "int"
        ? `applies to int only (expected log_uniform for a log scale of reals)`
        : `expected true or false, got ${describeValue(log)}`,
      kind !== "int",
    );
    return null;
  }
  const arg = raw[kind];
  const problems = (value: unknown, path: KeyPath, what: string) => {
    for (const p of rules.check(key, value)) {
      at(
        path,
        `${what} ${describeValue(value)}: the setting expects ${
          p.message.replace(/^expected /, "").replace(/, got .*$/, "")
        }`,
      );
      return true;
    }
    return false;
  };
  if (kind === "choice") {
    if (!Array.isArray(arg) || arg.length === 0) {
      at([kind], `expected a non-empty list of values, got ${describeValue(arg)}`);
      return null;
    }
    let bad = false;
    const seen = new Map<string, number>();
    arg.forEach((v, i) => {
      const first = seen.get(JSON.stringify(v));
      if (first !== undefined) {
        at(
          [kind, i],
          `expected no duplicates, got ${describeValue(v)} again (first at [${first}])`,
        );
        bad = true;
      } else seen.set(JSON.stringify(v), i);
      if (problems(v, [kind, i], "value")) bad = true;
    });
    return bad ? null : { kind, values: structuredClone(arg) };
  }
  if (
    !Array.isArray(arg) || arg.length !== 2 ||
    !arg.every((v) => typeof v === "number" && Number.isFinite(v))
  ) {
    at([kind], `expected a list [lo, hi] of two numbers, got ${describeValue(arg)}`);
    return null;
  }
  const [low, high] = arg as [number, number];
  if (!(low < high)) {
    at([kind], `expected [lo, hi] with lo < hi, got [${low}, ${high}]`);
    return null;
  }
  if (kind === "int") {
    if (!isInt(low) || !isInt(high)) {
      at([kind], `expected two integers, got [${low}, ${high}]`);
      return null;
    }
    if (log === true && low < 1) {
      at([kind, 0], `expected a lower bound >= 1 on a log scale, got ${low}`);
      return null;
    }
  }
  if (kind === "log_uniform" && !(low > 0)) {
    at([kind, 0], `expected a lower bound > 0 on a log scale, got ${low}`);
    return null;
  }
  if (problems(low, [kind, 0], "lower bound") || problems(high, [kind, 1], "upper bound")) {
    return null;
  }
  if (kind !== "int") {
    // A draw strictly inside the range must be a valid value too: integer settings refuse reals.
    const inside = Number((low + (high - low) * 0.3183098861837907).toPrecision(4));
    const issues = rules.check(key, inside);
    if (issues.length > 0) {
      at(
        [],
        `${kind} draws values such as ${describeValue(inside)}, which the setting refuses (${
          issues[0].message
        }): expected int or choice`,
      );
      return null;
    }
    return { kind, low, high };
  }
  return { kind, low, high, log: log === true };
}

/**
 * The distribution as it is written in a file (the inverse of the check).
 *
 * @example
 * ```ts
 * import { distributionYaml } from "./search_spec.ts";
 * const y = distributionYaml({ kind: "int", low: 1, high: 8, log: true });
 * if (JSON.stringify(y) !== '{"int":[1,8],"log":true}') throw new Error();
 * ```
 */
export function distributionYaml(d: Distribution): Record<string, unknown> {
  switch (d.kind) {
    case "choice":
      return { choice: structuredClone(d.values) };
    case "int":
      return d.log ? { int: [d.low, d.high], log: true } : { int: [d.low, d.high] };
    default:
      return { [d.kind]: [d.low, d.high] };
  }
}

/** The section as it is written in a file (every key, defaults included). */
export function searchYaml(spec: SearchSpec): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of SEARCH_KEYS) {
    out[k] = k === "space"
      ? Object.fromEntries(Object.entries(spec.space).map(([s, d]) => [s, distributionYaml(d)]))
      : spec[k];
  }
  return out;
}
