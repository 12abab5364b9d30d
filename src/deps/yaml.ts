/**
 * npm `yaml`, pinned here by full specifier so that the library works when a
 * script in any folder imports `mod.ts` by path or URL: bare specifiers
 * resolve only through this repository's import map, which such a script
 * does not have. `tests/layout_test.ts` checks that this version is the one
 * in deno.json's imports (tasks and tests use the bare name).
 *
 * @module
 */
export * from "npm:yaml@2.8.1";
