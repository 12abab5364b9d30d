/**
 * Training checkpoints: one safetensors file holding the flat weights, Adam
 * moments, initial signs, best weights and the GPU metric accumulators, with
 * the loop's state (epoch, step in epoch, history, best epoch) as JSON
 * metadata. Written atomically, so a run killed at any moment resumes from
 * the last complete checkpoint. No generator state is needed: every random
 * choice (validation split, epoch order, augmentation) is a function of the
 * seed, the epoch and the sample's position.
 *
 * @module
 */

import type { Engine } from "../engine/gpu.ts";
import type { Model } from "../engine/model.ts";
import { readSafetensors, writeSafetensors } from "../engine/safetensors.ts";
import type { EpochRecord } from "./records.ts";

/** The loop's state between steps. */
export interface LoopState {
  /** Epoch being run (0-based). */
  epoch: number;
  /** Steps of that epoch already taken. */
  stepInEpoch: number;
  /** Training steps taken in all epochs. */
  totalSteps: number;
  /** Optimiser steps taken (Adam's t). */
  adamStep: number;
  /** Epoch (0-based) of the best validation accuracy so far, -1 before the first. */
  bestEpoch: number;
  /** Best validation accuracy so far; null before the first or without a validation split. */
  bestVal: number | null;
  /** Records of the completed epochs, in order. */
  history: EpochRecord[];
  /** Seconds of training so far (earlier sessions included). */
  seconds: number;
}

/** A fresh loop state. */
export function newLoopState(): LoopState {
  return {
    epoch: 0,
    stepInEpoch: 0,
    totalSteps: 0,
    adamStep: 0,
    bestEpoch: -1,
    bestVal: null,
    history: [],
    seconds: 0,
  };
}

/**
 * Writes a checkpoint of `model`, its best weights and the loop state (two
 * read-backs). The checkpoint it replaces is kept as `<name>.prev` (see
 * {@link previousPath}), so a damaged latest one can fall back to it.
 */
export async function saveCheckpoint(
  path: string,
  engine: Engine,
  model: Model,
  best: GPUBuffer,
  state: LoopState,
): Promise<void> {
  const n = model.paramCount;
  const s = await model.exportState();
  const [bestW, accum] = await engine.readManyF32([
    { buffer: best, count: n },
    { buffer: model.accum, count: model.accum.size / 4 },
  ]);
  await Deno.rename(path, previousPath(path)).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
  await writeSafetensors(path, {
    params: { shape: [n], data: s.params },
    adam_m: { shape: [n], data: s.m },
    adam_v: { shape: [n], data: s.v },
    signs: { shape: [n], data: s.signs },
    best: { shape: [n], data: bestW },
    accum: { shape: [accum.length], data: accum },
  }, { state: JSON.stringify({ ...state, adamStep: model.adamStep }) });
}

/** Where the previous checkpoint is kept: `checkpoint.safetensors` -> `checkpoint.prev.safetensors`. */
export function previousPath(path: string): string {
  return path.replace(/(\.safetensors)?$/, ".prev.safetensors");
}

const TENSORS = ["params", "adam_m", "adam_v", "signs", "best", "accum"] as const;
const STATE_FIELDS: (keyof LoopState)[] = [
  "epoch",
  "stepInEpoch",
  "totalSteps",
  "adamStep",
  "bestEpoch",
  "bestVal",
  "history",
  "seconds",
];

/** A checkpoint's contents, checked: every tensor with its size, and a complete loop state. */
async function readCheckpoint(path: string, model: Model) {
  const file = await readSafetensors(path);
  const missing = TENSORS.filter((k) => !(k in file.tensors));
  if (missing.length) {
    throw new Error(`it lacks tensor(s) ${missing.map((k) => `'${k}'`).join(", ")}`);
  }
  for (const k of TENSORS) {
    const want = k === "accum" ? model.accum.size / 4 : model.paramCount;
    const got = file.tensors[k].data.length;
    if (got !== want) {
      throw new Error(`tensor '${k}' expected ${want} values for this network, got ${got}`);
    }
  }
  if (file.metadata.state === undefined) {
    throw new Error("it lacks the loop state (metadata 'state')");
  }
  let state: LoopState;
  try {
    state = JSON.parse(file.metadata.state);
  } catch (e) {
    throw new Error(`its loop state is not valid JSON (${(e as Error).message})`);
  }
  const absent = STATE_FIELDS.filter((k) => state?.[k] === undefined);
  if (absent.length) throw new Error(`its loop state lacks ${absent.join(", ")}`);
  return { tensors: file.tensors, state };
}

/**
 * Restores a checkpoint into `model` and `best` and returns the loop state,
 * or null when there is none. `lr` is the learning rate of the epoch resumed.
 * A damaged, truncated or incomplete latest checkpoint falls back to the
 * previous one (with a line to `log`); when neither can be used, the error
 * says what is wrong with each and what to do.
 */
export async function loadCheckpoint(
  path: string,
  engine: Engine,
  model: Model,
  best: GPUBuffer,
  lr: (epoch: number) => number,
  log: (line: string) => void = () => {},
): Promise<LoopState | null> {
  const problems: string[] = [];
  for (const p of [path, previousPath(path)]) {
    let ck;
    try {
      ck = await readCheckpoint(p, model);
    } catch (e) {
      if ((e as Error).message.includes("No such file") || e instanceof Deno.errors.NotFound) {
        continue;
      }
      problems.push(`${p}: ${(e as Error).message}`);
      continue;
    }
    if (problems.length) {
      log(`${problems.join("; ")}; resuming from the previous checkpoint ${p} instead`);
    }
    const t = ck.tensors;
    model.importState({
      params: t.params.data,
      m: t.adam_m.data,
      v: t.adam_v.data,
      signs: t.signs.data,
      adamStep: ck.state.adamStep,
      lr: lr(ck.state.epoch),
    });
    engine.write(best, t.best.data);
    engine.write(model.accum, t.accum.data);
    return ck.state;
  }
  if (problems.length === 0) return null;
  throw new Error(
    `Cannot resume: ${problems.join("; ")}. Start this point over with --force (or delete its ` +
      `checkpoints), or restore a good copy of the checkpoint`,
  );
}
