/**
 * Where each layer's weights sit in the model's one flat parameter buffer
 * (each at a 256-byte aligned offset, zero padding between), and the
 * conversions between that flat array and PyTorch-shaped tensors named
 * `layers.<i>.weight`. Pure functions; the model does the GPU transfers.
 *
 * @example
 * ```ts
 * import { flattenWeights, layoutParams, unflattenWeights } from "./param_layout.ts";
 * import { planModel } from "./spec.ts";
 * const layout = layoutParams(planModel("4F", [3], 2));
 * if (layout.count !== 128) throw new Error(); // two layers, each padded to 64 floats
 * const flat = flattenWeights(layout, {
 *   "layers.0.weight": { shape: [4, 3], data: new Float32Array(12).fill(1) },
 *   "layers.1.weight": { shape: [2, 4], data: new Float32Array(8).fill(2) },
 * });
 * if (unflattenWeights(layout, flat)["layers.1.weight"].data[7] !== 2) throw new Error();
 * ```
 *
 * @module
 */

import type { Tensor } from "./model_options.ts";
import { type LayerPlan, sizeOf } from "./spec.ts";

/** Floats per alignment unit: layer offsets are multiples of 256 bytes. */
export const PARAM_ALIGN = 64;

/** One weighted layer's place in the flat parameter buffer. */
export interface ParamSlot {
  /** Tensor name, `layers.<i>.weight`. */
  name: string;
  /** PyTorch shape of the weights. */
  shape: number[];
  /** Offset in floats. */
  offset: number;
  /** Floats of the weights (without padding). */
  size: number;
}

/** The flat parameter layout of a network. */
export interface ParamLayout {
  /** Per layer of the plan: its slot, or null for layers without weights. */
  slots: (ParamSlot | null)[];
  /** Floats of the whole flat buffer (a multiple of {@link PARAM_ALIGN}). */
  count: number;
}

/** Lays out the weights of `plan`. */
export function layoutParams(plan: readonly LayerPlan[]): ParamLayout {
  let count = 0;
  const slots = plan.map((p) => {
    if (!p.weightShape) return null;
    const size = sizeOf(p.weightShape);
    const slot = {
      name: `layers.${p.index}.weight`,
      shape: [...p.weightShape],
      offset: count,
      size,
    };
    count += Math.ceil(size / PARAM_ALIGN) * PARAM_ALIGN;
    return slot;
  });
  return { slots, count };
}

/** Names and PyTorch shapes of the weight tensors. */
export function weightShapes(layout: ParamLayout): Record<string, number[]> {
  return Object.fromEntries(
    layout.slots.filter((s) => s !== null).map((s) => [s.name, [...s.shape]]),
  );
}

/**
 * Packs named tensors into a flat array. Every tensor must be present with
 * its exact shape and finite values, and no other tensor may be given; the
 * first problem throws an error naming `source`, the tensor and the value.
 */
export function flattenWeights(
  layout: ParamLayout,
  tensors: Record<string, { shape: number[]; data: ArrayLike<number> }>,
  source = "weights",
): Float32Array {
  const flat = new Float32Array(layout.count);
  for (const slot of layout.slots) {
    if (!slot) continue;
    const { name, shape } = slot;
    const t = tensors[name];
    if (!t) {
      throw new Error(
        `Cannot load ${source}: missing tensor '${name}' of shape [${shape.join(", ")}]`,
      );
    }
    if (t.shape.join() !== shape.join()) {
      throw new Error(
        `Cannot load ${source}: tensor '${name}' expected shape [${shape.join(", ")}], got [${
          t.shape.join(", ")
        }]`,
      );
    }
    if (t.data.length !== slot.size) {
      throw new Error(
        `Cannot load ${source}: tensor '${name}' expected ${slot.size} values, got ${t.data.length}`,
      );
    }
    for (let j = 0; j < t.data.length; j++) {
      const v = t.data[j];
      if (!Number.isFinite(v)) {
        throw new Error(
          `Cannot load ${source}: tensor '${name}' expected finite values, got ${v} at element ${j}`,
        );
      }
      flat[slot.offset + j] = v;
    }
  }
  const expected = weightShapes(layout);
  const extra = Object.keys(tensors).filter((k) => !(k in expected));
  if (extra.length) {
    throw new Error(
      `Cannot load ${source}: unexpected tensor '${extra[0]}' (expected only ${
        Object.keys(expected).join(", ")
      })`,
    );
  }
  return flat;
}

/** Splits a flat array into named, PyTorch-shaped tensors (copies). */
export function unflattenWeights(layout: ParamLayout, flat: Float32Array): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const slot of layout.slots) {
    if (!slot) continue;
    out[slot.name] = {
      shape: [...slot.shape],
      data: flat.slice(slot.offset, slot.offset + slot.size),
    };
  }
  return out;
}
