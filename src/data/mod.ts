/**
 * Layer 2, data: dataset readers (IDX, CIFAR binaries, tar) and lookup with
 * verified downloads (`datasets.ts`, `info.ts`), data augmentation on the GPU
 * with its CPU reference (`augment.ts`), and datasets resident on the GPU
 * that gather, augment and encode batches inside a training step
 * (`data_gpu.ts`), a cache of datasets read and uploaded once per process
 * (`dataset_cache.ts`), and generated images for demos and tests (`blobs.ts`).
 *
 * May import: `engine/`, `util/`.
 *
 * @module
 */

export * from "./augment.ts";
export * from "./blobs.ts";
export * from "./cifar.ts";
export * from "./data_gpu.ts";
export * from "./dataset_cache.ts";
export * from "./datasets.ts";
export * from "./idx.ts";
export * from "./info.ts";
export * from "./tar.ts";
