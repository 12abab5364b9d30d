// deno task test's runner (tasks/test.ts): shares of the suite, its summary line, and which
// runs it gives a second chance (a crash after every test passed) and which it never does.
import assert from "node:assert/strict";
import { type Ended, runShares, type Share, shares, summaryOf } from "../tasks/test.ts";

Deno.test("shares: every file once, the doc examples once, the longest first and balanced", () => {
  const files = [...Array(40)].map((_, i) => `tests/f${i}_test.ts`).concat([
    "tests/slurm_test.ts",
    "tests/search_state_test.ts",
    "tests/board_browser_test.ts",
  ]);
  for (const jobs of [1, 2, 3, 4, 7]) {
    const s = shares(files, jobs);
    assert.equal(s.length, jobs);
    assert.deepEqual(s.flatMap((x) => x.files).sort(), [...files].sort());
    assert.equal(s.filter((x) => x.doc).length, 1);
    const times = s.map((x) => x.seconds);
    // Greedy longest-first: no share exceeds the lightest by more than its longest item.
    assert.ok(Math.max(...times) - Math.min(...times) <= 60, `${jobs}: ${times}`);
  }
  // More processes than items: empty shares are dropped.
  assert.equal(shares(["tests/a_test.ts"], 5).length, 2);
  assert.deepEqual(shares([], 3), [{ files: [], doc: true, seconds: 55 }]);
});

Deno.test("summaryOf: the last summary line, with steps, ignored and colours", () => {
  assert.deepEqual(summaryOf("x\nok | 1 passed | 0 failed (1s)\nok | 12 passed | 0 failed (3s)"), {
    ok: true,
    passed: 12,
    failed: 0,
    ignored: 0,
  });
  assert.deepEqual(
    summaryOf("\x1b[0m\x1b[31mFAILED\x1b[0m | 5 passed (7 steps) | 2 failed (1 step) | 3 ignored"),
    { ok: false, passed: 5, failed: 2, ignored: 3 },
  );
  assert.equal(summaryOf("error: Module not found"), null);
  assert.equal(summaryOf("a test named 'ok | 1 passed | 0 failed' ... ok"), null);
});

const share: Share = { files: ["tests/a_test.ts"], doc: false, seconds: 1 };
const passed = { ok: true, passed: 3, failed: 0, ignored: 0 };
const ended = (o: Partial<Ended>): Ended => ({
  output: "",
  code: 0,
  signal: null,
  summary: passed,
  seconds: 1,
  ...o,
});

/** Runs one share through runShares with runs handed out in order; the end and the runs left. */
async function policy(runs: Ended[]) {
  const lines: string[] = [];
  const [end] = await runShares([share], () => Promise.resolve(runs.shift()!), (t) => {
    lines.push(t);
  });
  return { end, left: runs.length, text: lines.join("\n") };
}

Deno.test("runShares: a crash after every test passed runs the share again, once", async () => {
  const crash = ended({ code: 134, signal: "SIGABRT" });
  const again = await policy([crash, ended({})]);
  assert.equal(again.end.code, 0);
  assert.equal(again.left, 0);
  assert.match(again.text, /every test passed, then the test process ended with SIGABRT/);
  // Twice: the second crash counts, and there is no third run.
  const twice = await policy([crash, { ...crash }, ended({})]);
  assert.equal(twice.end.code, 134);
  assert.equal(twice.left, 1);
  assert.match(twice.text, /status SIGABRT/);
});

Deno.test("runShares: failed tests, a crash mid-run and a clean run are never run again", async () => {
  const failed = await policy([
    ended({ code: 1, summary: { ...passed, ok: false, failed: 1 } }),
    ended({}),
  ]);
  assert.equal(failed.end.code, 1);
  assert.equal(failed.left, 1);
  const midRun = await policy([ended({ code: 134, signal: "SIGABRT", summary: null }), ended({})]);
  assert.equal(midRun.end.code, 134);
  assert.equal(midRun.left, 1);
  assert.match(midRun.text, /no summary/);
  const clean = await policy([ended({}), ended({ code: 1 })]);
  assert.equal(clean.end.code, 0);
  assert.equal(clean.left, 1);
});
