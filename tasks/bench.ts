/**
 * `deno task bench [--quick] [--peer] [--profile] [--only NAME[,NAME]] [--json FILE] ...`
 *
 * The claim measured: a firstspike training step (input encoding, forward,
 * loss, event-driven backward, Adam update; one compute pass, no host
 * read-back) is fast, and its event-driven products make it faster by the
 * activity of a trained network. Per shape the same network runs twice on
 * the same trained weights and real Fashion-MNIST images (`--activity
 * random`: initial weights and random inputs), every product dense and with
 * the event-driven backward products, timed interleaved; the table gives
 * both, the GFLOP/s they mean (dense-equivalent and performed), and each
 * layer's silent share and the share of its neurons that passed a gradient.
 * Then `fmnist-epoch`: two epochs of an experiment through the training loop
 * (the quick start with `--quick`, vgg7 without), the steady second one
 * counted. The targets (the issue's; the reference's CPU times with
 * `--quick`) are printed met or not.
 *
 * Method: `src/bench/` (timing in `timing.ts`, the shapes and targets in
 * `shapes.ts`, trained activity in `activity.ts`); the layer's header says
 * the rest. Prints the adapter, Deno's version, the git commit, the date and
 * the tables; writes JSON to `bench.json` (or `--json FILE`). Any GPU error
 * exits non-zero.
 *
 * @module
 */

import { type CommandSpec, type ParsedArgs, runTask, UsageError } from "./_args.ts";
import { GPU_OPTION, gpuFlag, startGpu } from "./_gpu.ts";
import { Engine } from "../src/engine/gpu.ts";
import type { Precision } from "../src/engine/layers.ts";
import type { SparseMode } from "../src/engine/model.ts";
import { gitCommit, VERSION } from "../src/run/provenance.ts";
import { writeFileAtomic } from "../src/util/fs.ts";
import { loadPeer, PEER_BUNDLE_DIR, type PeerRuntime } from "../src/bench/peer_tfjs.ts";
import { dirname, resolve } from "node:path";
import { delegate } from "./_launch.ts";
import { envGet } from "../src/util/env.ts";
import { benchCacheDir, benchNames, runBench } from "../src/bench/suite.ts";
import { fmt } from "../src/bench/table.ts";

export { EPOCH_NAME, FMNIST_DIR, FULL_SHAPES, QUICK_SHAPES, TARGETS } from "../src/bench/shapes.ts";
export { epochYaml } from "../src/bench/epoch.ts";
export { median } from "../src/bench/timing.ts";

/** The command line of `deno task bench`. */
export const BENCH: CommandSpec = {
  name: "bench",
  summary: "Time training steps of the reference shapes, dense and event-driven, on trained " +
    "activity, and two Fashion-MNIST epochs; print tables and the targets, write JSON.",
  usage: "[options]",
  options: [
    {
      name: "quick",
      type: "boolean",
      help: "small variants sized for a CPU with a software driver, and the quick start",
    },
    {
      name: "json",
      type: "string",
      value: "FILE",
      help: "write the results to FILE (default bench.json)",
    },
    {
      name: "only",
      type: "string",
      value: "NAME[,NAME]",
      multiple: true,
      help: "run only these shapes (and fmnist-epoch); --help lists them",
    },
    {
      name: "reps",
      type: "string",
      value: "N",
      help: "repetitions per variant (default 7, --quick 5)",
    },
    {
      name: "steps",
      type: "string",
      value: "N",
      help: "steps per repetition (default: enough for 0.3 s, at least 3)",
    },
    {
      name: "precision",
      type: "string",
      value: "f32|f16",
      help: "arithmetic of the matrix products",
    },
    {
      name: "activity",
      type: "string",
      value: "trained|random",
      help: "trained weights on real images (default; trained once, then cached) or random",
    },
    {
      name: "data",
      type: "string",
      value: "DIR",
      help: "Fashion-MNIST's folder (default: where the dataset lookup finds it, no download)",
    },
    {
      name: "sparse",
      type: "string",
      value: "auto|on",
      help: "the event-driven variant's products (default: auto on a CPU driver, on on a GPU)",
    },
    {
      name: "cache",
      type: "string",
      value: "DIR",
      help: "folder of the shapes' trained weights (default ~/.cache/firstspike/bench)",
    },
    {
      name: "retrain",
      type: "boolean",
      help: "train the shapes' weights again instead of reading the cache",
    },
    {
      name: "profile",
      type: "boolean",
      help: "also time every kernel of a step, dense and sparse",
    },
    {
      name: "peer",
      type: "boolean",
      help: "also time TensorFlow.js on the same shapes and adapter (interleaved), with ratios",
    },
    GPU_OPTION,
  ],
  examples: [
    "deno task bench --quick",
    "deno task bench --quick --peer",
    "deno task bench --quick --only quickstart,vgg7-b256 --profile",
    "deno task bench --only vgg7-b256 --json vgg7.json",
  ],
  notes: [
    `Shapes: ${benchNames(false).join(", ")}; with --quick: ${benchNames(true).join(", ")}.`,
  ],
};

