/**
 * The numbers behind the report's figures, computed from run folders before any
 * drawing: per configuration (seeds grouped) and epoch the mean and sample
 * standard deviation of a metric, accuracy against spikes with its Pareto front,
 * and per spiking layer the spike-time distribution with the silent share.
 * The figures (`figures.ts`) only draw these rows, so tests check them here and
 * in the specs.
 *
 * @module
 */

import type { EpochMetrics, LayerEpoch, RunRecord } from "./load.ts";
import { type ConfigGroup, meanStd, naturalOrder, settingText } from "./table.ts";

/** How a configuration appears in figures. */
export interface ConfigKey {
  /** The configuration's label (unique), e.g. `lr=0.001`. */
  config: string;
  /** What colours it: its label, or for large grids the first varying setting (`lr=0.001`). */
  color: string;
  /** The other varying settings when colour shows only the first (a row of facets), else "". */
  rest: string;
}

/** How configurations are coloured and grouped: legends that stay readable for large grids. */
export interface LegendPlan {
  /** Configurations in natural order (numbers by value). */
  groups: ConfigGroup[];
  keys: Map<string, ConfigKey>;
  /** Colour domain in order, and one distinct colour per entry. */
  colorDomain: string[];
  colorRange: string[];
  /** Title of the colour legend. */
  colorTitle: string;
  /** Rows of facets (values of `rest`) in order; empty when colour tells configurations apart. */
  restDomain: string[];
}

/** Most configurations coloured one by one before colour shows only the first varying setting. */
export const MAX_COLORS = 10;

/** Tableau 10 and its light variants (Tableau 20), in the order colours are given out. */
const TABLEAU20 = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
  "#a0cbe8",
  "#ffbe7d",
  "#ff9d9a",
  "#86bcb6",
  "#8cd17d",
  "#f1ce63",
  "#d4a6c8",
  "#fabfd2",
  "#d7b5a6",
  "#79706e",
];

/** A point of the viridis colour map (a 9-stop approximation), `t` in [0, 1]. */
function viridis(t: number): string {
  const stops = [
    [68, 1, 84],
    [72, 40, 120],
    [62, 74, 137],
    [49, 104, 142],
    [38, 130, 142],
    [31, 158, 137],
    [53, 183, 121],
    [109, 205, 89],
    [180, 222, 44],
  ];
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x)), f = x - i;
  const c = stops[i].map((v, j) => Math.round(v + (stops[i + 1][j] - v) * f));
  return `#${c.map((v) => v.toString(16).padStart(2, "0")).join("")}`;
}

/**
 * `n` distinct colours: Tableau 10 up to 10, Tableau 20 up to 20, then evenly spaced
 * along viridis (ordered values read as a ramp).
 *
 * @example
 * ```ts
 * import { distinctColors } from "./figure_data.ts";
 * for (const n of [1, 10, 18, 60]) {
 *   if (new Set(distinctColors(n)).size !== n) throw new Error(`${n} colours repeat`);
 * }
 * ```
 */
export function distinctColors(n: number): string[] {
  // The ten strong colours first; their light variants only beyond ten.
  if (n <= TABLEAU20.length) return TABLEAU20.slice(0, n);
  const out = Array.from({ length: n }, (_, i) => viridis(i / (n - 1)));
  // Neighbours on a long ramp can round to the same colour: nudge them apart.
  const seen = new Set<string>();
  return out.map((c) => {
    let v = c;
    for (let k = 1; seen.has(v); k++) {
      const n = (parseInt(c.slice(1), 16) + k) & 0xffffff;
      v = `#${n.toString(16).padStart(6, "0")}`;
    }
    seen.add(v);
    return v;
  });
}

/**
 * Colours and facets for a report's configurations. Up to {@link MAX_COLORS}
 * configurations (or a single varying setting) each get a colour; beyond that,
 * colour shows the first varying setting and the others make rows of facets.
 */
