/**
 * The training loop of one experiment point: datasets uploaded to the GPU
 * once, per-sample augmentation and encoding on the GPU, whole chunks of
 * steps per submission with no read-back inside an epoch, evaluation,
 * early stopping, atomic checkpoints and exact resume, and the run folder.
 *
 * @module
 */

import { join } from "node:path";
import { parse as parseYaml } from "../deps/yaml.ts";
import { type Dataset, datasetInfo } from "../data/datasets.ts";
import { DatasetCache } from "../data/dataset_cache.ts";
import { type Experiment, parseExperiment } from "../experiment/config.ts";
import { resolvedYaml } from "../experiment/grid.ts";
import { Engine } from "../engine/gpu.ts";
import { type Metrics, Model } from "../engine/model.ts";
import { Rng } from "../util/rng.ts";
import { readSafetensors } from "../engine/safetensors.ts";
import { saveWeights } from "../engine/weights.ts";
import { runWeightsMetadata } from "./weights_meta.ts";
import { provenance } from "./provenance.ts";
import { GpuData, type Source } from "../data/data_gpu.ts";
import { loadCheckpoint, type LoopState, newLoopState, saveCheckpoint } from "./checkpoint.ts";
import { learningRate } from "./lr_schedule.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { acquireLock, removeLeftovers } from "./run_lock.ts";
import { type EpochRecord, layerRecord, type RunResults } from "./records.ts";
import { fingerprint, SettingsChanged } from "./fingerprint.ts";
import { CHECKPOINT, CHECKPOINT_PREV, planPoint, type PriorRun, readPriorRun } from "./prior.ts";

export type { EpochRecord, RunResults } from "./records.ts";

/** Where training is, told to {@link RunPointOptions.progress} after every chunk of steps. */
export interface StepProgress {
  /** Epoch, 1-based. */
  epoch: number;
  /** The last epoch this invocation runs (`epochs`, or `--max-epochs`). */
  epochs: number;
  /** Steps done in this epoch. */
  step: number;
  /** Steps this epoch takes (fewer than an epoch's when `max_steps` cuts it). */
  steps: number;
  /** Training samples per second in this epoch so far. */
  samplesPerSecond: number;
  /** Seconds until this epoch's training steps are done (its evaluation not counted). */
  epochSecondsLeft: number;
  /**
   * Seconds until the run's last epoch ends, evaluations included (early
   * stopping may end it sooner): the steps left at this epoch's rate, and
   * each evaluation as long as the last one (a third of a training sample's
   * time per sample before the first).
   */
  runSecondsLeft: number;
  /** Seconds of training in this run so far (earlier sessions included). */
  elapsedSeconds: number;
  /**
   * Mean training loss and accuracy over this epoch's steps up to the
   * latest chunk the loop waited for (one or two chunks behind `step`), or
   * null before the first (and without running metrics).
   */
  loss: number | null;
  /** See {@link loss}. */
  accuracy: number | null;
  /** Learning rate of the last step submitted. */
  lr: number;
}

/**
 * A plain line for a log: `epoch 2/4 step 96/211 loss 0.5123 acc 81.2%
 * 3777 samples/s ETA 12s run 1 min 40 s`.
 */
export function progressLine(p: StepProgress): string {
  const metrics = p.loss === null
    ? ""
    : ` loss ${p.loss.toFixed(4)} acc ${(p.accuracy! * 100).toFixed(1)}%`;
  return `epoch ${p.epoch}/${p.epochs} step ${p.step}/${p.steps}${metrics} ` +
    `${Math.round(p.samplesPerSecond)} samples/s ETA ${p.epochSecondsLeft.toFixed(0)}s ` +
    `run ${Math.round(p.runSecondsLeft)}s left`;
}

/** The time a run has taken and the estimate of what is left (see {@link StepProgress}). */
class RunClock {
  readonly #start: number;
  readonly #evalSamples: number;
  #evalSeconds: number | null = null;

  /** `before`: seconds of earlier sessions; `evalSamples`: samples scored after each epoch. */
  constructor(before: number, evalSamples: number) {
    this.#start = performance.now() - before * 1000;
    this.#evalSamples = evalSamples;
  }

