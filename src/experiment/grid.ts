/**
 * Grids of experiments: expanding a file's `grid` into one run per point,
 * naming each run, and writing a run's fully resolved settings (`run.yaml`).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { Document, isSeq } from "../deps/yaml.ts";
import {
  checkSettings,
  type Experiment,
  type ParsedExperiment,
  parseExperiment,
  RUN_SECTIONS,
  SETTING_KEYS,
} from "./config.ts";

/** One point of a grid: its run id, its settings, and the grid values that made it. */
export interface GridPoint {
  /** Filesystem-safe id (`[A-Za-z0-9._=-]`), unique within the grid; `default` without grid. */
  id: string;
  /** The resolved settings of this point. */
  settings: Experiment;
  /** The grid's values for this point, keys in grid order; `{}` without grid. */
  point: Record<string, unknown>;
}

/** Longest id before it is shortened and completed with a hash. */
const MAX_ID = 120;

/**
 * A number as ids write it, one way for each value: below 0.1 in magnitude in
 * exponent form (`0.01` and `1e-2` -> `1e-2`, `0.0003` -> `3e-4`), otherwise
 * plainly (`0.5`, `0.999`, `1000`).
 *
 * @example
 * ```ts
 * import { numberText } from "./grid.ts";
 * const texts = [0.01, 1e-3, 3e-4, 0.05, 0.1, 0.5, 0.999, 1000, 0, -0.02, 2.5e-3];
 * if (texts.map(numberText).join(" ") !== "1e-2 1e-3 3e-4 5e-2 0.1 0.5 0.999 1000 0 -2e-2 2.5e-3") {
 *   throw new Error(texts.map(numberText).join(" "));
 * }
 * ```
 */
export function numberText(n: number): string {
  if (n !== 0 && Math.abs(n) < 0.1) return n.toExponential().replace("e+", "e");
  return String(n).replace("e+", "e");
}

function valueText(v: unknown): string {
  if (typeof v === "number") return numberText(v);
  if (Array.isArray(v)) return v.length === 0 ? "none" : v.map(valueText).join("-");
  // `32C5 - P2` and `32C5-P2` read the same (and would then collide, see expandGrid).
  return String(v).trim().replace(/\s*-\s*/g, "-");
}

/** The readable part of a point's id: numbers follow the key (`lr1e-4`), others after `=`. */
function rawId(point: Record<string, unknown>): string {
  return Object.entries(point).map(([k, v]) =>
    typeof v === "number" ? `${k}${numberText(v)}` : `${k}=${valueText(v)}`
  ).join("_").replace(/[^A-Za-z0-9._=-]+/g, "-");
}

/** 8 hex digits of the SHA-256 of the point's canonical JSON. */
function pointHash(point: Record<string, unknown>): string {
  return createHash("sha256").update(JSON.stringify(Object.entries(point))).digest("hex").slice(
    0,
    8,
  );
}

/**
 * The run id of one grid point, without regard to other points (see
 * {@link expandGrid}, which adds a hash where two ids would collide).
 *
 * @example
 * ```ts
 * import { pointId } from "./grid.ts";
 * if (pointId({ lr: 0.0001, seed: 1 }) !== "lr1e-4_seed1") throw new Error();
 * if (pointId({ dataset: "fmnist", augment: [] }) !== "dataset=fmnist_augment=none") throw new Error();
 * if (pointId({}) !== "default") throw new Error();
 * ```
 */
export function pointId(point: Record<string, unknown>): string {
  if (Object.keys(point).length === 0) return "default";
  const id = rawId(point);
  return id.length <= MAX_ID ? id : `${id.slice(0, MAX_ID - 9)}_${pointHash(point)}`;
}

/** Most points one experiment's grid may have; {@link expandGrid} refuses more, up front. */
export const MAX_GRID_POINTS = 10_000;

/** A grid with more points than one experiment may have: bad input (a usage error). */
export class GridTooLarge extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GridTooLarge";
  }
}

/** Points of an experiment's grid (the product of its value counts), without expanding it. */
export function gridSize(exp: Pick<ParsedExperiment, "grid">): number {
  return Object.values(exp.grid).reduce((n, values) => n * values.length, 1);
}

/**
 * Expands an experiment into its grid points: the cartesian product of the
 * grid's values, keys in file order (the first key varies slowest), values in
 * list order. Ids come from the point's values only (`lr1e-4_seed1`); where
 * two would collide (also ignoring case, for case-insensitive file systems),
 * both get a short hash of their point appended. Without a grid there is one
 * point with id `default`.
 *
 * @example
 * ```ts
 * import { parseExperiment } from "./config.ts";
 * import { expandGrid } from "./grid.ts";
 * const exp = parseExperiment(
 *   "dataset: fmnist\narch: 16C5-P2-100F\ngrid:\n  lr: [1.0e-3, 1.0e-4]\n  seed: [0, 1]\n",
 *   "g.yaml",
 * );
 * const ids = expandGrid(exp).map((p) => p.id);
 * if (ids.join(" ") !== "lr1e-3_seed0 lr1e-3_seed1 lr1e-4_seed0 lr1e-4_seed1") throw new Error();
 * ```
 */
