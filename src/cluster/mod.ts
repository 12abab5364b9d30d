/**
 * Layer 4, cluster: grids on Slurm: array scripts with one task per
 * unfinished point, submission, a task's identity and log, and requeueing
 * after a time-limit signal (`slurm.ts`).
 *
 * May import: `run/`, `experiment/`, `data/`, `engine/`, `util/`.
 *
 * @module
 */

export * from "./slurm.ts";
