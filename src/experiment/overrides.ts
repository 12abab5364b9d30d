/**
 * Settings from the command line: `key=value` overrides a setting of the
 * experiment file, `key=v1,v2,...` sweeps it. Values are YAML (as in the
 * file: `lr=3e-4`, `augment=[crop,flip]`, `weight_clip=null`); commas inside
 * brackets or quotes do not split a sweep (`betas=[0.9,0.99],[0.8,0.9]` is
 * two values). Every value is checked by the experiment schema, and errors
 * name the argument and the key as file errors name the line:
 * `argument 'lr=abc': lr: expected a positive number, got "abc"`.
 *
 * Overrides and sweeps join the file's `grid:` in one cartesian product: a
 * key the grid varies is replaced in place, others are added after the
 * grid's keys in alphabetical order. They are part of each point's
 * `grid_point` (in `run.yaml`) and of its id (`lr3e-4_seed1`), so a run with
 * an override never lands in the folder of the run without it. Ids are
 * canonical: the order of the arguments and the way a number is written do
 * not change them, and a value equal to the file's own is no override
 * (`seed=0` where the file trains seed 0 is the file's run, `default`). The keys that say where a run happens
 * or what it records rather than what it computes ({@link PLACE_KEYS}:
 * `name`, `description`, `output`, `data_dir`, `gpu`, `test_each_epoch`)
 * take one value and stay out of the id.
 *
 * @example
 * ```ts
 * import { parseExperiment } from "./config.ts";
 * import { experimentPoints, parseOverrides } from "./overrides.ts";
 * const exp = parseExperiment("dataset: fmnist\narch: P2-32F\ngrid:\n  lr: [1.0e-3, 1.0e-4]\n", "g.yaml");
 * const points = experimentPoints(exp, parseOverrides(["seed=0,1", "batch_size=128"]));
 * const ids = points.map((p) => p.id).join(" ");
 * // The grid's keys, then the others alphabetically; seed 0 is the file's (the default).
 * if (ids !== "lr1e-3_batch_size128 lr1e-3_batch_size128_seed1 " +
 *   "lr1e-4_batch_size128 lr1e-4_batch_size128_seed1") throw new Error(ids);
 * if (points[3].settings.batch_size !== 128 || points[3].settings.seed !== 1) throw new Error();
 * ```
 *
 * @module
 */

import { isDeepStrictEqual } from "node:util";
import { parseDocument } from "../deps/yaml.ts";
import {
  type Experiment,
  ExperimentError,
  type ExperimentIssue,
  type ParsedExperiment,
  SETTING_KEYS,
  settingIssues,
} from "./config.ts";
import { expandGrid, type GridPoint, MAX_GRID_POINTS } from "./grid.ts";
import { describeValue, formatIssue, suggestKey, yamlValue } from "./_yaml_errors.ts";

/** One `key=value` (or `key=v1,v2`) argument, parsed. */
export interface Override {
  /** The argument as written. */
  arg: string;
  /** The setting. */
  key: keyof Experiment;
  /** One value (an override) or several (a sweep), parsed as YAML. */
  values: unknown[];
}

/**
 * Settings that say where a run happens or what it records, not what it
 * computes: one value each, never swept, never part of a run's id.
 */
export const PLACE_KEYS: readonly (keyof Experiment)[] = [
  "name",
  "description",
  "output",
  "data_dir",
  "gpu",
  "test_each_epoch",
];

/** Whether a command-line argument is a `key=value` setting (a key, then `=`). */
export function isOverride(arg: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_.-]*=/.test(arg);
}

/**
 * Splits a value at commas outside brackets, braces and quotes:
 * `1e-4,3e-4` -> two pieces, `[0.9,0.99]` -> one.
 *
 * @example
 * ```ts
 * import { splitSweep } from "./overrides.ts";
 * if (splitSweep("[crop,flip],[]").join(" | ") !== "[crop,flip] | []") throw new Error();
 * if (splitSweep("'a,b',c").length !== 2) throw new Error();
 * ```
 */
