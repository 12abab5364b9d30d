/**
 * Layer 2, experiments: the YAML experiment schema with the reference's
 * defaults and errors that name file, line, column and key (`config.ts`),
 * grids expanded into points with stable ids (`grid.ts`), settings and
 * sweeps from the command line (`overrides.ts`), and the JSON Schema of
 * experiment files for editors (`json_schema.ts`).
 *
 * May import: `engine/` (the architecture and GPU-selection parsers), `util/`.
 *
 * @module
 */

export * from "./config.ts";
export * from "./grid.ts";
export * from "./json_schema.ts";
export * from "./overrides.ts";
export * from "./search_spec.ts";
