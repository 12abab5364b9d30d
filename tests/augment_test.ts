// Tests of the GPU augmentation kernel (kernels/augment.wgsl) and its CPU reference.
// Run: XDG_RUNTIME_DIR=/tmp deno test -A tests/augment_test.ts
import assert from "node:assert/strict";
import {
  applyAugmentOp,
  AUGMENT_FLAGS,
  AUGMENT_OPS,
  augmentDispatchSize,
  augmentDraws,
  augmentFlags,
  type AugmentOp,
  augmentOverrides,
  type AugmentParams,
  augmentReference,
  augmentWgsl,
  CIFAR10_POLICY,
  createAugmentPipeline,
  type ImageShape,
  pcgHash,
  ROTATE_COS_FIXED,
  ROTATE_SIN_FIXED,
  runAugmentGpu,
} from "../src/data/augment.ts";

let devicePromise: Promise<GPUDevice> | undefined;
function getDevice(): Promise<GPUDevice> {
  devicePromise ??= (async () => {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) throw new Error("No WebGPU adapter (set XDG_RUNTIME_DIR=/tmp)");
    return await adapter.requestDevice();
  })();
  return devicePromise;
}

function gpuTest(name: string, fn: (device: GPUDevice) => Promise<void>) {
  Deno.test({
    name,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => fn(await getDevice()),
  });
}

/** Deterministic pseudo-random bytes (LCG, independent of the kernel's hash). */
function randomBytes(n: number, seed: number): Uint8Array {
  const a = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    a[i] = x >>> 24;
  }
  return a;
}

function size(shape: ImageShape): number {
  return shape[0] * shape[1] * shape[2];
}

function assertSame(got: Float32Array, want: Float32Array, what: string) {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    if (!(got[i] === want[i])) {
      assert.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
    }
  }
}

/** Output floats back to bytes, checking each is exactly some u8 / 255. */
function toBytes(out: Float32Array): number[] {
  return Array.from(out, (v, i) => {
    const u = Math.round(v * 255);
    assert.ok(
      u >= 0 && u <= 255 && v === Math.fround(u / 255),
      `element ${i} = ${v} is not u8/255`,
    );
    return u;
  });
}

// ---------------------------------------------------------------------------------------------
// CPU-only tests

Deno.test("augmentFlags: bits and unknown names", () => {
  assert.deepEqual(AUGMENT_FLAGS, { crop: 1, flip: 2, autoaugment: 4, cutout: 8 });
  assert.equal(augmentFlags([]), 0);
  assert.equal(augmentFlags(["flip"]), 2);
  assert.equal(augmentFlags(["crop", "flip", "autoaugment", "cutout"]), 15);
  assert.throws(
    () => augmentFlags(["mixup" as "crop"]),
    /Unknown augmentation 'mixup': expected one of crop, flip, autoaugment, cutout/,
  );
});

Deno.test("augmentWgsl reads the kernel with its header", async () => {
  const code = await augmentWgsl();
  assert.match(code, /^\/\/ augment\.wgsl: GPU data augmentation/);
  assert.match(code, /override CAP_WORDS: u32/);
  assert.match(code, /var<uniform> dims: vec4<u32>/);
});

gpuTest("one augmentation pipeline per capacity, not per image shape", async (device) => {
  const mnistLike = await createAugmentPipeline(device, [1, 28, 28]);
  assert.equal(await createAugmentPipeline(device, [2, 9, 11]), mnistLike, "both fit 256 words");
  const cifarLike = await createAugmentPipeline(device, [3, 32, 32]);
  assert.equal(await createAugmentPipeline(device, [2, 28, 32]), cifarLike, "both fit 1024 words");
  assert.notEqual(cifarLike, mnistLike);
  assert.deepEqual(augmentOverrides([3, 33, 33]), { CAP_WORDS: 1024, CAP_C: 3 });
  assert.deepEqual(
    augmentOverrides([3, 40, 40]),
    { CAP_WORDS: 1200, CAP_C: 3 },
    "beyond: its size",
  );
  assert.deepEqual(augmentOverrides([4, 8, 8]), { CAP_WORDS: 256, CAP_C: 4 });
});

