/**
 * Layer 4, searches: sampled spaces instead of enumerated grids, and
 * schedulers that stop poor trials early. The space's coordinates
 * (`space.ts`), the samplers (`samplers.ts`: random, a scrambled Sobol
 * sequence in `sobol.ts`, TPE in `tpe.ts`), the ASHA and Hyperband rules as
 * pure functions of the recorded jobs (`schedule.ts`), the search's state as
 * files with exclusive-create claims (`state.ts`), the searches an
 * experiment runs (`plan.ts`), training a job as a run folder
 * (`trainer.ts`), and the worker loop (`worker.ts`).
 *
 * May import: `run/`, `experiment/`, `util/` (and `data/`, `engine/` below them).
 *
 * @module
 */

export * from "./plan.ts";
export * from "./samplers.ts";
export * from "./schedule.ts";
export * from "./sobol.ts";
export * from "./space.ts";
export * from "./state.ts";
export * from "./tpe.ts";
export * from "./trainer.ts";
export * from "./worker.ts";
export * from "./best.ts";
