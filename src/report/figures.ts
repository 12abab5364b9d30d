/**
 * The report's figures as Vega-Lite specifications (a grammar of graphics):
 * each is plain JSON holding its data, so it can be restyled or redrawn
 * elsewhere; `vega.ts` renders them to SVG. Configurations (seeds grouped)
 * are coloured in natural order; seeds show as a ± standard deviation band, or
 * as error bars nudged apart where the bands of several configurations would
 * cover one another.
 *
 * Figures are drawn for a paper: in points at the width of a column or of a
 * page ({@link FIGURE_WIDTH}), 8 pt Helvetica, legends below the panels, no
 * titles (the caption says what a figure shows: {@link FigureDraft.caption}).
 * A figure is a draft ({@link FigureDraft}) built for a panel width; `vega.ts`
 * finds the panel width at which the whole figure has the wanted width.
 *
 * @module
 */

import {
  accuracyRows,
  bandOverlap,
  type BandRow,
  coincidentLines,
  firingRows,
  layersOf,
  type LegendPlan,
  lineKey,
  lossRows,
  lrRows,
  sharedDash,
  spikeTimeRows,
  spreadEpochs,
  tradeoffData,
} from "./figure_data.ts";
import type { RunRecord } from "./load.ts";
import type { RunSummary } from "./table.ts";
import { FIGURE_FONT, textWidth } from "./text_metrics.ts";

/** A Vega-Lite specification (JSON). */
export type VlSpec = Record<string, unknown>;

/** The schema URL of the Vega-Lite version used (a string in the file, never fetched). */
export const VL_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";

/** Names of the figures, without extension: `<name>.svg` and `<name>.vl.json`. */
export const FIGURE_NAMES = [
  "accuracy",
  "loss",
  "lr",
  "tradeoff",
  "firing",
  "spike_times",
] as const;

/** One of {@link FIGURE_NAMES}. */
export type FigureName = (typeof FIGURE_NAMES)[number];

/** The sizes every figure is drawn in. */
export const FIGURE_SIZES = ["page", "column"] as const;

/** A figure's size: the text width of a page, or one column of a two-column paper. */
export type FigureSize = (typeof FIGURE_SIZES)[number];

/**
 * Widths of the figures in points (1/72 in): a page's text width (6.75 in, as in
 * ICML, CVPR and IEEE two-column papers) and one column (3.25 in). Fonts are 8 pt
 * and 9 pt at that size.
 */
export const FIGURE_WIDTH: Readonly<Record<FigureSize, number>> = { page: 486, column: 234 };

/** The file name of a figure in a size, without extension: `accuracy`, `accuracy-column`. */
export function figureFile(name: FigureName, size: FigureSize): string {
  return size === "page" ? name : `${name}-${size}`;
}

/** What a figure shows, for alternative text (the caption adds the experiment and notes). */
export const FIGURE_CAPTIONS: Record<FigureName, string> = {
  accuracy: "Validation and test accuracy per epoch: mean over seeds with ± sd",
  loss: "Training and validation loss per epoch: mean over seeds with ± sd",
  lr: "Learning rate per epoch",
  tradeoff:
    "Test accuracy against spikes per sample at the best epoch: seeds (small), configurations " +
    "(mean ± sd) and the Pareto front (ringed, stepped line)",
  firing: "Neurons that fired per spiking layer and epoch: mean over seeds with ± sd",
  spike_times:
    "Spike times per spiking layer and epoch (share of the layer's spikes per time bin, seeds " +
    "pooled, on a log colour scale) and the share of neurons that stayed silent",
};

/**
 * A figure before it is fitted to its width: `build` makes the spec for a panel
 * width (in points), `across` panels side by side.
 */
export interface FigureDraft {
  build: (panelWidth: number) => VlSpec;
  across: number;
  /** A full caption: what it shows, for which experiment, what was left out. */
  caption: string;
}

/** Most configurations shown side by side in the spike-time figure, by size. */
export const MAX_HEATMAP_CONFIGS: Readonly<Record<FigureSize, number>> = { page: 4, column: 2 };

/** Most epochs (rows) of a spike-time heatmap; longer runs show an even sample. */
export const MAX_HEATMAP_EPOCHS = 40;

/** Past this many epochs, curves are drawn without a marker (or error bar) on each epoch. */
export const MAX_MARKED_EPOCHS = 30;

