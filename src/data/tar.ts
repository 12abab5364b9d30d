/**
 * A small reader for tar archives (POSIX ustar, with the GNU long-name and
 * pax `path` extensions), enough to unpack the CIFAR downloads in memory.
 *
 * Each member is a 512-byte header (name at 0..100, size as octal text at
 * 124..136, checksum at 148..156, type flag at 156, "ustar" magic at 257,
 * name prefix at 345..500) followed by its data padded to 512 bytes; the
 * archive ends with two zero blocks.
 *
 * @module
 */

/** A regular file inside a tar archive; `data` is a view into the archive bytes. */
export interface TarEntry {
  name: string;
  data: Uint8Array;
}

const BLOCK = 512;

function cString(bytes: Uint8Array, start: number, length: number): string {
  let end = start;
  while (end < start + length && bytes[end] !== 0) end++;
  return new TextDecoder().decode(bytes.subarray(start, end));
}

function parseNumber(h: Uint8Array, start: number, length: number): number {
  if (h[start] & 0x80) {
    // GNU base-256: big-endian two's complement, first byte's top bit is the marker
    let v = h[start] & 0x7f;
    for (let i = start + 1; i < start + length; i++) v = v * 256 + h[i];
    return v;
  }
  const text = cString(h, start, length).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) return NaN;
  return parseInt(text, 8);
}

/** Parses a pax extended header body: lines "LEN key=value\n". */
function parsePax(data: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    let sp = pos;
    while (sp < data.length && data[sp] !== 0x20) sp++;
    const len = parseInt(new TextDecoder().decode(data.subarray(pos, sp)), 10);
    if (!(len > 0) || pos + len > data.length) break;
    const record = new TextDecoder().decode(data.subarray(sp + 1, pos + len - 1));
    const eq = record.indexOf("=");
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += len;
  }
  return out;
}

/**
 * Lists the regular files of an (uncompressed) tar archive. Directories,
 * links and other entries are skipped. Header checksums are verified and a
 * truncated archive is an error naming `source`.
 *
 * @example
 * ```ts
 * import { readTar } from "./tar.ts";
 * if (readTar(new Uint8Array(1024), "empty.tar").length !== 0) throw new Error();
 * ```
 */
export function readTar(bytes: Uint8Array, source: string): TarEntry[] {
  const fail = (msg: string): never => {
    throw new Error(`Cannot read tar archive '${source}': ${msg}`);
  };
  const entries: TarEntry[] = [];
  let pos = 0;
  let longName: string | undefined;
  let paxPath: string | undefined;
  let sawEnd = false;
  while (pos + BLOCK <= bytes.length) {
    const h = bytes.subarray(pos, pos + BLOCK);
    if (h.every((b) => b === 0)) {
      sawEnd = true;
      break;
    }
    const stored = parseNumber(h, 148, 8);
    let unsigned = 0, signed = 0;
    for (let i = 0; i < BLOCK; i++) {
      const b = i >= 148 && i < 156 ? 0x20 : h[i];
      unsigned += b;
      signed += b > 127 ? b - 256 : b;
    }
    if (stored !== unsigned && stored !== signed) {
      fail(`header at byte ${pos} has checksum ${stored}, expected ${unsigned} (corrupt archive)`);
    }
    const size = parseNumber(h, 124, 12);
    if (!Number.isSafeInteger(size) || size < 0) {
      fail(`header at byte ${pos} has an invalid size field`);
    }
    const type = String.fromCharCode(h[156] || 0x30);
    const dataStart = pos + BLOCK;
    const dataEnd = dataStart + size;
    if (dataEnd > bytes.length) {
      fail(
        `member '${cString(h, 0, 100)}' needs bytes ${dataStart}..${dataEnd}, ` +
          `but the archive has only ${bytes.length} bytes (truncated)`,
      );
    }
    const data = bytes.subarray(dataStart, dataEnd);
    let name = cString(h, 0, 100);
    if (cString(h, 257, 5) === "ustar") {
      const prefix = cString(h, 345, 155);
      if (prefix !== "") name = `${prefix}/${name}`;
    }
    if (type === "L") {
      longName = cString(data, 0, data.length);
    } else if (type === "x") {
      paxPath = parsePax(data)["path"] ?? paxPath;
    } else if (type === "g") {
      // global pax header: nothing we need
    } else {
      if (paxPath !== undefined) name = paxPath;
      else if (longName !== undefined) name = longName;
      longName = undefined;
      paxPath = undefined;
      if (type === "0" || type === "7") entries.push({ name, data });
    }
    pos = dataStart + Math.ceil(size / BLOCK) * BLOCK;
  }
  if (!sawEnd && pos !== bytes.length) {
    fail(`archive is truncated: it ends at byte ${bytes.length}, inside a 512-byte block`);
  }
  return entries;
}
