/**
 * What `deno task bench` times: the issue's training shapes with their
 * anchors (ms per step of the reference and of the peers), small variants of
 * them for a CPU with a software driver, the targets, and how each shape gets
 * trained weights (its activity on real data).
 *
 * @module
 */

/** Timings from the performance issue on an H200 (ms per training step). */
export interface Anchor {
  /** Reference T2FSNN, PyTorch with cuDNN. */
  reference_ms: number;
  /** Same-shape ReLU ANN, PyTorch fp32. */
  pytorch_ann_ms: number;
  /** Same-shape ReLU ANN, TensorFlow.js WebGPU in Deno. */
  tfjs_ms: number;
}

/**
 * How a shape gets trained weights for `--activity trained`: Adam on
 * Fashion-MNIST (placed in the shape's input: padded to its size, repeated
 * over its channels), `samples` training images for `epochs` epochs at
 * `batch`. Random inputs do not fire like a trained network; these do.
 */
export interface TrainRecipe {
  /** Training images (the first of the training split, in a seeded order). */
  samples: number;
  epochs: number;
  batch: number;
  lr: number;
  /** Adam's weight decay (the model's default when absent). */
  weightDecay?: number;
  /** Multiplies the learning rate after every epoch (1 when absent). */
  annealing?: number;
}

/** One benchmarked training shape. */
export interface BenchShape {
  /** Name for `--only`. */
  name: string;
  arch: string;
  input: number[];
  classes: number;
  batch: number;
  /** Normalise the input by Fashion-MNIST's mean and std (the quick start's encoding). */
  normalize?: boolean;
  /** The issue's H200 timings; only for the full shapes. */
  anchor: Anchor | null;
  /**
   * The reference (PyTorch on the CPU, 2 threads, the same TTFS network and
   * batch) on the issue's 2-core machine, ms per step; the target on a CPU
   * driver. Null where the issue has none.
   */
  cpu_reference_ms: number | null;
  /** How to get its trained weights. */
  train: TrainRecipe;
}

const VGG7_QUICK = "8C3-16C3-P2-32C3-32C3-P2-64C3-64C3-P2";
const VGG11_QUICK = "16C3-16C3-16C3-P2-32C3-32C3-32C3-P2-64C3-64C3-64C3-64C3-P2";

/** The issue's recipe for trained activity: two epochs on 4,000 Fashion-MNIST images. */
export const ISSUE_RECIPE: TrainRecipe = { samples: 4000, epochs: 2, batch: 32, lr: 1e-3 };

/** The quick start's settings (experiments/quickstart.yaml), one epoch. */
export const QUICKSTART_RECIPE: TrainRecipe = {
  samples: 54000,
  epochs: 1,
  batch: 256,
  lr: 3e-3,
  weightDecay: 0,
};

/** The issue's four shapes with their anchors. */
export const FULL_SHAPES: readonly BenchShape[] = [
  {
    name: "mnist-cnn",
    arch: "32C5-P2-64C5-P2",
    input: [1, 28, 28],
    classes: 10,
    batch: 256,
    anchor: { reference_ms: 4.95, pytorch_ann_ms: 1.98, tfjs_ms: 91.6 },
    cpu_reference_ms: null,
    train: ISSUE_RECIPE,
  },
  {
    name: "vgg7-b256",
    arch: "vgg7",
    input: [3, 32, 32],
    classes: 10,
    batch: 256,
    anchor: { reference_ms: 17.66, pytorch_ann_ms: 6.3, tfjs_ms: 524.8 },
    cpu_reference_ms: null,
    train: ISSUE_RECIPE,
  },
  {
    name: "vgg7-b32",
    arch: "vgg7",
    input: [3, 32, 32],
    classes: 10,
    batch: 32,
    anchor: { reference_ms: 11.51, pytorch_ann_ms: 3.08, tfjs_ms: 72.4 },
    cpu_reference_ms: null,
    train: ISSUE_RECIPE,
  },
  {
    name: "vgg11-b256",
    arch: "vgg11",
    input: [3, 32, 32],
    classes: 10,
    batch: 256,
    anchor: { reference_ms: 33.27, pytorch_ann_ms: 11.41, tfjs_ms: 961.2 },
    cpu_reference_ms: null,
    train: ISSUE_RECIPE,
  },
];

/**
 * The same names on small variants (channels / 8, batch / 32) for a CPU
 * driver, the MNIST CNN at full width and batch 32, and the quick start's
 * network (P2-32C3-P2 at batch 256, normalised input); the last three carry
 * the reference's CPU times from the issue.
 */
export const QUICK_SHAPES: readonly BenchShape[] = [
  {
    name: "mnist-cnn",
    arch: "4C5-P2-8C5-P2",
    input: [1, 28, 28],
    classes: 10,
    batch: 8,
    anchor: null,
    cpu_reference_ms: 4.3,
    train: ISSUE_RECIPE,
  },
  {
    name: "mnist-cnn-b32",
    arch: "32C5-P2-64C5-P2",
    input: [1, 28, 28],
    classes: 10,
    batch: 32,
    anchor: null,
    cpu_reference_ms: 98,
    train: ISSUE_RECIPE,
  },
  {
    name: "vgg7-b256",
    arch: VGG7_QUICK,
    input: [3, 32, 32],
    classes: 10,
    batch: 8,
    anchor: null,
    cpu_reference_ms: 37.6,
    train: ISSUE_RECIPE,
  },
  {
    name: "vgg7-b32",
    arch: VGG7_QUICK,
    input: [3, 32, 32],
    classes: 10,
    batch: 1,
    anchor: null,
    cpu_reference_ms: null,
    train: ISSUE_RECIPE,
  },
  {
    name: "vgg11-b256",
    arch: VGG11_QUICK,
    input: [3, 32, 32],
    classes: 10,
    batch: 8,
    anchor: null,
    cpu_reference_ms: null,
    train: ISSUE_RECIPE,
  },
  {
    name: "quickstart",
    arch: "P2-32C3-P2",
    input: [1, 28, 28],
    classes: 10,
    batch: 256,
    normalize: true,
    anchor: null,
    // The reference's steady quick-start epoch, 7.7 s for 211 steps (with its evaluation).
    cpu_reference_ms: 32.6,
    train: QUICKSTART_RECIPE,
  },
];

/** Name of the end-to-end epoch entry (for `--only`). */
export const EPOCH_NAME = "fmnist-epoch";
/** Where Debian's `dataset-fashion-mnist` installs the files. */
export const FMNIST_DIR = "/usr/share/datasets/fashion-mnist";
/** Targets of the issue (full shapes, H200). */
export const TARGETS = { vgg7_b256_ms: 35, speedup_vs_tfjs: 15, fmnist_epoch_s: 5 } as const;
/** The reference's steady quick-start epoch on the issue's 2-core machine, seconds (the target there). */
export const QUICKSTART_REFERENCE_EPOCH_S = 7.7;
