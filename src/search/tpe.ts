/**
 * The tree-structured Parzen estimator (TPE; Bergstra, Bardenet, Bengio and
 * Kégl, "Algorithms for hyper-parameter optimization", NeurIPS 2011), in
 * its multivariate form: instead of modelling `p(score | x)`, it splits the
 * observed trials into the best `ceil(gamma n)` ("good") and the rest, fits
 * one density to each, `l(x)` and `g(x)`, and proposes the candidate drawn
 * from `l` that maximises `l(x) / g(x)` (which maximises expected
 * improvement under the model).
 *
 * Every density lives on the unit cube of the space (`space.ts`), so a
 * log-uniform learning rate is modelled on its logarithm:
 *
 * - a group of `m` observations is a mixture of `m + 1` equally weighted
 *   product kernels: one per observation and one prior kernel (broad: centre
 *   1/2, width 1, and uniform over choices), so an unexplored region never
 *   has zero density;
 * - a numeric coordinate's kernel is a normal truncated to `[0, 1]` of
 *   width `0.2 m^(-1 / (d + 4))` (`d` the number of numeric coordinates),
 *   the rate of Scott's rule on a fixed share of the range, as Optuna's
 *   multivariate TPE has it. Scott's rule on the group's own spread did
 *   worse: a few good trials close together shrink it until TPE only
 *   exploits (on our synthetic objectives it then did no better than
 *   random sampling);
 * - a choice's kernel puts `(1 + 1/k) / 2` on the observed value and
 *   `1 / (2k)` on each of the others (one unit of prior mass spread evenly).
 *
 * Failed trials score `-Infinity`: they are always in `g`. Candidates,
 * bandwidths and the split are deterministic given the observations and the
 * generator, so one worker always proposes the same trials.
 *
 * @module
 */

import type { Distribution } from "../experiment/search_spec.ts";
import type { Rng } from "../util/rng.ts";
import { choiceIndex, fromUnit, toUnit } from "./space.ts";

/** One finished trial as TPE sees it. */
export interface Observation {
  /** Its values, by setting. */
  values: Record<string, unknown>;
  /** Higher is better; `-Infinity` for a failed trial. */
  score: number;
}

/** TPE's constants. */
export interface TpeOptions {
  /** Fraction of the observations that form the good group. Default 0.15. */
  gamma: number;
  /** Candidates drawn from `l` per proposal. Default 24. */
  candidates: number;
}

/** The defaults: Bergstra et al.'s quantile (0.15) and Hyperopt's 24 candidates. */
export const TPE_DEFAULTS: Readonly<TpeOptions> = Object.freeze({ gamma: 0.15, candidates: 24 });

/** Kernel width (share of the range) for one observation, and the prior kernel's. */
const BANDWIDTH = 0.2;
const PRIOR_BANDWIDTH = 1;

type Dim =
  | { key: string; numeric: true; d: Distribution }
  | { key: string; numeric: false; d: Distribution & { kind: "choice" }; k: number };

/** One group's density: kernel centres (numeric: unit coordinates; choice: index) and widths. */
interface Density {
  /** Per component (the prior last): per dimension its centre. */
  centres: number[][];
  /** Per numeric dimension its bandwidth (the prior's is 1). */
  widths: number[];
}

const SQRT2 = Math.SQRT2;
const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/** erf, Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7). */
function erf(x: number): number {
  const s = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 -
    (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t +
        0.254829592) * t * Math.exp(-a * a);
  return s * y;
}

/** Standard normal CDF. */
function phi(x: number): number {
  return 0.5 * (1 + erf(x / SQRT2));
}

/** log density at `x` of a normal (mu, sigma) truncated to [0, 1]. */
function logTruncNormal(x: number, mu: number, sigma: number): number {
  const mass = Math.max(phi((1 - mu) / sigma) - phi((0 - mu) / sigma), 1e-300);
  const z = (x - mu) / sigma;
  return -0.5 * z * z - LOG_SQRT_2PI - Math.log(sigma) - Math.log(mass);
}

/** A draw of a normal (mu, sigma) truncated to [0, 1) (rejection; uniform after 100 misses). */
function drawTruncNormal(rng: Rng, mu: number, sigma: number): number {
  for (let i = 0; i < 100; i++) {
    const x = mu + sigma * rng.normal();
    if (x >= 0 && x < 1) return x;
  }
  return rng.next();
}

function logSumExp(xs: number[]): number {
  const m = Math.max(...xs);
  if (m === -Infinity) return -Infinity;
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
}

function dimsOf(space: Record<string, Distribution>): Dim[] {
  return Object.entries(space).map(([key, d]) =>
    d.kind === "choice" ? { key, numeric: false, d, k: d.values.length } : { key, numeric: true, d }
  );
}

