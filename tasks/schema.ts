/**
 * `deno task schema [--check]`: writes what is generated from the code:
 * `experiments/schema.json`, the JSON Schema of experiment files generated
 * from the zod schema (editors that read
 * `# yaml-language-server: $schema=./schema.json` complete and check keys
 * with it), the key tables of `docs/experiments.md` and the task reference
 * of `docs/command-line.md` (`_docs.ts`); `--check` only says whether they
 * are up to date.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { type ParsedArgs, runTask, UsageError } from "./_args.ts";
import { experimentJsonSchemaText } from "../src/experiment/json_schema.ts";
import { writeFileAtomic } from "../src/util/fs.ts";
import { withGenerated } from "../src/experiment/keys_doc.ts";
import { formatMarkdown, generatedPages, SCHEMA } from "./_docs.ts";

/** Where the schema lives. */
export const SCHEMA_PATH: string = fileURLToPath(
  new URL("../experiments/schema.json", import.meta.url),
);

export { SCHEMA };

async function main(args: ParsedArgs): Promise<number> {
  if (args.positionals.length) {
    throw new UsageError(
      `expected no arguments, got ${args.positionals.map((p) => `'${p}'`).join(", ")}`,
    );
  }
  const files: { path: string; text: string }[] = [
    { path: SCHEMA_PATH, text: experimentJsonSchemaText() },
  ];
  for (const page of generatedPages()) {
    const now = await Deno.readTextFile(page.path);
    files.push({
      path: page.path,
      text: await formatMarkdown(withGenerated(now, page.generated, page.path)),
    });
  }
  let stale = 0;
  for (const f of files) {
    const now = await Deno.readTextFile(f.path).catch(() => null);
    if (now === f.text) console.log(`${f.path} is up to date`);
    else if (args.flag("check")) {
      console.error(`${f.path} is out of date: run 'deno task schema'`);
      stale++;
    } else {
      await writeFileAtomic(f.path, f.text);
      console.log(`wrote ${f.path}`);
    }
  }
  return stale ? 1 : 0;
}

if (import.meta.main) await runTask(SCHEMA, main);
