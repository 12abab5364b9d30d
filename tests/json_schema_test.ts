// The JSON Schema of experiment files: experiments/schema.json is up to
// date, every shipped experiment names it, and it accepts and refuses what
// the zod schema (parseExperiment) accepts and refuses.
import assert from "node:assert/strict";
import YAML from "yaml";
import { DEFAULTS, GRID_KEYS, parseExperiment, SETTING_KEYS } from "../src/experiment/config.ts";
import { experimentJsonSchema, experimentJsonSchemaText } from "../src/experiment/json_schema.ts";

const EXPERIMENTS = new URL("../experiments/", import.meta.url);
type Schema = Record<string, any>;

/** A small draft-07 validator for the keywords the schema uses (written for this test). */
function valid(schema: Schema, v: unknown, root: Schema = schema): boolean {
  if (schema.$ref !== undefined) {
    const m = /^#\/definitions\/(\w+)$/.exec(schema.$ref);
    if (!m || !root.definitions?.[m[1]]) throw new Error(`unresolved $ref ${schema.$ref}`);
    return valid(root.definitions[m[1]], v, root);
  }
  if (schema.type !== undefined) {
    const types: string[] = Array.isArray(schema.type) ? schema.type : [schema.type];
    const ok = types.some((t) =>
      t === "null"
        ? v === null
        : t === "integer"
        ? Number.isInteger(v)
        : t === "number"
        ? typeof v === "number" && Number.isFinite(v)
        : t === "array"
        ? Array.isArray(v)
        : t === "object"
        ? v !== null && typeof v === "object" && !Array.isArray(v)
        : t === "string"
        ? typeof v === "string"
        : t === "boolean"
        ? typeof v === "boolean"
        : false
    );
    if (!ok) return false;
  }
  if (schema.enum && !schema.enum.some((e: unknown) => e === v)) return false;
  if ("const" in schema && schema.const !== v) return false;
  if (typeof v === "number") {
    if (schema.minimum !== undefined && !(v >= schema.minimum)) return false;
    if (schema.maximum !== undefined && !(v <= schema.maximum)) return false;
    if (schema.exclusiveMinimum !== undefined && !(v > schema.exclusiveMinimum)) return false;
    if (schema.exclusiveMaximum !== undefined && !(v < schema.exclusiveMaximum)) return false;
  }
  if (typeof v === "string") {
    if (schema.minLength !== undefined && v.length < schema.minLength) return false;
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, "u").test(v)) return false;
  }
  if (Array.isArray(v)) {
    if (schema.minItems !== undefined && v.length < schema.minItems) return false;
    if (schema.maxItems !== undefined && v.length > schema.maxItems) return false;
    if (schema.uniqueItems && new Set(v.map((x) => JSON.stringify(x))).size !== v.length) {
      return false;
    }
    if (Array.isArray(schema.items)) {
      if (schema.additionalItems === false && v.length > schema.items.length) return false;
      if (!schema.items.every((s: Schema, i: number) => i >= v.length || valid(s, v[i], root))) {
        return false;
      }
    } else if (schema.items && !v.every((x) => valid(schema.items, x, root))) return false;
  }
  if (v !== null && typeof v === "object" && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    for (const k of schema.required ?? []) if (!(k in o)) return false;
    for (const [k, x] of Object.entries(o)) {
      const p = schema.properties?.[k];
      if (p) {
        if (!valid(p, x, root)) return false;
      } else if (schema.additionalProperties === false) return false;
    }
  }
  if (schema.anyOf && !schema.anyOf.some((s: Schema) => valid(s, v, root))) return false;
  if (schema.allOf && !schema.allOf.every((s: Schema) => valid(s, v, root))) return false;
  return true;
}

function zodAccepts(text: string): boolean {
  try {
    parseExperiment(text, "x.yaml");
    return true;
  } catch {
    return false;
  }
}

Deno.test("experiments/schema.json is the generated schema (run 'deno task schema' after changes)", async () => {
  const file = await Deno.readTextFile(new URL("schema.json", EXPERIMENTS));
  assert.equal(file, experimentJsonSchemaText());
});

Deno.test("every shipped experiment names the schema on its first line and is valid", async () => {
  const schema = experimentJsonSchema();
  let n = 0;
  for await (const e of Deno.readDir(EXPERIMENTS)) {
    if (!e.isFile || !/\.ya?ml$/.test(e.name)) continue;
    const text = await Deno.readTextFile(new URL(e.name, EXPERIMENTS));
    assert.equal(text.split("\n")[0], "# yaml-language-server: $schema=./schema.json", e.name);
    assert.ok(valid(schema, YAML.parse(text)), `${e.name} should be valid`);
    n++;
  }
  assert.ok(n >= 10, `expected the shipped experiments, found ${n}`);
});