/** Share of pairs of overlapping ± sd bands above which error bars replace the bands. */
export const MAX_BAND_OVERLAP = 0.4;

/** Label and title font sizes (points). */
const FONT = 8, TITLE_FONT = 9;

/** The dash length (points) of lines that coincide and take turns. */
const SHARED_DASH = 4;

/** Shared look: Helvetica at 8 and 9 pt, thin grey frames, legends below. */
function paperConfig(): VlSpec {
  const text = { labelFont: FIGURE_FONT, titleFont: FIGURE_FONT };
  return {
    font: FIGURE_FONT,
    background: "white",
    padding: 4,
    view: { stroke: "#c8c8c8", strokeWidth: 0.75 },
    axis: {
      ...text,
      labelFontSize: FONT,
      titleFontSize: TITLE_FONT,
      titleFontWeight: "normal",
      labelColor: "#222",
      titleColor: "#222",
      // The panel's frame is the axis line.
      domain: false,
      tickColor: "#888",
      gridColor: "#ececec",
      tickSize: 3,
      labelPadding: 2,
      titlePadding: 4,
    },
    legend: {
      ...text,
      labelFontSize: FONT,
      titleFontSize: TITLE_FONT,
      titleFontWeight: "normal",
      orient: "bottom",
      direction: "horizontal",
      rowPadding: 3,
      columnPadding: 10,
      titlePadding: 3,
      offset: 8,
      symbolSize: 60,
    },
    header: { ...text, labelFontSize: TITLE_FONT, titleFontSize: TITLE_FONT, labelPadding: 3 },
    facet: { spacing: 10 },
    text: { font: FIGURE_FONT },
  };
}

/** Columns for a bottom legend of `labels` in `width` points, and the labels' limit. */
function legendColumns(labels: string[], width: number): { columns: number; labelLimit: number } {
  const longest = Math.max(0, ...labels.map((l) => textWidth(l, FONT)));
  // Symbol, its gap and the padding between columns.
  const per = longest + 16 + 10;
  const columns = Math.max(1, Math.min(labels.length, Math.floor(width / per)));
  return { columns, labelLimit: Math.max(60, Math.floor(width - 30)) };
}

function colorEncoding(plan: LegendPlan, width: number, symbolType = "stroke"): VlSpec {
  const { columns, labelLimit } = legendColumns(plan.colorDomain, width);
  return {
    field: "color",
    type: "nominal",
    // Labels like `lr=0.001, seed=1` say what they are; only a large grid's key needs a title.
    title: plan.colorTitle === "configuration" ? null : plan.colorTitle,
    sort: plan.colorDomain,
    scale: { domain: plan.colorDomain, range: plan.colorRange },
    legend: {
      columns,
      labelLimit,
      symbolType,
      symbolSize: symbolType === "circle" ? 36 : 60,
      symbolStrokeWidth: 2,
      symbolOpacity: 1,
      symbolDash: [],
    },
  };
}

/** Clicking a legend entry highlights that colour (in the HTML report and the board). */
const LEGEND_PICK = {
  name: "pick",
  select: { type: "point", fields: ["color"] },
  bind: "legend",
};

function faded(value = 1): VlSpec {
  return { condition: { param: "pick", value }, value: 0.12 };
}

/** A panel's height for its width: a 0.62 aspect, within bounds. */
function panelHeight(width: number, min = 70, max = 170): number {
  return Math.round(Math.max(min, Math.min(max, width * 0.62)));
}

/**
 * A figure without data yet (no run has written the numbers it draws): one panel
 * saying so, at the figure's width, so a report of a fresh experiment still has
 * every file.
 */
export function emptyFigure(caption: string, message: string): FigureDraft {
  const build = (panelWidth: number): VlSpec => ({
    $schema: VL_SCHEMA,
    description: caption,
    width: panelWidth,
    height: 60,
    data: { values: [{ text: message }] },
    mark: { type: "text", fontSize: TITLE_FONT, color: "#666" },
    encoding: { text: { field: "text" } },
    config: paperConfig(),
  });
  return { build, across: 1, caption: `${caption} ${message}` };
}

/** How a band figure shows the spread over seeds. */
export type SpreadMark = "band" | "bars" | "none";

