/**
 * What a run adds to its weights file's metadata beside the network
 * (`weightsMetadata` in the engine): the dataset and how the run split it,
 * so `deno task eval` on the file alone finds the same samples.
 *
 * @module
 */

import type { Experiment } from "../experiment/config.ts";

/**
 * The run's entries of a weights file's `__metadata__` (strings): `run`,
 * `dataset`, `seed`, `validation_fraction`, `train_subset`, `test_subset`
 * (`null` for all) and `batch_size`.
 *
 * @example
 * ```ts
 * import { runWeightsMetadata } from "./weights_meta.ts";
 * import { parseExperiment } from "../experiment/config.ts";
 * const { base } = parseExperiment("dataset: fmnist\narch: P2-32F\nseed: 3\n", "x.yaml");
 * const m = runWeightsMetadata(base, "default");
 * if (m.dataset !== "fmnist" || m.seed !== "3" || m.train_subset !== "null") throw new Error();
 * ```
 */
export function runWeightsMetadata(s: Experiment, id: string): Record<string, string> {
  return {
    run: id,
    dataset: s.dataset,
    seed: String(s.seed),
    validation_fraction: String(s.validation_fraction),
    train_subset: String(s.train_subset),
    test_subset: String(s.test_subset),
    batch_size: String(s.batch_size),
  };
}