  /** Seconds of training in this run, earlier sessions included. */
  get seconds(): number {
    return (performance.now() - this.#start) / 1000;
  }

  /** An epoch's evaluation took `evalSeconds`. */
  epochDone(evalSeconds: number): void {
    this.#evalSeconds = evalSeconds;
  }

  /** The progress after a chunk. */
  progress(o: {
    epoch: number;
    epochs: number;
    step: number;
    steps: number;
    rate: number;
    stepsLeftInRun: number;
    evalsLeft: number;
    batch: number;
    sums: Float32Array | null;
    lr: number;
  }): StepProgress {
    const rate = Math.max(o.rate, 1e-9);
    const evalSeconds = this.#evalSeconds ?? this.#evalSamples / rate / 3;
    const samples = o.sums?.[2] ?? 0;
    return {
      epoch: o.epoch,
      epochs: o.epochs,
      step: o.step,
      steps: o.steps,
      samplesPerSecond: o.rate,
      epochSecondsLeft: ((o.steps - o.step) * o.batch) / rate,
      runSecondsLeft: (o.stepsLeftInRun * o.batch) / rate + o.evalsLeft * evalSeconds,
      elapsedSeconds: this.seconds,
      loss: samples > 0 ? o.sums![0] / samples : null,
      accuracy: samples > 0 ? o.sums![1] / samples : null,
      lr: o.lr,
    };
  }
}

/** Options of {@link runPoint}. */
export interface RunPointOptions {
  /** The resolved settings of this point. */
  settings: Experiment;
  /** Run id, recorded in run.yaml. */
  id: string;
  /** The grid values of this point, recorded in run.yaml as `grid_point`. */
  point: Record<string, unknown>;
  /** The run folder. */
  dir: string;
  /** Caps the epochs (for a quick look); recorded in run.yaml. */
  maxEpochs?: number;
  /**
   * How a run that `maxEpochs` cut short is recorded: the status of its
   * `run.yaml` and a note. Default: `{state: stopped, reason: max_epochs}`
   * and a note naming `--max-epochs`; a search's scheduler records its
   * trials as `pruned` at their rung instead.
   */
  cut?: { status: Record<string, unknown>; note: string };
  /** GPU engine to use; default: a new one. Its compiled kernels serve every point run on it. */
  engine?: Engine;
  /**
   * Datasets read (and uploaded to `engine`) by earlier points, shared with
   * later ones; default: read for this point alone.
   */
  datasets?: DatasetCache;
  /** Aborting writes a checkpoint at the next chunk boundary and throws {@link Interrupted}. */
  signal?: AbortSignal;
  /** Receives log lines; defaults to `console.error`. */
  log?: (line: string) => void;
  /**
   * Told after every chunk of training steps: a plain line ({@link progressLine})
   * and where training is (`final` false), and once at the end of each epoch
   * (`final` true, an empty line and null). Given, it also turns on the
   * running loss and accuracy: after each chunk the training slot's sums are
   * copied into a small buffer that the loop maps where it already waits for
   * that chunk, never inside a step (training is bit for bit the same).
   */
  progress?: (line: string, final: boolean, info: StepProgress | null) => void;
  /** Extra status fields (e.g. the Slurm job). */
  status?: Record<string, unknown>;
  /** Who runs the point, recorded in the folder's lock (the Slurm array task), or null. */
  lockOwner?: string | null;
  /** Steps encoded per submission. Default 32. */
  chunk?: number;
  /**
   * Start the point over: once the folder's lock is held, its checkpoints,
   * metrics and weights are removed (never before, so a folder another
   * runner holds is left alone).
   */
  fresh?: boolean;
  /**
   * When the folder, checked under its lock, holds a run with nothing left to
   * do (done, or cut at this same cut), return its recorded results without
   * training or rewriting anything. (Default: train, which rewrites the
   * folder's run.yaml and weights.) A search's worker sets it, since another
   * worker may have finished the job between its look and the lock.
   */
  skipDone?: boolean;
  /**
   * Told when the runner is starting the point (loading data, compiling
   * kernels: nothing trained since the last checkpoint) and when it trains.
   */
  onPhase?: (phase: "starting" | "training") => void;
  /** Told each epoch's record once it is written to `metrics.jsonl`. */
  onEpoch?: (record: EpochRecord) => void;
  /**
   * Told how many GPU kernels this point compiled (those new to the engine;
   * 0 when an earlier point built the same network) and in how many seconds.
   */
  onKernels?: (kernels: { count: number; seconds: number }) => void;
}

/** Thrown when a run stops on request after writing its checkpoint. */
export class Interrupted extends Error {
  constructor(dir: string, saved = true) {
    super(
      saved
        ? `Interrupted: checkpoint written in ${dir}; run again to resume`
        : `Interrupted while starting ${dir}: nothing trained since its last checkpoint; run again to resume`,
    );
    this.name = "Interrupted";
  }
}

/**
 * Which samples each split uses (positions into the dataset splits).
 * `train_subset: N` takes N samples of the training split (chosen with the
 * seed) and holds `validation_fraction` of those out for validation, so the
 * validation split shrinks with the subset; without it the whole training
 * split is divided. `test_subset: N` takes the first N test samples.
 *
 * @example
 * ```ts
 * import { splitIndices } from "./train.ts";
 * const s = { seed: 0, validation_fraction: 0.1, train_subset: 1000, test_subset: null };
 * const { train, val, test } = splitIndices(60000, 10000, s);
 * if (train.length !== 900 || val.length !== 100 || test.length !== 10000) throw new Error();
 * ```
 */
export function splitIndices(
  trainCount: number,
  testCount: number,
  s: Pick<Experiment, "seed" | "validation_fraction" | "train_subset" | "test_subset">,
): { train: Uint32Array; val: Uint32Array; test: Uint32Array } {
  // The seed picks the samples (of the subset) and the validation ones; both
  // lists keep file order, so `shuffle: false` trains on the files' order.
  const order = new Rng(s.seed).fork("validation-split").permutation(trainCount);
  const pool = s.train_subset === null
    ? order
    : order.subarray(0, Math.min(s.train_subset, trainCount));
  const nVal = Math.floor(pool.length * s.validation_fraction);
  const val = pool.slice(0, nVal).sort();
  const train = pool.slice(nVal).sort();
  const nTest = s.test_subset === null ? testCount : Math.min(s.test_subset, testCount);
  return { train, val, test: Uint32Array.from({ length: nTest }, (_, i) => i) };
}

/**
 * The training-split samples a run uses (`trainUsed`, ascending) and the
 * train and validation lists as positions into that compact list.
 */
export function compactSplit(
  split: { train: Uint32Array; val: Uint32Array },
): { trainUsed: Uint32Array; train: Uint32Array; val: Uint32Array } {
  const trainUsed = Uint32Array.from(new Set([...split.train, ...split.val])).sort();
  const at = new Map<number, number>();
  trainUsed.forEach((v, i) => at.set(v, i));
  const map = (a: Uint32Array) => a.map((v) => at.get(v)!);
  return { trainUsed, train: map(split.train), val: map(split.val) };
}

/**
 * Training order of an epoch: a seeded shuffle of `train` drawn anew each
 * epoch (`true`), one seeded shuffle kept for every epoch (`"once"`, the
 * reference's order: epoch 0's), or `train` itself (`false`).
 */
export function epochOrder(
  train: Uint32Array,
  seed: number,
  epoch: number,
  shuffle: boolean | "once",
): Uint32Array {
  if (!shuffle) return train;
  const e = shuffle === "once" ? 0 : epoch;
  const perm = new Rng(seed).fork(`epoch-${e}`).permutation(train.length);
  return perm.map((p) => train[p]);
}

/**
 * An epoch's record from its metrics: the training slot's loss and accuracy,
 * validation's (null without a validation split), test's (null when the
 * test set was not scored), and the spike statistics of the test set, or of
 * the validation set when the test set was not scored (`stats_split`).
 */
function epochRecord(o: {
  epoch: number;
  lr: number;
  steps: number;
  seconds: number;
  train: Metrics;
  val: Metrics | null;
  test: Metrics | null;
}): EpochRecord {
  const stats = o.test ?? o.val;
  return {
    epoch: o.epoch,
    lr: o.lr,
    steps: o.steps,
    train_loss: o.train.loss,
    train_acc: o.train.accuracy,
    val_loss: o.val?.loss ?? null,
    val_acc: o.val?.accuracy ?? null,
    test_loss: o.test?.loss ?? null,
    test_acc: o.test?.accuracy ?? null,
    seconds: o.seconds,
    spikes_per_sample: stats?.spikesPerSample ?? null,
    layers: stats?.layers.map(layerRecord) ?? [],
    stats_split: o.test ? "test" : o.val ? "val" : null,
  };
}

/** The AUGMENT_FLAGS bits of an experiment's augmentation list. */
function augmentFlagsOf(list: Experiment["augment"]): number {
  const bits = { crop: 1, flip: 2, autoaugment: 4, cutout: 8 } as const;
  return list.reduce((f, a) => f | bits[a], 0);
}

/**
 * Builds the model an experiment describes for data of `shape` and
 * `classes` (a dataset, or its `datasetInfo`).
 */
export async function modelFor(
  engine: Engine,
  s: Experiment,
  data: Pick<Dataset, "shape" | "classes">,
): Promise<Model> {
  const info = datasetInfo(s.dataset);
  return await Model.create(engine, {
    arch: s.arch,
    inputShape: data.shape,
    classes: data.classes,
    maxBatch: s.batch_size,
    tWin: s.t_win,
    gradClip: s.grad_clip,
    normalize: s.normalize ? { mean: info.mean, std: info.std } : null,
    seed: s.seed,
    readout: s.readout,
    precision: s.precision,
    optimizer: {
      kind: s.optimizer,
      lr: s.lr,
      betas: s.betas,
      eps: s.eps,
      weightDecay: s.weight_decay,
      weightClip: s.weight_clip,
      fixedSigns: s.fixed_signs,
    },
  });
}

/**
 * Records and submits training steps `first .. first + count - 1` of the
 * epoch as one submission: gather and augment, then the whole step (the
 * benchmark trains its shapes with it too). Each
 * step's learning rate is `lrAt(step)` (default: the model's `lr`). With
 * `tail`, the training slot's running sums (loss, correct, samples) are
 * copied into it after the last step, in the same submission: mapping it is
 * the wait for this chunk, and its values come with it.
 */
export function submitTrainSteps(
  engine: Engine,
  model: Model,
  data: GpuData,
  first: number,
  count: number,
  opts: { lrAt?: (step: number) => number; tail?: GPUBuffer } = {},
): void {
  const src = data.train;
  const params = Array.from({ length: count }, (_, j) => {
    if (opts.lrAt) model.lr = opts.lrAt(first + j);
    return model.nextTrainStep(data.batchOf(src, first + j), {
      sampleOffset: (first + j) * model.maxBatch,
    });
  });
  const offsets = engine.steps(params);
  const enc = engine.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  for (let j = 0; j < count; j++) {
    data.encodeGather(pass, src, first + j);
    model.encodeTrainStep(pass, offsets[j], params[j].batch, src.loss, false);
  }
  pass.end();
  if (opts.tail) enc.copyBufferToBuffer(model.accum, 0, opts.tail, 0, TAIL_BYTES);
  engine.device.queue.submit([enc.finish()]);
}

/** Bytes of the training slot's sums copied after a chunk: loss sum, correct, samples, unused. */
const TAIL_BYTES = 16;

/**
 * The waits on submitted chunks of training steps. Without running metrics
 * each wait is `onSubmittedWorkDone`; with them, a small mappable buffer per
 * chunk (a ring of three: at most two chunks in flight and one being read)
 * receives the training slot's sums after the chunk, and mapping it is the
 * wait: the loop already waits there, so the running loss and accuracy cost
 * a 16-byte copy, never a read-back inside a step.
 */
class ChunkWaits {
  readonly #engine: Engine;
  readonly #ring: GPUBuffer[] = [];
  readonly #pending: Promise<Float32Array | null>[] = [];
  #next = 0;
  /** The sums (loss, correct, samples) after the last chunk waited for; null before. */
  last: Float32Array | null = null;

