// Settings and sweeps from the command line: values parsed as YAML and
// checked by the schema, errors naming the argument, one cartesian product
// with the file's grid, and ids that keep an override run out of the plain
// run's folder.
import assert from "node:assert/strict";
import { parseExperiment } from "../src/experiment/config.ts";
import { expandGrid, resolvedYaml } from "../src/experiment/grid.ts";
import {
  experimentPoints,
  isOverride,
  OverrideError,
  parseOverrides,
  splitSweep,
} from "../src/experiment/overrides.ts";

const PLAIN = "dataset: fmnist\narch: P2-32F\nlr: 1.0e-3\n";
const GRID = "dataset: fmnist\narch: P2-32F\ngrid:\n  lr: [1.0e-3, 1.0e-4]\n  seed: [0, 1]\n";

/** The messages of a rejected set of arguments, one per problem. */
function problems(args: string[]): string[] {
  try {
    parseOverrides(args);
  } catch (e) {
    assert.ok(e instanceof OverrideError, `expected an OverrideError, got ${e}`);
    const lines = e.message.split("\n");
    const body = lines.length === 1 ? lines : lines.slice(1).map((l) => l.trim());
    assert.equal(body.length, e.issues.length);
    if (lines.length > 1) {
      assert.equal(lines[0], `${body.length} problems in the command-line settings:`);
    }
    return body;
  }
  assert.fail(`expected ${JSON.stringify(args)} to be rejected`);
}

Deno.test("a single override changes the setting and enters the id; the plain run keeps 'default'", () => {
  const exp = parseExperiment(PLAIN, "x.yaml");
  const [plain] = experimentPoints(exp);
  assert.equal(plain.id, "default");
  assert.equal(plain.settings.lr, 1e-3);
  const points = experimentPoints(exp, parseOverrides(["lr=3e-4", "batch_size=128"]));
  assert.equal(points.length, 1);
  assert.equal(points[0].id, "batch_size128_lr3e-4");
  assert.equal(points[0].settings.lr, 3e-4);
  assert.equal(points[0].settings.batch_size, 128);
  assert.deepEqual(points[0].point, { batch_size: 128, lr: 3e-4 });
  // Everything else is the file's.
  assert.deepEqual({ ...points[0].settings, lr: 1e-3, batch_size: 256 }, plain.settings);
});

Deno.test("sweeps and the file's grid make one cartesian product; a gridded key is replaced in place", () => {
  const exp = parseExperiment(GRID, "g.yaml");
  assert.deepEqual(
    experimentPoints(exp).map((p) => p.id),
    expandGrid(exp).map((p) => p.id),
  );
  const swept = experimentPoints(exp, parseOverrides(["seed=0,1,2"]));
  assert.deepEqual(swept.map((p) => p.id), [
    "lr1e-3_seed0",
    "lr1e-3_seed1",
    "lr1e-3_seed2",
    "lr1e-4_seed0",
    "lr1e-4_seed1",
    "lr1e-4_seed2",
  ]);
  const replaced = experimentPoints(exp, parseOverrides(["lr=3e-4", "t_win=1,2"]));
  // t_win 1 is the file's (the default): no override, so no part of the id.
  assert.deepEqual(replaced.map((p) => p.id), [
    "lr3e-4_seed0",
    "lr3e-4_seed0_t_win2",
    "lr3e-4_seed1",
    "lr3e-4_seed1_t_win2",
  ]);
  assert.deepEqual(replaced.map((p) => [p.settings.lr, p.settings.seed, p.settings.t_win]), [
    [3e-4, 0, 1],
    [3e-4, 0, 2],
    [3e-4, 1, 1],
    [3e-4, 1, 2],
  ]);
});

