/**
 * The command line of every task: one option table gives the parser
 * (`node:util` parseArgs), the `--help` text, "did you mean" for an unknown
 * flag and the exit status: 0 done, 1 failed, 2 usage error (a bad flag or
 * argument, a bad experiment file, a missing permission).
 *
 * @example
 * ```ts
 * import { type CommandSpec, helpText, parseCommand, UsageError } from "./_args.ts";
 * const spec: CommandSpec = {
 *   name: "demo",
 *   summary: "An example.",
 *   usage: "[options]",
 *   options: [{ name: "max-epochs", type: "string", value: "N", help: "cap the epochs" }],
 *   examples: ["deno task demo --max-epochs 2"],
 * };
 * if (parseCommand(spec, ["--max-epochs", "2"]).positiveInt("max-epochs") !== 2) throw new Error();
 * try {
 *   parseCommand(spec, ["--max-epoch", "1"]);
 *   throw new Error("accepted");
 * } catch (e) {
 *   if (!(e instanceof UsageError)) throw e;
 *   if (e.message !== "unknown option --max-epoch (did you mean --max-epochs?)") throw e;
 * }
 * if (!helpText(spec).includes("--max-epochs N")) throw new Error();
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ExperimentError } from "../src/experiment/config.ts";
import { suggestKey } from "../src/experiment/_yaml_errors.ts";
import { envGet } from "../src/util/env.ts";

/** One option of a task. */
export interface OptionSpec {
  /** Long name without the dashes (`max-epochs`). */
  name: string;
  /** A flag (`boolean`, no value) or an option with one value (`string`). */
  type: "boolean" | "string";
  /** One-letter alias (`h` for `-h`). */
  short?: string;
  /** May be given several times (values collected in order). */
  multiple?: boolean;
  /** Placeholder of the value in the help text (`N`, `DIR`); default `VALUE`. */
  value?: string;
  /** One line saying what it does. */
  help: string;
}

/** A task's command line: what `--help` prints and what the parser accepts. */
export interface CommandSpec {
  /** Task name: `deno task <name>`. */
  name: string;
  /** One line saying what the task does. */
  summary: string;
  /** What follows the task name, e.g. `FILE.yaml [key=value ...] [options]`. */
  usage: string;
  /** The positional arguments, one line each. */
  positionals?: { name: string; help: string }[];
  /** The options (`--help` is added). */
  options: OptionSpec[];
  /** At least one example command line. */
  examples: string[];
  /** Paragraphs printed after the options (e.g. what the exit status means). */
  notes?: string[];
  /**
   * Extra advice for an unknown option, e.g. that a setting is given as
   * `key=value`; null when there is none.
   */
  unknownHint?: (name: string) => string | null;
}

/** A bad command line (exit status 2). The message says what was expected and what came. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Exit status of a usage error. */
export const USAGE_EXIT = 2;

const HELP: OptionSpec = { name: "help", type: "boolean", short: "h", help: "print this help" };

/** The parsed command line, with typed getters whose errors name the option. */
export class ParsedArgs {
  /** Arguments that are not options, in order (everything after `--` included). */
  readonly positionals: string[];
  /** Whether `--help` or `-h` was given. */
  readonly help: boolean;
  readonly #values: Map<string, string | boolean | string[]>;

  constructor(positionals: string[], values: Map<string, string | boolean | string[]>) {
    this.positionals = positionals;
    this.#values = values;
    this.help = values.get("help") === true;
  }

  /** Whether the option was given. */
  has(name: string): boolean {
    return this.#values.has(name);
  }

  /** A flag: true when given. */
  flag(name: string): boolean {
    return this.#values.get(name) === true;
  }

  /** An option's value (the last one given), or undefined. */
  string(name: string): string | undefined {
    const v = this.#values.get(name);
    if (Array.isArray(v)) return v[v.length - 1];
    return typeof v === "string" ? v : undefined;
  }

  /** Every value of a `multiple` option, each split at commas and trimmed; [] when absent. */
  list(name: string): string[] {
    const v = this.#values.get(name);
    const all = Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
    return all.flatMap((s) => s.split(",")).map((s) => s.trim()).filter((s) => s !== "");
  }

  /** An option's value as a positive integer, or undefined when absent. */
  positiveInt(name: string): number | undefined {
    return positiveInt(name, this.string(name));
  }

  /** An option's value, which must be one of `choices`; `fallback` when absent. */
  choice<T extends string>(name: string, choices: readonly T[], fallback: T): T {
    const v = this.string(name);
    if (v === undefined) return fallback;
    if (!(choices as readonly string[]).includes(v)) {
      throw new UsageError(
        `--${name}: expected one of ${choices.join(", ")}, got '${v}'`,
      );
    }
    return v as T;
  }
}