/**
 * Lines of a metric's mean per epoch with its ± sd, one colour per configuration,
 * a panel per series (e.g. validation, test; wrapped into rows on a column) and,
 * for large grids, a row per value of the settings that colour does not show.
 *
 * Lines stay visible: lines that coincide (the same values within 0.4 % of the
 * panel's range, e.g. one learning-rate schedule shared by several configurations)
 * take turns in dashes of their colours, and their markers nest (the first
 * largest). The spread is a band, or, when three or more configurations' bands
 * overlap in more than {@link MAX_BAND_OVERLAP} of their pairs, error bars nudged
 * sideways by configuration.
 */
export function bandFigure(
  plan: LegendPlan,
  rows: BandRow[],
  opts: {
    size: FigureSize;
    caption: string;
    yTitle: string;
    series: string[];
    yScale?: VlSpec;
    yAxis?: VlSpec;
    band?: boolean;
    /** Name every panel, even a single one (a layer's name must show). */
    alwaysHeader?: boolean;
    /** Values are compared on a log scale (coinciding lines). */
    log?: boolean;
  },
): FigureDraft & { spread: SpreadMark } {
  if (rows.length === 0) {
    return {
      ...emptyFigure(opts.caption, "No run has recorded these numbers yet."),
      spread: "none",
    };
  }
  const width = FIGURE_WIDTH[opts.size];
  const order = plan.groups.map((g) => g.label);
  const epochs = [...new Set(rows.map((r) => r.epoch))].sort((a, b) => a - b);
  const marked = epochs.length <= MAX_MARKED_EPOCHS;
  const withSd = new Set(rows.filter((r) => r.sd !== null).map((r) => r.config)).size;
  const spread: SpreadMark = opts.band === false
    ? "none"
    : marked && withSd >= 3 && bandOverlap(rows) > MAX_BAND_OVERLAP
    ? "bars"
    : "band";
  const places = coincidentLines(rows, order, opts.log ? Math.log10 : undefined);
  const k = order.length;
  const step = spread === "bars" ? Math.min(0.12, 0.5 / Math.max(1, k)) : 0;
  const baseSize = opts.size === "page" ? 18 : 13;
  const data = rows.map((r) => {
    const place = places.get(lineKey(r)) ?? { index: 0, count: 1 };
    return {
      ...r,
      x: r.epoch + (order.indexOf(r.config) - (k - 1) / 2) * step,
      dash: sharedDash(place, SHARED_DASH),
      markSize: baseSize * Math.pow((place.count - place.index) / place.count, 1.5),
      place: place.index,
    };
  }).sort((a, b) => a.place - b.place);
  const lo = epochs[0] ?? 0, hi = epochs[epochs.length - 1] ?? 1;
  const pad = spread === "bars" ? (k / 2) * step + 0.1 : 0;
  const x = {
    field: "x",
    type: "quantitative",
    title: "epoch",
    axis: { tickMinStep: 1, format: "d" },
    scale: { nice: false, domain: [lo - pad, hi === lo ? hi + 1 : hi + pad] },
  };
  const yScale = opts.yScale ?? { zero: false };
  const tooltip = [
    { field: "config", title: "configuration" },
    { field: "series" },
    { field: "epoch" },
    { field: "mean", format: ".4~g" },
    { field: "sd", format: ".3~g" },
    { field: "n", title: "seeds" },
  ];
  const y = (field: string) => ({
    field,
    type: "quantitative",
    title: opts.yTitle,
    scale: yScale,
    ...(opts.yAxis ? { axis: opts.yAxis } : {}),
  });
  const facetRows = plan.restDomain.length > 0;
  const across = facetRows
    ? opts.series.length
    : opts.size === "page"
    ? Math.min(opts.series.length, 3)
    : opts.series.length <= 2
    ? 1
    : 2;
  const showHeader = opts.series.length > 1 || opts.alwaysHeader === true;
  const header = showHeader
    ? { labelFontSize: TITLE_FONT, labelFontWeight: "bold", labelLimit: 0 }
    : { labels: false };
  const build = (panelWidth: number): VlSpec => {
    const color = colorEncoding(plan, width);
    const layers: VlSpec[] = [];
    if (spread === "band") {
      layers.push({
        mark: { type: "area", opacity: withSd <= 2 ? 0.2 : 0.14 },
        encoding: {
          x,
          y: y("lo"),
          y2: { field: "hi" },
          color,
          detail: { field: "config" },
          opacity: faded(withSd <= 2 ? 0.2 : 0.14),
        },
      });
    } else if (spread === "bars") {
      layers.push({
        transform: [{ filter: "datum.sd !== null" }],
        mark: { type: "rule", strokeWidth: 1 },
        encoding: { x, y: y("lo"), y2: { field: "hi" }, color, opacity: faded(0.85) },
      });
    }
    layers.push({
      params: [LEGEND_PICK],
      mark: { type: "line", strokeWidth: opts.size === "page" ? 1.5 : 1.25 },
      encoding: {
        x,
        y: y("mean"),
        color,
        detail: { field: "config" },
        strokeDash: { field: "dash", type: "nominal", scale: null, legend: null },
        opacity: faded(),
        tooltip,
      },
    });
    if (marked) {
      layers.push({
        mark: { type: "point", filled: true, opacity: 1 },
        encoding: {
          x,
          y: y("mean"),
          color,
          size: { field: "markSize", type: "quantitative", scale: null, legend: null },
          opacity: faded(),
          tooltip,
        },
      });
    }
    const spec = {
      width: panelWidth,
      height: panelHeight(panelWidth),
      layer: layers,
    };
    if (!facetRows && !showHeader) {
      // One unnamed panel: no facet at all.
      return {
        $schema: VL_SCHEMA,
        description: opts.caption,
        data: { values: data },
        ...spec,
        config: paperConfig(),
      };
    }
    const facet: VlSpec = facetRows
      ? {
        facet: {
          column: {
            field: "series",
            type: "nominal",
            sort: opts.series,
            title: null,
            header,
          },
          row: {
            field: "rest",
            type: "nominal",
            sort: plan.restDomain,
            title: null,
            header: { labelAngle: 0, labelAlign: "left", labelLimit: 160 },
          },
        },
      }
      : {
        facet: { field: "series", type: "nominal", sort: opts.series, title: null, header },
        columns: across,
      };
    return {
      $schema: VL_SCHEMA,
      description: opts.caption,
      data: { values: data },
      ...facet,
      spec,
      config: paperConfig(),
    };
  };
  return { build, across, caption: opts.caption, spread };
}

