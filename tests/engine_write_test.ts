// Engine.write of empty data is a no-op (Deno 2.9.6 panics on a 0-byte
// queue.writeBuffer, which took the whole process down when an evaluation
// uploaded an empty training split).
import assert from "node:assert/strict";
import { GPU_TEST, testEngine } from "./_compare.ts";

Deno.test("Engine.write with no bytes leaves the buffer as it was", GPU_TEST, async () => {
  const engine = await testEngine();
  const b = engine.buffer(16, "empty write");
  try {
    engine.write(b, new Float32Array([1, 2, 3, 4]));
    engine.write(b, new Uint8Array(0));
    engine.write(b, new Uint32Array(0), 8);
    assert.deepEqual([...(await engine.readF32(b, 4))], [1, 2, 3, 4]);
  } finally {
    b.destroy();
  }
});
