import assert from "node:assert/strict";
import {
  DEFAULTS,
  type Experiment,
  ExperimentError,
  loadExperiment,
  parseExperiment,
} from "../src/experiment/config.ts";
import { suggestKey } from "../src/experiment/_yaml_errors.ts";

const EXPERIMENTS = new URL("../experiments/", import.meta.url);

/** Parses `text` expecting failure; returns the error's message lines without the summary. */
function problems(text: string, source = "experiments/x.yaml"): string[] {
  try {
    parseExperiment(text, source);
  } catch (e) {
    assert.ok(e instanceof ExperimentError, `expected an ExperimentError, got ${e}`);
    const lines = e.message.split("\n");
    const body = lines.length === 1 ? lines : lines.slice(1).map((l) => l.trim());
    assert.equal(body.length, e.issues.length);
    return body;
  }
  assert.fail(`expected '${source}' to be rejected:\n${text}`);
}

/** The reference's settings, written out independently of DEFAULTS (MODEL.md). */
const REFERENCE = {
  data_dir: null,
  normalize: false,
  t_win: 1,
  readout: "potential",
  optimizer: "adam",
  lr: 0.0001,
  betas: [0.9, 0.999],
  eps: 0.00000001,
  weight_decay: 0.1,
  annealing: 0.999,
  // Beyond the reference (its schedule is the per-epoch annealing): no warm-up, and the
  // other schedules' parameters at PyTorch's usual values.
  lr_schedule: "exponential",
  warmup_epochs: 0,
  lr_min: 0,
  lr_milestones: [],
  lr_gamma: 0.1,
  grad_clip: 1,
  weight_clip: null,
  fixed_signs: false,
  batch_size: 256,
  epochs: 1000,
  max_steps: null,
  early_stopping: 25,
  validation_fraction: 0.1,
  test_each_epoch: true,
  shuffle: true,
  augment: [],
  train_subset: null,
  test_subset: null,
  seed: 0,
  output: "runs",
  init: null,
  precision: "f32",
  gpu: null,
};

Deno.test("DEFAULTS are the reference's settings and are frozen", () => {
  assert.deepStrictEqual(structuredClone(DEFAULTS), REFERENCE);
  assert.ok(Object.isFrozen(DEFAULTS) && Object.isFrozen(DEFAULTS.betas));
});

Deno.test("a minimal file gets every default, and the name from the file", () => {
  const exp = parseExperiment("dataset: mnist\narch: vgg7\n", "experiments/tiny-run.yaml");
  assert.equal(exp.kind, "experiment");
  assert.deepStrictEqual(exp.base, {
    name: "tiny-run",
    dataset: "mnist",
    arch: "vgg7",
    ...REFERENCE,
  });
  assert.ok(!("description" in exp.base));
  assert.deepStrictEqual(exp.grid, {});
  assert.deepStrictEqual(exp.slurm, {});
  assert.deepStrictEqual(exp.sections, {});
  // Results are copies: changing them leaves DEFAULTS (and later parses) alone.
  exp.base.betas[0] = 0.5;
  exp.base.augment.push("crop");
  const again = parseExperiment("dataset: mnist\narch: vgg7\n", "a.yaml");
  assert.deepStrictEqual(again.base.betas, [0.9, 0.999]);
  assert.deepStrictEqual(again.base.augment, []);
});

Deno.test("default names: base name without extension, made safe", () => {
  const name = (source: string) =>
    parseExperiment("dataset: mnist\narch: vgg7\n", source).base.name;
  assert.equal(name("a/b/cifar10-vgg11.yaml"), "cifar10-vgg11");
  assert.equal(name("C:\\x\\run.v2.yml"), "run.v2");
  assert.equal(name("my sweep (old).yaml"), "my-sweep-old-");
  assert.equal(name("<string>"), "string-");
  assert.equal(
    parseExperiment("name: given\ndataset: mnist\narch: vgg7\n", "other.yaml").base.name,
    "given",
  );
});

