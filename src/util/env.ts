/**
 * Environment variables read only where this process may read them: a
 * library user (a script importing `mod.ts` from any folder) or a task with
 * `--allow-env=NAME,...` gets `undefined` for a variable it was not granted,
 * instead of a permission prompt or a `NotCapable` error.
 *
 * @example
 * ```ts
 * import { envGet } from "./env.ts";
 * // Granted under `deno test -A`; a script without --allow-env gets undefined.
 * const home = envGet("HOME");
 * if (home !== undefined && typeof home !== "string") throw new Error();
 * ```
 *
 * @module
 */

/** Whether this process may read (and set) the variable, without prompting. */
export function envAllowed(name: string): boolean {
  return Deno.permissions.querySync({ name: "env", variable: name }).state === "granted";
}

/** The variable's value; undefined when it is unset or this process may not read it. */
export function envGet(name: string): string | undefined {
  return envAllowed(name) ? Deno.env.get(name) : undefined;
}

/** The named variables this process may read, as a record (unset or not granted: absent). */
export function envRecord(names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = envGet(n);
    if (v !== undefined) out[n] = v;
  }
  return out;
}
