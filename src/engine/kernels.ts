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
import convBackwardInputDirect from "../../kernels/conv_backward_input_direct.wgsl" with {
  type: "text",
};
import convBackwardWeight from "../../kernels/conv_backward_weight.wgsl" with { type: "text" };
import convBackwardWeightDirect from "../../kernels/conv_backward_weight_direct.wgsl" with {
  type: "text",
};
import convForward from "../../kernels/conv_forward.wgsl" with { type: "text" };
import convForwardDirect from "../../kernels/conv_forward_direct.wgsl" with { type: "text" };
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
import transposeWeights from "../../kernels/transpose_weights.wgsl" with { type: "text" };

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
  "conv_backward_input_direct.wgsl": convBackwardInputDirect,
  "conv_backward_weight.wgsl": convBackwardWeight,
  "conv_backward_weight_direct.wgsl": convBackwardWeightDirect,
  "conv_forward.wgsl": convForward,
  "conv_forward_direct.wgsl": convForwardDirect,
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
  "transpose_weights.wgsl": transposeWeights,
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
 * stay as they are. Variables are single lowercase letters; an uppercase
 * letter in `counts` is a constant: `$K` becomes its value, and lines are not
 * repeated for it. After the replacement, `$[...]` holding integers joined by
 * `+`, `-`, `*`, `/` (integer division) and `%` becomes its value, the usual
 * precedence applying; inside it, variables and constants are written
 * without `$` (so a name can be computed: `t$[q+x]` with q = 2 and x = 1 is
 * `t3`).
 *
 * @example
 * ```ts
 * import { expandRepeats } from "./kernels.ts";
 * const code = expandRepeats("var s$i_$q = 0.0;\nlet k = 1u;", { i: 2, q: 2 });
 * if (code !== "var s0_0 = 0.0;\nvar s0_1 = 0.0;\nvar s1_0 = 0.0;\nvar s1_1 = 0.0;\nlet k = 1u;") {
 *   throw new Error(code);
 * }
 * if (expandRepeats("a$q += t$[q+x];", { q: 2, x: 1 }) !== "a0 += t0;\na1 += t1;") throw new Error();
 * const w = expandRepeats("s$i += w$[i/4][$[i%4]] * t$[K-x];", { i: 6, x: 1, K: 2 });
 * if (w.split("\n")[5] !== "s5 += w1[1] * t2;") throw new Error(w);
 * ```
 */
export function expandRepeats(code: string, counts: Readonly<Record<string, number>>): string {
  const vars: string[] = [];
  const consts: [string, number][] = [];
  for (const [v, n] of Object.entries(counts)) {
    if (/^[A-Z]$/.test(v) && Number.isInteger(n)) consts.push([v, n]);
    else if (/^[a-z]$/.test(v) && Number.isInteger(n) && n >= 1) vars.push(v);
    else {
      throw new Error(
        `Cannot expand repeats: expected single-letter variables (uppercase: constants) with ` +
          `counts >= 1, got ${v}=${n}`,
      );
    }
  }
  const SUM = /\$\[([^\]]*)\]/g;
  const inSums = (line: string, v: string) =>
    [...line.matchAll(SUM)].some((m) => new RegExp(`\\b${v}\\b`).test(m[1]));
  const put = (l: string, v: string, value: number) =>
    l.replaceAll(`$${v}`, String(value)).replace(
      SUM,
      (_, e: string) => `$[${e.replace(new RegExp(`\\b${v}\\b`, "g"), String(value))}]`,
    );
  return code.split("\n").flatMap((line) => {
    if (line.trimStart().startsWith("//")) return [line];
    let lines = [line];
    for (const v of vars) {
      if (!line.includes(`$${v}`) && !inSums(line, v)) continue;
      lines = lines.flatMap((l) => Array.from({ length: counts[v] }, (_, x) => put(l, v, x)));
    }
    for (const [c, value] of consts) lines = lines.map((l) => put(l, c, value));
    return lines.map((l) => l.replace(SUM, (_, e: string) => String(evalSum(e))));
  }).join("\n");
}

/** The value of an integer expression of `+ - * / %` (integer division, usual precedence). */
function evalSum(e: string): number {
  const tokens = e.replace(/\s+/g, "").match(/\d+|[-+*/%]/g) ?? [];
  if (tokens.join("") !== e.replace(/\s+/g, "")) {
    throw new Error(`Cannot expand repeats: bad expression '$[${e}]'`);
  }
  let at = 0;
  const num = (): number => {
    const t = tokens[at++];
    if (t === "-") return -num();
    if (!/^\d+$/.test(t ?? "")) throw new Error(`Cannot expand repeats: bad expression '$[${e}]'`);
    return Number(t);
  };
  const term = (): number => {
    let v = num();
    while (tokens[at] === "*" || tokens[at] === "/" || tokens[at] === "%") {
      const op = tokens[at++], r = num();
      v = op === "*" ? v * r : op === "/" ? Math.trunc(v / r) : v % r;
    }
    return v;
  };
  let v = term();
  while (tokens[at] === "+" || tokens[at] === "-") {
    const op = tokens[at++], r = term();
    v = op === "+" ? v + r : v - r;
  }
  if (at !== tokens.length) throw new Error(`Cannot expand repeats: bad expression '$[${e}]'`);
  return v;
}
