/**
 * A search's answer in one file: the best trial's settings as an experiment
 * file that runs as it stands (`deno task exp best.yaml`), every setting
 * written out, no search and no grid. Its trajectory is the best trial's
 * own: a trial trained in rungs and resumed from its checkpoints ends with
 * the weights of one run straight through, so the file reproduces it.
 *
 * @module
 */

import { Document, isSeq } from "../deps/yaml.ts";
import { type Experiment, parseExperiment, SETTING_KEYS } from "../experiment/config.ts";
import { metricGoal, type SearchSpec } from "../experiment/search_spec.ts";
import type { SearchPlan } from "./plan.ts";
import type { Job } from "./schedule.ts";

/** What {@link bestExperimentText} needs: the search's settings and what it ranked by. */
export interface BestSource {
  /** The settings every trial starts from. */
  settings: Experiment;
  /** The search's grid point id (`default` without a grid). */
  gridId: string;
  /** The metric that ranked the trials. */
  metric: string;
  /** The settings the search drew, in order. */
  drawn: string[];
}

/**
 * The experiment file of `job`'s trial (every setting, its drawn values in
 * place), named `<name>-best` (or `<name>-<grid id>-best`) so its run lands
 * beside the search, not in it. Checked by reading it back.
 *
 * @example
 * ```ts
 * import { bestExperimentText } from "./best.ts";
 * import { parseExperiment } from "../experiment/config.ts";
 * const { base } = parseExperiment("dataset: fmnist\narch: P2-32F\nname: s\n", "s.yaml");
 * const job = { trial: "t0003", index: 3, rung: 2, epochs: 9, bracket: 0, point: { lr: 0.002 } };
 * const text = bestExperimentText({ settings: base, gridId: "default", metric: "val_acc", drawn: ["lr"] }, job);
 * const back = parseExperiment(text, "best.yaml");
 * if (back.base.lr !== 0.002 || back.base.name !== "s-best" || back.search !== null) throw new Error(text);
 * ```
 */
export function bestExperimentText(src: BestSource, job: Job): string {
  const s = structuredClone(src.settings) as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(job.point)) s[k] = structuredClone(v);
  const settings = s as unknown as Experiment;
  const grid = src.gridId !== "default";
  const name = grid ? `${settings.name}-${src.gridId}-best` : `${settings.name}-best`;
  const body: Record<string, unknown> = {};
  for (const key of SETTING_KEYS) {
    if (key === "name") body.name = name;
    else if (settings[key] !== undefined) body[key] = settings[key];
  }
  const doc = new Document(body);
  for (const key of SETTING_KEYS) {
    const node = doc.get(key, true);
    if (isSeq(node)) node.flow = true;
  }
  const r = job.result;
  const drawn = src.drawn.map((k) => `${k}: ${JSON.stringify(job.point[k])}`);
  const goal = metricGoal(src.metric as SearchSpec["metric"]) === "max" ? "highest" : "lowest";
  doc.commentBefore = [
    ` The best trial of the search '${settings.name}'${
      grid ? ` (grid point ${src.gridId})` : ""
    }: ` +
    `${job.trial}, ${src.metric} ${short(r?.value)} (${goal}) after ${job.epochs} epochs` +
    `${
      r?.test_acc !== undefined && r.test_acc !== null ? `, test accuracy ${short(r.test_acc)}` : ""
    }.`,
    ` Drawn: ${drawn.join(", ")}.`,
    ` Every setting is written out; run it with: deno task exp <this file>`,
  ].join("\n");
  const text = doc.toString({ lineWidth: 0 });
  parseExperiment(text, `${name}.yaml`); // throws if it would not run
  return text;
}

function short(v: number | null | undefined): string {
  return typeof v === "number" ? String(Number(v.toPrecision(4))) : "?";
}

/** {@link bestExperimentText} for a search plan. */
export function bestExperimentYaml(plan: SearchPlan, job: Job): string {
  return bestExperimentText({
    settings: plan.settings,
    gridId: plan.prefix === "" ? "default" : plan.gridId,
    metric: plan.spec.metric,
    drawn: Object.keys(plan.spec.space),
  }, job);
}
