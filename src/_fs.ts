/**
 * File helpers shared by the run writer: atomic text writes.
 *
 * @module
 */

import { dirname } from "node:path";

/**
 * Writes `text` to `path` atomically: a temporary file in the same folder,
 * then a rename, so a reader or a crash never sees half a file.
 */
export async function atomicWriteText(path: string, text: string): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}
