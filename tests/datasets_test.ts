import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import {
  datasetInfo,
  type DownloadSource,
  loadDataset,
  type LoadDatasetOptions,
  readCifarBatch,
  readIdxImages,
  readIdxLabels,
  readTar,
} from "../src/data/datasets.ts";

// ---------------------------------------------------------------- helpers

const enc = new TextEncoder();

function idx(magic: number, dims: number[], data: Uint8Array): Uint8Array {
  const b = new Uint8Array(4 + 4 * dims.length + data.length);
  const v = new DataView(b.buffer);
  v.setUint32(0, magic, false);
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  b.set(data, 4 + 4 * dims.length);
  return b;
}

/** Deterministic pixels: value depends on image, position and a tag. */
function pixels(count: number, size: number, tag: number): Uint8Array {
  const p = new Uint8Array(count * size);
  for (let i = 0; i < p.length; i++) p[i] = (i * 7 + tag * 13 + Math.floor(i / size) * 31) & 255;
  return p;
}

/** Writes an MNIST-format split into `dir`; returns the expected images and labels. */
async function writeMnist(
  dir: string,
  split: "train" | "test",
  count: number,
  opts: { gz?: boolean; label?: number; tag?: number } = {},
) {
  await Deno.mkdir(dir, { recursive: true });
  const prefix = split === "train" ? "train" : "t10k";
  const images = pixels(count, 784, opts.tag ?? 1);
  const labels = new Uint8Array(count).map((_, i) => opts.label ?? i % 10);
  let ib = idx(2051, [count, 28, 28], images), lb = idx(2049, [count], labels);
  let suffix = "";
  if (opts.gz) {
    ib = gzipSync(ib);
    lb = gzipSync(lb);
    suffix = ".gz";
  }
  await Deno.writeFile(`${dir}/${prefix}-images-idx3-ubyte${suffix}`, ib);
  await Deno.writeFile(`${dir}/${prefix}-labels-idx1-ubyte${suffix}`, lb);
  return { images, labels };
}

/** CIFAR binary records; `coarse` given for CIFAR-100. */
function cifarRecords(labels: number[], tag: number, coarse?: number[]): Uint8Array {
  const lb = coarse ? 2 : 1;
  const rec = lb + 3072;
  const out = new Uint8Array(labels.length * rec);
  const px = pixels(labels.length, 3072, tag);
  labels.forEach((l, i) => {
    if (coarse) out[i * rec] = coarse[i];
    out[i * rec + lb - 1] = l;
    out.set(px.subarray(i * 3072, (i + 1) * 3072), i * rec + lb);
  });
  return out;
}

function tarHeader(name: string, size: number, type = "0", prefix = ""): Uint8Array {
  const h = new Uint8Array(512);
  const put = (s: string, at: number) => h.set(enc.encode(s), at);
  put(name, 0);
  put("0000644\0", 100);
  put("0001750\0", 108);
  put("0001750\0", 116);
  put(size.toString(8).padStart(11, "0") + "\0", 124);
  put("14543164000\0", 136);
  h.fill(0x20, 148, 156);
  h[156] = type.charCodeAt(0);
  put("ustar\0", 257);
  put("00", 263);
  put(prefix, 345);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  return h;
}

