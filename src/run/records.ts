/**
 * What a run writes about itself: the per-epoch records of `metrics.jsonl`
 * and the final `results` of `run.yaml`. Plain data, shared by the training
 * loop and its checkpoints.
 *
 * @module
 */

import type { Metrics } from "../engine/metrics.ts";

/** One epoch's record in `metrics.jsonl`. */
export interface EpochRecord {
  /** Epoch number, 1-based. */
  epoch: number;
  /** Learning rate of the epoch's first step (the epoch's rate, but with a per-step schedule). */
  lr: number;
  /** Training steps taken in this epoch. */
  steps: number;
  /** Mean training loss per sample. */
  train_loss: number;
  /** Training accuracy in [0, 1]. */
  train_acc: number;
  /** Mean validation loss per sample; null without a validation split. */
  val_loss: number | null;
  /** Validation accuracy in [0, 1]; null without a validation split. */
  val_acc: number | null;
  /** Mean test loss per sample; null when the test set was not scored (`test_each_epoch: false`). */
  test_loss: number | null;
  /** Test accuracy in [0, 1]; null when the test set was not scored. */
  test_acc: number | null;
  /** Wall-clock seconds of this epoch. */
  seconds: number;
  /**
   * Spikes per sample of the `stats_split` set, summed over the spiking
   * layers; null when neither set was scored.
   */
  spikes_per_sample: number | null;
  /** Spike statistics per spiking layer (conv and linear, in order) of the `stats_split` set. */
  layers: LayerRecord[];
  /**
   * Which set the spike statistics describe: `test` (scored every epoch),
   * `val` (the test set was not scored: `test_each_epoch: false`), or null
   * (neither was). Absent in records written before it existed: `test`.
   */
  stats_split?: "test" | "val" | null;
}

/** One spiking layer's test-set statistics in an epoch record. */
export interface LayerRecord {
  /** Index of the layer in the model's plan. */
  index: number;
  /** The layer's spec token, e.g. "16C3". */
  token: string;
  /** Fraction of the layer's neurons that fired, per sample, in [0, 1]. */
  firing: number;
  /** Mean spike time of the neurons that fired; null when none fired. */
  mean_time: number | null;
  /** Counts of spike times in 16 equal bins over [0, T]. */
  hist: number[];
}

/** A layer's metrics as a record (`meanTime` NaN, when nothing fired, becomes null). */
export function layerRecord(l: Metrics["layers"][number]): LayerRecord {
  return {
    index: l.index,
    token: l.token,
    firing: l.firing,
    mean_time: Number.isFinite(l.meanTime) ? l.meanTime : null,
    hist: l.hist,
  };
}

/** Final results of a run (the `results` section of `run.yaml`). */
export interface RunResults {
  /** Epochs completed. */
  epochs_run: number;
  /** Training steps taken in all. */
  steps: number;
  /** Epoch (1-based) with the best validation accuracy, or the last one without validation. */
  best_epoch: number;
  /** Validation accuracy at `best_epoch` in [0, 1]; null without a validation split. */
  best_val_acc: number | null;
  /**
   * Test accuracy at `best_epoch` in [0, 1]: of the best epoch's weights,
   * from its record, or scored once at the end when the test set was not
   * scored every epoch (the same number: the same weights and samples).
   */
  test_acc: number;
  /** Spikes per test sample at `best_epoch`, summed over the spiking layers (as `test_acc`). */
  spikes_per_sample: number;
  /** Wall-clock seconds of this invocation, from loading the data. */
  wall_seconds: number;
  /**
   * Why training ended: all epochs done, early stopping, the step limit
   * (`max_steps`), or `--max-epochs` (a cut: the run is recorded as stopped).
   */
  stopped: "epochs" | "early_stopping" | "max_steps" | "max_epochs";
}
