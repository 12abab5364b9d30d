/**
 * Layer 4, reports: reads run folders (`load.ts`), summarises them in tables
 * grouped over seeds (`table.ts`), draws figures (`figures.ts`, `svg.ts`) and
 * writes a report folder (`report.ts`). Reads files only; it never touches
 * the GPU.
 *
 * May import: `run/`, `experiment/`, `data/`, `engine/`, `util/`.
 *
 * @module
 */

export * from "./figures.ts";
export * from "./load.ts";
export * from "./report.ts";
export * from "./svg.ts";
export * from "./table.ts";
