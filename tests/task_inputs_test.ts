// Bad input through `deno task exp` as users give it: every error names its file or
// argument and exits 2 (usage) before anything runs, and fast.
import assert from "node:assert/strict";
import { join } from "node:path";
import { runTask, withUserFolder } from "./_task.ts";

Deno.test("exp: a YAML alias bomb and an unresolved alias name the file or the argument, exit 2", async () => {
  await withUserFolder(async (dir) => {
    const rows = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]"];
    for (const [x, y] of [["b", "a"], ["c", "b"], ["d", "c"], ["e", "d"], ["f", "e"]]) {
      rows.push(`${x}: &${x} [${Array(9).fill(`*${y}`).join(", ")}]`);
    }
    await Deno.writeTextFile(
      join(dir, "bomb.yaml"),
      `dataset: fmnist\narch: P2-8F\n${rows.join("\n")}\n`,
    );
    const bomb = await runTask("exp", ["bomb.yaml", "--dry-run"], { cwd: dir });
    assert.equal(bomb.code, 2, bomb.stderr);
    assert.match(
      bomb.stderr,
      /^deno task exp: bomb\.yaml:4:\d+: expected YAML whose aliases expand/m,
    );
    const alias = await runTask("exp", ["tiny.yaml", "lr=*a", "--dry-run"], { cwd: dir });
    assert.equal(alias.code, 2, alias.stderr);
    assert.match(
      alias.stderr,
      /^deno task exp: argument 'lr=\*a': lr: expected a value, got the YAML alias '\*a'/m,
    );
  });
});

Deno.test("exp: a misspelt experiment path gets 'did you mean', exit 2", async () => {
  await withUserFolder(async (dir) => {
    const r = await runTask("exp", ["tny.yaml"], { cwd: dir });
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /tny\.yaml: expected an experiment file, got no such file \(did you mean 'tiny\.yaml'\?\)/,
    );
    // A shipped experiment named from the user's folder: the checkout's file is named.
    const s = await runTask("exp", ["experiments/quickstart.yaml"], { cwd: dir });
    assert.equal(s.code, 2, s.stderr);
    assert.match(
      s.stderr,
      /did you mean '.*\/experiments\/quickstart\.yaml', shipped with firstspike\?/,
    );
  });
});

Deno.test("exp: a 20,000-value sweep and a too-large grid are refused at once with exit 2", async () => {
  await withUserFolder(async (dir) => {
    const seeds = Array.from({ length: 20_000 }, (_, i) => i).join(",");
    const t0 = performance.now();
    const big = await runTask("exp", ["tiny.yaml", `seed=${seeds}`, "--dry-run"], { cwd: dir });
    const seconds = (performance.now() - t0) / 1000;
    assert.equal(big.code, 2, big.stderr.slice(0, 500));
    assert.match(big.stderr, /seed: expected at most 10,000 values in a sweep, got 20,000/);
    const ours = big.stderr.split("\n").find((l) => l.startsWith("deno task exp:"))!;
    assert.ok(ours.length < 400, `the argument is not echoed whole: ${ours.length} characters`);
    assert.ok(seconds < 5, `took ${seconds.toFixed(1)} s`);
    const half = Array.from({ length: 10_000 }, (_, i) => i).join(",");
    const grid = await runTask("exp", ["tiny.yaml", `seed=${half}`, "lr=1e-3,1e-4", "--dry-run"], {
      cwd: dir,
    });
    assert.equal(grid.code, 2, grid.stderr.slice(0, 500));
    assert.match(
      grid.stderr,
      /it has 20,000 points \(lr 2 x seed 10000\), expected at most 10,000/,
    );
  });
});

Deno.test("exp: an architecture without a spiking layer is warned about", async () => {
  await withUserFolder(async (dir) => {
    const r = await runTask("exp", ["tiny.yaml", "arch=P2-P2", "--dry-run"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: arch 'P2-P2' has no spiking layer/);
  });
});
