/**
 * Layer 3, runs: the training loop of one experiment point (`train.ts`), its
 * checkpoints and exact resume (`checkpoint.ts`), the learning rate of each
 * step (`lr_schedule.ts`), the one-writer lock of a
 * run folder (`run_lock.ts`), what a run records (`records.ts`) and where it
 * ran (`provenance.ts`), what it adds to its weights file (`weights_meta.ts`),
 * and evaluating saved weights on a split (`evaluate.ts`).
 *
 * May import: `data/`, `experiment/`, `engine/`, `util/`.
 *
 * @module
 */

export * from "./checkpoint.ts";
export * from "./evaluate.ts";
export * from "./lr_schedule.ts";
export * from "./provenance.ts";
export * from "./records.ts";
export * from "./run_lock.ts";
export * from "./train.ts";
export * from "./weights_meta.ts";
