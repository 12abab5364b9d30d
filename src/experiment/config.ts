/**
 * Experiment files: the YAML schema of one training setup (and of a grid of
 * them), its defaults, and parsing with errors that point at line and column.
 *
 * A file is a flat mapping of snake_case settings (see {@link Experiment});
 * every setting but `dataset` and `arch` has a default from {@link DEFAULTS}
 * (the reference's settings, MODEL.md). An optional `grid` maps settings to
 * lists of values to try (see `./grid.ts`), and an optional `slurm` section
 * describes cluster jobs. A run's resolved `run.yaml` is the same format with
 * `kind: run`, where result sections ({@link RUN_SECTIONS}) may follow.
 *
 * @example
 * ```ts
 * import { parseExperiment } from "./config.ts";
 * const { base, grid } = parseExperiment("dataset: mnist\narch: vgg7\nlr: 3.0e-5\n", "x.yaml");
 * if (base.name !== "x" || base.lr !== 3e-5 || base.batch_size !== 256) throw new Error();
 * if (Object.keys(grid).length !== 0) throw new Error();
 * ```
 *
 * @module
 */

import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { LineCounter, parseDocument } from "../deps/yaml.ts";
import { z } from "../deps/zod.ts";
import { parseArch } from "../engine/spec.ts";
import { gpuProblem } from "../engine/gpu_select.ts";
import {
  describeValue,
  ExperimentError,
  type ExperimentIssue,
  type KeyPath,
  locate,
  pathString,
  suggestKey,
  valueAt,
  yamlValue,
} from "./_yaml_errors.ts";

import { checkSearchSection, type SearchSpec } from "./search_spec.ts";

export { ExperimentError, type ExperimentIssue } from "./_yaml_errors.ts";

/** Datasets the toolkit can load. */
export const DATASETS = ["mnist", "fmnist", "cifar10", "cifar100"] as const;
/** Data augmentations (MODEL.md, used for CIFAR by the reference). */
export const AUGMENTATIONS = ["crop", "flip", "autoaugment", "cutout"] as const;
/** Learning-rate schedules (see `lr_schedule` and `src/run/lr_schedule.ts`). */
export const LR_SCHEDULES = ["exponential", "cosine", "step"] as const;

