/**
 * Layer 4, reports: reads run folders (`load.ts`), summarises them in tables
 * grouped over seeds (`table.ts`, `latex.ts`), computes what figures show
 * (`figure_data.ts`), specifies them in Vega-Lite (`figures.ts`) and renders
 * them headless (`vega.ts`), writes a report folder with a self-contained HTML
 * page (`report.ts`, `html.ts`), and serves a live board of running grids
 * (`board.ts`, its page `board_client.js` and curves `board_curves.js`).
 * Figures are laid out with Helvetica's widths (`text_metrics.ts`). Reads
 * files only; it never touches the GPU.
 *
 * May import: `run/`, `experiment/`, `data/`, `engine/`, `util/`.
 *
 * @module
 */

export * from "./board.ts";
export * from "./escape.ts";
export * from "./figure_data.ts";
export * from "./figures.ts";
export * from "./html.ts";
export * from "./latex.ts";
export * from "./load.ts";
export * from "./order.ts";
export * from "./report.ts";
export * from "./table.ts";
export * from "./text_metrics.ts";
export * from "./vega.ts";
