/**
 * Report tables: one summary row per run, configurations grouped over seeds
 * (mean and sample standard deviation of test accuracy), markdown and CSV.
 *
 * @module
 */

import { escapeMarkdown } from "./escape.ts";
import type { EpochMetrics, RunRecord, RunState } from "./load.ts";
import { compareValues } from "./order.ts";

/** What the report shows for one run; values of unfinished runs come from metrics.jsonl. */
export interface RunSummary {
  id: string;
  state: RunState;
  epochsRun: number | null;
  bestEpoch: number | null;
  bestValAcc: number | null;
  /** Test accuracy at the best epoch. */
  testAcc: number | null;
  spikesPerSample: number | null;
  wallSeconds: number | null;
  grid: Record<string, unknown>;
  error: string | null;
}

/**
 * The best epoch in metrics: the first with the highest validation accuracy, or the
 * last epoch when no epoch has one (no validation split).
 */
export function bestEpochOf(metrics: EpochMetrics[]): EpochMetrics | null {
  if (metrics.length === 0) return null;
  let best: EpochMetrics | null = null;
  for (const m of metrics) {
    if (m.val_acc !== null && (best === null || m.val_acc > (best.val_acc as number))) best = m;
  }
  return best ?? metrics[metrics.length - 1];
}

/**
 * Summarises a run: `results` of run.yaml when present, otherwise what metrics.jsonl holds.
 *
 * @example
 * ```ts
 * import { summarizeRun } from "./table.ts";
 * const s = summarizeRun({
 *   id: "a", dir: "a", state: "running", error: null, reason: null, since: null,
 *   settings: {}, gridPoint: {},
 *   results: null, provenance: null, slurm: null, warnings: [],
 *   metrics: [
 *     { epoch: 1, val_acc: 0.5, test_acc: 0.4, seconds: 2, spikes_per_sample: 10 },
 *     { epoch: 2, val_acc: 0.6, test_acc: 0.55, seconds: 3, spikes_per_sample: 9 },
 *   ],
 * });
 * if (s.bestEpoch !== 2 || s.testAcc !== 0.55 || s.wallSeconds !== 5) throw new Error();
 * ```
 */
export function summarizeRun(run: RunRecord): RunSummary {
  const base = { id: run.id, state: run.state, grid: run.gridPoint, error: run.error };
  const r = run.results;
  if (r !== null) {
    return {
      ...base,
      epochsRun: r.epochs_run,
      bestEpoch: r.best_epoch,
      bestValAcc: r.best_val_acc,
      testAcc: r.test_acc,
      spikesPerSample: r.spikes_per_sample,
      wallSeconds: r.wall_seconds,
    };
  }
  const best = bestEpochOf(run.metrics);
  const secs = run.metrics.map((m) => m.seconds).filter((s): s is number => typeof s === "number");
  return {
    ...base,
    epochsRun: run.metrics.length > 0 ? run.metrics.length : null,
    bestEpoch: best?.epoch ?? null,
    bestValAcc: best?.val_acc ?? null,
    testAcc: best?.test_acc ?? null,
    spikesPerSample: best?.spikes_per_sample ?? null,
    wallSeconds: secs.length > 0 ? secs.reduce((a, b) => a + b, 0) : null,
  };
}

/** Settings that do not make a configuration: per-run bookkeeping and the seed. */
export const NOT_CONFIGURATION: ReadonlySet<string> = new Set([
  "seed",
  "output",
  "gpu",
  "name",
  "id",
  "run_id",
]);

/** JSON with sorted object keys, so equal settings give equal text. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  if (typeof v === "object" && v !== null) {
    const keys = Object.keys(v).sort();
    return `{${
      keys.map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
        .join(",")
    }}`;
  }
  return JSON.stringify(v ?? null);
}

/** Mean and sample standard deviation (n - 1; null below two values). */
export function meanStd(values: number[]): { mean: number | null; std: number | null } {
  const n = values.length;
  if (n === 0) return { mean: null, std: null };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, std: null };
  const ss = values.reduce((a, b) => a + (b - mean) * (b - mean), 0);
  return { mean, std: Math.sqrt(ss / (n - 1)) };
}

/** Runs that differ only in `seed`. */
export interface ConfigGroup {
  /** Text naming the settings that tell this configuration from the others. */
  label: string;
  /** The configuration's settings (without the seed and bookkeeping). */
  settings: Record<string, unknown>;
  /**
   * The settings that tell configurations apart (grid keys first), with this
   * configuration's values; the same keys in every group of one report.
   */
  varying: Record<string, unknown>;
  /** All runs of the configuration, in report order. */
  ids: string[];
  /** Finished runs with a test accuracy. */
  n: number;
  seeds: unknown[];
  testMean: number | null;
  testStd: number | null;
  valMean: number | null;
  valStd: number | null;
  spikesMean: number | null;
  spikesStd: number | null;
}

/** A setting's value as text: strings as they are, anything else as JSON. */
export function valueText(v: unknown): string {
  return typeof v === "string" ? v : stableJson(v);
}

