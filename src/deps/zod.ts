/**
 * npm `zod`, pinned here by full specifier (see `yaml.ts` for why).
 *
 * @module
 */
export { z } from "npm:zod@3.25.76";
