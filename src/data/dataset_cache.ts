/**
 * What the points of one process share: each dataset split read once from
 * its files, and its samples uploaded to a GPU once while runs keep asking
 * for the same samples (the points of a grid that vary `lr` or `seed` use
 * every sample; with `train_subset` the seed picks them, so they may differ).
 *
 * @example
 * ```ts
 * import { DatasetCache } from "./dataset_cache.ts";
 * import type { Dataset } from "./datasets.ts";
 * let reads = 0;
 * const cache = new DatasetCache(async (name, split) => {
 *   reads++;
 *   const images = new Uint8Array(4);
 *   return { name, split, images, labels: new Uint8Array(1), count: 1, shape: [1, 2, 2], classes: 2, files: [] } as Dataset;
 * });
 * const a = await cache.load("mnist", "test", {});
 * const b = await cache.load("mnist", "test", {});
 * const before = cache.loads;
 * await cache.load("mnist", "test", { dir: "/elsewhere" }); // another folder: read again
 * if (a !== b || before !== 1 || cache.loads !== 2 || reads !== 2) throw new Error();
 * ```
 *
 * @module
 */

import type { Engine } from "../engine/gpu.ts";
import { type Dataset, loadDataset, type LoadDatasetOptions } from "./datasets.ts";
import type { DatasetName, Split } from "./info.ts";

/** A dataset's samples on the GPU: image bytes and u32 labels of the `used` samples, in order. */
export interface SampleBuffers {
  /** The images, `used.length * C * H * W` bytes. */
  images: GPUBuffer;
  /** The labels, `used.length` u32. */
  labels: GPUBuffer;
}

interface Upload extends SampleBuffers {
  engine: Engine;
  dataset: Dataset;
  used: Uint32Array;
  users: number;
}

function sameIndices(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Datasets read once per (dataset, split, folder), and their uploads to a
 * GPU kept for the next run that uses the same samples on the same engine.
 * An upload nobody uses is freed when another set of samples of the same
 * split is uploaded, or by {@link DatasetCache.forget} and
 * {@link DatasetCache.destroy}.
 */
export class DatasetCache {
  readonly #read: typeof loadDataset;
  readonly #sets = new Map<string, Promise<Dataset>>();
  #uploads: Upload[] = [];
  #loads = 0;
  #uploadCount = 0;

  /** `read` reads a split from its files (default {@link loadDataset}). */
  constructor(read: typeof loadDataset = loadDataset) {
    this.#read = read;
  }

  /** Splits read from files so far. */
  get loads(): number {
    return this.#loads;
  }

  /** Sets of samples uploaded to a GPU so far. */
  get uploads(): number {
    return this.#uploadCount;
  }

  /**
   * A dataset split, read on the first request for its name, split and
   * `dir` (`log` hears about that read only); a read that fails is not kept.
   */
  load(name: DatasetName, split: Split, opts: LoadDatasetOptions): Promise<Dataset> {
    const key = JSON.stringify([name, split, opts.dir ?? null]);
    let p = this.#sets.get(key);
    if (!p) {
      this.#loads++;
      p = this.#read(name, split, opts);
      this.#sets.set(key, p);
      p.catch(() => this.#sets.delete(key));
    }
    return p;
  }

  /**
   * The GPU buffers of `dataset`'s samples `used` on `engine`: the ones
   * uploaded before when the same samples are there, else `make()`'s. Call
   * the returned `release` when done with them (they stay for the next run).
   */
  upload(
    engine: Engine,
    dataset: Dataset,
    used: Uint32Array,
    make: () => SampleBuffers,
  ): SampleBuffers & { release(): void } {
    let u = this.#uploads.find((x) =>
      x.engine === engine && x.dataset === dataset && sameIndices(x.used, used)
    );
    if (!u) {
      // Other samples of the split that nobody uses are not kept.
      this.#drop((x) => x.engine === engine && x.dataset === dataset && x.users === 0);
      u = { ...make(), engine, dataset, used: used.slice(), users: 0 };
      this.#uploads.push(u);
      this.#uploadCount++;
    }
    const entry = u;
    entry.users++;
    let released = false;
    return {
      images: entry.images,
      labels: entry.labels,
      release: () => {
        if (!released) entry.users--;
        released = true;
      },
    };
  }

  #drop(which: (u: Upload) => boolean): void {
    for (const u of this.#uploads.filter(which)) {
      u.images.destroy();
      u.labels.destroy();
    }
    this.#uploads = this.#uploads.filter((u) => !which(u));
  }

  /** Frees the uploads on `engine` (call before destroying it). */
  forget(engine: Engine): void {
    this.#drop((u) => u.engine === engine);
  }

  /** Frees every upload and forgets the datasets read. */
  destroy(): void {
    this.#drop(() => true);
    this.#sets.clear();
  }
}