Deno.test("pcgHash equals an independent BigInt implementation", () => {
  const M = (1n << 32n) - 1n;
  const ref = (v: bigint) => {
    const state = (v * 747796405n + 2891336453n) & M;
    const word = (((state >> ((state >> 28n) + 4n)) ^ state) * 277803737n) & M;
    return Number((word >> 22n) ^ word);
  };
  for (const v of [0, 1, 2, 255, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 123456789, 0xDEADBEEF]) {
    assert.equal(pcgHash(v), ref(BigInt(v)), `pcgHash(${v})`);
  }
});

Deno.test("fixed-point rotation tables equal round(65536 cos/sin(30k/9 deg))", () => {
  for (let k = 0; k < 10; k++) {
    const r = (30 * k / 9) * Math.PI / 180;
    assert.equal(ROTATE_COS_FIXED[k], Math.round(65536 * Math.cos(r)));
    assert.equal(ROTATE_SIN_FIXED[k], Math.round(65536 * Math.sin(r)));
  }
});

Deno.test("CIFAR10 policy table: 25 sub-policies, spot checks against torchvision", () => {
  assert.equal(CIFAR10_POLICY.length, 25);
  const s = (j: number) => CIFAR10_POLICY[j].map((o) => `${o.op}/${o.tenths}/${o.bin}`).join(" ");
  assert.equal(s(0), "Invert/1/null Contrast/2/6");
  assert.equal(s(1), "Rotate/7/2 TranslateX/3/9");
  assert.equal(s(5), "ShearY/2/7 Posterize/3/7");
  assert.equal(s(14), "Solarize/5/2 Invert/0/null");
  assert.equal(s(19), "Brightness/1/3 Color/7/0");
  assert.equal(s(24), "TranslateY/7/9 AutoContrast/9/null");
});

Deno.test("augmentDraws: ranges and rough uniformity", () => {
  const shape: ImageShape = [3, 32, 32];
  const tops = new Array(9).fill(0);
  const subs = new Array(25).fill(0);
  let flips = 0;
  let neg = 0;
  let applied0 = 0;
  let sub1 = 0;
  const T = 5000;
  for (let pos = 0; pos < T; pos++) {
    const d = augmentDraws({ seed: 42, epoch: 3 }, pos, shape);
    tops[d.top]++;
    subs[d.subPolicy]++;
    flips += d.flip ? 1 : 0;
    neg += d.negative[0] ? 1 : 0;
    if (d.subPolicy === 1) {
      sub1++;
      applied0 += d.apply[0] ? 1 : 0; // Rotate with p = 0.7
    }
    assert.ok(d.left >= 0 && d.left <= 8 && d.cutoutY < 32 && d.cutoutX < 32);
  }
  for (const c of tops) assert.ok(Math.abs(c - T / 9) < 150, `crop offsets ${tops}`);
  for (const c of subs) assert.ok(Math.abs(c - T / 25) < 70, `sub-policies ${subs}`);
  assert.ok(Math.abs(flips - T / 2) < 200, `flips ${flips}`);
  assert.ok(Math.abs(neg - T / 2) < 200, `negative signs ${neg}`);
  assert.ok(Math.abs(applied0 / sub1 - 0.7) < 0.12, `rotate applied ${applied0}/${sub1}`);
  // Different seed or epoch: different draws.
  const a = augmentDraws({ seed: 42, epoch: 3 }, 7, shape);
  const b = augmentDraws({ seed: 42, epoch: 4 }, 7, shape);
  const c = augmentDraws({ seed: 43, epoch: 3 }, 7, shape);
  assert.notDeepEqual(a, b);
  assert.notDeepEqual(a, c);
});

