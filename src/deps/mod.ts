/**
 * Layer 0 beside `util/`: the third-party packages, one file each, pinned by
 * full `npm:` specifier so that `mod.ts` imported from any folder (no import
 * map there) resolves them. Import the file you need, never this one: each
 * package loads only where it is used (vega only in reports).
 *
 * @module
 */
export {};
