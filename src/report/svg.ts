/**
 * A tiny SVG writer for report figures: escaping, scales, nice ticks, axes,
 * polylines, paths, legends, and two ready charts ({@link lineChart},
 * {@link barChart}). Every data series is one `<polyline>` or `<path>` carrying
 * `data-series="<name>"`.
 *
 * @module
 */

/** Colours for series, used in turn. */
export const PALETTE: readonly string[] = [
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#ff7f0e",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];

/**
 * Escapes text for XML content and attribute values.
 *
 * @example
 * ```ts
 * import { escapeXml } from "./svg.ts";
 * if (escapeXml(`a<b & "c" 'd'>`) !== "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;") throw new Error();
 * ```
 */
export function escapeXml(s: string): string {
  return s
    // Characters XML 1.0 forbids become U+FFFD.
    // deno-lint-ignore no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, "\ufffd")
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&apos;");
}

/** Formats a coordinate compactly (at most two decimals). */
export function num(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`Cannot write SVG number: expected finite, got ${v}`);
  const r = Math.round(v * 100) / 100;
  return String(Object.is(r, -0) ? 0 : r);
}

/** Attribute values: strings, numbers, or undefined (left out). */
export type Attrs = Record<string, string | number | undefined>;

function attrText(attrs: Attrs): string {
  let s = "";
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined) continue;
    if (!/^[A-Za-z_][A-Za-z0-9_.:-]*$/.test(k)) {
      throw new Error(`Cannot write SVG attribute: expected an XML name, got '${k}'`);
    }
    s += ` ${k}="${escapeXml(typeof v === "number" ? num(v) : v)}"`;
  }
  return s;
}

/**
 * One element; `children` is already SVG (not escaped), omitted for an empty element.
 *
 * @example
 * ```ts
 * import { element } from "./svg.ts";
 * if (element("rect", { x: 1.234, fill: "a&b" }) !== `<rect x="1.23" fill="a&amp;b"/>`) {
 *   throw new Error();
 * }
 * ```
 */
export function element(name: string, attrs: Attrs = {}, children?: string): string {
  return children === undefined
    ? `<${name}${attrText(attrs)}/>`
    : `<${name}${attrText(attrs)}>${children}</${name}>`;
}

/** A text element; the content is escaped. */
export function text(x: number, y: number, content: string, attrs: Attrs = {}): string {
  return element("text", { x, y, ...attrs }, escapeXml(content));
}

/** A polyline through points (non-finite points are dropped). */
export function polyline(points: [number, number][], attrs: Attrs = {}): string {
  const pts = points
    .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
    .map(([x, y]) => `${num(x)},${num(y)}`)
    .join(" ");
  return element("polyline", { points: pts, fill: "none", ...attrs });
}

/** A path with data `d`. */
export function path(d: string, attrs: Attrs = {}): string {
  return element("path", { d, ...attrs });
}

/** A complete SVG document. */
export function svgDocument(width: number, height: number, body: string, title?: string): string {
  const head = title === undefined ? "" : element("title", {}, escapeXml(title));
  return `<?xml version="1.0" encoding="UTF-8"?>\n` +
    element(
      "svg",
      {
        xmlns: "http://www.w3.org/2000/svg",
        width,
        height,
        viewBox: `0 0 ${num(width)} ${num(height)}`,
        "font-family": "sans-serif",
        "font-size": 12,
      },
      `\n${head}\n${element("rect", { width, height, fill: "white" })}\n${body}\n`,
    ) + "\n";
}

/** A linear map from `domain` to `range`; a zero-width domain maps to the range's middle. */
export function linearScale(
  domain: [number, number],
  range: [number, number],
): (v: number) => number {
  const [d0, d1] = domain, [r0, r1] = range;
  if (d1 === d0) return () => (r0 + r1) / 2;
  return (v) => r0 + ((v - d0) / (d1 - d0)) * (r1 - r0);
}

function tickStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/**
 * About `count` round tick values covering `[min, max]` (1, 2 or 5 times a power of ten apart).
 *
 * @example
 * ```ts
 * import { niceTicks } from "./svg.ts";
 * if (niceTicks(0, 1, 5).join() !== "0,0.2,0.4,0.6,0.8,1") throw new Error();
 * ```
 */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (max < min) [min, max] = [max, min];
  if (max === min) return [min];
  const step = tickStep(max - min, count);
  const out: number[] = [];
  const first = Math.ceil(min / step - 1e-9);
  for (let i = first; i * step <= max + step * 1e-9; i++) {
    out.push(Number((i * step).toPrecision(12)));
  }
  return out;
}

/** Widens `[min, max]` to round tick values (a flat range gets some room). */
export function niceDomain(min: number, max: number, count = 5): [number, number] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  if (max < min) [min, max] = [max, min];
  if (max === min) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const step = tickStep(max - min, count);
  return [
    Number((Math.floor(min / step + 1e-9) * step).toPrecision(12)),
    Number((Math.ceil(max / step - 1e-9) * step).toPrecision(12)),
  ];
}

