/**
 * Command-line helpers shared by the tasks.
 *
 * @module
 */

/** Parses `--name`'s value as a positive integer (undefined when absent); errors name the option. */
export function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`--${name}: expected a positive integer, got '${v}'`);
  }
  return n;
}
