/**
 * Text widths for headless layout. Without a canvas Vega guesses a text's width
 * as 0.8 em per character, half again too wide for Helvetica, so legends and
 * axes of figures drawn in Deno reserve room they never fill. The figures use
 * Helvetica (Arial and Liberation Sans have the same advance widths), whose
 * widths per character are public font metrics (Adobe's AFM files of the 14
 * standard PDF fonts); with them the layout computed here is the layout a
 * browser, Inkscape or a PDF viewer draws.
 *
 * @module
 */

/** The font of every figure: Helvetica or a font with its metrics. */
export const FIGURE_FONT = "Helvetica, Arial, Liberation Sans, sans-serif";

/** Advance widths (1/1000 em) of ASCII 32..126 in Helvetica, regular and bold. */
// deno-fmt-ignore
const REGULAR = [
  278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // space to /
  556, 556, 556, 556, 556, 556, 556, 556, 556, 556, // 0 to 9
  278, 278, 584, 584, 584, 556, 1015, // : to @
  667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, // A to M
  722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, // N to Z
  278, 278, 278, 469, 556, 333, // [ to `
  556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, // a to m
  556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, // n to z
  334, 260, 334, 584, // { to ~
];
// deno-fmt-ignore
const BOLD = [
  278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
  556, 556, 556, 556, 556, 556, 556, 556, 556, 556,
  333, 333, 584, 584, 584, 611, 975,
  722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833,
  722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611,
  333, 278, 333, 584, 556, 333,
  556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889,
  611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500,
  389, 280, 389, 584,
];
/** Characters beyond ASCII that figures use. */
const OTHER: Record<string, number> = {
  "±": 549, // Arial's (Helvetica has 584)
  "×": 584,
  "–": 556,
  "—": 1000,
  "…": 1000,
  "·": 278,
  "µ": 556,
  "°": 400,
  "≤": 549,
  "≥": 549,
  "−": 584,
};

/**
 * The width of `text` in Helvetica at `size` (any unit: the result is in the same).
 *
 * @example
 * ```ts
 * import { textWidth } from "./text_metrics.ts";
 * // "lr" is l (222) + r (333) thousandths of an em.
 * if (Math.abs(textWidth("lr", 10) - 5.55) > 1e-9) throw new Error();
 * ```
 */
export function textWidth(text: string, size: number, bold = false): number {
  const table = bold ? BOLD : REGULAR;
  let w = 0;
  for (const c of text) {
    const code = c.codePointAt(0)!;
    w += code >= 32 && code <= 126 ? table[code - 32] : OTHER[c] ?? 556;
  }
  return (w * size) / 1000;
}

/** A Vega text item, as much of it as widths depend on. */
interface TextItem {
  fontSize?: number | string;
  fontWeight?: number | string;
  limit?: number;
}

/**
 * Vega's `textMetrics.width`: the width of one line of an item's text, no wider
 * than the item's `limit` (Vega truncates a longer text to fit it).
 */
export function vegaTextWidth(item: TextItem, text: unknown): number {
  const s = text == null ? "" : String(text).trim();
  const size = item.fontSize != null ? Number(item.fontSize) || 0 : 11;
  const weight = item.fontWeight;
  const bold = weight === "bold" || weight === "bolder" || Number(weight) >= 600;
  const w = textWidth(s, size, bold);
  const limit = Number(item.limit);
  return limit > 0 ? Math.min(w, limit) : w;
}
