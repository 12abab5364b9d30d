/**
 * Static facts about the supported datasets: shapes, class counts,
 * normalisation constants, file layouts and download sources.
 *
 * @module
 */

/** Supported dataset names. */
export type DatasetName = "mnist" | "fmnist" | "cifar10" | "cifar100";
/** Dataset splits. */
export type Split = "train" | "test";

/** All dataset names, in a fixed order. */
export const DATASET_NAMES: readonly DatasetName[] = ["mnist", "fmnist", "cifar10", "cifar100"];

/** Shape, classes, per-channel normalisation and split sizes of a dataset. */
export interface DatasetInfo {
  /** Human-readable name, e.g. "Fashion-MNIST". */
  title: string;
  /** [channels, height, width]. */
  shape: [number, number, number];
  /** Number of classes. */
  classes: number;
  /** Per-channel mean of pixel / 255. */
  mean: number[];
  /** Per-channel standard deviation of pixel / 255. */
  std: number[];
  /** Samples in the train split. */
  trainCount: number;
  /** Samples in the test split. */
  testCount: number;
  /** Name of each class, by label (`classNames[3]` is label 3), as the dataset's authors give them. */
  classNames: string[];
}

/**
 * Class names by label, as the datasets' authors publish them: MNIST's digits;
 * Fashion-MNIST's ten article names (the README of zalandoresearch/fashion-mnist);
 * CIFAR-10's `batches.meta.txt` and CIFAR-100's `fine_label_names.txt` (the 100
 * fine labels, in alphabetical order) from the binary archives.
 */
const CLASS_NAMES: Readonly<Record<DatasetName, readonly string[]>> = {
  mnist: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
  fmnist: [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
  ],
  cifar10: [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
  ],
  cifar100: (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus " +
    "butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch " +
    "crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo " +
    "keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse " +
    "mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy " +
    "porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper " +
    "snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television " +
    "tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm"
  ).split(" "),
};

// Normalisation constants: the values the reference (T2FSNN, app/run.py) passes
// to torchvision's Normalize, which are the usual published ones for MNIST
// (0.1307, 0.3081) and Fashion-MNIST (0.2860, 0.3530; the test suite recomputes
// these from the real files). For CIFAR the reference uses the widespread
// CIFAR-10 constants (0.4914, 0.4822, 0.4465) / (0.2023, 0.1994, 0.2010) for
// both CIFAR-10 and CIFAR-100; we keep them so `normalize` matches the
// reference. (The exact per-pixel statistics differ: CIFAR-10 std is about
// (0.2470, 0.2435, 0.2616); CIFAR-100 mean (0.5071, 0.4865, 0.4409), std
// (0.2673, 0.2564, 0.2762).)
const INFO: Readonly<Record<DatasetName, Omit<DatasetInfo, "classNames">>> = {
  mnist: {
    title: "MNIST",
    shape: [1, 28, 28],
    classes: 10,
    mean: [0.1307],
    std: [0.3081],
    trainCount: 60000,
    testCount: 10000,
  },
  fmnist: {
    title: "Fashion-MNIST",
    shape: [1, 28, 28],
    classes: 10,
    mean: [0.2860],
    std: [0.3530],
    trainCount: 60000,
    testCount: 10000,
  },
  cifar10: {
    title: "CIFAR-10",
    shape: [3, 32, 32],
    classes: 10,
    mean: [0.4914, 0.4822, 0.4465],
    std: [0.2023, 0.1994, 0.2010],
    trainCount: 50000,
    testCount: 10000,
  },
  cifar100: {
    title: "CIFAR-100",
    shape: [3, 32, 32],
    classes: 100,
    mean: [0.4914, 0.4822, 0.4465],
    std: [0.2023, 0.1994, 0.2010],
    trainCount: 50000,
    testCount: 10000,
  },
};

/** Throws a clear error for an unknown dataset name. */
export function checkDatasetName(name: string): DatasetName {
  if (!(DATASET_NAMES as readonly string[]).includes(name)) {
    throw new Error(
      `Unknown dataset '${name}': expected one of ${DATASET_NAMES.join(", ")}`,
    );
  }
  return name as DatasetName;
}

/**
 * Facts about a dataset: input shape, classes, per-channel mean/std (in
 * [0, 1] units; the constants the reference normalises with) and split sizes.
 * Returns a fresh copy.
 *
 * @example
 * ```ts
 * import { datasetInfo } from "./info.ts";
 * const i = datasetInfo("cifar10");
 * if (i.shape[0] !== 3 || i.mean.length !== 3 || i.trainCount !== 50000) throw new Error();
 * if (i.classNames[3] !== "cat" || datasetInfo("fmnist").classNames[9] !== "Ankle boot") {
 *   throw new Error();
 * }
 * ```
 */
