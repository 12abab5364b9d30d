/**
 * The float64 reference implementation of MODEL.md: the neuron, the layers,
 * the optimisers and the whole network. GPU kernels are tested against it.
 *
 * Layer 2. May import: `engine/` (the architecture plan only), `util/`.
 *
 * @example
 * ```ts
 * import { encode, spikeTime } from "./mod.ts";
 * if (spikeTime(0, 0, 1) !== 1) throw new Error(); // nothing fired: fires at the window's end
 * if (encode(new Float64Array([1]), 1)[0] !== 0) throw new Error();
 * ```
 *
 * @module
 */

export * from "./neuron.ts";
export * from "./layers.ts";
export * from "./optim.ts";
export * from "./network.ts";