export function legendPlan(groups: ConfigGroup[]): LegendPlan {
  const ordered = naturalOrder(groups);
  const keys = new Map<string, ConfigKey>();
  const varyingKeys = ordered.length > 0 ? Object.keys(ordered[0].varying) : [];
  const split = ordered.length > MAX_COLORS && varyingKeys.length >= 2;
  const text = (g: ConfigGroup, ks: string[]) =>
    ks.map((k) => `${k}=${settingText(k, g.varying[k])}`).join(", ");
  for (const g of ordered) {
    keys.set(g.label, {
      config: g.label,
      color: split ? text(g, varyingKeys.slice(0, 1)) : g.label,
      rest: split ? text(g, varyingKeys.slice(1)) : "",
    });
  }
  const uniq = (xs: string[]) => [...new Set(xs)];
  const colorDomain = uniq(ordered.map((g) => keys.get(g.label)!.color));
  return {
    groups: ordered,
    keys,
    colorDomain,
    colorRange: distinctColors(colorDomain.length),
    colorTitle: split ? varyingKeys[0] : "configuration",
    // Rows in the natural order of the remaining settings.
    restDomain: split
      ? uniq(
        naturalOrder(ordered.map((g) => ({
          ...g,
          varying: Object.fromEntries(varyingKeys.slice(1).map((k) => [k, g.varying[k]])),
        }))).map((g) => text(g, varyingKeys.slice(1))),
      )
      : [],
  };
}

/** One point of a band: a metric's mean over a configuration's seeds at one epoch. */
export interface BandRow extends ConfigKey {
  /** What is measured: `validation`, `test`, `train`, a layer name, ... */
  series: string;
  epoch: number;
  mean: number;
  /** Sample standard deviation over seeds; null with one seed. */
  sd: number | null;
  /** mean - sd and mean + sd (the mean itself with one seed). */
  lo: number;
  hi: number;
  /** Seeds with a value at this epoch. */
  n: number;
}

/** Runs whose curves count: anything with metrics except failed runs (whose last numbers may be broken). */
export function curveRuns(runs: RunRecord[]): RunRecord[] {
  return runs.filter((r) => r.metrics.length > 0 && r.state !== "failed" && r.state !== "invalid");
}

