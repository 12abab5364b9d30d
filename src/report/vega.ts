/**
 * Renders Vega-Lite specifications headless: compiled to Vega (npm `vega-lite`)
 * and drawn by a Vega view without a renderer to SVG text (npm `vega`). No
 * browser or canvas is needed. Also gives the Vega browser bundle that the
 * HTML report and the board inline, so they work offline.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { compile, vega } from "../deps/vega.ts";
import type { VlSpec } from "./figures.ts";
import { vegaTextWidth } from "./text_metrics.ts";

// Headless layout measures text with Helvetica's widths instead of Vega's guess.
(vega as unknown as { textMetrics: { width: unknown } }).textMetrics.width = vegaTextWidth;

/** Compiles a Vega-Lite specification to a Vega one; errors name the figure. */
export function toVega(spec: VlSpec, name = "figure"): vega.Spec {
  try {
    return compile(spec as any).spec as vega.Spec;
  } catch (e) {
    throw new Error(
      `Cannot compile the Vega-Lite spec of ${name}: ${e instanceof Error ? e.message : e}`,
    );
  }
}

/**
 * A Vega view of a Vega-Lite specification, run once and not attached to anything
 * (renderer "none"). The caller finalizes it.
 */
export async function headlessView(spec: VlSpec, name = "figure"): Promise<vega.View> {
  const view = new vega.View(vega.parse(toVega(spec, name)), { renderer: "none" });
  view.logLevel(vega.Error);
  await view.runAsync();
  return view;
}

/**
 * SVG text of a Vega-Lite specification.
 *
 * @example
 * ```ts
 * import { renderSvg } from "./vega.ts";
 * const svg = await renderSvg({
 *   data: { values: [{ x: 1, y: 2 }, { x: 2, y: 3 }] },
 *   mark: "line",
 *   encoding: { x: { field: "x", type: "quantitative" }, y: { field: "y", type: "quantitative" } },
 * });
 * if (!svg.startsWith("<svg")) throw new Error(svg.slice(0, 40));
 * ```
 */
export async function renderSvg(spec: VlSpec, name = "figure"): Promise<string> {
  const view = await headlessView(spec, name);
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * An SVG drawn by Vega with its size in points: `width="486pt"` instead of
 * `width="486"` (CSS pixels), so LaTeX (through Inkscape or rsvg-convert) places it
 * at the size it was laid out for (1 unit = 1 pt, fonts in points); browsers show it
 * 4/3 larger.
 */
export function svgInPoints(svg: string): string {
  return svg.replace(
    /^(<svg\b[^>]*?) width="([\d.]+)" height="([\d.]+)"/,
    (_, head, w, h) => `${head} width="${w}pt" height="${h}pt"`,
  );
}

/** Width and height of an SVG's root, in its units. */
export function svgSize(svg: string): { width: number; height: number } {
  const m = /^<svg\b[^>]*? width="([\d.]+)(?:pt)?" height="([\d.]+)(?:pt)?"/.exec(svg);
  if (!m) throw new Error(`expected an <svg> with a width and a height, got ${svg.slice(0, 80)}`);
  return { width: Number(m[1]), height: Number(m[2]) };
}

/**
 * Draws a figure at `width` (points): builds its spec for a panel width, renders
 * it, and solves for the panel width at which the whole SVG is `width` wide (the
 * secant method: the width grows about linearly with the panels; within half a
 * point, at most six drawings; the closest one drawn otherwise, a narrower one
 * on a tie). Returns the spec and the SVG, sized in points ({@link svgInPoints}).
 */
export async function drawAtWidth(
  draft: { build: (panelWidth: number) => VlSpec; across: number },
  width: number,
  name = "figure",
): Promise<{ spec: VlSpec; svg: string }> {
  const tries: { panel: number; got: number; spec: VlSpec; svg: string }[] = [];
  const draw = async (panel: number) => {
    const p = Math.max(20, Math.round(panel * 100) / 100);
    const spec = draft.build(p);
    const svg = await renderSvg(spec, name);
    tries.push({ panel: p, got: svgSize(svg).width, spec, svg });
    return tries[tries.length - 1];
  };
  let a = await draw(Math.max(40, (width - 48 - 10 * (draft.across - 1)) / draft.across));
  // A first step as if every point of panel were a point of figure, then secants.
  let b = await draw(a.panel + (width - a.got) / draft.across);
  while (tries.length < 6 && Math.abs(b.got - width) > 0.5) {
    const slope = b.panel !== a.panel && b.got !== a.got
      ? (b.got - a.got) / (b.panel - a.panel)
      : draft.across;
    const next = await draw(b.panel + (width - b.got) / (slope > 0 ? slope : draft.across));
    [a, b] = [b, next];
  }
  const best = tries.reduce((x, y) => {
    const dx = Math.abs(x.got - width), dy = Math.abs(y.got - width);
    return dy < dx || (dy === dx && y.got < x.got) ? y : x;
  });
  return { spec: best.spec, svg: svgInPoints(best.svg) };
}

/** The installed Vega version. */
export const VEGA_VERSION: string = vega.version;

let bundle: Promise<string> | null = null;

/**
 * Vega's browser bundle (`build/vega.min.js` of the pinned npm package), read from
 * the package that this module loaded.
 */
export function vegaBrowserBundle(): Promise<string> {
  bundle ??= (async () => {
    const entry = import.meta.resolve("vega");
    if (!entry.startsWith("file:")) {
      throw new Error(
        `Cannot find Vega's browser bundle: expected npm 'vega' in a node_modules folder, got ${entry}`,
      );
    }
    const path = join(dirname(fileURLToPath(entry)), "vega.min.js");
    try {
      return await Deno.readTextFile(path);
    } catch (e) {
      throw new Error(
        `Cannot read Vega's browser bundle '${path}': ${e instanceof Error ? e.message : e}`,
      );
    }
  })();
  return bundle;
}
