/**
 * Layer 1, the engine: what a library user imports to build and train a
 * network on WebGPU. The device and its programs (`gpu.ts`), the one WGSL
 * loader (`kernels.ts`), the per-layer programs and tiles (`layers.ts`), the
 * architecture parser (`spec.ts`), the model (`model.ts` with its options,
 * network builder, step encoder, parameter layout and metrics), and weights
 * I/O (`safetensors.ts`, `weights.ts`).
 *
 * May import: `util/`. It knows nothing of datasets, experiments, runs,
 * clusters or reports.
 *
 * @module
 */

export * from "./gpu.ts";
export * from "./gpu_select.ts";
export * from "./kernels.ts";
export * from "./layers.ts";
export * from "./metrics.ts";
export * from "./model.ts";
export * from "./model_options.ts";
export * from "./param_layout.ts";
export * from "./safetensors.ts";
export * from "./spec.ts";
export * from "./weights.ts";