  constructor(engine: Engine, running: boolean) {
    this.#engine = engine;
    if (running) {
      for (let i = 0; i < 3; i++) {
        this.#ring.push(engine.device.createBuffer({
          size: TAIL_BYTES,
          usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
          label: `running metrics ${i}`,
        }));
      }
    }
  }

  /** The buffer the next chunk copies its sums into, or undefined without running metrics. */
  get tail(): GPUBuffer | undefined {
    return this.#ring.length ? this.#ring[this.#next % this.#ring.length] : undefined;
  }

  /** Call after submitting a chunk (with {@link tail}); waits on the one two chunks before. */
  async submitted(): Promise<void> {
    const buffer = this.tail;
    this.#next++;
    this.#pending.push(
      buffer
        ? buffer.mapAsync(GPUMapMode.READ).then(() => {
          const v = new Float32Array(buffer.getMappedRange(0, TAIL_BYTES).slice(0));
          buffer.unmap();
          return v;
        })
        : this.#engine.device.queue.onSubmittedWorkDone().then(() => null),
    );
    // Keep at most two chunks queued: waiting on an older chunk never idles the GPU.
    if (this.#pending.length > 2) this.#take(await this.#pending.shift()!);
  }

  /** Waits for every chunk still in flight. */
  async drain(): Promise<void> {
    while (this.#pending.length) this.#take(await this.#pending.shift()!);
  }

  #take(v: Float32Array | null): void {
    if (v) this.last = v;
  }

  /** Waits for what is in flight (errors ignored: the run already failed) and frees the ring. */
  async destroy(): Promise<void> {
    await Promise.allSettled(this.#pending.splice(0));
    for (const b of this.#ring) b.destroy();
  }
}

/** Records and submits the evaluation of a whole source into a metrics slot, `chunk` steps per submission. */
function submitEvaluation(
  engine: Engine,
  model: Model,
  data: GpuData,
  src: Source,
  slot: number,
  chunk: number,
): void {
  for (let first = 0; first < src.groups.length; first += chunk) {
    const count = Math.min(chunk, src.groups.length - first);
    const offsets = engine.steps(Array.from({ length: count }, (_, j) => ({
      batch: data.batchOf(src, first + j),
      sampleOffset: (first + j) * model.maxBatch,
      metricSlot: slot,
    })));
    const enc = engine.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let j = 0; j < count; j++) {
      data.encodeGather(pass, src, first + j);
      pass.setBindGroup(0, engine.stepGroup, [offsets[j]]);
      model.encodeForward(pass, data.batchOf(src, first + j), true);
      model.encodeLoss(pass, src.loss);
    }
    pass.end();
    engine.device.queue.submit([enc.finish()]);
  }
}

