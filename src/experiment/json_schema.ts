/**
 * A JSON Schema (draft-07) of experiment files, generated from the zod
 * schema in `config.ts`, so editors complete and check keys. Every shipped
 * experiment names it on its first line:
 *
 *     # yaml-language-server: $schema=./schema.json
 *
 * `deno task schema` writes it to `experiments/schema.json`; a test checks
 * that the file is up to date and that the schema accepts and refuses what
 * the zod schema does. Checks zod does in code (an architecture's tokens, a
 * GPU id) become patterns here; a few only zod makes (`weight_clip` min <
 * max, no duplicate augmentations) are left to `deno task exp`.
 *
 * @example
 * ```ts
 * import { experimentJsonSchema } from "./json_schema.ts";
 * const s = experimentJsonSchema() as { properties: Record<string, { default?: unknown }> };
 * if (s.properties.lr.default !== 1e-4 || !("grid" in s.properties)) throw new Error();
 * ```
 *
 * @module
 */

import type { z } from "../deps/zod.ts";
import {
  DEFAULTS,
  type Experiment,
  GRID_KEYS,
  RUN_SECTIONS,
  SETTING_KEYS,
  SETTING_SCHEMAS,
  SLURM_SCHEMA,
} from "./config.ts";
import { MAX_TRIALS, METRICS, SAMPLERS, SCHEDULERS, SEARCH_DEFAULTS } from "./search_spec.ts";

type Json = Record<string, unknown>;

/** One line per setting: what an editor shows when hovering the key. */
export const SETTING_DESCRIPTIONS: Readonly<Record<keyof Experiment, string>> = {
  name: "Name of the experiment (runs go to <output>/<name>/<id>); default: the file's name.",
  description: "Free text about the experiment.",
  dataset: "Dataset to train on.",
  data_dir: "Folder with the dataset files; null for the usual lookup ($FIRSTSPIKE_DATA, " +
    "system folders, cache, download).",
  arch: "Architecture: vgg7, vgg11 or tokens such as 32C5-P2-64C5-P2-100F (aCk conv, nF fully " +
    "connected, Pk max pool); the readout is added.",
  normalize: "Normalise pixels by the dataset's mean and std before encoding (the reference does).",
  t_win: "Window length T of each layer.",
  readout: "potential: argmax of the readout's potentials; spike: the earliest output spike.",
  optimizer: "Update rule.",
  lr: "Learning rate.",
  betas: "Adam's [b1, b2].",
  eps: "Adam's epsilon.",
  weight_decay: "Decoupled weight decay: w -= lr * weight_decay * w after each step.",
  annealing: "Learning-rate factor applied after every epoch (lr_schedule exponential).",
  lr_schedule: "How the learning rate changes: exponential (times annealing after every epoch, " +
    "the reference's), cosine (a half cosine from lr to lr_min over all epochs, step by step) " +
    "or step (times lr_gamma after each epoch of lr_milestones).",
  warmup_epochs: "Epochs of linear warm-up at the start, step by step from lr/W to the " +
    "schedule's value (W steps); 0 for none. May be fractional.",
  lr_min: "Learning rate the cosine schedule falls to at the end of the last epoch.",
  lr_milestones: "Epochs after which the step schedule multiplies the learning rate by " +
    "lr_gamma ([30, 60]: epochs 31 and 61 start lower).",
  lr_gamma: "Factor of the step schedule at each milestone.",
  grad_clip: "Clip of the backward factors g_I, g_S to [-c, c].",
  weight_clip: "Clip weights to [min, max] after each step; null for none.",
  fixed_signs: "Keep each weight's initial sign.",
  batch_size: "Samples per batch.",
  epochs: "Maximum number of epochs.",
  max_steps: "Stop after this many optimiser steps in total; null for no limit.",
  early_stopping: "Epochs without better validation accuracy before stopping.",
  validation_fraction:
    "Fraction of the training split held out for validation, chosen with the seed.",
  test_each_epoch: "Score the test set after every epoch (true), or only at the end, on the " +
    "best-validation weights (false: faster; per-epoch records carry no test scores).",
  shuffle: "Training order: true reshuffles every epoch (seeded), once keeps one seeded order " +
    "for every epoch (the reference's), false keeps the files' order.",
  augment: "Augmentations, applied in this order.",
  train_subset: "Use only N samples of the training split, chosen with the seed; " +
    "validation_fraction of them are held out for validation. null for all.",
  test_subset: "Use only the first N test samples; null for all.",
  seed: "Seed of initialisation, shuffling, validation split and augmentation.",
  output: "Folder under which runs are written.",
  init: "Initial weights from a .safetensors file; null for random initialisation.",
  precision: "Arithmetic of the matrix products on the GPU (f16 needs shader-f16).",
  gpu: "GPU: an index (nvidia-smi order), a PCI address (0000:41:00.0) or a vendor:device id " +
    "(10de:2335); null for the default (or the one Slurm gave).",
};

