import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  type Experiment,
  ExperimentError,
  loadExperiment,
  parseExperiment,
} from "../src/experiment/config.ts";
import { expandGrid, gridSize, pointId, resolvedYaml } from "../src/experiment/grid.ts";

const SAFE = /^[A-Za-z0-9._=-]+$/;

function grid(gridYaml: string, top = "dataset: fmnist\narch: 16C5-P2-100F\n") {
  return parseExperiment(`${top}grid:\n${gridYaml}`, "g.yaml");
}

Deno.test("no grid: one point with id 'default' and the base settings", () => {
  const exp = parseExperiment("dataset: mnist\narch: vgg7\nseed: 3\n", "one.yaml");
  const points = expandGrid(exp);
  assert.equal(points.length, 1);
  assert.equal(points[0].id, "default");
  assert.deepStrictEqual(points[0].point, {});
  assert.deepStrictEqual(points[0].settings, exp.base);
  assert.notEqual(points[0].settings, exp.base, "settings are a copy");
});

Deno.test("cartesian product: keys in file order, first key slowest, values in list order", () => {
  const exp = grid("  seed: [2, 0, 1]\n  optimizer: [sgd, adam]\n  epochs: [5]\n");
  const points = expandGrid(exp);
  const want: [number, string][] = [];
  for (const seed of [2, 0, 1]) for (const opt of ["sgd", "adam"]) want.push([seed, opt]);
  assert.deepStrictEqual(
    points.map((p) => [p.settings.seed, p.settings.optimizer]),
    want,
  );
  assert.deepStrictEqual(points.map((p) => p.settings.epochs), [5, 5, 5, 5, 5, 5]);
  assert.deepStrictEqual(points[3].point, { seed: 0, optimizer: "adam", epochs: 5 });
  assert.deepStrictEqual(Object.keys(points[3].point), ["seed", "optimizer", "epochs"]);
  assert.deepStrictEqual(points.map((p) => p.id), [
    "seed2_optimizer=sgd_epochs5",
    "seed2_optimizer=adam_epochs5",
    "seed0_optimizer=sgd_epochs5",
    "seed0_optimizer=adam_epochs5",
    "seed1_optimizer=sgd_epochs5",
    "seed1_optimizer=adam_epochs5",
  ]);
  // Everything not in the grid is the base; the base itself is untouched.
  for (const p of points) {
    const { seed: _s, optimizer: _o, epochs: _e, ...rest } = p.settings;
    const { seed: _bs, optimizer: _bo, epochs: _be, ...baseRest } = exp.base;
    assert.deepStrictEqual(rest, baseRest);
  }
  assert.deepStrictEqual([exp.base.seed, exp.base.optimizer, exp.base.epochs], [0, "adam", 1000]);
});

Deno.test("ids: readable, from the point's values only, as in the brief", () => {
  assert.equal(pointId({ lr: 0.0001, seed: 1 }), "lr1e-4_seed1");
  assert.equal(pointId({ lr: 3e-5 }), "lr3e-5");
  assert.equal(pointId({ lr: 0.00025 }), "lr2.5e-4");
  assert.equal(pointId({ lr: 0.5, batch_size: 1000 }), "lr0.5_batch_size1000");
  assert.equal(pointId({ validation_fraction: 0.15 }), "validation_fraction0.15");
  assert.equal(pointId({ seed: 1e21 }), "seed1e21");
  assert.equal(pointId({ normalize: true, weight_clip: null }), "normalize=true_weight_clip=null");
  assert.equal(pointId({ betas: [0.9, 0.999] }), "betas=0.9-0.999");
  assert.equal(pointId({ augment: ["crop", "flip"] }), "augment=crop-flip");
  assert.equal(pointId({ augment: [] }), "augment=none");
  assert.equal(pointId({ arch: "32C5 - P2 - 100F" }), "arch=32C5-P2-100F");
  assert.equal(pointId({ data_dir: "/data/my data" }), "data_dir=-data-my-data");
  assert.equal(pointId({}), "default");
  // Same point, same id; independent of other points and of object identity.
  assert.equal(pointId({ lr: 1e-4, seed: 1 }), pointId({ lr: 0.0001, seed: 1 }));
});

