/**
 * Datasets as bytes: MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100, found on
 * disk or downloaded (checksum verified) into a cache.
 *
 * {@link loadDataset} reads an explicit folder (`opts.dir`, the experiment's
 * `data_dir`) and nothing else when one is given: a missing or incomplete
 * folder is an error naming what is missing. Without one it looks, in this
 * order, in:
 * 1. `$FIRSTSPIKE_DATA`;
 * 2. system folders (Debian's `dataset-fashion-mnist` installs
 *    `/usr/share/datasets/fashion-mnist`);
 * 3. the cache folder (default `$XDG_CACHE_HOME/firstspike` or
 *    `~/.cache/firstspike`);
 * 4. a download from the canonical source into the cache.
 *
 * In each of these folders (and in `opts.dir`) the files may sit in a subfolder named after the
 * dataset (`mnist/`, `fmnist/` or `fashion-mnist/`, `cifar10/`, `cifar100/`,
 * or torchvision's `MNIST/raw/` and `FashionMNIST/raw/`) or in the folder
 * itself; subfolders are checked first, so one data folder can hold all four
 * datasets. CIFAR files may also sit in the archive's own folder
 * (`cifar-10-batches-bin/`, `cifar-100-binary/`).
 *
 * @module
 */

import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { digestHex, statKind, writeFileAtomic } from "./_fs.ts";
import { readCifarBatch } from "./cifar.ts";
import { readIdxImages, readIdxLabels } from "./idx.ts";
import {
  checkDatasetName,
  DATASET_ALIASES,
  datasetInfo,
  type DatasetLayout,
  datasetLayout,
  type DatasetName,
  DOWNLOAD_SOURCES,
  type DownloadSource,
  type Split,
  SYSTEM_DIRS,
} from "./info.ts";
import { readTar } from "./tar.ts";
import { envGet } from "../util/env.ts";

export { readCifarBatch } from "./cifar.ts";
export type { CifarBatch } from "./cifar.ts";
export {
  IDX_IMAGES_MAGIC,
  IDX_LABELS_MAGIC,
  maybeGunzip,
  readIdxImages,
  readIdxLabels,
} from "./idx.ts";
export type { IdxImages } from "./idx.ts";
export {
  DATASET_NAMES,
  datasetInfo,
  datasetLayout,
  DOWNLOAD_SOURCES,
  SYSTEM_DIRS,
} from "./info.ts";
export type { DatasetInfo, DatasetLayout, DatasetName, DownloadSource, Split } from "./info.ts";
export { readTar } from "./tar.ts";
export type { TarEntry } from "./tar.ts";

/** One split of a dataset, in memory. */
export interface Dataset {
  /** Dataset name. */
  name: DatasetName;
  /** Which split this is. */
  split: Split;
  /** `count * C * H * W` pixels in NCHW order, values 0..255. */
  images: Uint8Array;
  /** `count` class indices in [0, classes). */
  labels: Uint8Array;
  /** Number of samples. */
  count: number;
  /** [C, H, W]. */
  shape: [number, number, number];
  /** Number of classes. */
  classes: number;
  /** The files read, with the SHA-256 of their bytes as stored. */
  files: { path: string; sha256: string }[];
}

/** Options of {@link loadDataset}. */
export interface LoadDatasetOptions {
  /** Explicit folder from the experiment: the only place looked when given. */
  dir?: string;
  /** Environment to read `FIRSTSPIKE_DATA`, `HOME`, `XDG_CACHE_HOME` from; defaults to `Deno.env`. */
  env?: Record<string, string | undefined>;
  /** Cache folder; default `$XDG_CACHE_HOME/firstspike` or `~/.cache/firstspike`. */
  cacheDir?: string;
  /** System folders to check instead of the defaults ({@link SYSTEM_DIRS}). */
  systemDirs?: string[];
  /** Whether to download when nothing is found (default true). */
  download?: boolean;
  /** `fetch` to download with (injectable for tests). */
  fetch?: typeof fetch;
  /** Receives progress messages; defaults to `console.error`. */
  log?: (msg: string) => void;
  /** Replaces the download sources and checksums of some datasets (for tests and mirrors). */
  sources?: Partial<Record<DatasetName, DownloadSource>>;
}

