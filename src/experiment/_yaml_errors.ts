/**
 * Private helpers for experiment files: mapping a key path to its line and
 * column in the YAML source, describing values, suggesting keys, and the
 * {@link ExperimentError} that collects every problem of one file.
 *
 * @module
 */

import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  type LineCounter,
  type Node,
} from "../deps/yaml.ts";

/** A key path inside a document: mapping keys and sequence indices. */
export type KeyPath = readonly (string | number)[];

/** One problem in an experiment file. */
export interface ExperimentIssue {
  /** The file (or other source name) the problem is in. */
  source: string;
  /** 1-based line, or null when the problem has no place in the text (e.g. unreadable file). */
  line: number | null;
  /** 1-based column, or null like {@link ExperimentIssue.line}. */
  col: number | null;
  /** Dotted key path such as `betas[1]` or `grid.lr[0]`; empty for the whole document. */
  path: string;
  /** What was expected and what came, without the location prefix. */
  message: string;
}

/** Formats one issue as `source:line:col: path: message`. */
export function formatIssue(issue: ExperimentIssue): string {
  const where = issue.line === null ? issue.source : `${issue.source}:${issue.line}:${issue.col}`;
  return issue.path === ""
    ? `${where}: ${issue.message}`
    : `${where}: ${issue.path}: ${issue.message}`;
}

/**
 * Every problem found in one experiment file, reported together. The message
 * lists each issue on its own line as `file:line:col: key.path: expected ..., got ...`.
 *
 * @example
 * ```ts
 * import { ExperimentError } from "./_yaml_errors.ts";
 * const err = new ExperimentError([
 *   { source: "x.yaml", line: 2, col: 5, path: "lr", message: "expected a positive number, got -1" },
 * ]);
 * if (err.message !== "x.yaml:2:5: lr: expected a positive number, got -1") throw new Error();
 * ```
 */
export class ExperimentError extends Error {
  /** The problems, sorted by position in the file. */
  readonly issues: ExperimentIssue[];

  /** Builds the error from at least one issue. */
  constructor(issues: ExperimentIssue[]) {
    const sorted = [...issues].sort((a, b) =>
      (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0) || a.path.localeCompare(b.path)
    );
    const lines = sorted.map(formatIssue);
    super(
      lines.length === 1
        ? lines[0]
        : `${lines.length} problems in experiment '${sorted[0]?.source}':\n` +
          lines.map((l) => `  ${l}`).join("\n"),
    );
    this.name = "ExperimentError";
    this.issues = sorted;
  }
}

/** Formats a key path: `["grid", "lr", 1]` -> `grid.lr[1]`. */
export function pathString(path: KeyPath): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else out += out === "" ? seg : `.${seg}`;
  }
  return out;
}

/** Describes a value for a message: strings quoted, lists and maps as short JSON. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "number") {
    return Number.isNaN(value)
      ? ".nan"
      : Number.isFinite(value)
      ? String(value)
      : `${value < 0 ? "-" : ""}.inf`;
  }
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  if (Array.isArray(value)) text = text.replaceAll(",", ", ");
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Reads the value at `path` from plain data; undefined when it is not there. */
export function valueAt(data: unknown, path: KeyPath): unknown {
  let cur = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

/**
 * The 1-based line and column of the node at `path` in `doc` (of its key when
 * `key` is true). Walks as far as the path exists and falls back to the
 * deepest node found, then to the start of the document.
 */
export function locate(
  doc: Document,
  lineCounter: LineCounter,
  path: KeyPath,
  key = false,
): { line: number; col: number } {
  const at = (offset: number) => lineCounter.linePos(offset);
  let node: Node | null = doc.contents as Node | null;
  let best = node?.range ? node.range[0] : 0;
  for (let i = 0; i < path.length; i++) {
    if (node !== null && isAlias(node)) node = (node.resolve(doc) as Node | undefined) ?? null;
    const seg = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) =>
        String(isScalar(p.key) ? p.key.value : p.key) === String(seg)
      );
      if (!pair) break;
      const keyNode = pair.key as Node | null;
      if (keyNode?.range) best = keyNode.range[0];
      if (last && key) return at(best);
      node = pair.value as Node | null;
      // An empty value (`lr:`) still gets a scalar node; prefer the key when it has no text.
      if (node?.range && node.range[1] > node.range[0]) best = node.range[0];
    } else if (isSeq(node) && typeof seg === "number") {
      const item = node.items[seg] as Node | undefined;
      if (!item) break;
      node = item;
      if (node.range) best = node.range[0];
    } else {
      break;
    }
  }
  return at(best);
}

/** Edit distance counting insertions, deletions, substitutions and swaps of neighbours as 1. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from(
    { length: a.length + 1 },
    (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/** Common other names for settings, mapped to the key this toolkit uses. */
