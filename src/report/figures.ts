/**
 * The report's figures as Vega-Lite specifications (a grammar of graphics):
 * each is plain JSON holding its data, so it can be restyled or redrawn
 * elsewhere; `vega.ts` renders them to SVG. Configurations (seeds grouped)
 * are coloured in natural order; seeds show as a ± standard deviation band.
 *
 * @module
 */

import {
  accuracyRows,
  type BandRow,
  firingRows,
  layersOf,
  type LegendPlan,
  lossRows,
  lrRows,
  spikeTimeRows,
  spreadEpochs,
  tradeoffData,
} from "./figure_data.ts";
import type { RunRecord } from "./load.ts";
import type { RunSummary } from "./table.ts";

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

/** What a figure shows, for captions and alternative text. */
export const FIGURE_CAPTIONS: Record<FigureName, string> = {
  accuracy: "Validation and test accuracy per epoch: mean over seeds with a ± sd band",
  loss: "Training and validation loss per epoch: mean over seeds with a ± sd band",
  lr: "Learning rate per epoch",
  tradeoff:
    "Test accuracy against spikes per sample at the best epoch: seeds (small), configurations " +
    "(mean ± sd) and the Pareto front (ringed, stepped line)",
  firing: "Neurons that fired per spiking layer and epoch: mean over seeds with a ± sd band",
  spike_times:
    "Spike times per spiking layer and epoch (share of the layer's spikes per time bin, seeds " +
    "pooled) and the share of neurons that stayed silent",
};

/** Panel size of the small multiples. */
const PANEL = { width: 300, height: 200 };

/** Most configurations shown side by side in the spike-time figure. */
export const MAX_HEATMAP_CONFIGS = 6;

/** Most epochs (rows) of a spike-time heatmap; longer runs show an even sample. */
export const MAX_HEATMAP_EPOCHS = 40;

/** Past this many epochs, curves are drawn without a marker on each epoch. */
export const MAX_MARKED_EPOCHS = 30;

