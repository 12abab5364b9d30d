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

/** Writes a checkpoint of `model`, its best weights and the loop state (two read-backs). */
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
  await writeSafetensors(path, {
    params: { shape: [n], data: s.params },
    adam_m: { shape: [n], data: s.m },
    adam_v: { shape: [n], data: s.v },
    signs: { shape: [n], data: s.signs },
    best: { shape: [n], data: bestW },
    accum: { shape: [accum.length], data: accum },
  }, { state: JSON.stringify({ ...state, adamStep: model.adamStep }) });
}

/**
 * Restores a checkpoint into `model` and `best` and returns the loop state,
 * or null when there is none. `lr` is the learning rate of the epoch resumed.
 */
export async function loadCheckpoint(
  path: string,
  engine: Engine,
  model: Model,
  best: GPUBuffer,
  lr: (epoch: number) => number,
): Promise<LoopState | null> {
  let file;
  try {
    file = await readSafetensors(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || String(e).includes("No such file")) return null;
    throw new Error(`Cannot resume from ${path}: ${(e as Error).message}`);
  }
  try {
    const state = JSON.parse(file.metadata.state) as LoopState;
    const t = file.tensors;
    model.importState({
      params: t.params.data,
      m: t.adam_m.data,
      v: t.adam_v.data,
      signs: t.signs.data,
      adamStep: state.adamStep,
      lr: lr(state.epoch),
    });
    engine.write(best, t.best.data);
    engine.write(model.accum, t.accum.data);
    return state;
  } catch (e) {
    throw new Error(`Cannot resume from ${path}: ${(e as Error).message}`);
  }
}
