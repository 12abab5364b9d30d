/**
 * The figures of a search, as Vega-Lite specifications:
 *
 * - `search_curves`: the metric per epoch of every trial, coloured by the
 *   rung it reached, a cross where the scheduler stopped a trial, a rule at
 *   each rung's epoch, the best trial drawn thick;
 * - `search_params`: the metric of each trial (at the highest rung it
 *   reached) against each searched setting, one panel per setting, log axes
 *   for log distributions, colour by rung reached;
 * - `search_parallel`: parallel coordinates: one line per trial across the
 *   searched settings (each axis from its lowest to its highest value, on a
 *   log scale for log distributions) and the metric, coloured by the metric.
 *
 * @module
 */

import type { VlSpec } from "./figures.ts";
import { VL_SCHEMA } from "./figures.ts";
import type { RunRecord } from "./load.ts";
import { drawnText, type SearchData } from "./search.ts";

/** The search figures' names: `<name>.svg` and `<name>.vl.json`. */
export const SEARCH_FIGURE_NAMES = ["search_curves", "search_params", "search_parallel"] as const;

/** One of {@link SEARCH_FIGURE_NAMES}. */
export type SearchFigureName = (typeof SEARCH_FIGURE_NAMES)[number];

/** What each shows. */
export const SEARCH_FIGURE_CAPTIONS: Record<SearchFigureName, string> = {
  search_curves: "The metric per epoch of every trial: colour is the rung it reached, a cross " +
    "marks where the scheduler stopped it, rules mark the rungs; the best trial is thick",
  search_params: "The metric of each trial (at the highest rung it reached) against each " +
    "searched setting; log axes for log distributions",
  search_parallel: "Parallel coordinates: each trial across its settings and the metric, " +
    "coloured by the metric",
};

/** The metric of an epoch record, in the unit tables use (% for accuracies). */
function metricOf(metric: string, m: Record<string, unknown>): number | null {
  const v = m[metric];
  if (typeof v !== "number" || !Number.isFinite(v)) return null;
  return metric.endsWith("_acc") ? v * 100 : v;
}

function axisTitle(metric: string): string {
  return metric.endsWith("_acc") ? `${metric} (%)` : metric;
}

function rungLabel(rung: number, rungs: number): string {
  return `rung ${rung} of ${rungs}`;
}

/** The search's figures, one set per search (grid points are laid out side by side in each). */
export function searchFigures(
  searches: SearchData[],
  runs: RunRecord[],
): Record<SearchFigureName, VlSpec> {
  return {
    search_curves: curves(searches, runs),
    search_params: params(searches),
    search_parallel: parallel(searches),
  };
}

function multi(searches: SearchData[], one: (s: SearchData) => VlSpec, title: string): VlSpec {
  if (searches.length === 1) return { $schema: VL_SCHEMA, ...one(searches[0]) };
  return {
    $schema: VL_SCHEMA,
    title: { text: title, anchor: "start" },
    vconcat: searches.map((s) => ({ ...one(s), title: { text: s.gridId, anchor: "start" } })),
  };
}

function rungColor(s: SearchData): VlSpec {
  const n = s.schedule.rungs.length;
  const domain = Array.from({ length: n }, (_, i) => rungLabel(i + 1, n));
  return {
    field: "reached",
    type: "ordinal",
    title: "reached",
    sort: domain,
    scale: { domain, scheme: "viridis" },
  };
}