/** One line per key of the `slurm:` section. */
export const SLURM_DESCRIPTIONS: Readonly<Record<string, string>> = {
  account: "sbatch --account: the account (allocation) the jobs are charged to.",
  qos: "sbatch --qos: the quality of service (a queue's limits and priority), e.g. long.",
  partition: "sbatch --partition, e.g. gpu.",
  time: 'sbatch --time per array task, e.g. "24:00:00" or "2-00:00:00" (quoted); a task ' +
    "writes a checkpoint 2 min before it and requeues itself.",
  gres: 'sbatch --gres: "gpu:1" for one GPU per task (a script without a GPU is warned about).',
  cpus_per_task: "sbatch --cpus-per-task.",
  mem: 'sbatch --mem per task, e.g. "32G".',
  max_parallel: "At most this many array tasks at once (--array=0-N%max_parallel).",
  extra: "More lines: an sbatch option (--gpus-per-node=1), an #SBATCH line, or a shell line " +
    "run before the task (module load cuda).",
};

/** Extra constraints for checks zod makes in code. */
const TOKEN = "(?:[0-9]+[Cc][0-9]+|[0-9]+[Ff]|[Pp][0-9]+)";
const PATTERNS: Partial<Record<keyof Experiment, Json>> = {
  arch: {
    pattern: `^\\s*(?:[Vv][Gg][Gg](?:7|11)|${TOKEN}(?:\\s*-\\s*${TOKEN})*)\\s*$`,
  },
};
const GPU_JSON: Json = {
  anyOf: [
    { type: "integer", minimum: 0 },
    {
      type: "string",
      pattern: "^\\s*(?:[0-9]+|(?:pci-)?(?:[0-9A-Fa-f]{1,8}[:_])?[0-9A-Fa-f]{1,2}[:_]" +
        "[0-9A-Fa-f]{1,2}[._][0-7]|[0-9A-Fa-f]{1,8}:[0-9A-Fa-f]{1,8})\\s*$",
    },
    { type: "null" },
  ],
};

type AnyDef = any;

/** A regex source made case-insensitive by letter classes (JSON Schema patterns have no flags). */
function caseless(source: string): string {
  let out = "";
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === "\\") {
      out += c + (source[i + 1] ?? "");
      i++;
    } else if (/[a-z]/i.test(c)) out += `[${c.toLowerCase()}${c.toUpperCase()}]`;
    else out += c;
  }
  return out;
}