/** Tick label: enough decimals for the tick spacing. */
export function tickLabel(v: number, ticks: number[]): string {
  const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : Math.abs(v) || 1;
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

/** A plotting rectangle in SVG coordinates. */
export interface Area {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Options of {@link axes}. */
export interface AxesOptions {
  xDomain: [number, number];
  yDomain: [number, number];
  xTicks?: number[];
  yTicks?: number[];
  xLabel?: string;
  yLabel?: string;
  /** Tick label formatters (default {@link tickLabel}). */
  xFormat?: (v: number) => string;
  yFormat?: (v: number) => string;
  /** Light horizontal grid lines at the y ticks (default true). */
  grid?: boolean;
}

/** A frame with ticks, tick labels, axis labels and grid lines. */
export function axes(area: Area, o: AxesOptions): string {
  const sx = linearScale(o.xDomain, [area.x, area.x + area.width]);
  const sy = linearScale(o.yDomain, [area.y + area.height, area.y]);
  const xTicks = o.xTicks ?? niceTicks(o.xDomain[0], o.xDomain[1], 6);
  const yTicks = o.yTicks ?? niceTicks(o.yDomain[0], o.yDomain[1], 5);
  const xf = o.xFormat ?? ((v: number) => tickLabel(v, xTicks));
  const yf = o.yFormat ?? ((v: number) => tickLabel(v, yTicks));
  const bottom = area.y + area.height;
  const parts: string[] = [];
  for (const t of yTicks) {
    const y = sy(t);
    if (o.grid ?? true) {
      parts.push(
        element("line", {
          x1: area.x,
          y1: y,
          x2: area.x + area.width,
          y2: y,
          stroke: "#e5e5e5",
        }),
      );
    }
    parts.push(element("line", { x1: area.x - 4, y1: y, x2: area.x, y2: y, stroke: "#333" }));
    parts.push(text(area.x - 6, y + 4, yf(t), { "text-anchor": "end" }));
  }
  for (const t of xTicks) {
    const x = sx(t);
    parts.push(element("line", { x1: x, y1: bottom, x2: x, y2: bottom + 4, stroke: "#333" }));
    parts.push(text(x, bottom + 16, xf(t), { "text-anchor": "middle" }));
  }
  parts.push(
    element("rect", { ...area, fill: "none", stroke: "#333" }),
  );
  if (o.xLabel) {
    parts.push(
      text(area.x + area.width / 2, bottom + 34, o.xLabel, { "text-anchor": "middle" }),
    );
  }
  if (o.yLabel) {
    const cx = area.x - 46, cy = area.y + area.height / 2;
    parts.push(
      text(cx, cy, o.yLabel, {
        "text-anchor": "middle",
        transform: `rotate(-90 ${num(cx)} ${num(cy)})`,
      }),
    );
  }
  return element("g", { class: "axes" }, parts.join(""));
}

/** One legend entry. */
export interface LegendItem {
  name: string;
  color: string;
  dash?: string;
  /** Draw a filled box instead of a line. */
  box?: boolean;
}

/** A vertical legend starting at `(x, y)`, 16 px per entry. */
export function legend(items: LegendItem[], x: number, y: number): string {
  const rows = items.map((it, i) => {
    const cy = y + i * 16;
    const mark = it.box
      ? element("rect", { x, y: cy - 5, width: 18, height: 10, fill: it.color })
      : element("line", {
        x1: x,
        y1: cy,
        x2: x + 18,
        y2: cy,
        stroke: it.color,
        "stroke-width": 2,
        "stroke-dasharray": it.dash,
      });
    return mark + text(x + 24, cy + 4, it.name);
  });
  return element("g", { class: "legend" }, rows.join(""));
}

/** One line of a {@link lineChart}: points with null or non-finite y are skipped. */
export interface LineSeries {
  name: string;
  points: [number, number | null][];
  color?: string;
  dash?: string;
}

/** Options of {@link lineChart}. */
export interface LineChartOptions {
  title: string;
  series: LineSeries[];
  xLabel?: string;
  yLabel?: string;
  /** Fixed domains; default: round values around the data. */
  xDomain?: [number, number];
  yDomain?: [number, number];
  yFormat?: (v: number) => string;
  /** Only whole-number x ticks (epochs). */
  integerX?: boolean;
  /** Small circles at the points (default true: a one-point series stays visible). */
  markers?: boolean;
  width?: number;
  height?: number;
}

const LEGEND_WIDTH = 200;

/**
 * A line chart: one `<polyline data-series="name">` per series, with axes and a legend.
 *
 * @example
 * ```ts
 * import { lineChart } from "./svg.ts";
 * const svg = lineChart({ title: "t", series: [{ name: "a", points: [[1, 0.5], [2, 0.7]] }] });
 * if (!svg.includes(`data-series="a"`)) throw new Error();
 * ```
 */
export function lineChart(o: LineChartOptions): string {
  const width = o.width ?? 760;
  const pts = o.series.flatMap((s) =>
    s.points.filter((p): p is [number, number] =>
      p[1] !== null && Number.isFinite(p[0]) && Number.isFinite(p[1])
    )
  );
  const height = Math.max(o.height ?? 420, 70 + o.series.length * 16);
  const area: Area = { x: 70, y: 40, width: width - 70 - LEGEND_WIDTH - 20, height: height - 100 };
  const xDomain = o.xDomain ??
    (pts.length
      ? niceDomain(Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0])), 6)
      : [0, 1]);
  const yDomain = o.yDomain ??
    (pts.length
      ? niceDomain(Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1])))
      : [0, 1]);
  const sx = linearScale(xDomain, [area.x, area.x + area.width]);
  const sy = linearScale(yDomain, [area.y + area.height, area.y]);
  const body: string[] = [
    text(width / 2, 22, o.title, { "text-anchor": "middle", "font-size": 15 }),
    axes(area, {
      xDomain,
      yDomain,
      xLabel: o.xLabel,
      yLabel: o.yLabel,
      yFormat: o.yFormat,
      xTicks: o.integerX
        ? niceTicks(xDomain[0], xDomain[1], 6).filter((t) => Number.isInteger(t))
        : undefined,
    }),
  ];
  if (pts.length === 0) {
    body.push(text(area.x + area.width / 2, area.y + area.height / 2, "no data", {
      "text-anchor": "middle",
      fill: "#888",
    }));
  }
  const items: LegendItem[] = [];
  o.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const good = s.points.filter((p): p is [number, number] =>
      p[1] !== null && Number.isFinite(p[0]) && Number.isFinite(p[1])
    );
    const xy = good.map(([x, y]) => [sx(x), sy(y)] as [number, number]);
    let g = polyline(xy, {
      "data-series": s.name,
      stroke: color,
      "stroke-width": 1.8,
      "stroke-dasharray": s.dash,
    });
    if (o.markers ?? true) {
      g += xy.map(([x, y]) => element("circle", { cx: x, cy: y, r: 2.5, fill: color })).join("");
    }
    body.push(element("g", { class: "series" }, g));
    items.push({ name: s.name, color, dash: s.dash });
  });
  body.push(legend(items, area.x + area.width + 20, area.y + 6));
  return svgDocument(width, height, body.join("\n"), o.title);
}

