import assert from "node:assert/strict";
import {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  writeSafetensors,
} from "../src/engine/safetensors.ts";

/** Assembles a file the way the format defines it: u64 LE length, header (space padded), data. */
function build(header: string, data: Uint8Array, pad = true): Uint8Array {
  let json = new TextEncoder().encode(header);
  if (pad && json.length % 8 !== 0) {
    const padded = new Uint8Array(json.length + 8 - (json.length % 8)).fill(0x20);
    padded.set(json);
    json = padded;
  }
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function f32Bytes(values: number[]): Uint8Array {
  const b = new Uint8Array(4 * values.length);
  const v = new DataView(b.buffer);
  values.forEach((x, i) => v.setFloat32(4 * i, x, true));
  return b;
}

function tensorJson(dtype: string, shape: number[], begin: number, end: number): string {
  return `{"dtype":"${dtype}","shape":[${shape.join(",")}],"data_offsets":[${begin},${end}]}`;
}

Deno.test("round-trip keeps names, shapes, metadata and every float32 bit", () => {
  const special = new Float32Array([NaN, Infinity, -Infinity, -0, 1e-45, 3.4028234663852886e38]);
  const tensors = {
    "layers.0.weight": { shape: [2, 1, 3, 3], data: new Float32Array(18).map((_, i) => i - 7.25) },
    "layers.0.bias": { shape: [2], data: new Float32Array([0.1, -0.2]) },
    "scalar": { shape: [], data: new Float32Array([42]) },
    "empty": { shape: [0, 5], data: new Float32Array(0) },
    "spécial ✓": { shape: [6], data: special },
    "0": { shape: [1], data: new Float32Array([7]) },
  };
  const metadata = { arch: "16C3-P2-10F", "seed": "1", 'quote"d': "a\nb" };
  const back = decodeSafetensors(encodeSafetensors(tensors, metadata));
  assert.deepEqual(back.metadata, metadata);
  assert.deepEqual(Object.keys(back.tensors).sort(), Object.keys(tensors).sort());
  for (const [name, t] of Object.entries(tensors)) {
    const got = back.tensors[name];
    assert.equal(got.dtype, "F32");
    assert.deepEqual(got.shape, t.shape);
    assert.ok(got.data instanceof Float32Array);
    assert.deepEqual(
      new Uint8Array(got.data.buffer, got.data.byteOffset, got.data.byteLength),
      new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      `bits of '${name}'`,
    );
  }
  // subarray views encode only their own elements
  const big = new Float32Array([9, 1, 2, 9]);
  const sub = decodeSafetensors(encodeSafetensors({ s: { shape: [2], data: big.subarray(1, 3) } }));
  assert.deepEqual(Array.from(sub.tensors.s.data), [1, 2]);
  assert.deepEqual(decodeSafetensors(encodeSafetensors({})).tensors, {});
});

Deno.test("encoding matches the reference layout byte for byte", () => {
  // One F32 tensor [1, 2, 3] holding 0..5: compact JSON, no metadata key, padded with spaces.
  const header = `{"attn.0":${tensorJson("F32", [1, 2, 3], 0, 24)}}`;
  const expected = build(header, f32Bytes([0, 1, 2, 3, 4, 5]));
  const got = encodeSafetensors({
    "attn.0": { shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) },
  });
  assert.deepEqual(got, expected);

  // With metadata: "__metadata__" first, tensors in name order, contiguous offsets.
  const bytes = encodeSafetensors(
    {
      b: { shape: [1], data: new Float32Array([2]) },
      a: { shape: [2], data: new Float32Array([0, 1]) },
    },
    { framework: "pt" },
  );
  const hdr = `{"__metadata__":{"framework":"pt"},"a":${tensorJson("F32", [2], 0, 8)},"b":${
    tensorJson("F32", [1], 8, 12)
  }}`;
  assert.deepEqual(bytes, build(hdr, f32Bytes([0, 1, 2])));
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0);
  // empty file: "{}" padded to 8 bytes
  assert.deepEqual(
    encodeSafetensors({}),
    new Uint8Array([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]),
  );
});