function runsText(plan: LegendPlan, runs: RunRecord[]): string {
  const seeds = new Set(runs.map((r) => JSON.stringify(r.settings.seed ?? null))).size;
  return `${plan.groups.length} configuration${plan.groups.length === 1 ? "" : "s"}, ` +
    `${runs.length} run${runs.length === 1 ? "" : "s"}${seeds > 1 ? `, ${seeds} seeds` : ""}`;
}

/** The sentence a band figure's caption ends with: how the spread is shown. */
function spreadText(spread: SpreadMark): string {
  return spread === "bars"
    ? " Error bars (± sd over seeds) are nudged sideways per configuration, so they do not cover one another."
    : spread === "band"
    ? " Shaded: ± sd over seeds."
    : "";
}

/** Validation and test accuracy (%) per epoch, per configuration. */
export function accuracyFigure(
  plan: LegendPlan,
  runs: RunRecord[],
  experiment: string,
  size: FigureSize = "page",
): FigureDraft {
  const caption = `Validation and test accuracy per epoch of ${experiment}: mean over seeds ` +
    `(${runsText(plan, runs)}).`;
  const d = bandFigure(plan, accuracyRows(plan, runs), {
    size,
    caption,
    yTitle: "accuracy (%)",
    series: ["validation", "test"],
  });
  return { ...d, caption: caption + spreadText(d.spread) };
}

/** Training and validation loss per epoch, per configuration. */
export function lossFigure(
  plan: LegendPlan,
  runs: RunRecord[],
  experiment: string,
  size: FigureSize = "page",
): FigureDraft {
  const caption = `Training and validation loss per sample and epoch of ${experiment}: mean ` +
    `over seeds (${runsText(plan, runs)}).`;
  const d = bandFigure(plan, lossRows(plan, runs), {
    size,
    caption,
    yTitle: "loss per sample",
    series: ["training", "validation"],
  });
  return { ...d, caption: caption + spreadText(d.spread) };
}