Deno.test("every value given is used as written", () => {
  const text = [
    "name: all-set",
    "description: every key",
    "dataset: cifar100",
    "data_dir: /data/cifar",
    "arch: 32C5 - P2 - 100F",
    "normalize: true",
    "t_win: 2.5",
    "readout: spike",
    "optimizer: sgd",
    "lr: 3.0e-5",
    "betas: [0, 0.5]",
    "eps: 1.0e-6",
    "weight_decay: 0",
    "annealing: 1",
    "lr_schedule: cosine",
    "warmup_epochs: 0.5",
    "lr_min: 1.0e-6",
    "lr_milestones: [3, 5]",
    "lr_gamma: 0.5",
    "grad_clip: 0.5",
    "weight_clip: [-2, 2.5]",
    "fixed_signs: true",
    "batch_size: 32",
    "epochs: 7",
    "max_steps: 100",
    "early_stopping: 3",
    "validation_fraction: 0",
    "test_each_epoch: false",
    "shuffle: false",
    "augment: [cutout, flip]",
    "train_subset: 1000",
    "test_subset: 500",
    "seed: 4294967295",
    "output: out/runs",
    "init: w/start.safetensors",
    "precision: f16",
    "gpu: 0000:41:00.0",
  ].join("\n");
  const base = parseExperiment(text, "x.yaml").base;
  const want: Experiment = {
    name: "all-set",
    description: "every key",
    dataset: "cifar100",
    data_dir: "/data/cifar",
    arch: "32C5 - P2 - 100F",
    normalize: true,
    t_win: 2.5,
    readout: "spike",
    optimizer: "sgd",
    lr: 0.00003,
    betas: [0, 0.5],
    eps: 0.000001,
    weight_decay: 0,
    annealing: 1,
    lr_schedule: "cosine",
    warmup_epochs: 0.5,
    lr_min: 0.000001,
    lr_milestones: [3, 5],
    lr_gamma: 0.5,
    grad_clip: 0.5,
    weight_clip: [-2, 2.5],
    fixed_signs: true,
    batch_size: 32,
    epochs: 7,
    max_steps: 100,
    early_stopping: 3,
    validation_fraction: 0,
    test_each_epoch: false,
    shuffle: false,
    augment: ["cutout", "flip"],
    train_subset: 1000,
    test_subset: 500,
    seed: 4294967295,
    output: "out/runs",
    init: "w/start.safetensors",
    precision: "f16",
    gpu: "0000:41:00.0",
  };
  assert.deepStrictEqual(base, want);
  assert.deepStrictEqual(Object.keys(base).sort(), Object.keys(want).sort());
});