/** Parses `--name`'s value as a positive integer (undefined when absent); errors name the option. */
export function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isInteger(n) || n < 1) {
    throw new UsageError(`--${name}: expected a positive integer, got '${v}'`);
  }
  return n;
}

function allOptions(spec: CommandSpec): OptionSpec[] {
  return spec.options.some((o) => o.name === "help") ? spec.options : [...spec.options, HELP];
}

/** The `node:util` parseArgs options of a spec (with `--help`). */
export function parseArgsOptions(
  spec: CommandSpec,
): Record<string, { type: "boolean" | "string"; short?: string; multiple?: boolean }> {
  return Object.fromEntries(
    allOptions(spec).map((o) => [o.name, {
      type: o.type,
      ...(o.short ? { short: o.short } : {}),
      ...(o.multiple ? { multiple: true } : {}),
    }]),
  );
}

function unknownOption(spec: CommandSpec, raw: string, name: string): UsageError {
  const options = allOptions(spec);
  const hint = spec.unknownHint?.(name) ?? null;
  if (hint !== null) return new UsageError(`unknown option ${raw} (${hint})`);
  const long = options.map((o) => o.name);
  const guess = raw.startsWith("--")
    ? suggestKey(name.replaceAll("-", "_"), long.map((n) => n.replaceAll("-", "_")))
    : null;
  return new UsageError(
    guess === null
      ? `unknown option ${raw}`
      : `unknown option ${raw} (did you mean --${guess.replaceAll("_", "-")}?)`,
  );
}

/**
 * Parses a task's arguments against its spec. Throws {@link UsageError} for
 * an unknown option (with "did you mean"), a flag given a value, an option
 * without its value, or an option given twice that may be given once.
 * Positionals are returned as they are: the task checks their number.
 */