Deno.test("ids are filesystem-safe, stable across expansions, and unique", () => {
  const exp = grid(
    [
      "  arch: ['16C5-P2-100F', '16C5 - P2 - 100F', 'vgg7']",
      "  init: [null, 'w/a b.safetensors', 'w/ü.safetensors']",
      "  lr: [1.0e-4, 0.1, 0.30000000000000004]",
    ].join("\n") + "\n",
  );
  const a = expandGrid(exp);
  const b = expandGrid(parseExperiment(
    "dataset: fmnist\narch: 16C5-P2-100F\ngrid:\n" +
      "  arch: ['16C5-P2-100F', '16C5 - P2 - 100F', 'vgg7']\n" +
      "  init: [null, 'w/a b.safetensors', 'w/ü.safetensors']\n" +
      "  lr: [1.0e-4, 0.1, 0.30000000000000004]\n",
    "elsewhere.yaml",
  ));
  assert.equal(a.length, 27);
  assert.deepStrictEqual(a.map((p) => p.id), b.map((p) => p.id));
  for (const p of a) assert.match(p.id, SAFE);
  assert.equal(new Set(a.map((p) => p.id.toLowerCase())).size, 27);
  assert.ok(a.some((p) => p.id === "arch=vgg7_init=null_lr1e-4"));
  // The two spellings of one architecture read alike, so both get a hash.
  const spaced = a.filter((p) => p.id.startsWith("arch=16C5-P2-100F_init=null_lr0.1_"));
  assert.equal(spaced.length, 2);
  for (const p of spaced) assert.match(p.id, /_[0-9a-f]{8}$/);
  assert.ok(a.some((p) => p.id === "arch=vgg7_init=w-a-b.safetensors_lr0.30000000000000004"));
});

Deno.test("colliding ids get a short stable hash of their own point", () => {
  // 'a/b' and 'a b' both read as 'a-b'; 'R.safetensors' and 'r.safetensors' collide on
  // case-insensitive disks.
  const exp = grid("  data_dir: [a/b, a b, c]\n  init: [R.safetensors, r.safetensors]\n");
  const points = expandGrid(exp);
  const hash = (point: Record<string, unknown>) =>
    createHash("sha256").update(JSON.stringify(Object.entries(point))).digest("hex").slice(0, 8);
  assert.equal(points.length, 6);
  for (const p of points) {
    const readable = `data_dir=${
      String(p.point.data_dir).replace(/[/ ]/g, "-")
    }_init=${p.point.init}`;
    // Every id here collides with another (same data_dir text or same init ignoring case).
    assert.equal(p.id, `${readable}_${hash(p.point)}`);
    assert.match(p.id, SAFE);
  }
  assert.equal(new Set(points.map((p) => p.id.toLowerCase())).size, 6);

  // Points that do not collide keep their readable id.
  const mixed = expandGrid(grid("  data_dir: [a/b, a b, c]\n"));
  assert.deepStrictEqual(mixed.map((p) => p.id), [
    `data_dir=a-b_${hash({ data_dir: "a/b" })}`,
    `data_dir=a-b_${hash({ data_dir: "a b" })}`,
    "data_dir=c",
  ]);
  // And the same grid always gives the same ids.
  assert.deepStrictEqual(expandGrid(grid("  data_dir: [a/b, a b, c]\n")), mixed);
});

Deno.test("very long ids are shortened with a hash and stay unique", () => {
  const long1 = "8C3-".repeat(40) + "P2";
  const long2 = "8C3-".repeat(40) + "P4";
  const points = expandGrid(grid(`  arch: ['${long1}', '${long2}']\n`));
  for (const p of points) {
    assert.ok(p.id.length <= 120, `id of length ${p.id.length}`);
    assert.match(p.id, /^arch=8C3-8C3-.*_[0-9a-f]{8}$/);
  }
  assert.notEqual(points[0].id, points[1].id);
});

Deno.test("grid settings are independent copies", () => {
  const exp = grid("  betas: [[0.5, 0.9], [0.8, 0.99]]\n  augment: [[], [flip]]\n");
  const points = expandGrid(exp);
  assert.equal(points.length, 4);
  points[0].settings.betas[0] = 0.1;
  points[0].settings.augment.push("crop");
  points[0].point.seed = 9;
  assert.deepStrictEqual(exp.grid.betas[0], [0.5, 0.9]);
  assert.deepStrictEqual(expandGrid(exp)[0].settings.betas, [0.5, 0.9]);
  assert.deepStrictEqual(expandGrid(exp)[0].settings.augment, []);
  assert.deepStrictEqual(points[1].settings.augment, ["flip"]);
  assert.deepStrictEqual(exp.base.betas, [0.9, 0.999]);
});