/**
 * The folder the epoch's temporary run is made in (`Deno.makeTempDir`'s): `$TMPDIR`,
 * else `/tmp`. A `TMPDIR` that is empty or names no folder is a usage error, said before
 * any work (Deno's own error says only "No such file or directory (os error 2): tmpdir").
 */
function tempRoot(): string {
  const tmp = Deno.env.get("TMPDIR");
  if (tmp === undefined) return "/tmp";
  let info: Deno.FileInfo | null = null;
  try {
    info = tmp === "" ? null : Deno.statSync(tmp);
  } catch {
    // no such folder: said below
  }
  if (!info?.isDirectory) {
    throw new UsageError(
      `TMPDIR: expected a folder for the epoch's temporary run (or TMPDIR unset, for /tmp), ` +
        `got '${tmp}', ${
          tmp === "" ? "empty" : info ? "which is not a folder" : "which does not exist"
        }`,
    );
  }
  return tmp;
}

async function main(args: ParsedArgs): Promise<number> {
  if (args.positionals.length) {
    throw new UsageError(
      `expected no arguments, got ${args.positionals.map((p) => `'${p}'`).join(", ")}`,
    );
  }
  const quick = args.flag("quick");
  const names = benchNames(quick);
  const only = args.has("only") ? args.list("only") : undefined;
  for (const n of only ?? []) {
    if (!names.includes(n)) {
      throw new UsageError(`--only: expected one of ${names.join(", ")}, got '${n}'`);
    }
  }
  const reps = args.positiveInt("reps") ?? (quick ? 5 : 7);
  const steps = args.positiveInt("steps") ?? null;
  const jsonPath = args.string("json") ?? "bench.json";
  const precision: Precision = args.choice("precision", ["f32", "f16"] as const, "f32");
  const activity = args.choice("activity", ["trained", "random"] as const, "trained");
  const sparseArg = args.has("sparse")
    ? args.choice("sparse", ["auto", "on"] as const, "auto") as SparseMode
    : undefined;
  const gpu = gpuFlag(args.string("gpu"));
  const cacheDir = args.string("cache") ?? benchCacheDir(envGet);
  // The work writes the JSON, the trained weights' cache, TensorFlow.js's bundle (for --peer)
  // and a temporary folder for the epoch, nowhere else.
  const child = await delegate("bench", [
    dirname(resolve(jsonPath)),
    ...(cacheDir ? [cacheDir] : []),
    PEER_BUNDLE_DIR,
    tempRoot(),
  ]);
  if (child !== null) return child;

  console.error(await startGpu({ flag: gpu }));
  let t0 = performance.now();
  const engine = await Engine.create();
  const engineCreateMs = performance.now() - t0;
  const commit = await gitCommit();
  const date = new Date().toISOString();
  const warmup = quick ? 3 : 5;
  console.log([
    `firstspike ${VERSION} benchmark${quick ? " (--quick: small variants)" : ""}`,
    `adapter: ${engine.adapterName}`,
    `deno: ${Deno.version.deno}`,
    `commit: ${commit ?? "unknown"}`,
    `date: ${date}`,
    `cores: ${navigator.hardwareConcurrency}`,
    `method: median over ${reps} repetitions per variant, interleaved, ${
      steps ?? "enough"
    } steps per submission${steps ? "" : " for 0.3 s"}, ${warmup} warm-up steps, lr 0 while timing`,
    `precision: ${precision} (matrix products)`,
    `start-up: Engine.create ${fmt(engineCreateMs)} ms`,
  ].join("\n"));
  try {
    let peer: PeerRuntime | undefined;
    if (args.flag("peer")) {
      t0 = performance.now();
      peer = await loadPeer(engine.adapterName, (l) => console.error(l));
      console.log(
        `peer: TensorFlow.js ${peer.version}, webgpu backend on ${peer.adapter} ` +
          `(loaded in ${fmt(performance.now() - t0)} ms: bundle ${fmt(peer.bundle.bundle_ms)}, ` +
          `import ${fmt(peer.import_ms)}, backend start ${fmt(peer.backend_init_ms)})`,
      );
    }
    const run = await runBench(engine, {
      quick,
      only,
      reps,
      steps,
      seconds: 0.3,
      warmup,
      precision,
      activity,
      data: args.string("data"),
      cacheDir,
      retrain: args.flag("retrain"),
      sparse: sparseArg,
      profile: args.flag("profile"),
      peer,
      log: (l) => console.error(l),
    });
    console.log(run.lines.join("\n"));
    const report = {
      ...run.json,
      adapter: engine.adapterName,
      deno: Deno.version.deno,
      commit,
      date,
      cores: navigator.hardwareConcurrency,
      startup: { engine_create_ms: engineCreateMs },
    };
    await writeFileAtomic(jsonPath, JSON.stringify(report, null, 2) + "\n");
    console.log(`\nwrote ${jsonPath}`);
    return 0;
  } finally {
    engine.destroy();
  }
}

if (import.meta.main) await runTask(BENCH, main);
