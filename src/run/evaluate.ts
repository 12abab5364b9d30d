/**
 * Evaluating saved weights on a split of their dataset: accuracy, loss,
 * spikes per sample, per-layer firing and a confusion matrix. A run folder
 * gives its settings (`run.yaml`: dataset, data folder, seed and validation
 * split, batch size); a lone weights file gives what its metadata records
 * (`weightsInfo` and `runWeightsMetadata`). The samples go through the same
 * GPU path as the training loop's evaluation (gather, encode, forward, loss
 * into the accumulators, batch by batch in the same order), so a run's
 * weights give exactly the numbers its last evaluation recorded.
 *
 * @module
 */

import { join } from "node:path";
import { type Dataset, datasetInfo, type DatasetName, loadDataset } from "../data/datasets.ts";
import { DATASET_NAMES } from "../data/info.ts";
import { GpuData } from "../data/data_gpu.ts";
import { DEFAULTS, type Experiment, parseExperiment } from "../experiment/config.ts";
import { Engine } from "../engine/gpu.ts";
import { Model } from "../engine/model.ts";
import { readSafetensors } from "../engine/safetensors.ts";
import { loadModel, type WeightsInfo, weightsInfo } from "../engine/weights.ts";
import { parseArch } from "../engine/spec.ts";
import { layerRecord } from "./records.ts";
import { splitIndices } from "./train.ts";

/** Which samples: the test split, the held-out validation samples, or the run's training samples. */
export type EvalSplit = "test" | "val" | "train";

/** The splits {@link evaluate} knows. */
export const EVAL_SPLITS: readonly EvalSplit[] = ["test", "val", "train"];

/** What to evaluate and how its run chose its samples. */
export interface EvalTarget {
  /** The weights file. */
  weights: string;
  /** The run folder, or null for a lone weights file. */
  runDir: string | null;
  /** The run's id, when known. */
  run: string | null;
  /** The dataset. */
  dataset: DatasetName;
  /** Folder of the dataset files; null for the usual lookup. */
  dataDir: string | null;
  /** How the run split its data (null where a lone file does not say). */
  split: Pick<Experiment, "seed" | "validation_fraction" | "train_subset" | "test_subset"> | null;
  /** Samples per batch (the run's, so batches match its evaluation). */
  batchSize: number;
  /** The run's settings (null for a lone file): builds the model when the file lacks metadata. */
  settings: Experiment | null;
  /**
   * What does not fit: a run folder whose weights describe another network or
   * dataset than its run.yaml (copied in from elsewhere). The weights are
   * evaluated as they describe themselves.
   */
  warnings: string[];
}

/**
 * How a run folder's weights file disagrees with its run.yaml: another
 * architecture, dataset or run id in the file's metadata.
 *
 * @example
 * ```ts
 * import { mismatches } from "./evaluate.ts";
 * import { parseExperiment } from "../experiment/config.ts";
 * const { base } = parseExperiment("dataset: fmnist\narch: P2-32F\n", "x.yaml");
 * const w = mismatches({ arch: "P2-64F", dataset: "fmnist", run: "default" }, base, "default", "w", "r");
 * if (w.length !== 1 || !w[0].includes("'P2-64F'")) throw new Error(w.join());
 * if (mismatches({ arch: "P2-32F" }, base, "default", "w", "r").length !== 0) throw new Error();
 * ```
 */
export function mismatches(
  metadata: Record<string, string>,
  s: Experiment,
  run: string | null,
  weights: string,
  runYaml: string,
): string[] {
  const out: string[] = [];
  const norm = (a: string) => parseArch(a).map((l) => l.token).join("-");
  let ours: string;
  try {
    ours = norm(s.arch);
  } catch {
    ours = s.arch;
  }
  if (metadata.arch !== undefined && metadata.arch !== ours) {
    out.push(
      `${weights} holds another network than ${runYaml} says: arch '${metadata.arch}', ` +
        `expected '${ours}'`,
    );
  }
  if (metadata.dataset !== undefined && metadata.dataset !== s.dataset) {
    out.push(
      `${weights} was trained on ${metadata.dataset}, but ${runYaml} says dataset ${s.dataset}`,
    );
  }
  if (metadata.run !== undefined && run !== null && metadata.run !== run) {
    out.push(`${weights} comes from run '${metadata.run}', but ${runYaml} is run '${run}'`);
  }
  return out;
}

