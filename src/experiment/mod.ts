/**
 * Layer 2, experiments: the YAML experiment schema with the reference's
 * defaults and errors that name file, line, column and key (`config.ts`),
 * and grids expanded into points with stable ids (`grid.ts`).
 *
 * May import: `engine/` (the architecture parser), `util/`.
 *
 * @module
 */

export * from "./config.ts";
export * from "./grid.ts";
