/**
 * A search space's coordinates: every distribution is a map from the unit
 * interval to values of its setting, so samplers work on `[0, 1)` and never
 * on settings directly.
 *
 * - `uniform [lo, hi]`: `lo + u (hi - lo)`;
 * - `log_uniform [lo, hi]`: `exp(log lo + u (log hi - log lo))`;
 * - `int [lo, hi]` (inclusive): `lo + floor(u (hi - lo + 1))`; with `log: true`,
 *   `floor(exp(log lo + u (log(hi + 1) - log lo)))`, so `k` comes with
 *   probability `log((k + 1) / k) / log((hi + 1) / lo)`;
 * - `choice [v1 .. vn]`: `v[floor(u n)]`, each with probability `1 / n`.
 *
 * Reals are kept to 5 significant digits, so values read well in `run.yaml`
 * and tables; {@link toUnit} maps a value back to the middle of its cell.
 *
 * @module
 */

import type { Distribution } from "../experiment/search_spec.ts";

/** Significant digits a drawn real keeps. */
export const SIGNIFICANT = 5;

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

/** Rounds a real to {@link SIGNIFICANT} digits. */
function round(x: number): number {
  return Number(x.toPrecision(SIGNIFICANT));
}

/**
 * The value of `d` at `u` in `[0, 1)`.
 *
 * @example
 * ```ts
 * import { fromUnit } from "./space.ts";
 * if (fromUnit({ kind: "log_uniform", low: 1e-4, high: 1e-2 }, 0.5) !== 0.001) throw new Error();
 * if (fromUnit({ kind: "int", low: 1, high: 3, log: false }, 0.99) !== 3) throw new Error();
 * if (fromUnit({ kind: "choice", values: ["a", "b"] }, 0.5) !== "b") throw new Error();
 * ```
 */
export function fromUnit(d: Distribution, u: number): unknown {
  if (!(u >= 0 && u < 1)) throw new Error(`fromUnit: expected u in [0, 1), got ${u}`);
  switch (d.kind) {
    case "uniform":
      return clamp(round(d.low + u * (d.high - d.low)), d.low, d.high);
    case "log_uniform": {
      const x = Math.exp(Math.log(d.low) + u * (Math.log(d.high) - Math.log(d.low)));
      return clamp(round(x), d.low, d.high);
    }
    case "int": {
      const x = d.log
        ? Math.floor(Math.exp(Math.log(d.low) + u * (Math.log(d.high + 1) - Math.log(d.low))))
        : d.low + Math.floor(u * (d.high - d.low + 1));
      return clamp(x, d.low, d.high);
    }
    case "choice":
      return structuredClone(
        d.values[Math.min(d.values.length - 1, Math.floor(u * d.values.length))],
      );
  }
}

/**
 * Where a value of `d` sits in `[0, 1)`: the inverse of {@link fromUnit}
 * (the middle of an integer's or a choice's cell). Values outside the
 * distribution are clamped to it; a value that is no choice throws.
 *
 * @example
 * ```ts
 * import { fromUnit, toUnit } from "./space.ts";
 * const d = { kind: "uniform", low: 0, high: 4 } as const;
 * if (toUnit(d, 1) !== 0.25 || fromUnit(d, toUnit(d, 3)) !== 3) throw new Error();
 * if (toUnit({ kind: "choice", values: [1, 2] }, 2) !== 0.75) throw new Error();
 * ```
 */
export function toUnit(d: Distribution, value: unknown): number {
  const max = 1 - Number.EPSILON;
  switch (d.kind) {
    case "uniform":
      return clamp(((value as number) - d.low) / (d.high - d.low), 0, max);
    case "log_uniform":
      return clamp(
        (Math.log(value as number) - Math.log(d.low)) / (Math.log(d.high) - Math.log(d.low)),
        0,
        max,
      );
    case "int": {
      const k = clamp(value as number, d.low, d.high);
      if (!d.log) return (k - d.low + 0.5) / (d.high - d.low + 1);
      const span = Math.log(d.high + 1) - Math.log(d.low);
      return ((Math.log(k) + Math.log(k + 1)) / 2 - Math.log(d.low)) / span;
    }
    case "choice": {
      const i = choiceIndex(d, value);
      return (i + 0.5) / d.values.length;
    }
  }
}

/** The position of `value` among a choice's values; throws when it is none of them. */
export function choiceIndex(d: Distribution & { kind: "choice" }, value: unknown): number {
  const key = JSON.stringify(value);
  const i = d.values.findIndex((v) => JSON.stringify(v) === key);
  if (i < 0) {
    throw new Error(
      `Cannot place ${key} in the search space: expected one of ${JSON.stringify(d.values)}`,
    );
  }
  return i;
}

/** Whether a distribution draws on a logarithmic scale (figures use log axes for these). */
export function isLogScale(d: Distribution): boolean {
  return d.kind === "log_uniform" || (d.kind === "int" && d.log);
}
