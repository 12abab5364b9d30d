/**
 * File helpers for dataset loading: existence checks, hashes and atomic writes.
 *
 * @module
 */

import { createHash } from "node:crypto";

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

export { writeFileAtomic } from "../util/fs.ts";