/** Converts the zod types the experiment schema uses. */
function convert(schema: z.ZodTypeAny): Json {
  const def: AnyDef = schema._def;
  switch (def.typeName) {
    case "ZodNumber": {
      const out: Json = { type: "number" };
      for (const c of def.checks ?? []) {
        if (c.kind === "int") out.type = "integer";
        else if (c.kind === "min") out[c.inclusive ? "minimum" : "exclusiveMinimum"] = c.value;
        else if (c.kind === "max") out[c.inclusive ? "maximum" : "exclusiveMaximum"] = c.value;
      }
      return out;
    }
    case "ZodString": {
      const out: Json = { type: "string" };
      for (const c of def.checks ?? []) {
        if (c.kind === "min") out.minLength = c.value;
        else if (c.kind === "regex") {
          const re = c.regex as RegExp;
          out.pattern = re.flags.includes("i") ? caseless(re.source) : re.source;
        }
      }
      return out;
    }
    case "ZodBoolean":
      return { type: "boolean" };
    case "ZodEnum":
      return { type: "string", enum: [...def.values] };
    case "ZodLiteral":
      return { const: def.value };
    case "ZodUnknown":
    case "ZodAny":
      return {};
    case "ZodTuple":
      return {
        type: "array",
        items: def.items.map(convert),
        minItems: def.items.length,
        maxItems: def.items.length,
        additionalItems: false,
      };
    case "ZodArray": {
      const out: Json = { type: "array", items: convert(def.type) };
      if (def.minLength) out.minItems = def.minLength.value;
      return out;
    }
    case "ZodNullable":
      return { anyOf: [convert(def.innerType), { type: "null" }] };
    case "ZodOptional":
      return convert(def.innerType);
    case "ZodUnion":
      return { anyOf: def.options.map(convert) };
    case "ZodEffects":
      return convert(def.schema);
    case "ZodObject": {
      const shape = def.shape() as Record<string, z.ZodTypeAny>;
      return {
        type: "object",
        properties: Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, convert(v)])),
        additionalProperties: false,
      };
    }
  }
  throw new Error(`Cannot convert zod type ${def.typeName} to JSON Schema`);
}

/** The JSON Schema of one setting, with its description, default and extra checks. */
function settingJson(key: keyof Experiment): Json {
  const base = key === "gpu" ? GPU_JSON : convert(SETTING_SCHEMAS[key]);
  const extra = PATTERNS[key] ?? {};
  const out: Json = { description: SETTING_DESCRIPTIONS[key], ...base };
  if (Object.keys(extra).length) {
    // A pattern joins the string schema (arch is a plain string).
    Object.assign(out, extra);
  }
  if (key in DEFAULTS) out.default = structuredClone(DEFAULTS[key as keyof typeof DEFAULTS]);
  return out;
}

/** The JSON Schema of experiment files (and of runs' `run.yaml`). */
export function experimentJsonSchema(): Json {
  const settings = Object.fromEntries(SETTING_KEYS.map((k) => [k, settingJson(k)]));
  const grid = {
    description: "Settings to vary: each key maps to a list of values; the experiment runs " +
      "their cartesian product.",
    type: "object",
    additionalProperties: false,
    properties: Object.fromEntries(GRID_KEYS.map((k) => {
      const { default: _, description, ...item } = settingJson(k);
      return [k, {
        description: `Values of ${k} to try. ${description}`,
        type: "array",
        minItems: 1,
        uniqueItems: true,
        items: item,
      }];
    })),
  };
  const search = searchJson();
  const converted = convert(SLURM_SCHEMA) as { properties: Record<string, Json> };
  const slurm = {
    description: "Cluster jobs: sbatch options for `deno task exp --slurm`.",
    ...converted,
    properties: Object.fromEntries(
      Object.entries(converted.properties).map((
        [k, v],
      ) => [k, { description: SLURM_DESCRIPTIONS[k], ...v }]),
    ),
  };
  const required = (key: string) => ({
    anyOf: [
      { required: [key] },
      { required: ["grid"], properties: { grid: { required: [key] } } },
    ],
  });
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    title: "firstspike experiment",
    description: "A firstspike experiment file: settings (every one but dataset and arch has the " +
      "reference's default), an optional grid, search and Slurm options. Check: deno task exp " +
      "FILE --dry-run.",
    type: "object",
    additionalProperties: false,
    properties: {
      ...settings,
      kind: {
        description: "experiment (default) or run (a run's resolved run.yaml).",
        enum: ["experiment", "run"],
      },
      slurm,
      grid,
      search,
      ...Object.fromEntries(
        RUN_SECTIONS.map((k) => [k, { description: "Written by a run into its run.yaml." }]),
      ),
    },
    allOf: [required("dataset"), required("arch")],
    definitions: { distribution: distributionJson() },
  };
}

