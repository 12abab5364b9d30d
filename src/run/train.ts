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
import { loadCheckpoint, newLoopState, saveCheckpoint } from "./checkpoint.ts";
import { isTempFile, writeFileAtomic } from "../util/fs.ts";
import { acquireLock } from "./run_lock.ts";
import { type EpochRecord, layerRecord, type RunResults } from "./records.ts";
import { fingerprint, SettingsChanged } from "./fingerprint.ts";
import { CHECKPOINT, CHECKPOINT_PREV, planPoint, type PriorRun, readPriorRun } from "./prior.ts";

export type { EpochRecord, RunResults } from "./records.ts";

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
  /** Progress line (rewritten in place on a terminal). */
  progress?: (line: string, final: boolean) => void;
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

function epochRecord(
  epoch: number,
  lr: number,
  steps: number,
  seconds: number,
  m: Metrics[],
  hasVal: boolean,
): EpochRecord {
  const [train, val, test] = m;
  return {
    epoch,
    lr,
    steps,
    train_loss: train.loss,
    train_acc: train.accuracy,
    val_loss: hasVal ? val.loss : null,
    val_acc: hasVal ? val.accuracy : null,
    test_loss: test.loss,
    test_acc: test.accuracy,
    seconds,
    spikes_per_sample: test.spikesPerSample,
    layers: test.layers.map(layerRecord),
  };
}

/** The AUGMENT_FLAGS bits of an experiment's augmentation list. */
function augmentFlagsOf(list: Experiment["augment"]): number {
  const bits = { crop: 1, flip: 2, autoaugment: 4, cutout: 8 } as const;
  return list.reduce((f, a) => f | bits[a], 0);
}