/** Files of one split found in a folder. */
interface Found {
  dir: string;
  paths: string[];
}

function describeFiles(layout: DatasetLayout): string {
  return layout.kind === "idx"
    ? `${layout.images}[.gz] and ${layout.labels}[.gz]`
    : `${layout.inner}/${layout.files.join(", ")}`;
}

/** Looks for the split's files in one candidate folder. */
async function findInFolder(
  dir: string,
  layout: DatasetLayout,
): Promise<{ found?: Found; partial?: string }> {
  if (layout.kind === "idx") {
    const paths: string[] = [];
    const missing: string[] = [];
    for (const base of [layout.images, layout.labels]) {
      let hit: string | undefined;
      for (const f of [base, `${base}.gz`]) {
        if ((await statKind(join(dir, f))) === "file") {
          hit = join(dir, f);
          break;
        }
      }
      if (hit) paths.push(hit);
      else missing.push(`${base}[.gz]`);
    }
    if (missing.length === 0) return { found: { dir, paths } };
    if (paths.length > 0) {
      return { partial: `'${dir}' has ${paths.join(", ")} but lacks ${missing.join(", ")}` };
    }
    return {};
  }
  let partial: string | undefined;
  for (const d of [join(dir, layout.inner), dir]) {
    const paths = layout.files.map((f) => join(d, f));
    const have: string[] = [];
    for (const p of paths) if ((await statKind(p)) === "file") have.push(p);
    if (have.length === paths.length) return { found: { dir: d, paths } };
    if (have.length > 0 && partial === undefined) {
      partial = `'${d}' has ${have.length} of the ${paths.length} files ${
        layout.files.join(", ")
      } (missing ${paths.filter((p) => !have.includes(p)).join(", ")})`;
    }
  }
  return { partial };
}

/** Looks in a base folder: its dataset-named subfolders first, then the folder itself. */
async function findInBase(
  base: string,
  name: DatasetName,
  layout: DatasetLayout,
): Promise<{ found?: Found; why: string }> {
  const kind = await statKind(base);
  if (kind === null) return { why: "does not exist" };
  if (kind !== "dir") return { why: "is not a folder" };
  const partials: string[] = [];
  for (const dir of [...DATASET_ALIASES[name].map((a) => join(base, a)), base]) {
    const r = await findInFolder(dir, layout);
    if (r.found) return { found: r.found, why: "" };
    if (r.partial) partials.push(r.partial);
  }
  const subs = DATASET_ALIASES[name].map((a) => `${a}/`).join(", ");
  return {
    why: partials.length > 0
      ? `incomplete: ${partials.join("; ")}`
      : `no ${describeFiles(layout)} there (also checked subfolders ${subs})`,
  };
}

async function readFileNamed(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    throw new Error(`Cannot read dataset file '${path}': ${(e as Error).message}`);
  }
}

/** Reads and validates the split's files. */
async function loadFound(
  name: DatasetName,
  split: Split,
  layout: DatasetLayout,
  found: Found,
): Promise<Dataset> {
  const info = datasetInfo(name);
  const [C, H, W] = info.shape;
  const files: { path: string; sha256: string }[] = [];
  const read = async (path: string) => {
    const bytes = await readFileNamed(path);
    files.push({ path, sha256: digestHex("sha256", bytes) });
    return bytes;
  };
  let images: Uint8Array, labels: Uint8Array, count: number;
  if (layout.kind === "idx") {
    const [imgPath, lblPath] = found.paths;
    const img = readIdxImages(await read(imgPath), imgPath);
    if (img.rows !== H || img.cols !== W) {
      throw new Error(
        `Cannot read dataset file '${imgPath}': ${info.title} images expected ${H}x${W}, got ${img.rows}x${img.cols}`,
      );
    }
    labels = readIdxLabels(await read(lblPath), lblPath);
    if (labels.length !== img.count) {
      throw new Error(
        `Cannot load ${info.title} ${split}: images file '${imgPath}' has ${img.count} images ` +
          `but labels file '${lblPath}' has ${labels.length} labels (expected equal counts)`,
      );
    }
    for (let i = 0; i < labels.length; i++) {
      if (labels[i] >= info.classes) {
        throw new Error(
          `Cannot read dataset file '${lblPath}': label ${i} expected in [0, ${info.classes}), got ${
            labels[i]
          }`,
        );
      }
    }
    images = img.pixels;
    count = img.count;
  } else {
    const parts = [];
    for (const p of found.paths) {
      parts.push(readCifarBatch(await read(p), p, name === "cifar10" ? "cifar10" : "cifar100"));
    }
    count = parts.reduce((s, b) => s + b.count, 0);
    images = new Uint8Array(count * C * H * W);
    labels = new Uint8Array(count);
    let at = 0;
    for (const b of parts) {
      images.set(b.images, at * C * H * W);
      labels.set(b.labels, at);
      at += b.count;
    }
  }
  checkIdentity(name, split, images, count, found.dir);
  return { name, split, images, labels, count, shape: info.shape, classes: info.classes, files };
}

