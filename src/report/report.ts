/**
 * The results report of one experiment folder (`runs/<experiment>`):
 * `report.md`, `report.csv` and the figures `accuracy.svg`, `firing.svg`,
 * `spike_times.svg`.
 *
 * @module
 */

import { basename, join, resolve } from "node:path";
import { writeFileAtomic } from "../util/fs.ts";
import { readRuns, type RunRecord } from "./load.ts";
import {
  type ConfigGroup,
  gridKeys,
  groupBySeed,
  groupsMarkdown,
  mdCell,
  pct,
  runsCsv,
  runsMarkdown,
  type RunSummary,
  summarizeRun,
} from "./table.ts";
import { accuracyFigure, firingFigure, spikeTimesFigure } from "./figures.ts";

/** Names of the figure files. */
export const FIGURES = ["accuracy.svg", "firing.svg", "spike_times.svg"] as const;

/** A built report, not yet written. */
export interface Report {
  experiment: string;
  runs: RunRecord[];
  summaries: RunSummary[];
  groups: ConfigGroup[];
  /** The best run: highest best validation accuracy (test accuracy without one). */
  best: RunSummary | null;
  /** The markdown runs table alone (what the task prints). */
  table: string;
  markdown: string;
  csv: string;
  figures: Record<(typeof FIGURES)[number], string>;
}

/**
 * The best run: finished runs first (running ones only if none finished), highest best
 * validation accuracy, or test accuracy where no validation accuracy exists; ties go to
 * the first id.
 */
export function bestRun(summaries: RunSummary[]): RunSummary | null {
  const score = (s: RunSummary) => s.bestValAcc ?? s.testAcc;
  for (const state of ["done", "running"] as const) {
    let best: RunSummary | null = null;
    for (const s of summaries) {
      if (s.state !== state || score(s) === null) continue;
      if (best === null || (score(s) as number) > (score(best) as number)) best = s;
    }
    if (best) return best;
  }
  return null;
}

/** Reads an experiment folder and builds its report. */
export async function buildReport(expDir: string): Promise<Report> {
  const experiment = basename(resolve(expDir));
  const runs = await readRuns(expDir);
  const summaries = runs.map(summarizeRun);
  const groups = groupBySeed(runs, summaries);
  const best = bestRun(summaries);
  const keys = gridKeys(runs);
  const table = runsMarkdown(summaries, keys);
  const bestRecord = best ? runs.find((r) => r.id === best.id) ?? null : null;

  const countOf = (s: string) => summaries.filter((x) => x.state === s).length;
  const counts = ["done", "running", "failed", "pending", "invalid"]
    .filter((s) => countOf(s) > 0)
    .map((s) => `${countOf(s)} ${s}`);
  const md: string[] = [
    `# Report: ${experiment}`,
    "",
    `${runs.length} run${runs.length === 1 ? "" : "s"}` +
    (counts.length ? `: ${counts.join(", ")}.` : "."),
  ];
  if (best) {
    md.push(
      `Best: \`${best.id}\` (${best.state}), test accuracy ${pct(best.testAcc)} % at epoch ` +
        `${best.bestEpoch ?? "–"}, best validation accuracy ${pct(best.bestValAcc)} %.`,
    );
  }
  if (summaries.some((s) => s.state === "running")) {
    md.push("", "Running runs show what their metrics.jsonl holds so far.");
  }
  md.push("", "## Runs", "", table);
  md.push("## Configurations over seeds", "");
  if (groups.length > 0) {
    md.push(
      "Runs that differ only in `seed` form one configuration; mean and sample standard " +
        "deviation (n - 1) over its finished runs, best first.",
      "",
      groupsMarkdown(groups),
    );
  } else {
    md.push("No readable runs.", "");
  }
  const failed = runs.filter((r) => r.state === "failed" || r.state === "invalid");
  if (failed.length > 0) {
    md.push("## Failed", "");
    for (const r of failed) md.push(`- \`${r.id}\` (${r.state}): ${mdCell(r.error ?? "")}`);
    md.push("");
  }
  const warnings = runs.flatMap((r) => r.warnings);
  if (warnings.length > 0) {
    md.push("## Warnings", "", ...warnings.map((w) => `- ${mdCell(w)}`), "");
  }
  md.push(
    "## Figures",
    "",
    "![Accuracy per epoch](accuracy.svg)",
    "",
    "![Firing per layer](firing.svg)",
    "",
    "![Spike times per layer](spike_times.svg)",
    "",
  );
  return {
    experiment,
    runs,
    summaries,
    groups,
    best,
    table,
    markdown: md.join("\n"),
    csv: runsCsv(summaries, keys),
    figures: {
      "accuracy.svg": accuracyFigure(runs, `Accuracy per epoch: ${experiment}`),
      "firing.svg": firingFigure(bestRecord),
      "spike_times.svg": spikeTimesFigure(bestRecord, best?.bestEpoch ?? null),
    },
  };
}

/**
 * Writes `report.md`, `report.csv` and the figures into `outDir` (created if missing);
 * returns the paths written.
 */
export async function writeReport(report: Report, outDir: string): Promise<string[]> {
  await Deno.mkdir(outDir, { recursive: true });
  const files: [string, string][] = [
    ["report.md", report.markdown],
    ["report.csv", report.csv],
    ...FIGURES.map((f): [string, string] => [f, report.figures[f]]),
  ];
  const written: string[] = [];
  for (const [name, data] of files) {
    const p = join(outDir, name);
    await writeFileAtomic(p, data);
    written.push(p);
  }
  return written;
}