Deno.test("ids are canonical: argument order, number spelling and the file's own values do not change them", () => {
  const exp = parseExperiment(PLAIN + "seed: 0\n", "x.yaml");
  const id = (args: string[]) => experimentPoints(exp, parseOverrides(args)).map((p) => p.id);
  // Order of the arguments.
  assert.deepEqual(id(["seed=1", "lr=3e-4"]), id(["lr=3e-4", "seed=1"]));
  assert.deepEqual(id(["seed=1", "lr=3e-4"]), ["lr3e-4_seed1"]);
  // How a number is written: one text per value, exponent form below 0.1.
  assert.deepEqual(id(["lr=0.01"]), ["lr1e-2"]);
  assert.deepEqual(id(["lr=1e-2"]), ["lr1e-2"]);
  assert.deepEqual(id(["lr=1.0e-2"]), ["lr1e-2"]);
  assert.deepEqual(id(["lr=0.0001,0.01,0.5"]), ["lr1e-4", "lr1e-2", "lr0.5"]);
  // A value equal to the file's is no override: the file's own run, found where it is.
  assert.deepEqual(id(["seed=0"]), ["default"]);
  assert.deepEqual(id(["seed=0", "lr=1e-3"]), ["default"]);
  assert.deepEqual(id(["seed=0,1"]), ["default", "seed1"]);
  assert.deepEqual(id(["annealing=0.999"]), ["default"]); // the default, unwritten in the file
  // With a grid in the file, its keys stay in every id; equal values give equal ids.
  const grid = parseExperiment(GRID, "g.yaml");
  const gid = (args: string[]) => experimentPoints(grid, parseOverrides(args)).map((p) => p.id);
  assert.deepEqual(gid(["lr=1e-3"]), ["lr1e-3_seed0", "lr1e-3_seed1"]);
  assert.deepEqual(gid(["seed=0,1"]), gid([]));
  assert.deepEqual(gid(["batch_size=64", "seed=1"]), gid(["seed=1", "batch_size=64"]));
});

Deno.test("values are YAML: numbers, lists, null, booleans, quoted strings; sweeps of lists", () => {
  const [o] = parseOverrides(["augment=[crop,flip],[]"]);
  assert.deepEqual(o.values, [["crop", "flip"], []]);
  const got = parseOverrides([
    "weight_clip=null",
    "betas=[0.9, 0.99]",
    "shuffle=false",
    "arch='16C3-P2'",
    "max_steps=100",
  ]).map((x) => x.values);
  assert.deepEqual(got, [[null], [[0.9, 0.99]], [false], ["16C3-P2"], [100]]);
  const exp = parseExperiment(PLAIN, "x.yaml");
  const ids = experimentPoints(exp, parseOverrides(["augment=[crop,flip],[]"])).map((p) => p.id);
  assert.deepEqual(ids, ["augment=crop-flip", "default"]); // [] is the file's augment
  assert.deepEqual(splitSweep(`"a,b",'c,d',[1,[2,3]],{x: 1, y: 2}`), [
    `"a,b"`,
    `'c,d'`,
    "[1,[2,3]]",
    "{x: 1, y: 2}",
  ]);
});

Deno.test("a bad override names the argument and the key, like a file error names the line", () => {
  assert.deepEqual(problems(["lr=abc"]), [
    `argument 'lr=abc': lr: expected a positive number, got "abc"`,
  ]);
  assert.deepEqual(problems(["learning_rate=3e-4"]), [
    "argument 'learning_rate=3e-4': learning_rate: unknown key (did you mean 'lr'?)",
  ]);
  assert.deepEqual(problems(["batch_sise=128"]), [
    "argument 'batch_sise=128': batch_sise: unknown key (did you mean 'batch_size'?)",
  ]);
  assert.deepEqual(problems(["betas=[0.9,2]"]), [
    "argument 'betas=[0.9,2]': betas[1]: expected a number in [0, 1), got 2",
  ]);
  assert.deepEqual(problems(["lr=1e-4,-1"]), [
    "argument 'lr=1e-4,-1': lr[1]: expected a positive number, got -1",
  ]);
  assert.deepEqual(problems(["arch=12Q"]), [
    "argument 'arch=12Q': arch: Cannot parse token 1 of architecture '12Q': expected " +
    "'aCk' (convolution), 'nF' (fully connected) or 'Pk' (max pooling), or a name (vgg7, vgg11), " +
    "got '12Q'",
  ]);
  assert.deepEqual(problems(["gpu=first"]), [
    "argument 'gpu=first': gpu: expected an index (0, 1, ...), a PCI address such as " +
    "'0000:41:00.0' or 'pci-0000_41_00_0', or a vendor:device id such as '10de:2335', or null, " +
    `got "first"`,
  ]);
});