/** A point's coordinates: unit coordinates for numbers, the index for choices. */
function coordinates(dims: Dim[], values: Record<string, unknown>): number[] {
  return dims.map((dim) =>
    dim.numeric ? toUnit(dim.d, values[dim.key]) : choiceIndex(dim.d, values[dim.key])
  );
}

function fit(dims: Dim[], points: number[][]): Density {
  const m = points.length;
  const numeric = dims.filter((d) => d.numeric).length;
  const h = BANDWIDTH * Math.pow(m, -1 / (numeric + 4));
  const widths = dims.map((dim) => (dim.numeric ? h : 0));
  const prior = dims.map((dim) => (dim.numeric ? 0.5 : -1));
  return { centres: [...points, prior], widths };
}

/** log of one component's density at `x`. */
function logKernel(dims: Dim[], dens: Density, c: number, x: number[]): number {
  const isPrior = c === dens.centres.length - 1;
  const centre = dens.centres[c];
  let s = 0;
  dims.forEach((dim, j) => {
    if (dim.numeric) {
      s += logTruncNormal(x[j], centre[j], isPrior ? PRIOR_BANDWIDTH : dens.widths[j]);
    } else {
      const k = dim.k;
      const p = isPrior ? 1 / k : x[j] === centre[j] ? (1 + 1 / k) / 2 : 1 / (2 * k);
      s += Math.log(p);
    }
  });
  return s;
}

function logDensity(dims: Dim[], dens: Density, x: number[]): number {
  const n = dens.centres.length;
  return logSumExp(dens.centres.map((_, c) => logKernel(dims, dens, c, x))) - Math.log(n);
}

function draw(dims: Dim[], dens: Density, rng: Rng): number[] {
  const c = rng.int(dens.centres.length);
  const isPrior = c === dens.centres.length - 1;
  const centre = dens.centres[c];
  return dims.map((dim, j) => {
    if (dim.numeric) {
      return drawTruncNormal(rng, centre[j], isPrior ? PRIOR_BANDWIDTH : dens.widths[j]);
    }
    const k = dim.k;
    if (isPrior) return rng.int(k);
    // The observed value with (1 + 1/k) / 2, else uniform over all k (1/2 of the mass).
    return rng.next() < 0.5 ? centre[j] : rng.int(k);
  });
}

/**
 * Proposes the values of one trial from `observations` (at least two).
 *
 * @example
 * ```ts
 * import { tpePropose } from "./tpe.ts";
 * import { Rng } from "../util/rng.ts";
 * const space = { x: { kind: "uniform", low: 0, high: 1 } } as const;
 * // Twenty trials across [0, 1]; the best sit near 0.8: TPE proposes near them.
 * const obs = Array.from({ length: 20 }, (_, i) => ({ values: { x: i / 20 }, score: -Math.abs(i / 20 - 0.8) }));
 * const { x } = tpePropose(space, obs, new Rng(1)) as { x: number };
 * if (Math.abs(x - 0.8) > 0.1) throw new Error(String(x));
 * ```
 */
export function tpePropose(
  space: Record<string, Distribution>,
  observations: readonly Observation[],
  rng: Rng,
  options: Partial<TpeOptions> = {},
): Record<string, unknown> {
  const o = { ...TPE_DEFAULTS, ...options };
  if (observations.length < 2) {
    throw new Error(`tpePropose: expected at least 2 observations, got ${observations.length}`);
  }
  const dims = dimsOf(space);
  // Best first; equal scores keep their order (the caller's: by trial).
  const sorted = observations.map((ob, i) => ({ ob, i }))
    .sort((a, b) => (b.ob.score - a.ob.score) || a.i - b.i || 0)
    .map((e) => e.ob);
  // A failed trial is never good; -Infinity - -Infinity is NaN, so order those by hand.
  const finite = sorted.filter((ob) => ob.score > -Infinity);
  const ranked = [...finite, ...sorted.filter((ob) => !(ob.score > -Infinity))];
  const nGood = Math.min(
    Math.max(1, Math.ceil(o.gamma * ranked.length)),
    Math.max(1, finite.length),
    ranked.length - 1,
  );
  const pts = ranked.map((ob) => coordinates(dims, ob.values));
  const l = fit(dims, pts.slice(0, nGood));
  const g = fit(dims, pts.slice(nGood));
  let best: number[] | null = null;
  let bestScore = -Infinity;
  for (let c = 0; c < o.candidates; c++) {
    const x = draw(dims, l, rng);
    const s = logDensity(dims, l, x) - logDensity(dims, g, x);
    if (best === null || s > bestScore) {
      best = x;
      bestScore = s;
    }
  }
  const out: Record<string, unknown> = {};
  dims.forEach((dim, j) => {
    out[dim.key] = dim.numeric
      ? fromUnit(dim.d, Math.min(best![j], 1 - Number.EPSILON))
      : structuredClone(dim.d.values[best![j]]);
  });
  return out;
}
