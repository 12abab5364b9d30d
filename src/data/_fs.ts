/**
 * File helpers for dataset loading: existence checks, hashes and atomic writes.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** Lower-case hex digest of `bytes` (`md5` or `sha256`). */
export function digestHex(algorithm: "md5" | "sha256", bytes: Uint8Array): string {
  return createHash(algorithm).update(bytes).digest("hex");
}

export { statKind, writeFileAtomic } from "../util/fs.ts";