/** The resolved settings of one training run: every default filled in. */
export interface Experiment {
  /** Name of the experiment; defaults to the file's base name without extension. */
  name: string;
  /** Free text; absent when the file has none. */
  description?: string;
  /** Which dataset to train on. */
  dataset: (typeof DATASETS)[number];
  /** Folder with the dataset files; null for the toolkit's default location. */
  data_dir: string | null;
  /** Architecture: `vgg7`, `vgg11` or a spec like `32C5-P2-64C5-P2-100F` (readout added). */
  arch: string;
  /** Normalise pixels by dataset mean and std before encoding (the reference does). */
  normalize: boolean;
  /** Window length `T`. */
  t_win: number;
  /** Readout: membrane potential (argmax) or output spike times (argmin). */
  readout: "potential" | "spike";
  /** Optimiser. */
  optimizer: "adam" | "sgd";
  /** Learning rate. */
  lr: number;
  /** Adam's `[b1, b2]`. */
  betas: [number, number];
  /** Adam's epsilon. */
  eps: number;
  /** Decoupled weight decay: `w -= lr * weight_decay * w` after each step. */
  weight_decay: number;
  /** Learning rate factor applied after every epoch (`lr_schedule: exponential`). */
  annealing: number;
  /**
   * How the learning rate changes ({@link LR_SCHEDULES}, `src/run/lr_schedule.ts`):
   * `exponential` multiplies it by `annealing` after every epoch (the
   * reference's); `cosine` follows a half cosine from `lr` to `lr_min` over
   * all `epochs`, step by step; `step` multiplies it by `lr_gamma` after each
   * epoch of `lr_milestones`.
   */
  lr_schedule: (typeof LR_SCHEDULES)[number];
  /** Epochs of linear warm-up (step by step from `lr / W` to the schedule's value); 0 for none. */
  warmup_epochs: number;
  /** Learning rate the cosine schedule falls to. */
  lr_min: number;
  /** Epochs after which the step schedule multiplies the learning rate by `lr_gamma`. */
  lr_milestones: number[];
  /** Factor of the step schedule at each milestone. */
  lr_gamma: number;
  /** Clip of the backward factors `g_I`, `g_S` to `[-c, c]`. */
  grad_clip: number;
  /** Clip weights to `[min, max]` after each step; null for none. */
  weight_clip: [number, number] | null;
  /** Keep each weight's initial sign. */
  fixed_signs: boolean;
  /** Samples per batch. */
  batch_size: number;
  /** Maximum number of epochs. */
  epochs: number;
  /** Stop after this many optimiser steps in total; null for no limit. */
  max_steps: number | null;
  /** Epochs without better validation accuracy before stopping. */
  early_stopping: number;
  /** Fraction of the training split held out for validation, chosen with the seed. */
  validation_fraction: number;
  /**
   * Score the test set after every epoch (`true`), or only once at the end,
   * on the best-validation weights (`false`: saves the time of an
   * evaluation per epoch; the per-epoch records then carry no test scores).
   * Changes what a run records, never its weights.
   */
  test_each_epoch: boolean;
  /**
   * Training order: `true` reshuffles every epoch (seeded); `once` draws one
   * seeded random order and keeps it for every epoch, as the reference does;
   * `false` keeps the files' order.
   */
  shuffle: boolean | "once";
  /** Augmentations, applied in this order. */
  augment: (typeof AUGMENTATIONS)[number][];
  /**
   * Use only N samples of the training split, chosen with the seed;
   * `validation_fraction` of them are held out for validation. null for all.
   */
  train_subset: number | null;
  /** Use only the first N test samples; null for all. */
  test_subset: number | null;
  /** Seed of initialisation, shuffling, validation split and augmentation. */
  seed: number;
  /** Folder under which runs are written. */
  output: string;
  /** Initial weights from a `.safetensors` file; null for random initialisation. */
  init: string | null;
  /** Storage precision of weights and activations on the GPU. */
  precision: "f32" | "f16";
  /**
   * Which GPU: an index (PCI order, as `nvidia-smi` counts), a PCI address or
   * a `vendor:device` id; null for the default adapter (or the one Slurm gave).
   * Where a run happens, not what it computes: never part of a run's id.
   */
  gpu: number | string | null;
}

/** Settings of cluster jobs for an experiment (all optional). */
export interface Slurm {
  /** `--account`: whose allocation the jobs are charged to. */
  account?: string;
  /** `--qos`: quality of service (a queue's limits and priority). */
  qos?: string;
  /** `--partition`. */
  partition?: string;
  /** `--time`, e.g. "12:00:00" or "1-00:00:00". */
  time?: string;
  /** `--gres`, e.g. "gpu:1". */
  gres?: string;
  /** `--cpus-per-task`. */
  cpus_per_task?: number;
  /** `--mem`, e.g. "32G". */
  mem?: string;
  /** At most this many array tasks at once. */
  max_parallel?: number;
  /** Extra lines: sbatch options (`--qos=long`), `#SBATCH` lines or shell lines. */
  extra?: string[];
}

/** Settings that have defaults (all but `name`, `description`, `dataset`, `arch`). */
export type DefaultedKey = Exclude<keyof Experiment, "name" | "description" | "dataset" | "arch">;

/**
 * The defaults, the reference's settings (MODEL.md). This is the only place
 * they are written. Frozen; copy before changing.
 */
export const DEFAULTS: Readonly<{ [K in DefaultedKey]: Readonly<Experiment[K]> }> = deepFreeze({
  data_dir: null,
  normalize: false,
  t_win: 1,
  readout: "potential",
  optimizer: "adam",
  lr: 1e-4,
  betas: [0.9, 0.999],
  eps: 1e-8,
  weight_decay: 0.1,
  annealing: 0.999,
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
});

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Every setting of {@link Experiment}, in the order resolved files list them. */
export const SETTING_KEYS: readonly (keyof Experiment)[] = [
  "name",
  "description",
  "dataset",
  "data_dir",
  "arch",
  ...(Object.keys(DEFAULTS) as DefaultedKey[]).filter((k) => k !== "data_dir"),
];

