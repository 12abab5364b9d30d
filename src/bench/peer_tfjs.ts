/**
 * TensorFlow.js as the peer of `deno task bench --peer`: loading it (on
 * demand, so nothing else pays for it), starting its WebGPU backend on the
 * adapter firstspike uses, and training the same-shape ReLU network of
 * `peer.ts` with Adam, timed like firstspike's steps.
 *
 * Loading: tfjs-core's gradients ship only as ES modules whose relative
 * imports have no extension, which Deno does not load from npm. So the first
 * `--peer` run bundles `tfjs_entry.js` (tfjs-core, its gradients, the WebGPU
 * backend; one copy of tfjs-core) with `deno bundle` into
 * `node_modules/.cache/firstspike/`, keyed by the pinned versions in
 * `deno.json`, and later runs import that file. No shim is needed: Deno's
 * `GPUAdapter` has `info` (what the backend reads) and its `GPUDevice` has
 * `adapterInfo` (what we compare with firstspike's adapter).
 *
 * @module
 */

import { fileURLToPath, pathToFileURL } from "node:url";
import { dirname, join } from "node:path";
import { kaimingNormal, Rng } from "../util/rng.ts";
import { denoExecutable } from "../util/deno_executable.ts";
import { sizeOf } from "../engine/spec.ts";
import type { PeerLayer } from "./peer.ts";

/** A TensorFlow.js tensor, as far as the peer uses it. */
export interface TfTensor {
  /** Shape, batch first. */
  readonly shape: number[];
  /** Reads the values back (one host synchronisation). */
  data(): Promise<Float32Array>;
  /** Frees the tensor. */
  dispose(): void;
}

/** A TensorFlow.js optimiser. */
export interface TfOptimizer {
  /** One step: loss, gradients of `varList`, update; the loss when `returnCost`. */
  minimize(f: () => TfTensor, returnCost: boolean, varList: TfTensor[]): TfTensor | null;
  /** Frees the optimiser's state (Adam's moments). */
  dispose(): void;
}

/**
 * The TensorFlow.js functions the peer calls, typed here so that TensorFlow.js's
 * own declarations (which clash with Deno's WebGPU types) are never loaded.
 */
export interface Tf {
  /** tfjs-core's version. */
  version_core: string;
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  getBackend(): string;
  backend(): unknown;
  memory(): { numTensors: number; numBytes: number };
  tidy<T>(f: () => T): T;
  tensor(values: Float32Array, shape: number[]): TfTensor;
  variable(initial: TfTensor, trainable?: boolean, name?: string): TfTensor;
  reshape(x: TfTensor, shape: number[]): TfTensor;
  maxPool(x: TfTensor, filterSize: number, strides: number, pad: "valid"): TfTensor;
  fused: {
    conv2d(args: {
      x: TfTensor;
      filter: TfTensor;
      strides: number;
      pad: "same";
      activation: "relu";
    }): TfTensor;
    matMul(args: { a: TfTensor; b: TfTensor; activation: "relu" | "linear" }): TfTensor;
  };
  losses: { softmaxCrossEntropy(onehotLabels: TfTensor, logits: TfTensor): TfTensor };
  train: { adam(learningRate: number): TfOptimizer };
}

/** The npm packages the peer bundles; their versions are pinned in `deno.json` "imports". */
export const TFJS_PACKAGES = ["@tensorflow/tfjs-core", "@tensorflow/tfjs-backend-webgpu"] as const;

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ENTRY = fileURLToPath(new URL("./tfjs_entry.js", import.meta.url));

/** The folder of TensorFlow.js's bundle: `node_modules/.cache/firstspike/` of this checkout. */
export const PEER_BUNDLE_DIR: string = join(ROOT, "node_modules", ".cache", "firstspike");

/** Where the bundle is (or goes) and whether this call built it. */
export interface PeerBundle {
  /** Absolute path of the bundled module. */
  path: string;
  /** The pinned npm specifiers it was built from. */
  packages: string[];
  /** Milliseconds spent bundling now (0 when it was there already). */
  bundle_ms: number;
}

/**
 * The bundled TensorFlow.js module, built with `deno bundle` on first use
 * (which needs the npm registry once, for the packages and the bundler)
 * and kept in `node_modules/.cache/firstspike/` under a name derived from
 * the entry's source and the pinned versions.
 */