export function splitSweep(text: string): string[] {
  const pieces: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote !== null) {
      if (c === quote) quote = null;
      continue;
    }
    if (c === "'" || c === '"') quote = c;
    else if (c === "[" || c === "{") depth++;
    else if ((c === "]" || c === "}") && depth > 0) depth--;
    else if (c === "," && depth === 0) {
      pieces.push(text.slice(start, i));
      start = i + 1;
    }
  }
  pieces.push(text.slice(start));
  return pieces.map((p) => p.trim());
}

/** The error of bad command-line settings: every problem, each naming its argument. */
export class OverrideError extends ExperimentError {
  constructor(issues: ExperimentIssue[]) {
    super(issues);
    this.name = "OverrideError";
    const lines = issues.map(formatIssue);
    this.message = lines.length === 1
      ? lines[0]
      : `${lines.length} problems in the command-line settings:\n${
        lines.map((l) => `  ${l}`).join("\n")
      }`;
  }
}

const SECTIONS = ["grid", "slurm", "kind"];

/**
 * Parses `key=value` arguments. Throws one {@link OverrideError} listing
 * every problem: an unknown key (with "did you mean"), a value the schema
 * refuses, a YAML syntax error, an empty value, a duplicate in a sweep, a
 * key given twice, or a sweep of a key in {@link PLACE_KEYS}.
 *
 * @example
 * ```ts
 * import { parseOverrides } from "./overrides.ts";
 * try {
 *   parseOverrides(["lr=abc", "learning_rate=1"]);
 *   throw new Error("accepted");
 * } catch (e) {
 *   const lines = (e as Error).message.split("\n").slice(1).map((l) => l.trim());
 *   if (lines[0] !== `argument 'lr=abc': lr: expected a positive number, got "abc"`) throw e;
 *   if (lines[1] !== "argument 'learning_rate=1': learning_rate: unknown key (did you mean 'lr'?)") throw e;
 * }
 * ```
 */
export function parseOverrides(args: readonly string[]): Override[] {
  const issues: ExperimentIssue[] = [];
  const out: Override[] = [];
  const seen = new Map<string, string>();
  for (const arg of args) {
    const source = `argument '${
      arg.length > 80 ? `${arg.slice(0, 60)}...' (${arg.length} characters)` : `${arg}'`
    }`;
    const add = (path: string, message: string) =>
      issues.push({ source, line: null, col: null, path, message });
    const eq = arg.indexOf("=");
    const key = eq < 0 ? arg : arg.slice(0, eq);
    if (eq < 0 || !isOverride(arg)) {
      add("", "expected a setting as key=value (or key=v1,v2 to sweep)");
      continue;
    }
    if (!(SETTING_KEYS as readonly string[]).includes(key)) {
      if (SECTIONS.includes(key)) {
        add(
          key,
          "cannot be given as key=value (expected a setting; sweep with key=v1,v2, " +
            "and set Slurm options with --partition, --time, ...)",
        );
      } else {
        const hint = suggestKey(key, SETTING_KEYS);
        add(key, hint === null ? "unknown key" : `unknown key (did you mean '${hint}'?)`);
      }
      continue;
    }
    const k = key as keyof Experiment;
    const earlier = seen.get(k);
    if (earlier !== undefined) {
      add(k, `given twice (also as '${earlier}'): expected once (sweep with ${k}=v1,v2)`);
      continue;
    }
    seen.set(k, arg);
    const text = arg.slice(eq + 1);
    const pieces = splitSweep(text);
    if (text.trim() === "") {
      add(k, "expected a value after '=', got nothing");
      continue;
    }
    if (pieces.length > MAX_GRID_POINTS) {
      add(
        k,
        `expected at most ${MAX_GRID_POINTS.toLocaleString("en")} values in a sweep, got ${
          pieces.length.toLocaleString("en")
        }`,
      );
      continue;
    }
    const values: unknown[] = [];
    const seenValues = new Map<string, number>();
    let ok = true;
    pieces.forEach((piece, i) => {
      const at = pieces.length > 1 ? `${k}[${i}]` : k;
      if (piece === "") {
        add(at, "expected a value between commas, got nothing");
        ok = false;
        return;
      }
      const doc = parseDocument(piece, { prettyErrors: false, uniqueKeys: true });
      const problems = [...doc.errors, ...doc.warnings];
      if (problems.length) {
        add(at, `YAML syntax error in ${JSON.stringify(piece)}: ${problems[0].message}`);
        ok = false;
        return;
      }
      const read = yamlValue(doc);
      if ("problem" in read) {
        add(at, read.problem);
        ok = false;
        return;
      }
      const value = read.value;
      for (const issue of settingIssues(k, value)) {
        add(pieces.length > 1 ? issue.path.replace(k, at) : issue.path, issue.message);
        ok = false;
      }
      const text = JSON.stringify(value);
      const first = seenValues.get(text);
      if (first !== undefined) {
        add(at, `expected no duplicates, got ${describeValue(value)} again (first at [${first}])`);
        ok = false;
      } else seenValues.set(text, values.length);
      values.push(value);
    });
    if (ok && values.length > 1 && PLACE_KEYS.includes(k)) {
      add(k, `cannot be swept (expected one value, got ${values.length})`);
      ok = false;
    }
    if (ok) out.push({ arg, key: k, values });
  }
  if (issues.length) throw new OverrideError(issues);
  return out;
}