/**
 * MNIST and Fashion-MNIST share file names; on a full split, the mean pixel
 * tells them apart (about 0.13 versus 0.29), so a misplaced folder is caught.
 */
function checkIdentity(
  name: DatasetName,
  split: Split,
  images: Uint8Array,
  count: number,
  dir: string,
): void {
  if (name !== "mnist" && name !== "fmnist") return;
  const info = datasetInfo(name);
  if (count !== (split === "train" ? info.trainCount : info.testCount)) return;
  let sum = 0;
  for (let i = 0; i < images.length; i++) sum += images[i];
  const mean = sum / images.length / 255;
  if (Math.abs(mean - info.mean[0]) > 0.03) {
    const other = datasetInfo(name === "mnist" ? "fmnist" : "mnist");
    const looks = Math.abs(mean - other.mean[0]) <= 0.03 ? ` (they look like ${other.title})` : "";
    throw new Error(
      `Cannot load ${info.title} ${split} from '${dir}': mean pixel ${
        mean.toFixed(4)
      } expected about ${info.mean[0]}${looks}`,
    );
  }
}

async function fetchBytes(fetchFn: typeof fetch, url: string): Promise<Uint8Array> {
  const res = await fetchFn(url);
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`);
  }
  return new Uint8Array(await res.arrayBuffer());
}

/** Fetches from the first URL that answers with the right MD5. */
async function fetchVerified(
  fetchFn: typeof fetch,
  urls: string[],
  md5: string,
  log: (msg: string) => void,
): Promise<Uint8Array> {
  const errors: string[] = [];
  for (const url of urls) {
    try {
      log(`Downloading ${url}`);
      const bytes = await fetchBytes(fetchFn, url);
      const got = digestHex("md5", bytes);
      if (got !== md5.toLowerCase()) {
        throw new Error(
          `checksum mismatch: expected MD5 ${md5}, got ${got} (${bytes.length} bytes)`,
        );
      }
      return bytes;
    } catch (e) {
      errors.push(`${url}: ${(e as Error).message}`);
    }
  }
  throw new Error(errors.join("; "));
}

/**
 * Downloads the split's files into `target` (the dataset's cache folder).
 * Everything is verified before anything is written, and each file is
 * written atomically, so a failed download leaves no file behind.
 */
async function downloadInto(
  target: string,
  layout: DatasetLayout,
  source: DownloadSource,
  fetchFn: typeof fetch,
  log: (msg: string) => void,
): Promise<void> {
  if (layout.kind === "idx") {
    if (source.kind !== "files") throw new Error("download source expected kind 'files'");
    const fetched: [string, Uint8Array][] = [];
    for (const file of [`${layout.images}.gz`, `${layout.labels}.gz`]) {
      const md5 = source.md5[file];
      if (!md5) throw new Error(`download source has no MD5 for '${file}'`);
      const urls = source.mirrors.map((m) => `${m}${m.endsWith("/") ? "" : "/"}${file}`);
      fetched.push([file, await fetchVerified(fetchFn, urls, md5, log)]);
    }
    for (const [file, bytes] of fetched) await writeFileAtomic(join(target, file), bytes);
    return;
  }
  if (source.kind !== "archive") throw new Error("download source expected kind 'archive'");
  const archive = await fetchVerified(fetchFn, source.urls, source.md5, log);
  const where = source.urls[0];
  let tar: Uint8Array;
  try {
    const out = gunzipSync(archive);
    tar = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (e) {
    throw new Error(`Cannot unpack '${where}': gzip data is corrupt (${(e as Error).message})`);
  }
  const members = new Map<string, Uint8Array>();
  for (const e of readTar(tar, where)) members.set(e.name.replace(/^(\.\/)+/, ""), e.data);
  const wanted = layout.allFiles.map((f) => `${layout.inner}/${f}`);
  const missing = wanted.filter((w) => !members.has(w));
  if (missing.length > 0) {
    throw new Error(
      `archive '${where}' lacks ${missing.join(", ")} (has ${[...members.keys()].join(", ")})`,
    );
  }
  for (const w of wanted) await writeFileAtomic(join(target, w), members.get(w)!);
}

/**
 * The dataset cache: `$XDG_CACHE_HOME/firstspike`, else `$HOME/.cache/firstspike`;
 * undefined when neither is set (or readable). Downloads and unpacked archives go here.
 */
export function datasetCacheDir(
  env?: Record<string, string | undefined>,
): string | undefined {
  const xdg = readEnv(env, "XDG_CACHE_HOME");
  const home = readEnv(env, "HOME");
  return xdg ? join(xdg, "firstspike") : home ? join(home, ".cache", "firstspike") : undefined;
}

function readEnv(
  env: Record<string, string | undefined> | undefined,
  key: string,
): string | undefined {
  return env ? env[key] : envGet(key);
}

function howToProvide(
  name: DatasetName,
  layout: DatasetLayout,
  source: DownloadSource,
  cacheRoot: string | undefined,
): string[] {
  const lines: string[] = [];
  if (name === "fmnist") {
    lines.push(
      "install the Debian package: apt-get install dataset-fashion-mnist " +
        "(puts the files in /usr/share/datasets/fashion-mnist)",
    );
  }
  lines.push(
    `put ${describeFiles(layout)} in a folder and set FIRSTSPIKE_DATA=<folder> ` +
      `(or use <folder>/${name}/), or pass that folder as the experiment's data folder`,
  );
  const cache = cacheRoot ? join(cacheRoot, name) : `<cache>/${name}`;
  if (source.kind === "files" && layout.kind === "idx") {
    const names = [`${layout.images}.gz`, `${layout.labels}.gz`];
    lines.push(
      `download ${
        names.map((f) => `${source.mirrors[0]}${f} (MD5 ${source.md5[f]})`).join(" and ")
      } into ${cache}/, or allow downloads`,
    );
  } else if (source.kind === "archive" && layout.kind === "cifar") {
    lines.push(
      `download ${source.urls[0]} (MD5 ${source.md5}) and extract it into ${cache}/ ` +
        `(it holds ${layout.inner}/), or allow downloads`,
    );
  }
  return lines;
}