Deno.test("augmentReference: flags 0 gathers and divides by 255; bad input is rejected", () => {
  const shape: ImageShape = [1, 2, 3];
  const images = randomBytes(6 * 4, 9);
  const indices = new Uint32Array([3, 1, 0, 2]);
  const out = augmentReference(images, shape, indices, {
    batch: 2,
    offset: 1,
    seed: 0,
    epoch: 0,
    flags: 0,
  });
  const want = [...images.subarray(6, 12), ...images.subarray(0, 6)].map((v) =>
    Math.fround(v / 255)
  );
  assert.deepEqual(Array.from(out), want);
  const params: AugmentParams = { batch: 2, offset: 3, seed: 0, epoch: 0, flags: 0 };
  assert.throws(
    () => augmentReference(images, shape, indices, params),
    /offset \+ batch = 5 exceeds indices.length 4/,
  );
  assert.throws(
    () => augmentReference(images, shape, new Uint32Array([0, 4]), { ...params, offset: 0 }),
    /indices\[1\] = 4 is out of range for 4 images/,
  );
  assert.throws(
    () => augmentReference(images.subarray(1), shape, indices, params),
    /multiple of C\*H\*W = 6 bytes, got 23/,
  );
  assert.throws(
    () => augmentReference(images, [1, 0, 3], indices, params),
    /expected shape \[C, H, W\] of positive integers, got \[1,0,3\]/,
  );
  assert.throws(
    () => augmentReference(images, shape, indices, { ...params, offset: 0, seed: -1 }),
    /params.seed expected an integer in 0..2\^32-1, got -1/,
  );
  assert.deepEqual(augmentDispatchSize(7), [7, 1]);
  assert.deepEqual(augmentDispatchSize(65536), [65535, 2]);
});

// ---------------------------------------------------------------------------------------------
// GPU against the CPU reference

for (const shape of [[3, 32, 32], [1, 28, 28]] as ImageShape[]) {
  gpuTest(
    `GPU equals reference on ${shape.join("x")}: each flag alone, all, batches 1 and 7`,
    async (
      device,
    ) => {
      const n = size(shape);
      const count = 11;
      const images = randomBytes(n * count, shape[0] * 1000 + shape[1]);
      const indices = new Uint32Array(40).map((_, i) => (i * 5 + 3) % count);
      for (const [batch, offset] of [[1, 5], [7, 2]]) {
        for (const flags of [0, 1, 2, 4, 8, 15]) {
          const params = { batch, offset, seed: 1234, epoch: 6, flags };
          const got = await runAugmentGpu(device, images, shape, indices, params);
          const want = augmentReference(images, shape, indices, params);
          assertSame(got, want, `batch ${batch} offset ${offset} flags ${flags}`);
          if (flags === 0) {
            // Independent: exactly pixel / 255 of the gathered images.
            for (let b = 0; b < batch; b++) {
              const base = indices[offset + b] * n;
              for (let i = 0; i < n; i++) {
                assert.equal(got[b * n + i], Math.fround(images[base + i] / 255));
              }
            }
          }
        }
      }
    },
  );
}

gpuTest("GPU: every byte value maps to exactly v/255; odd sizes and unaligned images", async (
  device,
) => {
  const all = new Uint8Array(256).map((_, i) => i);
  const out = await runAugmentGpu(device, all, [1, 16, 16], new Uint32Array([0]), {
    batch: 1,
    offset: 0,
    seed: 0,
    epoch: 0,
    flags: 0,
  });
  for (let v = 0; v < 256; v++) assert.equal(out[v], Math.fround(v / 255), `value ${v}`);
  // 3x5x7 = 105 bytes per image: images start at unaligned byte offsets.
  const shape: ImageShape = [3, 5, 7];
  const images = randomBytes(105 * 6, 77);
  const indices = new Uint32Array([5, 4, 3, 2, 1, 0, 1, 3, 5]);
  for (const flags of [0, 15]) {
    const params = { batch: 8, offset: 1, seed: 99, epoch: 1, flags };
    const got = await runAugmentGpu(device, images, shape, indices, params);
    assertSame(got, augmentReference(images, shape, indices, params), `3x5x7 flags ${flags}`);
  }
});

