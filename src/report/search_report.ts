/**
 * A search's part of `deno task report`: read the searches of an experiment
 * folder (`search.ts`), draw their figures (`search_figures.ts`), and give
 * the report its markdown section, its HTML section, and the files it adds:
 * `best.yaml` (the best trial's settings, ready to run), `trials.csv`, and
 * each figure as `<name>.svg` with its Vega-Lite spec `<name>.vl.json`.
 *
 * @module
 */

import { escapeHtml } from "./escape.ts";
import type { VlSpec } from "./figures.ts";
import { htmlTable, svgDataUri } from "./html.ts";
import type { RunRecord } from "./load.ts";
import {
  bestFileName,
  bestLine,
  rankedTrials,
  readSearches,
  type SearchData,
  searchMarkdown,
  searchSummary,
  trialCells,
  trialColumns,
  trialsCsv,
} from "./search.ts";
import {
  SEARCH_FIGURE_CAPTIONS,
  SEARCH_FIGURE_NAMES,
  type SearchFigureName,
  searchFigures,
} from "./search_figures.ts";
import { renderSvg, toVega } from "./vega.ts";

/** The search part of a report. */
export interface SearchReport {
  searches: SearchData[];
  figures: Record<SearchFigureName, { spec: VlSpec; svg: string }>;
  /** The `## Search` section of report.md. */
  markdown: string;
  /** Files it adds to the report folder: name and text. */
  files: [string, string][];
}

/** The search part of the report of `expDir`, or null when it holds no search. */
export async function buildSearchReport(
  expDir: string,
  runs: RunRecord[],
): Promise<SearchReport | null> {
  const searches = await readSearches(expDir, runs);
  if (searches.length === 0) return null;
  const specs = searchFigures(searches, runs);
  const figures = {} as SearchReport["figures"];
  for (const name of SEARCH_FIGURE_NAMES) {
    figures[name] = { spec: specs[name], svg: await renderSvg(specs[name], `${name}.svg`) };
  }
  const files: [string, string][] = [["trials.csv", trialsCsv(searches)]];
  for (const s of searches) {
    if (s.bestYaml) files.push([bestFileName(s, searches), s.bestYaml]);
  }
  for (const name of SEARCH_FIGURE_NAMES) {
    files.push([`${name}.svg`, figures[name].svg]);
    files.push([`${name}.vl.json`, JSON.stringify(figures[name].spec, null, 2) + "\n"]);
  }
  return { searches, figures, markdown: searchMarkdown(searches), files };
}

/** The search section of report.html and the Vega specs of its figures (by name). */
export function searchHtml(r: SearchReport): { section: string; specs: Record<string, unknown> } {
  const specs: Record<string, unknown> = {};
  const parts: string[] = [];
  for (const s of r.searches) {
    const head = r.searches.length > 1 || s.gridId !== "default"
      ? `<h3>${escapeHtml(s.gridId)}</h3>`
      : "";
    const file = bestFileName(s, r.searches);
    parts.push(
      `${head}<p>${escapeHtml(searchSummary(s))}</p><p class="best">${escapeHtml(bestLine(s))}</p>`,
      s.bestYaml
        ? `<details><summary>Its settings, ready to run: <code>${
          escapeHtml(file)
        }</code> (<code>deno task exp ${escapeHtml(file)}</code>)</summary><pre>${
          escapeHtml(s.bestYaml)
        }</pre></details>`
        : "",
      htmlTable(
        trialColumns(s),
        rankedTrials(s).map((t) =>
          trialCells(s, t).map((text, i) => ({
            text,
            value: i === 2
              ? t.rung
              : i === 3
              ? t.epochs
              : i === 4
              ? t.value
              : i === 5
              ? t.testAcc
              : undefined,
            cls: i === 0 ? "id" : i === 1 ? `state state-${t.state.replace(/ /g, "-")}` : undefined,
          }))
        ),
        "Trials, best first: the highest rung reached, then the metric there",
      ),
    );
  }
  const figures = SEARCH_FIGURE_NAMES.map((name) => {
    specs[name] = toVega(r.figures[name].spec, `${name}.svg`);
    return `<figure id="fig-${name}">
<div class="chart" data-figure="${name}"><img class="static" alt="${
      escapeHtml(SEARCH_FIGURE_CAPTIONS[name])
    }" src="${svgDataUri(r.figures[name].svg)}"><div class="live"></div></div>
<figcaption>${
      escapeHtml(SEARCH_FIGURE_CAPTIONS[name])
    } (<code>${name}.svg</code>, spec <code>${name}.vl.json</code>)</figcaption>
</figure>`;
  }).join("\n");
  return {
    section: `<section id="search">
<h2>Search</h2>
${parts.join("\n")}
${figures}
</section>`,
    specs,
  };
}
