/**
 * firstspike: train time-to-first-spike (TTFS) deep spiking neural networks
 * on WebGPU. Each layer's spike times have a closed form (Rel-PSP neurons,
 * a falling threshold, one spike window per layer), so a network trains like
 * an ANN with event-driven backpropagation, in WGSL kernels.
 *
 * @example Train a small network on a batch and read its metrics
 * ```ts
 * import { Engine, Model } from "./mod.ts";
 * const engine = await Engine.create();
 * const model = await Model.create(engine, {
 *   arch: "8C3-P2-16F", // the readout (one neuron per class) is added
 *   inputShape: [1, 8, 8],
 *   classes: 2,
 *   maxBatch: 4,
 *   optimizer: { kind: "adam", lr: 1e-3 },
 * });
 * const x = new Float32Array(4 * 64).map((_, i) => (i % 7) / 7); // intensities in [0, 1]
 * model.trainStep(x, [0, 1, 0, 1]); // queued on the GPU, nothing read back
 * const m = await model.readMetrics(0); // one read-back
 * if (m.samples !== 4 || !(m.loss > 0)) throw new Error("unexpected metrics");
 * model.destroy();
 * engine.destroy();
 * ```
 *
 * @example Inference: per-layer spike times (Infinity = no spike) and potentials
 * ```ts
 * import { Engine, Model } from "./mod.ts";
 * const engine = await Engine.create();
 * const model = await Model.create(engine, { arch: "4F", inputShape: [3], classes: 2, maxBatch: 1 });
 * const { times, potentials, predictions } = await model.forward([0, 0.5, 1]);
 * if (times[0].length !== 4 || potentials.length !== 2 || predictions.length !== 1) throw new Error();
 * engine.destroy();
 * ```
 *
 * @example Save and load weights as safetensors (PyTorch shapes, `layers.<i>.weight`)
 * ```ts
 * import { Engine, loadWeights, Model, saveWeights } from "./mod.ts";
 * const engine = await Engine.create();
 * const model = await Model.create(engine, { arch: "3C3-P2", inputShape: [1, 4, 4], classes: 2, maxBatch: 1 });
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await saveWeights(model, path);
 * await loadWeights(model, path);
 * const w = await model.getWeights();
 * if (w["layers.0.weight"].shape.join() !== "3,1,3,3") throw new Error();
 * engine.destroy();
 * ```
 *
 * @module
 */

export {
  type BindingKind,
  describeAdapter,
  Engine,
  type EngineOptions,
  type Program,
  type ProgramSpec,
  type StepParams,
  type WarmUpDispatch,
  type WarmUpResult,
} from "./src/engine/gpu.ts";
export { type GpuSelection, parseGpu, slurmGpu } from "./src/engine/gpu_select.ts";
export {
  DEFAULT_OPTIMIZER,
  type Metrics,
  Model,
  type ModelOptions,
  type ModelState,
  NO_SPIKE,
  type OptimizerOptions,
  type Prediction,
  SLOTS,
  type Tensor,
} from "./src/engine/model.ts";
export { type Precision, type Tile, TILES } from "./src/engine/layers.ts";
export {
  type ConvSpec,
  type LayerPlan,
  type LayerSpec,
  type LinearSpec,
  NAMED_ARCHS,
  parseArch,
  planModel,
  type PoolSpec,
  type ReadoutSpec,
} from "./src/engine/spec.ts";
export { kaimingNormal, Rng } from "./src/util/rng.ts";
export {
  type DecodedSafetensors,
  type DecodedTensor,
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  type TensorInput,
  writeSafetensors,
} from "./src/engine/safetensors.ts";
export {
  type Dataset,
  type DatasetInfo,
  datasetInfo,
  type DatasetName,
  type DownloadSource,
  loadDataset,
  type LoadDatasetOptions,
  type Split,
} from "./src/data/datasets.ts";
export { DatasetCache } from "./src/data/dataset_cache.ts";
export {
  AUGMENTATIONS,
  DATASETS,
  type Experiment,
  ExperimentError,
  type ExperimentIssue,
  loadExperiment,
  LR_SCHEDULES,
  type ParsedExperiment,
  parseExperiment,
  type Slurm,
} from "./src/experiment/config.ts";
export { expandGrid, type GridPoint, resolvedYaml } from "./src/experiment/grid.ts";
export {
  type EpochRecord,
  progressLine,
  runPoint,
  type RunPointOptions,
  type RunResults,
  type StepProgress,
} from "./src/run/train.ts";
export { learningRate, type ScheduleSettings, warmupSteps } from "./src/run/lr_schedule.ts";
export {
  loadModel,
  loadWeights,
  saveWeights,
  type WeightsInfo,
  weightsInfo,
  weightsMetadata,
} from "./src/engine/weights.ts";
export {
  type EvalResult,
  type EvalSplit,
  type EvalTarget,
  evalTarget,
  evaluate,
} from "./src/run/evaluate.ts";
export {
  experimentPoints,
  type Override,
  OverrideError,
  parseOverrides,
} from "./src/experiment/overrides.ts";