/**
 * Settings that a `grid` may vary: all but those that name or place the run
 * folders (`name`, `description`, `output`), since one experiment writes its
 * points under one folder, the GPU, which changes where a run happens, not
 * what it computes, and `test_each_epoch`, which changes only what a run
 * records (two points would train the same weights).
 */
export const GRID_KEYS: readonly (keyof Experiment)[] = SETTING_KEYS.filter((k) =>
  k !== "name" && k !== "description" && k !== "output" && k !== "gpu" &&
  k !== "test_each_epoch"
);

/**
 * Top-level sections a `kind: run` file may carry besides the settings. They
 * are returned as {@link ParsedExperiment.sections} and never affect settings.
 */
export const RUN_SECTIONS = [
  "id",
  "grid_point",
  "status",
  "results",
  "metrics",
  "stats",
  "history",
  "timing",
  "provenance",
  "notes",
  "fingerprint",
  "run_dir",
] as const;

// ---------------------------------------------------------------------------
// Schema. Every leaf carries its own "expected ..." text through an error map,
// so a failed check reads `key: expected <text>, got <value>`.

/** Zod params whose error map answers every issue of that schema with `text`. */
function expecting(text: string) {
  return { errorMap: () => ({ message: text }) };
}

/** A custom issue whose message is complete (not prefixed with "expected"). */
const FULL = { full: true };

const posNumber = z.number(expecting("a positive number")).finite().positive();
const nonNegNumber = z.number(expecting("a number >= 0")).finite().nonnegative();
const posInt = z.number(expecting("a positive integer")).int().positive();
const posIntOrNull = z.number(expecting("a positive integer or null")).int().positive().nullable();
const bool = z.boolean(expecting("true or false"));
const unitBeta = z.number(expecting("a number in [0, 1)")).gte(0).lt(1);
const clipBound = z.number(expecting("a number")).finite();

const archSchema = z.string(expecting("an architecture such as 'vgg7' or '32C5-P2-100F'"))
  .superRefine((arch, ctx) => {
    try {
      parseArch(arch);
    } catch (e) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: (e as Error).message, params: FULL });
    }
  });

function noDuplicates(list: unknown[], ctx: z.RefinementCtx): void {
  const seen = new Map<string, number>();
  list.forEach((v, i) => {
    const k = JSON.stringify(v);
    const first = seen.get(k);
    if (first === undefined) seen.set(k, i);
    else {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: [i],
        message: `expected no duplicates, got ${describeValue(v)} again (first at [${first}])`,
        params: FULL,
      });
    }
  });
}