function finite(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

/**
 * Mean and standard deviation over each configuration's seeds, per epoch, of
 * `value(metrics)` (null or non-finite values are left out). One call per series;
 * rows of configurations in natural order, epochs ascending.
 */
export function bandRows(
  plan: LegendPlan,
  runs: RunRecord[],
  series: string,
  value: (m: EpochMetrics) => number | null | undefined,
): BandRow[] {
  const byId = new Map(curveRuns(runs).map((r) => [r.id, r]));
  const rows: BandRow[] = [];
  for (const g of plan.groups) {
    const perEpoch = new Map<number, number[]>();
    for (const id of g.ids) {
      for (const m of byId.get(id)?.metrics ?? []) {
        const v = value(m);
        if (!finite(v)) continue;
        const list = perEpoch.get(m.epoch) ?? [];
        list.push(v);
        perEpoch.set(m.epoch, list);
      }
    }
    for (const epoch of [...perEpoch.keys()].sort((a, b) => a - b)) {
      const vs = perEpoch.get(epoch)!;
      const { mean, std } = meanStd(vs);
      rows.push({
        ...plan.keys.get(g.label)!,
        series,
        epoch,
        mean: mean as number,
        sd: std,
        lo: (mean as number) - (std ?? 0),
        hi: (mean as number) + (std ?? 0),
        n: vs.length,
      });
    }
  }
  return rows;
}

/** Accuracy (%) per epoch: validation and test. */
export function accuracyRows(plan: LegendPlan, runs: RunRecord[]): BandRow[] {
  const pct = (v: number | null | undefined) => (finite(v) ? v * 100 : null);
  return [
    ...bandRows(plan, runs, "validation", (m) => pct(m.val_acc)),
    ...bandRows(plan, runs, "test", (m) => pct(m.test_acc)),
  ];
}

/** Loss per epoch: training and validation. */
export function lossRows(plan: LegendPlan, runs: RunRecord[]): BandRow[] {
  return [
    ...bandRows(plan, runs, "training", (m) => m.train_loss),
    ...bandRows(plan, runs, "validation", (m) => m.val_loss),
  ];
}

/** Learning rate per epoch. */
export function lrRows(plan: LegendPlan, runs: RunRecord[]): BandRow[] {
  return bandRows(plan, runs, "learning rate", (m) => m.lr);
}

/** A spiking layer as figures name it: `layer <index>: <token>` (the index in the network's plan). */
export function layerName(l: { index: number; token: string }): string {
  return `layer ${l.index}: ${l.token}`;
}

/** The spiking layers seen in runs' metrics, by index. */
export function layersOf(runs: RunRecord[]): { index: number; token: string; name: string }[] {
  const seen = new Map<number, string>();
  for (const r of runs) {
    for (const m of r.metrics) {
      for (const l of m.layers ?? []) if (!seen.has(l.index)) seen.set(l.index, l.token);
    }
  }
  return [...seen.entries()].sort((a, b) => a[0] - b[0]).map(([index, token]) => ({
    index,
    token,
    name: layerName({ index, token }),
  }));
}

/** Firing fraction (% of a layer's neurons that fired, per sample) per layer and epoch. */
export function firingRows(plan: LegendPlan, runs: RunRecord[]): BandRow[] {
  return layersOf(runs).flatMap((l) =>
    bandRows(plan, runs, l.name, (m) => {
      const f = m.layers?.find((x) => x.index === l.index)?.firing;
      return finite(f) ? f * 100 : null;
    })
  );
}

/** One run in the accuracy-against-spikes figure. */
export interface TradeoffRun extends ConfigKey {
  id: string;
  /** Spikes per test sample at the best epoch. */
  spikes: number;
  /** Test accuracy (%) at the best epoch. */
  acc: number;
}

/** One configuration in the accuracy-against-spikes figure (finished seeds). */
export interface TradeoffConfig extends ConfigKey {
  spikes: number;
  spikesSd: number | null;
  acc: number;
  accSd: number | null;
  n: number;
  /** On the Pareto front: no other configuration has at least its accuracy with at most its spikes (one of them strictly). */
  pareto: boolean;
}

/**
 * Indices of the Pareto front of points that should have few `x` and much `y`:
 * points no other point dominates (`x' <= x` and `y' >= y`, one strictly), in
 * ascending `x`. Equal points are all on the front.
 *
 * @example
 * ```ts
 * import { paretoFront } from "./figure_data.ts";
 * const front = paretoFront([{ x: 1, y: 80 }, { x: 2, y: 90 }, { x: 3, y: 85 }, { x: 4, y: 95 }]);
 * if (front.join() !== "0,1,3") throw new Error(front.join());
 * ```
 */
export function paretoFront(points: { x: number; y: number }[]): number[] {
  const front = points.map((_, i) => i).filter((i) =>
    !points.some((q, j) =>
      j !== i && q.x <= points[i].x && q.y >= points[i].y &&
      (q.x < points[i].x || q.y > points[i].y)
    )
  );
  return front.sort((a, b) => points[a].x - points[b].x || points[b].y - points[a].y);
}

/**
 * Accuracy against spikes: every finished run (test accuracy and spikes per sample
 * at its best epoch) and every configuration's mean and standard deviation over its
 * finished seeds, with the Pareto front of the configurations marked.
 */
export function tradeoffData(
  plan: LegendPlan,
  summaries: {
    id: string;
    state: string;
    testAcc: number | null;
    spikesPerSample: number | null;
  }[],
): { runs: TradeoffRun[]; configs: TradeoffConfig[] } {
  const byId = new Map(summaries.map((s) => [s.id, s]));
  const outRuns: TradeoffRun[] = [];
  const configs: TradeoffConfig[] = [];
  for (const g of plan.groups) {
    const key = plan.keys.get(g.label)!;
    const done = g.ids.map((id) => byId.get(id)).filter((s) =>
      s !== undefined && s.state === "done" && finite(s.testAcc) && finite(s.spikesPerSample)
    ) as { id: string; testAcc: number; spikesPerSample: number }[];
    for (const s of done) {
      outRuns.push({ ...key, id: s.id, spikes: s.spikesPerSample, acc: s.testAcc * 100 });
    }
    if (done.length === 0) continue;
    const acc = meanStd(done.map((s) => s.testAcc * 100));
    const spikes = meanStd(done.map((s) => s.spikesPerSample));
    configs.push({
      ...key,
      spikes: spikes.mean as number,
      spikesSd: spikes.std,
      acc: acc.mean as number,
      accSd: acc.std,
      n: done.length,
      pareto: false,
    });
  }
  for (const i of paretoFront(configs.map((c) => ({ x: c.spikes, y: c.acc })))) {
    configs[i].pareto = true;
  }
  return { runs: outRuns, configs };
}

/**
 * At most `max` epochs out of `epochs` (ascending), evenly spaced, always with the
 * first and the last.
 *
 * @example
 * ```ts
 * import { spreadEpochs } from "./figure_data.ts";
 * const e = spreadEpochs(Array.from({ length: 100 }, (_, i) => i + 1), 5);
 * if (e.join() !== "1,26,51,75,100") throw new Error(e.join());
 * ```
 */
export function spreadEpochs(epochs: number[], max: number): number[] {
  if (epochs.length <= max) return epochs;
  const out = new Set<number>();
  for (let i = 0; i < max; i++) out.add(epochs[Math.round((i * (epochs.length - 1)) / (max - 1))]);
  return [...out];
}

/** One cell of a spike-time heatmap. */
export interface SpikeTimeRow extends ConfigKey {
  layer: string;
  epoch: number;
  /** Bin index, 0-based; the silent column is `bins`. */
  bin: number;
  /** What the column shows: a bin's start time (`0.25`) or `silent`. */
  column: string;
  /** Start and end of the bin in the layer's spike window (null for the silent column). */
  t0: number | null;
  t1: number | null;
  /** Share of the layer's spikes in this bin (%, spikes pooled over seeds); null for the silent column. */
  share: number | null;
  /** Share of the layer's neurons that stayed silent (%), in the silent column only. */
  silent: number | null;
  /** Spikes counted (pooled over seeds). */
  spikes: number;
  /** Seeds pooled. */
  n: number;
}

/** The time text of a bin's start. */
function timeText(t: number): string {
  return String(Number(t.toPrecision(3)));
}

/**
 * Per configuration, spiking layer and epoch: the share of the layer's spikes in
 * each time bin (histograms summed over seeds), and in a last column the share of
 * its neurons that stayed silent (100 % minus the mean firing fraction). `tWin` is
 * the spike window (the bins cover [0, tWin]).
 */
export function spikeTimeRows(
  plan: LegendPlan,
  runs: RunRecord[],
  tWin: number,
  configs: string[] = plan.groups.map((g) => g.label),
  epochFilter?: (epoch: number) => boolean,
): SpikeTimeRow[] {
  const byId = new Map(curveRuns(runs).map((r) => [r.id, r]));
  const layers = layersOf([...byId.values()]);
  const rows: SpikeTimeRow[] = [];
  for (const g of plan.groups) {
    if (!configs.includes(g.label)) continue;
    const key = plan.keys.get(g.label)!;
    const members = g.ids.map((id) => byId.get(id)).filter((r): r is RunRecord => !!r);
    const epochs = [...new Set(members.flatMap((r) => r.metrics.map((m) => m.epoch)))]
      .filter((e) => !epochFilter || epochFilter(e)).sort((a, b) => a - b);
    for (const l of layers) {
      for (const epoch of epochs) {
        const found: LayerEpoch[] = [];
        for (const r of members) {
          const x = r.metrics.find((m) => m.epoch === epoch)?.layers?.find((y) =>
            y.index === l.index
          );
          if (x && x.hist.length > 0) found.push(x);
        }
        if (found.length === 0) continue;
        const bins = Math.max(...found.map((x) => x.hist.length));
        const sums = Array.from(
          { length: bins },
          (_, j) => found.reduce((a, x) => a + (x.hist[j] ?? 0), 0),
        );
        const total = sums.reduce((a, b) => a + b, 0);
        const firing = found.map((x) => x.firing).filter(finite);
        const silent = firing.length > 0 ? 100 * (1 - meanStd(firing).mean!) : null;
        const width = tWin / bins;
        sums.forEach((c, j) => {
          rows.push({
            ...key,
            layer: l.name,
            epoch,
            bin: j,
            column: timeText(j * width),
            t0: j * width,
            t1: (j + 1) * width,
            share: total > 0 ? (100 * c) / total : 0,
            silent: null,
            spikes: c,
            n: found.length,
          });
        });
        rows.push({
          ...key,
          layer: l.name,
          epoch,
          bin: bins,
          column: "silent",
          t0: null,
          t1: null,
          share: null,
          silent,
          spikes: total,
          n: found.length,
        });
      }
    }
  }
  return rows;
}

/** Where a line sits among the lines it coincides with (see {@link coincidentLines}). */
export interface LinePlace {
  /** Its place in its class of coinciding lines, 0-based, in plan order. */
  index: number;
  /** How many lines the class holds (1: the line is alone). */
  count: number;
}

/**
 * Lines that would hide one another. Rows are grouped into lines (one per
 * configuration) within each panel (`series` and `rest`); two lines of a panel
 * coincide when at every epoch both have, their values (after `transform`, e.g.
 * a logarithm for a log scale) differ by at most `tolerance` of the panel's value
 * range. Coincidence joins classes (a ~ b and b ~ c put a, b and c together). Returns
 * each line's place by `panel key + configuration` (see {@link lineKey}).
 *
 * @example
 * ```ts
 * import { coincidentLines, lineKey } from "./figure_data.ts";
 * const row = (config: string, epoch: number, mean: number) =>
 *   ({ config, color: config, rest: "", series: "lr", epoch, mean, sd: null, lo: mean, hi: mean, n: 1 });
 * const rows = [row("a", 1, 1), row("a", 2, 2), row("b", 1, 1), row("b", 2, 2), row("c", 1, 5), row("c", 2, 1)];
 * const places = coincidentLines(rows, ["a", "b", "c"]);
 * const b = places.get(lineKey(rows[2]))!, c = places.get(lineKey(rows[4]))!;
 * if (b.index !== 1 || b.count !== 2 || c.count !== 1) throw new Error(JSON.stringify([b, c]));
 * ```
 */
export function coincidentLines(
  rows: BandRow[],
  configOrder: string[],
  transform: (v: number) => number = (v) => v,
  tolerance = 0.004,
): Map<string, LinePlace> {
  const panels = new Map<string, Map<string, Map<number, number>>>();
  for (const r of rows) {
    const panel = `${r.series}\u0000${r.rest}`;
    const lines = panels.get(panel) ?? new Map<string, Map<number, number>>();
    const line = lines.get(r.config) ?? new Map<number, number>();
    line.set(r.epoch, transform(r.mean));
    lines.set(r.config, line);
    panels.set(panel, lines);
  }
  const out = new Map<string, LinePlace>();
  const rank = (c: string) => {
    const i = configOrder.indexOf(c);
    return i < 0 ? configOrder.length : i;
  };
  for (const [panel, lines] of panels) {
    const values = [...lines.values()].flatMap((l) => [...l.values()]).filter(Number.isFinite);
    const span = values.length > 0 ? Math.max(...values) - Math.min(...values) : 0;
    const tol = span > 0 ? tolerance * span : 1e-12 * Math.max(1, ...values.map(Math.abs));
    const configs = [...lines.keys()].sort((a, b) => rank(a) - rank(b));
    const parent = configs.map((_, i) => i);
    const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i])));
    for (let i = 0; i < configs.length; i++) {
      for (let j = i + 1; j < configs.length; j++) {
        const a = lines.get(configs[i])!, b = lines.get(configs[j])!;
        const shared = [...a.keys()].filter((e) => b.has(e));
        if (shared.length === 0) continue;
        if (shared.every((e) => Math.abs(a.get(e)! - b.get(e)!) <= tol)) {
          parent[find(j)] = find(i);
        }
      }
    }
    const classes = new Map<number, string[]>();
    configs.forEach((c, i) => {
      const root = find(i);
      classes.set(root, [...(classes.get(root) ?? []), c]);
    });
    for (const members of classes.values()) {
      members.forEach((c, index) => {
        out.set(`${panel}\u0000${c}`, { index, count: members.length });
      });
    }
  }
  return out;
}

