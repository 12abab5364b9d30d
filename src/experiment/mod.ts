/**
 * Layer 2, experiments: the YAML experiment schema with the reference's
 * defaults and errors that name file, line, column and key (`config.ts`),
 * grids expanded into points with stable ids (`grid.ts`), and settings
 * and sweeps from the command line (`overrides.ts`).
 *
 * May import: `engine/` (the architecture parser), `util/`.
 *
 * @module
 */

export * from "./config.ts";
export * from "./grid.ts";
export * from "./overrides.ts";