/** A ustar archive written by hand: header, data padded to 512, two zero blocks. */
function makeTar(entries: { name: string; data?: Uint8Array; type?: string; prefix?: string }[]) {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const data = e.data ?? new Uint8Array(0);
    parts.push(tarHeader(e.name, data.length, e.type ?? "0", e.prefix ?? ""));
    parts.push(data, new Uint8Array((512 - (data.length % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex");
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) out.push(...await listFiles(p));
      else out.push(p);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out.sort();
}

/** A fake fetch serving `files` by URL and recording every request. */
function fakeFetch(files: Record<string, Uint8Array | number>) {
  const calls: string[] = [];
  const f = ((input: string | URL | Request) => {
    const url = String(input instanceof Request ? input.url : input);
    calls.push(url);
    const v = files[url];
    if (v === undefined) return Promise.reject(new TypeError(`network unreachable: ${url}`));
    if (typeof v === "number") return Promise.resolve(new Response("nope", { status: v }));
    return Promise.resolve(new Response(v.slice()));
  }) as typeof fetch;
  return { fetch: f, calls };
}

const noFetch = (() => {
  throw new Error("a test touched fetch unexpectedly");
}) as unknown as typeof fetch;

async function withTemp(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "firstspike_ds_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Options isolating a test from the machine: no env, no system folders, no network. */
function isolated(tmp: string, extra: LoadDatasetOptions = {}): LoadDatasetOptions {
  return {
    env: {},
    systemDirs: [],
    cacheDir: `${tmp}/cache`,
    fetch: noFetch,
    download: false,
    log: () => {},
    ...extra,
  };
}

// ---------------------------------------------------------------- formats

Deno.test("IDX: raw and gzipped files load into NCHW bytes", async () => {
  await withTemp(async (tmp) => {
    const raw = await writeMnist(`${tmp}/raw`, "train", 5);
    const ds = await loadDataset("mnist", "train", isolated(tmp, { dir: `${tmp}/raw` }));
    assert.equal(ds.count, 5);
    assert.deepEqual(ds.shape, [1, 28, 28]);
    assert.equal(ds.classes, 10);
    assert.equal(ds.name, "mnist");
    assert.equal(ds.split, "train");
    assert.deepEqual(ds.images, raw.images);
    assert.deepEqual(ds.labels, raw.labels);
    assert.ok(ds.images.constructor === Uint8Array && ds.labels.constructor === Uint8Array);
    assert.deepEqual(ds.files.map((f) => f.path), [
      `${tmp}/raw/train-images-idx3-ubyte`,
      `${tmp}/raw/train-labels-idx1-ubyte`,
    ]);
    for (const f of ds.files) assert.equal(f.sha256, sha256(await Deno.readFile(f.path)));

    const gz = await writeMnist(`${tmp}/gz`, "test", 3, { gz: true, tag: 9 });
    const dt = await loadDataset("fmnist", "test", isolated(tmp, { dir: `${tmp}/gz` }));
    assert.deepEqual(dt.images, gz.images);
    assert.deepEqual(dt.labels, gz.labels);
    assert.match(dt.files[0].path, /t10k-images-idx3-ubyte\.gz$/);

    // the parsers on their own
    const img = readIdxImages(idx(2051, [2, 1, 3], new Uint8Array([1, 2, 3, 4, 5, 6])), "x");
    assert.deepEqual([img.count, img.rows, img.cols], [2, 1, 3]);
    assert.deepEqual(Array.from(img.pixels), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(
      Array.from(readIdxLabels(gzipSync(idx(2049, [2], new Uint8Array([4, 5]))), "y")),
      [4, 5],
    );
  });
});

Deno.test("IDX validation: magic, size, truncation, dims, counts, labels", async () => {
  const img = idx(2051, [2, 28, 28], new Uint8Array(2 * 784));
  assert.throws(
    () => readIdxImages(idx(2049, [2], new Uint8Array(2)), "lbl"),
    /Cannot read dataset file 'lbl': expected IDX magic number 2051 .*, got 2049 \(a label file\)/,
  );
  assert.throws(
    () => readIdxLabels(img, "img"),
    /'img': expected IDX magic number 2049 .*, got 2051 \(an image file\)/,
  );
  assert.throws(
    () => readIdxImages(img.subarray(0, img.length - 10), "t.idx"),
    /'t.idx': header says \[2, 28, 28\], so expected 1584 bytes, got 1574 bytes \(truncated\)/,
  );
  const longer = new Uint8Array(img.length + 3);
  longer.set(img);
  assert.throws(
    () => readIdxImages(longer, "l"),
    /expected 1584 bytes, got 1587 bytes \(trailing data\)/,
  );
  assert.throws(
    () => readIdxImages(img.subarray(0, 10), "h"),
    /'h': expected an IDX header of 16 bytes \(unsigned byte images, 3 dims\), got 10 bytes/,
  );
  assert.throws(
    () => readIdxLabels(new Uint8Array(3), "z"),
    /'z': expected an IDX file .* got 3 bytes/,
  );
  const gz = gzipSync(img);
  assert.throws(
    () => readIdxImages(gz.subarray(0, gz.length - 20), "cut.gz"),
    /'cut\.gz': gzip data is corrupt or truncated/,
  );

  await withTemp(async (tmp) => {
    const d = `${tmp}/d`;
    await Deno.mkdir(d);
    const o = isolated(tmp, { dir: d });
    // wrong image size for MNIST
    await Deno.writeFile(
      `${d}/t10k-images-idx3-ubyte`,
      idx(2051, [1, 32, 32], new Uint8Array(1024)),
    );
    await Deno.writeFile(`${d}/t10k-labels-idx1-ubyte`, idx(2049, [1], new Uint8Array([0])));
    await assert.rejects(loadDataset("mnist", "test", o), /MNIST images expected 28x28, got 32x32/);
    // image and label counts differ
    await Deno.writeFile(
      `${d}/t10k-images-idx3-ubyte`,
      idx(2051, [2, 28, 28], new Uint8Array(1568)),
    );
    await assert.rejects(
      loadDataset("mnist", "test", o),
      /images file '.*t10k-images-idx3-ubyte' has 2 images but labels file '.*t10k-labels-idx1-ubyte' has 1 labels/,
    );
    // label out of range
    await Deno.writeFile(`${d}/t10k-labels-idx1-ubyte`, idx(2049, [2], new Uint8Array([3, 10])));
    await assert.rejects(
      loadDataset("mnist", "test", o),
      /'.*t10k-labels-idx1-ubyte': label 1 expected in \[0, 10\), got 10/,
    );
    // truncated file on disk: error names it with expected vs got bytes
    await Deno.writeFile(`${d}/t10k-labels-idx1-ubyte`, idx(2049, [2], new Uint8Array([3, 1])));
    await Deno.writeFile(`${d}/t10k-images-idx3-ubyte`, img.subarray(0, 1000));
    await assert.rejects(
      loadDataset("mnist", "test", o),
      /'.*t10k-images-idx3-ubyte': header says \[2, 28, 28\], so expected 1584 bytes, got 1000 bytes \(truncated\)/,
    );
    // a corrupt file is an error, not a reason to fall through to the next place
    await writeMnist(`${tmp}/cache/mnist`, "test", 2);
    await assert.rejects(loadDataset("mnist", "test", o), /truncated/);
  });
});

Deno.test("CIFAR-10 binary batches load in order, CHW planes intact", async () => {
  await withTemp(async (tmp) => {
    const inner = `${tmp}/c10/cifar-10-batches-bin`;
    await Deno.mkdir(inner, { recursive: true });
    const sizes = [2, 3, 1, 2, 2];
    const expectedLabels: number[] = [];
    const expectedImages: Uint8Array[] = [];
    for (let b = 0; b < 5; b++) {
      const labels = Array.from({ length: sizes[b] }, (_, i) => (b * 3 + i) % 10);
      expectedLabels.push(...labels);
      expectedImages.push(pixels(sizes[b], 3072, b + 1));
      await Deno.writeFile(`${inner}/data_batch_${b + 1}.bin`, cifarRecords(labels, b + 1));
    }
    await Deno.writeFile(`${inner}/test_batch.bin`, cifarRecords([9, 0, 4], 7));
    const o = isolated(tmp, { dir: `${tmp}/c10` });
    const tr = await loadDataset("cifar10", "train", o);
    assert.equal(tr.count, 10);
    assert.deepEqual(tr.shape, [3, 32, 32]);
    assert.equal(tr.classes, 10);
    assert.deepEqual(Array.from(tr.labels), expectedLabels);
    let at = 0;
    for (const im of expectedImages) {
      assert.deepEqual(tr.images.subarray(at, at + im.length), im);
      at += im.length;
    }
    assert.equal(tr.files.length, 5);
    assert.match(tr.files[4].path, /data_batch_5\.bin$/);
    // record layout: byte 1 + c*1024 + y*32 + x of a record is pixel (c, y, x)
    const rec = cifarRecords([5], 3);
    const one = readCifarBatch(rec, "one", "cifar10");
    assert.equal(one.images[2 * 1024 + 5 * 32 + 7], rec[1 + 2 * 1024 + 5 * 32 + 7]);

    const te = await loadDataset("cifar10", "test", o);
    assert.deepEqual(Array.from(te.labels), [9, 0, 4]);
    // files directly in the folder (without cifar-10-batches-bin/) are found too
    await Deno.rename(`${inner}/test_batch.bin`, `${tmp}/c10/test_batch.bin`);
    const te2 = await loadDataset("cifar10", "test", o);
    assert.deepEqual(te2.images, te.images);
  });
});

Deno.test("CIFAR-100 binary uses the fine label (100 classes)", async () => {
  await withTemp(async (tmp) => {
    const inner = `${tmp}/c100/cifar-100-binary`;
    await Deno.mkdir(inner, { recursive: true });
    await Deno.writeFile(`${inner}/train.bin`, cifarRecords([99, 0, 57], 2, [19, 4, 0]));
    await Deno.writeFile(`${inner}/test.bin`, cifarRecords([12], 5, [3]));
    const o = isolated(tmp, { dir: `${tmp}/c100` });
    const tr = await loadDataset("cifar100", "train", o);
    assert.equal(tr.classes, 100);
    assert.deepEqual(Array.from(tr.labels), [99, 0, 57]);
    assert.deepEqual(tr.images, pixels(3, 3072, 2));
    const te = await loadDataset("cifar100", "test", o);
    assert.deepEqual(Array.from(te.labels), [12]);
  });
});

Deno.test("CIFAR validation: truncation, empty file, label ranges", () => {
  const ten = cifarRecords([1, 2], 1);
  assert.throws(
    () => readCifarBatch(ten.subarray(0, ten.length - 100), "data_batch_1.bin", "cifar10"),
    /'data_batch_1\.bin': expected whole 3073-byte CIFAR-10 records, so 6146 bytes for 2 records, got 6046 bytes/,
  );
  assert.throws(
    () => readCifarBatch(new Uint8Array(0), "e.bin", "cifar10"),
    /'e\.bin': expected at least one 3073-byte record, got 0 bytes/,
  );
  assert.throws(
    () => readCifarBatch(cifarRecords([3, 10], 1), "b.bin", "cifar10"),
    /'b\.bin': record 1: label expected in \[0, 10\), got 10/,
  );
  assert.throws(
    () => readCifarBatch(cifarRecords([100], 1, [0]), "train.bin", "cifar100"),
    /'train\.bin': record 0: label expected in \[0, 100\), got 100/,
  );
  assert.throws(
    () => readCifarBatch(cifarRecords([5], 1, [20]), "train.bin", "cifar100"),
    /record 0: coarse label expected in \[0, 20\), got 20/,
  );
  // a CIFAR-10 file read as CIFAR-100 does not divide into records
  assert.throws(() => readCifarBatch(cifarRecords([1, 2, 3], 1), "x", "cifar100"), /3074-byte/);
});

Deno.test("tar reader: hand-made ustar with prefix, dirs, checksums and truncation", () => {
  const a = enc.encode("hello");
  const b = new Uint8Array(700).map((_, i) => i & 255);
  const tar = makeTar([
    { name: "top/", type: "5" },
    { name: "a.txt", data: a, prefix: "top" },
    { name: "top/b.bin", data: b },
    { name: "top/link", type: "2" },
  ]);
  const entries = readTar(tar, "t.tar");
  assert.deepEqual(entries.map((e) => e.name), ["top/a.txt", "top/b.bin"]);
  assert.deepEqual(entries[0].data, a);
  assert.deepEqual(entries[1].data, b);

  const bad = tar.slice();
  bad[512 + 10] ^= 1; // flip a bit in the second header
  assert.throws(
    () => readTar(bad, "t.tar"),
    /Cannot read tar archive 't\.tar': header at byte 512 has checksum/,
  );
  assert.throws(
    () => readTar(tar.subarray(0, 512 * 4 + 100), "t.tar"),
    /member 'top\/b\.bin' needs bytes 2048\.\.2748, but the archive has only 2148 bytes \(truncated\)/,
  );
  assert.throws(() => readTar(tar.subarray(0, 512 * 3 - 7), "t.tar"), /truncated/);
  assert.deepEqual(readTar(new Uint8Array(0), "empty"), []);
});

Deno.test("tar reader: archives made by GNU tar (gnu long names and pax)", async () => {
  let hasTar = true;
  try {
    await new Deno.Command("tar", { args: ["--version"], stdout: "null" }).output();
  } catch {
    hasTar = false;
  }
  if (!hasTar) {
    console.log("skipped: no `tar` program on this machine");
    return;
  }
  await withTemp(async (tmp) => {
    const long = `${"d".repeat(60)}/${"f".repeat(80)}.bin`; // > 100 characters
    await Deno.mkdir(`${tmp}/src/${"d".repeat(60)}`, { recursive: true });
    const data = new Uint8Array(1500).map((_, i) => (i * 3) & 255);
    await Deno.writeFile(`${tmp}/src/${long}`, data);
    await Deno.writeFile(`${tmp}/src/small.txt`, enc.encode("x"));
    for (const format of ["gnu", "pax", "ustar"]) {
      const out = `${tmp}/${format}.tar`;
      const r = await new Deno.Command("tar", {
        args: [`--format=${format}`, "-C", `${tmp}/src`, "-cf", out, "small.txt", long],
        stderr: "piped",
      }).output();
      assert.ok(r.success, new TextDecoder().decode(r.stderr));
      const entries = readTar(await Deno.readFile(out), out);
      assert.deepEqual(entries.map((e) => e.name), ["small.txt", long], format);
      assert.deepEqual(entries[1].data, data, format);
    }
  });
});

// ---------------------------------------------------------------- lookup

Deno.test("lookup order: dir option, $FIRSTSPIKE_DATA, system, cache, download", async () => {
  await withTemp(async (tmp) => {
    const A = `${tmp}/explicit`, B = `${tmp}/envdata`, C = `${tmp}/system`, D = `${tmp}/cache`;
    await writeMnist(A, "test", 2, { label: 1 });
    await writeMnist(`${B}/mnist`, "test", 2, { label: 2 });
    await writeMnist(C, "test", 2, { label: 3 });
    await writeMnist(`${D}/mnist`, "test", 2, { label: 4 });
    const served = idx(2051, [2, 28, 28], pixels(2, 784, 5));
    const servedLabels = idx(2049, [2], new Uint8Array([5, 5]));
    const gzI = gzipSync(served), gzL = gzipSync(servedLabels);
    const source: DownloadSource = {
      kind: "files",
      mirrors: ["https://mirror.test/mnist/"],
      md5: { "t10k-images-idx3-ubyte.gz": md5(gzI), "t10k-labels-idx1-ubyte.gz": md5(gzL) },
    };
    const net = fakeFetch({
      "https://mirror.test/mnist/t10k-images-idx3-ubyte.gz": gzI,
      "https://mirror.test/mnist/t10k-labels-idx1-ubyte.gz": gzL,
    });
    const logs: string[] = [];
    const opts: LoadDatasetOptions = {
      env: { FIRSTSPIKE_DATA: B },
      systemDirs: [C],
      cacheDir: D,
      fetch: net.fetch,
      sources: { mnist: source },
      log: (m) => logs.push(m),
    };
    const label = async () => (await loadDataset("mnist", "test", opts)).labels[0];
    // An explicit folder (data_dir) is the only place looked.
    assert.equal((await loadDataset("mnist", "test", { ...opts, dir: A })).labels[0], 1);
    await Deno.remove(A, { recursive: true });
    await assert.rejects(
      loadDataset("mnist", "test", { ...opts, dir: A }),
      /Cannot load MNIST \(mnist\) test split from data_dir '.*\/explicit': does not exist\. data_dir is the only place it is read from/,
    );
    // An incomplete data_dir names the missing file, though complete copies exist elsewhere.
    await writeMnist(A, "test", 2, { label: 1 });
    await Deno.remove(`${A}/t10k-labels-idx1-ubyte`);
    await assert.rejects(
      loadDataset("mnist", "test", { ...opts, dir: A }),
      /from data_dir '.*\/explicit': incomplete: .* lacks t10k-labels-idx1-ubyte\[\.gz\]/,
    );
    await Deno.remove(A, { recursive: true });
    assert.equal(await label(), 2);
    await Deno.remove(B, { recursive: true });
    assert.equal(await label(), 3);
    await Deno.remove(C, { recursive: true });
    assert.equal(await label(), 4);
    assert.deepEqual(net.calls, [], "nothing is downloaded while a copy exists");
    await Deno.remove(D, { recursive: true });
    const ds = await loadDataset("mnist", "test", opts);
    assert.deepEqual(Array.from(ds.labels), [5, 5]);
    assert.deepEqual(ds.images, pixels(2, 784, 5));
    assert.equal(net.calls.length, 2);
    assert.deepEqual(await listFiles(D), [
      `${D}/mnist/t10k-images-idx3-ubyte.gz`,
      `${D}/mnist/t10k-labels-idx1-ubyte.gz`,
    ]);
    assert.ok(logs.some((l) => l.includes("Downloading https://mirror.test/mnist/")));
    // now cached: no more downloads
    assert.equal(await label(), 5);
    assert.equal(net.calls.length, 2);
  });
});

Deno.test("$FIRSTSPIKE_DATA: the folder itself, its dataset subfolder first", async () => {
  await withTemp(async (tmp) => {
    const E = `${tmp}/data`;
    await writeMnist(E, "train", 1, { label: 7 });
    const o = isolated(tmp, { env: { FIRSTSPIKE_DATA: E } });
    assert.equal((await loadDataset("mnist", "train", o)).labels[0], 7);
    await writeMnist(`${E}/fashion-mnist`, "train", 1, { label: 8 });
    assert.equal((await loadDataset("fmnist", "train", o)).labels[0], 8);
    assert.equal((await loadDataset("mnist", "train", o)).labels[0], 7);
    await writeMnist(`${E}/FashionMNIST/raw`, "test", 1, { label: 6, gz: true });
    assert.equal((await loadDataset("fmnist", "test", o)).labels[0], 6);
  });
});

Deno.test("cache defaults to $XDG_CACHE_HOME/firstspike, else ~/.cache/firstspike", async () => {
  await withTemp(async (tmp) => {
    await writeMnist(`${tmp}/xdg/firstspike/mnist`, "test", 1, { label: 2 });
    await writeMnist(`${tmp}/home/.cache/firstspike/mnist`, "test", 1, { label: 3 });
    const base = { systemDirs: [], download: false, log: () => {}, fetch: noFetch };
    const x = await loadDataset("mnist", "test", {
      ...base,
      env: { XDG_CACHE_HOME: `${tmp}/xdg`, HOME: `${tmp}/home` },
    });
    assert.equal(x.labels[0], 2);
    const h = await loadDataset("mnist", "test", { ...base, env: { HOME: `${tmp}/home` } });
    assert.equal(h.labels[0], 3);
  });
});

Deno.test("checksum mismatch rejects the download and leaves nothing in the cache", async () => {
  await withTemp(async (tmp) => {
    const cache = `${tmp}/cache`;
    const fake = gzipSync(idx(2049, [1], new Uint8Array([1])));
    // the published checksums (real sources) cannot match these bytes
    const net = fakeFetch({
      "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-images-idx3-ubyte.gz": fake,
      "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz": fake,
    });
    await assert.rejects(
      loadDataset("fmnist", "test", isolated(tmp, { download: true, fetch: net.fetch })),
      (e: Error) => {
        assert.match(
          e.message,
          /t10k-images-idx3-ubyte\.gz: checksum mismatch: expected MD5 bef4ecab320f06d8554ea6380940ec79, got [0-9a-f]{32}/,
        );
        return true;
      },
    );
    assert.deepEqual(await listFiles(cache), []);

    // second file bad, first good: still nothing written
    const good = gzipSync(idx(2051, [1, 28, 28], new Uint8Array(784)));
    const net2 = fakeFetch({
      "https://m.test/t10k-images-idx3-ubyte.gz": good,
      "https://m.test/t10k-labels-idx1-ubyte.gz": fake,
    });
    const src: DownloadSource = {
      kind: "files",
      mirrors: ["https://m.test/"],
      md5: { "t10k-images-idx3-ubyte.gz": md5(good), "t10k-labels-idx1-ubyte.gz": "0".repeat(32) },
    };
    await assert.rejects(
      loadDataset(
        "fmnist",
        "test",
        isolated(tmp, { download: true, fetch: net2.fetch, sources: { fmnist: src } }),
      ),
      /t10k-labels-idx1-ubyte\.gz: checksum mismatch/,
    );
    assert.deepEqual(await listFiles(cache), []);

    // CIFAR archive with a wrong checksum
    const net3 = fakeFetch({
      "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz": gzipSync(makeTar([])),
    });
    await assert.rejects(
      loadDataset("cifar100", "train", isolated(tmp, { download: true, fetch: net3.fetch })),
      /cifar-100-binary\.tar\.gz: checksum mismatch: expected MD5 03b5dce01913d631647c71ecec9e9cb8/,
    );
    assert.deepEqual(await listFiles(cache), []);
  });
});

Deno.test("mirror fallback: a failing mirror is skipped", async () => {
  await withTemp(async (tmp) => {
    const gzI = gzipSync(idx(2051, [1, 28, 28], pixels(1, 784, 2)));
    const gzL = gzipSync(idx(2049, [1], new Uint8Array([4])));
    const net = fakeFetch({
      "https://a.test/train-images-idx3-ubyte.gz": 404,
      "https://b.test/train-images-idx3-ubyte.gz": gzI,
      "https://a.test/train-labels-idx1-ubyte.gz": gzL,
    });
    const src: DownloadSource = {
      kind: "files",
      mirrors: ["https://a.test", "https://b.test/"],
      md5: { "train-images-idx3-ubyte.gz": md5(gzI), "train-labels-idx1-ubyte.gz": md5(gzL) },
    };
    const ds = await loadDataset(
      "mnist",
      "train",
      isolated(tmp, { download: true, fetch: net.fetch, sources: { mnist: src } }),
    );
    assert.equal(ds.labels[0], 4);
    assert.deepEqual(net.calls, [
      "https://a.test/train-images-idx3-ubyte.gz",
      "https://b.test/train-images-idx3-ubyte.gz",
      "https://a.test/train-labels-idx1-ubyte.gz",
    ]);
  });
});

Deno.test("CIFAR download: a tiny .tar.gz is verified, unpacked into the cache and loaded", async () => {
  await withTemp(async (tmp) => {
    const members = [
      ...[1, 2, 3, 4, 5].map((i) => ({
        name: `cifar-10-batches-bin/data_batch_${i}.bin`,
        data: cifarRecords([i, i], i),
      })),
      { name: "cifar-10-batches-bin/test_batch.bin", data: cifarRecords([0, 9, 8], 6) },
      { name: "cifar-10-batches-bin/batches.meta.txt", data: enc.encode("airplane\n") },
    ];
    const archive = gzipSync(makeTar([{ name: "cifar-10-batches-bin/", type: "5" }, ...members]));
    const url = "https://data.test/cifar-10-binary.tar.gz";
    const net = fakeFetch({ [url]: archive });
    const o = isolated(tmp, {
      download: true,
      fetch: net.fetch,
      sources: { cifar10: { kind: "archive", urls: [url], md5: md5(archive) } },
    });
    const te = await loadDataset("cifar10", "test", o);
    assert.deepEqual(Array.from(te.labels), [0, 9, 8]);
    assert.deepEqual(te.images, pixels(3, 3072, 6));
    const cache = `${tmp}/cache/cifar10/cifar-10-batches-bin`;
    assert.deepEqual(
      await listFiles(`${tmp}/cache`),
      [1, 2, 3, 4, 5].map((i) => `${cache}/data_batch_${i}.bin`).concat(`${cache}/test_batch.bin`),
    );
    // both splits were unpacked by the one download
    const tr = await loadDataset("cifar10", "train", { ...o, fetch: noFetch });
    assert.deepEqual(Array.from(tr.labels), [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
    assert.equal(net.calls.length, 1);

    // an archive lacking a member writes nothing
    await Deno.remove(`${tmp}/cache`, { recursive: true });
    const partial = gzipSync(makeTar(members.slice(1)));
    const net2 = fakeFetch({ [url]: partial });
    await assert.rejects(
      loadDataset("cifar10", "test", {
        ...o,
        fetch: net2.fetch,
        sources: { cifar10: { kind: "archive", urls: [url], md5: md5(partial) } },
      }),
      /archive 'https:\/\/data\.test\/cifar-10-binary\.tar\.gz' lacks cifar-10-batches-bin\/data_batch_1\.bin/,
    );
    assert.deepEqual(await listFiles(`${tmp}/cache`), []);
  });
});

Deno.test("offline and missing: one error listing every place and how to provide the files", async () => {
  await withTemp(async (tmp) => {
    await writeMnist(`${tmp}/half`, "train", 1);
    await Deno.remove(`${tmp}/half/train-labels-idx1-ubyte`);
    const net = fakeFetch({});
    const err = await loadDataset("fmnist", "train", {
      env: { FIRSTSPIKE_DATA: `${tmp}/half` },
      systemDirs: [`${tmp}/sys`],
      cacheDir: `${tmp}/cache`,
      fetch: net.fetch,
      log: () => {},
    }).then(() => undefined, (e: Error) => e);
    assert.ok(err instanceof Error, "expected an error");
    const m = err.message;
    assert.match(
      m,
      /^Cannot find Fashion-MNIST \(fmnist\) train split: expected train-images-idx3-ubyte\[\.gz\] and train-labels-idx1-ubyte\[\.gz\]/,
    );
    assert.match(
      m,
      /\$FIRSTSPIKE_DATA '.*\/half': incomplete: '.*\/half' has .*train-images-idx3-ubyte but lacks train-labels-idx1-ubyte\[\.gz\]/,
    );
    assert.match(m, /system folder '.*\/sys': does not exist/);
    assert.match(m, /cache '.*\/cache': does not exist/);
    assert.match(
      m,
      /download into '.*\/cache\/fmnist' failed: http:\/\/fashion-mnist\.s3-website\.eu-central-1\.amazonaws\.com\/train-images-idx3-ubyte\.gz: network unreachable/,
    );
    assert.match(m, /apt-get install dataset-fashion-mnist/);
    assert.match(m, /FIRSTSPIKE_DATA=<folder>/);
    assert.match(
      m,
      /download http:\/\/fashion-mnist\.s3-website\.eu-central-1\.amazonaws\.com\/train-images-idx3-ubyte\.gz \(MD5 8d4fb7e6c68d591d4c3dfef9ec88bf0d\)/,
    );
    // order of the list follows the lookup order
    const order = [
      "$FIRSTSPIKE_DATA",
      "system folder",
      "cache '",
      "download into",
    ]
      .map((s) => m.indexOf(s));
    assert.deepEqual(order, [...order].sort((a, b) => a - b));
    assert.deepEqual(await listFiles(`${tmp}/cache`), []);

    const off = await loadDataset("cifar100", "test", isolated(tmp)).catch((e: Error) => e);
    assert.ok(off instanceof Error);
    assert.match(off.message, /\$FIRSTSPIKE_DATA: not set/);
    assert.match(off.message, /download: disabled \(download: false\)/);
    assert.match(
      off.message,
      /cifar-100-binary\.tar\.gz \(MD5 03b5dce01913d631647c71ecec9e9cb8\) and extract it/,
    );
    assert.doesNotMatch(off.message, /apt-get/);

    await assert.rejects(
      loadDataset("svhn" as "mnist", "train", isolated(tmp)),
      /Unknown dataset 'svhn': expected one of mnist, fmnist, cifar10, cifar100/,
    );
    await assert.rejects(
      loadDataset("mnist", "val" as "train", isolated(tmp)),
      /Unknown split 'val' of dataset 'mnist': expected 'train' or 'test'/,
    );
  });
});

Deno.test("datasetInfo gives shapes, classes, counts and normalisation constants", () => {
  assert.deepEqual(datasetInfo("mnist"), {
    title: "MNIST",
    shape: [1, 28, 28],
    classes: 10,
    mean: [0.1307],
    std: [0.3081],
    trainCount: 60000,
    testCount: 10000,
    classNames: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
  });
  assert.deepEqual(datasetInfo("fmnist").mean, [0.286]);
  assert.deepEqual(datasetInfo("fmnist").std, [0.353]);
  const c = datasetInfo("cifar10");
  assert.deepEqual(c.shape, [3, 32, 32]);
  assert.deepEqual(c.mean, [0.4914, 0.4822, 0.4465]);
  assert.deepEqual(c.std, [0.2023, 0.1994, 0.201]);
  assert.equal(c.trainCount, 50000);
  assert.equal(datasetInfo("cifar100").classes, 100);
  assert.equal(datasetInfo("cifar100").mean.length, 3);
  c.mean[0] = 99;
  c.shape[0] = 99;
  assert.equal(datasetInfo("cifar10").mean[0], 0.4914, "returns copies");
  assert.equal(datasetInfo("cifar10").shape[0], 3, "returns copies");
  assert.throws(() => datasetInfo("imagenet" as "mnist"), /Unknown dataset 'imagenet'/);
});

Deno.test("datasetInfo names every class by label", () => {
  for (const d of ["mnist", "fmnist", "cifar10", "cifar100"] as const) {
    const info = datasetInfo(d);
    assert.equal(info.classNames.length, info.classes, d);
    assert.equal(new Set(info.classNames).size, info.classes, `${d}: names repeat`);
  }
  // Fashion-MNIST's labels 0..9 as its authors list them; CIFAR-10's batches.meta.txt.
  assert.deepEqual(datasetInfo("fmnist").classNames, [
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
  ]);
  assert.deepEqual(datasetInfo("cifar10").classNames.slice(0, 3), [
    "airplane",
    "automobile",
    "bird",
  ]);
  assert.equal(datasetInfo("cifar10").classNames[9], "truck");
  // CIFAR-100's fine labels are numbered in alphabetical order of their names.
  const fine = datasetInfo("cifar100").classNames;
  assert.deepEqual([...fine].sort(), fine);
  assert.deepEqual([fine[0], fine[1], fine[58], fine[99]], [
    "apple",
    "aquarium_fish",
    "pickup_truck",
    "worm",
  ]);
  fine[0] = "x";
  assert.equal(datasetInfo("cifar100").classNames[0], "apple", "returns copies");
});

// ---------------------------------------------------------------- the real thing

const FMNIST_DIR = "/usr/share/datasets/fashion-mnist";
const hasFmnist = (() => {
  try {
    return Deno.statSync(`${FMNIST_DIR}/train-images-idx3-ubyte.gz`).isFile;
  } catch {
    return false;
  }
})();
if (!hasFmnist) {
  console.log(
    `skipping the real Fashion-MNIST test: ${FMNIST_DIR} is absent (apt-get install dataset-fashion-mnist)`,
  );
}

Deno.test({
  name: "real Fashion-MNIST from /usr/share/datasets/fashion-mnist",
  ignore: !hasFmnist,
  fn: async () => {
    await withTemp(async (tmp) => {
      // default system folders, nothing else
      const o: LoadDatasetOptions = {
        env: {},
        cacheDir: `${tmp}/cache`,
        download: false,
        fetch: noFetch,
        log: () => {},
      };
      const info = datasetInfo("fmnist");
      for (const split of ["train", "test"] as const) {
        const ds = await loadDataset("fmnist", split, o);
        const n = split === "train" ? 60000 : 10000;
        assert.equal(ds.count, n);
        assert.equal(ds.images.length, n * 784);
        assert.equal(ds.labels.length, n);
        // Fashion-MNIST is balanced: n / 10 images per class
        const perClass = new Array(10).fill(0);
        for (const l of ds.labels) perClass[l]++;
        assert.deepEqual(perClass, new Array(10).fill(n / 10));
        assert.equal(ds.files.length, 2);
        assert.ok(ds.files.every((f) => f.path.startsWith(FMNIST_DIR)));
        for (const f of ds.files) assert.equal(f.sha256, sha256(await Deno.readFile(f.path)));
        if (split === "train") {
          let s = 0, s2 = 0;
          for (const p of ds.images) {
            s += p / 255;
            s2 += (p / 255) ** 2;
          }
          const mean = s / ds.images.length;
          const std = Math.sqrt(s2 / ds.images.length - mean * mean);
          assert.ok(Math.abs(mean - info.mean[0]) < 5e-4, `mean ${mean}`);
          assert.ok(Math.abs(std - info.std[0]) < 5e-4, `std ${std}`);
        }
      }
      // the same files are refused as MNIST (same file names, different content)
      await assert.rejects(
        loadDataset("mnist", "test", { ...o, dir: FMNIST_DIR }),
        /Cannot load MNIST test from '\/usr\/share\/datasets\/fashion-mnist': mean pixel 0\.28\d\d expected about 0\.1307 \(they look like Fashion-MNIST\)/,
      );
    });
  },
});
