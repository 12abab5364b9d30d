/**
 * What a run records about where it ran: firstspike's version and git
 * commit, Deno's version, the adapter, and the dataset files' checksums.
 *
 * @module
 */

import config from "../../deno.json" with { type: "json" };
import type { Engine } from "../engine/gpu.ts";

/** firstspike's version (from deno.json). */
export const VERSION: string = config.version;

/** The git commit of the firstspike checkout, with `-dirty` if it has local changes; null outside git. */
export async function gitCommit(): Promise<string | null> {
  const url = new URL("../..", import.meta.url);
  if (url.protocol !== "file:") return null;
  const cwd = decodeURIComponent(url.pathname);
  const run = async (args: string[]) => {
    const out = await new Deno.Command("git", { args, cwd, stdout: "piped", stderr: "null" })
      .output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
  };
  try {
    const head = await run(["rev-parse", "HEAD"]);
    if (!head) return null;
    const dirty = await run(["status", "--porcelain", "--untracked-files=no"]);
    return dirty ? `${head}-dirty` : head;
  } catch {
    return null;
  }
}

/** The provenance section of a run.yaml. */
export async function provenance(
  engine: Engine,
  files: { path: string; sha256: string }[],
): Promise<Record<string, unknown>> {
  return {
    firstspike: VERSION,
    commit: await gitCommit(),
    deno: Deno.version.deno,
    adapter: engine.adapterName,
    host: Deno.hostname(),
    started: new Date().toISOString(),
    datasets: files.map((f) => ({ path: f.path, sha256: f.sha256 })),
  };
}