/**
 * Loads one split of a dataset as bytes, looking in the places listed in the
 * module documentation and downloading into the cache as a last resort.
 * Every file is validated (magic numbers, dimensions, sizes, equal image and
 * label counts, label ranges); a corrupt file is an error naming it, not a
 * reason to look elsewhere. When nothing is found, the error lists every place
 * looked and how to provide the files.
 *
 * @example
 * ```ts
 * import { loadDataset } from "./datasets.ts";
 * const dir = await Deno.makeTempDir();
 * const idx = (magic: number, dims: number[], data: number[]) => {
 *   const b = new Uint8Array(4 + 4 * dims.length + data.length);
 *   const v = new DataView(b.buffer);
 *   v.setUint32(0, magic);
 *   dims.forEach((d, i) => v.setUint32(4 + 4 * i, d));
 *   b.set(data, 4 + 4 * dims.length);
 *   return b;
 * };
 * await Deno.writeFile(`${dir}/t10k-images-idx3-ubyte`, idx(2051, [1, 28, 28], new Array(784).fill(9)));
 * await Deno.writeFile(`${dir}/t10k-labels-idx1-ubyte`, idx(2049, [1], [3]));
 * const ds = await loadDataset("mnist", "test", { dir, download: false, log: () => {} });
 * if (ds.count !== 1 || ds.labels[0] !== 3 || ds.images.length !== 784) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadDataset(
  name: DatasetName,
  split: Split,
  opts: LoadDatasetOptions = {},
): Promise<Dataset> {
  checkDatasetName(name);
  if (split !== "train" && split !== "test") {
    throw new Error(`Unknown split '${split}' of dataset '${name}': expected 'train' or 'test'`);
  }
  const info = datasetInfo(name);
  const log = opts.log ?? ((msg: string) => console.error(msg));
  const layout = datasetLayout(name, split);
  const source = opts.sources?.[name] ?? DOWNLOAD_SOURCES[name];

  const cacheRoot = opts.cacheDir ?? datasetCacheDir(opts.env);
  const envDir = readEnv(opts.env, "FIRSTSPIKE_DATA");
  // In lookup order; entries without a folder are only reported.
  const places: { label: string; dir?: string; note?: string }[] = [];
  places.push(
    envDir ? { label: "$FIRSTSPIKE_DATA", dir: envDir } : {
      label: "$FIRSTSPIKE_DATA",
      note: "not set",
    },
  );
  for (const d of opts.systemDirs ?? SYSTEM_DIRS[name]) {
    places.push({ label: "system folder", dir: d });
  }
  places.push(
    cacheRoot !== undefined ? { label: "cache", dir: cacheRoot } : {
      label: "cache",
      note: "none (HOME and XDG_CACHE_HOME are not set)",
    },
  );

  const load = async (found: Found, label: string) => {
    const ds = await loadFound(name, split, layout, found);
    log(`${info.title} ${split}: ${ds.count} images from ${label} '${found.dir}'`);
    const full = split === "train" ? info.trainCount : info.testCount;
    if (ds.count !== full) {
      log(`${info.title} ${split}: note, the full split has ${full} images, got ${ds.count}`);
    }
    return ds;
  };

  // An explicit folder is the only place looked: never a silent fall back to another copy.
  if (opts.dir !== undefined) {
    const r = await findInBase(opts.dir, name, layout);
    if (r.found) return await load(r.found, "data folder option");
    throw new Error(
      `Cannot load ${info.title} (${name}) ${split} split from data_dir '${opts.dir}': ${r.why}. ` +
        `data_dir is the only place it is read from: put ${describeFiles(layout)} there, or ` +
        `remove data_dir to use the usual lookup ($FIRSTSPIKE_DATA, the system folder, the cache, ` +
        `a download)`,
    );
  }
  const looked: string[] = [];
  for (const { label, dir, note } of places) {
    if (dir === undefined) {
      looked.push(`${label}: ${note}`);
      continue;
    }
    const r = await findInBase(dir, name, layout);
    if (r.found) return await load(r.found, label);
    looked.push(`${label} '${dir}': ${r.why}`);
  }

  if (opts.download === false) {
    looked.push("download: disabled (download: false)");
  } else if (cacheRoot === undefined) {
    looked.push("download: skipped, no cache folder to download into (set HOME or cacheDir)");
  } else {
    const target = join(cacheRoot, name);
    try {
      await downloadInto(target, layout, source, opts.fetch ?? fetch, log);
      const r = await findInBase(cacheRoot, name, layout);
      if (r.found) return await load(r.found, "download in cache");
      looked.push(`download into '${target}': files not found afterwards (${r.why})`);
    } catch (e) {
      looked.push(`download into '${target}' failed: ${(e as Error).message}`);
    }
  }

  throw new Error(
    [
      `Cannot find ${info.title} (${name}) ${split} split: expected ${
        describeFiles(layout)
      }. Looked in:`,
      ...looked.map((l) => `  - ${l}`),
      "Provide the files in one of these ways:",
      ...howToProvide(name, layout, source, cacheRoot).map((l) => `  - ${l}`),
    ].join("\n"),
  );
}
