/**
 * `deno task demo`: a one-minute tour. Trains a tiny spiking network
 * (`8C3-8C3-P2` and a readout, on generated 8 x 8 images of 4 classes) for a
 * few hundred steps with the library API, then shows what a time-to-first-
 * spike network does: accuracy, how many neurons fire per layer, when they
 * fire, spikes per sample, and a few predictions with their output scores.
 * Its GPU work is tiny, so it runs in about a minute on a CPU driver.
 *
 * @module
 */

import { type CommandSpec, type ParsedArgs, runTask, UsageError } from "./_args.ts";
import { GPU_OPTION, gpuFlag, startGpu } from "./_gpu.ts";
import { Engine } from "../src/engine/gpu.ts";
import { Model } from "../src/engine/model.ts";
import { HIST_BINS } from "../src/engine/metrics.ts";
import { blobs } from "../src/data/blobs.ts";

/** The command line of `deno task demo`. */
export const DEMO: CommandSpec = {
  name: "demo",
  summary: "A one-minute tour: train a tiny spiking network on generated 8x8 images and print " +
    "its accuracy and spike statistics (firing per layer, spike times, spikes per sample).",
  usage: "[options]",
  options: [
    {
      name: "steps",
      type: "string",
      value: "N",
      help: "training steps of 32 samples (default 300)",
    },
    {
      name: "seed",
      type: "string",
      value: "N",
      help: "seed of the data and the weights (default 3)",
    },
    GPU_OPTION,
  ],
  examples: ["deno task demo", "deno task demo --steps 100"],
};

const H = 8;
const CLASSES = 4;
const BATCH = 32;
const ARCH = "8C3-8C3-P2";

/** A text bar of `x` in [0, 1], `width` characters. */
function bar(x: number, width = 20): string {
  const n = Math.max(0, Math.min(width, Math.round(x * width)));
  return "#".repeat(n) + ".".repeat(width - n);
}

/** A one-line histogram of counts. */
function sparkline(counts: readonly number[]): string {
  const marks = " .:-=+*#%@";
  const top = Math.max(...counts, 1);
  return counts.map((c) => marks[Math.min(9, Math.ceil((c / top) * 9))]).join("");
}

async function main(args: ParsedArgs): Promise<number> {
  if (args.positionals.length) {
    throw new UsageError(
      `expected no arguments, got ${args.positionals.map((p) => `'${p}'`).join(", ")}`,
    );
  }
  const steps = args.positiveInt("steps") ?? 300;
  const seedText = args.string("seed");
  const seed = seedText === undefined ? 3 : Number(seedText);
  if (!Number.isInteger(seed) || seed < 0) {
    throw new UsageError(`--seed: expected an integer >= 0, got '${seedText}'`);
  }
  const gpu = gpuFlag(args.string("gpu"));
  const say = (line = "") => console.log(line);
  const started = performance.now();

  say("firstspike demo: a time-to-first-spike network learns to tell 4 blobs apart");
  say(await startGpu({ flag: gpu }));
  const engine = await Engine.create();
  const model = await Model.create(engine, {
    arch: ARCH,
    inputShape: [1, H, H],
    classes: CLASSES,
    maxBatch: BATCH,
    seed,
    optimizer: { kind: "adam", lr: 3e-3, weightDecay: 0 },
  });
  try {
    say(`network: ${ARCH} plus a readout of ${CLASSES} neurons, on 1x${H}x${H} images`);
    for (const p of model.plan) {
      say(
        `  layer ${p.index}: ${p.spec.token.padEnd(5)} ${p.inShape.join("x")} -> ${
          p.outShape.join("x")
        }${p.weightShape ? `, weights ${p.weightShape.join("x")}` : ""}`,
      );
    }
    say(
      "Each neuron fires at most once; what it says is when. Pixel intensity becomes an early " +
        "spike,",
    );
    say("and the readout's potentials at the end of the window pick the class.");
    say();

    const train = blobs(BATCH * 40, H, H, CLASSES, seed + 2);
    const test = blobs(256, H, H, CLASSES, seed + 3);
    const batchOf = (d: typeof train, first: number, n: number) => ({
      x: Float32Array.from(d.images.subarray(first * H * H, (first + n) * H * H), (v) => v / 255),
      y: Array.from(d.labels.subarray(first, first + n)),
    });
    const report = Math.max(1, Math.round(steps / 6));
    say(`training: ${steps} Adam steps of ${BATCH} samples (lr 3e-3)`);
    for (let step = 0; step < steps; step++) {
      const { x, y } = batchOf(train, (step % 40) * BATCH, BATCH);
      model.trainStep(x, y); // queued on the GPU, nothing read back
      if ((step + 1) % report === 0 || step + 1 === steps) {
        const m = await model.readMetrics(0); // one read-back of the accumulated metrics
        say(
          `  step ${String(step + 1).padStart(4)}: loss ${m.loss.toFixed(3)}  train accuracy ${
            (m.accuracy * 100).toFixed(1).padStart(5)
          }%  spikes/sample ${m.spikesPerSample.toFixed(1)}`,
        );
        model.resetMetrics(0);
      }
    }

    for (let i = 0; i < test.labels.length; i += BATCH) {
      const { x, y } = batchOf(test, i, Math.min(BATCH, test.labels.length - i));
      model.evaluate(x, y, 2);
    }
    const m = await model.readMetrics(2);
    say();
    say(
      `test (${m.samples} new images): accuracy ${(m.accuracy * 100).toFixed(1)}%, loss ${
        m.loss.toFixed(3)
      }, ${m.spikesPerSample.toFixed(1)} spikes per sample`,
    );
    say("spiking layers: fraction of neurons that fired, mean spike time, when they fired (0..T):");
    for (const l of m.layers) {
      say(
        `  layer ${l.index} ${l.token.padEnd(5)} firing ${bar(l.firing)} ${
          (l.firing * 100).toFixed(1).padStart(5)
        }%  mean time ${Number.isFinite(l.meanTime) ? l.meanTime.toFixed(3) : "-"}  ` +
          `spikes/sample ${l.spikesPerSample.toFixed(1).padStart(6)}  |${sparkline(l.hist)}|`,
      );
    }
    say(`  (the histogram has ${HIST_BINS} bins from 0 to T = ${model.tWin})`);

    const shown = 6;
    const sample = batchOf(test, 0, shown);
    const p = await model.predict(sample.x);
    say();
    say("a few test images: label, prediction, spikes fired, readout potentials per class");
    for (let n = 0; n < shown; n++) {
      const scores = Array.from(p.scores.subarray(n * CLASSES, (n + 1) * CLASSES));
      say(
        `  label ${sample.y[n]}  predicted ${p.predictions[n]} ${
          p.predictions[n] === sample.y[n] ? "ok " : "no "
        } spikes ${String(p.spikes[n]).padStart(4)}  U = [${
          scores.map((s) => s.toFixed(2).padStart(6)).join(" ")
        }]`,
      );
    }
    say();
    say(`done in ${((performance.now() - started) / 1000).toFixed(1)} s. Next:`);
    say("  deno task exp experiments/quickstart.yaml        # train on Fashion-MNIST");
    say("  deno task exp experiments/quickstart.yaml lr=3e-4 seed=0,1   # overrides and sweeps");
    say("  deno task eval runs/quickstart/default           # evaluate saved weights");
    return 0;
  } finally {
    model.destroy();
    engine.destroy();
  }
}

if (import.meta.main) await runTask(DEMO, main);
