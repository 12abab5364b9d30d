/**
 * Drawing a trial's values: `random` (independent uniform coordinates),
 * `sobol` (a scrambled Sobol point) or `tpe` (random for the first
 * `startup_trials`, then TPE on the observations it is given).
 *
 * Trial `i`'s values under `random` and `sobol` are a pure function of the
 * seed and `i`, so every worker draws the same values for the same trial,
 * and a search with `scheduler: none` and the same seed trains exactly the
 * trials an ASHA search starts. Under `random`, each setting has its own
 * stream (forked by its name), so adding a setting to the space leaves the
 * others' draws as they were.
 *
 * @module
 */

import type { SearchSpec } from "../experiment/search_spec.ts";
import { Rng } from "../util/rng.ts";
import { sobolPoint } from "./sobol.ts";
import { fromUnit } from "./space.ts";
import { type Observation, tpePropose } from "./tpe.ts";

export type { Observation } from "./tpe.ts";

/**
 * The unit coordinates of trial `index` (0-based) for `random` and `sobol`,
 * one per searched setting in the space's order.
 */
export function unitPoint(spec: SearchSpec, index: number): number[] {
  const keys = Object.keys(spec.space);
  if (spec.sampler === "sobol") return sobolPoint(index, keys.length, spec.seed);
  const trial = new Rng(spec.seed).fork("trial").fork(index);
  return keys.map((k) => trial.fork(k).next());
}

/**
 * The values of trial `index` (0-based). For `tpe`, `observations` are the
 * finished results the model learns from (see `schedule.ts`, which picks
 * the rung); with fewer than two, or before `startup_trials`, it draws as
 * `random` does.
 *
 * @example
 * ```ts
 * import { sampleTrial } from "./samplers.ts";
 * import { parseExperiment } from "../experiment/config.ts";
 * const { search } = parseExperiment(
 *   "dataset: fmnist\narch: P2-32F\nsearch:\n  trials: 4\n  space:\n    lr: {log_uniform: [1.0e-4, 1.0e-2]}\n",
 *   "s.yaml",
 * );
 * const a = sampleTrial(search!, 3, []), b = sampleTrial(search!, 3, []);
 * if ((a.lr as number) < 1e-4 || (a.lr as number) > 1e-2 || a.lr !== b.lr) throw new Error();
 * ```
 */
export function sampleTrial(
  spec: SearchSpec,
  index: number,
  observations: readonly Observation[],
): Record<string, unknown> {
  if (spec.sampler === "tpe" && index >= spec.startup_trials && observations.length >= 2) {
    return tpePropose(spec.space, observations, new Rng(spec.seed).fork("tpe").fork(index));
  }
  const u = unitPoint(spec, index);
  return Object.fromEntries(Object.entries(spec.space).map(([k, d], j) => [k, fromUnit(d, u[j])]));
}