function colorEncoding(plan: LegendPlan): VlSpec {
  return {
    field: "color",
    type: "nominal",
    title: plan.colorTitle,
    sort: plan.colorDomain,
    scale: { domain: plan.colorDomain, range: plan.colorRange },
    legend: { labelLimit: 320, symbolType: "stroke", symbolStrokeWidth: 3, symbolOpacity: 1 },
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

function title(text: string, subtitle?: string): VlSpec {
  return subtitle ? { text, subtitle, anchor: "start" } : { text, anchor: "start" };
}

/**
 * Lines of a metric's mean per epoch with a ± sd band, one colour per configuration,
 * a column per series (e.g. validation, test) and, for large grids, a row per value
 * of the settings that colour does not show.
 */
export function bandFigure(
  plan: LegendPlan,
  rows: BandRow[],
  opts: {
    title: string;
    subtitle?: string;
    yTitle: string;
    series: string[];
    yScale?: VlSpec;
    yAxis?: VlSpec;
    band?: boolean;
  },
): VlSpec {
  const x = {
    field: "epoch",
    type: "quantitative",
    title: "epoch",
    axis: { tickMinStep: 1, format: "d" },
    scale: { nice: false },
  };
  const yScale = opts.yScale ?? { zero: false };
  const color = colorEncoding(plan);
  const tooltip = [
    { field: "config", title: "configuration" },
    { field: "series" },
    { field: "epoch" },
    { field: "mean", format: ".4~g" },
    { field: "sd", format: ".3~g" },
    { field: "n", title: "seeds" },
  ];
  const layers: VlSpec[] = [];
  if (opts.band !== false) {
    layers.push({
      mark: { type: "area", opacity: 0.2 },
      encoding: {
        x,
        y: {
          field: "lo",
          type: "quantitative",
          title: opts.yTitle,
          scale: yScale,
          ...(opts.yAxis ? { axis: opts.yAxis } : {}),
        },
        y2: { field: "hi" },
        color,
        detail: { field: "config" },
        opacity: faded(0.2),
      },
    });
  }
  layers.push({
    params: [LEGEND_PICK],
    mark: {
      type: "line",
      strokeWidth: 2,
      ...(new Set(rows.map((r) => r.epoch)).size <= MAX_MARKED_EPOCHS
        ? { point: { size: 28 } }
        : {}),
    },
    encoding: {
      x,
      y: {
        field: "mean",
        type: "quantitative",
        title: opts.yTitle,
        scale: yScale,
        ...(opts.yAxis ? { axis: opts.yAxis } : {}),
      },
      color,
      detail: { field: "config" },
      opacity: faded(),
      tooltip,
    },
  });
  const facet: VlSpec = {
    column: {
      field: "series",
      type: "nominal",
      sort: opts.series,
      title: null,
      // One series needs no column header: the title says it.
      header: opts.series.length > 1
        ? { labelFontSize: 13, labelFontWeight: "bold" }
        : { labels: false },
    },
  };
  if (plan.restDomain.length > 0) {
    facet.row = {
      field: "rest",
      type: "nominal",
      sort: plan.restDomain,
      title: null,
      header: { labelAngle: 0, labelAlign: "left", labelLimit: 200 },
    };
  }
  return {
    $schema: VL_SCHEMA,
    title: title(opts.title, opts.subtitle),
    data: { values: rows },
    facet,
    spec: { width: PANEL.width, height: PANEL.height, layer: layers },
    config: { view: { stroke: "#ddd" } },
  };
}

function subtitleOf(plan: LegendPlan, runs: RunRecord[]): string {
  const seeds = new Set(runs.map((r) => JSON.stringify(r.settings.seed ?? null))).size;
  return `${plan.groups.length} configuration${plan.groups.length === 1 ? "" : "s"}, ` +
    `${runs.length} run${runs.length === 1 ? "" : "s"}${seeds > 1 ? ` (${seeds} seeds)` : ""}`;
}

/** Validation and test accuracy (%) per epoch, per configuration. */
export function accuracyFigure(plan: LegendPlan, runs: RunRecord[], experiment: string): VlSpec {
  return bandFigure(plan, accuracyRows(plan, runs), {
    title: `Accuracy per epoch (mean ± sd over seeds): ${experiment}`,
    subtitle: subtitleOf(plan, runs),
    yTitle: "accuracy (%)",
    series: ["validation", "test"],
  });
}

/** Training and validation loss per epoch, per configuration. */
export function lossFigure(plan: LegendPlan, runs: RunRecord[], experiment: string): VlSpec {
  return bandFigure(plan, lossRows(plan, runs), {
    title: `Loss per epoch (mean ± sd over seeds): ${experiment}`,
    subtitle: subtitleOf(plan, runs),
    yTitle: "loss per sample",
    series: ["training", "validation"],
  });
}

/** Learning rate per epoch (log scale), per configuration. */
export function lrFigure(plan: LegendPlan, runs: RunRecord[], experiment: string): VlSpec {
  return bandFigure(plan, lrRows(plan, runs), {
    title: `Learning rate per epoch: ${experiment}`,
    yTitle: "learning rate",
    series: ["learning rate"],
    yScale: { type: "log" },
    yAxis: { format: "~e", tickCount: 4 },
    band: false,
  });
}

/** Firing (% of neurons that fired) per spiking layer and epoch, per configuration. */
export function firingFigure(plan: LegendPlan, runs: RunRecord[], experiment: string): VlSpec {
  return bandFigure(plan, firingRows(plan, runs), {
    title: `Neurons that fired per layer (mean ± sd over seeds): ${experiment}`,
    subtitle: "100 % minus this is the share that stayed silent",
    yTitle: "neurons that fired (%)",
    series: layersOf(runs).map((l) => l.name),
  });
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
): VlSpec {
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
      labelLeft: c.spikes > xDomain[0] + (xDomain[1] - xDomain[0]) * 0.66,
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
  const color = colorEncoding(plan);
  const tip = [
    { field: "config", title: "configuration" },
    { field: "acc", title: "test accuracy (%)", format: ".2f" },
    { field: "accSd", title: "sd", format: ".2f" },
    { field: "spikes", title: "spikes/sample", format: ".1f" },
    { field: "spikesSd", title: "sd", format: ".1f" },
    { field: "n", title: "seeds" },
  ];
  return {
    $schema: VL_SCHEMA,
    title: title(
      `Accuracy against spikes per sample: ${experiment}`,
      `${front.length} of ${configs.length} configuration${
        configs.length === 1 ? "" : "s"
      } on the Pareto front (ringed): no other has higher accuracy with fewer spikes`,
    ),
    width: 520,
    height: 340,
    datasets: { runs: data.runs, configs, front },
    layer: [
      {
        data: { name: "runs" },
        mark: { type: "point", filled: true, size: 22, opacity: 0.45 },
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
        mark: { type: "line", interpolate: "step-after", color: "#333", strokeDash: [5, 3] },
        encoding: { x, y },
      },
      {
        data: { name: "configs" },
        mark: { type: "rule", strokeWidth: 1.2 },
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
        mark: { type: "rule", strokeWidth: 1.2 },
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
        mark: { type: "point", filled: true, size: 90, opacity: 1 },
        encoding: {
          x,
          y,
          color: { ...color, legend: { ...(color.legend as VlSpec), symbolType: "circle" } },
          // Large grids: colour shows the first grid key, the shape the others.
          ...(plan.restDomain.length > 0
            ? { shape: { field: "rest", type: "nominal", sort: plan.restDomain, title: "with" } }
            : {}),
          tooltip: tip,
          opacity: faded(),
        },
      },
      {
        data: { name: "front" },
        mark: { type: "point", filled: false, size: 320, strokeWidth: 2, color: "#111" },
        encoding: { x, y, tooltip: tip },
      },
      // Labels of the front: right of a point, or left of it in the right third;
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
            dx: left ? -12 : 12,
            dy: below ? 16 : -12,
            fontSize: 11,
            color: "#111",
          },
          encoding: { x, y, text: { field: "config" } },
        }))
      ),
    ],
  };
}