/** Per spiking layer statistics of an evaluation. */
export interface EvalLayer {
  index: number;
  token: string;
  /** Fraction of the layer's neurons that fired, per sample. */
  firing: number;
  /** Mean spike time of the neurons that fired (null when none fired). */
  mean_time: number | null;
  spikes_per_sample: number;
  /** Spike times in 16 equal bins over [0, T]. */
  hist: number[];
}

/** The result of {@link evaluate} (what `deno task eval --json` prints). */
export interface EvalResult {
  weights: string;
  run: string | null;
  dataset: DatasetName;
  split: EvalSplit;
  samples: number;
  accuracy: number;
  loss: number;
  spikes_per_sample: number;
  layers: EvalLayer[];
  classes: number;
  /** Each class's name, by label (the dataset's; the label itself where the network's classes differ). */
  class_names: string[];
  /** `confusion[true][predicted]`: sample counts. */
  confusion: number[][];
  adapter: string;
}

function isDataset(v: unknown): v is DatasetName {
  return (DATASET_NAMES as readonly string[]).includes(v as string);
}

/**
 * Reads what to evaluate from a run folder (its `run.yaml` and
 * `weights.safetensors`) or a weights file (its metadata). `dataset` and
 * `dataDir` replace what was recorded.
 */
export async function evalTarget(
  path: string,
  opts: { dataset?: string; dataDir?: string } = {},
): Promise<EvalTarget> {
  const st = await Deno.stat(path).catch((e: Error) => {
    throw new Error(
      `Cannot evaluate '${path}': expected a run folder or a weights file (${e.message})`,
    );
  });
  if (opts.dataset !== undefined && !isDataset(opts.dataset)) {
    throw new Error(
      `Cannot evaluate '${path}': dataset expected one of ${
        DATASET_NAMES.join(", ")
      }, got '${opts.dataset}'`,
    );
  }
  if (st.isDirectory) {
    const runYaml = join(path, "run.yaml");
    const text = await Deno.readTextFile(runYaml).catch((e: Error) => {
      throw new Error(`Cannot evaluate run folder '${path}': cannot read run.yaml (${e.message})`);
    });
    const parsed = parseExperiment(text, runYaml);
    const s = parsed.base;
    const weights = join(path, "weights.safetensors");
    if (!(await Deno.stat(weights).catch(() => null))?.isFile) {
      throw new Error(
        `Cannot evaluate run folder '${path}': expected ${weights} (written when a run finishes), ` +
          `got none`,
      );
    }
    const run = parsed.sections.id === undefined ? null : String(parsed.sections.id);
    return {
      weights,
      runDir: path,
      run,
      dataset: (opts.dataset as DatasetName | undefined) ?? s.dataset,
      dataDir: opts.dataDir ?? s.data_dir,
      split: s,
      batchSize: s.batch_size,
      settings: s,
      warnings: mismatches((await readSafetensors(weights)).metadata, s, run, weights, runYaml),
    };
  }
  const { metadata } = await readSafetensors(path);
  const dataset = opts.dataset ?? metadata.dataset;
  if (!isDataset(dataset)) {
    throw new Error(
      `Cannot evaluate '${path}': expected the dataset (one of ${
        DATASET_NAMES.join(", ")
      }) in the ` +
        `file's metadata or from --dataset, got ${dataset === undefined ? "none" : `'${dataset}'`}`,
    );
  }
  const num = (key: string): number | null => {
    const v = metadata[key];
    if (v === undefined || v === "null") return null;
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n)) {
      throw new Error(`Cannot evaluate '${path}': metadata '${key}' expected a number, got '${v}'`);
    }
    return n;
  };
  const fraction = num("validation_fraction");
  return {
    weights: path,
    runDir: null,
    run: metadata.run ?? null,
    dataset,
    dataDir: opts.dataDir ?? null,
    split: fraction === null ? null : {
      seed: num("seed") ?? DEFAULTS.seed,
      validation_fraction: fraction,
      train_subset: num("train_subset"),
      test_subset: num("test_subset"),
    },
    batchSize: num("batch_size") ?? DEFAULTS.batch_size,
    settings: null,
    warnings: [],
  };
}