gpuTest("GPU: AutoAugment policy over many samples covers all 25 sub-policies", async (device) => {
  const shape: ImageShape = [3, 16, 16]; // 256 pixels per channel: Equalize is not the identity
  const n = size(shape);
  const count = 40;
  // Images with structure (smooth gradients plus noise) so that every op changes something.
  const noise = randomBytes(n * count, 5);
  const images = noise.map((v, i) => {
    const x = i % 16;
    const y = Math.floor(i / 16) % 16;
    return Math.min(255, (x * 9 + y * 5 + (v >> 2)) % 256);
  });
  const indices = new Uint32Array(400).map((_, i) => (i * 13) % count);
  const params = { batch: 300, offset: 17, seed: 2025, epoch: 3, flags: 4 };
  const seen = new Set<number>();
  const ops = new Set<string>();
  for (let b = 0; b < params.batch; b++) {
    const d = augmentDraws(params, params.offset + b, shape);
    seen.add(d.subPolicy);
    CIFAR10_POLICY[d.subPolicy].forEach((o, j) => d.apply[j] && ops.add(o.op));
  }
  assert.equal(seen.size, 25);
  assert.equal(ops.size, 13); // every op of the CIFAR-10 policy except ShearX
  for (const flags of [4, 15]) {
    const got = await runAugmentGpu(device, images, shape, indices, { ...params, flags });
    const want = augmentReference(images, shape, indices, { ...params, flags });
    assertSame(got, want, `flags ${flags}`);
  }
});

gpuTest("GPU: independent of batch composition; deterministic; epoch changes output", async (
  device,
) => {
  const shape: ImageShape = [3, 32, 32];
  const n = size(shape);
  const images = randomBytes(n * 9, 3);
  const indices = new Uint32Array([8, 7, 6, 5, 4, 3, 2, 1, 0, 8, 7]);
  const params = { batch: 7, offset: 3, seed: 5, epoch: 2, flags: 15 };
  const full = await runAugmentGpu(device, images, shape, indices, params);
  const again = await runAugmentGpu(device, images, shape, indices, params);
  assert.deepEqual(new Uint8Array(again.buffer), new Uint8Array(full.buffer));
  const one = await runAugmentGpu(device, images, shape, indices, {
    ...params,
    batch: 1,
    offset: 6,
  });
  assertSame(one, full.subarray(3 * n, 4 * n), "batch 1 at position 6");
  const three = await runAugmentGpu(device, images, shape, indices, {
    ...params,
    batch: 3,
    offset: 7,
  });
  assertSame(three, full.subarray(4 * n, 7 * n), "batch 3 at positions 7..9");
  const other = await runAugmentGpu(device, images, shape, indices, { ...params, epoch: 3 });
  assert.notDeepEqual(Array.from(other), Array.from(full));
});

gpuTest("GPU: flip mirrors about half of the samples", async (device) => {
  const shape: ImageShape = [1, 4, 8];
  const image = new Uint8Array(32).map((_, i) => 10 + 20 * (i % 8) + (i >> 3)); // distinct columns
  const batch = 400;
  const indices = new Uint32Array(batch);
  const out = toBytes(
    await runAugmentGpu(device, image, shape, indices, {
      batch,
      offset: 0,
      seed: 8,
      epoch: 0,
      flags: AUGMENT_FLAGS.flip,
    }),
  );
  const mirrored = Array.from({ length: 32 }, (_, i) => image[(i >> 3) * 8 + 7 - (i % 8)]);
  let flipped = 0;
  for (let b = 0; b < batch; b++) {
    const s = out.slice(b * 32, b * 32 + 32);
    if (s.join() === mirrored.join()) flipped++;
    else assert.equal(s.join(), Array.from(image).join(), `sample ${b} neither flipped nor not`);
  }
  assert.ok(Math.abs(flipped - batch / 2) < 50, `flipped ${flipped} of ${batch}`);
});