const FIELDS = {
  name: z.string(expecting("a name of letters, digits, '.', '_' and '-'"))
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/),
  description: z.string(expecting("a string")),
  dataset: z.enum(DATASETS, expecting(`one of ${DATASETS.join(", ")}`)),
  data_dir: z.string(expecting("a folder path or null")).min(1).nullable(),
  arch: archSchema,
  normalize: bool,
  t_win: posNumber,
  readout: z.enum(["potential", "spike"], expecting("'potential' or 'spike'")),
  optimizer: z.enum(["adam", "sgd"], expecting("'adam' or 'sgd'")),
  lr: posNumber,
  betas: z.tuple([unitBeta, unitBeta], expecting("a list [b1, b2] of two numbers in [0, 1)")),
  eps: posNumber,
  weight_decay: nonNegNumber,
  annealing: z.number(expecting("a number in (0, 1]")).gt(0).lte(1),
  lr_schedule: z.enum(LR_SCHEDULES, expecting(`one of ${LR_SCHEDULES.join(", ")}`)),
  warmup_epochs: nonNegNumber,
  lr_min: nonNegNumber,
  lr_milestones: z.array(posInt, expecting("a list of epochs (positive integers)"))
    .superRefine((list, ctx) => {
      list.forEach((m, i) => {
        if (i > 0 && !(m > list[i - 1])) {
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: [i],
            message: `expected epochs in increasing order, got ${m} after ${list[i - 1]}`,
            params: FULL,
          });
        }
      });
    }),
  lr_gamma: z.number(expecting("a number in (0, 1]")).gt(0).lte(1),
  grad_clip: posNumber,
  weight_clip: z.tuple(
    [clipBound, clipBound],
    expecting("null or a list [min, max] of two numbers"),
  )
    .superRefine(([lo, hi], ctx) => {
      if (!(lo < hi)) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          message: `expected [min, max] with min < max, got [${lo}, ${hi}]`,
          params: FULL,
        });
      }
    })
    .nullable(),
  fixed_signs: bool,
  batch_size: posInt,
  epochs: posInt,
  max_steps: posIntOrNull,
  early_stopping: posInt,
  validation_fraction: z.number(expecting("a number in [0, 1)")).gte(0).lt(1),
  test_each_epoch: bool,
  shuffle: z.union([z.boolean(), z.literal("once")], expecting("true, false or 'once'")),
  augment: z.array(
    z.enum(AUGMENTATIONS, expecting(`one of ${AUGMENTATIONS.join(", ")}`)),
    expecting(`a list of augmentations (${AUGMENTATIONS.join(", ")})`),
  ).superRefine(noDuplicates),
  train_subset: posIntOrNull,
  test_subset: posIntOrNull,
  seed: z.number(expecting("an integer >= 0")).int().nonnegative().safe(),
  output: z.string(expecting("a folder path")).min(1),
  init: z.string(expecting("null or a path to a .safetensors file")).regex(/\.safetensors$/i)
    .nullable(),
  precision: z.enum(["f32", "f16"], expecting("'f32' or 'f16'")),
  gpu: z.union([z.number(), z.string()], expecting("a GPU index, PCI address or vendor:device id"))
    .superRefine((v, ctx) => {
      const problem = gpuProblem(v);
      if (problem !== null) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem, params: FULL });
      }
    })
    .nullable(),
} satisfies { [K in keyof Experiment]-?: z.ZodTypeAny };

// Compile-time check that the schema and the Experiment interface agree.
type _SchemaOut = { [K in keyof typeof FIELDS]: z.output<(typeof FIELDS)[K]> };
type _Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _schemaMatchesInterface: _Same<_SchemaOut, Required<Experiment>> = true;
void _schemaMatchesInterface;

const slurmString = (what: string) => z.string(expecting(what)).min(1);
const SLURM = z.object({
  account: slurmString("an account name").optional(),
  qos: slurmString("a quality of service name").optional(),
  partition: slurmString("a partition name").optional(),
  time: slurmString('a time limit string such as "12:00:00" or "1-00:00:00" (quoted)')
    .optional(),
  gres: slurmString('a gres string such as "gpu:1"').optional(),
  cpus_per_task: posInt.optional(),
  mem: slurmString('a memory string such as "32G"').optional(),
  max_parallel: posInt.optional(),
  extra: z.array(z.string(expecting("a string")), expecting("a list of extra sbatch options"))
    .optional(),
}, expecting("a mapping of slurm options")).strict();

const GRID = z.object(
  Object.fromEntries(
    GRID_KEYS.map((k) => [
      k,
      z.array(FIELDS[k], expecting(`a non-empty list of values for ${k}`)).nonempty()
        .superRefine(noDuplicates).optional(),
    ]),
  ),
  expecting("a mapping from settings to lists of values"),
).strict();

const settingsShape = Object.fromEntries(
  Object.entries(FIELDS).map(([k, s]) => [k, s.optional()]),
) as { [K in keyof typeof FIELDS]: z.ZodOptional<(typeof FIELDS)[K]> };

const DOC = "a mapping of settings (key: value)";