Deno.test("decodes a file laid out like Python's safetensors writes it (F64, F32, BF16, F16)", () => {
  // safetensors sorts by dtype alignment (descending: F64, F32, BF16, F16), then by name,
  // writes __metadata__ first, compact JSON, and pads the header with spaces to 8 bytes.
  const data: number[] = [];
  const push = (bytes: number[]) => data.push(...bytes);
  // "d" F64 [2]: 0.1, -3  (0.1 rounds to float32 on reading)
  const f64 = new Uint8Array(16);
  new DataView(f64.buffer).setFloat64(0, 0.1, true);
  new DataView(f64.buffer).setFloat64(8, -3, true);
  push(Array.from(f64)); // bytes 0..16
  // "a.w" F32 [2, 2]: 1, 2, 3, 4.5
  push(Array.from(f32Bytes([1, 2, 3, 4.5]))); // 16..32
  // "b" F32 []: -1
  push(Array.from(f32Bytes([-1]))); // 32..36
  // "e" BF16 [2]: 0x3FC0 = 1.5, 0xC120 = -10 (little endian)
  push([0xc0, 0x3f, 0x20, 0xc1]); // 36..40
  // "c" F16 [5]: 1, -2, 0.5, smallest subnormal 2^-24, +inf
  push([0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0x01, 0x00, 0x00, 0x7c]); // 40..50
  const header = `{"__metadata__":{"format":"pt"},"d":${tensorJson("F64", [2], 0, 16)},"a.w":${
    tensorJson("F32", [2, 2], 16, 32)
  },"b":${tensorJson("F32", [], 32, 36)},"e":${tensorJson("BF16", [2], 36, 40)},"c":${
    tensorJson("F16", [5], 40, 50)
  }}`;
  const file = build(header, new Uint8Array(data));
  assert.equal((8 + Number(new DataView(file.buffer).getBigUint64(0, true))) % 8, 0);
  const { tensors, metadata } = decodeSafetensors(file, "py.safetensors");
  assert.deepEqual(metadata, { format: "pt" });
  assert.deepEqual(tensors.d.shape, [2]);
  assert.equal(tensors.d.dtype, "F64");
  assert.deepEqual(Array.from(tensors.d.data), [Math.fround(0.1), -3]);
  assert.deepEqual(Array.from(tensors["a.w"].data), [1, 2, 3, 4.5]);
  assert.deepEqual(tensors["a.w"].shape, [2, 2]);
  assert.deepEqual(tensors.b.shape, []);
  assert.deepEqual(Array.from(tensors.b.data), [-1]);
  assert.equal(tensors.e.dtype, "BF16");
  assert.deepEqual(Array.from(tensors.e.data), [1.5, -10]);
  assert.equal(tensors.c.dtype, "F16");
  assert.deepEqual(Array.from(tensors.c.data), [1, -2, 0.5, 2 ** -24, Infinity]);

  // An unpadded header (other writers) puts F32 data at an odd address: still read correctly.
  const odd = build(`{"x":${tensorJson("F32", [2], 0, 8)}}`, f32Bytes([5, 6]), false);
  assert.notEqual(Number(new DataView(odd.buffer).getBigUint64(0, true)) % 4, 0);
  assert.deepEqual(Array.from(decodeSafetensors(odd).tensors.x.data), [5, 6]);
  // F16 NaN and negative zero
  const h = build(
    `{"h":${tensorJson("F16", [2], 0, 4)}}`,
    new Uint8Array([0x00, 0x7e, 0x00, 0x80]),
  );
  const hd = decodeSafetensors(h).tensors.h.data;
  assert.ok(Number.isNaN(hd[0]));
  assert.ok(Object.is(hd[1], -0));
});