gpuTest("GPU: crop is a shift by -4..4 with fill 128", async (device) => {
  const shape: ImageShape = [2, 6, 5];
  const image = new Uint8Array(60).map((_, i) => i + 1); // no 128, all distinct
  const batch = 300;
  const out = toBytes(
    await runAugmentGpu(device, image, shape, new Uint32Array(batch), {
      batch,
      offset: 0,
      seed: 1,
      epoch: 9,
      flags: AUGMENT_FLAGS.crop,
    }),
  );
  const shifts = new Set<string>();
  for (let b = 0; b < batch; b++) {
    const s = out.slice(b * 60, b * 60 + 60).join();
    let found = "";
    for (let dy = -4; dy <= 4 && !found; dy++) {
      for (let dx = -4; dx <= 4 && !found; dx++) {
        const want = Array.from({ length: 60 }, (_, i) => {
          const c = Math.floor(i / 30);
          const y = Math.floor(i / 5) % 6 + dy;
          const x = (i % 5) + dx;
          return y >= 0 && y < 6 && x >= 0 && x < 5 ? image[c * 30 + y * 5 + x] : 128;
        });
        if (want.join() === s) found = `${dy},${dx}`;
      }
    }
    assert.ok(found, `sample ${b} is not a padded shift`);
    shifts.add(found);
  }
  assert.ok(shifts.size >= 70, `only ${shifts.size} distinct shifts of 81`);
});

gpuTest("GPU: cutout zeroes one 16x16 square clipped at the border", async (device) => {
  const shape: ImageShape = [2, 32, 32];
  const image = new Uint8Array(2048).fill(200);
  const batch = 200;
  const out = toBytes(
    await runAugmentGpu(device, image, shape, new Uint32Array(batch), {
      batch,
      offset: 0,
      seed: 77,
      epoch: 1,
      flags: AUGMENT_FLAGS.cutout,
    }),
  );
  let full = 0;
  let top = 0;
  let bottom = 0;
  for (let b = 0; b < batch; b++) {
    const rows = new Set<number>();
    const cols = new Set<number>();
    let zeros = 0;
    for (let i = 0; i < 2048; i++) {
      const v = out[b * 2048 + i];
      if (v === 0) {
        zeros++;
        rows.add(Math.floor(i / 32) % 32);
        cols.add(i % 32);
      } else assert.equal(v, 200);
    }
    const ys = [...rows].sort((a, c) => a - c);
    const xs = [...cols].sort((a, c) => a - c);
    const [y1, y2, x1, x2] = [ys[0], ys[ys.length - 1] + 1, xs[0], xs[xs.length - 1] + 1];
    assert.equal(zeros, 2 * (y2 - y1) * (x2 - x1), `sample ${b}: not a rectangle in both channels`);
    for (const [a, z] of [[y1, y2], [x1, x2]]) {
      const len = z - a;
      assert.ok(len >= 8 && len <= 16, `sample ${b}: side ${len}`);
      if (len < 16) assert.ok(a === 0 || z === 32, `sample ${b}: clipped side ${a}..${z} inside`);
    }
    if (y2 - y1 === 16 && x2 - x1 === 16) full++;
    if (y1 === 0) top++;
    if (y2 === 32) bottom++;
  }
  // Unclipped in both directions when 8 <= cy, cx <= 24: (17/32)^2 = 28%.
  assert.ok(full > 30 && full < 85, `full squares ${full}`);
  assert.ok(top > 20 && bottom > 20, `top ${top} bottom ${bottom}`);
});

gpuTest("createAugmentPipeline: too much workgroup memory is an error", async (device) => {
  await assert.rejects(
    async () => await createAugmentPipeline(device, [3, 64, 64]),
    /shape \[3,64,64\] needs \d+ bytes of workgroup memory, the device allows \d+/,
  );
});

// ---------------------------------------------------------------------------------------------
// Each AutoAugment op on hand-made images: GPU (forced op) and CPU reference against values
// computed by hand or by a plain independent implementation here.