/** A distribution of a searched setting (`search.space.<key>`). */
function distributionJson(): Json {
  const pair = (item: Json) => ({
    type: "array",
    items: [item, item],
    minItems: 2,
    maxItems: 2,
    additionalItems: false,
  });
  const only = (key: string, value: Json, extra: Record<string, Json> = {}) => ({
    type: "object",
    properties: { [key]: value, ...extra },
    required: [key],
    additionalProperties: false,
  });
  return {
    anyOf: [
      only("log_uniform", pair({ type: "number", exclusiveMinimum: 0 })),
      only("uniform", pair({ type: "number" })),
      only("int", pair({ type: "integer" }), { log: { type: "boolean" } }),
      only("choice", { type: "array", minItems: 1, uniqueItems: true }),
    ],
  };
}

/**
 * The JSON Schema of the `search:` section; a distribution's bounds against
 * its setting's values are checked by `deno task exp`.
 */
function searchJson(): Json {
  const int = (minimum: number, description: string, maximum?: number) => ({
    description,
    type: "integer",
    minimum,
    ...(maximum === undefined ? {} : { maximum }),
  });
  return {
    description: "Sample trials from a space instead of a grid's product, and stop poor ones " +
      "early (docs/search.md). Each trial is a run folder; epochs is the most a trial trains.",
    type: "object",
    additionalProperties: false,
    required: ["trials", "space"],
    properties: {
      trials: int(1, "How many trials to sample.", MAX_TRIALS),
      sampler: {
        description: "random: independent draws; sobol: a scrambled Sobol sequence; tpe: the " +
          "tree-structured Parzen estimator, after startup_trials random ones.",
        enum: [...SAMPLERS],
        default: SEARCH_DEFAULTS.sampler,
      },
      seed: { ...int(0, "Seed of the sampler: the same file gives the same trials."), default: 0 },
      metric: {
        description: "What ranks trials: accuracies are maximised, losses minimised.",
        enum: [...METRICS],
        default: SEARCH_DEFAULTS.metric,
      },
      scheduler: {
        description: "none: every trial to the last epoch; asha: asynchronous successive " +
          "halving; hyperband: ASHA brackets starting at different rungs.",
        enum: [...SCHEDULERS],
        default: SEARCH_DEFAULTS.scheduler,
      },
      min_epochs: {
        ...int(1, "Epochs of the first rung; rungs grow by the reduction factor."),
        default: SEARCH_DEFAULTS.min_epochs,
      },
      reduction: {
        ...int(2, "The scheduler keeps the best 1/reduction of each rung."),
        default: SEARCH_DEFAULTS.reduction,
      },
      startup_trials: {
        ...int(1, "TPE: trials drawn at random before the model takes over."),
        default: SEARCH_DEFAULTS.startup_trials,
      },
      space: {
        description: "The settings to draw: {log_uniform: [lo, hi]}, {uniform: [lo, hi]}, " +
          "{int: [lo, hi]} (inclusive; log: true for a log scale) or {choice: [...]}.",
        type: "object",
        additionalProperties: false,
        properties: Object.fromEntries(
          GRID_KEYS.map((k) => [k, { $ref: "#/definitions/distribution" }]),
        ),
      },
    },
  };
}

/** The schema as the text of `experiments/schema.json` (two-space JSON and a newline). */
export function experimentJsonSchemaText(): string {
  return JSON.stringify(experimentJsonSchema(), null, 2) + "\n";
}