function curves(searches: SearchData[], runs: RunRecord[]): VlSpec {
  const byId = new Map(runs.map((r) => [r.id, r]));
  return multi(searches, (s) => {
    const n = s.schedule.rungs.length;
    const rows: Record<string, unknown>[] = [];
    const stops: Record<string, unknown>[] = [];
    for (const t of s.trials) {
      const run = byId.get(t.id);
      if (!run) continue;
      const reached = rungLabel(t.rung, n);
      const pts = run.metrics.map((m) => ({
        epoch: m.epoch,
        value: metricOf(s.metric, m as unknown as Record<string, unknown>),
      }))
        .filter((p) => p.value !== null);
      const best = s.best?.trial === t.id;
      for (const p of pts) {
        rows.push({ trial: t.id, epoch: p.epoch, value: p.value, reached, best, state: t.state });
      }
      const last = pts.at(-1);
      if (last && t.state === "pruned") {
        stops.push({ trial: t.id, epoch: last.epoch, value: last.value, reached });
      }
    }
    const rules = s.schedule.rungs.slice(0, -1).map((e, i) => ({
      epoch: e,
      label: `rung ${i + 1}: ${e} epoch${e === 1 ? "" : "s"}`,
    }));
    const x = {
      field: "epoch",
      type: "quantitative",
      title: "epoch",
      axis: { tickMinStep: 1, format: "d" },
      scale: { domain: [1, s.schedule.rungs.at(-1)!], nice: false },
    };
    const y = {
      field: "value",
      type: "quantitative",
      title: axisTitle(s.metric),
      scale: { zero: false },
    };
    return {
      title: {
        text: `Trials: ${s.metric} per epoch`,
        subtitle: "crosses: stopped by the scheduler; rules: rungs; thick: the best trial",
        anchor: "start",
      },
      width: 520,
      height: 300,
      layer: [
        {
          data: { values: rules },
          mark: { type: "rule", strokeDash: [4, 3], color: "#999" },
          encoding: { x: { ...x, field: "epoch" } },
        },
        {
          data: { values: rules },
          mark: {
            type: "text",
            align: "left",
            baseline: "top",
            dx: 3,
            dy: 2,
            color: "#777",
            fontSize: 10,
          },
          encoding: { x: { ...x, field: "epoch" }, y: { value: 0 }, text: { field: "label" } },
        },
        {
          data: { values: rows },
          mark: { type: "line", point: rows.length < 400 ? { size: 14 } : false, opacity: 0.8 },
          encoding: {
            x,
            y,
            detail: { field: "trial" },
            color: rungColor(s),
            strokeWidth: { condition: { test: "datum.best", value: 3.5 }, value: 1.2 },
            tooltip: [
              { field: "trial" },
              { field: "epoch" },
              { field: "value", title: axisTitle(s.metric), format: ".4~f" },
              { field: "state" },
            ],
          },
        },
        {
          data: { values: stops },
          mark: { type: "point", shape: "cross", size: 70, filled: true, strokeWidth: 1 },
          encoding: {
            x,
            y,
            color: rungColor(s),
            tooltip: [{ field: "trial" }, { field: "epoch" }],
          },
        },
      ],
    };
  }, "Trials per epoch");
}

function params(searches: SearchData[]): VlSpec {
  return multi(searches, (s) => {
    const n = s.schedule.rungs.length;
    const data = s.trials.filter((t) => t.value !== null).map((t) => ({
      trial: t.id,
      value: s.metric.endsWith("_acc") ? t.value! * 100 : t.value,
      reached: rungLabel(t.rung, n),
      ...Object.fromEntries(
        s.keys.map((k) => [`p_${k.key}`, k.choice ? drawnText(t.point[k.key]) : t.point[k.key]]),
      ),
    }));
    const panels = s.keys.map((k) => ({
      width: 220,
      height: 170,
      mark: { type: "point", filled: true, size: 50, opacity: 0.85 },
      encoding: {
        x: k.choice
          ? {
            field: `p_${k.key}`,
            type: "nominal",
            title: k.key,
            sort: k.values.map(drawnText),
            axis: { labelAngle: 0 },
          }
          : {
            field: `p_${k.key}`,
            type: "quantitative",
            title: k.log ? `${k.key} (log scale)` : k.key,
            scale: k.log ? { type: "log" } : { zero: false },
            axis: k.log ? { format: "~g" } : {},
          },
        ...(k.choice ? { xOffset: { field: "trial", type: "nominal", legend: null } } : {}),
        y: {
          field: "value",
          type: "quantitative",
          title: axisTitle(s.metric),
          scale: { zero: false },
        },
        color: rungColor(s),
        tooltip: [{ field: "trial" }, { field: `p_${k.key}`, title: k.key }, {
          field: "value",
          title: axisTitle(s.metric),
          format: ".4~f",
        }],
      },
    }));
    return {
      title: {
        text: `${s.metric} against each searched setting`,
        subtitle: "each trial at the highest rung it reached",
        anchor: "start",
      },
      data: { values: data },
      concat: panels,
      columns: Math.min(3, panels.length),
    };
  }, "Settings");
}