/**
 * Trains one experiment point into `dir`, resuming from its checkpoint when
 * there is one. Returns the results; throws on failure (the caller records it).
 */
export async function runPoint(o: RunPointOptions): Promise<RunResults> {
  const s = o.settings;
  const log = o.log ?? ((l: string) => console.error(l));
  if (s.data_dir !== null) {
    const st = await Deno.stat(s.data_dir).catch(() => null);
    if (!st?.isDirectory) {
      throw new Error(
        `data_dir: expected an existing folder with the ${s.dataset} files, got '${s.data_dir}'`,
      );
    }
  }
  const release = await acquireLock(o.dir, o.lockOwner ?? null);
  try {
    // Holding the lock, this runner is the folder's only writer.
    await removeLeftovers(o.dir);
    if (o.fresh) {
      for (const f of [CHECKPOINT, CHECKPOINT_PREV, "metrics.jsonl", "weights.safetensors"]) {
        await Deno.remove(join(o.dir, f)).catch((e) => {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        });
      }
    }
    const prior = o.fresh ? null : await readPriorRun(o.dir);
    const plan = planPoint(o.dir, prior, s, o.maxEpochs); // throws when the settings differ
    if (o.skipDone && plan.action === "skip" && prior?.results) return prior.results;
    try {
      return await trainPoint(o, log, prior);
    } catch (e) {
      // Refusals leave the folder as it is; a stop request is not a failure.
      const permission = e instanceof Deno.errors.NotCapable ||
        e instanceof Deno.errors.PermissionDenied; // how the runner was started, not the run
      if (!(e instanceof Interrupted) && !(e instanceof SettingsChanged) && !permission) {
        await recordFailure(o, e).catch((err) =>
          log(`${o.id}: cannot record the failure in run.yaml: ${err.message}`)
        );
      }
      throw e;
    }
  } finally {
    await release();
  }
}

