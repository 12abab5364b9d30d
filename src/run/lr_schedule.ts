/**
 * Learning-rate schedules: the learning rate of every optimiser step of a
 * run, a pure function of the settings, the steps per epoch and the step's
 * position, so a resumed run applies exactly the rates of an uninterrupted
 * one (nothing about the schedule is kept in a checkpoint).
 *
 * A step's position is `t = epoch * S + i` (`S` steps per epoch, `i` the
 * step in its epoch, both 0-based). With `W` warm-up steps
 * (`round(warmup_epochs * S)`, at least 1 when `warmup_epochs > 0`):
 *
 *     lr(t) = schedule(t) * min(1, (t + 1) / W)
 *
 * - `exponential` (the reference's): `lr * annealing^epoch`, constant within
 *   an epoch;
 * - `step`: `lr * lr_gamma^k`, `k` the milestones `m` with `m <= epoch`
 *   (`lr_milestones: [30]`: epochs 1 to 30 at `lr`, from epoch 31 at
 *   `lr * lr_gamma`), constant within an epoch;
 * - `cosine`: `lr_min + (lr - lr_min) * (1 + cos(pi * p)) / 2` with
 *   `p = clamp((t - W) / (T - W), 0, 1)` over the run's `T = epochs * S`
 *   steps: `lr` at the first step after the warm-up, falling step by step
 *   towards `lr_min`, which it would reach one step after the last.
 *
 * Warm-up and cosine change per step: a warm-up is there for the first
 * updates, and an epoch can hold hundreds of them; a cosine per step ends
 * where it should for any batch size and has no stair at each epoch.
 * `exponential` and `step` stay per epoch, as they are defined (and as the
 * reference anneals). The cosine reads `epochs`, so with it `epochs` is
 * part of a run's trajectory (`fingerprint.ts`); `max_steps` and
 * `--max-epochs` cut a run without moving its cosine.
 *
 * @example
 * ```ts
 * import { learningRate } from "./lr_schedule.ts";
 * import { DEFAULTS } from "../experiment/config.ts";
 * const s = { ...DEFAULTS, lr: 1e-3, lr_schedule: "cosine" as const, epochs: 2 };
 * // 2 epochs of 10 steps: lr at step 0, half-way at step 10, near lr_min (0) at the last.
 * if (learningRate(s, 10, 0, 0) !== 1e-3) throw new Error();
 * if (Math.abs(learningRate(s, 10, 1, 0) - 5e-4) > 1e-18) throw new Error();
 * ```
 *
 * @module
 */

import type { Experiment } from "../experiment/config.ts";

/** The settings a schedule reads. */
export type ScheduleSettings =
  & Pick<
    Experiment,
    "lr" | "annealing" | "lr_schedule" | "warmup_epochs" | "lr_min" | "lr_gamma" | "epochs"
  >
  & { readonly lr_milestones: readonly number[] };

/** Steps of the linear warm-up: `round(warmup_epochs * stepsPerEpoch)`, at least 1 when asked for. */
export function warmupSteps(s: Pick<Experiment, "warmup_epochs">, stepsPerEpoch: number): number {
  return s.warmup_epochs > 0 ? Math.max(1, Math.round(s.warmup_epochs * stepsPerEpoch)) : 0;
}

/**
 * The learning rate of step `stepInEpoch` of epoch `epoch` (both 0-based)
 * of a run with `stepsPerEpoch` steps per epoch (see the module's formulas).
 *
 * @example
 * ```ts
 * import { learningRate } from "./lr_schedule.ts";
 * import { DEFAULTS } from "../experiment/config.ts";
 * const s = { ...DEFAULTS, lr: 0.1, lr_schedule: "step" as const, lr_milestones: [2, 4] };
 * const rates = [0, 1, 2, 3, 4, 5].map((e) => learningRate(s, 100, e, 0));
 * if (rates.join() !== [0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1, 0.1 * 0.1 * 0.1, 0.1 * 0.1 * 0.1].join()) {
 *   throw new Error(rates.join());
 * }
 * ```
 */
export function learningRate(
  s: ScheduleSettings,
  stepsPerEpoch: number,
  epoch: number,
  stepInEpoch: number,
): number {
  const t = epoch * stepsPerEpoch + stepInEpoch;
  const w = warmupSteps(s, stepsPerEpoch);
  let lr: number;
  switch (s.lr_schedule) {
    case "exponential":
      lr = s.lr * Math.pow(s.annealing, epoch);
      break;
    case "step": {
      const k = s.lr_milestones.filter((m) => m <= epoch).length;
      lr = s.lr * Math.pow(s.lr_gamma, k);
      break;
    }
    case "cosine": {
      const total = s.epochs * stepsPerEpoch;
      const p = total > w ? Math.min(1, Math.max(0, (t - w) / (total - w))) : 1;
      lr = s.lr_min + (s.lr - s.lr_min) * (1 + Math.cos(Math.PI * p)) / 2;
      break;
    }
    default:
      throw new Error(
        `Cannot compute a learning rate: lr_schedule expected exponential, cosine or step, ` +
          `got ${JSON.stringify((s as { lr_schedule: unknown }).lr_schedule)}`,
      );
  }
  return t < w ? lr * ((t + 1) / w) : lr;
}
