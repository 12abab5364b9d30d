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
import { metricGoal } from "../experiment/search_spec.ts";
import { jobSettings, type SearchPlan } from "./plan.ts";
import type { Job } from "./schedule.ts";

/**
 * The experiment file of `job`'s trial (every setting, its drawn values in
 * place), named `<name>-best` (or `<name>-<grid id>-best`) so its run lands
 * beside the search, not in it. Checked by reading it back.
 */
export function bestExperimentYaml(plan: SearchPlan, job: Job): string {
  const s: Experiment = jobSettings(plan, job);
  const name = plan.prefix === "" ? `${s.name}-best` : `${s.name}-${plan.gridId}-best`;
  const body: Record<string, unknown> = {};
  for (const key of SETTING_KEYS) {
    if (key === "name") body.name = name;
    else if (s[key] !== undefined) body[key] = s[key];
  }
  const doc = new Document(body);
  for (const key of SETTING_KEYS) {
    const node = doc.get(key, true);
    if (isSeq(node)) node.flow = true;
  }
  const r = job.result;
  const metric = plan.spec.metric;
  const drawn = Object.keys(plan.spec.space).map((k) => `${k}: ${JSON.stringify(job.point[k])}`);
  doc.commentBefore = [
    ` The best trial of the search '${s.name}'${
      plan.prefix === "" ? "" : ` (grid point ${plan.gridId})`
    }: ${job.trial}, ${metric} ${r?.value ?? "?"} (${
      metricGoal(metric) === "max" ? "highest" : "lowest"
    }) after ${job.epochs} epochs${
      r?.test_acc !== undefined && r.test_acc !== null ? `, test accuracy ${r.test_acc}` : ""
    }.`,
    ` Drawn: ${drawn.join(", ")}.`,
    ` Every setting is written out; run it with: deno task exp <this file>`,
  ].join("\n");
  const text = doc.toString({ lineWidth: 0 });
  parseExperiment(text, `${name}.yaml`); // throws if it would not run
  return text;
}