/** Learning rate per epoch (log scale), per configuration. */
export function lrFigure(
  plan: LegendPlan,
  runs: RunRecord[],
  experiment: string,
  size: FigureSize = "page",
): FigureDraft {
  const caption = `Learning rate per epoch of ${experiment} (log scale). Configurations that ` +
    `share a schedule share its line, in dashes of their colours.`;
  return bandFigure(plan, lrRows(plan, runs), {
    size,
    caption,
    yTitle: "learning rate",
    series: ["learning rate"],
    yScale: { type: "log" },
    yAxis: { format: "~e", tickCount: 4 },
    band: false,
    log: true,
  });
}

/** Firing (% of neurons that fired) per spiking layer and epoch, per configuration. */
export function firingFigure(
  plan: LegendPlan,
  runs: RunRecord[],
  experiment: string,
  size: FigureSize = "page",
): FigureDraft {
  const layers = layersOf(runs);
  const caption = `Neurons that fired (% of the layer's neurons, per test sample) in each ` +
    `spiking layer per epoch of ${experiment}: mean over seeds (${runsText(plan, runs)}); the ` +
    `rest stayed silent. Layers are numbered as in the network's plan.`;
  const d = bandFigure(plan, firingRows(plan, runs), {
    size,
    caption,
    yTitle: "neurons that fired (%)",
    series: layers.map((l) => l.name),
    alwaysHeader: true,
  });
  return { ...d, caption: caption + spreadText(d.spread) };
}

/**
 * A domain around the values with 8 % room on each side (at least 1 % of the value,
 * so a single point sits in the middle); [0, 1] without values.
 */
export function paddedDomain(values: number[]): [number, number] {
  const v = values.filter(Number.isFinite);
  if (v.length === 0) return [0, 1];
  const lo = Math.min(...v), hi = Math.max(...v);
  const pad = Math.max((hi - lo) * 0.08, Math.abs(hi) * 0.01, 1e-9);
  return [lo - pad, hi + pad];
}

/**
 * Test accuracy against spikes per sample: every finished run, every configuration
 * (mean ± sd over seeds) and the Pareto front (fewest spikes for the accuracy),
 * ringed and joined by a stepped line, with labels.
 */
