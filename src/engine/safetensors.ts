/**
 * Reading and writing the safetensors format
 * (https://huggingface.co/docs/safetensors):
 *
 * - 8 bytes: little-endian u64 `N`, the header length;
 * - `N` bytes: UTF-8 JSON `{name: {dtype, shape, data_offsets: [begin, end]}}`
 *   plus an optional `__metadata__` string-to-string map, padded with spaces
 *   to a multiple of 8;
 * - the raw little-endian tensor data; offsets are relative to its start and
 *   must cover it exactly, without gaps or overlaps.
 *
 * Writing produces F32 tensors laid out as the reference implementation does
 * (tensors sorted by name, `__metadata__` first, compact JSON). Reading accepts
 * F32, F16, BF16 and F64 and returns Float32Array data.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { writeFileAtomic } from "../util/fs.ts";

/** A tensor to write: row-major float32 data with its shape. */
export interface TensorInput {
  /** Dimensions. */
  shape: number[];
  /** Values in row-major order, `product(shape)` floats. */
  data: Float32Array;
}

/** A tensor read back: its stored dtype, shape and data converted to float32. */
export interface DecodedTensor {
  /** The dtype as stored: "F32", "F16", "BF16" or "F64". */
  dtype: string;
  /** Dimensions. */
  shape: number[];
  /** Values converted to float32, row-major, `product(shape)` floats. */
  data: Float32Array;
}

/** The content of a safetensors file. */
export interface DecodedSafetensors {
  /** Tensors by name. */
  tensors: Record<string, DecodedTensor>;
  /** The `__metadata__` map ({} when absent). */
  metadata: Record<string, string>;
}

/** Bytes per element of every dtype the format defines. */
const DTYPE_SIZES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};
const SUPPORTED = ["F32", "F16", "BF16", "F64"];
const MAX_HEADER = 100_000_000;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function shapeText(shape: readonly unknown[]): string {
  return `[${shape.map((d) => String(d)).join(", ")}]`;
}

function describe(x: unknown): string {
  if (x === null) return "null";
  if (typeof x !== "object") return typeof x;
  return x.constructor?.name ?? "object";
}

function elementCount(shape: number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Serialises float32 tensors (and optional string metadata) to safetensors bytes.
 * Tensors are stored in name order; the header is padded to 8 bytes so data
 * stays aligned. Throws on invalid shapes, data lengths, names or metadata.
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
 * const bytes = encodeSafetensors({ w: { shape: [2], data: new Float32Array([1, 2]) } }, { epoch: "3" });
 * const back = decodeSafetensors(bytes);
 * if (back.tensors.w.data[1] !== 2 || back.metadata.epoch !== "3") throw new Error();
 * ```
 */
export function encodeSafetensors(
  tensors: Record<string, TensorInput>,
  metadata?: Record<string, string>,
): Uint8Array {
  const names = Object.keys(tensors).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const parts: string[] = [];
  if (metadata !== undefined) {
    const entries = Object.keys(metadata).sort().map((k) => {
      const v = metadata[k];
      if (typeof v !== "string") {
        throw new Error(
          `Cannot encode safetensors: metadata '${k}' expected a string, got ${typeof v} ${
            String(v)
          }`,
        );
      }
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`"__metadata__":{${entries.join(",")}}`);
  }
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    if (name === "__metadata__") {
      throw new Error(
        "Cannot encode safetensors: tensor name '__metadata__' is reserved for metadata",
      );
    }
    if (t === null || typeof t !== "object" || !(t.data instanceof Float32Array)) {
      const got = t === null || typeof t !== "object"
        ? String(t)
        : `data of type ${describe((t as { data?: unknown }).data)}`;
      throw new Error(
        `Cannot encode safetensors: tensor '${name}' expected {shape, data: Float32Array}, got ${got}`,
      );
    }
    if (!Array.isArray(t.shape) || t.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      throw new Error(
        `Cannot encode safetensors: tensor '${name}' expected a shape of non-negative integers, got ${
          Array.isArray(t.shape) ? shapeText(t.shape) : String(t.shape)
        }`,
      );
    }
    const n = elementCount(t.shape);
    if (n !== t.data.length) {
      throw new Error(
        `Cannot encode safetensors: tensor '${name}' shape ${
          shapeText(t.shape)
        } expected ${n} elements, got ${t.data.length}`,
      );
    }
    const end = offset + 4 * n;
    parts.push(
      `${JSON.stringify(name)}:{"dtype":"F32","shape":[${
        t.shape.join(",")
      }],"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const name of names) {
    const d = tensors[name].data;
    if (LITTLE_ENDIAN) {
      out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), pos);
    } else {
      for (let i = 0; i < d.length; i++) view.setFloat32(pos + 4 * i, d[i], true);
    }
    pos += d.byteLength;
  }
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function convert(bytes: Uint8Array, dtype: string, n: number): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  switch (dtype) {
    case "F32":
      if (LITTLE_ENDIAN) return new Float32Array(bytes.slice().buffer);
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    case "F64":
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
      return out;
    case "F16":
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
      return out;
    case "BF16": {
      const u = new Uint32Array(out.buffer);
      // bfloat16 is the upper half of a float32 (host-endian aliasing on both sides)
      for (let i = 0; i < n; i++) u[i] = view.getUint16(2 * i, true) << 16;
      return out;
    }
  }
  throw new Error(`unreachable dtype ${dtype}`);
}