/** One group of bars of a {@link barChart}: one value per category (null: no bar). */
export interface BarSeries {
  name: string;
  values: (number | null)[];
  color?: string;
}

/** Options of {@link barChart}. */
export interface BarChartOptions {
  title: string;
  categories: string[];
  series: BarSeries[];
  xLabel?: string;
  yLabel?: string;
  yDomain?: [number, number];
  yFormat?: (v: number) => string;
  width?: number;
  height?: number;
}

/**
 * Grouped bars: each series is one `<path data-series="name">` made of rectangles.
 *
 * @example
 * ```ts
 * import { barChart } from "./svg.ts";
 * const svg = barChart({ title: "t", categories: ["x", "y"], series: [{ name: "s", values: [1, 2] }] });
 * if (!svg.includes(`data-series="s"`)) throw new Error();
 * ```
 */
export function barChart(o: BarChartOptions): string {
  const width = o.width ?? 760;
  const height = Math.max(o.height ?? 420, 70 + o.series.length * 16);
  const area: Area = { x: 70, y: 40, width: width - 70 - LEGEND_WIDTH - 20, height: height - 100 };
  const values = o.series.flatMap((s) =>
    s.values.filter((v): v is number => v !== null && Number.isFinite(v))
  );
  const yDomain = o.yDomain ??
    (values.length ? niceDomain(Math.min(0, ...values), Math.max(0, ...values)) : [0, 1]);
  const sy = linearScale(yDomain, [area.y + area.height, area.y]);
  const n = Math.max(1, o.categories.length);
  const slot = area.width / n;
  const barW = (slot * 0.8) / Math.max(1, o.series.length);
  const body: string[] = [
    text(width / 2, 22, o.title, { "text-anchor": "middle", "font-size": 15 }),
    axes(area, {
      xDomain: [0, n],
      yDomain,
      xTicks: [],
      xLabel: o.xLabel,
      yLabel: o.yLabel,
      yFormat: o.yFormat,
    }),
  ];
  o.categories.forEach((c, i) => {
    body.push(text(area.x + slot * (i + 0.5), area.y + area.height + 16, c, {
      "text-anchor": "middle",
    }));
  });
  const base = sy(Math.min(Math.max(0, yDomain[0]), yDomain[1]));
  const items: LegendItem[] = [];
  o.series.forEach((s, j) => {
    const color = s.color ?? PALETTE[j % PALETTE.length];
    const d = s.values.map((v, i) => {
      if (v === null || !Number.isFinite(v)) return "";
      const x = area.x + slot * i + slot * 0.1 + barW * j;
      const y = sy(v);
      return `M${num(x)} ${num(base)}V${num(y)}H${num(x + barW)}V${num(base)}Z`;
    }).join("");
    body.push(path(d, { "data-series": s.name, fill: color }));
    items.push({ name: s.name, color, box: true });
  });
  body.push(legend(items, area.x + area.width + 20, area.y + 6));
  return svgDocument(width, height, body.join("\n"), o.title);
}
