// The generated parts of docs/experiments.md (every experiment key: default, what it accepts,
// what it means) and docs/command-line.md (every task and option) are current: what
// `deno task schema` would write, formatted as deno fmt formats them. A key, default,
// description or option added without running it fails here.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  DEFAULTS,
  GRID_KEYS,
  SETTING_KEYS,
  settingExpects,
  SLURM_SCHEMA,
} from "../src/experiment/config.ts";
import {
  experimentKeysMarkdown,
  GENERATED_BEGIN,
  GENERATED_END,
  withGenerated,
} from "../src/experiment/keys_doc.ts";
import { SETTING_DESCRIPTIONS } from "../src/experiment/json_schema.ts";
import { commandLineMarkdown, commands, formatMarkdown, generatedPages } from "../tasks/_docs.ts";
import { ROOT, runTask } from "./_task.ts";

Deno.test("docs/experiments.md and docs/command-line.md hold their generated parts (run 'deno task schema')", async () => {
  const pages = generatedPages();
  assert.deepEqual(pages.map((p) => p.path), [
    join(ROOT, "docs", "experiments.md"),
    join(ROOT, "docs", "command-line.md"),
  ]);
  for (const page of pages) {
    const now = await Deno.readTextFile(page.path);
    const want = await formatMarkdown(withGenerated(now, page.generated, page.path));
    assert.equal(now, want, `${page.path} is out of date: run 'deno task schema'`);
  }
});

Deno.test("the keys table: every setting with its default, what it accepts and means; every slurm key", () => {
  const md = experimentKeysMarkdown();
  const rows = new Map(
    md.split("\n").filter((l) => l.startsWith("| `")).map((l) => {
      const cells = l.slice(2, -2).split(" | ");
      return [cells[0].replaceAll("`", ""), cells.slice(1)] as const;
    }),
  );
  for (const k of SETTING_KEYS) {
    const row = rows.get(k);
    assert.ok(row, `a row for ${k}`);
    assert.equal(row[1], settingExpects(k).replaceAll("|", "\\|"), k);
    assert.ok(row[2].startsWith(SETTING_DESCRIPTIONS[k].replaceAll("|", "\\|")), k);
    assert.equal(row[2].endsWith("Not in a grid."), !GRID_KEYS.includes(k), k);
  }
  assert.equal(rows.get("lr")![0], "`1e-4`");
  assert.equal(rows.get("lr_schedule")![0], "`exponential`");
  assert.equal(rows.get("betas")![0], "`[0.9, 0.999]`");
  assert.equal(rows.get("arch")![0], "required");
  assert.equal(
    Object.keys(DEFAULTS).filter((k) => rows.get(k)?.[0].startsWith("`")).length,
    Object.keys(DEFAULTS).length,
    "every default shown",
  );
  for (const k of Object.keys((SLURM_SCHEMA as any).shape)) {
    assert.ok(rows.get(k)?.[1], `the slurm key ${k} is described`);
  }
});

Deno.test("the task reference: every task, argument and option of the command specs", () => {
  const md = commandLineMarkdown();
  for (const spec of commands()) {
    assert.ok(md.includes(`### deno task ${spec.name}\n\n${spec.summary}\n`), spec.name);
    assert.ok(md.includes(`deno task ${spec.name} ${spec.usage}\n`), spec.name);
    for (const o of spec.options) {
      assert.match(md, new RegExp(`\\| \`(-\\w, )?--${o.name}[ \`]`), `${spec.name} --${o.name}`);
    }
    for (const e of spec.examples) assert.ok(md.includes(`${e}\n`), e);
  }
  assert.deepEqual(commands().map((c) => c.name), [
    "exp",
    "eval",
    "report",
    "board",
    "demo",
    "bench",
    "schema",
  ]);
});

Deno.test("withGenerated needs both markers and keeps what is around them", () => {
  const page = `# A\n\nintro\n\n${GENERATED_BEGIN}\nold\n${GENERATED_END}\n\nafter\n`;
  assert.equal(
    withGenerated(page, "new\n", "p.md"),
    `# A\n\nintro\n\n${GENERATED_BEGIN}\nnew\n${GENERATED_END}\n\nafter\n`,
  );
  assert.throws(() => withGenerated("# A\n", "x", "p.md"), /p\.md: expected the lines .* no begin/);
  assert.throws(
    () => withGenerated(`${GENERATED_BEGIN}\n`, "x", "p.md"),
    /no end marker after it/,
  );
});

Deno.test("deno task schema --check: the generated files are current, through deno task", async () => {
  const r = await runTask("schema", ["--check"], { inside: true });
  assert.equal(r.code, 0, r.stderr);
  for (const f of ["experiments/schema.json", "docs/experiments.md", "docs/command-line.md"]) {
    assert.ok(r.stdout.includes(`${join(ROOT, f)} is up to date`), r.stdout);
  }
});