Deno.test("every problem of every argument is reported at once", () => {
  assert.deepEqual(
    problems(["lr=", "seed=1,1", "epochs=2,,3", "dataset=mnist", "dataset=fmnist"]),
    [
      "argument 'lr=': lr: expected a value after '=', got nothing",
      "argument 'seed=1,1': seed[1]: expected no duplicates, got 1 again (first at [0])",
      "argument 'epochs=2,,3': epochs[1]: expected a value between commas, got nothing",
      "argument 'dataset=fmnist': dataset: given twice (also as 'dataset=mnist'): expected once " +
      "(sweep with dataset=v1,v2)",
    ],
  );
  assert.deepEqual(problems(["output=a,b", "grid=x", "augment=[crop"]), [
    "argument 'output=a,b': output: cannot be swept (expected one value, got 2)",
    "argument 'grid=x': grid: cannot be given as key=value (expected a setting; sweep with " +
    "key=v1,v2, and set Slurm options with --partition, --time, ...)",
    "argument 'augment=[crop': augment: YAML syntax error in \"[crop\": " +
    problemsOfYaml("[crop"),
  ]);
});

function problemsOfYaml(text: string): string {
  // The parser's own wording, whatever the yaml version says.
  try {
    parseOverrides([`augment=${text}`]);
  } catch (e) {
    return (e as Error).message.split(`YAML syntax error in "${text}": `)[1];
  }
  assert.fail("expected a syntax error");
}

Deno.test("isOverride tells settings from file names and flags", () => {
  assert.ok(isOverride("lr=3e-4"));
  assert.ok(isOverride("batch_size="));
  assert.ok(!isOverride("experiments/a=b.yaml")); // a path: "/" is no key character
  assert.ok(!isOverride("experiments/quick.yaml"));
  assert.ok(!isOverride("--lr=3"));
  assert.ok(!isOverride("=3"));
});

Deno.test("where-not-what settings take one value and stay out of the id", () => {
  const exp = parseExperiment(PLAIN, "x.yaml");
  const points = experimentPoints(
    exp,
    parseOverrides(["output=elsewhere", "gpu=1", "data_dir=/data", "name=renamed"]),
  );
  assert.equal(points.length, 1);
  assert.equal(points[0].id, "default");
  assert.equal(points[0].settings.output, "elsewhere");
  assert.equal(points[0].settings.gpu, 1);
  assert.equal(points[0].settings.data_dir, "/data");
  assert.equal(points[0].settings.name, "renamed");
});

Deno.test("overrides go into run.yaml: settings and grid_point, read back unchanged", () => {
  const exp = parseExperiment(GRID, "g.yaml");
  const [p] = experimentPoints(exp, parseOverrides(["batch_size=64"]));
  const text = resolvedYaml(p.settings, { id: p.id, grid_point: p.point });
  const back = parseExperiment(text, "run.yaml");
  assert.equal(back.base.batch_size, 64);
  assert.deepEqual(back.sections.grid_point, { lr: 1e-3, seed: 0, batch_size: 64 });
  assert.equal(back.sections.id, "lr1e-3_seed0_batch_size64");
});

Deno.test("a run.yaml reruns under its id; with an override it gets a new id from its grid point", () => {
  const exp = parseExperiment(GRID, "g.yaml");
  const p = expandGrid(exp)[1];
  const run = parseExperiment(
    resolvedYaml(p.settings, { id: p.id, grid_point: p.point }),
    "runs/g/lr1e-3_seed1/run.yaml",
  );
  assert.deepEqual(experimentPoints(run).map((x) => x.id), ["lr1e-3_seed1"]);
  assert.deepEqual(experimentPoints(run, parseOverrides(["gpu=0"])).map((x) => x.id), [
    "lr1e-3_seed1",
  ]);
  const over = experimentPoints(run, parseOverrides(["lr=3e-4", "epochs=5,6"]));
  assert.deepEqual(over.map((x) => x.id), ["lr3e-4_seed1_epochs5", "lr3e-4_seed1_epochs6"]);
  assert.deepEqual(over[1].point, { lr: 3e-4, seed: 1, epochs: 6 });
  assert.equal(over[1].settings.epochs, 6);
  assert.equal(over[1].settings.seed, 1);
});

Deno.test("override values whose ids would read the same get distinct hashed ids", () => {
  const exp = parseExperiment(PLAIN, "x.yaml");
  const ids = experimentPoints(exp, parseOverrides(["arch=32C5-P2,'32C5 - P2'"])).map((p) => p.id);
  assert.equal(ids.length, 2);
  assert.notEqual(ids[0], ids[1]);
  for (const id of ids) assert.match(id, /^arch=32C5-P2_[0-9a-f]{8}$/);
});