/** The sample positions of a split (into the test set for `test`, else the training set). */
export function evalIndices(
  target: Pick<EvalTarget, "split" | "weights">,
  split: EvalSplit,
  counts: { train: number; test: number },
): Uint32Array {
  const s = target.split ?? {
    seed: 0,
    validation_fraction: 0,
    train_subset: null,
    test_subset: null,
  };
  if (split === "val" && (target.split === null || target.split.validation_fraction === 0)) {
    throw new Error(
      `Cannot evaluate '${target.weights}' on the validation split: ` +
        (target.split === null
          ? "its metadata does not say how the run split its data (evaluate the run folder)"
          : "the run held out no validation samples (validation_fraction: 0)"),
    );
  }
  const idx = splitIndices(counts.train, counts.test, s);
  return split === "test" ? idx.test : split === "val" ? idx.val : idx.train;
}

/** The model of a target: from the file's metadata, else from the run's settings. */
async function targetModel(
  engine: Engine,
  target: EvalTarget,
  data: Dataset,
  maxBatch: number,
): Promise<Model> {
  const file = await readSafetensors(target.weights);
  let info: WeightsInfo | null = null;
  try {
    info = weightsInfo(file.metadata, target.weights);
  } catch (e) {
    if (!target.settings) throw e;
  }
  if (info) return (await loadModel(engine, target.weights, { maxBatch })).model;
  const s = target.settings!;
  const ds = datasetInfo(s.dataset);
  const model = await Model.create(engine, {
    arch: s.arch,
    inputShape: data.shape,
    classes: data.classes,
    maxBatch,
    tWin: s.t_win,
    normalize: s.normalize ? { mean: ds.mean, std: ds.std } : null,
    readout: s.readout,
    precision: s.precision,
  });
  try {
    model.setWeights(file.tensors, `'${target.weights}'`);
  } catch (e) {
    model.destroy();
    throw e;
  }
  return model;
}

/**
 * Evaluates a target's weights on a split. `batch` defaults to the run's
 * batch size; `engine` to a new one (destroyed afterwards).
 */
export async function evaluate(
  target: EvalTarget,
  opts: { split?: EvalSplit; batch?: number; engine?: Engine; log?: (line: string) => void } = {},
): Promise<EvalResult> {
  const split = opts.split ?? "test";
  const log = opts.log ?? ((l: string) => console.error(l));
  const dir = target.dataDir ?? undefined;
  const set = await loadDataset(target.dataset, split === "test" ? "test" : "train", { dir, log });
  const counts = split === "test" ? { train: 0, test: set.count } : { train: set.count, test: 0 };
  const indices = evalIndices(target, split, counts);
  if (indices.length === 0) {
    throw new Error(`Cannot evaluate '${target.weights}' on ${split}: the split has no samples`);
  }
  const engine = opts.engine ?? await Engine.create();
  const B = opts.batch ?? target.batchSize;
  let model: Model | null = null;
  let data: GpuData | null = null;
  let out: GPUBuffer | null = null;
  try {
    model = await targetModel(engine, target, set, B);
    if (model.inputShape.join() !== set.shape.join() || model.classes !== set.classes) {
      throw new Error(
        `Cannot evaluate '${target.weights}' on ${target.dataset}: the network expects inputs ` +
          `[${model.inputShape}] and ${model.classes} classes, the dataset has [${set.shape}] and ` +
          `${set.classes}`,
      );
    }
    const empty = new Uint32Array(0);
    data = await GpuData.create(engine, model, { train: set, test: set }, {
      trainUsed: empty,
      train: empty,
      val: empty,
      testUsed: indices,
    }, { augment: false });
    const src = data.test;
    data.writeParams(src, target.split?.seed ?? 0, 0, 0);
    const K = model.classes;
    const last = model.acts[model.acts.length - 1];
    out = engine.buffer(indices.length * K * 4, "evaluation outputs");
    model.resetMetrics();
    const chunk = 32;
    for (let first = 0; first < src.groups.length; first += chunk) {
      const count = Math.min(chunk, src.groups.length - first);
      const offsets = engine.steps(Array.from({ length: count }, (_, j) => ({
        batch: data!.batchOf(src, first + j),
        sampleOffset: (first + j) * B,
        metricSlot: 2,
      })));
      const enc = engine.device.createCommandEncoder();
      for (let j = 0; j < count; j++) {
        const b = data.batchOf(src, first + j);
        const pass = enc.beginComputePass();
        data.encodeGather(pass, src, first + j);
        pass.setBindGroup(0, engine.stepGroup, [offsets[j]]);
        model.encodeForward(pass, b, true);
        model.encodeLoss(pass, src.loss);
        pass.end();
        enc.copyBufferToBuffer(last, 0, out, (first + j) * B * K * 4, b * K * 4);
      }
      engine.device.queue.submit([enc.finish()]);
    }
    const m = await model.readMetrics(2);
    const outputs = await engine.readF32(out, indices.length * K);
    const confusion = Array.from({ length: K }, () => new Array<number>(K).fill(0));
    const spiking = model.readout === "spike";
    for (let n = 0; n < indices.length; n++) {
      const logit = (k: number) => {
        const v = outputs[n * K + k];
        return spiking ? -Math.min(v, model!.tWin) : v;
      };
      let best = 0;
      for (let k = 1; k < K; k++) if (logit(k) > logit(best)) best = k;
      confusion[set.labels[indices[n]]][best]++;
    }
    return {
      weights: target.weights,
      run: target.run,
      dataset: target.dataset,
      split,
      samples: m.samples,
      accuracy: m.accuracy,
      loss: m.loss,
      spikes_per_sample: m.spikesPerSample,
      layers: m.layers.map((l) => ({ ...layerRecord(l), spikes_per_sample: l.spikesPerSample })),
      classes: K,
      class_names: classNames(target.dataset, K),
      confusion,
      adapter: engine.adapterName,
    };
  } finally {
    out?.destroy();
    data?.destroy();
    model?.destroy();
    if (!opts.engine) engine.destroy();
  }
}

