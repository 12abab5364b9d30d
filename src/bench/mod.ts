/**
 * Layer 2, benchmark arithmetic: FLOPs and bytes of a network's training step
 * and inference, from its plan (`flops.ts`); the same-shape TensorFlow.js
 * peer, its layers and ratios (`peer.ts`), loaded on demand and timed
 * (`peer_tfjs.ts`). `tasks/bench.ts` times them.
 *
 * May import: `engine/`, `util/`.
 *
 * @module
 */

export * from "./flops.ts";
export * from "./peer.ts";
export * from "./peer_tfjs.ts";
