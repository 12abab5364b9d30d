/**
 * npm `vega` and `vega-lite`, pinned here by full specifier (see `yaml.ts` for
 * why). Only the report layer loads them.
 *
 * @module
 */
export * as vega from "npm:vega@6.4.0";
export { compile } from "npm:vega-lite@6.5.0";
