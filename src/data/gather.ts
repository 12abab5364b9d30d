/**
 * The gather kernel (`kernels/gather.wgsl`): a batch of u8 images from the
 * GPU dataset into the model's intensities, without augmentation. Same
 * bindings, parameters and dispatch as the augmentation kernel, and the same
 * result as it gives with no augmentation flag set, but a kernel that a CPU
 * driver compiles at once.
 *
 * @module
 */

import { kernelSource } from "../engine/kernels.ts";
import type { ImageShape } from "./augment.ts";

const pipelines = new WeakMap<GPUDevice, Map<number, Promise<GPUComputePipeline>>>();

/** The gather pipeline for images of `shape` (made once per device and image size). */
export function createGatherPipeline(
  device: GPUDevice,
  shape: ImageShape,
): Promise<GPUComputePipeline> {
  const n = shape[0] * shape[1] * shape[2];
  if (!(Number.isInteger(n) && n > 0)) {
    throw new Error(
      `createGatherPipeline: expected a shape [C, H, W] of positive integers, got ${
        JSON.stringify(shape)
      }`,
    );
  }
  let cache = pipelines.get(device);
  if (!cache) pipelines.set(device, cache = new Map());
  let pipeline = cache.get(n);
  if (!pipeline) {
    pipeline = (async () => {
      device.pushErrorScope("validation");
      const code = kernelSource("gather.wgsl") + "\n" + kernelSource("_bytes.wgsl");
      const module = device.createShaderModule({ code, label: "gather.wgsl" });
      const result = device.createComputePipeline({
        label: "gather",
        layout: "auto",
        compute: { module, entryPoint: "main", constants: { N: n } },
      });
      const error = await device.popErrorScope();
      if (error) throw new Error(`Cannot build 'kernels/gather.wgsl': ${error.message}`);
      return result;
    })();
    pipeline.catch(() => cache.delete(n));
    cache.set(n, pipeline);
  }
  return pipeline;
}
