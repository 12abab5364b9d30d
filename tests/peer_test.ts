/**
 * The TensorFlow.js peer of `deno task bench --peer`: its network against
 * firstspike's layer plan and the FLOP counts of src/bench/flops.ts, the
 * ratio arithmetic, and one tiny `--peer` run end to end as a subprocess.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runTask } from "./_task.ts";
import { stepFlops } from "../src/bench/flops.ts";
import {
  PEER_TARGETS,
  peerForwardFlops,
  peerLayers,
  peerParams,
  peerTarget,
  speedRatio,
} from "../src/bench/peer.ts";
import { adapterName, loadPeer } from "../src/bench/peer_tfjs.ts";
import { type LayerPlan, planModel, sizeOf } from "../src/engine/spec.ts";
import { FULL_SHAPES, median, QUICK_SHAPES } from "../tasks/bench.ts";

/** `[C, H, W]` as `[H, W, C]`; vectors unchanged. */
const toNhwc = (s: readonly number[]) => (s.length === 3 ? [s[1], s[2], s[0]] : [...s]);

function planWeights(plan: readonly LayerPlan[]): number {
  return plan.reduce((a, l) => a + (l.weightShape ? sizeOf(l.weightShape) : 0), 0);
}

Deno.test("peerLayers: every bench shape has the plan's layers, shapes, parameters and FLOPs", () => {
  for (const shape of [...QUICK_SHAPES, ...FULL_SHAPES]) {
    const plan = planModel(shape.arch, shape.input, shape.classes);
    const peer = peerLayers(plan);
    const where = `${shape.name} (${shape.arch})`;
    assert.equal(peer.length, plan.length, where);
    plan.forEach((p, i) => {
      const l = peer[i];
      assert.deepEqual(l.outShape, toNhwc(p.outShape), `${where} layer ${i} output`);
      if (p.spec.kind === "conv") {
        assert.equal(l.kind, "conv");
        // PyTorch [out, in, k, k] is TF.js [k, k, in, out].
        const [o, c, k1, k2] = p.weightShape!;
        assert.deepEqual(l.weightShape, [k1, k2, c, o], `${where} layer ${i} filter`);
        assert.deepEqual(l.inShape, toNhwc(p.inShape));
      } else if (p.spec.kind === "pool") {
        assert.ok(l.kind === "pool" && l.size === p.spec.kernel && l.weightShape === null);
      } else {
        assert.equal(l.kind, "dense");
        assert.deepEqual(l.weightShape, [p.weightShape![1], p.weightShape![0]]);
        assert.ok(l.kind === "dense" && l.relu === (p.spec.kind === "linear"));
      }
    });
    assert.equal(peerParams(peer), planWeights(plan), `${where} parameters`);
    // One product per weighted layer, as flops.ts counts it (the spiking forward does two).
    assert.equal(
      peerForwardFlops(peer, shape.batch),
      stepFlops(plan, shape.batch).perLayer.reduce((a, l) => a + l.product, 0),
      `${where} forward FLOPs`,
    );
  }
  // vgg7 on 3x32x32, by hand: 1728 + 73728 + 294912 + 589824 + 1179648 + 2359296 + 81920.
  assert.equal(peerParams(peerLayers(planModel("vgg7", [3, 32, 32], 10))), 4581056);
});

Deno.test("peerLayers: odd sizes floor in pools, vectors are not flattened, the readout has no ReLU", () => {
  const odd = peerLayers(planModel("2C3-P2-6F", [1, 5, 5], 3));
  assert.deepEqual(odd.map((l) => l.outShape), [[5, 5, 2], [2, 2, 2], [6], [3]]);
  assert.ok(odd[2].kind === "dense" && odd[2].flatten && odd[2].relu);
  assert.deepEqual(odd[2].weightShape, [8, 6]);
  assert.ok(odd[3].kind === "dense" && !odd[3].flatten && !odd[3].relu);
  assert.equal(peerParams(odd), 2 * 9 + 8 * 6 + 6 * 3);
  // Conv 2 * 25 * 2 * 9, dense 2 * 8 * 6, readout 2 * 6 * 3, per sample.
  assert.equal(peerForwardFlops(odd, 4), 4 * (900 + 96 + 36));

  const flat = peerLayers(planModel("100F", [784], 10));
  assert.ok(flat[0].kind === "dense" && !flat[0].flatten && flat[0].fanIn === 784);
  assert.equal(peerParams(flat), 78400 + 1000);
  assert.throws(
    () => peerLayers([{ ...planModel("2C3", [1, 4, 4], 2)[0], inShape: [16] }]),
    /Peer of layer 0 '2C3': expected a map shape \[C, H, W\], got \[16\]/,
  );
});