/** The schema of each setting (for tools that describe the format, e.g. `json_schema.ts`). */
export const SETTING_SCHEMAS: Readonly<Record<keyof Experiment, z.ZodTypeAny>> = FIELDS;
/** The schema of the `slurm:` section. */
export const SLURM_SCHEMA: z.ZodTypeAny = SLURM;

const EXPERIMENT_FILE = z.object({
  ...settingsShape,
  kind: z.literal("experiment", expecting("'experiment' or 'run'")).optional(),
  slurm: SLURM.optional(),
  grid: GRID.optional(),
  // Checked apart (checkSearchSection), with the grid it may not overlap.
  search: z.unknown(),
}, expecting(DOC)).strict();

/** What a `search:` section may draw, for {@link checkSearchSection}. */
const SEARCH_RULES = {
  keys: GRID_KEYS as readonly string[],
  fixed: ["name", "description", "output", "gpu"],
  check: (key: string, value: unknown) => settingIssues(key as keyof Experiment, value),
};

const RUN_FILE = z.object({
  ...settingsShape,
  kind: z.literal("run"),
  slurm: SLURM.optional(),
  ...Object.fromEntries(RUN_SECTIONS.map((k) => [k, z.unknown()])),
}, expecting(DOC)).strict();

// ---------------------------------------------------------------------------

/** An experiment file, parsed and checked. */
export interface ParsedExperiment {
  /** Where it came from (as given to {@link parseExperiment}). */
  source: string;
  /** `experiment` for a normal file, `run` for a run's resolved `run.yaml`. */
  kind: "experiment" | "run";
  /**
   * The settings of the file with defaults filled in. A required setting
   * given only in the grid takes the grid's first value here.
   */
  base: Experiment;
  /** Settings to vary and their values, keys and values in file order; `{}` without grid. */
  grid: Record<string, unknown[]>;
  /** Cluster options; `{}` without a slurm section. */
  slurm: Slurm;
  /** For `kind: run`: the result sections present ({@link RUN_SECTIONS}); otherwise `{}`. */
  sections: Record<string, unknown>;
  /** The `search:` section with its defaults (see `search_spec.ts`); null without one. */
  search: SearchSpec | null;
}

/** The file's base name without extension, made into a valid name. */
function nameFromSource(source: string): string {
  const base = source.replace(/\\/g, "/").split("/").pop() ?? "";
  const stem = base.replace(/\.[^.]*$/, "") || base;
  const safe = stem.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[^A-Za-z0-9]+/, "");
  return safe === "" ? "experiment" : safe;
}

/**
 * Parses and checks the text of an experiment file (or a run's `run.yaml`).
 * `source` names the file in messages and gives the default `name`.
 * Throws one {@link ExperimentError} that lists every problem with its line,
 * column and key path, e.g. `x.yaml:7:5: lr: expected a positive number, got "0.1x"`.
 *
 * @example
 * ```ts
 * import { ExperimentError, parseExperiment } from "./config.ts";
 * try {
 *   parseExperiment("dataset: mnist\narch: vgg7\nlearning_rate: 0.1\n", "x.yaml");
 *   throw new Error("should have failed");
 * } catch (e) {
 *   if (!(e instanceof ExperimentError)) throw e;
 *   if (e.message !== "x.yaml:3:1: learning_rate: unknown key (did you mean 'lr'?)") throw e;
 * }
 * ```
 */
