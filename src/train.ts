/**
 * The training loop of one experiment point: datasets uploaded to the GPU
 * once, per-sample augmentation and encoding on the GPU, whole chunks of
 * steps per submission with no read-back inside an epoch, evaluation,
 * early stopping, atomic checkpoints and exact resume, and the run folder.
 *
 * @module
 */

import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { createAugmentPipeline, packAugmentParams } from "./augment.ts";
import { type Dataset, datasetInfo, loadDataset } from "./datasets.ts";
import type { Experiment } from "./experiment/config.ts";
import { resolvedYaml } from "./experiment/grid.ts";
import { Engine } from "./gpu.ts";
import { type Metrics, Model } from "./model.ts";
import { Rng } from "./rng.ts";
import { readSafetensors, writeSafetensors } from "./safetensors.ts";
import { provenance } from "./provenance.ts";
import { writeFileAtomic } from "./_fs.ts";

/** One epoch's record in `metrics.jsonl`. */
export interface EpochRecord {
  epoch: number;
  lr: number;
  steps: number;
  train_loss: number;
  train_acc: number;
  val_loss: number | null;
  val_acc: number | null;
  test_loss: number;
  test_acc: number;
  seconds: number;
  spikes_per_sample: number;
  layers: {
    index: number;
    token: string;
    firing: number;
    mean_time: number | null;
    hist: number[];
  }[];
}

/** Final results of a run (the `results` section of `run.yaml`). */
export interface RunResults {
  epochs_run: number;
  steps: number;
  best_epoch: number;
  best_val_acc: number | null;
  test_acc: number;
  spikes_per_sample: number;
  wall_seconds: number;
  stopped: "epochs" | "early_stopping" | "max_steps";
}

/** Options of {@link runPoint}. */
export interface RunPointOptions {
  settings: Experiment;
  id: string;
  point: Record<string, unknown>;
  /** The run folder. */
  dir: string;
  /** Caps the epochs (for a quick look); recorded in run.yaml. */
  maxEpochs?: number;
  engine?: Engine;
  /** Aborting writes a checkpoint at the next chunk boundary and throws {@link Interrupted}. */
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** Progress line (rewritten in place on a terminal). */
  progress?: (line: string, final: boolean) => void;
  /** Extra status fields (e.g. the Slurm job). */
  status?: Record<string, unknown>;
  /** Steps encoded per submission. Default 32. */
  chunk?: number;
}

/** Thrown when a run stops on request after writing its checkpoint. */
export class Interrupted extends Error {
  constructor(dir: string) {
    super(`Interrupted: checkpoint written in ${dir}; run again to resume`);
    this.name = "Interrupted";
  }
}

interface CheckpointState {
  epoch: number;
  stepInEpoch: number;
  totalSteps: number;
  adamStep: number;
  bestEpoch: number;
  bestVal: number | null;
  history: EpochRecord[];
  seconds: number;
  rng: number[];
}

const CHECKPOINT = "checkpoint.safetensors";

/** Which samples each split uses (positions into the dataset splits). */
export function splitIndices(
  trainCount: number,
  testCount: number,
  s: Pick<Experiment, "seed" | "validation_fraction" | "train_subset" | "test_subset">,
): { train: Uint32Array; val: Uint32Array; test: Uint32Array } {
  // The seed picks the validation samples and the training subset; both
  // keep file order, so `shuffle: false` trains on the files' order.
  const order = new Rng(s.seed).fork("validation-split").permutation(trainCount);
  const nVal = Math.floor(trainCount * s.validation_fraction);
  const val = order.slice(0, nVal).sort();
  let train = order.slice(nVal);
  if (s.train_subset !== null) train = train.slice(0, Math.min(s.train_subset, train.length));
  train.sort();
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

/** Training order of an epoch: a seeded shuffle of `train` (or `train` itself). */
export function epochOrder(
  train: Uint32Array,
  seed: number,
  epoch: number,
  shuffle: boolean,
): Uint32Array {
  if (!shuffle) return train;
  const perm = new Rng(seed).fork(`epoch-${epoch}`).permutation(train.length);
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
    layers: test.layers.map((l) => ({
      index: l.index,
      token: l.token,
      firing: l.firing,
      mean_time: Number.isFinite(l.meanTime) ? l.meanTime : null,
      hist: l.hist,
    })),
  };
}

