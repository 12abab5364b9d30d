/**
 * GPU data augmentation for the training loop: random crop (padding 4, fill 128), horizontal
 * flip, torchvision's AutoAugment CIFAR-10 policy and Cutout (one 16 x 16 hole), applied per
 * sample by `kernels/augment.wgsl` to a batch gathered from a u8 dataset that lives on the GPU.
 * The exact definitions of every op are in the kernel's header.
 *
 * One concern per file: the kernel's vocabulary (flags, parameters, the op table) and each
 * op's CPU definition (`augment_ops.ts`), the random draws, the parameters' packing and the CPU
 * reference of the whole kernel (`augment_reference.ts`), and the kernel's pipeline and dispatch
 * (`augment_gpu.ts`); their argument checks are `_augment_checks.ts`.
 *
 * @module
 */

export * from "./augment_ops.ts";
export * from "./augment_reference.ts";
export * from "./augment_gpu.ts";