/**
 * What null means for the settings that may be null (the experiment schema's
 * defaults): every sample, no limit, none, the default place.
 */
export const NULL_MEANS: Readonly<Record<string, string>> = {
  train_subset: "all",
  test_subset: "all",
  max_steps: "no limit",
  weight_clip: "none",
  init: "random",
  data_dir: "default",
  gpu: "default",
};

/**
 * A setting's value as a reader wants it in a label, table or legend: null as what
 * it means for that key ({@link NULL_MEANS}, else `none`), lists as `[a, b]` (an
 * empty one as `none`), strings as they are, numbers as JSON writes them.
 *
 * @example
 * ```ts
 * import { settingText } from "./table.ts";
 * const t = [settingText("train_subset", null), settingText("augment", ["crop", "flip"]),
 *   settingText("augment", []), settingText("lr", 0.001)].join(" ");
 * if (t !== "all [crop, flip] none 0.001") throw new Error(t);
 * ```
 */
export function settingText(key: string, v: unknown): string {
  if (v === null || v === undefined) return NULL_MEANS[key] ?? "none";
  if (Array.isArray(v)) {
    return v.length === 0 ? "none" : `[${v.map((x) => settingText(key, x)).join(", ")}]`;
  }
  return valueText(v);
}

/**
 * Groups runs that differ only in `seed` (and bookkeeping: {@link NOT_CONFIGURATION}).
 * Statistics use finished runs only. Best mean test accuracy first; groups with no
 * finished run last.
 */
export function groupBySeed(runs: RunRecord[], summaries: RunSummary[]): ConfigGroup[] {
  const byId = new Map(summaries.map((s) => [s.id, s]));
  const groups = new Map<string, { settings: Record<string, unknown>; runs: RunRecord[] }>();
  for (const run of runs) {
    if (run.state === "invalid" || run.state === "pending") continue;
    const settings: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(run.settings)) {
      if (!NOT_CONFIGURATION.has(k)) settings[k] = v;
    }
    const key = stableJson(settings);
    const g = groups.get(key) ?? { settings, runs: [] };
    g.runs.push(run);
    groups.set(key, g);
  }
  const all = [...groups.values()];
  // Label each group by the settings that vary between groups (grid keys first).
  const keys = new Set<string>();
  for (const g of all) Object.keys(g.settings).forEach((k) => keys.add(k));
  // Grid keys in the grid's order (the first one colours large grids), then the others.
  const gridOrder: string[] = [];
  for (const r of runs) {
    for (const k of Object.keys(r.gridPoint)) if (!gridOrder.includes(k)) gridOrder.push(k);
  }
  const rank = (k: string) => (gridOrder.includes(k) ? gridOrder.indexOf(k) : gridOrder.length);
  const varying = [...keys].filter((k) =>
    new Set(all.map((g) => stableJson(g.settings[k]))).size > 1
  ).sort((a, b) => rank(a) - rank(b));
  const out = all.map((g): ConfigGroup => {
    const done = g.runs.filter((r) => r.state === "done")
      .map((r) => byId.get(r.id) as RunSummary)
      .filter((s) => s.testAcc !== null);
    const test = meanStd(done.map((s) => s.testAcc as number));
    const vals = meanStd(
      done.map((s) => s.bestValAcc).filter((v): v is number => v !== null),
    );
    const spikes = meanStd(
      done.map((s) => s.spikesPerSample).filter((v): v is number => v !== null),
    );
    return {
      label: varying.length === 0
        ? "(all runs)"
        : varying.map((k) => `${k}=${settingText(k, g.settings[k])}`).join(", "),
      settings: g.settings,
      varying: Object.fromEntries(varying.map((k) => [k, g.settings[k]])),
      ids: g.runs.map((r) => r.id),
      n: done.length,
      seeds: done.map((s) => runs.find((r) => r.id === s.id)?.settings.seed),
      testMean: test.mean,
      testStd: test.std,
      valMean: vals.mean,
      valStd: vals.std,
      spikesMean: spikes.mean,
      spikesStd: spikes.std,
    };
  });
  return out.sort((a, b) => {
    if (a.testMean === null || b.testMean === null) {
      return a.testMean === null ? (b.testMean === null ? 0 : 1) : -1;
    }
    return b.testMean - a.testMean || a.label.localeCompare(b.label);
  });
}

/**
 * The groups in the order of their settings' values (numbers by value, key by key in
 * the order of {@link ConfigGroup.varying}): the order of legends and paper tables.
 */
export function naturalOrder(groups: ConfigGroup[]): ConfigGroup[] {
  return [...groups].sort((a, b) => {
    for (const k of Object.keys(a.varying)) {
      const c = compareValues(a.varying[k], b.varying[k]);
      if (c !== 0) return c;
    }
    return 0;
  });
}

/** Escapes a markdown table cell (see {@link escapeMarkdown}). */
export function mdCell(s: string): string {
  return escapeMarkdown(s);
}