const ALIASES: Readonly<Record<string, string>> = {
  learning_rate: "lr",
  lr_decay: "annealing",
  lr_annealing: "annealing",
  gamma: "annealing",
  decay: "weight_decay",
  patience: "early_stopping",
  architecture: "arch",
  model: "arch",
  network: "arch",
  data: "dataset",
  optim: "optimizer",
  window: "t_win",
  time_window: "t_win",
  dtype: "precision",
  clip: "grad_clip",
  gradient_clip: "grad_clip",
  val_fraction: "validation_fraction",
  val_split: "validation_fraction",
  validation_split: "validation_fraction",
  augmentation: "augment",
  augmentations: "augment",
  iterations: "max_steps",
  steps: "max_steps",
  out: "output",
  output_dir: "output",
  weights: "init",
  checkpoint: "init",
};

/** Lower snake case: `batchSize`, `batch-size`, `Batch Size` -> `batch_size`. */
function normalizeKey(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase().replace(/[-\s]+/g, "_");
}

/**
 * The most likely intended key for an unknown `key` among `candidates`, or
 * null: same key in another spelling, a known alias, matching initials
 * (`learning_rate` -> `lr`), or the nearest by edit distance.
 *
 * @example
 * ```ts
 * import { suggestKey } from "./_yaml_errors.ts";
 * if (suggestKey("learning_rate", ["lr", "seed"]) !== "lr") throw new Error();
 * if (suggestKey("sede", ["lr", "seed"]) !== "seed") throw new Error();
 * if (suggestKey("colour", ["lr", "seed"]) !== null) throw new Error();
 * ```
 */
export function suggestKey(key: string, candidates: readonly string[]): string | null {
  const norm = normalizeKey(key);
  if (candidates.includes(norm)) return norm;
  const alias = ALIASES[norm];
  if (alias !== undefined && candidates.includes(alias)) return alias;
  const initials = (s: string) => s.split("_").filter((w) => w !== "").map((w) => w[0]).join("");
  if (norm.includes("_")) {
    const hit = candidates.find((c) => c === initials(norm));
    if (hit) return hit;
  }
  const hitByInitials = candidates.find((c) => c.includes("_") && initials(c) === norm);
  if (hitByInitials) return hitByInitials;
  let best: string | null = null;
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = editDistance(norm, c);
    if (d < bestDist) [best, bestDist] = [c, d];
  }
  const limit = Math.max(1, Math.min(3, Math.floor(norm.length / 3)));
  if (best !== null && bestDist <= limit) return best;
  // A prefix like `weight` for `weight_decay` / `weight_clip` is ambiguous unless one key matches.
  const prefixed = candidates.filter((c) =>
    norm.length >= 3 && (c.startsWith(norm) || norm.startsWith(c))
  );
  return prefixed.length === 1 ? prefixed[0] : null;
}

/** Most alias expansions a document may make (npm `yaml`'s default). */
const MAX_ALIASES = 100;

/**
 * A YAML document's value, or what is wrong with its aliases: too many
 * expansions (a "billion laughs" document), or an alias before its anchor.
 * `at` is the offset of the first alias in the text, for the error's line.
 *
 * @example
 * ```ts
 * import { parseDocument } from "../deps/yaml.ts";
 * import { yamlValue } from "./_yaml_errors.ts";
 * const bad = yamlValue(parseDocument("*a"));
 * if (!("problem" in bad) || !bad.problem.includes("'*a'")) throw new Error(JSON.stringify(bad));
 * const ok = yamlValue(parseDocument("[1, 2]"));
 * if (!("value" in ok)) throw new Error();
 * ```
 */
export function yamlValue(
  doc: Document,
): { value: unknown } | { problem: string; at: number | null } {
  try {
    return { value: doc.toJS({ maxAliasCount: MAX_ALIASES }) };
  } catch (e) {
    let first: Node | null = null;
    let name = "";
    const visit = (n: unknown): void => {
      if (first !== null || n === null || typeof n !== "object") return;
      if (isAlias(n)) {
        first = n;
        name = n.source;
        return;
      }
      if (isMap(n) || isSeq(n)) {
        for (const item of n.items as unknown[]) {
          const pair = item as { key?: unknown; value?: unknown };
          if (isMap(n)) {
            visit(pair.key);
            visit(pair.value);
          } else visit(item);
        }
      }
    };
    visit(doc.contents);
    const at = (first as Node | null)?.range?.[0] ?? null;
    const msg = (e as Error).message;
    if (/alias count/i.test(msg)) {
      return {
        problem: `expected YAML whose aliases expand to at most ${MAX_ALIASES} copies, got ` +
          `more (aliases of aliases multiply: write the values out)`,
        at,
      };
    }
    if (/unresolved alias/i.test(msg)) {
      return {
        problem: `expected a value, got the YAML alias '*${name}' with no anchor '&${name}' ` +
          `before it (quote a string that starts with '*')`,
        at,
      };
    }
    return { problem: `cannot read the YAML: ${msg}`, at };
  }
}