export function tradeoffFigure(
  plan: LegendPlan,
  summaries: RunSummary[],
  experiment: string,
  size: FigureSize = "page",
): FigureDraft {
  const width = FIGURE_WIDTH[size];
  const data = tradeoffData(plan, summaries);
  const configs = data.configs.map((c) => ({
    ...c,
    accLo: c.acc - (c.accSd ?? 0),
    accHi: c.acc + (c.accSd ?? 0),
    spikesLo: c.spikes - (c.spikesSd ?? 0),
    spikesHi: c.spikes + (c.spikesSd ?? 0),
  }));
  const xs = [
    ...data.runs.map((r) => r.spikes),
    ...configs.flatMap((c) => [c.spikesLo, c.spikesHi]),
  ];
  const ys = [...data.runs.map((r) => r.acc), ...configs.flatMap((c) => [c.accLo, c.accHi])];
  const xDomain = paddedDomain(xs);
  const front = configs.filter((c) => c.pareto).sort((a, b) => a.spikes - b.spikes)
    .map((c, i) => ({
      ...c,
      labelLeft: c.spikes > xDomain[0] + (xDomain[1] - xDomain[0]) * 0.55,
      labelBelow: i % 2 === 1,
    }));
  const x = {
    field: "spikes",
    type: "quantitative",
    title: "spikes per sample",
    scale: { domain: xDomain, nice: false },
    axis: { format: "~s" },
  };
  const y = {
    field: "acc",
    type: "quantitative",
    title: "test accuracy (%)",
    scale: { domain: paddedDomain(ys), nice: false },
    axis: { format: "~r" },
  };
  const tip = [
    { field: "config", title: "configuration" },
    { field: "acc", title: "test accuracy (%)", format: ".2f" },
    { field: "accSd", title: "sd", format: ".2f" },
    { field: "spikes", title: "spikes/sample", format: ".1f" },
    { field: "spikesSd", title: "sd", format: ".1f" },
    { field: "n", title: "seeds" },
  ];
  const small = size === "column";
  if (data.runs.length === 0) {
    return emptyFigure(
      `Test accuracy against spikes per test sample at the best epoch of ${experiment}.`,
      "No run has finished yet.",
    );
  }
  const caption = `Test accuracy against spikes per test sample at the best epoch of ` +
    `${experiment}: each finished run (small), each configuration's mean ± sd over seeds ` +
    `(large, with bars), and the Pareto front (ringed, joined by a dashed step): ${front.length} ` +
    `of ${configs.length} configuration${configs.length === 1 ? "" : "s"}, none of which ` +
    `another beats in accuracy with fewer spikes.`;
  const build = (panelWidth: number): VlSpec => {
    const color = colorEncoding(plan, width, "circle");
    return {
      $schema: VL_SCHEMA,
      description: caption,
      width: panelWidth,
      height: panelHeight(panelWidth, 120, 300),
      datasets: { runs: data.runs, configs, front },
      layer: [
        {
          data: { name: "runs" },
          mark: { type: "point", filled: true, size: small ? 12 : 18, opacity: 0.45 },
          encoding: {
            x,
            y,
            color,
            tooltip: [{ field: "id", title: "run" }, { field: "acc", format: ".2f" }, {
              field: "spikes",
              format: ".1f",
            }],
          },
        },
        {
          data: { name: "front" },
          mark: {
            type: "line",
            interpolate: "step-after",
            color: "#333",
            strokeDash: [4, 3],
            strokeWidth: 1,
          },
          encoding: { x, y },
        },
        {
          data: { name: "configs" },
          mark: { type: "rule", strokeWidth: 1 },
          encoding: {
            x: { ...x, field: "spikesLo" },
            x2: { field: "spikesHi" },
            y,
            color,
            opacity: faded(0.8),
          },
        },
        {
          data: { name: "configs" },
          mark: { type: "rule", strokeWidth: 1 },
          encoding: {
            x,
            y: { ...y, field: "accLo" },
            y2: { field: "accHi" },
            color,
            opacity: faded(0.8),
          },
        },
        {
          data: { name: "configs" },
          params: [LEGEND_PICK],
          mark: { type: "point", filled: true, size: small ? 40 : 60, opacity: 1 },
          encoding: {
            x,
            y,
            color,
            // Large grids: colour shows the first grid key, the shape the others.
            ...(plan.restDomain.length > 0
              ? {
                shape: {
                  field: "rest",
                  type: "nominal",
                  sort: plan.restDomain,
                  title: "with",
                },
              }
              : {}),
            tooltip: tip,
            opacity: faded(),
          },
        },
        {
          data: { name: "front" },
          mark: {
            type: "point",
            filled: false,
            size: small ? 150 : 220,
            strokeWidth: 1.25,
            color: "#111",
          },
          encoding: { x, y, tooltip: tip },
        },
        // Labels of the front: right of a point, or left of it past the middle;
        // neighbours on the front take turns above and below, so close labels do not collide.
        ...[false, true].flatMap((left) =>
          [false, true].map((below) => ({
            data: { name: "front" },
            transform: [{
              filter: `${left ? "" : "!"}datum.labelLeft && ${below ? "" : "!"}datum.labelBelow`,
            }],
            mark: {
              type: "text",
              align: left ? "right" : "left",
              dx: left ? -9 : 9,
              dy: below ? 12 : -9,
              fontSize: small ? 7 : FONT,
              color: "#111",
            },
            encoding: { x, y, text: { field: "config" } },
          }))
        ),
      ],
      config: paperConfig(),
    };
  };
  return { build, across: 1, caption };
}

/**
 * The colour domain of the spike-time heatmap: from the smallest share of spikes in
 * a bin that holds any (but no less than 1/10,000 of the largest) to the largest, on
 * a log scale, so bins holding 0.1 % and 50 % of the spikes both read; [0.01, 100]
 * without spikes.
 *
 * @example
 * ```ts
 * import { spikeShareDomain } from "./figures.ts";
 * const d = spikeShareDomain([{ share: 0 }, { share: 2 }, { share: 40 }, { share: null }]);
 * if (d.join() !== "2,40") throw new Error(d.join());
 * ```
 */
export function spikeShareDomain(rows: { share: number | null }[]): [number, number] {
  const shares = rows.map((r) => r.share).filter((s): s is number => s !== null && s > 0);
  if (shares.length === 0) return [0.01, 100];
  const hi = Math.max(...shares);
  const lo = Math.max(Math.min(...shares), hi / 1e4);
  return lo === hi ? [hi / 10, hi] : [lo, hi];
}

