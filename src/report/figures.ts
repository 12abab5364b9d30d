/**
 * The report's figures: accuracy per epoch for every run, per-layer firing per
 * epoch for the best run, and the best run's spike-time histograms per layer.
 *
 * @module
 */

import type { EpochMetrics, RunRecord } from "./load.ts";
import {
  type Area,
  axes,
  element,
  linearScale,
  lineChart,
  type LineSeries,
  niceDomain,
  num,
  PALETTE,
  path,
  svgDocument,
  text,
} from "./svg.ts";

/**
 * Test (solid) and validation (dashed) accuracy in percent per epoch; series
 * `<id> test` and `<id> val` (the latter only when the run has validation accuracy).
 */
export function accuracyFigure(runs: RunRecord[], title = "Accuracy per epoch"): string {
  const series: LineSeries[] = [];
  runs.filter((r) => r.metrics.length > 0).forEach((r, i) => {
    const color = PALETTE[i % PALETTE.length];
    const pts = (key: "test_acc" | "val_acc") =>
      r.metrics.map((
        m,
      ): [number, number | null] => [m.epoch, m[key] === null ? null : m[key] * 100]);
    series.push({ name: `${r.id} test`, points: pts("test_acc"), color });
    if (r.metrics.some((m) => m.val_acc !== null)) {
      series.push({ name: `${r.id} val`, points: pts("val_acc"), color, dash: "5 3" });
    }
  });
  return lineChart({ title, series, xLabel: "epoch", yLabel: "accuracy (%)", integerX: true });
}

function layerName(l: { index: number; token: string }): string {
  return `L${l.index} ${l.token}`;
}

/** Layers seen in a run's metrics, by index, with their first token. */
function layersOf(metrics: EpochMetrics[]): { index: number; token: string }[] {
  const seen = new Map<number, string>();
  for (const m of metrics) {
    for (const l of m.layers ?? []) if (!seen.has(l.index)) seen.set(l.index, l.token);
  }
  return [...seen.entries()].sort((a, b) => a[0] - b[0]).map(([index, token]) => ({
    index,
    token,
  }));
}

/** Fraction of neurons that fired, per layer (series `L<index> <token>`) per epoch. */
export function firingFigure(run: RunRecord | null): string {
  const metrics = run?.metrics ?? [];
  const series: LineSeries[] = layersOf(metrics).map((l) => ({
    name: layerName(l),
    points: metrics.map((m): [number, number | null] => {
      const f = m.layers?.find((x) => x.index === l.index)?.firing;
      return [m.epoch, f === undefined || !Number.isFinite(f) ? null : f];
    }),
  }));
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter((v): v is number =>
    v !== null
  );
  const top = ys.length ? niceDomain(0, Math.max(...ys, 1e-3))[1] : 1;
  return lineChart({
    title: run ? `Firing per layer: ${run.id}` : "Firing per layer (no runs)",
    series,
    xLabel: "epoch",
    integerX: true,
    yLabel: "fraction of neurons that fired",
    yDomain: [0, Math.min(1, top) || 1],
  });
}

/**
 * Histograms of spike times per layer of one epoch (default: the best run's best epoch),
 * one small panel per layer; each histogram is a filled `<path data-series="L<index> <token>">`
 * showing the fraction of that layer's spikes per bin over `[0, t_win]`.
 */
export function spikeTimesFigure(run: RunRecord | null, epoch: number | null): string {
  const m = run?.metrics.find((x) => x.epoch === epoch) ??
    (run && run.metrics.length ? run.metrics[run.metrics.length - 1] : undefined);
  const layers = (m?.layers ?? []).filter((l) => l.hist.length > 0);
  const tWin = typeof run?.settings.t_win === "number" && run.settings.t_win > 0
    ? run.settings.t_win
    : 1;
  const cols = Math.max(1, Math.min(3, layers.length));
  const rows = Math.max(1, Math.ceil(layers.length / cols));
  const pw = 260, ph = 190;
  const width = Math.max(cols * pw + 20, 560), height = rows * ph + 50;
  const title = run && m
    ? `Spike times per layer: ${run.id}, epoch ${m.epoch}`
    : "Spike times per layer (no data)";
  const body: string[] = [text(width / 2, 22, title, { "text-anchor": "middle", "font-size": 15 })];
  if (layers.length === 0) {
    body.push(text(width / 2, height / 2, "no data", { "text-anchor": "middle", fill: "#888" }));
  }
  layers.forEach((l, i) => {
    const cx = 10 + (i % cols) * pw, cy = 40 + Math.floor(i / cols) * ph;
    const area: Area = { x: cx + 55, y: cy + 22, width: pw - 75, height: ph - 72 };
    const total = l.hist.reduce((a, b) => a + b, 0);
    const frac = l.hist.map((h) => (total > 0 ? h / total : 0));
    const yTop = Math.min(1, niceDomain(0, Math.max(...frac, 1e-3), 4)[1]);
    const sx = linearScale([0, tWin], [area.x, area.x + area.width]);
    const sy = linearScale([0, yTop], [area.y + area.height, area.y]);
    const bw = tWin / frac.length;
    let d = `M${num(sx(0))} ${num(sy(0))}`;
    frac.forEach((f, j) => {
      d += `V${num(sy(f))}H${num(sx((j + 1) * bw))}`;
    });
    d += `V${num(sy(0))}Z`;
    const color = PALETTE[i % PALETTE.length];
    body.push(element(
      "g",
      { class: "panel" },
      text(cx + pw / 2, cy + 14, `${layerName(l)} (${total.toLocaleString("en-US")} spikes)`, {
        "text-anchor": "middle",
      }) +
        axes(area, {
          xDomain: [0, tWin],
          yDomain: [0, yTop],
          xLabel: "spike time",
          yLabel: "fraction",
        }) +
        path(d, {
          "data-series": layerName(l),
          fill: color,
          "fill-opacity": 0.55,
          stroke: color,
        }),
    ));
  });
  return svgDocument(width, height, body.join("\n"), title);
}