Deno.test("every corruption gives its own error naming the file and tensor", () => {
  const src = "w.safetensors";
  const ok = (hdr: string, bytes: number) => build(hdr, new Uint8Array(bytes));
  const cases: [string, Uint8Array, RegExp][] = [
    ["too short", new Uint8Array(5), /expected at least 8 bytes \(header length\), got 5 bytes/],
    [
      "header length beyond file",
      (() => {
        const b = build(`{}`, new Uint8Array(0));
        new DataView(b.buffer).setBigUint64(0, 1000n, true);
        return b;
      })(),
      /header length 1000 is beyond the file: only 8 bytes follow/,
    ],
    [
      "huge header length",
      (() => {
        const b = new Uint8Array(16);
        new DataView(b.buffer).setBigUint64(0, 2n ** 63n, true);
        return b;
      })(),
      /header length 9223372036854775808 is beyond the file/,
    ],
    [
      "invalid UTF-8",
      (() => {
        const b = build(`{"a":1}`, new Uint8Array(0));
        b[9] = 0xff;
        return b;
      })(),
      /header \(8 bytes\) is not valid UTF-8/,
    ],
    ["bad JSON", ok(`{"a": {`, 0), /header is not valid JSON/],
    ["not an object", ok(`[1,2]`, 0), /header expected a JSON object, got array/],
    [
      "metadata not strings",
      ok(`{"__metadata__":{"epoch":3}}`, 0),
      /'__metadata__' entry 'epoch' expected a string, got 3/,
    ],
    [
      "tensor info not object",
      ok(`{"w":5}`, 0),
      /tensor 'w' expected \{dtype, shape, data_offsets\}, got 5/,
    ],
    [
      "unknown dtype",
      ok(`{"w":${tensorJson("F12", [1], 0, 4)}}`, 4),
      /tensor 'w' has unknown dtype "F12"/,
    ],
    [
      "unsupported dtype",
      ok(`{"idx":${tensorJson("I64", [1], 0, 8)}}`, 8),
      /tensor 'idx' has dtype I64, which is not supported: expected one of F32, F16, BF16, F64/,
    ],
    [
      "negative dim",
      ok(`{"w":${tensorJson("F32", [-1], 0, 4)}}`, 4),
      /tensor 'w' expected a shape of non-negative integers, got \[-1\]/,
    ],
    [
      "fractional dim",
      ok(`{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, 4),
      /tensor 'w' expected a shape of non-negative integers, got \[1.5\]/,
    ],
    [
      "offsets malformed",
      ok(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[4]}}`, 4),
      /tensor 'w' expected data_offsets \[begin, end\] of non-negative integers, got \[4\]/,
    ],
    [
      "end before begin",
      ok(`{"w":${tensorJson("F32", [1], 8, 4)}}`, 8),
      /tensor 'w' has data_offsets \[8, 4\] with end before begin/,
    ],
    [
      "out of range",
      ok(`{"w":${tensorJson("F32", [2], 0, 8)}}`, 4),
      /tensor 'w' has data_offsets \[0, 8\] out of range: the data section has 4 bytes/,
    ],
    [
      "size does not match shape",
      ok(`{"layers.0.weight":${tensorJson("F32", [16, 1, 3, 3], 0, 4)}}`, 4),
      /tensor 'layers.0.weight' with dtype F32 and shape \[16, 1, 3, 3\] expected 576 bytes, got data_offsets \[0, 4\] \(4 bytes\)/,
    ],
    [
      "overlap",
      ok(`{"a":${tensorJson("F32", [2], 0, 8)},"b":${tensorJson("F32", [2], 4, 12)}}`, 12),
      /tensor 'b' data_offsets \[4, 12\] overlap tensor 'a' \[0, 8\]/,
    ],
    [
      "gap",
      ok(`{"a":${tensorJson("F32", [1], 0, 4)},"b":${tensorJson("F32", [1], 8, 12)}}`, 12),
      /tensor 'b' expected to start at byte 4 of the data, got 8 \(a gap of 4 bytes\)/,
    ],
    [
      "trailing bytes",
      ok(`{"a":${tensorJson("F32", [1], 0, 4)}}`, 9),
      /tensors cover 4 bytes of data, but the data section has 9 bytes/,
    ],
  ];
  for (const [what, bytes, re] of cases) {
    assert.throws(
      () => decodeSafetensors(bytes, src),
      (e: Error) => {
        assert.match(e.message, /^Cannot read safetensors 'w\.safetensors': /, what);
        assert.match(e.message, re, what);
        return true;
      },
      what,
    );
  }
});

Deno.test("encode rejects bad input with messages naming the tensor", () => {
  const f = (t: Record<string, unknown>, m?: Record<string, unknown>) => () =>
    encodeSafetensors(
      t as Record<string, { shape: number[]; data: Float32Array }>,
      m as Record<string, string>,
    );
  assert.throws(
    f({ "layers.0.weight": { shape: [16, 1, 3, 3], data: new Float32Array(144 - 1) } }),
    /tensor 'layers.0.weight' shape \[16, 1, 3, 3\] expected 144 elements, got 143/,
  );
  assert.throws(
    f({ w: { shape: [2], data: [1, 2] } }),
    /tensor 'w' expected \{shape, data: Float32Array\}, got data of type Array/,
  );
  assert.throws(
    f({ w: { shape: [2.5], data: new Float32Array(2) } }),
    /tensor 'w' expected a shape of non-negative integers, got \[2.5\]/,
  );
  assert.throws(f({ __metadata__: { shape: [1], data: new Float32Array(1) } }), /reserved/);
  assert.throws(f({}, { epoch: 3 }), /metadata 'epoch' expected a string, got number 3/);
});