export function expandGrid(
  exp: Pick<ParsedExperiment, "base" | "grid">,
  limit = MAX_GRID_POINTS,
  omitAtBase: readonly string[] = [],
): GridPoint[] {
  const keys = Object.keys(exp.grid);
  const size = gridSize(exp);
  if (size > limit) {
    throw new GridTooLarge(
      `Cannot expand the grid: it has ${size.toLocaleString("en")} points (${
        keys.map((k) => `${k} ${exp.grid[k].length}`).join(" x ")
      }), expected at most ${limit.toLocaleString("en")}; split it into several experiments`,
    );
  }
  const points: Record<string, unknown>[] = [];
  const walk = (i: number, acc: Record<string, unknown>) => {
    if (i === keys.length) {
      points.push({ ...acc });
      return;
    }
    for (const v of exp.grid[keys[i]]) {
      acc[keys[i]] = v;
      walk(i + 1, acc);
    }
  };
  walk(0, {});
  // A value equal to the file's own is no override: the point is the file's.
  const base = exp.base as unknown as Record<string, unknown>;
  for (const p of points) {
    for (const k of omitAtBase) {
      if (k in p && isDeepStrictEqual(p[k], base[k])) delete p[k];
    }
  }
  const ids = points.map(pointId);
  const count = new Map<string, number>();
  for (const id of ids) count.set(id.toLowerCase(), (count.get(id.toLowerCase()) ?? 0) + 1);
  const final = ids.map((id, i) =>
    count.get(id.toLowerCase())! > 1 ? `${id.slice(0, MAX_ID - 9)}_${pointHash(points[i])}` : id
  );
  const seen = new Map<string, number>();
  final.forEach((id, i) => {
    const j = seen.get(id.toLowerCase());
    if (j !== undefined) {
      throw new Error(
        `Cannot name grid points: expected unique ids, got '${id}' for both ` +
          `${JSON.stringify(points[j])} and ${JSON.stringify(points[i])} (duplicate grid values?)`,
      );
    }
    seen.set(id.toLowerCase(), i);
  });
  return points.map((point, i) => {
    const settings = structuredClone(exp.base);
    for (const [k, v] of Object.entries(point)) {
      (settings as unknown as Record<string, unknown>)[k] = structuredClone(v);
    }
    return { id: final[i], settings, point: structuredClone(point) };
  });
}

/**
 * Writes fully resolved settings as a `kind: run` YAML document: every
 * setting (a missing `description` stays missing), no grid, then the `extra`
 * sections (only names from {@link RUN_SECTIONS}, e.g. `point`, `results`,
 * `status`). {@link parseExperiment} reads it back to identical settings and
 * returns the sections separately. Throws if the settings are invalid, so a
 * bad run file is never written.
 *
 * @example
 * ```ts
 * import { parseExperiment } from "./config.ts";
 * import { resolvedYaml } from "./grid.ts";
 * const { base } = parseExperiment("dataset: mnist\narch: vgg7\n", "mnist.yaml");
 * const text = resolvedYaml(base, { status: "running" });
 * const back = parseExperiment(text, "runs/mnist/default/run.yaml");
 * if (back.base.lr !== base.lr || back.sections.status !== "running") throw new Error();
 * ```
 */
export function resolvedYaml(settings: Experiment, extra: Record<string, unknown> = {}): string {
  checkSettings(settings, `settings of '${settings?.name}'`);
  for (const key of Object.keys(extra)) {
    if (!(RUN_SECTIONS as readonly string[]).includes(key)) {
      throw new Error(
        `Cannot write run settings: extra section '${key}' expected one of ` +
          `${RUN_SECTIONS.join(", ")}`,
      );
    }
  }
  const body: Record<string, unknown> = { kind: "run" };
  for (const key of SETTING_KEYS) {
    if (settings[key] !== undefined) body[key] = settings[key];
  }
  const doc = new Document(body);
  for (const [k, v] of Object.entries(extra)) doc.set(k, v);
  // Lists of settings (also inside `grid_point`) read best on one line.
  for (
    const path of [...SETTING_KEYS.map((k) => [k]), ...SETTING_KEYS.map((k) => ["grid_point", k])]
  ) {
    const node = doc.getIn(path, true);
    if (isSeq(node)) node.flow = true;
  }
  doc.commentBefore = " firstspike run: resolved settings (every key, no grid), then results";
  const text = doc.toString({ lineWidth: 0 });
  const back = parseExperiment(text, "run.yaml");
  const want: Partial<Experiment> = { ...settings };
  if (want.description === undefined) delete want.description;
  if (!isDeepStrictEqual(back.base, want)) {
    throw new Error(
      `Cannot write run settings: expected them to read back unchanged, got ` +
        `${JSON.stringify(back.base)} for ${JSON.stringify(settings)}`,
    );
  }
  return text;
}