Deno.test("resolvedYaml writes every setting and reads back identical settings", async () => {
  const cases: Experiment[] = [];
  cases.push(parseExperiment("dataset: mnist\narch: vgg7\n", "plain.yaml").base);
  cases.push(
    parseExperiment(
      [
        "name: '1e3'",
        "description: 'yes: a description # with: colons and a very long text that goes on " +
        "and on and on beyond any line width that a writer might fold at'",
        "dataset: cifar10",
        "data_dir: 'null'",
        "arch: ' 32C5 - P2 - 100F '",
        "normalize: true",
        "t_win: 0.30000000000000004",
        "readout: spike",
        "optimizer: sgd",
        "lr: 1.0e-7",
        "betas: [0, 0.9999999999]",
        "eps: 1.0e-300",
        "weight_decay: 0",
        "annealing: 1",
        "grad_clip: 123456789.125",
        "weight_clip: [-0.5, 1.0e-3]",
        "fixed_signs: true",
        "batch_size: 1",
        "epochs: 1",
        "max_steps: 9007199254740991",
        "early_stopping: 1",
        "validation_fraction: 0",
        "shuffle: false",
        "augment: [cutout, autoaugment, flip, crop]",
        "train_subset: 1",
        "test_subset: 2",
        "seed: 0",
        "output: 'true'",
        "init: './w #1.safetensors'",
        "precision: f16",
      ].join("\n"),
      "odd.yaml",
    ).base,
  );
  const shipped = await loadExperiment(
    new URL("../experiments/grid-example.yaml", import.meta.url).pathname,
  );
  for (const p of expandGrid(shipped)) cases.push(p.settings);
  for (const p of expandGrid(grid("  weight_clip: [null, [-1, 1]]\n  augment: [[], [crop]]\n"))) {
    cases.push(p.settings);
  }
  assert.equal(cases.length, 2 + 4 + 4);

  for (const settings of cases) {
    const text = resolvedYaml(settings);
    const back = parseExperiment(text, "runs/x/y/run.yaml");
    assert.equal(back.kind, "run");
    assert.deepStrictEqual(back.base, settings);
    assert.deepStrictEqual(back.grid, {});
    assert.deepStrictEqual(back.sections, {});
    // Every setting is written out, defaults included; no grid.
    for (const key of Object.keys(settings)) assert.match(text, new RegExp(`^${key}:`, "m"));
    assert.doesNotMatch(text, /^grid:/m);
    assert.match(text, /^kind: run$/m);
  }
});

Deno.test("resolvedYaml carries result sections that parseExperiment returns apart", () => {
  const [p] = expandGrid(grid("  lr: [1.0e-4, 3.0e-4]\n  seed: [0, 1]\n")).slice(3);
  assert.equal(p.id, "lr3e-4_seed1");
  const extra = {
    id: p.id,
    grid_point: p.point,
    status: "done",
    results: { test_accuracy: 0.9, epochs: 12 },
    provenance: { commit: "abc123", deno: "2.9.6" },
  };
  const text = resolvedYaml(p.settings, extra);
  const back = parseExperiment(text, "run.yaml");
  assert.deepStrictEqual(back.base, p.settings);
  assert.deepStrictEqual(back.sections, extra);
  // The settings part of a run file is still strict.
  assert.throws(
    () => parseExperiment(text.replace(/^lr:/m, "lrate:"), "run.yaml"),
    (e: unknown) =>
      e instanceof ExperimentError && /run\.yaml:\d+:1: lrate: unknown key \(did you mean 'lr'\?\)/
        .test(e.message),
  );
});

Deno.test("resolvedYaml refuses invalid settings and unknown sections", () => {
  const base = parseExperiment("dataset: mnist\narch: vgg7\n", "m.yaml").base;
  assert.throws(
    () => resolvedYaml({ ...base, lr: -1 }),
    (e: unknown) =>
      e instanceof ExperimentError &&
      e.message === "settings of 'm': lr: expected a positive number, got -1",
  );
  assert.throws(
    () => resolvedYaml({ ...base, arch: "9Z" }),
    (e: unknown) => e instanceof ExperimentError && /arch: Cannot parse token 1/.test(e.message),
  );
  assert.throws(
    () => resolvedYaml({ ...base, colour: 1 } as unknown as Experiment),
    (e: unknown) => e instanceof ExperimentError && /colour: unknown key/.test(e.message),
  );
  const { seed: _, ...noSeed } = base;
  assert.throws(
    () => resolvedYaml(noSeed as Experiment),
    (e: unknown) =>
      e instanceof ExperimentError && /seed: expected an integer >= 0, got nothing/.test(e.message),
  );
  assert.throws(
    () => resolvedYaml(base, { result: 1 }),
    /extra section 'result' expected one of id, grid_point, status, results/,
  );
  assert.throws(() => resolvedYaml(base, { grid: {} }), /extra section 'grid'/);
});

Deno.test("a grid over output (a key that places files) is refused", () => {
  assert.throws(
    () => grid("  output: [a, b]\n"),
    /g\.yaml:4:3: grid\.output: cannot be varied in a grid: it places the run folders/,
  );
});

Deno.test("a grid larger than the limit is refused up front with its size", () => {
  const values = `[${Array.from({ length: 100 }, (_, i) => i).join(", ")}]`;
  const big = grid(
    ["seed", "batch_size", "epochs", "early_stopping", "train_subset", "test_subset"]
      .map((k) => `  ${k}: ${k === "seed" ? values : values.replace("[0, ", "[")}\n`).join(""),
  );
  assert.equal(gridSize(big), 100 * 99 ** 5);
  const t0 = performance.now();
  assert.throws(
    () => expandGrid(big),
    /Cannot expand the grid: it has 950,990,049,900 points \(seed 100 x batch_size 99 x epochs 99 x early_stopping 99 x train_subset 99 x test_subset 99\), expected at most 10,000; split it into several experiments/,
  );
  assert.ok(performance.now() - t0 < 100, "without expanding it");
  assert.equal(expandGrid(grid(`  seed: ${values}\n  lr: [1, 2]\n`)).length, 200);
  assert.throws(() => expandGrid(grid(`  seed: ${values}\n  lr: [1, 2]\n`), 199), /has 200 points/);
});
