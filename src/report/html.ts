/**
 * `report.html`: one self-contained page that works offline. It holds the
 * tables and, per figure, the SVG drawn in Deno (shown as an image, so it
 * works without scripts) and the compiled Vega spec, which the inlined Vega
 * bundle turns into an interactive view: values on hover, a legend entry
 * highlighted on click. Tables sort by a click on a column header. Every
 * piece of run data is escaped; nothing is fetched.
 *
 * @module
 */

import { escapeHtml, jsonForScript } from "./escape.ts";
import { FIGURE_CAPTIONS, FIGURE_NAMES, type FigureName, type VlSpec } from "./figures.ts";
import type { RunRecord } from "./load.ts";
import { type ConfigGroup, duration, pct, type RunSummary, settingText } from "./table.ts";
import { toVega, vegaBrowserBundle } from "./vega.ts";

/** What the page is built from (a subset of the report). */
export interface HtmlInput {
  experiment: string;
  runs: RunRecord[];
  summaries: RunSummary[];
  groups: ConfigGroup[];
  best: RunSummary | null;
  markdown: string;
  figures: Record<FigureName, { spec: VlSpec; svg: string; caption?: string }>;
  /** A search's section (placed after the summary) and the Vega specs of its figures. */
  search?: { section: string; specs: Record<string, unknown> } | null;
}

/** One cell: text (escaped here) and whether it is a number (right-aligned, sorts by value). */
interface Cell {
  text: string;
  /** The value to sort by, when numeric. */
  value?: number | null;
  cls?: string;
}

function cell(text: string, value?: number | null, cls?: string): Cell {
  return { text, value, cls };
}

/** An HTML table; every text is escaped. */
export function htmlTable(header: string[], rows: Cell[][], caption?: string): string {
  const th = header.map((h, i) => `<th scope="col" data-col="${i}">${escapeHtml(h)}</th>`).join(
    "",
  );
  const body = rows.map((r) =>
    `<tr>${
      r.map((c) => {
        const attrs: string[] = [];
        const classes = [c.value !== undefined ? "num" : "", c.cls ?? ""].filter(Boolean);
        if (classes.length) attrs.push(`class="${escapeHtml(classes.join(" "))}"`);
        if (c.value !== undefined && c.value !== null && Number.isFinite(c.value)) {
          attrs.push(`data-value="${c.value}"`);
        }
        return `<td${attrs.length ? " " + attrs.join(" ") : ""}>${escapeHtml(c.text)}</td>`;
      }).join("")
    }</tr>`
  ).join("\n");
  return `<table class="sortable">${
    caption ? `<caption>${escapeHtml(caption)}</caption>` : ""
  }<thead><tr>${th}</tr></thead>\n<tbody>\n${body}\n</tbody></table>`;
}

function num(v: number | null, digits = 1): string {
  if (v === null) return "–";
  return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en-US") : v.toFixed(digits);
}

function pm(mean: number | null, sd: number | null, scale: number, digits: number): string {
  if (mean === null) return "–";
  const m = (mean * scale).toFixed(digits);
  return sd === null ? m : `${m} ± ${(sd * scale).toFixed(digits)}`;
}

/** The runs table: one row per run, then the grid keys and the error. */
export function runsHtml(summaries: RunSummary[], keys: string[]): string {
  return htmlTable(
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
      "error",
    ],
    summaries.map((s) => [
      cell(s.id, undefined, "id"),
      cell(s.state, undefined, `state state-${s.state}`),
      cell(s.epochsRun === null ? "–" : String(s.epochsRun), s.epochsRun),
      cell(s.bestEpoch === null ? "–" : String(s.bestEpoch), s.bestEpoch),
      cell(pct(s.bestValAcc), s.bestValAcc),
      cell(pct(s.testAcc), s.testAcc),
      cell(num(s.spikesPerSample), s.spikesPerSample),
      cell(duration(s.wallSeconds), s.wallSeconds),
      ...keys.map((k) => {
        const v = s.grid[k];
        return typeof v === "number"
          ? cell(settingText(k, v), v)
          : cell(k in s.grid ? settingText(k, v) : "");
      }),
      cell(s.error ?? "", undefined, "error"),
    ]),
  );
}

