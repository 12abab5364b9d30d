/**
 * The report of a search (an experiment folder with `search/<grid id>/`):
 * its best trial and a ready-to-run experiment file of its settings
 * (`best.yaml`), a trials table with the rung each reached, and the search's
 * figures (`search_figures.ts`). Read from the search's files and its trials'
 * run folders; a running search reports what is recorded so far.
 *
 * @module
 */

import { join } from "node:path";
import { metricGoal, type SearchSpec } from "../experiment/search_spec.ts";
import { bestExperimentText } from "../search/best.ts";
import { bestJob, type Job, latestJobs, type Schedule } from "../search/schedule.ts";
import { readHeader, readJobs, type SearchHeader } from "../search/state.ts";
import { escapeMarkdown } from "./escape.ts";
import { lockIsLive, type RunRecord } from "./load.ts";
import { csvText, markdownTable } from "./table.ts";

/** One trial of a search as the report lists it. */
export interface TrialRow {
  id: string;
  index: number;
  /** `done`, `pruned`, `failed`, `running`, `to resume` (its worker stopped) or `ended early`. */
  state: string;
  /** The highest rung it reached or is training to (1-based), of `rungs`. */
  rung: number;
  rungs: number;
  /** Epochs it trained. */
  epochs: number;
  /** The metric at its rung (best over its epochs so far); null when none. */
  value: number | null;
  /** Test accuracy at its best validation epoch so far. */
  testAcc: number | null;
  bracket: number;
  /** Its drawn values (and the grid point's). */
  point: Record<string, unknown>;
  error: string | null;
}

/** One search of an experiment folder, read. */
export interface SearchData {
  gridId: string;
  dir: string;
  header: SearchHeader;
  /** The schedule's rungs and goal (enough to rank). */
  schedule: Pick<Schedule, "rungs" | "goal">;
  metric: SearchSpec["metric"];
  /** The searched settings, in order: on a log scale, and a choice's values in order. */
  keys: { key: string; log: boolean; choice: boolean; values: unknown[] }[];
  jobs: Job[];
  trials: TrialRow[];
  best: Job | null;
  /** The best trial's experiment file; null before any trial finished. */
  bestYaml: string | null;
}