export function parseExperiment(text: string, source: string): ParsedExperiment {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const syntax = [...doc.errors, ...doc.warnings];
  if (syntax.length > 0) {
    throw new ExperimentError(syntax.map((err) => {
      const { line, col } = lineCounter.linePos(err.pos[0]);
      return { source, line, col, path: "", message: `YAML syntax error: ${err.message}` };
    }));
  }
  const read = yamlValue(doc);
  if ("problem" in read) {
    const pos = read.at === null ? null : lineCounter.linePos(read.at);
    throw new ExperimentError([
      { source, line: pos?.line ?? null, col: pos?.col ?? null, path: "", message: read.problem },
    ]);
  }
  const data: unknown = read.value ?? {};
  const isRun = isRecord(data) && data.kind === "run";
  const issues: ExperimentIssue[] = [];
  const add = (path: KeyPath, message: string, atKey = false, at: KeyPath = path) => {
    const { line, col } = locate(doc, lineCounter, at, atKey);
    issues.push({ source, line, col, path: pathString(path), message });
  };

  const result = (isRun ? RUN_FILE : EXPERIMENT_FILE).safeParse(data);
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === z.ZodIssueCode.unrecognized_keys) {
        for (const key of issue.keys) {
          add([...issue.path, key], unknownKeyMessage(key, issue.path, isRun), true);
        }
      } else if (issue.code === z.ZodIssueCode.custom && issue.params?.full) {
        add(issue.path, issue.message);
      } else {
        add(
          issue.path,
          `expected ${issue.message}, got ${describeValue(valueAt(data, issue.path))}`,
        );
      }
    }
  }
  let search: SearchSpec | null = null;
  if (isRecord(data) && !isRun && "search" in data) {
    const checked = checkSearchSection(
      data.search,
      SEARCH_RULES,
      isRecord(data.grid) ? data.grid : {},
    );
    if ("issues" in checked) {
      for (const issue of checked.issues) add(issue.path, issue.message, issue.atKey);
    } else search = checked.spec;
  }
  if (isRecord(data)) {
    const grid = isRecord(data.grid) ? data.grid : {};
    const drawn = isRecord(data.search) && isRecord(data.search.space) ? data.search.space : {};
    for (const key of ["dataset", "arch"] as const) {
      if (!(key in data) && !(key in grid) && !Array.isArray(valueAt(drawn, [key, "choice"]))) {
        const expected = key === "dataset" ? `one of ${DATASETS.join(", ")}` : "e.g. 'vgg7'";
        add([key], `missing required setting (expected ${expected})`, false, []);
      }
    }
  }
  if (issues.length > 0 || !result.success) throw new ExperimentError(issues);

  const file = data as Record<string, unknown>;
  const grid: Record<string, unknown[]> = {};
  for (const [k, values] of Object.entries(isRecord(file.grid) ? file.grid : {})) {
    grid[k] = structuredClone(values as unknown[]);
  }
  const base = {} as Record<string, unknown>;
  for (const key of SETTING_KEYS) {
    if (key in file) base[key] = structuredClone(file[key]);
    else if (key === "name") base.name = nameFromSource(source);
    else if (key === "dataset" || key === "arch") {
      // Only drawn by the search: its first choice stands in until a trial draws one.
      const choice = search?.space[key];
      base[key] = structuredClone(
        key in grid ? grid[key][0] : choice?.kind === "choice" ? choice.values[0] : undefined,
      );
    } else if (key !== "description") base[key] = structuredClone(DEFAULTS[key]);
  }
  const sections: Record<string, unknown> = {};
  if (isRun) {
    for (const k of RUN_SECTIONS) if (k in file) sections[k] = file[k];
  }
  return {
    source,
    kind: isRun ? "run" : "experiment",
    base: base as unknown as Experiment,
    grid,
    slurm: structuredClone((file.slurm ?? {}) as Slurm),
    sections,
    search,
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function unknownKeyMessage(key: string, parent: KeyPath, isRun: boolean): string {
  const where = parent.join(".");
  if (where === "grid" && key === "output") {
    return "cannot be varied in a grid: it places the run folders, and one experiment writes " +
      "under one output (give --output, or write one file per output)";
  }
  if (where === "grid" && (SETTING_KEYS as readonly string[]).includes(key)) {
    return "cannot be varied in a grid (expected any setting but name, description, output, gpu " +
      "and test_each_epoch)";
  }
  if (where === "" && isRun && (key === "grid" || key === "search")) {
    return `unknown key: a run file (kind: run) holds one point and has no ${key}`;
  }
  let candidates: readonly string[];
  if (where === "slurm") candidates = Object.keys(SLURM.shape);
  else if (where === "grid") candidates = GRID_KEYS;
  else {
    candidates = [
      ...SETTING_KEYS,
      "kind",
      "slurm",
      ...(isRun ? RUN_SECTIONS : ["grid", "search"]),
    ];
  }
  const hint = suggestKey(key, candidates);
  return hint === null ? "unknown key" : `unknown key (did you mean '${hint}'?)`;
}

/**
 * Reads and parses an experiment file; see {@link parseExperiment}.
 * A file that cannot be read is reported as an {@link ExperimentError} too.
 */
export async function loadExperiment(path: string): Promise<ParsedExperiment> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const missing = e instanceof Deno.errors.NotFound;
    const hint = missing ? await nearbyExperiment(path) : null;
    throw new ExperimentError([{
      source: path,
      line: null,
      col: null,
      path: "",
      message: missing
        ? `expected an experiment file, got no such file${hint ? ` (did you mean ${hint}?)` : ""}`
        : `cannot read experiment file: ${(e as Error).message}`,
    }]);
  }
  return parseExperiment(text, path);
}