/**
 * Records a failure in run.yaml (the caller holds the folder's lock): the
 * status says failed, with the error; what the folder's run.yaml said of the
 * run's origin (fingerprint, provenance with the dataset files' SHA-256,
 * results of a run it continued) is kept, so a later rerun is still checked
 * against it.
 */
async function recordFailure(o: RunPointOptions, e: unknown): Promise<void> {
  const path = join(o.dir, "run.yaml");
  let kept: Record<string, unknown> = {};
  try {
    const { sections } = parseExperiment(await Deno.readTextFile(path), path);
    kept = Object.fromEntries(
      ["provenance", "results", "notes"].filter((k) => sections[k] !== undefined)
        .map((k) => [k, sections[k]]),
    );
  } catch {
    // no run.yaml yet, or an unreadable one: written anew
  }
  const error = e instanceof Error ? e.message : String(e);
  await writeFileAtomic(
    path,
    resolvedYaml(o.settings, {
      id: o.id,
      grid_point: o.point,
      fingerprint: fingerprint(o.settings),
      run_dir: o.dir,
      status: { state: "failed", error, ...o.status },
      ...kept,
    }),
  );
}

async function trainPoint(
  o: RunPointOptions,
  log: (line: string) => void,
  prior: PriorRun | null,
): Promise<RunResults> {
  const started = performance.now();
  o.onPhase?.("starting");
  const own = o.datasets ? null : new DatasetCache();
  const datasets = o.datasets ?? own!;
  const made: { engine?: Engine } = {};
  try {
    return await trainOn(o, log, prior, started, datasets, made);
  } finally {
    // An engine made for this point, and what was uploaded to it, end with it.
    if (made.engine) {
      datasets.forget(made.engine);
      made.engine.destroy();
    }
    own?.destroy();
  }
}

/** The datasets of a point, read (or taken from the cache), and the samples each split uses. */
interface PointData {
  trainSet: Dataset;
  testSet: Dataset;
  /** The dataset files, for the provenance. */
  files: Dataset["files"];
  split: ReturnType<typeof splitIndices>;
}

/**
 * Phase 1, the data: reads (or takes from the cache) both splits, refuses a
 * folder whose run trained on other files, and divides the samples.
 */
async function loadData(
  o: RunPointOptions,
  log: (line: string) => void,
  prior: PriorRun | null,
  datasets: DatasetCache,
): Promise<PointData> {
  const s = o.settings;
  const [trainSet, testSet] = await Promise.all([
    datasets.load(s.dataset, "train", { dir: s.data_dir ?? undefined, log }),
    datasets.load(s.dataset, "test", { dir: s.data_dir ?? undefined, log }),
  ]);
  const files = [...trainSet.files, ...testSet.files];
  const shas = files.map((f) => f.sha256).sort();
  if (prior?.datasets && prior.hasCheckpoint && prior.datasets.join() !== shas.join()) {
    throw new SettingsChanged(o.dir, [{
      key: "dataset files (SHA-256)",
      old: prior.datasets,
      new: shas,
    }], "dataset files");
  }
  const split = splitIndices(trainSet.count, testSet.count, s);
  if (split.train.length === 0) {
    throw new Error(
      `Cannot train: no training samples left after the validation split (${trainSet.count} samples)`,
    );
  }
  return { trainSet, testSet, files, split };
}

/** What phase 2 builds on the GPU for a point; {@link Built.destroy} frees it. */
interface Built {
  engine: Engine;
  model: Model;
  data: GpuData;
  /** The training samples' positions in the uploaded list, in file order. */
  train: Uint32Array;
  /** The best-validation weights so far (a copy of the model's parameters). */
  best: GPUBuffer;
  /** Writes run.yaml with a status (and results). */
  writeRun: (status: Record<string, unknown>, results?: RunResults) => Promise<void>;
  destroy(): void;
}

/**
 * Phase 2, the build: the model, the samples on the GPU, the provenance,
 * and the kernels compiled before any step (announced when there are new
 * ones, and told to `onKernels`).
 */
async function build(
  o: RunPointOptions,
  log: (line: string) => void,
  d: PointData,
  datasets: DatasetCache,
  made: { engine?: Engine },
): Promise<Built> {
  const s = o.settings;
  const e = o.engine ?? (made.engine = await Engine.create());
  // Building the pipelines, and the first dispatch of each: the kernels' compilation.
  let buildSeconds = -performance.now() / 1000;
  const model = await modelFor(e, s, d.trainSet);
  buildSeconds += performance.now() / 1000;
  let data: GpuData | null = null;
  try {
    if (s.init) model.setWeights((await readSafetensors(s.init)).tensors, s.init);
    const compact = compactSplit(d.split);
    buildSeconds -= performance.now() / 1000;
    data = await GpuData.create(e, model, { train: d.trainSet, test: d.testSet }, {
      ...compact,
      testUsed: d.split.test,
    }, { augment: s.augment.length > 0, cache: datasets });
    buildSeconds += performance.now() / 1000;
    const prov = await provenance(e, d.files);
    data.writeParams(data.test, s.seed, 0, 0);
    if (data.val) data.writeParams(data.val, s.seed, 0, 0);
    // Compile now what this engine has not run yet, so no step pays for it.
    const warm = data.warmUp;
    const cold = await e.coldCount(warm);
    if (cold > 0) {
      log(
        `compiling ${cold} GPU kernel${cold === 1 ? "" : "s"} for this network ` +
          `(slow the first time on a CPU driver; cached afterwards)`,
      );
    }
    const kernelSeconds = buildSeconds + (await e.warmUp(warm)).seconds;
    if (cold > 0) log(`kernels ready in ${kernelSeconds.toFixed(1)} s`);
    o.onKernels?.({ count: cold, seconds: Math.round(kernelSeconds * 100) / 100 });
    const best = e.buffer(model.paramCount * 4, "best weights");
    const gpuData = data;
    return {
      engine: e,
      model,
      data: gpuData,
      train: compact.train,
      best,
      writeRun: (status, results) =>
        writeFileAtomic(
          join(o.dir, "run.yaml"),
          resolvedYaml(s, {
            id: o.id,
            grid_point: o.point,
            fingerprint: fingerprint(s),
            run_dir: o.dir,
            status: { ...status, ...o.status },
            provenance: prov,
            ...(o.maxEpochs !== undefined
              ? { notes: o.cut?.note ?? `epochs capped at ${o.maxEpochs} by --max-epochs` }
              : {}),
            ...(results ? { results } : {}),
          }),
        ),
      destroy() {
        best.destroy();
        gpuData.destroy();
        model.destroy();
      },
    };
  } catch (err) {
    data?.destroy();
    model.destroy();
    throw err;
  }
}