/**
 * Spike times per spiking layer (rows) and configuration (columns, at most
 * {@link MAX_HEATMAP_CONFIGS} for the size: the best by mean test accuracy, in
 * natural order): a heatmap of epoch x time bin coloured by the share of the
 * layer's spikes in the bin on a log scale (empty bins left white), and a last
 * column, in greys and labelled, with the share of its neurons that stayed silent.
 */
export function spikeTimesFigure(
  plan: LegendPlan,
  runs: RunRecord[],
  experiment: string,
  tWin = 1,
  size: FigureSize = "page",
): FigureDraft {
  const width = FIGURE_WIDTH[size];
  const ranked = [...plan.groups].filter((g) => g.testMean !== null)
    .sort((a, b) => (b.testMean as number) - (a.testMean as number));
  // Configurations without a finished run (all still running) come after the ranked ones.
  const rest = plan.groups.filter((g) => g.testMean === null);
  const chosen = new Set(
    [...ranked, ...rest].slice(0, MAX_HEATMAP_CONFIGS[size]).map((g) => g.label),
  );
  // Long runs: a sample of the epochs keeps the heatmap readable (and the file small).
  const allEpochs = [...new Set(runs.flatMap((r) => r.metrics.map((m) => m.epoch)))]
    .sort((a, b) => a - b);
  const kept = new Set(spreadEpochs(allEpochs, MAX_HEATMAP_EPOCHS));
  const rows = spikeTimeRows(plan, runs, tWin, [...chosen], (e) => kept.has(e));
  const shown = plan.groups.filter((g) =>
    chosen.has(g.label) && rows.some((r) => r.config === g.label)
  ).map((g) => g.label);
  if (rows.length === 0) {
    return emptyFigure(
      `Spike times in each spiking layer per epoch of ${experiment}.`,
      "No run has recorded spike times yet.",
    );
  }
  const bins = Math.max(1, ...rows.filter((r) => r.column !== "silent").map((r) => r.bin + 1));
  const epochs = [...new Set(rows.map((r) => r.epoch))].sort((a, b) => a - b);
  const stride = Math.max(1, Math.ceil(epochs.length / 10));
  const epochAxis = epochs.filter((_, i) => i % stride === 0 || i === epochs.length - 1);
  const domain = spikeShareDomain(rows);
  // Time runs along x over [0, T]; the silent share sits in a wider column past a gap.
  const silent0 = tWin * 1.05, silent1 = tWin * 1.3, silentMid = (silent0 + silent1) / 2;
  const cells = rows.map((r) => ({
    ...r,
    x0: r.t0 ?? silent0,
    // Each bin reaches a hair into the next, so no seam shows between neighbours.
    x1: r.t1 === null ? silent1 : r.t1 + tWin * 0.004,
    xm: r.t0 === null ? silentMid : (r.t0 + (r.t1 as number)) / 2,
  }));
  const ticks = size === "page" ? [0, 0.25, 0.5, 0.75, 1] : [0, 0.5];
  const x = {
    field: "x0",
    type: "quantitative",
    title: size === "page" ? `spike time (T = ${tWin})` : "spike time",
    scale: { domain: [0, silent1], nice: false, zero: false },
    axis: {
      values: [...ticks.map((t) => t * tWin), silentMid],
      labelExpr: `datum.value > ${tWin} ? 'silent' : format(datum.value, '~g')`,
      labelOverlap: false,
      labelFlush: false,
    },
  };
  const y = {
    field: "epoch",
    type: "ordinal",
    title: "epoch",
    sort: epochs,
    axis: { values: epochAxis },
    scale: { paddingInner: 0, paddingOuter: 0 },
  };
  const notes = [
    plan.groups.length > shown.length
      ? `the best ${shown.length} of ${plan.groups.length} configurations by mean test accuracy`
      : "",
    allEpochs.length > kept.size ? `${kept.size} of ${allEpochs.length} epochs` : "",
  ].filter(Boolean);
  const caption = `Spike times in each spiking layer per epoch of ${experiment}: the share ` +
    `of the layer's spikes (seeds pooled) in each of ${bins} time bins over the window, on a ` +
    `log colour scale from ${fmt(domain[0])} % to ${fmt(domain[1])} % (white: no spike in ` +
    `that bin), and in grey the share of its neurons that stayed silent${
      notes.length ? ` (${notes.join("; ")})` : ""
    }.`;
  const legendLength = Math.max(50, Math.min(160, (width - 40) / 2 - 30));
  const build = (panelWidth: number): VlSpec => {
    const rowHeight = Math.max(4, Math.min(12, 140 / Math.max(1, epochs.length)));
    const height = Math.max(36, Math.round(rowHeight * epochs.length));
    const textSize = Math.min(FONT - 1, rowHeight - 2);
    return {
      $schema: VL_SCHEMA,
      description: caption,
      data: { values: cells },
      facet: {
        row: {
          field: "layer",
          type: "nominal",
          sort: layersOf(runs).map((l) => l.name),
          title: null,
          // `layer 1` over `32C3`, level: fits beside a row of a few epochs.
          header: {
            labelFontWeight: "bold",
            labelLimit: 0,
            labelAngle: 0,
            labelAlign: "right",
            labelBaseline: "middle",
            labelExpr: "split(datum.label, ': ')",
            labelFontSize: FONT,
          },
        },
        column: {
          field: "config",
          type: "nominal",
          sort: shown,
          title: null,
          // `lr=0.001, seed=1` on two lines: a configuration per narrow column.
          header: { labelFontSize: FONT, labelExpr: "split(datum.label, ', ')", labelLimit: 0 },
        },
      },
      spec: {
        width: panelWidth,
        height,
        layer: [
          {
            transform: [{ filter: "datum.column !== 'silent' && datum.share > 0" }],
            mark: { type: "rect" },
            encoding: {
              x,
              x2: { field: "x1" },
              y,
              color: {
                field: "share",
                type: "quantitative",
                title: "spikes in bin (%)",
                scale: { type: "log", domain, clamp: true, scheme: "viridis" },
                legend: {
                  format: "~g",
                  gradientLength: legendLength,
                  tickCount: 4,
                  labelOverlap: "greedy",
                },
              },
              tooltip: [
                { field: "config", title: "configuration" },
                { field: "layer" },
                { field: "epoch" },
                { field: "t0", title: "from", format: ".3~g" },
                { field: "t1", title: "to", format: ".3~g" },
                { field: "share", title: "spikes in bin (%)", format: ".3~g" },
                { field: "spikes", title: "spikes counted", format: "," },
              ],
            },
          },
          {
            transform: [{ filter: "datum.column === 'silent'" }],
            mark: { type: "rect", stroke: "#fff", strokeWidth: 0.5 },
            encoding: {
              x,
              x2: { field: "x1" },
              y,
              fill: {
                field: "silent",
                type: "quantitative",
                title: "silent neurons (%)",
                scale: { scheme: "greys", domain: [0, 100] },
                legend: { gradientLength: legendLength, tickCount: 3, labelOverlap: "greedy" },
              },
              tooltip: [
                { field: "config", title: "configuration" },
                { field: "layer" },
                { field: "epoch" },
                { field: "silent", title: "silent neurons (%)", format: ".1f" },
              ],
            },
          },
          ...(textSize >= 5
            ? [{
              transform: [{ filter: "datum.column === 'silent' && datum.silent !== null" }],
              mark: { type: "text", fontSize: textSize },
              encoding: {
                x: { ...x, field: "xm" },
                y,
                text: { field: "silent", format: ".0f" },
                color: { condition: { test: "datum.silent > 55", value: "#fff" }, value: "#000" },
              },
            }]
            : []),
        ],
      },
      config: heatmapConfig(),
    };
  };
  return { build, across: Math.max(1, shown.length), caption };
}

/** The paper look without grid lines (a heatmap fills its cells). */
function heatmapConfig(): VlSpec {
  const c = paperConfig();
  return { ...c, axis: { ...(c.axis as VlSpec), grid: false } };
}

function fmt(v: number): string {
  return String(Number(v.toPrecision(2)));
}

/** Every figure of a report, by name, as drafts for one size. */
export function reportFigures(
  plan: LegendPlan,
  runs: RunRecord[],
  summaries: RunSummary[],
  experiment: string,
  tWin: number,
  size: FigureSize = "page",
): Record<FigureName, FigureDraft> {
  return {
    accuracy: accuracyFigure(plan, runs, experiment, size),
    loss: lossFigure(plan, runs, experiment, size),
    lr: lrFigure(plan, runs, experiment, size),
    tradeoff: tradeoffFigure(plan, summaries, experiment, size),
    firing: firingFigure(plan, runs, experiment, size),
    spike_times: spikeTimesFigure(plan, runs, experiment, tWin, size),
  };
}
