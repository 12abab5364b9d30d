/**
 * Layer 0, helpers: the seeded random generator (`rng.ts`), atomic file
 * writes (`fs.ts`), permission-aware environment reads (`env.ts`) and the
 * Deno to start another process with (`deno_executable.ts`). Pure utilities with no knowledge of networks or runs.
 *
 * May import: Deno and Node built-ins only, no other layer of `src/`.
 *
 * @module
 */

export * from "./rng.ts";
export * from "./fs.ts";
export * from "./env.ts";
export * from "./deno_executable.ts";