/** The configurations table: mean ± sd over finished seeds, best first. */
export function groupsHtml(groups: ConfigGroup[]): string {
  return htmlTable(
    [
      "configuration",
      "n",
      "best val acc (%)",
      "test acc (%)",
      "spikes/sample",
      "runs",
    ],
    groups.map((g) => [
      cell(g.label),
      cell(String(g.n), g.n),
      cell(pm(g.valMean, g.valStd, 100, 2), g.valMean),
      cell(pm(g.testMean, g.testStd, 100, 2), g.testMean),
      cell(pm(g.spikesMean, g.spikesStd, 1, 1), g.spikesMean),
      cell(g.ids.join(", "), undefined, "id"),
    ]),
  );
}

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
  margin: 0 auto; max-width: 1400px; padding: 1em 2em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-variant-numeric: tabular-nums; }
th, td { padding: .25em .6em; border-bottom: 1px solid #e4e4e4; text-align: left; vertical-align: top; }
th { cursor: pointer; user-select: none; background: #f6f6f6; position: sticky; top: 0; }
th.sorted-asc::after { content: " ▲"; } th.sorted-desc::after { content: " ▼"; }
td.num { text-align: right; white-space: nowrap; }
td.error { color: #a00; max-width: 40em; }
.state { font-weight: 600; } .state-done { color: #2a7d2a; } .state-running { color: #1f5fbf; }
.state-stopped { color: #b26b00; } .state-failed, .state-invalid { color: #b00020; }
.state-pending { color: #777; } .state-pruned { color: #6b5b95; }
.state-to-resume { color: #b26b00; } p.best { font-weight: 600; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; }
figure { margin: 1.5em 0; } figcaption { color: #555; margin-top: .3em; }
.chart img.static { max-width: 100%; height: auto; }
.chart.interactive img.static { display: none; }
.chart .live:empty { display: none; }
.chart .live { overflow-x: auto; }
ul.warnings li { color: #7a5600; }
`;

const SCRIPT = `
(function () {
  "use strict";
  var specs = JSON.parse(document.getElementById("vega-specs").textContent);
  var views = {};
  document.querySelectorAll("[data-figure]").forEach(function (el) {
    var name = el.getAttribute("data-figure");
    if (typeof vega === "undefined" || !specs[name]) return;
    try {
      var view = new vega.View(vega.parse(specs[name]), {
        renderer: "svg", container: el.querySelector(".live"), hover: true,
      });
      views[name] = view;
      view.runAsync().then(function () {
        // Drawn in CSS pixels, the figures are laid out in points: show them at the
        // size of the SVG files (4/3 px per point), as the static images are.
        var svg = el.querySelector(".live svg");
        if (svg && svg.width && svg.width.baseVal) {
          svg.style.width = (svg.width.baseVal.value * 4 / 3) + "px";
          svg.style.height = "auto";
        }
        el.classList.add("interactive");
      })
        .catch(function (e) { console.error(name, e); });
    } catch (e) {
      console.error(name, e);
    }
  });
  window.reportViews = views;
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th").forEach(function (th, col) {
      th.addEventListener("click", function () {
        var asc = !th.classList.contains("sorted-asc");
        table.querySelectorAll("th").forEach(function (h) {
          h.classList.remove("sorted-asc", "sorted-desc");
        });
        th.classList.add(asc ? "sorted-asc" : "sorted-desc");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var key = function (r) {
          var c = r.cells[col];
          var v = c.getAttribute("data-value");
          return v === null ? c.textContent : Number(v);
        };
        var coll = new Intl.Collator("en", { numeric: true });
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          var d = typeof x === "number" && typeof y === "number" ? x - y
            : typeof x === "number" ? -1 : typeof y === "number" ? 1 : coll.compare(x, y);
          return asc ? d : -d;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
`;

/** The SVG as an image source (inert: scripts in an image never run). */
export function svgDataUri(svg: string): string {
  const bytes = new TextEncoder().encode(svg);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return `data:image/svg+xml;base64,${btoa(bin)}`;
}

/** Builds `report.html` (Vega's browser bundle inlined; no network needed). */
export async function reportHtml(r: HtmlInput): Promise<string> {
  const keys: string[] = [];
  for (const run of r.runs) {
    for (const k of Object.keys(run.gridPoint)) if (!keys.includes(k)) keys.push(k);
  }
  const countOf = (s: string) => r.summaries.filter((x) => x.state === s).length;
  const counts = ["done", "running", "stopped", "pruned", "failed", "pending", "invalid"]
    .filter((s) => countOf(s) > 0).map((s) => `${countOf(s)} ${s}`);
  const summary = `${r.runs.length} run${r.runs.length === 1 ? "" : "s"}` +
    (counts.length ? `: ${counts.join(", ")}.` : ".");
  const best = r.best
    ? `Best run: ${r.best.id} (${r.best.state}), test accuracy ${pct(r.best.testAcc)} % at epoch ${
      r.best.bestEpoch ?? "–"
    }, best validation accuracy ${pct(r.best.bestValAcc)} %.`
    : "";
  const vegaSpecs: Record<string, unknown> = { ...r.search?.specs };
  const figures = FIGURE_NAMES.map((name) => {
    vegaSpecs[name] = toVega(r.figures[name].spec, `${name}.svg`);
    return `<figure id="fig-${name}">
<div class="chart" data-figure="${name}"><img class="static" alt="${
      escapeHtml(FIGURE_CAPTIONS[name])
    }" src="${svgDataUri(r.figures[name].svg)}"><div class="live"></div></div>
<figcaption>${
      escapeHtml(r.figures[name].caption ?? FIGURE_CAPTIONS[name])
    } (<code>${name}.svg</code>, for a column <code>${name}-column.svg</code>; specs ` +
      `<code>.vl.json</code> beside them)</figcaption>
</figure>`;
  }).join("\n");
  const failed = r.runs.filter((x) => x.state === "failed" || x.state === "invalid");
  const warnings = r.runs.flatMap((x) => x.warnings);
  const bundle = (await vegaBrowserBundle()).replace(/<\/(script)/gi, "<\\/$1");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Report: ${escapeHtml(r.experiment)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>Report: ${escapeHtml(r.experiment)}</h1>
<p id="summary">${escapeHtml(summary)} ${escapeHtml(best)}</p>
<nav>${
    r.search ? '<a href="#search">Search</a>' : ""
  }<a href="#configurations">Configurations</a><a href="#runs">Runs</a><a href="#figures">Figures</a>${
    failed.length ? '<a href="#failed">Failed</a>' : ""
  }</nav>
</header>
${r.search?.section ?? ""}
<section id="configurations">
<h2>Configurations over seeds</h2>
<p>Runs that differ only in <code>seed</code> form one configuration: mean ± sample standard deviation over its finished runs, best first. Click a column header to sort.</p>
${groupsHtml(r.groups)}
</section>
<section id="runs">
<h2>Runs</h2>
${runsHtml(r.summaries, keys)}
</section>
<section id="figures">
<h2>Figures</h2>
<p>Hover a mark for its values; click a legend entry to highlight it (shift-click for more, click elsewhere in the legend to clear).</p>
${figures}
</section>
${
    failed.length
      ? `<section id="failed"><h2>Failed</h2><ul>${
        failed.map((x) =>
          `<li><span class="id">${escapeHtml(x.id)}</span> (${escapeHtml(x.state)}): ${
            escapeHtml(x.error ?? "")
          }</li>`
        ).join("\n")
      }</ul></section>`
      : ""
  }
${
    warnings.length
      ? `<section id="warnings"><h2>Warnings</h2><ul class="warnings">${
        warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join("\n")
      }</ul></section>`
      : ""
  }
<script type="application/json" id="vega-specs">${jsonForScript(vegaSpecs)}</script>
<script>${bundle}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
