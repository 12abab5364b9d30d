/**
 * The results report of one experiment folder (`runs/<experiment>`):
 * `report.md`, `report.csv`, `report.tex` (a booktabs table), `report.html`
 * (one self-contained page with the tables and interactive figures) and each
 * figure as `<name>.svg` beside its Vega-Lite spec `<name>.vl.json`.
 *
 * @module
 */

import { basename, join, resolve } from "node:path";
import { writeFileAtomic } from "../util/fs.ts";
import { escapeMarkdown } from "./escape.ts";
import { type LegendPlan, legendPlan } from "./figure_data.ts";
import {
  FIGURE_CAPTIONS,
  FIGURE_NAMES,
  FIGURE_WIDTH,
  figureFile,
  type FigureName,
  type FigureSize,
  reportFigures,
  type VlSpec,
} from "./figures.ts";
import { reportHtml } from "./html.ts";
import { latexTable } from "./latex.ts";
import { readRuns, RUN_STATES, type RunRecord } from "./load.ts";
import {
  type ConfigGroup,
  gridKeys,
  groupBySeed,
  groupsMarkdown,
  markdownTable,
  pct,
  runsCsv,
  runsMarkdown,
  type RunSummary,
  settingText,
  summarizeRun,
} from "./table.ts";
import { drawAtWidth } from "./vega.ts";
import { buildSearchReport, searchHtml, type SearchReport } from "./search_report.ts";

/** One figure: its Vega-Lite spec, the SVG drawn from it (sized in points) and its caption. */
export interface Figure {
  spec: VlSpec;
  svg: string;
  caption: string;
}

/** A built report, not yet written. */
export interface Report {
  experiment: string;
  runs: RunRecord[];
  summaries: RunSummary[];
  /** Configurations, best mean test accuracy first. */
  groups: ConfigGroup[];
  /** Colours and natural order of the configurations. */
  plan: LegendPlan;
  /** The best run: highest best validation accuracy (test accuracy without one). */
  best: RunSummary | null;
  /** The markdown runs table alone. */
  table: string;
  markdown: string;
  csv: string;
  latex: string;
  html: string;
  /** The figures sized for a page's text width (`<name>.svg`). */
  figures: Record<FigureName, Figure>;
  /** The figures sized for one column (`<name>-column.svg`). */
  columnFigures: Record<FigureName, Figure>;
  /** A search's part (best trial and its settings, trials, figures); null without a search. */
  search: SearchReport | null;
}

/** The files a report writes besides the figures. */
export const REPORT_FILES = ["report.md", "report.csv", "report.tex", "report.html"] as const;

/**
 * The best run: finished runs first (then running, then stopped ones), highest best
 * validation accuracy, or test accuracy where no validation accuracy exists; ties go
 * to the first id.
 */
export function bestRun(summaries: RunSummary[]): RunSummary | null {
  const score = (s: RunSummary) => s.bestValAcc ?? s.testAcc;
  for (const state of ["done", "running", "stopped"] as const) {
    let best: RunSummary | null = null;
    for (const s of summaries) {
      if (s.state !== state || score(s) === null) continue;
      if (best === null || (score(s) as number) > (score(best) as number)) best = s;
    }
    if (best) return best;
  }
  return null;
}

/**
 * The spike window of the runs (`t_win`), when they all agree; otherwise 1 (the
 * histograms' bins are then read as fractions of each run's window).
 */
export function spikeWindow(runs: RunRecord[]): number {
  const wins = new Set(
    runs.map((r) => r.settings.t_win).filter((t): t is number => typeof t === "number" && t > 0),
  );
  return wins.size === 1 ? [...wins][0] : 1;
}

/** Distinct values of a setting over the runs, as text. */
function settingValues(runs: RunRecord[], key: string): string[] {
  return [
    ...new Set(
      runs.filter((r) => key in r.settings).map((r) => settingText(key, r.settings[key])),
    ),
  ];
}