async function opBoth(
  device: GPUDevice,
  image: Uint8Array,
  shape: ImageShape,
  op: AugmentOp,
  bin: number,
  negative = false,
): Promise<number[]> {
  const forceOp = { op, bin, negative };
  const params = { batch: 1, offset: 0, seed: 3, epoch: 0, flags: AUGMENT_FLAGS.autoaugment };
  const gpu = toBytes(
    await runAugmentGpu(device, image, shape, new Uint32Array([0]), params, {
      forceOp,
    }),
  );
  const ref = Array.from(applyAugmentOp(image, shape, op, bin, negative));
  assert.deepEqual(gpu, ref, `${op} bin ${bin} negative ${negative}: GPU vs reference`);
  return gpu;
}

gpuTest("op Invert, Posterize, Solarize by hand", async (device) => {
  const s: ImageShape = [1, 1, 4];
  const img = new Uint8Array([0, 10, 255, 13]);
  assert.deepEqual(await opBoth(device, img, s, "Invert", 0), [255, 245, 0, 242]);
  // Posterize bin 7 keeps 5 bits (mask 0xF8); bin 0 keeps 8.
  const post = new Uint8Array([13, 255, 7, 8]);
  assert.deepEqual(await opBoth(device, post, s, "Posterize", 7), [8, 248, 0, 8]);
  assert.deepEqual(await opBoth(device, post, s, "Posterize", 9), [0, 240, 0, 0]);
  // Solarize bin 2: threshold 255 * 7/9 = 198.33; bin 9: threshold 0; bin 0: threshold 255.
  const sol = new Uint8Array([0, 198, 199, 255]);
  assert.deepEqual(await opBoth(device, sol, s, "Solarize", 2), [0, 198, 56, 0]);
  assert.deepEqual(await opBoth(device, sol, s, "Solarize", 9), [255, 57, 56, 0]);
  assert.deepEqual(await opBoth(device, sol, s, "Solarize", 0), [0, 198, 199, 0]);
});

gpuTest("op Brightness, Color, Contrast, Sharpness by hand", async (device) => {
  // Brightness bin 7: factor 1.7 or 0.3, floored.
  const br = new Uint8Array([0, 15, 100, 200]);
  assert.deepEqual(await opBoth(device, br, [1, 1, 4], "Brightness", 7), [0, 25, 170, 255]);
  assert.deepEqual(await opBoth(device, br, [1, 1, 4], "Brightness", 7, true), [0, 4, 30, 60]);
  // Color bin 3 (factor 1.3 / 0.7) towards L = 119 for (200, 100, 0); a grey pixel is kept.
  const rgb = new Uint8Array([200, 50, 100, 50, 0, 50]); // pixels (200,100,0) and (50,50,50)
  assert.deepEqual(await opBoth(device, rgb, [3, 1, 2], "Color", 3), [224, 50, 94, 50, 0, 50]);
  assert.deepEqual(
    await opBoth(device, rgb, [3, 1, 2], "Color", 3, true),
    [175, 50, 105, 50, 35, 50],
  );
  assert.deepEqual(await opBoth(device, br, [1, 1, 4], "Color", 9), [0, 15, 100, 200]);
  // Contrast, grey image with mean 100: factor 1.6 / 0.4.
  const ct = new Uint8Array([0, 100, 100, 200]);
  assert.deepEqual(await opBoth(device, ct, [1, 2, 2], "Contrast", 6), [0, 100, 100, 255]);
  assert.deepEqual(await opBoth(device, ct, [1, 2, 2], "Contrast", 6, true), [60, 100, 100, 140]);
  // RGB (255,0,0), (0,0,255): L = 76 and 29, mean round(52.5) = 53; factor 0.4.
  const ct3 = new Uint8Array([255, 0, 0, 0, 0, 255]);
  assert.deepEqual(
    await opBoth(device, ct3, [3, 1, 2], "Contrast", 6, true),
    [133, 31, 31, 31, 31, 133],
  );
  // Sharpness: centre 100 among 10s, smooth = round((8*10 + 5*100)/13) = 45; border kept.
  const sh = new Uint8Array([10, 10, 10, 10, 100, 10, 10, 10, 10]);
  const centre = (v: number) => [10, 10, 10, 10, v, 10, 10, 10, 10];
  assert.deepEqual(await opBoth(device, sh, [1, 3, 3], "Sharpness", 9), centre(149));
  assert.deepEqual(await opBoth(device, sh, [1, 3, 3], "Sharpness", 9, true), centre(50));
});

