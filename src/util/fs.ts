/**
 * File helpers: atomic writes, shared by the run writer, the dataset cache,
 * safetensors and the report.
 *
 * @module
 */

import { dirname } from "node:path";

/**
 * Writes `data` to `path` atomically: creates the parent folders, writes a
 * temporary file next to `path`, then renames it over `path`. A reader or a
 * crash never sees half a file; on failure the temporary file is removed,
 * `path` is left as it was, and the error names `path`.
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
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`Cannot write '${path}': ${(e as Error).message}`);
  }
}