/**
 * What is valid but probably not meant in resolved settings, one line each:
 * an architecture without a spiking layer (only pooling before the readout,
 * `P2-P2`) trains just the readout on the encoded input, with no spikes to
 * count; a learning-rate setting that the chosen `lr_schedule` does not read
 * (`lr_milestones` without `lr_schedule: step`, ...); a warm-up as long as
 * the run.
 *
 * @example
 * ```ts
 * import { experimentWarnings, parseExperiment } from "./config.ts";
 * const { base } = parseExperiment("dataset: fmnist\narch: P2-P2\n", "x.yaml");
 * if (experimentWarnings(base).length !== 1) throw new Error();
 * if (experimentWarnings({ ...base, arch: "P2-8C3" }).length !== 0) throw new Error();
 * const cosine = { ...base, arch: "8F", lr_schedule: "cosine" as const, lr_milestones: [10] };
 * if (!experimentWarnings(cosine)[0].startsWith("lr_milestones [10] is read only by")) {
 *   throw new Error(experimentWarnings(cosine)[0]);
 * }
 * ```
 */
export function experimentWarnings(s: Pick<Experiment, "arch"> & Partial<Experiment>): string[] {
  const out: string[] = [];
  const schedule = s.lr_schedule ?? DEFAULTS.lr_schedule;
  const unread = (key: DefaultedKey, value: unknown, reader: string) => {
    if (value !== undefined && JSON.stringify(value) !== JSON.stringify(DEFAULTS[key])) {
      out.push(
        `${key} ${JSON.stringify(value)} is read only by lr_schedule ${reader}; ` +
          `lr_schedule ${schedule} ignores it`,
      );
    }
  };
  if (schedule !== "exponential") unread("annealing", s.annealing, "exponential");
  if (schedule !== "step") {
    unread("lr_milestones", s.lr_milestones, "step");
    unread("lr_gamma", s.lr_gamma, "step");
  }
  if (schedule !== "cosine") unread("lr_min", s.lr_min, "cosine");
  if (schedule === "step" && s.lr_milestones?.length === 0) {
    out.push("lr_schedule step without lr_milestones keeps the learning rate constant");
  }
  if (schedule === "cosine" && s.lr !== undefined && s.lr_min !== undefined && s.lr_min >= s.lr) {
    out.push(`lr_min ${s.lr_min} is not below lr ${s.lr}: the cosine schedule does not fall`);
  }
  if (s.warmup_epochs !== undefined && s.epochs !== undefined && s.warmup_epochs >= s.epochs) {
    out.push(
      `warmup_epochs ${s.warmup_epochs} is not shorter than the run (epochs ${s.epochs}): ` +
        `the learning rate never reaches lr`,
    );
  }
  let layers: { kind: string }[];
  try {
    layers = parseArch(s.arch);
  } catch {
    return out; // reported as an error elsewhere
  }
  if (!layers.some((l) => l.kind === "conv" || l.kind === "linear")) {
    out.push(
      `arch '${s.arch}' has no spiking layer (no C or F token): only the readout learns, on ` +
        `the encoded input, and there are no spikes to count (spikes/sample 0)`,
    );
  }
  return out;
}