gpuTest("op AutoContrast and Equalize by hand", async (device) => {
  // Per channel: [50..150] stretched, a constant channel kept, a full-range channel kept.
  const ac = new Uint8Array([50, 100, 150, 75, 9, 9, 9, 9, 0, 255, 1, 254]);
  assert.deepEqual(
    await opBoth(device, ac, [3, 1, 4], "AutoContrast", 0),
    [0, 127, 255, 63, 9, 9, 9, 9, 0, 255, 1, 254],
  );
  // 1x32x32: 512 zeros, 256 x 100, 256 x 200. step = (1024 - 256) // 255 = 3,
  // lut[v] = (1 + count below v) // 3: 0 -> 0, 100 -> 513 // 3 = 171, 200 -> 769 // 3 -> 255.
  const eq = new Uint8Array(1024).map((_, i) => (i < 512 ? 0 : i < 768 ? 100 : 200));
  const got = await opBoth(device, eq, [1, 32, 32], "Equalize", 0);
  assert.deepEqual(got, Array.from(eq, (v) => (v === 0 ? 0 : v === 100 ? 171 : 255)));
  // 3x16x16: channel 0 step (256 - 56) // 255 = 0 -> identity; channel 1: 255 x 7 and 1 x 9,
  // step 1: 7 -> 0, 9 -> 255; channel 2: 128 x 0, 128 x 255, step 0 -> identity.
  const eq3 = new Uint8Array(768).map((_, i) => {
    const c = i >> 8;
    const j = i & 255;
    return c === 0 ? (j < 200 ? 10 : 50) : c === 1 ? (j === 77 ? 9 : 7) : (j < 128 ? 0 : 255);
  });
  const want3 = Array.from(eq3, (v, i) => (i >> 8) === 1 ? (v === 9 ? 255 : 0) : v);
  assert.deepEqual(await opBoth(device, eq3, [3, 16, 16], "Equalize", 0), want3);
});

/** Plain nearest-neighbour warp: src(x_c, y_c) for pixel centres, fill 128. */
function warp(
  img: Uint8Array,
  [C, H, W]: ImageShape,
  src: (xc: number, yc: number) => [number, number],
): number[] {
  const out: number[] = [];
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const [sx, sy] = src(x + 0.5, y + 0.5).map(Math.floor);
        out.push(sx >= 0 && sy >= 0 && sx < W && sy < H ? img[(c * H + sy) * W + sx] : 128);
      }
    }
  }
  return out;
}

gpuTest("op TranslateX/Y: 14 px on width 32, 12 and 4 px on height 28", async (device) => {
  const shape: ImageShape = [2, 28, 32];
  const img = randomBytes(size(shape), 21);
  // int(150/331 * 32 * 9/9) = 14; int(150/331 * 28) = 12; int(150/331 * 28 * 3/9) = 4.
  const cases: [AugmentOp, number, number][] = [
    ["TranslateX", 9, 14],
    ["TranslateY", 9, 12],
    ["TranslateY", 3, 4],
  ];
  for (const [op, bin, t] of cases) {
    for (const negative of [false, true]) {
      const d = negative ? -t : t;
      const want = warp(img, shape, (x, y) => op === "TranslateX" ? [x - d, y] : [x, y - d]);
      assert.deepEqual(
        await opBoth(device, img, shape, op, bin, negative),
        want,
        `${op} ${bin} ${negative}`,
      );
    }
  }
});