export function parseCommand(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const byName = new Map(allOptions(spec).map((o) => [o.name, o]));
  const { tokens } = parseArgs({
    args: [...argv],
    options: parseArgsOptions(spec),
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const values = new Map<string, string | boolean | string[]>();
  const positionals: string[] = [];
  for (const t of tokens ?? []) {
    if (t.kind === "positional") {
      positionals.push(t.value);
      continue;
    }
    if (t.kind !== "option") continue;
    const o = byName.get(t.name);
    if (!o) throw unknownOption(spec, t.rawName, t.name);
    const shown = o.short && t.rawName === `-${o.short}` ? `-${o.short}` : `--${o.name}`;
    if (o.type === "boolean") {
      if (t.value !== undefined) {
        throw new UsageError(`${shown} takes no value, got '${t.value}'`);
      }
      values.set(o.name, true);
      continue;
    }
    const placeholder = o.value ?? "VALUE";
    if (t.value === undefined) {
      throw new UsageError(`${shown} expects a value (${shown} ${placeholder}), got none`);
    }
    if (!t.inlineValue && /^-[-A-Za-z]/.test(t.value)) {
      throw new UsageError(
        `${shown} expects a value (${shown} ${placeholder}), got the option '${t.value}' ` +
          `(write ${shown}=${t.value} for a value that starts with '-')`,
      );
    }
    if (o.multiple) {
      const prev = values.get(o.name);
      values.set(o.name, [...(Array.isArray(prev) ? prev : []), t.value]);
    } else {
      if (values.has(o.name)) {
        throw new UsageError(
          `${shown} given twice ('${values.get(o.name)}' and '${t.value}'): expected it once`,
        );
      }
      values.set(o.name, t.value);
    }
  }
  return new ParsedArgs(positionals, values);
}

/** Wraps a paragraph at `width` columns (words longer than a line stay whole). */
export function wrap(text: string, width = 100): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") out.push(line);
  return out;
}

/** The `--help` text: usage, summary, arguments, one line per option, examples, notes. */
export function helpText(spec: CommandSpec): string {
  const lines = [`Usage: deno task ${spec.name} ${spec.usage}`, "", ...wrap(spec.summary)];
  const rows = (items: [string, string][]) => {
    const w = Math.max(...items.map(([l]) => l.length));
    return items.map(([l, r]) => `  ${l.padEnd(w)}  ${r}`);
  };
  if (spec.positionals?.length) {
    lines.push("", "Arguments:", ...rows(spec.positionals.map((p) => [p.name, p.help])));
  }
  lines.push(
    "",
    "Options:",
    ...rows(
      allOptions(spec).map((o) => {
        const names = `${o.short ? `-${o.short}, ` : ""}--${o.name}`;
        const value = o.type === "string" ? ` ${o.value ?? "VALUE"}` : "";
        return [`${names}${value}`, `${o.help}${o.multiple ? " (may be repeated)" : ""}`];
      }),
    ),
  );
  lines.push("", spec.examples.length > 1 ? "Examples:" : "Example:");
  for (const e of spec.examples) lines.push(`  ${e}`);
  for (const n of spec.notes ?? []) lines.push("", ...wrap(n));
  lines.push(
    "",
    ...wrap(
      "Exit status: 0 success, 1 failure, 2 usage error (bad option or argument, bad input file, " +
        "missing permission).",
    ),
  );
  return lines.join("\n");
}

/** A permission the task needs and the process lacks (exit status 2, checked before work starts). */
export class MissingPermission extends UsageError {
  constructor(message: string) {
    super(message);
    this.name = "MissingPermission";
  }
}

/** Whether an error is a missing Deno permission. */
export function isPermissionError(e: unknown): boolean {
  if (e instanceof MissingPermission) return true;
  const errors = Deno.errors as unknown as Record<string, (new () => Error) | undefined>;
  return ["NotCapable", "PermissionDenied"].some((n) => {
    const cls = errors[n];
    return cls !== undefined && e instanceof cls;
  });
}

function grantAdvice(task: string, flag: string): string {
  return `'deno task ${task}' has the permissions listed in deno.json; add ${flag} to its ` +
    `"${task}" task there, or run 'deno run -A tasks/${task}.ts ...'`;
}

/**
 * Checks that the process may do what a task needs before it starts, so a
 * missing permission stops the task with a clear message (exit status 2)
 * instead of failing halfway. Each entry is a Deno permission descriptor.
 */
export function requirePermissions(task: string, needed: Deno.PermissionDescriptor[]): void {
  for (const d of needed) {
    if (Deno.permissions.querySync(d).state === "granted") continue;
    const detail = "path" in d && d.path !== undefined
      ? String(d.path)
      : "command" in d && d.command !== undefined
      ? String(d.command)
      : "variable" in d && d.variable !== undefined
      ? d.variable
      : "kind" in d && d.kind !== undefined
      ? d.kind
      : undefined;
    const what = detail === undefined ? `${d.name} access` : `${d.name} access to '${detail}'`;
    const flag = `--allow-${d.name}${detail === undefined ? "" : `=${detail}`}`;
    throw new MissingPermission(`missing permission: ${what} (${grantAdvice(task, flag)})`);
  }
}

/** Prints what went wrong and returns the exit status (see {@link runTask}). */
export function reportError(task: string, e: unknown): number {
  const msg = e instanceof Error ? e.message : String(e);
  if (e instanceof MissingPermission || e instanceof ExperimentError) {
    console.error(`deno task ${task}: ${msg}`);
    return USAGE_EXIT;
  }
  if (isPermissionError(e)) {
    console.error(
      `deno task ${task}: missing permission: ${msg.replace(/\.$/, "")} ` +
        `(${grantAdvice(task, "the --allow-* flag it names")})`,
    );
    return USAGE_EXIT;
  }
  if (e instanceof UsageError) {
    console.error(`deno task ${task}: ${msg}\nRun 'deno task ${task} --help' for usage.`);
    return USAGE_EXIT;
  }
  console.error(`deno task ${task}: error: ${msg}`);
  return 1;
}

/**
 * The folder a `deno task` was started from. `deno task` runs its commands in
 * the folder of deno.json and says where the user was in `INIT_CWD`; tasks
 * work there, so `deno task --config ~/firstspike/deno.json exp my.yaml` reads
 * `my.yaml` and writes `runs/` in the user's folder, as `deno run` would.
 */
export function userFolder(): string {
  const init = envGet("INIT_CWD");
  if (init) {
    try {
      if (Deno.statSync(init).isDirectory) return init;
    } catch {
      // gone or unreadable: stay
    }
  }
  return Deno.cwd();
}

/**
 * Runs a task's `main` with its parsed arguments and exits (in the folder the
 * user started it from, {@link userFolder}): `--help` prints
 * the help (status 0); a {@link UsageError}, an `ExperimentError` (a bad
 * experiment file or override) or a missing permission prints the message
 * with a pointer to `--help` (status 2); any other error prints
 * `error: message` (status 1). Otherwise the status is what `main` returns.
 */
export async function runTask(
  spec: CommandSpec,
  main: (args: ParsedArgs) => Promise<number>,
  argv: readonly string[] = Deno.args,
): Promise<never> {
  let status: number;
  try {
    const here = userFolder();
    if (here !== Deno.cwd()) Deno.chdir(here);
    const args = parseCommand(spec, argv);
    if (args.help) {
      console.log(helpText(spec));
      Deno.exit(0);
    }
    status = await main(args);
  } catch (e) {
    status = reportError(spec.name, e);
  }
  Deno.exit(status);
}