interface Source {
  images: GPUBuffer;
  labels: GPUBuffer;
  indices: GPUBuffer;
  count: number;
  params: GPUBuffer;
  groups: GPUBindGroup[];
  loss: GPUBindGroup;
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
  await Deno.mkdir(o.dir, { recursive: true });
  const started = performance.now();
  const [trainSet, testSet] = await Promise.all([
    loadDataset(s.dataset, "train", { dir: s.data_dir ?? undefined, log }),
    loadDataset(s.dataset, "test", { dir: s.data_dir ?? undefined, log }),
  ]);
  const engine = o.engine ?? await Engine.create();
  const info = datasetInfo(s.dataset);
  const model = await Model.create(engine, {
    arch: s.arch,
    inputShape: trainSet.shape,
    classes: trainSet.classes,
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
  const buffers: GPUBuffer[] = [];
  try {
    if (s.init) {
      const st = await readSafetensors(s.init);
      model.setWeights(st.tensors, s.init);
    }
    const split = splitIndices(trainSet.count, testSet.count, s);
    if (split.train.length === 0) {
      throw new Error(
        `Cannot train: no training samples left after the validation split (${trainSet.count} samples)`,
      );
    }
    const hasVal = split.val.length > 0;
    const prov = await provenance(engine, [...trainSet.files, ...testSet.files]);
    const writeRun = (status: Record<string, unknown>, results?: RunResults) =>
      writeFileAtomic(
        join(o.dir, "run.yaml"),
        resolvedYaml(s, {
          id: o.id,
          grid_point: o.point,
          status: { ...status, ...o.status },
          provenance: prov,
          ...(o.maxEpochs !== undefined
            ? { notes: `epochs capped at ${o.maxEpochs} by --max-epochs` }
            : {}),
          ...(results ? { results } : {}),
        }),
      );

    const B = s.batch_size;
    const e = engine;
    const pipeline = await createAugmentPipeline(e.device, trainSet.shape);
    // Upload only the samples the run uses (all of them unless subsets are set).
    const uploadSet = (d: Dataset, used: Uint32Array) => {
      const size = d.shape[0] * d.shape[1] * d.shape[2];
      const images = e.buffer(
        used.length * size,
        `${d.name} ${d.split} images`,
        "this adapter cannot hold the samples in one buffer (use train_subset / test_subset, or a GPU)",
      );
      const labels = e.buffer(used.length * 4, `${d.name} ${d.split} labels`);
      const all = used.length === d.count && used.every((v, i) => v === i);
      const bytes = all ? d.images : new Uint8Array(used.length * size);
      if (!all) {
        used.forEach((v, i) => bytes.set(d.images.subarray(v * size, (v + 1) * size), i * size));
      }
      e.write(images, bytes);
      e.write(labels, Uint32Array.from(used, (v) => d.labels[v]));
      buffers.push(images, labels);
      return { images, labels };
    };
    const compact = compactSplit(split);
    const trainGpu = uploadSet(trainSet, compact.trainUsed);
    const testGpu = uploadSet(testSet, split.test);
    const makeSource = (
      gpu: { images: GPUBuffer; labels: GPUBuffer },
      idx: Uint32Array,
      name: string,
    ): Source => {
      const indices = e.buffer(idx.length * 4, `${name} indices`);
      e.write(indices, idx);
      const steps = Math.ceil(idx.length / B);
      const params = e.device.createBuffer({
        size: Math.max(1, steps) * 256,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        label: `${name} augment params`,
      });
      buffers.push(indices, params);
      const layout = pipeline.getBindGroupLayout(0);
      const groups = Array.from({ length: steps }, (_, i) =>
        e.device.createBindGroup({
          layout,
          entries: [
            { binding: 0, resource: { buffer: gpu.images } },
            { binding: 1, resource: { buffer: indices } },
            { binding: 2, resource: { buffer: model.inputX } },
            { binding: 3, resource: { buffer: params, offset: i * 256, size: 32 } },
          ],
        }));
      return {
        ...gpu,
        indices,
        count: idx.length,
        params,
        groups,
        loss: model.lossGroup(gpu.labels, indices),
      };
    };
    const train = makeSource(trainGpu, compact.train, "train");
    const val = hasVal ? makeSource(trainGpu, compact.val, "validation") : null;
    const test = makeSource(testGpu, Uint32Array.from(split.test.keys()), "test");
    const writeParams = (src: Source, epoch: number, flags: number) => {
      const data = new Uint32Array(src.groups.length * 64);
      for (let i = 0; i < src.groups.length; i++) {
        data.set(
          packAugmentParams({
            batch: Math.min(B, src.count - i * B),
            offset: i * B,
            seed: s.seed >>> 0,
            epoch,
            flags,
          }),
          i * 64,
        );
      }
      e.write(src.params, data);
    };
    writeParams(test, 0, 0);
    if (val) writeParams(val, 0, 0);
    const flags = s.augment.reduce(
      (f, a) => f | ({ crop: 1, flip: 2, autoaugment: 4, cutout: 8 } as const)[a],
      0,
    );
    const best = e.buffer(model.paramCount * 4, "best weights");
    buffers.push(best);

    // Resume.
    let st: CheckpointState = {
      epoch: 0,
      stepInEpoch: 0,
      totalSteps: 0,
      adamStep: 0,
      bestEpoch: -1,
      bestVal: null,
      history: [],
      seconds: 0,
      rng: new Rng(s.seed).state(),
    };
    const ckPath = join(o.dir, CHECKPOINT);
    try {
      const ck = await readSafetensors(ckPath);
      st = JSON.parse(ck.metadata.state);
      const t = ck.tensors;
      model.importState({
        params: t.params.data,
        m: t.adam_m.data,
        v: t.adam_v.data,
        signs: t.signs.data,
        adamStep: st.adamStep,
        lr: s.lr * Math.pow(s.annealing, st.epoch),
      });
      e.write(best, t.best.data);
      e.write(model.accum, t.accum.data);
      log(`resuming ${o.id} at epoch ${st.epoch + 1}, step ${st.stepInEpoch}`);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound) && !String(err).includes("No such file")) {
        throw new Error(`Cannot resume from ${ckPath}: ${(err as Error).message}`);
      }
      model.resetMetrics();
      await writeRun({ state: "running" });
    }

    const writeCheckpoint = async () => {
      const state = await model.exportState();
      const [bestW, accum] = await Promise.all([
        e.readF32(best, model.paramCount),
        e.readF32(model.accum, model.accum.size / 4),
      ]);
      const n = model.paramCount;
      await writeSafetensors(ckPath, {
        params: { shape: [n], data: state.params },
        adam_m: { shape: [n], data: state.m },
        adam_v: { shape: [n], data: state.v },
        signs: { shape: [n], data: state.signs },
        best: { shape: [n], data: bestW },
        accum: { shape: [accum.length], data: accum },
      }, { state: JSON.stringify({ ...st, adamStep: model.adamStep }) });
    };
    const writeMetrics = () =>
      writeFileAtomic(
        join(o.dir, "metrics.jsonl"),
        st.history.map((r) => JSON.stringify(r) + "\n").join(""),
      );

    const epochs = Math.min(s.epochs, o.maxEpochs ?? Infinity);
    const chunk = o.chunk ?? 32;
    const stepsPerEpoch = train.groups.length;
    let stopped: RunResults["stopped"] = "epochs";
    const runStart = performance.now() - st.seconds * 1000;
    while (st.epoch < epochs) {
      if (s.max_steps !== null && st.totalSteps >= s.max_steps) {
        stopped = "max_steps";
        break;
      }
      const epochStart = performance.now();
      const epoch = st.epoch;
      model.lr = s.lr * Math.pow(s.annealing, epoch);
      e.write(train.indices, epochOrder(compact.train, s.seed, epoch, s.shuffle));
      writeParams(train, epoch, flags);
      const inFlight: Promise<void>[] = [];
      const lastStep = s.max_steps === null
        ? stepsPerEpoch
        : Math.min(stepsPerEpoch, st.stepInEpoch + (s.max_steps - st.totalSteps));
      while (st.stepInEpoch < lastStep) {
        if (o.signal?.aborted) {
          await e.sync();
          await writeCheckpoint();
          throw new Interrupted(o.dir);
        }
        const first = st.stepInEpoch;
        const count = Math.min(chunk, lastStep - first);
        const params = Array.from({ length: count }, (_, j) => {
          const i = first + j;
          return model.nextTrainStep(Math.min(B, train.count - i * B), { sampleOffset: i * B });
        });
        const offsets = e.steps(params);
        const enc = e.device.createCommandEncoder();
        const pass = enc.beginComputePass();
        for (let j = 0; j < count; j++) {
          const batch = params[j].batch;
          pass.setPipeline(pipeline);
          pass.setBindGroup(0, train.groups[first + j]);
          pass.dispatchWorkgroups(batch);
          model.encodeTrainStep(pass, offsets[j], batch, train.loss, false);
        }
        pass.end();
        e.device.queue.submit([enc.finish()]);
        st.stepInEpoch += count;
        st.totalSteps += count;
        // Keep at most two chunks queued: waiting on an older chunk never idles the GPU.
        inFlight.push(e.device.queue.onSubmittedWorkDone());
        if (inFlight.length > 2) await inFlight.shift();
        const elapsed = (performance.now() - epochStart) / 1000;
        const done = st.stepInEpoch;
        const rate = (done * B) / Math.max(elapsed, 1e-9);
        const eta = ((lastStep - done) * B) / Math.max(rate, 1e-9);
        o.progress?.(
          `epoch ${epoch + 1}/${epochs} step ${done}/${lastStep} ${
            Math.round(rate)
          } samples/s ETA ${eta.toFixed(0)}s`,
          false,
        );
      }
      // Evaluation (validation and test), statistics on.
      for (const [src, slot] of [[val, 1], [test, 2]] as const) {
        if (!src) continue;
        for (let first = 0; first < src.groups.length; first += chunk) {
          const count = Math.min(chunk, src.groups.length - first);
          const offsets = e.steps(Array.from({ length: count }, (_, j) => ({
            batch: Math.min(B, src.count - (first + j) * B),
            sampleOffset: (first + j) * B,
            metricSlot: slot,
          })));
          const enc = e.device.createCommandEncoder();
          const pass = enc.beginComputePass();
          for (let j = 0; j < count; j++) {
            const batch = Math.min(B, src.count - (first + j) * B);
            pass.setPipeline(pipeline);
            pass.setBindGroup(0, src.groups[first + j]);
            pass.dispatchWorkgroups(batch);
            pass.setBindGroup(0, e.stepGroup, [offsets[j]]);
            model.encodeForward(pass, batch, true);
            model.encodeLoss(pass, src.loss);
          }
          pass.end();
          e.device.queue.submit([enc.finish()]);
        }
      }
      const metrics = await model.readAllMetrics();
      if (!Number.isFinite(metrics[0].loss) || !Number.isFinite(metrics[2].loss)) {
        throw new Error(
          `Training diverged in epoch ${epoch + 1}: loss is ${metrics[0].loss} (train), ${
            metrics[2].loss
          } (test)`,
        );
      }
      const seconds = (performance.now() - epochStart) / 1000;
      const rec = epochRecord(epoch + 1, model.lr, st.stepInEpoch, seconds, metrics, hasVal);
      st.history.push(rec);
      const score = hasVal ? rec.val_acc! : null;
      if (score === null || st.bestVal === null || score > st.bestVal) {
        st.bestVal = score;
        st.bestEpoch = epoch;
        const enc = e.device.createCommandEncoder();
        enc.copyBufferToBuffer(model.params, 0, best, 0, model.paramCount * 4);
        e.device.queue.submit([enc.finish()]);
      }
      model.resetMetrics();
      st.epoch += 1;
      st.stepInEpoch = 0;
      st.seconds = (performance.now() - runStart) / 1000;
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
      o.progress?.("", true);
      await writeMetrics();
      await writeCheckpoint();
      if (hasVal && epoch - st.bestEpoch >= s.early_stopping) {
        stopped = "early_stopping";
        break;
      }
    }
    if (stopped === "epochs" && s.max_steps !== null && st.totalSteps >= s.max_steps) {
      stopped = "max_steps";
    }
    if (st.history.length === 0) {
      throw new Error("Cannot finish: no epoch was run (epochs or max_steps is 0)");
    }
    const bestW = await e.readF32(best, model.paramCount);
    model.importState({ ...(await model.exportState()), params: bestW });
    const weights = await model.getWeights();
    await writeSafetensors(join(o.dir, "weights.safetensors"), weights, {
      format: "pt",
      arch: s.arch,
      run: o.id,
    });
    const bestRec = st.history[st.bestEpoch];
    const results: RunResults = {
      epochs_run: st.history.length,
      steps: st.totalSteps,
      best_epoch: st.bestEpoch + 1,
      best_val_acc: bestRec.val_acc,
      test_acc: bestRec.test_acc,
      spikes_per_sample: bestRec.spikes_per_sample,
      wall_seconds: Math.round(((performance.now() - started) / 1000 + 0) * 100) / 100,
      stopped,
    };
    await writeRun({ state: "done" }, results);
    return results;
  } finally {
    for (const b of buffers) b.destroy();
    model.destroy();
    if (!o.engine) engine.destroy();
  }
}

/** Path of a run folder: `<output>/<name>/<id>`. */
export function runDir(settings: Experiment, id: string, output?: string): string {
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

