/**
 * The augmentation kernel (`kernels/augment.wgsl`) on the GPU: its source, its
 * pipeline (one per capacity, cached per device) with the constants and the
 * shape uniform it takes, its dispatch size, and a standalone run for tests
 * and tools ({@link runAugmentGpu}). The training loop records its dispatches
 * through `data_gpu.ts`.
 *
 * @module
 */

import { kernelSource } from "../engine/kernels.ts";
import type { AugmentOptions, AugmentParams, ImageShape } from "./augment_ops.ts";
import { checkBatch, checkForce, checkShape, checkU32 } from "./_augment_checks.ts";
import { packAugmentParams } from "./augment_reference.ts";

/** Workgroup size of the kernel (one workgroup per sample). */
export const AUGMENT_WORKGROUP_SIZE = 256;

/** The kernel source, `kernels/augment.wgsl` with `_bytes.wgsl`, from the engine's one WGSL loader. */
export function augmentWgsl(): Promise<string> {
  return Promise.resolve(kernelSource("augment.wgsl") + "\n" + kernelSource("_bytes.wgsl"));
}

/**
 * Pipeline-overridable constants of the kernel for `shape`: its capacity,
 * not the shape. The shape is a uniform ({@link augmentDims}), so one
 * pipeline serves every image of up to 256 words (1 KiB: MNIST's 28 x 28)
 * and one every image of up to 1024 words (CIFAR's 3 x 32 x 32), with up to
 * 3 channels; larger images get their own size. A forced op
 * ({@link AugmentOptions}) is a parameter too ({@link packAugmentParams}).
 *
 * @example
 * ```ts
 * import { augmentOverrides } from "./augment_gpu.ts";
 * const mnist = augmentOverrides([1, 28, 28]), cifar = augmentOverrides([3, 32, 32]);
 * if (mnist.CAP_WORDS !== 256 || cifar.CAP_WORDS !== 1024 || cifar.CAP_C !== 3) throw new Error();
 * if (JSON.stringify(augmentOverrides([2, 9, 11])) !== JSON.stringify(mnist)) throw new Error();
 * ```
 */
export function augmentOverrides(shape: ImageShape): Record<string, number> {
  const n = checkShape(shape, "augmentOverrides");
  const words = Math.ceil(n / 4);
  return {
    CAP_WORDS: words <= 256 ? 256 : words <= 1024 ? 1024 : words,
    CAP_C: Math.max(3, shape[0]),
  };
}

/** The kernel's `dims` uniform for `shape`: C, H, W and a zero (16 bytes). */
export function augmentDims(shape: ImageShape): Uint32Array {
  checkShape(shape, "augmentDims");
  return Uint32Array.from([shape[0], shape[1], shape[2], 0]);
}

/** Workgroup memory the kernel built for `shape` uses (its capacity), in bytes. */
export function augmentWorkgroupBytes(shape: ImageShape): number {
  const { CAP_WORDS, CAP_C } = augmentOverrides(shape);
  return 4 * (2 * CAP_WORDS + 256 + 256 + 256 * CAP_C + 3);
}

/**
 * Workgroup counts to dispatch for a batch (one workgroup per sample, x at most 65535).
 *
 * @example
 * ```ts
 * import { augmentDispatchSize } from "./augment_gpu.ts";
 * if (augmentDispatchSize(70000).join() !== "65535,2") throw new Error();
 * ```
 */
export function augmentDispatchSize(batch: number): [number, number] {
  const x = Math.min(batch, 65535);
  return [x, x === 0 ? 0 : Math.ceil(batch / x)];
}

const pipelines = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline>>>();

/**
 * Creates (and caches per device) the compute pipeline for `shape`. Bind group 0: images
 * (read-only storage), indices (read-only storage), out (storage), params (uniform).
 */