/** Reads an experiment folder and builds its report (figures rendered). */
export async function buildReport(expDir: string): Promise<Report> {
  const experiment = basename(resolve(expDir));
  const runs = await readRuns(expDir);
  const summaries = runs.map(summarizeRun);
  const groups = groupBySeed(runs, summaries);
  const plan = legendPlan(groups);
  const best = bestRun(summaries);
  const keys = gridKeys(runs);
  const table = runsMarkdown(summaries, keys);
  const drawn = {} as Record<FigureSize, Record<FigureName, Figure>>;
  for (const size of ["page", "column"] as const) {
    const drafts = reportFigures(plan, runs, summaries, experiment, spikeWindow(runs), size);
    drawn[size] = {} as Record<FigureName, Figure>;
    for (const name of FIGURE_NAMES) {
      const file = `${figureFile(name, size)}.svg`;
      const { spec, svg } = await drawAtWidth(drafts[name], FIGURE_WIDTH[size], file);
      drawn[size][name] = { spec, svg, caption: drafts[name].caption };
    }
  }
  const figures = drawn.page;
  const latex = latexTable(groups, experiment);
  const csv = runsCsv(summaries, keys);
  const search = await buildSearchReport(expDir, runs);

  const countOf = (s: string) => summaries.filter((x) => x.state === s).length;
  const counts = RUN_STATES.filter((s) => countOf(s) > 0).map((s) => `${countOf(s)} ${s}`);
  const md: string[] = [
    `# Report: ${escapeMarkdown(experiment)}`,
    "",
    `${runs.length} run${runs.length === 1 ? "" : "s"}` +
    (counts.length ? `: ${counts.join(", ")}.` : "."),
  ];
  const described = ["dataset", "arch"].map((k) => [k, settingValues(runs, k)] as const)
    .filter(([, v]) => v.length > 0);
  if (described.length > 0) {
    md.push(
      described.map(([k, v]) =>
        `${k === "arch" ? "Architecture" : "Dataset"}: ${v.map(escapeMarkdown).join(", ")}`
      ).join(". ") + ".",
    );
  }
  if (best) {
    md.push(
      `Best: ${escapeMarkdown(best.id)} (${best.state}), test accuracy ${
        pct(best.testAcc)
      } % at epoch ${best.bestEpoch ?? "–"}, best validation accuracy ${pct(best.bestValAcc)} %.`,
    );
  }
  if (summaries.some((s) => s.state === "running" || s.state === "stopped")) {
    md.push(
      "",
      "Running and stopped runs show what their metrics.jsonl holds so far; a stopped run " +
        "(no live runner) resumes from its checkpoint when the experiment runs again.",
    );
  }
  if (search) md.push("", search.markdown);
  md.push("", "## Runs", "", table);
  md.push("## Configurations over seeds", "");
  if (groups.length > 0) {
    md.push(
      "Runs that differ only in `seed` form one configuration; mean and sample standard " +
        "deviation (n - 1) over its finished runs, best first. `report.tex` has this table " +
        "for LaTeX (booktabs).",
      "",
      groupsMarkdown(groups),
    );
  } else {
    md.push("No readable runs.", "");
  }
  const failed = runs.filter((r) => r.state === "failed" || r.state === "invalid");
  if (failed.length > 0) {
    md.push("## Failed", "");
    for (const r of failed) {
      md.push(`- ${escapeMarkdown(r.id)} (${r.state}): ${escapeMarkdown(r.error ?? "")}`);
    }
    md.push("");
  }
  const warnings = runs.flatMap((r) => r.warnings);
  if (warnings.length > 0) {
    md.push("## Warnings", "", ...warnings.map((w) => `- ${escapeMarkdown(w)}`), "");
  }
  md.push(
    "## Figures",
    "",
    `Each figure is drawn for a page's text width (${FIGURE_WIDTH.page} pt: \`accuracy.svg\`) ` +
      `and for one column (${FIGURE_WIDTH.column} pt: \`accuracy-column.svg\`), in 8 pt ` +
      "Helvetica, sized in points: include it at its natural size. Beside each SVG is the " +
      "Vega-Lite spec it was drawn from (`accuracy.vl.json` for `accuracy.svg`), to restyle " +
      "or redraw it. `report.html` shows them interactively (hover for values, click a " +
      "legend entry to highlight it).",
    "",
  );
  for (const name of FIGURE_NAMES) {
    md.push(
      `![${FIGURE_CAPTIONS[name]}](${name}.svg)`,
      "",
      `${escapeMarkdown(figures[name].caption)} (\`${name}.svg\`; for a column: ` +
        `\`${figureFile(name, "column")}.svg\`)`,
      "",
    );
  }
  const markdown = md.join("\n");
  const report: Report = {
    experiment,
    runs,
    summaries,
    groups,
    plan,
    best,
    table,
    markdown,
    csv,
    latex,
    html: "",
    figures,
    columnFigures: drawn.column,
    search,
  };
  report.html = await reportHtml({ ...report, search: search ? searchHtml(search) : null });
  return report;
}

/**
 * Writes the report into `outDir` (created if missing): `report.md`, `report.csv`,
 * `report.tex`, `report.html`, and per figure `<figure>.svg` (a page wide) and
 * `<figure>-column.svg` (a column wide), each with its `.vl.json` spec; returns the
 * paths written. Each file is written atomically.
 */
export async function writeReport(report: Report, outDir: string): Promise<string[]> {
  await Deno.mkdir(outDir, { recursive: true });
  const files: [string, string][] = [
    ["report.md", report.markdown],
    ["report.csv", report.csv],
    ["report.tex", report.latex],
    ["report.html", report.html],
  ];
  for (const [size, set] of [["page", report.figures], ["column", report.columnFigures]] as const) {
    for (const name of FIGURE_NAMES) {
      const file = figureFile(name, size);
      files.push([`${file}.svg`, set[name].svg]);
      files.push([`${file}.vl.json`, JSON.stringify(set[name].spec, null, 2) + "\n"]);
    }
  }
  files.push(...(report.search?.files ?? []));
  const written: string[] = [];
  for (const [name, data] of files) {
    const p = join(outDir, name);
    await writeFileAtomic(p, data);
    written.push(p);
  }
  return written;
}

/**
 * The index printed for a runs folder reported experiment by experiment: one
 * markdown row per experiment with its runs, states, best run and where its
 * report was written.
 */
export function reportIndex(root: string, reports: { report: Report; out: string }[]): string {
  const rows = reports.map(({ report, out }) => {
    const countOf = (s: string) => report.summaries.filter((x) => x.state === s).length;
    const states = RUN_STATES.filter((s) => countOf(s) > 0).map((s) => `${countOf(s)} ${s}`);
    return [
      report.experiment,
      String(report.runs.length),
      states.join(", ") || "–",
      report.best?.id ?? "–",
      pct(report.best?.testAcc ?? null),
      join(out, "report.md"),
    ];
  });
  return [
    `# Reports: ${escapeMarkdown(basename(resolve(root)))}`,
    "",
    `${reports.length} experiment${reports.length === 1 ? "" : "s"}, each reported into its ` +
    "own folder (report.md, report.html, report.tex, the figures).",
    "",
    markdownTable(
      ["experiment", "runs", "states", "best run", "test acc (%)", "report"],
      rows,
      ["left", "right", "left", "left", "right", "left"],
    ),
  ].join("\n");
}