/**
 * Parses safetensors bytes. Validates the header length, the JSON, every
 * tensor's dtype, shape and offsets (inside the data, matching
 * `prod(shape) * dtype size`, contiguous without gaps or overlaps, covering
 * the data exactly). F32, F16, BF16 and F64 are converted to Float32Array;
 * other dtypes are rejected. `source` names the file in error messages.
 */
export function decodeSafetensors(bytes: Uint8Array, source = "<bytes>"): DecodedSafetensors {
  const fail = (msg: string): never => {
    throw new Error(`Cannot read safetensors '${source}': ${msg}`);
  };
  if (bytes.length < 8) {
    fail(`expected at least 8 bytes (header length), got ${bytes.length} bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  const available = bytes.length - 8;
  if (n64 > BigInt(available)) {
    fail(`header length ${n64} is beyond the file: only ${available} bytes follow the length`);
  }
  const n = Number(n64);
  if (n > MAX_HEADER) fail(`header length ${n} is over the limit of ${MAX_HEADER} bytes`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    return fail(`header (${n} bytes) is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    const shown = text.length > 80 ? `${text.slice(0, 80)}...` : text;
    return fail(`header is not valid JSON (${(e as Error).message}): ${JSON.stringify(shown)}`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    fail(`header expected a JSON object, got ${Array.isArray(header) ? "array" : String(header)}`);
  }
  const h = header as Record<string, unknown>;
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;

  const metadata: Record<string, string> = {};
  if (Object.hasOwn(h, "__metadata__")) {
    const m = h["__metadata__"];
    if (m === null || typeof m !== "object" || Array.isArray(m)) {
      fail(`'__metadata__' expected an object of strings, got ${JSON.stringify(m)}`);
    }
    for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
      if (typeof v !== "string") {
        fail(`'__metadata__' entry '${k}' expected a string, got ${JSON.stringify(v)}`);
      }
      Object.defineProperty(metadata, k, {
        value: v,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }

  interface Entry {
    name: string;
    dtype: string;
    shape: number[];
    begin: number;
    end: number;
  }
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(h)) {
    if (name === "__metadata__") continue;
    const where = `tensor '${name}'`;
    if (info === null || typeof info !== "object" || Array.isArray(info)) {
      fail(`${where} expected {dtype, shape, data_offsets}, got ${JSON.stringify(info)}`);
    }
    const { dtype, shape, data_offsets } = info as Record<string, unknown>;
    if (typeof dtype !== "string" || !(dtype in DTYPE_SIZES)) {
      fail(
        `${where} has unknown dtype ${JSON.stringify(dtype)}, expected one of ${
          Object.keys(DTYPE_SIZES).join(", ")
        }`,
      );
    }
    const dt = dtype as string;
    if (!SUPPORTED.includes(dt)) {
      fail(
        `${where} has dtype ${dt}, which is not supported: expected one of ${SUPPORTED.join(", ")}`,
      );
    }
    if (
      !Array.isArray(shape) ||
      shape.some((d) => typeof d !== "number" || !Number.isSafeInteger(d) || d < 0)
    ) {
      fail(`${where} expected a shape of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (
      !Array.isArray(data_offsets) || data_offsets.length !== 2 ||
      data_offsets.some((d) => typeof d !== "number" || !Number.isSafeInteger(d) || d < 0)
    ) {
      fail(
        `${where} expected data_offsets [begin, end] of non-negative integers, got ${
          JSON.stringify(data_offsets)
        }`,
      );
    }
    const [begin, end] = data_offsets as number[];
    if (end < begin) fail(`${where} has data_offsets [${begin}, ${end}] with end before begin`);
    if (end > dataLen) {
      fail(
        `${where} has data_offsets [${begin}, ${end}] out of range: the data section has ${dataLen} bytes`,
      );
    }
    const sh = shape as number[];
    const expected = elementCount(sh) * DTYPE_SIZES[dt];
    if (end - begin !== expected) {
      fail(
        `${where} with dtype ${dt} and shape ${
          shapeText(sh)
        } expected ${expected} bytes, got data_offsets [${begin}, ${end}] (${end - begin} bytes)`,
      );
    }
    entries.push({ name, dtype: dt, shape: sh, begin, end });
  }

  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: Entry | undefined;
  for (const e of entries) {
    if (e.begin < pos) {
      fail(
        `tensor '${e.name}' data_offsets [${e.begin}, ${e.end}] overlap tensor '${prev!.name}' [${
          prev!.begin
        }, ${prev!.end}]`,
      );
    }
    if (e.begin > pos) {
      fail(
        `tensor '${e.name}' expected to start at byte ${pos} of the data, got ${e.begin} (a gap of ${
          e.begin - pos
        } bytes)`,
      );
    }
    pos = e.end;
    prev = e;
  }
  if (pos !== dataLen) {
    fail(
      `tensors cover ${pos} bytes of data, but the data section has ${dataLen} bytes (expected equal)`,
    );
  }

  const tensors: Record<string, DecodedTensor> = {};
  for (const e of entries) {
    const raw = bytes.subarray(dataStart + e.begin, dataStart + e.end);
    const value: DecodedTensor = {
      dtype: e.dtype,
      shape: e.shape.slice(),
      data: convert(raw, e.dtype, elementCount(e.shape)),
    };
    Object.defineProperty(tensors, e.name, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return { tensors, metadata };
}

/**
 * Metadata key under which {@link writeSafetensors} records the SHA-256 of
 * the file as encoded without this key (names, shapes, metadata and every
 * tensor byte); {@link readSafetensors} checks it and removes it.
 */
export const CHECKSUM_KEY = "firstspike.sha256";

function checksum(tensors: Record<string, TensorInput>, metadata?: Record<string, string>): string {
  // No metadata and empty metadata read back alike, so they hash alike.
  const meta = metadata && Object.keys(metadata).length ? metadata : undefined;
  return createHash("sha256").update(encodeSafetensors(tensors, meta)).digest("hex");
}

/**
 * Encodes tensors and writes them to `path` atomically and durably: the
 * bytes go to a temporary file in the same folder, flushed to disk, which is
 * then renamed over `path`. If encoding or writing fails, `path` is left as
 * it was and no temporary file remains. The file carries a checksum of its
 * contents ({@link CHECKSUM_KEY}) that {@link readSafetensors} verifies.
 *
 * @example
 * ```ts
 * import { readSafetensors, writeSafetensors } from "./safetensors.ts";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await writeSafetensors(path, { b: { shape: [1], data: new Float32Array([0.5]) } });
 * if ((await readSafetensors(path)).tensors.b.data[0] !== 0.5) throw new Error();
 * await Deno.remove(path);
 * ```
 */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, TensorInput>,
  metadata?: Record<string, string>,
): Promise<void> {
  let bytes: Uint8Array;
  try {
    if (metadata && CHECKSUM_KEY in metadata) {
      throw new Error(`metadata key '${CHECKSUM_KEY}' is reserved for the file's checksum`);
    }
    const sum = checksum(tensors, metadata);
    bytes = encodeSafetensors(tensors, { ...metadata, [CHECKSUM_KEY]: sum });
  } catch (e) {
    throw new Error(
      `Cannot write safetensors '${path}': ${
        (e as Error).message.replace(/^Cannot encode safetensors: /, "")
      }`,
    );
  }
  await writeFileAtomic(path, bytes).catch((e: Error) => {
    throw new Error(e.message.replace(/^Cannot write /, "Cannot write safetensors "));
  });
}

/**
 * Reads and decodes a safetensors file; errors name the file (see
 * {@link decodeSafetensors}). The header's size and the data size it
 * describes are checked against the file's size before the data is read, so
 * a damaged or foreign file is refused without reading it whole. A file with
 * a {@link CHECKSUM_KEY} must match it (the key is not returned).
 */
export async function readSafetensors(path: string): Promise<DecodedSafetensors> {
  const fail = (msg: string): never => {
    throw new Error(`Cannot read safetensors '${path}': ${msg}`);
  };
  let bytes: Uint8Array;
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(path, { read: true });
    const size = (await file.stat()).size;
    const head = new Uint8Array(Math.min(8, size));
    await readFull(file, head);
    if (size >= 8) {
      const n = Number(new DataView(head.buffer).getBigUint64(0, true));
      if (n > size - 8) {
        fail(`header length ${n} is beyond the file: only ${size - 8} bytes follow the length`);
      }
      if (n > MAX_HEADER) fail(`header length ${n} is over the limit of ${MAX_HEADER} bytes`);
      const header = new Uint8Array(n);
      await readFull(file, header);
      const described = describedDataBytes(header);
      // A header that does not parse is reported before the data is read (a damaged
      // multi-GB file is not read whole to say that its first bytes are wrong).
      if (described === null) decodeSafetensors(concatBytes(head, header), path);
      if (described !== null && described !== size - 8 - n) {
        fail(
          `the header describes ${described} bytes of tensor data, but the file holds ${
            size - 8 - n
          } (truncated or damaged)`,
        );
      }
      bytes = new Uint8Array(size);
      bytes.set(head, 0);
      bytes.set(header, 8);
      await readFull(file, bytes.subarray(8 + n));
    } else {
      bytes = head;
    }
  } catch (e) {
    if ((e as Error).message.startsWith("Cannot read safetensors")) throw e;
    throw new Error(`Cannot read safetensors '${path}': ${(e as Error).message}`);
  } finally {
    file?.close();
  }
  const decoded = decodeSafetensors(bytes, path);
  const want = decoded.metadata[CHECKSUM_KEY];
  if (want !== undefined) {
    delete decoded.metadata[CHECKSUM_KEY];
    const f32 = Object.values(decoded.tensors).every((t) => t.dtype === "F32");
    const got = f32 ? checksum(decoded.tensors, decoded.metadata) : "(not all tensors F32)";
    if (got !== want) {
      fail(
        `checksum mismatch: written with SHA-256 ${want}, its contents now hash to ${got} ` +
          `(the file is corrupt: changed bits or a partial copy)`,
      );
    }
  }
  return decoded;
}

/** Reads exactly `buf.length` bytes from the file's current position. */
async function readFull(file: Deno.FsFile, buf: Uint8Array): Promise<void> {
  let at = 0;
  while (at < buf.length) {
    const n = await file.read(buf.subarray(at));
    if (n === null) throw new Error(`unexpected end of file after ${at} of ${buf.length} bytes`);
    at += n;
  }
}

/** The data bytes a header describes (the largest end offset), or null if it cannot tell. */
function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function describedDataBytes(header: Uint8Array): number | null {
  try {
    const h = JSON.parse(new TextDecoder().decode(header)) as Record<string, unknown>;
    let end = 0;
    for (const [k, v] of Object.entries(h)) {
      if (k === "__metadata__") continue;
      const o = (v as { data_offsets?: unknown })?.data_offsets;
      if (!Array.isArray(o) || typeof o[1] !== "number") return null;
      end = Math.max(end, o[1]);
    }
    return end;
  } catch {
    return null; // decodeSafetensors reports the exact problem
  }
}
