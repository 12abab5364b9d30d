/**
 * `deno task schema [--check]`: writes `experiments/schema.json`, the JSON
 * Schema of experiment files generated from the zod schema (editors that
 * read `# yaml-language-server: $schema=./schema.json` complete and check
 * keys with it); `--check` only says whether the file is up to date.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { type CommandSpec, type ParsedArgs, runTask, UsageError } from "./_args.ts";
import { experimentJsonSchemaText } from "../src/experiment/json_schema.ts";
import { writeFileAtomic } from "../src/util/fs.ts";

/** Where the schema lives. */
export const SCHEMA_PATH: string = fileURLToPath(
  new URL("../experiments/schema.json", import.meta.url),
);

/** The command line of `deno task schema`. */
export const SCHEMA: CommandSpec = {
  name: "schema",
  summary: "Write experiments/schema.json, the JSON Schema of experiment files, generated from " +
    "the experiment schema.",
  usage: "[--check]",
  options: [
    { name: "check", type: "boolean", help: "write nothing; exit 1 if the file is out of date" },
  ],
  examples: ["deno task schema", "deno task schema --check"],
};

async function main(args: ParsedArgs): Promise<number> {
  if (args.positionals.length) {
    throw new UsageError(
      `expected no arguments, got ${args.positionals.map((p) => `'${p}'`).join(", ")}`,
    );
  }
  const text = experimentJsonSchemaText();
  const now = await Deno.readTextFile(SCHEMA_PATH).catch(() => null);
  if (args.flag("check")) {
    if (now === text) {
      console.log(`${SCHEMA_PATH} is up to date`);
      return 0;
    }
    console.error(`${SCHEMA_PATH} is out of date: run 'deno task schema'`);
    return 1;
  }
  if (now === text) console.log(`${SCHEMA_PATH} is up to date`);
  else {
    await writeFileAtomic(SCHEMA_PATH, text);
    console.log(`wrote ${SCHEMA_PATH}`);
  }
  return 0;
}

if (import.meta.main) await runTask(SCHEMA, main);