export function createAugmentPipeline(
  device: GPUDevice,
  shape: ImageShape,
): Promise<GPUComputePipeline> {
  const constants = augmentOverrides(shape);
  const need = augmentWorkgroupBytes(shape);
  const limit = device.limits.maxComputeWorkgroupStorageSize;
  if (need > limit) {
    throw new Error(
      `createAugmentPipeline: shape ${JSON.stringify(shape)} needs ${need} bytes of workgroup ` +
        `memory, the device allows ${limit}`,
    );
  }
  let cache = pipelines.get(device);
  if (!cache) pipelines.set(device, cache = new Map());
  const key = JSON.stringify(constants);
  let pipeline = cache.get(key);
  if (!pipeline) {
    pipeline = (async () => {
      const code = await augmentWgsl();
      device.pushErrorScope("validation");
      const module = device.createShaderModule({ code, label: "augment.wgsl" });
      const result = device.createComputePipeline({
        label: "augment",
        layout: "auto",
        compute: { module, entryPoint: "main", constants },
      });
      const error = await device.popErrorScope();
      if (error) throw new Error(`Cannot build 'kernels/augment.wgsl': ${error.message}`);
      return result;
    })();
    pipeline.catch(() => cache.delete(key));
    cache.set(key, pipeline);
  }
  return pipeline;
}

/**
 * Standalone GPU run (tests, tools): uploads images and indices, poisons the output with NaN,
 * dispatches the kernel once and reads back the [batch, C, H, W] float32 output.
 */
export async function runAugmentGpu(
  device: GPUDevice,
  images: Uint8Array,
  shape: ImageShape,
  indices: Uint32Array,
  params: AugmentParams,
  options?: AugmentOptions,
): Promise<Float32Array> {
  const what = "runAugmentGpu";
  const n = checkShape(shape, what);
  checkU32(params, what);
  checkForce(options, what);
  checkBatch(images, n, indices, params, what);
  if (params.batch === 0) return new Float32Array(0);
  const pipeline = await createAugmentPipeline(device, shape);
  const U = GPUBufferUsage;
  const upload = (data: Uint8Array, usage: number) => {
    const buffer = device.createBuffer({
      size: Math.max(4, Math.ceil(data.byteLength / 4) * 4),
      usage,
      mappedAtCreation: true,
    });
    new Uint8Array(buffer.getMappedRange()).set(data);
    buffer.unmap();
    return buffer;
  };
  const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const outBytes = params.batch * n * 4;
  const imageBuf = upload(images, U.STORAGE);
  const indexBuf = upload(bytes(indices), U.STORAGE);
  const paramBuf = upload(bytes(packAugmentParams(params, options)), U.UNIFORM);
  const dimsBuf = upload(bytes(augmentDims(shape)), U.UNIFORM);
  const outBuf = upload(
    bytes(new Float32Array(params.batch * n).fill(NaN)),
    U.STORAGE | U.COPY_SRC,
  );
  const readBuf = device.createBuffer({ size: outBytes, usage: U.MAP_READ | U.COPY_DST });
  try {
    device.pushErrorScope("validation");
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: imageBuf } },
        { binding: 1, resource: { buffer: indexBuf } },
        { binding: 2, resource: { buffer: outBuf } },
        { binding: 3, resource: { buffer: paramBuf } },
        { binding: 4, resource: { buffer: dimsBuf } },
      ],
    });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(...augmentDispatchSize(params.batch));
    pass.end();
    encoder.copyBufferToBuffer(outBuf, 0, readBuf, 0, outBytes);
    device.queue.submit([encoder.finish()]);
    const error = await device.popErrorScope();
    if (error) throw new Error(`${what}: dispatch failed: ${error.message}`);
    await readBuf.mapAsync(GPUMapMode.READ);
    const result = new Float32Array(readBuf.getMappedRange().slice(0));
    readBuf.unmap();
    return result;
  } finally {
    for (const b of [imageBuf, indexBuf, paramBuf, dimsBuf, outBuf, readBuf]) b.destroy();
  }
}
