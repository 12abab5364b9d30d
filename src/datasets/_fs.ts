/**
 * File helpers for dataset loading: existence checks, hashes and atomic writes.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { dirname } from "node:path";

/** What is at `path`: "file", "dir", or null when nothing (or unreadable). */
export async function statKind(path: string): Promise<"file" | "dir" | null> {
  try {
    const s = await Deno.stat(path);
    return s.isFile ? "file" : s.isDirectory ? "dir" : null;
  } catch {
    return null;
  }
}

/** Lower-case hex digest of `bytes` (`md5` or `sha256`). */
export function digestHex(algorithm: "md5" | "sha256", bytes: Uint8Array): string {
  return createHash(algorithm).update(bytes).digest("hex");
}

/**
 * Writes `bytes` to `path` atomically: creates the parent folders, writes a
 * temporary file next to `path`, then renames it. On failure the temporary
 * file is removed and `path` is untouched.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  const base = path.slice(path.lastIndexOf("/") + 1);
  const tmp = `${dir}/.${base}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeFile(tmp, bytes);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`Cannot write '${path}': ${(e as Error).message}`);
  }
}
