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
