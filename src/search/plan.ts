/**
 * From an experiment file with a `search:` section (and `key=value`
 * overrides) to the searches it runs: one per point of its grid, each with
 * its own state folder and trial ids.
 *
 * Overrides apply to a search as to a grid: `key=value` fixes a setting
 * (and takes it out of the space if the search draws it), `key=v1,v2`
 * sweeps it, and every point of the resulting grid gets its own search.
 * Without a grid the one search has grid id `default` and trials `t0000`,
 * `t0001`, ...; with one, trial ids start with the point's id
 * (`lr1e-3_t0000`).
 *
 * @module
 */

import type { Experiment, ParsedExperiment } from "../experiment/config.ts";
import { experimentPoints, type Override } from "../experiment/overrides.ts";
import type { SearchSpec } from "../experiment/search_spec.ts";
import { SOBOL_MAX_DIMENSIONS } from "./sobol.ts";
import { type Job, type Schedule, scheduleOf, trialId } from "./schedule.ts";
import { searchStateDir } from "./state.ts";

/** Stands in for a searched setting's file value while the grid is expanded. */
const DRAWN = "\u0000drawn by the search";

/** One search of an experiment: a point of its grid, searched. */
export interface SearchPlan {
  /** The grid point's id (`default` without a grid). */
  gridId: string;
  /** The grid point's values (`{}` without a grid). */
  gridPoint: Record<string, unknown>;
  /** The settings every trial starts from; a trial's draw replaces the searched ones. */
  settings: Experiment;
  /** The section, its space without the settings the grid or an override fixes. */
  spec: SearchSpec;
  /** The scheduler made concrete (rungs, brackets). */
  schedule: Schedule;
  /** What trial ids start with: `''`, or the grid point's id and `_`. */
  prefix: string;
  /** The state folder (`<output>/<name>/search/<grid id>`). */
  stateDir: string;
}

/** Thrown for a search the file and overrides describe but that cannot run (a usage error). */
export class SearchPlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SearchPlanError";
  }
}

/**
 * The searches of an experiment with a `search:` section, in grid order.
 * `output` replaces the file's output folder (`--output`). Throws a
 * {@link SearchPlanError} for a search that cannot run (a metric the runs do
 * not record, first rung above `epochs`, too many settings for Sobol).
 *
 * @example
 * ```ts
 * import { parseExperiment } from "../experiment/config.ts";
 * import { parseOverrides } from "../experiment/overrides.ts";
 * import { searchPlans } from "./plan.ts";
 * const exp = parseExperiment(
 *   "dataset: fmnist\narch: P2-32F\nepochs: 9\nsearch:\n  trials: 9\n  space:\n" +
 *     "    lr: {log_uniform: [1.0e-4, 1.0e-2]}\n    seed: {int: [0, 9]}\n",
 *   "s.yaml",
 * );
 * const plans = searchPlans(exp, parseOverrides(["seed=1,2"]));
 * if (plans.map((p) => p.gridId).join() !== "seed1,seed2") throw new Error();
 * if (Object.keys(plans[0].spec.space).join() !== "lr" || plans[1].settings.seed !== 2) throw new Error();
 * if (plans[0].schedule.rungs.join() !== "1,3,9" || plans[0].prefix !== "seed1_") throw new Error();
 * ```
 */
export function searchPlans(
  parsed: Pick<ParsedExperiment, "kind" | "base" | "grid" | "sections" | "search">,
  overrides: readonly Override[] = [],
  output?: string,
): SearchPlan[] {
  if (parsed.search === null) throw new SearchPlanError("expected a search: section, got none");
  // A searched key has no one value in the file: an override of it always fixes it (and
  // joins the search's id), even when it equals the file's or the default value.
  const searched = Object.keys(parsed.search.space);
  const masked = structuredClone(parsed.base) as unknown as Record<string, unknown>;
  for (const k of searched) masked[k] = DRAWN;
  const points = experimentPoints(
    { ...parsed, base: masked as unknown as Experiment },
    overrides,
  );
  for (const p of points) {
    const s = p.settings as unknown as Record<string, unknown>;
    for (const k of searched) {
      if (s[k] === DRAWN) {
        s[k] = structuredClone((parsed.base as unknown as Record<string, unknown>)[k]);
      }
    }
  }
  const fixed = new Set([
    ...Object.keys(parsed.grid),
    ...overrides.map((o) => o.key as string),
  ]);
  return points.map((p) => {
    const spec = structuredClone(parsed.search!);
    for (const k of Object.keys(spec.space)) if (fixed.has(k)) delete spec.space[k];
    const settings = structuredClone(p.settings);
    if (output !== undefined) settings.output = output;
    const where = points.length > 1 ? ` (grid point ${p.id})` : "";
    if (Object.keys(spec.space).length === 0) {
      throw new SearchPlanError(
        `search.space: expected at least one setting left to draw${where}, got none: the grid ` +
          `or the command line fixes every one`,
      );
    }
    if (spec.sampler === "sobol" && Object.keys(spec.space).length > SOBOL_MAX_DIMENSIONS) {
      throw new SearchPlanError(
        `search.sampler: sobol draws at most ${SOBOL_MAX_DIMENSIONS} settings, got ${
          Object.keys(spec.space).length
        }`,
      );
    }
    if (spec.metric.startsWith("val_")) {
      const vf = spec.space.validation_fraction;
      const noVal = vf === undefined
        ? settings.validation_fraction === 0
        : vf.kind === "choice"
        ? vf.values.includes(0)
        : vf.low <= 0;
      if (noVal) {
        throw new SearchPlanError(
          `search.metric: ${spec.metric} needs a validation split${where}, got ` +
            `validation_fraction 0 (set validation_fraction > 0, or rank by train_acc or ` +
            `train_loss)`,
        );
      }
    }
    let schedule: Schedule;
    try {
      schedule = scheduleOf(spec, settings.epochs);
    } catch (e) {
      throw new SearchPlanError(`${(e as Error).message}${where}`);
    }
    return {
      gridId: p.id,
      gridPoint: p.point,
      settings,
      spec,
      schedule,
      prefix: points.length === 1 && p.id === "default" ? "" : `${p.id}_`,
      stateDir: searchStateDir(settings.output, settings.name, p.id),
    };
  });
}

/** A trial's id in its search. */
export function planTrialId(plan: SearchPlan, index: number): string {
  return trialId(index, plan.prefix);
}

/** The settings a job trains with: the search's, with the job's values. */
export function jobSettings(plan: SearchPlan, job: Pick<Job, "point">): Experiment {
  const s = structuredClone(plan.settings) as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(job.point)) s[k] = structuredClone(v);
  return s as unknown as Experiment;
}