/**
 * The names of a dataset's `K` classes by label; the labels as text when the
 * network has another number of classes than the dataset names.
 *
 * @example
 * ```ts
 * import { classNames } from "./evaluate.ts";
 * if (classNames("cifar10", 10)[0] !== "airplane") throw new Error();
 * if (classNames("cifar10", 3).join() !== "0,1,2") throw new Error();
 * ```
 */
export function classNames(dataset: DatasetName, K: number): string[] {
  const names = datasetInfo(dataset).classNames;
  return names.length === K ? names : Array.from({ length: K }, (_, k) => String(k));
}

/**
 * The result as text: summary, per-layer table and the confusion matrix, its rows
 * labelled with the class names (columns numbered like the rows) and each true
 * class's recall (the share of its samples predicted right).
 */
export function formatEvaluation(r: EvalResult): string {
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  const lines = [
    `weights: ${r.weights}${r.run ? ` (run ${r.run})` : ""}`,
    `${r.dataset} ${r.split}: ${r.samples} samples on ${r.adapter}`,
    `accuracy ${pct(r.accuracy)}  loss ${r.loss.toFixed(4)}  spikes/sample ${
      r.spikes_per_sample.toFixed(1)
    }`,
    "",
    "layer  token       firing  mean time  spikes/sample",
    ...r.layers.map((l) =>
      `${String(l.index).padStart(5)}  ${l.token.padEnd(10)} ${pct(l.firing).padStart(7)}  ${
        (l.mean_time === null ? "-" : l.mean_time.toFixed(4)).padStart(9)
      }  ${l.spikes_per_sample.toFixed(1).padStart(13)}`
    ),
    "",
    "confusion matrix (rows: true class, columns: predicted class, numbered as the rows; " +
    "recall: the share of a class's samples predicted right)",
  ];
  const names = r.class_names?.length === r.classes
    ? r.class_names
    : r.confusion.map((_, k) => String(k));
  const labels = r.confusion.map((_, k) =>
    names[k] === String(k)
      ? String(k)
      : `${String(k).padStart(String(r.classes - 1).length)} ${names[k]}`
  );
  const lw = Math.max(...labels.map((l) => l.length), 4);
  const w = Math.max(
    3,
    ...r.confusion.flat().map((c) => String(c).length),
    String(r.classes - 1).length,
  );
  lines.push(
    `${"".padEnd(lw)}${r.confusion.map((_, k) => String(k).padStart(w + 1)).join("")}   recall`,
  );
  r.confusion.forEach((row, t) => {
    const n = row.reduce((a, b) => a + b, 0);
    const recall = n === 0 ? "-" : pct(row[t] / n);
    lines.push(
      `${labels[t].padEnd(lw)}${row.map((c) => String(c).padStart(w + 1)).join("")}  ${
        recall.padStart(7)
      }`,
    );
  });
  return lines.join("\n");
}