/** Builds the model an experiment describes for a dataset. */
async function modelFor(engine: Engine, s: Experiment, data: Dataset): Promise<Model> {
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
 * epoch as one submission: gather and augment, then the whole step.
 */
function submitTrainSteps(
  engine: Engine,
  model: Model,
  data: GpuData,
  first: number,
  count: number,
): void {
  const src = data.train;
  const params = Array.from(
    { length: count },
    (_, j) =>
      model.nextTrainStep(data.batchOf(src, first + j), {
        sampleOffset: (first + j) * model.maxBatch,
      }),
  );
  const offsets = engine.steps(params);
  const enc = engine.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  for (let j = 0; j < count; j++) {
    data.encodeGather(pass, src, first + j);
    model.encodeTrainStep(pass, offsets[j], params[j].batch, src.loss, false);
  }
  pass.end();
  engine.device.queue.submit([enc.finish()]);
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
    await removeTempFiles(o.dir);
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

/** Removes temporary files that an interrupted atomic write left in a run folder. */
async function removeTempFiles(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && isTempFile(e.name)) {
      await Deno.remove(join(dir, e.name)).catch(() => {});
    }
  }
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

async function trainOn(
  o: RunPointOptions,
  log: (line: string) => void,
  prior: PriorRun | null,
  started: number,
  datasets: DatasetCache,
  made: { engine?: Engine },
): Promise<RunResults> {
  const s = o.settings;
  const stopIfAsked = () => {
    if (o.signal?.aborted) throw new Interrupted(o.dir, false);
  };
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
  stopIfAsked();
  const e = o.engine ?? (made.engine = await Engine.create());
  // Building the pipelines, and the first dispatch of each: the kernels' compilation.
  let buildSeconds = -performance.now() / 1000;
  const model = await modelFor(e, s, trainSet);
  buildSeconds += performance.now() / 1000;
  let data: GpuData | null = null;
  let best: GPUBuffer | null = null;
  try {
    if (s.init) model.setWeights((await readSafetensors(s.init)).tensors, s.init);
    const compact = compactSplit(split);
    buildSeconds -= performance.now() / 1000;
    data = await GpuData.create(e, model, { train: trainSet, test: testSet }, {
      ...compact,
      testUsed: split.test,
    }, { augment: s.augment.length > 0, cache: datasets });
    buildSeconds += performance.now() / 1000;
    const hasVal = data.val !== null;
    const prov = await provenance(e, files);
    const writeRun = (status: Record<string, unknown>, results?: RunResults) =>
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
      );
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
    stopIfAsked();
    const flags = augmentFlagsOf(s.augment);
    best = e.buffer(model.paramCount * 4, "best weights");
    const lrOf = (epoch: number) => s.lr * Math.pow(s.annealing, epoch);

    const ckPath = join(o.dir, CHECKPOINT);
    let st = await loadCheckpoint(ckPath, e, model, best, lrOf, log);
    if (st) {
      log(`resuming ${o.id} at epoch ${st.epoch + 1}, step ${st.stepInEpoch}`);
    } else {
      st = newLoopState();
      model.resetMetrics();
      await writeRun({ state: "running" });
    }
    const state = st;
    stopIfAsked();
    o.onPhase?.("training");

    const epochs = Math.min(s.epochs, o.maxEpochs ?? Infinity);
    const chunk = o.chunk ?? 32;
    const B = s.batch_size;
    const stepsPerEpoch = data.train.groups.length;
    let stopped: RunResults["stopped"] = "epochs";
    let truncated = false;
    const runStart = performance.now() - state.seconds * 1000;
    while (state.epoch < epochs) {
      if (s.max_steps !== null && state.totalSteps >= s.max_steps) {
        stopped = "max_steps";
        break;
      }
      // A resumed run that had already stopped early stays stopped.
      if (hasVal && state.epoch > 0 && state.epoch - 1 - state.bestEpoch >= s.early_stopping) {
        stopped = "early_stopping";
        break;
      }
      const epochStart = performance.now();
      const epoch = state.epoch;
      model.lr = lrOf(epoch);
      data.writeOrder(data.train, epochOrder(compact.train, s.seed, epoch, s.shuffle));
      data.writeParams(data.train, s.seed, epoch, flags);
      const inFlight: Promise<void>[] = [];
      const lastStep = s.max_steps === null
        ? stepsPerEpoch
        : Math.min(stepsPerEpoch, state.stepInEpoch + (s.max_steps - state.totalSteps));
      truncated = lastStep < stepsPerEpoch;
      while (state.stepInEpoch < lastStep) {
        if (o.signal?.aborted) {
          await e.sync();
          await saveCheckpoint(ckPath, e, model, best, state);
          throw new Interrupted(o.dir);
        }
        const count = Math.min(chunk, lastStep - state.stepInEpoch);
        submitTrainSteps(e, model, data, state.stepInEpoch, count);
        state.stepInEpoch += count;
        state.totalSteps += count;
        // Keep at most two chunks queued: waiting on an older chunk never idles the GPU.
        inFlight.push(e.device.queue.onSubmittedWorkDone());
        if (inFlight.length > 2) await inFlight.shift();
        const rate = (state.stepInEpoch * B) /
          Math.max((performance.now() - epochStart) / 1000, 1e-9);
        const eta = ((lastStep - state.stepInEpoch) * B) / Math.max(rate, 1e-9);
        o.progress?.(
          `epoch ${epoch + 1}/${epochs} step ${state.stepInEpoch}/${lastStep} ${
            Math.round(rate)
          } samples/s ETA ${eta.toFixed(0)}s`,
          false,
        );
      }
      if (data.val) submitEvaluation(e, model, data, data.val, 1, chunk);
      submitEvaluation(e, model, data, data.test, 2, chunk);
      const metrics = await model.readAllMetrics();
      if (!Number.isFinite(metrics[0].loss) || !Number.isFinite(metrics[2].loss)) {
        throw new Error(
          `Training diverged in epoch ${epoch + 1}: loss is ${metrics[0].loss} (train), ${
            metrics[2].loss
          } (test)`,
        );
      }
      const seconds = (performance.now() - epochStart) / 1000;
      const rec = epochRecord(epoch + 1, model.lr, state.stepInEpoch, seconds, metrics, hasVal);
      state.history.push(rec);
      const score = hasVal ? rec.val_acc! : null;
      if (score === null || state.bestVal === null || score > state.bestVal) {
        state.bestVal = score;
        state.bestEpoch = epoch;
        const enc = e.device.createCommandEncoder();
        enc.copyBufferToBuffer(model.params, 0, best, 0, model.paramCount * 4);
        e.device.queue.submit([enc.finish()]);
      }
      model.resetMetrics();
      state.epoch += 1;
      state.stepInEpoch = 0;
      state.seconds = (performance.now() - runStart) / 1000;
      o.progress?.("", true);
      log(
        `epoch ${rec.epoch}: loss ${rec.train_loss.toFixed(4)} train ${
          (rec.train_acc * 100).toFixed(2)
        }%` +
          (hasVal ? ` val ${(rec.val_acc! * 100).toFixed(2)}%` : "") +
          ` test ${(rec.test_acc * 100).toFixed(2)}% spikes/sample ${
            rec.spikes_per_sample.toFixed(1)
          }` +
          ` lr ${rec.lr.toExponential(3)} ${seconds.toFixed(1)}s`,
      );
      await writeFileAtomic(
        join(o.dir, "metrics.jsonl"),
        state.history.map((r) => JSON.stringify(r) + "\n").join(""),
      );
      await saveCheckpoint(ckPath, e, model, best, state);
      o.onEpoch?.(rec);
      if (hasVal && epoch - state.bestEpoch >= s.early_stopping) {
        stopped = "early_stopping";
        break;
      }
    }
    // The last epoch was cut short by max_steps: stopped by it (all epochs run with steps to
    // spare, or exactly the budget, is done).
    if (stopped === "epochs" && truncated) stopped = "max_steps";
    if (stopped === "epochs" && state.epoch < s.epochs) stopped = "max_epochs";
    if (state.history.length === 0) {
      throw new Error("Cannot finish: no epoch was run (epochs or max_steps is 0)");
    }
    const bestW = await e.readF32(best, model.paramCount);
    model.importState({ ...(await model.exportState()), params: bestW });
    await saveWeights(model, join(o.dir, "weights.safetensors"), runWeightsMetadata(s, o.id));
    const bestRec = state.history[state.bestEpoch];
    const results: RunResults = {
      epochs_run: state.history.length,
      steps: state.totalSteps,
      best_epoch: state.bestEpoch + 1,
      best_val_acc: bestRec.val_acc,
      test_acc: bestRec.test_acc,
      spikes_per_sample: bestRec.spikes_per_sample,
      wall_seconds: Math.round((performance.now() - started) / 10) / 100,
      stopped,
    };
    // Cut short by --max-epochs or max_steps: stopped, and a later run without the cut continues.
    const cut = stopped === "max_epochs" || stopped === "max_steps";
    await writeRun(
      stopped === "max_epochs" && o.cut
        ? o.cut.status
        : cut
        ? { state: "stopped", reason: stopped }
        : { state: "done" },
      results,
    );
    return results;
  } finally {
    best?.destroy();
    data?.destroy();
    model.destroy();
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
