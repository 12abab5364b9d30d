/**
 * The whole benchmark that `deno task bench` runs: the machine, every shape
 * (`shape_bench.ts`), the end-to-end epochs (`epoch.ts`), the tables and the
 * targets, met or not, as lines to print and a report to write as JSON.
 *
 * @module
 */

import { join } from "node:path";
import type { Engine } from "../engine/gpu.ts";
import type { Precision } from "../engine/layers.ts";
import type { SparseMode } from "../engine/model.ts";
import { VERSION } from "../run/provenance.ts";
import { fmnistFor } from "./activity.ts";
import { benchEpoch, EPOCH_RUNS, type EpochResult } from "./epoch.ts";
import { formatPeerTable, PEER_TARGETS } from "./peer.ts";
import type { PeerRuntime } from "./peer_tfjs.ts";
import { benchShape, type ShapeResult } from "./shape_bench.ts";
import {
  type BenchShape,
  EPOCH_NAME,
  FMNIST_DIR,
  FULL_SHAPES,
  QUICK_SHAPES,
  QUICKSTART_REFERENCE_EPOCH_S,
  TARGETS,
} from "./shapes.ts";
import { fmt, formatActivity, formatProfile, formatTable } from "./table.ts";

/** Options of {@link runBench}. */
export interface BenchOptions {
  /** Small variants for a CPU with a software driver. */
  quick: boolean;
  /** Shape and epoch names to run; all when absent. */
  only?: string[];
  reps: number;
  /** Steps per repetition; null: enough for `seconds`. */
  steps: number | null;
  seconds: number;
  warmup: number;
  precision: Precision;
  /** `trained` (weights trained on Fashion-MNIST, real images) or `random`. */
  activity: "trained" | "random";
  /** Fashion-MNIST's folder (default: where the dataset lookup finds it, without downloading). */
  data?: string;
  /** Folder of the trained weights' cache, or null. */
  cacheDir: string | null;
  /** Train the shapes' weights again (and replace the cache's). */
  retrain?: boolean;
  /** The sparse variant's mode (default: `auto` on a CPU driver, `on` on a GPU). */
  sparse?: SparseMode;
  profile: boolean;
  peer?: PeerRuntime;
  log: (line: string) => void;
}

/** The names `--only` takes in a mode. */
export function benchNames(quick: boolean): string[] {
  return [...(quick ? QUICK_SHAPES : FULL_SHAPES).map((s) => s.name), EPOCH_NAME];
}

/** The trained weights' cache folder: `$XDG_CACHE_HOME/firstspike/bench` or `~/.cache/...`; null without either. */
export function benchCacheDir(env: (name: string) => string | undefined): string | null {
  const xdg = env("XDG_CACHE_HOME"), home = env("HOME");
  if (xdg) return join(xdg, "firstspike", "bench");
  if (home) return join(home, ".cache", "firstspike", "bench");
  return null;
}

/** What {@link runBench} returns: the lines of its report and its JSON. */
export interface BenchRun {
  lines: string[];
  shapes: ShapeResult[];
  epoch: EpochResult | null;
  /** The targets, each met or not, as lines. */
  notes: string[];
  /** The JSON's fields that {@link runBench} knows (the task adds the machine's). */
  json: Record<string, unknown>;
}