export async function peerBundle(log: (l: string) => void = () => {}): Promise<PeerBundle> {
  const config = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  const packages = TFJS_PACKAGES.map((p) => {
    const s = config.imports?.[p];
    if (typeof s !== "string") {
      throw new Error(
        `TensorFlow.js peer: expected deno.json "imports" to pin '${p}' (npm:${p}@<version>), got ${
          JSON.stringify(s)
        }`,
      );
    }
    return s;
  });
  const source = await Deno.readTextFile(ENTRY);
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode([source, ...packages].join("\n")),
  );
  const key = [...new Uint8Array(digest).slice(0, 6)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
  const path = join(PEER_BUNDLE_DIR, `tfjs-peer-${key}.js`);
  if (await Deno.stat(path).then((s) => s.isFile, () => false)) {
    return { path, packages, bundle_ms: 0 };
  }
  log(`bundling TensorFlow.js (${packages.join(", ")}) into ${path}`);
  const t0 = performance.now();
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = path.replace(/\.js$/, `.${Deno.pid}.tmp.js`); // the bundler wants a .js name
  const out = await new Deno.Command(denoExecutable(), {
    args: [
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      `--config=${join(ROOT, "deno.json")}`,
      "--output",
      tmp,
      ENTRY,
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(
      `TensorFlow.js peer: expected 'deno bundle' to build ${path} (it needs the npm registry the ` +
        `first time), got exit ${out.code}:\n${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  await Deno.rename(tmp, path);
  return { path, packages, bundle_ms: performance.now() - t0 };
}

/** Name of an adapter as firstspike's `Engine` writes it. */
export function adapterName(
  info: { description?: string; vendor?: string; architecture?: string; device?: string },
): string {
  return info.description || [info.vendor, info.architecture, info.device]
    .filter((s) => s && s !== "0").join(" ") ||
    "unknown adapter";
}

/** TensorFlow.js, loaded, with its WebGPU backend running. */
export interface PeerRuntime {
  /** The TensorFlow.js module. */
  tf: Tf;
  /** The adapter of TensorFlow.js's device (same naming as `Engine.adapterName`). */
  adapter: string;
  /** tfjs-core's version. */
  version: string;
  /** The bundle. */
  bundle: PeerBundle;
  /** Milliseconds to import the bundle. */
  import_ms: number;
  /** Milliseconds for `setBackend("webgpu")` and `ready()`: adapter and device. */
  backend_init_ms: number;
}

/**
 * Loads TensorFlow.js and starts its WebGPU backend. Throws, never falls
 * back to another backend, when the backend does not start, and when its
 * adapter is not `expectedAdapter` (firstspike's): the ratio would not hold.
 */
export async function loadPeer(
  expectedAdapter: string,
  log: (l: string) => void = () => {},
): Promise<PeerRuntime> {
  const bundle = await peerBundle(log);
  let t0 = performance.now();
  const tf = (await import(pathToFileURL(bundle.path).href)) as Tf;
  const import_ms = performance.now() - t0;
  t0 = performance.now();
  let started = false;
  let why = "";
  try {
    started = await tf.setBackend("webgpu");
    await tf.ready();
  } catch (e) {
    why = `: ${(e as Error).message}`;
  }
  const backend_init_ms = performance.now() - t0;
  const name = started ? tf.getBackend() : "none";
  if (!started || name !== "webgpu") {
    throw new Error(
      `TensorFlow.js peer: expected the 'webgpu' backend to start in Deno, got '${name}'${why}`,
    );
  }
  const device = (tf.backend() as { device?: GPUDevice }).device;
  const info = (device as (GPUDevice & { adapterInfo?: GPUAdapterInfo }) | undefined)?.adapterInfo;
  if (!info) {
    throw new Error(
      "TensorFlow.js peer: expected the webgpu backend's device to report its adapter " +
        "(GPUDevice.adapterInfo), got none",
    );
  }
  const adapter = adapterName(info);
  if (adapter !== expectedAdapter) {
    throw new Error(
      `TensorFlow.js peer: expected firstspike's adapter '${expectedAdapter}', got '${adapter}'`,
    );
  }
  return { tf, adapter, version: tf.version_core, bundle, import_ms, backend_init_ms };
}

/** Timings of the peer's warm-up. */
export interface PeerWarmup {
  /** The first step with its read-back: includes compiling TensorFlow.js's WebGPU shaders. */
  first_step_ms: number;
  /** The other warm-up steps, per step (one read-back at the end); null when there are none. */
  rest_ms_per_step: number | null;
  /** Warm-up steps in all. */
  steps: number;
}

/**
 * The same-shape ReLU network in TensorFlow.js, on random data of the
 * shape: convolutions (`tf.fused.conv2d` with ReLU, 'same' padding, no bias),
 * max pools, dense layers (`tf.fused.matMul`), softmax cross-entropy, Adam.
 * A step is `optimizer.minimize`: forward, backward and update.
 */
export class PeerTrainer {
  /** Trainable parameters, counted from the variables TensorFlow.js holds. */
  readonly params: number;
  /** Each layer's output shape per sample, as TensorFlow.js computed it (NHWC). */
  readonly layerShapes: number[][];
  /** Milliseconds to build: weights, data, one forward pass for the shapes. */
  readonly buildMs: number;
  /** The loss of the latest step read back. */
  lastLoss = NaN;
  #tf: Tf;
  #layers: readonly PeerLayer[];
  #weights: (TfTensor | null)[];
  #vars: TfTensor[];
  #x: TfTensor;
  #y: TfTensor;
  #opt: TfOptimizer;
  #batch: number;
  #tensors = -1;

  private constructor(
    tf: Tf,
    layers: readonly PeerLayer[],
    input: readonly number[],
    classes: number,
    batch: number,
    seed: number,
  ) {
    const t0 = performance.now();
    this.#tf = tf;
    this.#layers = layers;
    this.#batch = batch;
    const rng = new Rng(seed);
    this.#weights = layers.map((l, i) => {
      if (!l.weightShape) return null;
      const init = tf.tensor(kaimingNormal(l.weightShape, l.fanIn, rng), l.weightShape);
      const v = tf.variable(init, true, `peer_${i}`);
      init.dispose();
      return v;
    });
    this.#vars = this.#weights.filter((w): w is TfTensor => w !== null);
    this.params = this.#vars.reduce((a, v) => a + sizeOf(v.shape), 0);
    const xShape = input.length === 3 ? [batch, input[1], input[2], input[0]] : [batch, ...input];
    this.#x = tf.tensor(Float32Array.from({ length: sizeOf(xShape) }, () => rng.next()), xShape);
    const onehot = new Float32Array(batch * classes);
    for (let b = 0; b < batch; b++) onehot[b * classes + rng.int(classes)] = 1;
    this.#y = tf.tensor(onehot, [batch, classes]);
    this.#opt = tf.train.adam(1e-4);
    const shapes: number[][] = [];
    tf.tidy(() => {
      this.#logits(shapes);
    });
    this.layerShapes = shapes;
    this.buildMs = performance.now() - t0;
  }

  /** Builds the network of `layers` for inputs `[C, H, W]` (or `[F]`) and `classes` at `batch`. */
  static create(
    tf: Tf,
    layers: readonly PeerLayer[],
    input: readonly number[],
    classes: number,
    batch: number,
    seed = 1,
  ): PeerTrainer {
    return new PeerTrainer(tf, layers, input, classes, batch, seed);
  }

  #logits(shapes?: number[][]): TfTensor {
    const tf = this.#tf;
    let h = this.#x;
    this.#layers.forEach((l, i) => {
      const w = this.#weights[i]!;
      if (l.kind === "conv") {
        h = tf.fused.conv2d({ x: h, filter: w, strides: 1, pad: "same", activation: "relu" });
      } else if (l.kind === "pool") {
        h = tf.maxPool(h, l.size, l.size, "valid");
      } else {
        if (l.flatten) h = tf.reshape(h, [this.#batch, l.inShape[0]]);
        h = tf.fused.matMul({ a: h, b: w, activation: l.relu ? "relu" : "linear" });
      }
      shapes?.push(h.shape.slice(1));
    });
    return h;
  }

  #loss = (): TfTensor => this.#tf.losses.softmaxCrossEntropy(this.#y, this.#logits());

  /** `steps` training steps, then one read-back of the last loss; ms per step. */
  async #run(steps: number): Promise<number> {
    const t0 = performance.now();
    for (let i = 1; i < steps; i++) this.#opt.minimize(this.#loss, false, this.#vars);
    const loss = this.#opt.minimize(this.#loss, true, this.#vars)!;
    const value = (await loss.data())[0];
    const ms = (performance.now() - t0) / steps;
    loss.dispose();
    if (!Number.isFinite(value)) {
      throw new Error(`TensorFlow.js peer: expected a finite training loss, got ${value}`);
    }
    this.lastLoss = value;
    return ms;
  }

  /** Warm-up: one step (shader compilation), then `steps - 1` more; records the tensor count. */
  async warmup(steps: number): Promise<PeerWarmup> {
    const first = await this.#run(1);
    const rest = steps > 1 ? await this.#run(steps - 1) : null;
    this.#tensors = this.#tf.memory().numTensors;
    return { first_step_ms: first, rest_ms_per_step: rest, steps: Math.max(steps, 1) };
  }

  /**
   * One timed sample: `steps` steps, one read-back at the end (as firstspike's
   * repetitions); ms per step. Throws if a step left tensors behind.
   */
  async sample(steps: number): Promise<number> {
    const ms = await this.#run(steps);
    const n = this.#tf.memory().numTensors;
    if (this.#tensors >= 0 && n !== this.#tensors) {
      throw new Error(
        `TensorFlow.js peer: expected ${this.#tensors} live tensors after each sample, got ${n}`,
      );
    }
    return ms;
  }

  /** Frees the variables, data and Adam's state. */
  dispose(): void {
    this.#opt.dispose();
    for (const t of [...this.#vars, this.#x, this.#y]) t.dispose();
  }
}