gpuTest("op ShearX/ShearY/Rotate against a float implementation", async (device) => {
  const shape: ImageShape = [2, 9, 11];
  const [, H, W] = shape;
  const img = randomBytes(size(shape), 8);
  for (const bin of [7, 8]) {
    for (const negative of [false, true]) {
      const m = (negative ? -1 : 1) * Math.tan(Math.atan(0.3 * bin / 9));
      assert.deepEqual(
        await opBoth(device, img, shape, "ShearX", bin, negative),
        warp(img, shape, (x, y) => [x + m * y, y]),
        `ShearX ${bin} ${negative}`,
      );
      assert.deepEqual(
        await opBoth(device, img, shape, "ShearY", bin, negative),
        warp(img, shape, (x, y) => [x, y + m * x]),
        `ShearY ${bin} ${negative}`,
      );
    }
  }
  for (const bin of [2, 9]) {
    for (const negative of [false, true]) {
      // Counter-clockwise on screen (y down) by 30 * bin / 9 degrees about the centre.
      const a = (negative ? -1 : 1) * (30 * bin / 9) * Math.PI / 180;
      const [cos, sin] = [Math.cos(a), Math.sin(a)];
      const want = warp(img, shape, (x, y) => {
        const [dx, dy] = [x - W / 2, y - H / 2];
        return [cos * dx - sin * dy + W / 2, sin * dx + cos * dy + H / 2];
      });
      assert.deepEqual(
        await opBoth(device, img, shape, "Rotate", bin, negative),
        want,
        `Rotate ${bin} ${negative}`,
      );
    }
  }
  // Direction check by hand: rotating +30 deg moves the pixel right of the centre upwards.
  const dot = new Uint8Array(size([1, 9, 9]));
  dot[4 * 9 + 8] = 255; // row 4 (centre row), column 8 (right edge)
  const r = await opBoth(device, dot, [1, 9, 9], "Rotate", 9);
  const at = r.indexOf(255);
  assert.ok(Math.floor(at / 9) < 4 && at % 9 > 4, `dot moved to ${at} (row ${Math.floor(at / 9)})`);
});

Deno.test("every op name has a kernel id", () => {
  assert.equal(AUGMENT_OPS.length, 14);
  assert.equal(AUGMENT_OPS.indexOf("Invert"), 13);
});

gpuTest(
  "the plain gather kernel gives the augmentation kernel's bytes with no flag set",
  async (device) => {
    const { createGatherPipeline } = await import("../src/data/gather.ts");
    const { packAugmentParams } = await import("../src/data/augment.ts");
    for (const shape of [[3, 32, 32], [1, 28, 28], [1, 3, 5]] as ImageShape[]) {
      const n = size(shape);
      const count = 5;
      const bytes = Uint8Array.from({ length: count * n }, (_, i) => (i * 37 + 11) % 256);
      bytes.set([0, 1, 127, 128, 254, 255], 0);
      const indices = Uint32Array.from([4, 0, 2, 2, 1]);
      const params = { batch: 3, offset: 1, seed: 9, epoch: 2, flags: 0 };
      const want = await runAugmentGpu(device, bytes, shape, indices, params);
      const pipeline = await createGatherPipeline(device, shape);
      const buf = (data: ArrayBufferView, usage: number) => {
        const b = device.createBuffer({
          size: Math.max(16, Math.ceil(data.byteLength / 4) * 4),
          usage: usage | GPUBufferUsage.COPY_DST,
        });
        const padded = new Uint8Array(b.size);
        padded.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
        device.queue.writeBuffer(b, 0, padded);
        return b;
      };
      const images = buf(bytes, GPUBufferUsage.STORAGE);
      const idx = buf(indices, GPUBufferUsage.STORAGE);
      const out = buf(
        new Float32Array(params.batch * n).fill(NaN),
        GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
      );
      const uni = buf(packAugmentParams(params), GPUBufferUsage.UNIFORM);
      const read = device.createBuffer({
        size: out.size,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      const group = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [images, idx, out, uni].map((buffer, binding) => ({
          binding,
          resource: { buffer },
        })),
      });
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(params.batch);
      pass.end();
      enc.copyBufferToBuffer(out, 0, read, 0, out.size);
      device.queue.submit([enc.finish()]);
      await read.mapAsync(GPUMapMode.READ);
      const got = new Float32Array(read.getMappedRange().slice(0, params.batch * n * 4));
      read.unmap();
      assert.deepEqual(Array.from(got), Array.from(want), `shape ${shape}`);
      for (const b of [images, idx, out, uni, read]) b.destroy();
    }
  },
);