/** Runs the shapes and the epoch, then the tables and the targets. */
export async function runBench(engine: Engine, o: BenchOptions): Promise<BenchRun> {
  const shapes: readonly BenchShape[] = o.quick ? QUICK_SHAPES : FULL_SHAPES;
  const wanted = (n: string) => !o.only || o.only.includes(n);
  const sparse: SparseMode = o.sparse ?? (engine.cpu ? "auto" : "on");
  const results: ShapeResult[] = [];
  let missingData = false;
  for (const shape of shapes) {
    if (!wanted(shape.name)) continue;
    o.log(`${shape.name}: ${shape.arch} on ${shape.input.join("x")}, batch ${shape.batch}`);
    const data = o.activity === "trained" ? await fmnistFor(shape, o.data) : null;
    if (o.activity === "trained" && !data && !missingData) {
      missingData = true;
      o.log("  no Fashion-MNIST on this machine: random inputs and initial weights instead");
    }
    const r = await benchShape(engine, shape, {
      reps: o.reps,
      steps: o.steps,
      seconds: o.seconds,
      warmup: o.warmup,
      precision: o.precision,
      peer: o.peer,
      data,
      cacheDir: o.cacheDir,
      retrain: o.retrain,
      sparse,
      profile: o.profile,
      log: o.log,
    });
    results.push(r);
    o.log(
      `  dense ${fmt(r.train_dense.median_ms)} ms/step, sparse ${fmt(r.train_sparse.median_ms)} ` +
        `(${r.sparse_speedup.toFixed(2)}x), ${r.steps_per_rep} steps per repetition, ` +
        `Model.create ${fmt(r.startup.model_create_ms)} ms, first step ` +
        `${fmt(r.startup.first_step_ms)} ms` +
        (r.peer
          ? `; TF.js ${fmt(r.peer.train.median_ms)} ms/step, ratio ${r.peer.ratio.toFixed(2)}x`
          : ""),
    );
  }
  let epoch: EpochResult | null = null;
  if (wanted(EPOCH_NAME)) {
    o.log(`${EPOCH_NAME}: ${EPOCH_RUNS} Fashion-MNIST epochs with evaluation`);
    epoch = await benchEpoch(engine, o.quick, o.log, o.data ?? FMNIST_DIR);
  }
  await engine.sync();

  const lines: string[] = [];
  if (results.length) {
    lines.push(
      "",
      `training steps, dense and with event-driven products (sparse: ${sparse}), interleaved; ` +
        `ms per step median (minimum); ${
          results[0].activity.kind === "trained"
            ? "trained weights, real images"
            : "random inputs, initial weights"
        }:`,
      formatTable(results),
      "",
      "activity on the timed batch:",
      formatActivity(results),
    );
    if (results.some((r) => r.profile)) {
      lines.push("", "kernels of one step (each dispatch in its own timed pass):");
      lines.push(formatProfile(results));
    }
  }
  const peered = results.filter((r) => r.peer).map((r) => ({ ...r, peer: r.peer! }));
  if (peered.length) {
    lines.push(
      "",
      "same shapes in TensorFlow.js (interleaved; one read-back per sample, up to 1.5 s of its steps):",
    );
    lines.push(formatPeerTable(peered));
  }
  if (epoch) {
    lines.push("");
    if ("skipped" in epoch) lines.push(`${EPOCH_NAME}: skipped, ${epoch.skipped}`);
    else {
      lines.push(
        `${EPOCH_NAME}: ${epoch.arch}, batch ${epoch.batch_size}` +
          (epoch.train_samples !== null ? `, ${epoch.train_samples} training samples` : "") +
          `: steady epoch ${epoch.steady_epoch_seconds.toFixed(2)} s with evaluation ` +
          `(first ${epoch.epoch_seconds.toFixed(2)} s; ${epoch.wall_seconds.toFixed(2)} s in all ` +
          `with loading and setup), ` +
          (epoch.synthetic
            ? "random stand-in data (timing only)"
            : `test accuracy ${(epoch.test_acc * 100).toFixed(2)}%`),
      );
    }
  }
  const notes = targetNotes(engine, o.quick, results, epoch);
  if (notes.length) lines.push("", ...notes);
  return {
    lines,
    shapes: results,
    epoch,
    notes,
    json: {
      firstspike: VERSION,
      quick: o.quick,
      method: {
        reps: o.reps,
        steps_per_rep: o.steps ?? `enough for ${o.seconds} s per repetition`,
        warmup_steps: o.warmup,
        variants: "dense (sparse: off) and sparse (sparse: " + sparse + "), interleaved",
        activity: o.activity,
        lr_while_timing: 0,
      },
      memory_note:
        "allocated_bytes sums every GPU buffer of the model; activations_bytes and weight_buffers_bytes " +
        "are counted from the layer plan (src/bench/flops.ts)",
      flops_note:
        "step: the dense products of conv/linear/readout layers (pools, encoding, loss, " +
        "optimiser count 0); step_performed: with each event-driven weight gradient at its events' share " +
        "(input gradients counted dense, also where they skip output channels without events)",
      targets: o.quick
        ? {
          cpu_reference: "each shape's reference ms",
          quickstart_epoch_s: QUICKSTART_REFERENCE_EPOCH_S,
        }
        : TARGETS,
      peer: o.peer
        ? {
          library: `TensorFlow.js ${o.peer.version} (webgpu)`,
          packages: o.peer.bundle.packages,
          adapter: o.peer.adapter,
          bundle_ms: o.peer.bundle.bundle_ms,
          import_ms: o.peer.import_ms,
          backend_init_ms: o.peer.backend_init_ms,
          targets: PEER_TARGETS,
          network: "same layers as the plan with ReLU, no bias, NHWC, softmax cross-entropy, Adam",
        }
        : null,
      shapes: results,
      epoch,
      notes,
    },
  };
}

