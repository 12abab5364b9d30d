/**
 * Layer 4, the benchmark: what `deno task bench` runs (`suite.ts`), shape by
 * shape (`shape_bench.ts`: dense and event-driven, interleaved) on trained
 * activity (`activity.ts`), with the shapes and targets (`shapes.ts`), the
 * timing method (`timing.ts`), the end-to-end epochs (`epoch.ts`), the
 * tables (`table.ts`) and a per-dispatch profiler (`profile.ts`); FLOPs and
 * bytes of a step from its plan (`flops.ts`); the same-shape TensorFlow.js
 * peer, its layers and ratios (`peer.ts`), loaded on demand and timed
 * (`peer_tfjs.ts`). `tasks/bench.ts` is its command line.
 *
 * May import: `engine/`, `data/`, `experiment/`, `run/`, `util/`.
 *
 * @module
 */

export * from "./activity.ts";
export * from "./epoch.ts";
export * from "./flops.ts";
export * from "./peer.ts";
export * from "./peer_tfjs.ts";
export * from "./profile.ts";
export * from "./shape_bench.ts";
export * from "./shapes.ts";
export * from "./suite.ts";
export * from "./table.ts";
export * from "./timing.ts";
