/**
 * `deno task eval RUN_DIR|WEIGHTS [options]`: evaluates saved weights on a
 * split of their dataset and prints accuracy, loss, spikes per sample,
 * per-layer firing and a confusion matrix (or JSON with `--json`).
 *
 * @module
 */

import {
  type CommandSpec,
  type ParsedArgs,
  requirePermissions,
  runTask,
  UsageError,
} from "./_args.ts";
import { GPU_OPTION, gpuFlag, startGpu } from "./_gpu.ts";
import { EVAL_SPLITS, evalTarget, evaluate, formatEvaluation } from "../src/run/evaluate.ts";
import { DATASET_NAMES } from "../src/data/info.ts";
import { datasetCacheDir } from "../src/data/datasets.ts";
import { delegate } from "./_launch.ts";

/** The command line of `deno task eval`. */
export const EVAL: CommandSpec = {
  name: "eval",
  summary: "Evaluate saved weights (a run folder, or a weights.safetensors alone) on a split: " +
    "accuracy, loss, spikes per sample, per-layer firing and a confusion matrix.",
  usage: "RUN_DIR|WEIGHTS.safetensors [options]",
  positionals: [
    {
      name: "RUN_DIR",
      help: "a run folder: its run.yaml gives dataset, data folder, seed and validation split",
    },
    {
      name: "WEIGHTS.safetensors",
      help: "a weights file alone: its metadata gives the network and the dataset",
    },
  ],
  options: [
    {
      name: "split",
      type: "string",
      value: "test|val|train",
      help: "which samples (default test)",
    },
    { name: "json", type: "boolean", help: "print the result as JSON (nothing else on stdout)" },
    { name: "batch", type: "string", value: "N", help: "samples per batch (default: the run's)" },
    { name: "data-dir", type: "string", value: "DIR", help: "folder of the dataset files" },
    {
      name: "dataset",
      type: "string",
      value: "NAME",
      help: "dataset, where the file does not say",
    },
    GPU_OPTION,
  ],
  examples: [
    "deno task eval runs/quickstart/default",
    "deno task eval runs/quickstart/default --split val --json",
    "deno task eval weights.safetensors --data-dir /data/fashion-mnist",
  ],
};

async function main(args: ParsedArgs): Promise<number> {
  if (args.positionals.length !== 1) {
    throw new UsageError(
      `expected one run folder or weights file, got ${args.positionals.length} (${
        args.positionals.map((p) => `'${p}'`).join(", ") || "none"
      })`,
    );
  }
  const path = args.positionals[0];
  const split = args.choice("split", EVAL_SPLITS, "test");
  const batch = args.positiveInt("batch");
  const gpu = gpuFlag(args.string("gpu"));
  const dataset = args.string("dataset");
  if (dataset !== undefined && !(DATASET_NAMES as readonly string[]).includes(dataset)) {
    throw new UsageError(
      `--dataset: expected one of ${DATASET_NAMES.join(", ")}, got '${dataset}'`,
    );
  }
  requirePermissions("eval", [{ name: "read", path }]);
  // What cannot be read as a run folder or a weights file is bad input: a usage error.
  const target = await evalTarget(path, {
    dataset,
    dataDir: args.string("data-dir"),
  }).catch((e: Error) => {
    throw new UsageError(e.message);
  });
  // The work may write only the dataset cache (a download).
  const cache = datasetCacheDir();
  const child = await delegate("eval", cache ? [cache] : []);
  if (child !== null) return child;
  const log = (l: string) => console.error(l);
  for (const w of target.warnings) log(`warning: ${w}`);
  log(await startGpu({ flag: gpu, setting: target.settings?.gpu ?? null }));
  const result = await evaluate(target, { split, batch, log });
  console.log(
    args.flag("json")
      ? JSON.stringify({ ...result, warnings: target.warnings }, null, 2)
      : formatEvaluation(result),
  );
  return 0;
}

if (import.meta.main) await runTask(EVAL, main);