/** The targets, each met or not and by how much. */
export function targetNotes(
  engine: Engine,
  quick: boolean,
  results: readonly ShapeResult[],
  epoch: EpochResult | null,
): string[] {
  const notes: string[] = [];
  const ran = epoch && !("skipped" in epoch) ? epoch : null;
  if (quick) {
    for (const r of results) {
      if (r.cpu_reference_ms === null) continue;
      const ratio = r.speedup_vs_cpu_reference!;
      notes.push(
        `${r.name} target <= the reference's ${r.cpu_reference_ms} ms/step (PyTorch CPU, the ` +
          `issue's 2-core machine): ${fmt(r.train.median_ms)} ms, ${ratio.toFixed(2)}x ` +
          `(${ratio >= 1 ? "met" : "not met"}${engine.cpu ? "" : "; a CPU target"})`,
      );
    }
    if (ran && !ran.synthetic) {
      const s = ran.steady_epoch_seconds;
      notes.push(
        `quick-start steady epoch target <= the reference's ${QUICKSTART_REFERENCE_EPOCH_S} s: ` +
          `${s.toFixed(2)} s, ${(QUICKSTART_REFERENCE_EPOCH_S / s).toFixed(2)}x (${
            s <= QUICKSTART_REFERENCE_EPOCH_S ? "met" : "not met"
          })`,
      );
    }
  } else {
    const v = results.find((r) => r.name === "vgg7-b256");
    if (v) {
      const best = Math.min(v.train_dense.median_ms, v.train_sparse.median_ms);
      notes.push(
        `vgg7-b256 target <= ${TARGETS.vgg7_b256_ms} ms/step on an H200: dense ` +
          `${fmt(v.train_dense.median_ms)} ms, sparse ${fmt(v.train_sparse.median_ms)} ms (${
            best <= TARGETS.vgg7_b256_ms ? "met" : "not met"
          })`,
      );
    }
    const slow = results.filter((r) => (r.speedup_vs_tfjs ?? Infinity) < TARGETS.speedup_vs_tfjs);
    if (results.length) {
      notes.push(
        `speed-up vs TF.js (the issue's times) target >= ${TARGETS.speedup_vs_tfjs}x: ` +
          (slow.length
            ? `not met by ${slow.map((r) => r.name).join(", ")}`
            : "met by every shape run"),
      );
    }
    if (ran) {
      notes.push(
        `${EPOCH_NAME} target <= ${TARGETS.fmnist_epoch_s} s/epoch on an H200: steady ${
          ran.steady_epoch_seconds.toFixed(2)
        } s (${ran.steady_epoch_seconds <= TARGETS.fmnist_epoch_s ? "met" : "not met"})`,
      );
    }
  }
  const peered = results.filter((r) => r.peer);
  if (peered.length) {
    const short = peered.filter((r) => !r.peer!.met);
    notes.push(
      `measured speed-up vs TF.js target >= ${peered[0].peer!.target}x ` +
        `(${engine.cpu ? "CPU driver" : "GPU"}): ` +
        (short.length
          ? `not met by ${short.map((r) => r.name).join(", ")}`
          : "met by every shape run"),
    );
  }
  return notes;
}