/**
 * The points an experiment runs with command-line overrides: the cartesian
 * product of the file's grid and the overrides' values (a key the grid
 * varies is replaced in its place, others follow the grid's keys), each with
 * its id (see `expandGrid`). For a run's `run.yaml` (one point) its
 * `grid_point` is the grid; without overrides of what a run computes, its
 * id stays the one recorded.
 */
export function experimentPoints(
  parsed: Pick<ParsedExperiment, "kind" | "base" | "grid" | "sections">,
  overrides: readonly Override[] = [],
): GridPoint[] {
  const base = structuredClone(parsed.base) as unknown as Record<string, unknown>;
  const fileValues = structuredClone(base);
  const grid: Record<string, unknown[]> = parsed.kind === "run"
    ? Object.fromEntries(
      Object.entries((parsed.sections.grid_point ?? {}) as Record<string, unknown>)
        .map(([k, v]) => [k, [v]]),
    )
    : structuredClone(parsed.grid);
  const fileGrid = new Set(Object.keys(grid));
  // Canonical: the order of the arguments does not matter (keys the file's grid does not
  // vary follow its keys alphabetically), and a value equal to the file's is no override.
  const sorted = [...overrides].sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  const added: string[] = [];
  for (const o of sorted) {
    base[o.key] = structuredClone(o.values[0]);
    if (PLACE_KEYS.includes(o.key)) {
      delete grid[o.key];
    } else {
      grid[o.key] = structuredClone(o.values);
      if (!fileGrid.has(o.key)) added.push(o.key);
    }
  }
  const changesId = added.some((k) =>
    grid[k].length > 1 || !isDeepStrictEqual(grid[k][0], fileValues[k])
  );
  const settings = base as unknown as Experiment;
  if (parsed.kind === "run" && !changesId) {
    const point = structuredClone((parsed.sections.grid_point ?? {}) as Record<string, unknown>);
    for (const o of overrides) if (o.key in point) point[o.key] = structuredClone(o.values[0]);
    return [{ id: String(parsed.sections.id ?? "default"), settings, point }];
  }
  return expandGrid(
    { base: { ...settings, ...restore(fileValues, added) }, grid },
    undefined,
    added,
  );
}

/** The file's values of the added keys (the base a point's override is compared with). */
function restore(fileValues: Record<string, unknown>, keys: string[]): Partial<Experiment> {
  return Object.fromEntries(keys.map((k) => [k, structuredClone(fileValues[k])])) as Partial<
    Experiment
  >;
}