/**
 * Phase 3, the start: the loop state of the folder's checkpoint, restored
 * into the model (a damaged latest checkpoint falls back to the previous
 * one), or a fresh state, recorded as running in run.yaml.
 */
async function resume(
  o: RunPointOptions,
  log: (line: string) => void,
  b: Built,
): Promise<LoopState> {
  const steps = b.data.train.groups.length;
  const lrOf = (epoch: number) => learningRate(o.settings, steps, epoch, 0);
  const st = await loadCheckpoint(join(o.dir, CHECKPOINT), b.engine, b.model, b.best, lrOf, log);
  if (st) {
    log(`resuming ${o.id} at epoch ${st.epoch + 1}, step ${st.stepInEpoch}`);
    return st;
  }
  b.model.resetMetrics();
  await b.writeRun({ state: "running" });
  return newLoopState();
}

/** The metric slots of the accumulators. */
const TRAIN_SLOT = 0, VAL_SLOT = 1, TEST_SLOT = 2;

/** Why the epoch loop ended, and whether its last epoch was cut short by `max_steps`. */
interface LoopEnd {
  stopped: RunResults["stopped"];
  truncated: boolean;
}

/** What the steps of one epoch share. */
interface EpochRun {
  /** The epoch, 0-based, and the last epoch of this invocation (exclusive). */
  epoch: number;
  epochs: number;
  /** The step this epoch ends at (before `stepsPerEpoch` when `max_steps` cuts it). */
  lastStep: number;
  stepsPerEpoch: number;
  /** Its start (`performance.now()`) and the step it started at (later when resumed). */
  start: number;
  startStep: number;
  lrAt: (step: number) => number;
  waits: ChunkWaits;
  clock: RunClock;
}

/**
 * Phase 4, the epochs: each trains its steps ({@link trainEpoch}), then is
 * scored and recorded ({@link closeEpoch}); the loop stops at the last
 * epoch, at `max_steps`, or when validation has not improved for
 * `early_stopping` epochs. An abort writes a checkpoint at the next chunk
 * boundary and throws {@link Interrupted}.
 */
async function runEpochs(
  o: RunPointOptions,
  log: (line: string) => void,
  b: Built,
  state: LoopState,
): Promise<LoopEnd> {
  const s = o.settings;
  const { model, data } = b;
  const hasVal = data.val !== null;
  const epochs = Math.min(s.epochs, o.maxEpochs ?? Infinity);
  const stepsPerEpoch = data.train.groups.length;
  const flags = augmentFlagsOf(s.augment);
  const evalSamples = (data.val?.count ?? 0) + (s.test_each_epoch ? data.test.count : 0);
  const clock = new RunClock(state.seconds, evalSamples);
  const waits = new ChunkWaits(b.engine, o.progress !== undefined);
  let truncated = false;
  try {
    while (state.epoch < epochs) {
      if (s.max_steps !== null && state.totalSteps >= s.max_steps) {
        return { stopped: "max_steps", truncated };
      }
      // A resumed run that had already stopped early stays stopped.
      if (hasVal && state.epoch > 0 && state.epoch - 1 - state.bestEpoch >= s.early_stopping) {
        return { stopped: "early_stopping", truncated };
      }
      const epoch = state.epoch;
      const lastStep = s.max_steps === null
        ? stepsPerEpoch
        : Math.min(stepsPerEpoch, state.stepInEpoch + (s.max_steps - state.totalSteps));
      truncated = lastStep < stepsPerEpoch;
      const run: EpochRun = {
        epoch,
        epochs,
        lastStep,
        stepsPerEpoch,
        start: performance.now(),
        startStep: state.stepInEpoch,
        lrAt: (step) => learningRate(s, stepsPerEpoch, epoch, step),
        waits,
        clock,
      };
      model.lr = run.lrAt(state.stepInEpoch);
      data.writeOrder(data.train, epochOrder(b.train, s.seed, epoch, s.shuffle));
      data.writeParams(data.train, s.seed, epoch, flags);
      await trainEpoch(o, b, state, run);
      await closeEpoch(o, log, b, state, run);
      if (hasVal && epoch - state.bestEpoch >= s.early_stopping) {
        return { stopped: "early_stopping", truncated };
      }
    }
    return { stopped: "epochs", truncated };
  } finally {
    await waits.destroy();
  }
}

