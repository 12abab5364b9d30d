/**
 * IDX files (the MNIST / Fashion-MNIST format), raw or gzipped.
 *
 * An IDX file starts with a big-endian u32 magic `0x000008NN` (`08`: unsigned
 * bytes, `NN`: number of dimensions), then one big-endian u32 per dimension,
 * then the data. Images use magic 2051 (3 dims: count, rows, cols), labels
 * magic 2049 (1 dim: count).
 *
 * @module
 */

import { gunzipSync } from "node:zlib";

/** Magic number of IDX image files (unsigned bytes, 3 dimensions). */
export const IDX_IMAGES_MAGIC = 2051;
/** Magic number of IDX label files (unsigned bytes, 1 dimension). */
export const IDX_LABELS_MAGIC = 2049;

/** Images read from an IDX file: `count * rows * cols` bytes, row-major. */
export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  pixels: Uint8Array;
}

/**
 * Returns the bytes, gunzipped when they start with the gzip signature
 * (1f 8b). `source` names the file in errors (e.g. a truncated archive).
 */
export function maybeGunzip(bytes: Uint8Array, source: string): Uint8Array {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      const out = gunzipSync(bytes);
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    } catch (e) {
      throw new Error(
        `Cannot read dataset file '${source}': gzip data is corrupt or truncated (${
          (e as Error).message
        })`,
      );
    }
  }
  return bytes;
}

function parseIdx(
  bytes: Uint8Array,
  source: string,
  magic: number,
  what: string,
): { dims: number[]; data: Uint8Array } {
  const fail = (msg: string): never => {
    throw new Error(`Cannot read dataset file '${source}': ${msg}`);
  };
  const ndims = magic & 0xff;
  const headerLen = 4 + 4 * ndims;
  if (bytes.length < 4) {
    fail(
      `expected an IDX file (${what}) of at least ${headerLen} bytes, got ${bytes.length} bytes`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const got = view.getUint32(0, false);
  if (got !== magic) {
    fail(
      `expected IDX magic number ${magic} (${what}), got ${got}` +
        (got === IDX_IMAGES_MAGIC ? " (an image file)" : "") +
        (got === IDX_LABELS_MAGIC ? " (a label file)" : ""),
    );
  }
  if (bytes.length < headerLen) {
    fail(`expected an IDX header of ${headerLen} bytes (${what}), got ${bytes.length} bytes`);
  }
  const dims: number[] = [];
  let size = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    size *= d;
  }
  const expected = headerLen + size;
  if (bytes.length !== expected) {
    fail(
      `header says [${dims.join(", ")}], so expected ${expected} bytes, got ${bytes.length} bytes` +
        (bytes.length < expected ? " (truncated)" : " (trailing data)"),
    );
  }
  return { dims, data: bytes.subarray(headerLen) };
}

/**
 * Parses an IDX image file (raw or gzipped): checks the magic number 2051
 * and that the size matches `count * rows * cols`. The pixels are copied into
 * a fresh Uint8Array.
 *
 * @example
 * ```ts
 * import { readIdxImages } from "./idx.ts";
 * const b = new Uint8Array([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 7, 9]);
 * const img = readIdxImages(b, "tiny");
 * if (img.count !== 1 || img.cols !== 2 || img.pixels[1] !== 9) throw new Error();
 * ```
 */
export function readIdxImages(bytes: Uint8Array, source: string): IdxImages {
  const raw = maybeGunzip(bytes, source);
  const { dims, data } = parseIdx(raw, source, IDX_IMAGES_MAGIC, "unsigned byte images, 3 dims");
  return { count: dims[0], rows: dims[1], cols: dims[2], pixels: data.slice() };
}

/**
 * Parses an IDX label file (raw or gzipped): checks the magic number 2049
 * and the size. Labels are copied into a fresh Uint8Array.
 */
export function readIdxLabels(bytes: Uint8Array, source: string): Uint8Array {
  const raw = maybeGunzip(bytes, source);
  return parseIdx(raw, source, IDX_LABELS_MAGIC, "unsigned byte labels, 1 dim").data.slice();
}
