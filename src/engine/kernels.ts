/**
 * The one WGSL loader: every file of `kernels/`, imported as text, so the
 * kernels travel with the module graph (a published package, `deno compile`,
 * an http import) and nothing reads the file system at run time.
 *
 * @example
 * ```ts
 * import { kernelSource } from "./kernels.ts";
 * if (!kernelSource("encode.wgsl").includes("fn main")) throw new Error();
 * ```
 *
 * @module
 */

import privateBytes from "../../kernels/_bytes.wgsl" with { type: "text" };
import privateCommon from "../../kernels/_common.wgsl" with { type: "text" };
import privateEpilogue from "../../kernels/_epilogue.wgsl" with { type: "text" };
import privateGemm from "../../kernels/_gemm.wgsl" with { type: "text" };
import privateGemmDirect from "../../kernels/_gemm_direct.wgsl" with { type: "text" };
import privateWeightsStorage from "../../kernels/_weights_storage.wgsl" with { type: "text" };
import privateWeightsUniform from "../../kernels/_weights_uniform.wgsl" with { type: "text" };
import augment from "../../kernels/augment.wgsl" with { type: "text" };
import convBackwardInput from "../../kernels/conv_backward_input.wgsl" with { type: "text" };
import convBackwardWeight from "../../kernels/conv_backward_weight.wgsl" with { type: "text" };
import convForward from "../../kernels/conv_forward.wgsl" with { type: "text" };
import convWeightEvents from "../../kernels/conv_weight_events.wgsl" with { type: "text" };
import encode from "../../kernels/encode.wgsl" with { type: "text" };
import forwardSplits from "../../kernels/forward_splits.wgsl" with { type: "text" };
import gather from "../../kernels/gather.wgsl" with { type: "text" };
import gradEvents from "../../kernels/grad_events.wgsl" with { type: "text" };
import loss from "../../kernels/loss.wgsl" with { type: "text" };
import optimizer from "../../kernels/optimizer.wgsl" with { type: "text" };
import poolBackward from "../../kernels/pool_backward.wgsl" with { type: "text" };
import poolForward from "../../kernels/pool_forward.wgsl" with { type: "text" };
import reduceSplits from "../../kernels/reduce_splits.wgsl" with { type: "text" };
import scaleGrad from "../../kernels/scale_grad.wgsl" with { type: "text" };
import stats from "../../kernels/stats.wgsl" with { type: "text" };

/** Every kernel file by name (`_`-prefixed files are pieces that others include). */
export const KERNELS: Readonly<Record<string, string>> = Object.freeze({
  "_bytes.wgsl": privateBytes,
  "_common.wgsl": privateCommon,
  "_epilogue.wgsl": privateEpilogue,
  "_gemm.wgsl": privateGemm,
  "_gemm_direct.wgsl": privateGemmDirect,
  "_weights_storage.wgsl": privateWeightsStorage,
  "_weights_uniform.wgsl": privateWeightsUniform,
  "augment.wgsl": augment,
  "conv_backward_input.wgsl": convBackwardInput,
  "conv_backward_weight.wgsl": convBackwardWeight,
  "conv_forward.wgsl": convForward,
  "conv_weight_events.wgsl": convWeightEvents,
  "encode.wgsl": encode,
  "forward_splits.wgsl": forwardSplits,
  "gather.wgsl": gather,
  "grad_events.wgsl": gradEvents,
  "loss.wgsl": loss,
  "optimizer.wgsl": optimizer,
  "pool_backward.wgsl": poolBackward,
  "pool_forward.wgsl": poolForward,
  "reduce_splits.wgsl": reduceSplits,
  "scale_grad.wgsl": scaleGrad,
  "stats.wgsl": stats,
});

/** The text of a file of `kernels/`; an unknown name is an error that lists the known ones. */
export function kernelSource(file: string): string {
  const code = KERNELS[file];
  if (code === undefined) {
    throw new Error(
      `Cannot load kernel '${file}': expected one of ${Object.keys(KERNELS).join(", ")}`,
    );
  }
  return code;
}

/**
 * Writes out the repeated lines of a kernel whose structure depends on a
 * count (the register block of `_gemm_direct.wgsl`): a line that names `$v`
 * for a variable `v` of `counts` is written once for each value 0 .. count-1
 * of every variable it names (the first variable of `counts` outermost),
 * with `$v` replaced by the value. Comment lines and lines that name none
 * stay as they are. Variables are single letters.
 *
 * @example
 * ```ts
 * import { expandRepeats } from "./kernels.ts";
 * const code = expandRepeats("var s$i_$q = 0.0;\nlet k = 1u;", { i: 2, q: 2 });
 * if (code !== "var s0_0 = 0.0;\nvar s0_1 = 0.0;\nvar s1_0 = 0.0;\nvar s1_1 = 0.0;\nlet k = 1u;") {
 *   throw new Error(code);
 * }
 * ```
 */
export function expandRepeats(code: string, counts: Readonly<Record<string, number>>): string {
  const vars = Object.keys(counts);
  for (const v of vars) {
    const n = counts[v];
    if (!/^[a-z]$/.test(v) || !Number.isInteger(n) || n < 1) {
      throw new Error(
        `Cannot expand repeats: expected single-letter variables with counts >= 1, got ${v}=${n}`,
      );
    }
  }
  return code.split("\n").flatMap((line) => {
    if (line.trimStart().startsWith("//")) return [line];
    let lines = [line];
    for (const v of vars) {
      if (!line.includes(`$${v}`)) continue;
      lines = lines.flatMap((l) =>
        Array.from({ length: counts[v] }, (_, x) => l.replaceAll(`$${v}`, String(x)))
      );
    }
    return lines;
  }).join("\n");
}
