/**
 * The benchmark's tables (Markdown): per shape the dense and event-driven
 * step times side by side with the GFLOP/s they mean and the targets, the
 * activity that chose the products, and each kernel's time in a step.
 *
 * @module
 */

import type { ShapeResult } from "./shape_bench.ts";

/**
 * A number in 3 significant digits (integers from 100 up).
 *
 * @example
 * ```ts
 * import { fmt } from "./table.ts";
 * if (fmt(1234.5) !== "1235" || fmt(12.345) !== "12.3" || fmt(0.001) !== "1.00e-3") throw new Error();
 * ```
 */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 100) return Math.round(x).toString();
  if (a !== 0 && a < 0.01) return x.toExponential(2);
  return x.toPrecision(3);
}

/** A share as a percentage, `-` when not measured. */
function pct(x: number): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : "-";
}

/** Rows under a head, columns padded. */
export function markdown(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)]
    .join("\n");
}

/**
 * The main table: per shape the median ms per step with every product dense
 * and with the event-driven products (minimum in brackets), their ratio,
 * GFLOP/s (dense-equivalent: the dense products' FLOPs over the event-driven
 * time; performed: the FLOPs its products did), inference, memory, the
 * reference's CPU time where the issue gives one (a CPU driver's target) or
 * the H200 anchors, and the start-up.
 */
export function formatTable(results: readonly ShapeResult[]): string {
  const anchors = results.some((r) => r.anchor);
  const head = [
    "shape",
    "arch",
    "batch",
    "dense ms/step",
    "sparse ms/step",
    "dense / sparse",
    "GFLOP/s dense-eq.",
    "GFLOP/s performed",
    "infer ms/batch",
    "memory MB",
    ...(anchors
      ? ["reference ms (H200)", "TF.js ms (issue)", "vs TF.js"]
      : ["CPU reference ms", "reference / firstspike"]),
    "start-up s",
  ];
  const rows = results.map((r) => [
    r.name,
    r.arch,
    String(r.batch),
    `${fmt(r.train_dense.median_ms)} (${fmt(r.train_dense.min_ms)})`,
    `${fmt(r.train_sparse.median_ms)} (${fmt(r.train_sparse.min_ms)})`,
    `${r.sparse_speedup.toFixed(2)}x`,
    fmt(r.gflops.dense_equivalent),
    fmt(r.gflops.performed),
    fmt(r.inference.median_ms),
    fmt(r.memory.allocated_bytes / 1e6),
    ...(anchors
      ? [
        r.anchor ? String(r.anchor.reference_ms) : "-",
        r.anchor ? String(r.anchor.tfjs_ms) : "-",
        r.speedup_vs_tfjs !== null ? `${r.speedup_vs_tfjs.toFixed(1)}x` : "-",
      ]
      : [
        r.cpu_reference_ms !== null ? String(r.cpu_reference_ms) : "-",
        r.speedup_vs_cpu_reference !== null ? `${r.speedup_vs_cpu_reference.toFixed(2)}x` : "-",
      ]),
    fmt((r.startup.model_create_ms + r.startup.first_step_ms) / 1000),
  ]);
  return markdown(head, rows);
}

/**
 * What fired on the timed batch: per shape the input's silent share, then per
 * spiking layer the silent share, the share of neurons that passed a
 * gradient (the events), the product its weight gradient ran, and whether
 * its input gradient skipped the output channels without events.
 */
export function formatActivity(results: readonly ShapeResult[]): string {
  const rows: string[][] = [];
  for (const r of results) {
    rows.push([r.name, "input", pct(r.activity.input_silent), "-", "-", "-"]);
    for (const l of r.activity.layers) {
      rows.push([
        r.name,
        `${l.index} ${l.token}`,
        pct(l.silent),
        pct(l.gradient_share),
        l.weight_gradient,
        l.input_gradient ?? "-",
      ]);
    }
  }
  return markdown(
    [
      "shape",
      "layer",
      "silent",
      "passes a gradient",
      "weight gradient (sparse variant)",
      "input gradient",
    ],
    rows,
  );
}

/** Each kernel's ms in a step (summed over its dispatches), dense and sparse, per shape. */
export function formatProfile(results: readonly ShapeResult[]): string {
  const rows: string[][] = [];
  for (const r of results) {
    if (!r.profile) continue;
    for (const p of r.profile) {
      rows.push([
        r.name,
        p.kernel,
        p.dense_ms ? fmt(p.dense_ms) : "-",
        p.sparse_ms ? fmt(p.sparse_ms) : "-",
      ]);
    }
    const sum = (k: "dense_ms" | "sparse_ms") => r.profile!.reduce((a, p) => a + p[k], 0);
    rows.push([
      r.name,
      "(sum: one pass per dispatch)",
      fmt(sum("dense_ms")),
      fmt(sum("sparse_ms")),
    ]);
  }
  return markdown(["shape", "kernel", "dense ms", "sparse ms"], rows);
}