export function datasetInfo(name: DatasetName): DatasetInfo {
  const i = INFO[checkDatasetName(name)];
  return {
    ...i,
    shape: [...i.shape] as [number, number, number],
    mean: [...i.mean],
    std: [...i.std],
    classNames: [...CLASS_NAMES[name]],
  };
}

/** Where a dataset's files sit inside a folder. */
export type DatasetLayout =
  | { kind: "idx"; images: string; labels: string }
  | { kind: "cifar"; inner: string; files: string[]; allFiles: string[] };

/** The file names of one split (IDX names without `.gz`; both forms are accepted). */
export function datasetLayout(name: DatasetName, split: Split): DatasetLayout {
  const prefix = split === "train" ? "train" : "t10k";
  switch (name) {
    case "mnist":
    case "fmnist":
      return {
        kind: "idx",
        images: `${prefix}-images-idx3-ubyte`,
        labels: `${prefix}-labels-idx1-ubyte`,
      };
    case "cifar10": {
      const train = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
      return {
        kind: "cifar",
        inner: "cifar-10-batches-bin",
        files: split === "train" ? train : ["test_batch.bin"],
        allFiles: [...train, "test_batch.bin"],
      };
    }
    case "cifar100":
      return {
        kind: "cifar",
        inner: "cifar-100-binary",
        files: [split === "train" ? "train.bin" : "test.bin"],
        allFiles: ["train.bin", "test.bin"],
      };
  }
}

/** Subfolder names under which a dataset may sit in a data folder. */
export const DATASET_ALIASES: Readonly<Record<DatasetName, readonly string[]>> = {
  mnist: ["mnist", "MNIST/raw"],
  fmnist: ["fmnist", "fashion-mnist", "fashion_mnist", "FashionMNIST/raw"],
  cifar10: ["cifar10", "cifar-10"],
  cifar100: ["cifar100", "cifar-100"],
};

/**
 * Folders where distributions install the datasets. Debian's
 * `dataset-fashion-mnist` package installs the four `*-ubyte.gz` files in
 * `/usr/share/datasets/fashion-mnist`. Debian has no MNIST or CIFAR package;
 * the analogous paths are checked in case an administrator put copies there.
 */
export const SYSTEM_DIRS: Readonly<Record<DatasetName, readonly string[]>> = {
  mnist: ["/usr/share/datasets/mnist"],
  fmnist: ["/usr/share/datasets/fashion-mnist"],
  cifar10: ["/usr/share/datasets/cifar-10"],
  cifar100: ["/usr/share/datasets/cifar-100"],
};

/** How to download a dataset and check what came. */
export type DownloadSource =
  | {
    /** Separate files, each `mirror + name`, checked against `md5[name]`. */
    kind: "files";
    mirrors: string[];
    md5: Record<string, string>;
  }
  | {
    /** One .tar.gz archive holding `<inner>/<file>` for every file of both splits. */
    kind: "archive";
    urls: string[];
    md5: string;
  };

/**
 * Canonical download locations and their published MD5 checksums.
 *
 * - MNIST and Fashion-MNIST: mirrors and MD5s as torchvision lists them in
 *   `torchvision/datasets/mnist.py` (classes `MNIST` and `FashionMNIST`,
 *   attributes `mirrors` and `resources`), github.com/pytorch/vision.
 *   The S3 mirror comes first for MNIST because yann.lecun.com often refuses
 *   downloads.
 * - CIFAR: torchvision only lists the Python-pickle archives, so the binary
 *   archives' MD5s come from the dataset authors' page,
 *   https://www.cs.toronto.edu/~kriz/cifar.html (the "md5sum" column of the
 *   version tables: "CIFAR-10 binary version" and "CIFAR-100 binary version").
 */
export const DOWNLOAD_SOURCES: Readonly<Record<DatasetName, DownloadSource>> = {
  mnist: {
    kind: "files",
    mirrors: [
      "https://ossci-datasets.s3.amazonaws.com/mnist/",
      "http://yann.lecun.com/exdb/mnist/",
    ],
    md5: {
      "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
      "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
      "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
      "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
  },
  fmnist: {
    kind: "files",
    mirrors: ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
    md5: {
      "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
      "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
      "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
      "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
  },
  cifar10: {
    kind: "archive",
    urls: ["https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"],
    md5: "c32a1d4ab5d03f1284b67883e8d87530",
  },
  cifar100: {
    kind: "archive",
    urls: ["https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz"],
    md5: "03b5dce01913d631647c71ecec9e9cb8",
  },
};