/** The key of a row's line in {@link coincidentLines}' map. */
export function lineKey(r: { series: string; rest: string; config: string }): string {
  return `${r.series}\u0000${r.rest}\u0000${r.config}`;
}

/**
 * The dash pattern that lets `count` coinciding lines all show: each draws one
 * dash of length `dash` in turn (`index` 0 first), so the shared line reads as
 * alternating colours. A line alone is solid (`[]`).
 *
 * @example
 * ```ts
 * import { sharedDash } from "./figure_data.ts";
 * const p = [0, 1, 2].map((i) => sharedDash({ index: i, count: 3 }, 4).join());
 * if (p.join(" | ") !== "4,8 | 0,4,4,4 | 0,8,4,0") throw new Error(p.join(" | "));
 * ```
 */
export function sharedDash(place: LinePlace, dash: number): number[] {
  if (place.count <= 1) return [];
  if (place.index === 0) return [dash, (place.count - 1) * dash];
  return [0, place.index * dash, dash, (place.count - 1 - place.index) * dash];
}

/**
 * How much the ± sd bands of a figure overlap: over every panel and epoch, the
 * share of pairs of configurations with a band (an sd) whose bands intersect.
 * 0 without pairs.
 *
 * @example
 * ```ts
 * import { bandOverlap } from "./figure_data.ts";
 * const row = (config: string, lo: number, hi: number) =>
 *   ({ config, color: config, rest: "", series: "s", epoch: 1, mean: (lo + hi) / 2, sd: 1, lo, hi, n: 2 });
 * // a-b and a-c intersect, b-c do not: 2 of 3 pairs.
 * const f = bandOverlap([row("a", 0, 10), row("b", 1, 2), row("c", 5, 6)]);
 * if (Math.abs(f - 2 / 3) > 1e-12) throw new Error(String(f));
 * ```
 */
export function bandOverlap(rows: BandRow[]): number {
  const cells = new Map<string, BandRow[]>();
  for (const r of rows) {
    if (r.sd === null) continue;
    const key = `${r.series}\u0000${r.rest}\u0000${r.epoch}`;
    cells.set(key, [...(cells.get(key) ?? []), r]);
  }
  let pairs = 0, overlapping = 0;
  for (const cell of cells.values()) {
    for (let i = 0; i < cell.length; i++) {
      for (let j = i + 1; j < cell.length; j++) {
        pairs++;
        if (Math.max(cell[i].lo, cell[j].lo) < Math.min(cell[i].hi, cell[j].hi)) overlapping++;
      }
    }
  }
  return pairs === 0 ? 0 : overlapping / pairs;
}
