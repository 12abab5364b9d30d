/**
 * Ordering that reads numbers as numbers: run ids such as `lr1e-3_seed10`
 * and grid values of mixed kinds sort the way a researcher reads them.
 *
 * @module
 */

/** A number in an id: digits with an optional fraction and exponent (`3`, `0.5`, `1e-3`, `2.5E+4`). */
const NUMBER = /\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

function tokens(s: string): (string | number)[] {
  const out: (string | number)[] = [];
  let last = 0;
  for (const m of s.matchAll(NUMBER)) {
    if (m.index > last) out.push(s.slice(last, m.index));
    out.push(Number(m[0]));
    last = m.index + m[0].length;
  }
  if (last < s.length) out.push(s.slice(last));
  return out;
}

const text = new Intl.Collator("en", { sensitivity: "variant" });

/**
 * Compares two ids piece by piece: numbers (including scientific notation) by value,
 * text alphabetically; a number sorts before text. Ties are broken by the plain text,
 * so the order is total.
 *
 * @example
 * ```ts
 * import { compareIds } from "./order.ts";
 * const ids = ["lr1e-2_seed0", "lr1e-3_seed10", "lr1e-3_seed2", "lr3e-4_seed0"];
 * const sorted = [...ids].sort(compareIds).join(" ");
 * if (sorted !== "lr3e-4_seed0 lr1e-3_seed2 lr1e-3_seed10 lr1e-2_seed0") throw new Error(sorted);
 * ```
 */
export function compareIds(a: string, b: string): number {
  const ta = tokens(a), tb = tokens(b);
  for (let i = 0; i < Math.min(ta.length, tb.length); i++) {
    const x = ta[i], y = tb[i];
    if (typeof x === "number" && typeof y === "number") {
      if (x !== y) return x < y ? -1 : 1;
    } else if (typeof x === "number") {
      return -1;
    } else if (typeof y === "number") {
      return 1;
    } else {
      const c = text.compare(x, y);
      if (c !== 0) return c;
    }
  }
  if (ta.length !== tb.length) return ta.length - tb.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Compares two setting values: numbers by value, booleans false first, strings and
 * everything else (as JSON) with {@link compareIds}; numbers before strings before
 * other values; null and undefined last.
 */
export function compareValues(a: unknown, b: unknown): number {
  const rank = (v: unknown) =>
    typeof v === "number"
      ? 0
      : typeof v === "boolean"
      ? 1
      : typeof v === "string"
      ? 2
      : v == null
      ? 4
      : 3;
  const ra = rank(a), rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (typeof a === "number" && typeof b === "number") return a === b ? 0 : a < b ? -1 : 1;
  if (typeof a === "boolean" && typeof b === "boolean") return Number(a) - Number(b);
  if (a == null) return 0;
  const sa = typeof a === "string" ? a : JSON.stringify(a);
  const sb = typeof b === "string" ? b : JSON.stringify(b);
  return compareIds(sa, sb);
}
