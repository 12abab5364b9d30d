/**
 * A model's weights as a safetensors file: F32 tensors named
 * `layers.<i>.weight` (every layer counted from 0, pools included) with
 * PyTorch's shapes, `[out, in, k, k]` and `[out, in]`.
 *
 * @module
 */

import type { Model } from "./model.ts";
import { readSafetensors, writeSafetensors } from "./safetensors.ts";

/**
 * Writes the model's weights to `path` (atomically).
 *
 * @example
 * ```ts
 * import { Engine } from "./gpu.ts";
 * import { Model } from "./model.ts";
 * import { loadWeights, saveWeights } from "./weights.ts";
 * const engine = await Engine.create();
 * const model = await Model.create(engine, { arch: "2F", inputShape: [3], classes: 2, maxBatch: 1 });
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await saveWeights(model, path);
 * await loadWeights(model, path);
 * engine.destroy();
 * ```
 */
export async function saveWeights(
  model: Model,
  path: string,
  metadata: Record<string, string> = {},
): Promise<void> {
  const arch = model.plan.slice(0, -1).map((p) => p.spec.token).join("-");
  await writeSafetensors(path, await model.getWeights(), { format: "pt", arch, ...metadata });
}

/**
 * Loads weights from `path` into the model. Every tensor must be present with
 * its exact shape; nothing is written to the model otherwise.
 *
 * @example
 * ```ts
 * import { Engine } from "./gpu.ts";
 * import { Model } from "./model.ts";
 * import { loadWeights } from "./weights.ts";
 * const engine = await Engine.create();
 * const model = await Model.create(engine, { arch: "2F", inputShape: [3], classes: 2, maxBatch: 1 });
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await Deno.writeFile(path, new Uint8Array(8)); // not a weights file
 * await loadWeights(model, path).then(() => { throw new Error("loaded") }, (e) => console.log(e.message));
 * engine.destroy();
 * ```
 */
export async function loadWeights(model: Model, path: string): Promise<void> {
  const file = await readSafetensors(path);
  model.setWeights(file.tensors, `'${path}'`);
}