/**
 * A markdown table.
 *
 * @example
 * ```ts
 * import { markdownTable } from "./table.ts";
 * const t = markdownTable(["a", "b"], [["1", "x|y"]], ["right", "left"]);
 * if (t !== "| a | b |\n| ---: | :--- |\n| 1 | x\\|y |\n") throw new Error(t);
 * ```
 */
export function markdownTable(
  header: string[],
  rows: string[][],
  align?: ("left" | "right")[],
): string {
  const line = (cells: string[]) => `| ${cells.map(mdCell).join(" | ")} |\n`;
  const sep = header.map((_, i) => (align?.[i] ?? "left") === "right" ? "---:" : ":---");
  return line(header) + `| ${sep.join(" | ")} |\n` + rows.map(line).join("");
}

/**
 * One CSV field (RFC 4180): quoted when it holds a comma, quote or line break.
 *
 * @example
 * ```ts
 * import { csvField } from "./table.ts";
 * if (csvField(`a,"b"`) !== `"a,""b"""`) throw new Error();
 * ```
 */
export function csvField(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return "";
  const s = typeof v === "number" ? (Number.isFinite(v) ? String(v) : "") : v;
  return /[",\r\n]/.test(s) || /^\s|\s$/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** CSV text with a header row and CRLF line ends. */
export function csvText(header: string[], rows: (string | number | null)[][]): string {
  return [header, ...rows].map((r) => r.map(csvField).join(",")).join("\r\n") + "\r\n";
}

/** Grid keys of all runs, in first-seen order. */
export function gridKeys(runs: { gridPoint: Record<string, unknown> }[]): string[] {
  const keys: string[] = [];
  for (const r of runs) {
    for (const k of Object.keys(r.gridPoint)) if (!keys.includes(k)) keys.push(k);
  }
  return keys;
}

const CSV_FIXED = [
  "id",
  "status",
  "epochs_run",
  "best_epoch",
  "best_val_acc",
  "test_acc",
  "spikes_per_sample",
  "wall_seconds",
];

/** Per-run CSV: fixed columns, then the grid keys (prefixed `grid.` if a name clashes), then error. */
export function runsCsv(summaries: RunSummary[], keys: string[]): string {
  const gridCols = keys.map((k) =>
    CSV_FIXED.includes(k) || k === "error" || k.startsWith("grid.") ? `grid.${k}` : k
  );
  const rows = summaries.map((s) => [
    s.id,
    s.state,
    s.epochsRun,
    s.bestEpoch,
    s.bestValAcc,
    s.testAcc,
    s.spikesPerSample,
    s.wallSeconds,
    // Null (the setting's default meaning) as an empty field, as CSV readers expect.
    ...keys.map((k) => (k in s.grid && s.grid[k] !== null ? valueText(s.grid[k]) : null)),
    s.error,
  ]);
  return csvText([...CSV_FIXED, ...gridCols, "error"], rows);
}

/** Accuracy as a percentage with two decimals; "–" for none. */
export function pct(v: number | null): string {
  return v === null ? "–" : (v * 100).toFixed(2);
}

/** Seconds as `12.3 s`, `4 min 05 s` or `2 h 03 min`. */
export function duration(s: number | null): string {
  if (s === null) return "–";
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.round(s - m * 60)).padStart(2, "0")} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${String(m - h * 60).padStart(2, "0")} min`;
}

function count(v: number | null): string {
  if (v === null) return "–";
  return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en-US") : String(Number(v.toFixed(1)));
}

/** The markdown table of runs: one row per run, then the grid keys. */
export function runsMarkdown(summaries: RunSummary[], keys: string[]): string {
  return markdownTable(
    [
      "id",
      "status",
      "epochs",
      "best epoch",
      "best val acc (%)",
      "test acc (%)",
      "spikes/sample",
      "wall time",
      ...keys,
    ],
    summaries.map((s) => [
      s.id,
      s.state,
      s.epochsRun === null ? "–" : String(s.epochsRun),
      s.bestEpoch === null ? "–" : String(s.bestEpoch),
      pct(s.bestValAcc),
      pct(s.testAcc),
      count(s.spikesPerSample),
      duration(s.wallSeconds),
      ...keys.map((k) => (k in s.grid ? settingText(k, s.grid[k]) : "")),
    ]),
    [
      "left",
      "left",
      "right",
      "right",
      "right",
      "right",
      "right",
      "right",
      ...keys.map(() => "left" as const),
    ],
  );
}

/** The markdown table of configurations over seeds. */
export function groupsMarkdown(groups: ConfigGroup[]): string {
  return markdownTable(
    [
      "configuration",
      "n",
      "test acc mean (%)",
      "test acc std (%)",
      "best val acc mean (%)",
      "spikes/sample mean",
      "runs",
    ],
    groups.map((g) => [
      g.label,
      String(g.n),
      pct(g.testMean),
      pct(g.testStd),
      pct(g.valMean),
      count(g.spikesMean),
      g.ids.join(", "),
    ]),
    ["left", "right", "right", "right", "right", "right", "left"],
  );
}