function parallel(searches: SearchData[]): VlSpec {
  return multi(searches, (s) => {
    const axes = [...s.keys.map((k) => k.key), s.metric];
    const trials = s.trials.filter((t) => t.value !== null);
    const rows: Record<string, unknown>[] = [];
    const ticks: Record<string, unknown>[] = [];
    const position = (key: string, values: unknown[]) => {
      const k = s.keys.find((x) => x.key === key);
      if (k?.choice) {
        // Every value of the choice, in the file's order, evenly spaced.
        const sorted = k.values.map(drawnText);
        return {
          at: (v: unknown) =>
            sorted.length === 1 ? 0.5 : sorted.indexOf(drawnText(v)) / (sorted.length - 1),
          labels: sorted.map((t, i) => ({
            pos: sorted.length === 1 ? 0.5 : i / (sorted.length - 1),
            text: t,
          })),
        };
      }
      const nums = values.map(Number).filter(Number.isFinite);
      const f = (v: number) => (k?.log ? Math.log(v) : v);
      const lo = Math.min(...nums.map(f)), hi = Math.max(...nums.map(f));
      const at = (v: unknown) => (hi > lo ? (f(Number(v)) - lo) / (hi - lo) : 0.5);
      const lo0 = Math.min(...nums), hi0 = Math.max(...nums);
      return {
        at,
        labels: hi > lo
          ? [{ pos: 0, text: drawnText(lo0) }, { pos: 1, text: drawnText(hi0) }]
          : [{ pos: 0.5, text: drawnText(lo0) }],
      };
    };
    const metricValues = trials.map((t) => (s.metric.endsWith("_acc") ? t.value! * 100 : t.value!));
    axes.forEach((axis, i) => {
      const values = axis === s.metric ? metricValues : trials.map((t) => t.point[axis]);
      if (values.length === 0) return;
      const p = position(axis, values);
      trials.forEach((t, j) => {
        rows.push({
          trial: t.id,
          axis,
          order: i,
          pos: p.at(values[j]),
          metric: metricValues[j],
          value: drawnText(values[j]),
        });
      });
      for (const l of p.labels) ticks.push({ axis, order: i, pos: l.pos, text: l.text });
    });
    const x = {
      field: "axis",
      type: "nominal",
      sort: axes,
      title: null,
      axis: { labelAngle: 0, orient: "top" },
    };
    return {
      title: {
        text: "Parallel coordinates",
        subtitle: "each axis from its lowest to its highest value",
        anchor: "start",
      },
      width: Math.max(360, 140 * axes.length),
      height: 280,
      layer: [
        {
          data: { values: axes.map((a) => ({ axis: a })) },
          mark: { type: "rule", color: "#bbb" },
          encoding: { x },
        },
        {
          data: { values: rows },
          mark: { type: "line", opacity: 0.75, strokeWidth: 1.4 },
          encoding: {
            x,
            y: { field: "pos", type: "quantitative", axis: null, scale: { domain: [0, 1] } },
            detail: { field: "trial" },
            order: { field: "order" },
            color: {
              field: "metric",
              type: "quantitative",
              title: axisTitle(s.metric),
              scale: {
                scheme: s.schedule.goal === "max" ? "viridis" : "viridis",
                reverse: s.schedule.goal !== "max",
              },
            },
            tooltip: [{ field: "trial" }, { field: "axis" }, { field: "value" }],
          },
        },
        {
          data: { values: ticks },
          mark: { type: "text", align: "left", dx: 4, fontSize: 10, color: "#444" },
          encoding: {
            x,
            y: { field: "pos", type: "quantitative", scale: { domain: [0, 1] } },
            text: { field: "text" },
          },
        },
      ],
    };
  }, "Parallel coordinates");
}