/**
 * The training steps of an epoch from where `state` is, one submission per
 * chunk, at most two chunks queued, nothing read back inside; after each
 * chunk, where training is goes to `progress`. An abort writes a checkpoint
 * at the chunk boundary and throws {@link Interrupted}.
 */
async function trainEpoch(
  o: RunPointOptions,
  b: Built,
  state: LoopState,
  run: EpochRun,
): Promise<void> {
  const s = o.settings;
  const chunk = o.chunk ?? 32;
  while (state.stepInEpoch < run.lastStep) {
    if (o.signal?.aborted) {
      await run.waits.drain();
      await b.engine.sync();
      await saveCheckpoint(join(o.dir, CHECKPOINT), b.engine, b.model, b.best, state);
      throw new Interrupted(o.dir);
    }
    const count = Math.min(chunk, run.lastStep - state.stepInEpoch);
    submitTrainSteps(b.engine, b.model, b.data, state.stepInEpoch, count, {
      lrAt: run.lrAt,
      tail: run.waits.tail,
    });
    state.stepInEpoch += count;
    state.totalSteps += count;
    await run.waits.submitted();
    if (o.progress) {
      const seconds = Math.max((performance.now() - run.start) / 1000, 1e-9);
      const info = run.clock.progress({
        epoch: run.epoch + 1,
        epochs: run.epochs,
        step: state.stepInEpoch,
        steps: run.lastStep,
        rate: ((state.stepInEpoch - run.startStep) * s.batch_size) / seconds,
        batch: s.batch_size,
        stepsLeftInRun: runStepsLeft(s, state, run.lastStep, run.stepsPerEpoch, run.epochs),
        evalsLeft: run.epochs - run.epoch,
        sums: run.waits.last,
        lr: b.model.lr,
      });
      o.progress(progressLine(info), false, info);
    }
  }
}

/**
 * The end of an epoch: scores the validation split (and the test set with
 * `test_each_epoch`), keeps the weights when validation improved, and
 * writes the epoch's record (`metrics.jsonl`, the log, `onEpoch`) and a
 * checkpoint.
 */
async function closeEpoch(
  o: RunPointOptions,
  log: (line: string) => void,
  b: Built,
  state: LoopState,
  run: EpochRun,
): Promise<void> {
  const s = o.settings;
  const { engine: e, model, data } = b;
  const chunk = o.chunk ?? 32;
  const trainSeconds = (performance.now() - run.start) / 1000;
  if (data.val) submitEvaluation(e, model, data, data.val, VAL_SLOT, chunk);
  if (s.test_each_epoch) submitEvaluation(e, model, data, data.test, TEST_SLOT, chunk);
  const metrics = await model.readAllMetrics();
  await run.waits.drain();
  run.waits.last = null;
  const test = s.test_each_epoch ? metrics[TEST_SLOT] : null;
  if (!Number.isFinite(metrics[TRAIN_SLOT].loss) || (test && !Number.isFinite(test.loss))) {
    throw new Error(
      `Training diverged in epoch ${run.epoch + 1}: loss is ${metrics[TRAIN_SLOT].loss} (train)` +
        (test ? `, ${test.loss} (test)` : ""),
    );
  }
  // The next epoch's products from this one's measured activity (sparse: auto).
  model.chooseProducts(metrics[TRAIN_SLOT]);
  const seconds = (performance.now() - run.start) / 1000;
  run.clock.epochDone(seconds - trainSeconds);
  const rec = epochRecord({
    epoch: run.epoch + 1,
    lr: run.lrAt(0),
    steps: state.stepInEpoch,
    seconds,
    train: metrics[TRAIN_SLOT],
    val: data.val ? metrics[VAL_SLOT] : null,
    test,
  });
  state.history.push(rec);
  const score = rec.val_acc;
  if (score === null || state.bestVal === null || score > state.bestVal) {
    state.bestVal = score;
    state.bestEpoch = run.epoch;
    const enc = e.device.createCommandEncoder();
    enc.copyBufferToBuffer(model.params, 0, b.best, 0, model.paramCount * 4);
    e.device.queue.submit([enc.finish()]);
  }
  model.resetMetrics();
  state.epoch += 1;
  state.stepInEpoch = 0;
  state.seconds = run.clock.seconds;
  o.progress?.("", true, null);
  log(epochLine(rec, data.val !== null));
  await writeFileAtomic(
    join(o.dir, "metrics.jsonl"),
    state.history.map((r) => JSON.stringify(r) + "\n").join(""),
  );
  await saveCheckpoint(join(o.dir, CHECKPOINT), e, model, b.best, state);
  o.onEpoch?.(rec);
}