/**
 * Spike times per spiking layer (rows) and configuration (columns, at most
 * {@link MAX_HEATMAP_CONFIGS}: the best by mean test accuracy, in natural order):
 * a heatmap of epoch x time bin coloured by the share of the layer's spikes in the
 * bin, and a last column, in greys and labelled, with the share of its neurons that
 * stayed silent.
 */
export function spikeTimesFigure(
  plan: LegendPlan,
  runs: RunRecord[],
  experiment: string,
  tWin = 1,
): VlSpec {
  const ranked = [...plan.groups].filter((g) => g.testMean !== null)
    .sort((a, b) => (b.testMean as number) - (a.testMean as number));
  // Configurations without a finished run (all still running) come after the ranked ones.
  const rest = plan.groups.filter((g) => g.testMean === null);
  const chosen = new Set([...ranked, ...rest].slice(0, MAX_HEATMAP_CONFIGS).map((g) => g.label));
  // Long runs: a sample of the epochs keeps the heatmap readable (and the file small).
  const allEpochs = [...new Set(runs.flatMap((r) => r.metrics.map((m) => m.epoch)))]
    .sort((a, b) => a - b);
  const kept = new Set(spreadEpochs(allEpochs, MAX_HEATMAP_EPOCHS));
  const rows = spikeTimeRows(plan, runs, tWin, [...chosen], (e) => kept.has(e));
  const shown = plan.groups.filter((g) =>
    chosen.has(g.label) && rows.some((r) => r.config === g.label)
  )
    .map((g) => g.label);
  const columns = [
    ...new Set(
      rows.filter((r) => r.column !== "silent").sort((a, b) => a.bin - b.bin).map((r) => r.column),
    ),
    "silent",
  ];
  const bins = columns.length - 1;
  const labelled = columns.filter((_, j) =>
    j === bins || j % Math.max(1, Math.round(bins / 4)) === 0
  );
  const epochs = [...new Set(rows.map((r) => r.epoch))].sort((a, b) => a - b);
  const stride = Math.max(1, Math.ceil(epochs.length / 12));
  const epochAxis = epochs.filter((_, i) => i % stride === 0 || i === epochs.length - 1);
  const x = {
    field: "column",
    type: "ordinal",
    sort: columns,
    title: `spike time (bin start; window ${tWin})`,
    axis: { values: labelled, labelAngle: 0 },
  };
  const y = {
    field: "epoch",
    type: "ordinal",
    title: "epoch",
    sort: epochs,
    axis: { values: epochAxis },
  };
  const notes = [
    plan.groups.length > shown.length
      ? `best ${shown.length} of ${plan.groups.length} configurations by mean test accuracy`
      : "",
    allEpochs.length > kept.size ? `${kept.size} of ${allEpochs.length} epochs` : "",
    "seeds pooled",
  ];
  const subtitle = notes.filter(Boolean).join("; ");
  return {
    $schema: VL_SCHEMA,
    title: title(`Spike times per layer and epoch: ${experiment}`, subtitle),
    data: { values: rows },
    facet: {
      row: {
        field: "layer",
        type: "nominal",
        sort: layersOf(runs).map((l) => l.name),
        title: null,
        header: { labelFontWeight: "bold" },
      },
      column: {
        field: "config",
        type: "nominal",
        sort: shown,
        title: null,
        header: { labelLimit: 240 },
      },
    },
    spec: {
      width: Math.max(180, Math.min(280, 14 * columns.length)),
      height: Math.max(90, Math.min(300, 16 * epochs.length)),
      layer: [
        {
          transform: [{ filter: "datum.column !== 'silent'" }],
          mark: { type: "rect" },
          encoding: {
            x,
            y,
            color: {
              field: "share",
              type: "quantitative",
              title: "spikes in bin (%)",
              // Square root: the earliest bin often holds half the spikes; the rest stay visible.
              scale: { type: "sqrt", scheme: "viridis", domainMin: 0 },
            },
            tooltip: [
              { field: "config", title: "configuration" },
              { field: "layer" },
              { field: "epoch" },
              { field: "t0", title: "from", format: ".3~g" },
              { field: "t1", title: "to", format: ".3~g" },
              { field: "share", title: "spikes in bin (%)", format: ".2f" },
              { field: "spikes", title: "spikes counted", format: "," },
            ],
          },
        },
        {
          transform: [{ filter: "datum.column === 'silent'" }],
          mark: { type: "rect", stroke: "#fff", strokeWidth: 0.5 },
          encoding: {
            x,
            y,
            fill: {
              field: "silent",
              type: "quantitative",
              title: "silent neurons (%)",
              scale: { scheme: "greys", domain: [0, 100] },
            },
            tooltip: [
              { field: "config", title: "configuration" },
              { field: "layer" },
              { field: "epoch" },
              { field: "silent", title: "silent neurons (%)", format: ".1f" },
            ],
          },
        },
        {
          transform: [{ filter: "datum.column === 'silent' && datum.silent !== null" }],
          mark: { type: "text", fontSize: 9 },
          encoding: {
            x,
            y,
            text: { field: "silent", format: ".0f" },
            color: { condition: { test: "datum.silent > 55", value: "#fff" }, value: "#000" },
          },
        },
      ],
    },
    config: { view: { stroke: null }, axis: { grid: false } },
  };
}

/** Every figure of a report, by name. */
export function reportFigures(
  plan: LegendPlan,
  runs: RunRecord[],
  summaries: RunSummary[],
  experiment: string,
  tWin: number,
): Record<FigureName, VlSpec> {
  return {
    accuracy: accuracyFigure(plan, runs, experiment),
    loss: lossFigure(plan, runs, experiment),
    lr: lrFigure(plan, runs, experiment),
    tradeoff: tradeoffFigure(plan, summaries, experiment),
    firing: firingFigure(plan, runs, experiment),
    spike_times: spikeTimesFigure(plan, runs, experiment, tWin),
  };
}