Deno.test("the schema lists every setting with its default, and the grid's keys", () => {
  const s = experimentJsonSchema() as Schema;
  for (const k of SETTING_KEYS) {
    assert.ok(s.properties[k], `setting ${k}`);
    assert.ok(s.properties[k].description.length > 10, `description of ${k}`);
  }
  for (const [k, v] of Object.entries(DEFAULTS)) assert.deepEqual(s.properties[k].default, v, k);
  assert.deepEqual(Object.keys(s.properties.grid.properties), [...GRID_KEYS]);
});

Deno.test("the schema accepts and refuses what parseExperiment accepts and refuses", () => {
  const schema = experimentJsonSchema();
  const base = "dataset: fmnist\narch: 32C5-P2-100F\n";
  const cases: [string, boolean][] = [
    [base, true],
    ["dataset: fmnist\n", false], // arch missing
    ["arch: vgg7\ngrid:\n  dataset: [mnist, fmnist]\n", true], // dataset from the grid
    [base + "lr: 3.0e-4\nbetas: [0.9, 0.99]\nweight_clip: null\n", true],
    [base + "lr: -1\n", false],
    [base + "lr: 0\n", false],
    [base + "lr: fast\n", false],
    [base + "learning_rate: 0.1\n", false],
    [base + "batch_size: 12.5\n", false],
    [base + "betas: [0.9, 1]\n", false],
    [base + "betas: [0.9]\n", false],
    [base + "augment: [crop, flip]\n", true],
    [base + "augment: [rotate]\n", false],
    [base + "readout: spike\nprecision: f16\n", true],
    [base + "readout: argmax\n", false],
    ["dataset: mnist\narch: VGG11\n", true],
    ["dataset: mnist\narch: 12Q\n", false],
    ["dataset: mnist\narch: 16C3 - P2 - 10F\n", true],
    [base + "init: w/start.SafeTensors\n", true],
    [base + "init: w/start.pt\n", false],
    [base + "gpu: 1\n", true],
    [base + "gpu: '0000:41:00.0'\n", true],
    [base + "gpu: 10de:2335\n", true],
    [base + "gpu: first\n", false],
    [base + "gpu: -1\n", false],
    [base + "name: ok-name_1.2\n", true],
    [base + "name: -bad\n", false],
    [base + "validation_fraction: 1\n", false],
    [base + "annealing: 1\n", true],
    [base + "max_steps: null\n", true],
    [base + "grid:\n  lr: [1.0e-3, 1.0e-4]\n  seed: [0, 1]\n", true],
    [base + "grid:\n  lr: []\n", false],
    [base + "grid:\n  lr: [1.0e-3, 1.0e-3]\n", false],
    [base + "grid:\n  name: [a, b]\n", false],
    [base + "grid:\n  gpu: [0, 1]\n", false],
    [base + "slurm:\n  partition: gpu\n  time: '1:00:00'\n  cpus_per_task: 4\n", true],
    [base + "slurm:\n  queue: gpu\n", false],
    [base + "slurm:\n  cpus_per_task: 0\n", false],
    [base + "search:\n  trials: 8\n  space:\n    lr: {log_uniform: [1.0e-4, 1.0e-2]}\n", true],
    [
      base + "search:\n  trials: 8\n  sampler: tpe\n  scheduler: hyperband\n  space:\n" +
      "    batch_size: {int: [16, 256], log: true}\n    optimizer: {choice: [adam, sgd]}\n",
      true,
    ],
    [base + "search:\n  space:\n    lr: {uniform: [0.001, 0.01]}\n", false], // no trials
    [base + "search:\n  trials: 8\n  sampler: grid\n  space:\n    seed: {int: [0, 3]}\n", false],
    [base + "search:\n  trials: 8\n  space:\n    lr: {gauss: [0.001, 0.01]}\n", false],
    [base + "search:\n  trials: 8\n  space:\n    learning_rate: {uniform: [0, 1]}\n", false],
    [base + "search:\n  trials: 8\n  space:\n    seed: {int: [0.5, 3]}\n", false],
    [base + "search:\n  trials: 8\n  space:\n    lr: {log_uniform: [0, 0.1]}\n", false],
    [base + "search:\n  trials: 8\n  reduction: 1\n  space:\n    seed: {int: [0, 3]}\n", false],
    [base + "search:\n  trials: 8\n  space:\n    seed: {choice: [1, 1]}\n", false],
  ];
  for (const [text, want] of cases) {
    assert.equal(zodAccepts(text), want, `zod on:\n${text}`);
    assert.equal(valid(schema, YAML.parse(text)), want, `JSON Schema on:\n${text}`);
  }
});