/** The line logged after an epoch. */
function epochLine(rec: EpochRecord, hasVal: boolean): string {
  return `epoch ${rec.epoch}: loss ${rec.train_loss.toFixed(4)} train ${
    (rec.train_acc * 100).toFixed(2)
  }%` +
    (hasVal ? ` val ${(rec.val_acc! * 100).toFixed(2)}%` : "") +
    (rec.test_acc !== null ? ` test ${(rec.test_acc * 100).toFixed(2)}%` : "") +
    (rec.spikes_per_sample !== null
      ? ` spikes/sample ${rec.spikes_per_sample.toFixed(1)}${
        rec.stats_split === "val" ? " (val)" : ""
      }`
      : "") +
    ` lr ${rec.lr.toExponential(3)} ${rec.seconds.toFixed(1)}s`;
}

/** Training steps left in the run: this epoch's, then whole epochs, within `max_steps`. */
function runStepsLeft(
  s: Experiment,
  state: LoopState,
  lastStep: number,
  stepsPerEpoch: number,
  epochs: number,
): number {
  const left = (lastStep - state.stepInEpoch) + (epochs - state.epoch - 1) * stepsPerEpoch;
  return s.max_steps === null ? left : Math.min(left, s.max_steps - state.totalSteps);
}

/**
 * Phase 5, the end: the best-validation weights become the model's and
 * `weights.safetensors`; the test set is scored on them when the best
 * epoch's record has no test score (`test_each_epoch: false`); run.yaml
 * records the results.
 */
async function finish(
  o: RunPointOptions,
  b: Built,
  state: LoopState,
  end: LoopEnd,
  started: number,
): Promise<RunResults> {
  const s = o.settings;
  const { engine: e, model, data } = b;
  let stopped = end.stopped;
  // The last epoch was cut short by max_steps: stopped by it (all epochs run with steps to
  // spare, or exactly the budget, is done).
  if (stopped === "epochs" && end.truncated) stopped = "max_steps";
  if (stopped === "epochs" && state.epoch < s.epochs) stopped = "max_epochs";
  if (state.history.length === 0) {
    throw new Error("Cannot finish: no epoch was run (epochs or max_steps is 0)");
  }
  const bestW = await e.readF32(b.best, model.paramCount);
  model.importState({ ...(await model.exportState()), params: bestW });
  await saveWeights(model, join(o.dir, "weights.safetensors"), runWeightsMetadata(s, o.id));
  const bestRec = state.history[state.bestEpoch];
  let test = { acc: bestRec.test_acc, spikes: bestRec.spikes_per_sample };
  if (test.acc === null) {
    // Scored once, on the weights of the best epoch: what its record would have said.
    model.resetMetrics(TEST_SLOT);
    submitEvaluation(e, model, data, data.test, TEST_SLOT, o.chunk ?? 32);
    const m = await model.readMetrics(TEST_SLOT);
    test = { acc: m.accuracy, spikes: m.spikesPerSample };
  }
  const results: RunResults = {
    epochs_run: state.history.length,
    steps: state.totalSteps,
    best_epoch: state.bestEpoch + 1,
    best_val_acc: bestRec.val_acc,
    test_acc: test.acc!,
    spikes_per_sample: test.spikes!,
    wall_seconds: Math.round((performance.now() - started) / 10) / 100,
    stopped,
  };
  // Cut short by --max-epochs or max_steps: stopped, and a later run without the cut continues.
  const cut = stopped === "max_epochs" || stopped === "max_steps";
  await b.writeRun(
    stopped === "max_epochs" && o.cut
      ? o.cut.status
      : cut
      ? { state: "stopped", reason: stopped }
      : { state: "done" },
    results,
  );
  return results;
}

async function trainOn(
  o: RunPointOptions,
  log: (line: string) => void,
  prior: PriorRun | null,
  started: number,
  datasets: DatasetCache,
  made: { engine?: Engine },
): Promise<RunResults> {
  const stopIfAsked = () => {
    if (o.signal?.aborted) throw new Interrupted(o.dir, false);
  };
  const d = await loadData(o, log, prior, datasets);
  stopIfAsked();
  const b = await build(o, log, d, datasets, made);
  try {
    stopIfAsked();
    const state = await resume(o, log, b);
    stopIfAsked();
    o.onPhase?.("training");
    const end = await runEpochs(o, log, b, state);
    return await finish(o, b, state, end, started);
  } finally {
    b.destroy();
  }
}

/**
 * Path of a run folder: `<output>/<name>/<id>`. The experiment's name and the
 * run id must each be one plain folder name (letters, digits, `.`, `_`, `=`,
 * `+`, `-`; not `.` or `..`), so no id from a grid value, `--only` or a
 * `run.yaml` can place files outside the output folder.
 */
export function runDir(settings: Experiment, id: string, output?: string): string {
  for (const [what, v] of [["experiment name", settings.name], ["run id", id]] as const) {
    if (typeof v !== "string" || !/^[A-Za-z0-9._=+-]{1,200}$/.test(v) || v === "." || v === "..") {
      throw new Error(
        `Cannot place a run folder: ${what} expected one plain folder name ` +
          `(letters, digits, '.', '_', '=', '+', '-'; not '.' or '..'), got ${JSON.stringify(v)}`,
      );
    }
  }
  return join(output ?? settings.output, settings.name, id);
}

/** Whether a run folder holds a finished run. */
export async function isDone(dir: string): Promise<boolean> {
  try {
    return parseYaml(await Deno.readTextFile(join(dir, "run.yaml")))?.status?.state === "done";
  } catch {
    return false;
  }
}
