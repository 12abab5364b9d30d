/**
 * Layer 2, benchmark arithmetic: FLOPs and bytes of a network's training step
 * and inference, from its plan (`flops.ts`). `tasks/bench.ts` times them.
 *
 * May import: `engine/`, `util/`.
 *
 * @module
 */

export * from "./flops.ts";
