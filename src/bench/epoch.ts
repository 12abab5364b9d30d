/**
 * The benchmark's end-to-end epochs: an experiment run through `runPoint`
 * as a user runs it (data on the GPU, training steps, validation and test
 * evaluation every epoch), two epochs, the second one (steady: no first-use
 * costs) being the number that counts. `--quick` runs the quick start
 * (experiments/quickstart.yaml's network and settings, all of Fashion-MNIST),
 * whose steady epoch the reference takes 7.7 s for on the 2-core
 * machine; the full benchmark runs vgg7 (target: at most 5 s on an H200).
 *
 * @module
 */

import { join } from "node:path";
import type { Engine } from "../engine/gpu.ts";
import { parseExperiment } from "../experiment/config.ts";
import { runPoint } from "../run/train.ts";
import { Rng } from "../util/rng.ts";
import { EPOCH_NAME, FMNIST_DIR } from "./shapes.ts";

/** Epochs each end-to-end run trains (the last is the steady one). */
export const EPOCH_RUNS = 2;

/** The end-to-end epoch's result (or why it was skipped). */
export type EpochResult =
  | {
    name: string;
    arch: string;
    batch_size: number;
    train_samples: number | null;
    /** The first epoch, with evaluation (it pays for first uses). */
    epoch_seconds: number;
    /** The last (steady) epoch, with evaluation. */
    steady_epoch_seconds: number;
    wall_seconds: number;
    test_acc: number;
    val_acc: number | null;
    /** True when Fashion-MNIST was absent and random data of its size stood in (timing only). */
    synthetic: boolean;
  }
  | { name: string; skipped: string };

/**
 * The experiment settings of the end-to-end run (YAML, as a user would
 * write them): vgg7 with the reference's defaults, or with `quick` the
 * quick start's network and settings (experiments/quickstart.yaml), for
 * {@link EPOCH_RUNS} epochs.
 */
export function epochYaml(quick: boolean, output: string, dataDir = FMNIST_DIR): string {
  return [
    "dataset: fmnist",
    `data_dir: ${JSON.stringify(dataDir)}`,
    `arch: ${quick ? "P2-32C3-P2" : "vgg7"}`,
    "batch_size: 256",
    `epochs: ${EPOCH_RUNS}`,
    "seed: 0",
    ...(quick ? ["lr: 3.0e-3", "weight_decay: 0", "annealing: 0.5", "normalize: true"] : []),
    `output: ${JSON.stringify(output)}`,
    "",
  ].join("\n");
}

/**
 * Random IDX files of Fashion-MNIST's sizes and mean pixel (60,000 + 10,000
 * images of 28 x 28), for timing the epoch where the real files are absent
 * (the lent GPU machine has no package registry).
 */
export async function writeSyntheticFmnist(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const rng = new Rng(7);
  for (const [prefix, count] of [["train", 60000], ["t10k", 10000]] as const) {
    const images = new Uint8Array(16 + count * 784);
    new DataView(images.buffer).setUint32(0, 2051);
    [count, 28, 28].forEach((d, i) => new DataView(images.buffer).setUint32(4 + 4 * i, d));
    for (let i = 16; i < images.length; i++) {
      const u = rng.nextU32();
      images[i] = (u & 0xffff) < 0.57 * 65536 ? u >>> 24 : 0; // mean about 0.285
    }
    const labels = new Uint8Array(8 + count);
    new DataView(labels.buffer).setUint32(0, 2049);
    new DataView(labels.buffer).setUint32(4, count);
    for (let i = 8; i < labels.length; i++) labels[i] = rng.int(10);
    await Deno.writeFile(join(dir, `${prefix}-images-idx3-ubyte`), images);
    await Deno.writeFile(join(dir, `${prefix}-labels-idx1-ubyte`), labels);
  }
}

/**
 * The end-to-end run through `runPoint` on Fashion-MNIST from `dataDir` (on
 * random data of its size when absent).
 */
export async function benchEpoch(
  engine: Engine,
  quick: boolean,
  log: (l: string) => void,
  dataDir = FMNIST_DIR,
): Promise<EpochResult> {
  const st = await Deno.stat(dataDir).catch(() => null);
  const synthetic = !st?.isDirectory;
  const tmp = await Deno.makeTempDir({ prefix: "firstspike-bench-" });
  try {
    let dir = dataDir;
    if (synthetic) {
      log(
        `  no Fashion-MNIST in ${dataDir}: timing on random data of its size (accuracy meaningless)`,
      );
      dir = join(tmp, "synthetic-fmnist");
      await writeSyntheticFmnist(dir);
    }
    const settings = parseExperiment(epochYaml(quick, tmp, dir), "bench").base;
    const runDir = join(tmp, EPOCH_NAME);
    const results = await runPoint({
      settings,
      id: EPOCH_NAME,
      point: {},
      dir: runDir,
      engine,
      log: (l) => log(`  ${l}`),
    });
    const records = (await Deno.readTextFile(join(runDir, "metrics.jsonl"))).trim().split("\n")
      .map((l) => JSON.parse(l) as { seconds: number; test_acc: number; val_acc: number | null });
    const last = records[records.length - 1];
    engine.check();
    return {
      name: EPOCH_NAME,
      arch: settings.arch,
      batch_size: settings.batch_size,
      train_samples: settings.train_subset,
      epoch_seconds: records[0].seconds,
      steady_epoch_seconds: last.seconds,
      wall_seconds: results.wall_seconds,
      test_acc: last.test_acc,
      val_acc: last.val_acc,
      synthetic,
    };
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}
