// What `src/bench/peer_tfjs.ts` bundles (with `deno bundle`) into one module for the TensorFlow.js
// peer of `deno task bench --peer`: tfjs-core, all its gradients and the WebGPU backend, with
// one copy of tfjs-core. tfjs-core ships its gradients only as per-file ES modules whose
// imports have no extension, which Deno does not load from npm; the bundler resolves them.
// Plain JavaScript so that TensorFlow.js's types (which clash with Deno's WebGPU types) are
// never type-checked.
export * from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-core/dist/register_all_gradients";
import "@tensorflow/tfjs-backend-webgpu";
