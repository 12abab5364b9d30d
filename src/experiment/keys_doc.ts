/**
 * The tables of every experiment key for `docs/experiments.md`, generated
 * from the schema (what each key accepts, as its errors say it), its
 * defaults ({@link DEFAULTS}) and its descriptions (`json_schema.ts`):
 * `deno task schema` writes them between the page's markers, and a test
 * fails when the page is out of date.
 *
 * @example
 * ```ts
 * import { experimentKeysMarkdown } from "./keys_doc.ts";
 * const md = experimentKeysMarkdown();
 * if (!md.includes("| `lr` | `1e-4` | a positive number | Learning rate. |")) throw new Error(md);
 * ```
 *
 * @module
 */

import {
  DEFAULTS,
  type Experiment,
  GRID_KEYS,
  SETTING_KEYS,
  settingExpects,
  type Slurm,
  SLURM_SCHEMA,
  slurmExpects,
} from "./config.ts";
import { numberText } from "./grid.ts";
import { SETTING_DESCRIPTIONS, SLURM_DESCRIPTIONS } from "./json_schema.ts";

/** The first and last lines of the generated part of a page. */
export const GENERATED_BEGIN = "<!-- generated: begin (deno task schema writes this part) -->";
/** See {@link GENERATED_BEGIN}. */
export const GENERATED_END = "<!-- generated: end -->";

/** A value as an experiment file writes it: `1e-4`, `[0.9, 0.999]`, `null`, `exponential`. */
function yamlText(v: unknown): string {
  if (typeof v === "number") return numberText(v);
  if (Array.isArray(v)) return `[${v.map(yamlText).join(", ")}]`;
  if (v === null) return "null";
  return String(v);
}

/** Escapes a table cell's text. */
function cell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

/**
 * Markdown: the table of the settings (key, default, what it accepts, what
 * it means; keys a grid may not vary are marked), then the `slurm:`
 * section's keys.
 */
export function experimentKeysMarkdown(): string {
  const lines = [
    "| key | default | accepts | meaning |",
    "| --- | --- | --- | --- |",
  ];
  for (const k of SETTING_KEYS) {
    const d = k in DEFAULTS
      ? "`" + yamlText((DEFAULTS as Record<string, unknown>)[k]) + "`"
      : k === "name"
      ? "the file's name"
      : k === "description"
      ? "none"
      : "required";
    const grid = GRID_KEYS.includes(k) ? "" : " Not in a grid.";
    lines.push(
      `| \`${k}\` | ${cell(d)} | ${cell(settingExpects(k as keyof Experiment))} | ${
        cell(SETTING_DESCRIPTIONS[k] + grid)
      } |`,
    );
  }
  lines.push(
    "",
    "The `slurm:` section (all optional; `deno task exp --slurm` and `--slurm-print`, whose " +
      "options of the same names override them):",
    "",
    "| key | accepts | meaning |",
    "| --- | --- | --- |",
  );
  const shape = (SLURM_SCHEMA as unknown as { shape: Record<string, unknown> }).shape;
  for (const k of Object.keys(shape)) {
    lines.push(
      `| \`${k}\` | ${cell(slurmExpects(k as keyof Slurm))} | ${cell(SLURM_DESCRIPTIONS[k])} |`,
    );
  }
  return lines.join("\n") + "\n";
}

/**
 * `page` with the text between its generated markers replaced by
 * `generated`; throws when the page lacks the markers.
 *
 * @example
 * ```ts
 * import { GENERATED_BEGIN, GENERATED_END, withGenerated } from "./keys_doc.ts";
 * const page = `# T\n${GENERATED_BEGIN}\nold\n${GENERATED_END}\nafter\n`;
 * if (withGenerated(page, "new\n", "x.md") !== `# T\n${GENERATED_BEGIN}\nnew\n${GENERATED_END}\nafter\n`) {
 *   throw new Error();
 * }
 * ```
 */
export function withGenerated(page: string, generated: string, source: string): string {
  const a = page.indexOf(GENERATED_BEGIN);
  const b = page.indexOf(GENERATED_END);
  if (a < 0 || b < a) {
    throw new Error(
      `Cannot update ${source}: expected the lines '${GENERATED_BEGIN}' and '${GENERATED_END}' ` +
        `around its generated part, got ${a < 0 ? "no begin marker" : "no end marker after it"}`,
    );
  }
  return page.slice(0, a + GENERATED_BEGIN.length) + "\n" + generated + page.slice(b);
}