Deno.test("speedRatio and targets: TF.js over firstspike, bad times refused", () => {
  assert.equal(speedRatio(300, 75), 4);
  assert.equal(speedRatio(10, 40), 0.25);
  assert.throws(() => speedRatio(0, 1), /expected TF.js ms\/step > 0, got 0/);
  assert.throws(() => speedRatio(1, NaN), /expected firstspike ms\/step > 0, got NaN/);
  assert.throws(() => speedRatio(Infinity, 1), /got Infinity/);
  assert.equal(peerTarget(true), 4);
  assert.equal(peerTarget(false), 15);
  assert.deepEqual(PEER_TARGETS, { cpu_driver: 4, gpu: 15 });
});

Deno.test("adapterName: the Engine's naming", () => {
  assert.equal(adapterName({ description: "NVIDIA H200", vendor: "4318" }), "NVIDIA H200");
  assert.equal(
    adapterName({ description: "", vendor: "v", architecture: "a", device: "0" }),
    "v a",
  );
  assert.equal(adapterName({}), "unknown adapter");
});

Deno.test({
  name: "loadPeer: the webgpu backend starts, and another adapter than firstspike's is refused",
  sanitizeOps: false, // TensorFlow.js keeps its device for the rest of the process
  sanitizeResources: false,
  fn: async () => {
    await assert.rejects(
      loadPeer("an adapter this machine does not have"),
      /^Error: TensorFlow\.js peer: expected firstspike's adapter 'an adapter this machine does not have', got '.+'$/,
    );
  },
});

Deno.test("bench --quick --peer --only mnist-cnn: TF.js trains the same network, interleaved", async () => {
  // Cost: a few seconds with a warm Mesa shader cache; the first run on a machine bundles
  // TensorFlow.js (npm, seconds) and compiles its shaders on lavapipe (about 75 s).
  // It runs as users run it, `deno task bench` with deno.json's permissions, from a folder of
  // its own: on a fresh checkout that is when TensorFlow.js gets bundled.
  const dir = await Deno.makeTempDir();
  try {
    const json = join(dir, "out.json");
    const out = await runTask("bench", [
      ...["--quick", "--peer", "--only", "mnist-cnn", "--reps", "2", "--steps", "1"],
      ...["--activity", "random"],
      ...["--json", "out.json"],
    ], { cwd: dir });
    const stdout = out.stdout;
    assert.equal(out.code, 0, `bench exited ${out.code}:\n${out.stderr}`);
    const j = JSON.parse(await Deno.readTextFile(json));
    assert.equal(j.peer.adapter, j.adapter, "TF.js runs on firstspike's adapter");
    assert.match(j.peer.library, /^TensorFlow\.js 4\.22\.0 \(webgpu\)$/);
    assert.ok(j.startup.engine_create_ms > 0);
    const s = j.shapes[0];
    const shape = QUICK_SHAPES.find((q) => q.name === "mnist-cnn")!;
    const plan = planModel(shape.arch, shape.input, shape.classes);
    const p = s.peer;
    // What TensorFlow.js built and computed, against firstspike's plan.
    assert.equal(p.params, planWeights(plan));
    assert.deepEqual(p.layer_shapes, plan.map((l) => toNhwc(l.outShape)));
    assert.ok(s.startup.model_create_ms > 0 && s.startup.first_step_ms > 0);
    assert.ok(p.warmup.first_step_ms > 0 && p.warmup.steps === 3);
    assert.equal(p.train.reps_ms.length, 2, "one TF.js sample per firstspike repetition");
    assert.equal(s.peer_steps_per_sample, 1, "--steps 1: one step per sample on both sides");
    assert.equal(s.train.reps_ms.length, 2);
    assert.ok(p.train.reps_ms.every((x: number) => x > 0 && Number.isFinite(x)));
    assert.equal(p.train.median_ms, median(p.train.reps_ms));
    assert.equal(p.train.min_ms, Math.min(...p.train.reps_ms));
    assert.equal(p.ratio, p.train.median_ms / s.train.median_ms);
    assert.equal(p.ratio_min, p.train.min_ms / s.train.min_ms);
    assert.equal(p.target, /llvmpipe|lavapipe|swiftshader|software|warp/i.test(j.adapter) ? 4 : 15);
    assert.equal(p.met, p.ratio >= p.target);
    assert.ok(Number.isFinite(p.final_loss) && p.final_loss > 0);
    assert.match(stdout, /^peer: TensorFlow\.js 4\.22\.0, webgpu backend on .+$/m);
    assert.match(
      stdout,
      new RegExp(
        `^\\| mnist-cnn +\\| 4C5-P2-8C5-P2 +\\| 8 +\\| .+ \\| ${p.ratio.toFixed(2)}x `,
        "m",
      ),
    );
    assert.match(stdout, /^measured speed-up vs TF\.js target >= (4|15)x/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
