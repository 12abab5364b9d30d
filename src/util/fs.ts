/**
 * File helpers: atomic writes, shared by the run writer, the dataset cache,
 * safetensors and the report.
 *
 * @module
 */

import { dirname } from "node:path";

/**
 * Writes `data` to `path` atomically and durably: creates the parent folders,
 * writes a temporary file next to `path`, flushes it to disk, renames it over
 * `path`, then flushes the folder so the rename itself survives a crash. A
 * reader or a crash never sees half a file; on failure the temporary file is
 * removed, `path` is left as it was, and the error names `path`. Temporary
 * files are named `.<name>.tmp-<pid>-<8 hex>` ({@link isTempFile}).
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "./fs.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/a/b.txt`, "hello");
 * if (await Deno.readTextFile(`${dir}/a/b.txt`) !== "hello") throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(path);
  const base = path.slice(path.lastIndexOf("/") + 1);
  const tmp = `${dir}/.${base}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.mkdir(dir, { recursive: true });
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const f = await Deno.open(tmp, { write: true, createNew: true });
    try {
      for (let at = 0; at < bytes.length;) at += await f.write(bytes.subarray(at));
      await f.syncData();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`Cannot write '${path}': ${(e as Error).message}`);
  }
  await syncFolder(dir);
}

/** Flushes a folder's entries (a rename) to disk; a no-op where folders cannot be opened. */
async function syncFolder(dir: string): Promise<void> {
  let d: Deno.FsFile | undefined;
  try {
    d = await Deno.open(dir, { read: true });
    await d.syncData();
  } catch {
    // Some systems cannot open or sync a folder; the file itself is already durable.
  } finally {
    d?.close();
  }
}

/** Whether a file name is one of {@link writeFileAtomic}'s temporary files. */
export function isTempFile(name: string): boolean {
  return /^\..+\.tmp-\d+-[0-9a-f]{8}$/.test(name);
}

/** What is at `path`: "file", "dir", or null when nothing (or unreadable). */
export async function statKind(path: string): Promise<"file" | "dir" | null> {
  try {
    const s = await Deno.stat(path);
    return s.isFile ? "file" : s.isDirectory ? "dir" : null;
  } catch {
    return null;
  }
}