Deno.test("every shipped experiment file parses with the reference's settings", async () => {
  const names: string[] = [];
  for await (const entry of Deno.readDir(EXPERIMENTS)) {
    if (entry.isFile && /\.ya?ml$/.test(entry.name)) names.push(entry.name);
  }
  names.sort();
  for (
    const must of [
      "mnist-vgg7",
      "fmnist-vgg7",
      "cifar10-vgg7",
      "cifar10-vgg11",
      "cifar100-vgg7",
      "cifar100-vgg11",
      "mnist-vgg11",
      "fmnist-vgg11",
      "grid-example",
      "quickstart",
    ]
  ) assert.ok(names.includes(`${must}.yaml`), `experiments/${must}.yaml is missing`);

  for (const file of names) {
    const path = new URL(file, EXPERIMENTS).pathname;
    const exp = await loadExperiment(path);
    const text = await Deno.readTextFile(path);
    assert.match(text, /^# /, `${file} starts with a comment header`);
    const m = /^(mnist|fmnist|cifar10|cifar100)-(vgg7|vgg11)\.yaml$/.exec(file);
    if (!m) continue;
    const b = exp.base;
    assert.equal(b.name, file.replace(".yaml", ""));
    assert.equal(b.dataset, m[1], file);
    assert.equal(b.arch, m[2], file);
    assert.deepStrictEqual(
      [b.batch_size, b.lr, b.optimizer, b.weight_decay, b.annealing, b.epochs, b.early_stopping],
      [256, 0.0001, "adam", 0.1, 0.999, 1000, 25],
      file,
    );
    assert.deepStrictEqual([b.betas, b.eps, b.validation_fraction], [[0.9, 0.999], 1e-8, 0.1]);
    assert.deepStrictEqual(
      b.augment,
      m[1].startsWith("cifar") ? ["crop", "flip", "autoaugment", "cutout"] : [],
      file,
    );
    assert.deepStrictEqual(exp.grid, {}, file);
  }
});

Deno.test("quickstart and grid example have the settings they promise", async () => {
  const q = (await loadExperiment(new URL("quickstart.yaml", EXPERIMENTS).pathname)).base;
  assert.deepStrictEqual(
    [q.name, q.dataset, q.arch, q.batch_size, q.lr, q.epochs, q.weight_decay, q.annealing],
    ["quickstart", "fmnist", "P2-32C3-P2", 256, 0.003, 4, 0, 0.5],
  );
  assert.equal(q.normalize, true);
  assert.deepStrictEqual([q.early_stopping, q.validation_fraction, q.seed], [25, 0.1, 0]);
  const text = await Deno.readTextFile(new URL("quickstart.yaml", EXPERIMENTS));
  assert.equal(text.split("\n").filter((l) => /^arch:/.test(l)).length, 1);

  const g = await loadExperiment(new URL("grid-example.yaml", EXPERIMENTS).pathname);
  assert.equal(g.base.dataset, "fmnist");
  assert.deepStrictEqual(Object.keys(g.grid), ["lr", "seed"]);
  assert.equal(g.grid.lr.length, 2);
  assert.equal(g.grid.seed.length, 2);
  assert.equal(g.slurm.gres, "gpu:1");
});

Deno.test("type errors name the key, its line:column, what was expected and what came", () => {
  const text = [
    "# header",
    "dataset: mnist",
    "arch: vgg7",
    "",
    "seed: 1",
    "normalize: false",
    "lr: 0.1x",
  ].join("\n");
  assert.deepStrictEqual(problems(text), [
    `experiments/x.yaml:7:5: lr: expected a positive number, got "0.1x"`,
  ]);
  assert.deepStrictEqual(problems("dataset: mnist\narch: vgg7\nshuffle: yes\n"), [
    `experiments/x.yaml:3:10: shuffle: expected true, false or 'once', got "yes"`,
  ]);
  assert.deepStrictEqual(problems("dataset: svhn\narch: vgg7\n"), [
    `experiments/x.yaml:1:10: dataset: expected one of mnist, fmnist, cifar10, cifar100, got "svhn"`,
  ]);
  assert.deepStrictEqual(problems("dataset: mnist\narch: vgg7\nbatch_size: 12.5\n"), [
    `experiments/x.yaml:3:13: batch_size: expected a positive integer, got 12.5`,
  ]);
  // An empty value is null; it points at the key.
  assert.deepStrictEqual(problems("dataset: mnist\narch: vgg7\nlr:\n"), [
    `experiments/x.yaml:3:1: lr: expected a positive number, got null`,
  ]);
  assert.deepStrictEqual(problems("dataset: mnist\narch: [vgg7]\n"), [
    `experiments/x.yaml:2:7: arch: expected an architecture such as 'vgg7' or '32C5-P2-100F', got ["vgg7"]`,
  ]);
  assert.deepStrictEqual(problems("dataset: mnist\narch: vgg7\nslurm:\n  time: 60\n"), [
    `experiments/x.yaml:4:9: slurm.time: expected a time limit string such as "12:00:00" or ` +
    `"1-00:00:00" (quoted), got 60`,
  ]);
});

Deno.test("range errors, inside lists too", () => {
  const text = [
    "dataset: mnist",
    "arch: vgg7",
    "validation_fraction: 1",
    "betas:",
    "  - 0.9",
    "  - 1.0",
    "weight_clip: [1, -1]",
    "seed: -3",
    "annealing: 0",
    "augment: [crop, flip, crop, blur]",
    "t_win: .inf",
    "init: w.pt",
  ].join("\n");
  assert.deepStrictEqual(problems(text), [
    "experiments/x.yaml:3:22: validation_fraction: expected a number in [0, 1), got 1",
    "experiments/x.yaml:6:5: betas[1]: expected a number in [0, 1), got 1",
    "experiments/x.yaml:7:14: weight_clip: expected [min, max] with min < max, got [1, -1]",
    "experiments/x.yaml:8:7: seed: expected an integer >= 0, got -3",
    "experiments/x.yaml:9:12: annealing: expected a number in (0, 1], got 0",
    `experiments/x.yaml:10:29: augment[3]: expected one of crop, flip, autoaugment, cutout, got "blur"`,
    "experiments/x.yaml:11:8: t_win: expected a positive number, got .inf",
    `experiments/x.yaml:12:7: init: expected null or a path to a .safetensors file, got "w.pt"`,
  ]);
  assert.deepStrictEqual(problems("dataset: mnist\narch: vgg7\naugment: [crop, flip, crop]\n"), [
    `experiments/x.yaml:3:23: augment[2]: expected no duplicates, got "crop" again (first at [0])`,
  ]);
  assert.deepStrictEqual(problems("dataset: mnist\narch: vgg7\nbetas: [0.9]\n"), [
    "experiments/x.yaml:3:8: betas: expected a list [b1, b2] of two numbers in [0, 1), got [0.9]",
  ]);
});

Deno.test("unknown keys are errors at the key, with a suggestion", () => {
  const text = "dataset: mnist\narch: vgg7\nlearning_rate: 0.1\n";
  assert.deepStrictEqual(problems(text), [
    "experiments/x.yaml:3:1: learning_rate: unknown key (did you mean 'lr'?)",
  ]);
  const more = [
    "dataset: mnist",
    "arch: vgg7",
    "batchSize: 3",
    "epoch: 3",
    "wieght_decay: 0",
    "colour: red",
    "slurm:",
    "  partiton: gpu",
  ].join("\n");
  assert.deepStrictEqual(problems(more), [
    "experiments/x.yaml:3:1: batchSize: unknown key (did you mean 'batch_size'?)",
    "experiments/x.yaml:4:1: epoch: unknown key (did you mean 'epochs'?)",
    "experiments/x.yaml:5:1: wieght_decay: unknown key (did you mean 'weight_decay'?)",
    "experiments/x.yaml:6:1: colour: unknown key",
    "experiments/x.yaml:8:3: slurm.partiton: unknown key (did you mean 'partition'?)",
  ]);
  assert.equal(suggestKey("bs", ["batch_size", "lr"]), "batch_size");
  assert.equal(suggestKey("sede", ["seed", "lr"]), "seed");
  assert.equal(suggestKey("x", ["seed", "lr"]), null);
});

Deno.test("a bad architecture is reported at arch with the parser's reason", () => {
  assert.deepStrictEqual(problems("dataset: mnist\narch: 64C3-P2-10X\n"), [
    "experiments/x.yaml:2:7: arch: Cannot parse token 3 of architecture '64C3-P2-10X': expected " +
    "'aCk' (convolution), 'nF' (fully connected) or 'Pk' (max pooling), or a name (vgg7, vgg11), " +
    "got '10X'",
  ]);
  assert.equal(problems("dataset: mnist\narch: ''\n").length, 1);
  assert.match(problems("dataset: mnist\narch: ''\n")[0], /^experiments\/x\.yaml:2:7: arch: /);
});

Deno.test("grid values are checked against their setting's schema", () => {
  const text = [
    "dataset: mnist",
    "arch: vgg7",
    "grid:",
    "  lr: [1.0e-3, -1, fast]",
    "  arch:",
    "    - vgg7",
    "    - 12Q",
    "  seed: []",
    "  name: [a, b]",
    "  learning_rate: [1]",
    "  batch_size: 64",
    "  augment: [[crop], [crop, crop]]",
    "  epochs: [1, 2, 1]",
  ].join("\n");
  assert.deepStrictEqual(problems(text), [
    "experiments/x.yaml:4:16: grid.lr[1]: expected a positive number, got -1",
    `experiments/x.yaml:4:20: grid.lr[2]: expected a positive number, got "fast"`,
    "experiments/x.yaml:7:7: grid.arch[1]: Cannot parse token 1 of architecture '12Q': expected " +
    "'aCk' (convolution), 'nF' (fully connected) or 'Pk' (max pooling), or a name (vgg7, vgg11), " +
    "got '12Q'",
    "experiments/x.yaml:8:9: grid.seed: expected a non-empty list of values for seed, got []",
    "experiments/x.yaml:9:3: grid.name: cannot be varied in a grid (expected any setting but " +
    "name, description, output, gpu and test_each_epoch)",
    "experiments/x.yaml:10:3: grid.learning_rate: unknown key (did you mean 'lr'?)",
    "experiments/x.yaml:11:15: grid.batch_size: expected a non-empty list of values for batch_size, " +
    "got 64",
    `experiments/x.yaml:12:28: grid.augment[1][1]: expected no duplicates, got "crop" again (first at [0])`,
    "experiments/x.yaml:13:18: grid.epochs[2]: expected no duplicates, got 1 again (first at [0])",
  ]);
  assert.deepStrictEqual(problems("dataset: mnist\narch: vgg7\ngrid: [lr]\n"), [
    `experiments/x.yaml:3:7: grid: expected a mapping from settings to lists of values, got ["lr"]`,
  ]);
});

Deno.test("grids keep file order; required settings may come from the grid", () => {
  const exp = parseExperiment(
    "arch: vgg7\ngrid:\n  seed: [2, 1]\n  dataset: [fmnist, mnist]\n  betas: [[0.5, 0.6]]\n",
    "g.yaml",
  );
  assert.deepStrictEqual(Object.keys(exp.grid), ["seed", "dataset", "betas"]);
  assert.deepStrictEqual(exp.grid, {
    seed: [2, 1],
    dataset: ["fmnist", "mnist"],
    betas: [[0.5, 0.6]],
  });
  assert.equal(exp.base.dataset, "fmnist");
  assert.equal(exp.base.seed, 0);
  assert.deepStrictEqual(problems("grid:\n  seed: [1]\n# nothing else\n"), [
    "experiments/x.yaml:1:1: arch: missing required setting (expected e.g. 'vgg7')",
    "experiments/x.yaml:1:1: dataset: missing required setting (expected one of mnist, fmnist, " +
    "cifar10, cifar100)",
  ]);
  assert.deepStrictEqual(problems("# only a comment\n\n  \n"), [
    "experiments/x.yaml:1:1: arch: missing required setting (expected e.g. 'vgg7')",
    "experiments/x.yaml:1:1: dataset: missing required setting (expected one of mnist, fmnist, " +
    "cifar10, cifar100)",
  ]);
});

Deno.test("YAML syntax errors carry their line and column", () => {
  const bad = problems("dataset: mnist\narch: vgg7\nbetas: [0.9, 0.999\nlr: 1\n");
  assert.equal(bad.length >= 1, true);
  for (const line of bad) assert.match(line, /^experiments\/x\.yaml:\d+:\d+: YAML syntax error: /);
  assert.match(bad[0], /^experiments\/x\.yaml:4:1: /);

  assert.deepStrictEqual(problems("dataset: mnist\narch: vgg7\nlr: 1\nlr: 2\n"), [
    "experiments/x.yaml:4:1: YAML syntax error: Map keys must be unique",
  ]);
  const tab = problems("dataset: mnist\narch: vgg7\nslurm:\n\tpartition: gpu\n");
  assert.match(tab[0], /^experiments\/x\.yaml:4:1: YAML syntax error: /);
  assert.deepStrictEqual(problems("dataset: mnist\n---\narch: vgg7\n").length, 1);
  assert.deepStrictEqual(problems("- dataset: mnist\n"), [
    `experiments/x.yaml:1:1: expected a mapping of settings (key: value), got [{"dataset":"mnist"}]`,
  ]);
});

Deno.test("ExperimentError lists every problem, sorted, with structured issues", () => {
  try {
    parseExperiment("seed: x\ndataset: mnist\narch: vgg7\nlr: -1\nfoo: 1\n", "e.yaml");
    assert.fail("expected failure");
  } catch (e) {
    assert.ok(e instanceof ExperimentError);
    assert.equal(
      e.message,
      "3 problems in experiment 'e.yaml':\n" +
        `  e.yaml:1:7: seed: expected an integer >= 0, got "x"\n` +
        "  e.yaml:4:5: lr: expected a positive number, got -1\n" +
        "  e.yaml:5:1: foo: unknown key",
    );
    assert.deepStrictEqual(e.issues[1], {
      source: "e.yaml",
      line: 4,
      col: 5,
      path: "lr",
      message: "expected a positive number, got -1",
    });
  }
});

Deno.test("kind: run files accept result sections but not unknown settings or a grid", () => {
  const run = [
    "kind: run",
    "name: r",
    "dataset: mnist",
    "arch: vgg7",
    "lr: 0.001",
    "status: done",
    "results:",
    "  test_accuracy: 0.98",
    "provenance: { commit: abc }",
    "metrics: [{ epoch: 1 }]",
  ].join("\n");
  const exp = parseExperiment(run, "runs/r/default/run.yaml");
  assert.equal(exp.kind, "run");
  assert.equal(exp.base.lr, 0.001);
  assert.equal(exp.base.name, "r");
  assert.deepStrictEqual(exp.sections, {
    status: "done",
    results: { test_accuracy: 0.98 },
    provenance: { commit: "abc" },
    metrics: [{ epoch: 1 }],
  });
  assert.ok(!("results" in exp.base) && !("kind" in exp.base));
  assert.deepStrictEqual(problems(run + "\nlerning_rate: 1\ngrid:\n  lr: [1]\n", "run.yaml"), [
    "run.yaml:11:1: lerning_rate: unknown key (did you mean 'lr'?)",
    "run.yaml:12:1: grid: unknown key: a run file (kind: run) holds one point and has no grid",
  ]);
  // Result sections are not allowed in a normal experiment file.
  assert.deepStrictEqual(problems("dataset: mnist\narch: vgg7\nresults: {}\n"), [
    "experiments/x.yaml:3:1: results: unknown key",
  ]);
  assert.deepStrictEqual(problems("kind: runs\ndataset: mnist\narch: vgg7\n"), [
    `experiments/x.yaml:1:7: kind: expected 'experiment' or 'run', got "runs"`,
  ]);
  assert.equal(
    parseExperiment("kind: experiment\ndataset: mnist\narch: vgg7\n", "k.yaml").kind,
    "experiment",
  );
});

Deno.test("loadExperiment reports a file it cannot read", async () => {
  await assert.rejects(
    loadExperiment("/nonexistent/dir/none.yaml"),
    (e: unknown) =>
      e instanceof ExperimentError &&
      e.message === "/nonexistent/dir/none.yaml: expected an experiment file, got no such file" &&
      e.issues[0].line === null,
  );
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/bad.yaml`;
    await Deno.writeTextFile(path, "dataset: mnist\narch: vgg7\nepochs: 0\n");
    await assert.rejects(
      loadExperiment(path),
      (e: unknown) =>
        e instanceof Error &&
        e.message === `${path}:3:9: epochs: expected a positive integer, got 0`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
