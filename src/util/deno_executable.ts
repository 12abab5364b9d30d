/**
 * The Deno to start another Deno process with.
 *
 * @module
 */

/**
 * The running Deno (`Deno.execPath()`) where this process may run it (the
 * tasks grant running programs whole), else `deno` from PATH (a grant of
 * `--allow-run=deno` alone: Deno matches that name through PATH, and an
 * npm-installed Deno's own path is a link target a grant cannot name
 * portably). Not `deno` from PATH first: `deno task` resolves `deno` to
 * itself only in a task's command line, and another Deno first on PATH (a
 * site's module of an older version, a wrapper) would do the work.
 *
 * @example
 * ```ts
 * import { denoExecutable } from "./deno_executable.ts";
 * // Under `deno test -A` every program may run: this very Deno.
 * if (denoExecutable() !== Deno.execPath()) throw new Error(denoExecutable());
 * ```
 */
export function denoExecutable(): string {
  const self = Deno.execPath();
  return Deno.permissions.querySync({ name: "run", command: self }).state === "granted"
    ? self
    : "deno";
}