/** The grid ids of the searches in an experiment folder (none: not a search). */
export async function searchIds(expDir: string): Promise<string[]> {
  const ids: string[] = [];
  try {
    for await (const e of Deno.readDir(join(expDir, "search"))) {
      if (e.isDirectory && (await readHeader(join(expDir, "search", e.name)) !== null)) {
        ids.push(e.name);
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return ids.sort();
}

/** Reads one search; `runs` are the experiment's run folders (its trials among them). */
export async function readSearch(
  expDir: string,
  gridId: string,
  runs: RunRecord[],
): Promise<SearchData> {
  const dir = join(expDir, "search", gridId);
  const header = (await readHeader(dir))!;
  const metric = String(header.search.metric) as SearchSpec["metric"];
  const schedule = { rungs: header.schedule.rungs, goal: metricGoal(metric) };
  const space = (header.search.space ?? {}) as Record<string, Record<string, unknown>>;
  const keys = Object.entries(space).map(([key, d]) => ({
    key,
    log: "log_uniform" in d || ("int" in d && d.log === true),
    choice: "choice" in d,
    values: Array.isArray(d.choice) ? d.choice : [],
  }));
  const jobs = await readJobs(dir);
  const byId = new Map(runs.map((r) => [r.id, r]));
  const K = schedule.rungs.length;
  const trials: TrialRow[] = [];
  for (const j of latestJobs(jobs)) {
    const run = byId.get(j.trial);
    let state: string;
    if (!j.result) {
      state = run && (await lockIsLive(run.dir)) ? "running" : "to resume";
    } else if (j.result.state === "failed") state = "failed";
    else if (j.result.final) state = j.rung === K - 1 ? "done" : "ended early";
    else state = "pruned";
    const lastDone = j.result ? j : jobs.find((x) => x.index === j.index && x.rung === j.rung - 1);
    trials.push({
      id: j.trial,
      index: j.index,
      state,
      rung: j.rung + 1,
      rungs: K,
      epochs: run?.metrics.length ?? j.result?.epochs_run ?? 0,
      value: lastDone?.result?.value ?? null,
      testAcc: j.result?.test_acc ?? run?.results?.test_acc ?? null,
      bracket: j.bracket,
      point: j.point,
      error: j.result?.error ?? null,
    });
  }
  const best = bestJob(schedule as Schedule, jobs);
  const bestYaml = best
    ? bestExperimentText({
      settings: header.settings,
      gridId,
      metric,
      drawn: keys.map((k) => k.key),
    }, best)
    : null;
  return { gridId, dir, header, schedule, metric, keys, jobs, trials, best, bestYaml };
}

/** Reads every search of an experiment folder. */
export async function readSearches(expDir: string, runs: RunRecord[]): Promise<SearchData[]> {
  const out: SearchData[] = [];
  for (const id of await searchIds(expDir)) out.push(await readSearch(expDir, id, runs));
  return out;
}

/** A metric value: accuracies in %, losses as numbers. */
export function metricText(metric: string, v: number | null | undefined): string {
  if (v === null || v === undefined) return "–";
  return metric.endsWith("_acc") ? (v * 100).toFixed(2) : v.toFixed(4);
}

/** A drawn value, short (3 significant digits for reals). */
export function drawnText(v: unknown): string {
  if (typeof v === "number" && !Number.isInteger(v)) {
    const t = Number(v.toPrecision(3));
    return Math.abs(t) < 1e-2 || Math.abs(t) >= 1e4 ? t.toExponential().replace("e+", "e") : `${t}`;
  }
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** The trials, best first: the highest rung reached, then the metric. */
export function rankedTrials(s: SearchData): TrialRow[] {
  const sign = s.schedule.goal === "max" ? 1 : -1;
  return [...s.trials].sort((a, b) => {
    const ra = a.state === "failed" ? -1 : a.rung, rb = b.state === "failed" ? -1 : b.rung;
    if (ra !== rb) return rb - ra;
    const va = a.value === null ? -Infinity : sign * a.value;
    const vb = b.value === null ? -Infinity : sign * b.value;
    return vb - va || a.index - b.index;
  });
}

/** The header of the trials table (fixed columns, then the searched settings). */
export function trialColumns(s: SearchData): string[] {
  const unit = s.metric.endsWith("_acc") ? " (%)" : "";
  return [
    "trial",
    "state",
    "rung",
    "epochs",
    `${s.metric}${unit}`,
    "test acc (%)",
    ...(s.header.search.scheduler === "hyperband" ? ["bracket"] : []),
    ...s.keys.map((k) => k.key),
  ];
}

/** One row of the trials table, as text. */
export function trialCells(s: SearchData, t: TrialRow): string[] {
  return [
    t.id,
    t.state,
    `${t.rung} of ${t.rungs}`,
    String(t.epochs),
    metricText(s.metric, t.value),
    t.testAcc === null ? "–" : (t.testAcc * 100).toFixed(2),
    ...(s.header.search.scheduler === "hyperband" ? [String(t.bracket + 1)] : []),
    ...s.keys.map((k) => drawnText(t.point[k.key])),
  ];
}

/** `trials.csv` (one row per trial; numbers in full). */
export function trialsCsv(searches: SearchData[]): string {
  const keys = [...new Set(searches.flatMap((s) => s.keys.map((k) => k.key)))];
  const rows = searches.flatMap((s) =>
    rankedTrials(s).map((t) => [
      s.gridId,
      t.id,
      t.state,
      t.rung,
      t.epochs,
      s.metric,
      t.value,
      t.testAcc,
      t.bracket + 1,
      ...keys.map((k) => (k in t.point ? drawnText(t.point[k]) : null)),
      t.error,
    ])
  );
  return csvText(
    [
      "search",
      "trial",
      "state",
      "rung",
      "epochs",
      "metric",
      "value",
      "test_acc",
      "bracket",
      ...keys,
      "error",
    ],
    rows,
  );
}

/** One line saying what a search is and where it stands. */
export function searchSummary(s: SearchData): string {
  const h = s.header.search;
  const count = (state: string) => s.trials.filter((t) => t.state === state).length;
  const parts = ["done", "pruned", "running", "to resume", "failed", "ended early"]
    .filter((st) => count(st) > 0).map((st) => `${count(st)} ${st}`);
  const epochs = s.trials.reduce((n, t) => n + t.epochs, 0);
  const how = h.scheduler === "none"
    ? "every trial to the last epoch"
    : `${h.scheduler === "asha" ? "ASHA" : "Hyperband"} over rungs of ${
      s.schedule.rungs.join(", ")
    } epochs, keeping 1/${h.reduction}`;
  return `${s.trials.length} of ${h.trials} trials started (${parts.join(", ") || "none yet"}); ` +
    `${h.sampler} sampling, seed ${h.seed}; ${how}; ranked by ${s.metric} (${
      s.schedule.goal === "max" ? "higher" : "lower"
    } is better); ${epochs} epochs trained.`;
}

/** The best trial, in one sentence. */
export function bestLine(s: SearchData): string {
  if (!s.best) return "No trial has finished a rung yet.";
  const b = s.best, r = b.result!;
  const drawn = s.keys.map((k) => `${k.key} ${drawnText(b.point[k.key])}`).join(", ");
  return `Best trial: ${b.trial} (rung ${b.rung + 1} of ${s.schedule.rungs.length}, ${b.epochs} ` +
    `epochs): ${s.metric} ${metricText(s.metric, r.value)}${
      s.metric.endsWith("_acc") ? " %" : ""
    }, test accuracy ${
      r.test_acc === null || r.test_acc === undefined ? "–" : (r.test_acc * 100).toFixed(2)
    } %; ${drawn}.`;
}

/** The search section of report.md. */
export function searchMarkdown(searches: SearchData[]): string {
  const md: string[] = ["## Search", ""];
  for (const s of searches) {
    if (searches.length > 1 || s.gridId !== "default") {
      md.push(`### ${escapeMarkdown(s.gridId)}`, "");
    }
    md.push(escapeMarkdown(searchSummary(s)), "", escapeMarkdown(bestLine(s)), "");
    if (s.bestYaml) {
      const file = searches.length > 1 || s.gridId !== "default"
        ? `best-${s.gridId}.yaml`
        : "best.yaml";
      md.push(
        `Its settings, ready to run (\`${file}\`; \`deno task exp ${file}\` trains it again, to the same weights):`,
        "",
        "```yaml",
        s.bestYaml.trimEnd(),
        "```",
        "",
      );
    }
    const cols = trialColumns(s);
    md.push(
      "Trials, best first (the highest rung reached, then the metric there; `trials.csv` has them all):",
      "",
      markdownTable(
        cols,
        rankedTrials(s).map((t) => trialCells(s, t)),
        cols.map((_, i) => (i >= 2 && i <= 5 ? "right" : "left")),
      ),
    );
  }
  md.push(
    "Figures: `search_curves.svg` (the metric per epoch of every trial, those the scheduler " +
      "stopped marked where they stopped, rungs as rules), `search_params.svg` (the metric " +
      "against each searched setting, log axes for log distributions) and `search_parallel.svg` " +
      "(parallel coordinates of the settings and the metric).",
    "",
  );
  return md.join("\n");
}

/** The file name of a search's best-trial experiment file in the report folder. */
export function bestFileName(s: SearchData, all: SearchData[]): string {
  return all.length > 1 || s.gridId !== "default" ? `best-${s.gridId}.yaml` : "best.yaml";
}