Deno.test("writeSafetensors/readSafetensors: atomic write, errors name the path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/model.safetensors`;
    const t = { w: { shape: [3], data: new Float32Array([1, 2, 3]) } };
    await writeSafetensors(path, t, { note: "first" });
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["model.safetensors"]);
    const back = await readSafetensors(path);
    assert.deepEqual(Array.from(back.tensors.w.data), [1, 2, 3]);
    assert.equal(back.metadata.note, "first");

    // Encoding throws: the existing file stays intact, no temporary file is left.
    const before = await Deno.readFile(path);
    await assert.rejects(
      writeSafetensors(path, { w: { shape: [4], data: new Float32Array(3) } }),
      /^Error: Cannot write safetensors '.*model\.safetensors': tensor 'w' shape \[4\] expected 4 elements, got 3/,
    );
    assert.deepEqual(await Deno.readFile(path), before);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["model.safetensors"]);

    // Encoding throws for a new path: no file at all.
    const fresh = `${dir}/fresh.safetensors`;
    await assert.rejects(
      writeSafetensors(fresh, { w: { shape: [1], data: new Float32Array(2) } }),
      /fresh\.safetensors/,
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["model.safetensors"]);

    // Writing below a file (not a folder) fails with the path and leaves nothing.
    await assert.rejects(
      writeSafetensors(`${path}/x.safetensors`, t),
      /Cannot write safetensors '.*model\.safetensors\/x\.safetensors'/,
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["model.safetensors"]);

    // Overwrite replaces the content.
    await writeSafetensors(path, { v: { shape: [1], data: new Float32Array([9]) } });
    assert.deepEqual(Object.keys((await readSafetensors(path)).tensors), ["v"]);

    // Reading: missing file and corrupt file both name the path.
    await assert.rejects(readSafetensors(`${dir}/missing.safetensors`), /missing\.safetensors/);
    await Deno.writeFile(`${dir}/bad.safetensors`, new Uint8Array([1, 2, 3]));
    await assert.rejects(
      readSafetensors(`${dir}/bad.safetensors`),
      /Cannot read safetensors '.*bad\.safetensors': expected at least 8 bytes/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a written file carries a checksum: one flipped bit anywhere is refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/c.safetensors`;
    const t = {
      a: { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
      b: { shape: [1], data: new Float32Array([0.25]) },
    };
    await writeSafetensors(path, t, { state: '{"epoch":3}' });
    const good = await Deno.readFile(path);
    const back = await readSafetensors(path);
    assert.deepEqual(back.metadata, { state: '{"epoch":3}' }, "the checksum key is not returned");
    const header = Number(new DataView(good.buffer).getBigUint64(0, true));
    // A bit in the data, a bit in a metadata value (the epoch), a bit of the last byte.
    // The '3' of the epoch: flipping its lowest bit makes it a '2', still valid JSON.
    const epochAt = new TextDecoder().decode(good.subarray(8, 8 + header)).indexOf('epoch\\":3') +
      8 + 8;
    assert.equal(String.fromCharCode(good[epochAt]), "3");
    for (const [at, bit] of [[8 + header + 5, 0x10], [epochAt, 0x01], [good.length - 1, 0x80]]) {
      const bad = good.slice();
      bad[at] ^= bit;
      await Deno.writeFile(path, bad);
      await assert.rejects(
        readSafetensors(path),
        /Cannot read safetensors '.*c\.safetensors': checksum mismatch: written with SHA-256 [0-9a-f]{64}, its contents now hash to [0-9a-f]{64}/,
        `bit ${bit} of byte ${at}`,
      );
    }
    // A truncated copy is refused before its data is read, naming both sizes.
    await Deno.writeFile(path, good.subarray(0, good.length - 4));
    await assert.rejects(
      readSafetensors(path),
      /the header describes 28 bytes of tensor data, but the file holds 24 \(truncated or damaged\)/,
    );
    // The reserved key cannot be written by hand.
    await assert.rejects(
      writeSafetensors(path, t, { "firstspike.sha256": "x" }),
      /metadata key 'firstspike\.sha256' is reserved/,
    );
    // Files without the key (written by other tools) are read as before.
    await Deno.writeFile(path, encodeSafetensors(t));
    assert.deepEqual(Array.from((await readSafetensors(path)).tensors.b.data), [0.25]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a 3 GB file claiming a huge header is refused after reading 8 bytes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/huge.safetensors`;
    const f = await Deno.open(path, { write: true, create: true });
    const len = new Uint8Array(8);
    new DataView(len.buffer).setBigUint64(0, 2_900_000_000n, true);
    await f.write(len);
    await f.truncate(3_000_000_000); // sparse: takes no disk space
    f.close();
    const rss = Deno.memoryUsage().rss;
    const t0 = performance.now();
    await assert.rejects(
      readSafetensors(path),
      /huge\.safetensors': header length 2900000000 is over the limit of 100000000 bytes/,
    );
    assert.ok(performance.now() - t0 < 2000, "refused at once");
    assert.ok(Deno.memoryUsage().rss - rss < 200e6, "without reading the file");
    // A small valid header in front of 3 GB of data it does not describe: refused unread too.
    const body = encodeSafetensors({ w: { shape: [1], data: new Float32Array([1]) } });
    const g = await Deno.open(path, { write: true, truncate: true });
    await g.write(body);
    await g.truncate(3_000_000_000);
    g.close();
    await assert.rejects(
      readSafetensors(path),
      /describes 4 bytes of tensor data, but the file holds/,
    );
    assert.ok(Deno.memoryUsage().rss - rss < 200e6, "without reading the file");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
