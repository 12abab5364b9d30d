/**
 * The generated parts of the user documentation: in `docs/experiments.md`
 * the tables of every experiment key (`src/experiment/keys_doc.ts`), in
 * `docs/command-line.md` every task's usage, arguments, options, examples
 * and notes, from the same command specs that parse the arguments and
 * print `--help`. `deno task schema` writes them between each page's
 * markers; `tests/docs_test.ts` fails when a page is out of date.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { CONFIG_PATH } from "./_launch.ts";
import { denoExecutable } from "../src/util/deno_executable.ts";
import type { CommandSpec, OptionSpec } from "./_args.ts";
import { experimentKeysMarkdown } from "../src/experiment/keys_doc.ts";
import { EXP } from "./exp.ts";
import { EVAL } from "./eval.ts";
import { REPORT } from "./report.ts";
import { BOARD } from "./board.ts";
import { DEMO } from "./demo.ts";
import { BENCH } from "./bench.ts";

/** The command line of `deno task schema` (here: it writes what this module generates). */
export const SCHEMA: CommandSpec = {
  name: "schema",
  summary: "Write what is generated from the code: experiments/schema.json (the JSON Schema of " +
    "experiment files), the key tables of docs/experiments.md and the task reference of " +
    "docs/command-line.md.",
  usage: "[--check]",
  options: [
    { name: "check", type: "boolean", help: "write nothing; exit 1 if a file is out of date" },
  ],
  examples: ["deno task schema", "deno task schema --check"],
};

/** Every task's command line, in the order the page lists them. */
export function commands(): CommandSpec[] {
  return [EXP, EVAL, REPORT, BOARD, DEMO, BENCH, SCHEMA];
}

function cell(text: string): string {
  return text.replaceAll("|", "\\|");
}

/**
 * Markdown of every task of `specs`: a section each with its summary,
 * usage, arguments, options (`--help` is every task's), examples and notes.
 *
 * @example
 * ```ts
 * import { commandLineMarkdown } from "./_docs.ts";
 * const md = commandLineMarkdown([{
 *   name: "x", summary: "Does x.", usage: "[options]",
 *   options: [{ name: "n", type: "string", value: "N", help: "how many" }], examples: ["deno task x"],
 * }]);
 * if (!md.includes("| `--n N` | how many |")) throw new Error(md);
 * ```
 */
export function commandLineMarkdown(specs: readonly CommandSpec[] = commands()): string {
  const out: string[] = [];
  for (const spec of specs) {
    out.push(`### deno task ${spec.name}`, "", spec.summary, "", "```");
    out.push(`deno task ${spec.name} ${spec.usage}`, "```", "");
    if (spec.positionals?.length) {
      out.push("| argument | meaning |", "| --- | --- |");
      for (const p of spec.positionals) out.push(`| \`${cell(p.name)}\` | ${cell(p.help)} |`);
      out.push("");
    }
    out.push("| option | meaning |", "| --- | --- |");
    const help: OptionSpec = { name: "help", type: "boolean", short: "h", help: "print the help" };
    const options = spec.options.some((o) => o.name === "help")
      ? spec.options
      : [...spec.options, help];
    for (const o of options) {
      const names = `${o.short ? `-${o.short}, ` : ""}--${o.name}${
        o.type === "string" ? ` ${o.value ?? "VALUE"}` : ""
      }`;
      out.push(
        `| \`${cell(names)}\` | ${cell(o.help)}${o.multiple ? " (may be repeated)" : ""} |`,
      );
    }
    out.push("", spec.examples.length > 1 ? "Examples:" : "Example:", "", "```");
    out.push(...spec.examples, "```", "");
    for (const n of spec.notes ?? []) out.push(n, "");
  }
  return out.join("\n");
}

/**
 * `text` as `deno fmt` formats Markdown with this repository's settings
 * (the generated tables aligned, paragraphs wrapped), so a written page is
 * what `deno fmt --check` expects.
 */
export async function formatMarkdown(text: string): Promise<string> {
  // The running Deno, not another one first on PATH (see `denoExecutable`).
  const child = new Deno.Command(denoExecutable(), {
    args: ["fmt", "--config", CONFIG_PATH, "--ext", "md", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  if (code !== 0) {
    throw new Error(
      `Cannot format Markdown: 'deno fmt' exited ${code}: ${new TextDecoder().decode(stderr)}`,
    );
  }
  return new TextDecoder().decode(stdout);
}

/** The pages with a generated part, and what goes there. */
export function generatedPages(): { path: string; generated: string }[] {
  const at = (name: string) => fileURLToPath(new URL(`../docs/${name}`, import.meta.url));
  return [
    { path: at("experiments.md"), generated: experimentKeysMarkdown() },
    { path: at("command-line.md"), generated: commandLineMarkdown() },
  ];
}