/** The shipped experiments' folder. */
const SHIPPED = fileURLToPath(new URL("../../experiments/", import.meta.url));

/**
 * A YAML file named like a missing one: in its folder (`tny.yaml` ->
 * `'tiny.yaml'`), or the shipped experiment of that name when the path
 * is relative to another folder than the checkout's.
 */
async function nearbyExperiment(path: string): Promise<string | null> {
  const dir = dirname(path);
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && /\.ya?ml$/.test(e.name)) names.push(e.name);
    }
  } catch {
    // no such folder: nothing near
  }
  const guess = suggestKey(basename(path), names);
  if (guess !== null) return `'${join(dir, guess)}'`;
  const shipped = join(SHIPPED, basename(path));
  try {
    if ((await Deno.stat(shipped)).isFile) return `'${shipped}', shipped with firstspike`;
  } catch {
    // not a shipped one either
  }
  return null;
}

/**
 * Checks resolved settings against the schema (every key present, nothing
 * unknown); throws an {@link ExperimentError} naming `source` otherwise.
 */
export function checkSettings(settings: Experiment, source = "settings"): void {
  const schema = z.object(FIELDS).partial({ description: true }).strict();
  const result = schema.safeParse(settings);
  if (result.success) return;
  const issues: ExperimentIssue[] = [];
  for (const issue of result.error.issues) {
    const path = pathString(issue.path);
    const push = (p: string, message: string) =>
      issues.push({ source, line: null, col: null, path: p, message });
    if (issue.code === z.ZodIssueCode.unrecognized_keys) {
      for (const k of issue.keys) push(pathString([...issue.path, k]), "unknown key");
    } else if (issue.code === z.ZodIssueCode.custom && issue.params?.full) {
      push(path, issue.message);
    } else {
      push(path, `expected ${issue.message}, got ${describeValue(valueAt(settings, issue.path))}`);
    }
  }
  throw new ExperimentError(issues);
}

/**
 * What a setting accepts, as its errors say it (`a positive number`,
 * `one of exponential, cosine, step`).
 *
 * @example
 * ```ts
 * import { settingExpects } from "./config.ts";
 * if (settingExpects("lr") !== "a positive number") throw new Error(settingExpects("lr"));
 * ```
 */
export function settingExpects(key: keyof Experiment): string {
  const result = FIELDS[key].safeParse(undefined);
  return result.success ? "anything" : result.error.issues[0].message;
}

/** What a key of the `slurm:` section accepts, as its errors say it. */
export function slurmExpects(key: keyof Slurm): string {
  const field = SLURM.shape[key] as z.ZodOptional<z.ZodTypeAny>;
  const result = field.unwrap().safeParse(undefined);
  return result.success ? "anything" : result.error.issues[0].message;
}

/**
 * The problems of one setting's value, worded as in an experiment file:
 * `[]` when it is valid, else per problem the key path (`lr`, `betas[1]`)
 * and `expected ..., got ...`.
 *
 * @example
 * ```ts
 * import { settingIssues } from "./config.ts";
 * const [issue] = settingIssues("lr", "abc");
 * if (issue.path !== "lr" || issue.message !== 'expected a positive number, got "abc"') {
 *   throw new Error(JSON.stringify(issue));
 * }
 * if (settingIssues("betas", [0.9, 0.99]).length !== 0) throw new Error();
 * ```
 */
export function settingIssues(
  key: keyof Experiment,
  value: unknown,
): { path: string; message: string }[] {
  const result = FIELDS[key].safeParse(value);
  if (result.success) return [];
  return result.error.issues.map((issue) => ({
    path: pathString([key, ...issue.path]),
    message: issue.code === z.ZodIssueCode.custom && issue.params?.full
      ? issue.message
      : `expected ${issue.message}, got ${describeValue(valueAt(value, issue.path))}`,
  }));
}
