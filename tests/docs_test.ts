// The README and docs/ as a reader uses them: every relative link leads to a file of the
// repository (a clone has no ../shared), the library examples run from a folder outside the
// checkout with the permissions they name, and the commands that can run here without training
// (--help, --dry-run, --slurm-print, schema --check) run through deno task and succeed.
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { ROOT, runTask } from "./_task.ts";

/** README.md and every Markdown file of docs/. */
async function docs(): Promise<string[]> {
  const out = [join(ROOT, "README.md")];
  for await (const e of Deno.readDir(join(ROOT, "docs"))) {
    if (e.isFile && e.name.endsWith(".md")) out.push(join(ROOT, "docs", e.name));
  }
  return out.sort();
}

/** The code of fenced blocks (```) and of indented blocks (four spaces after a blank line). */
function codeLines(md: string): string[] {
  const lines = md.split("\n");
  const out: string[] = [];
  let fenced = false;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (/^```/.test(l)) {
      fenced = !fenced;
      continue;
    }
    if (fenced) out.push(l);
    else if (/^ {4}\S/.test(l)) out.push(l.slice(4));
  }
  return out;
}

Deno.test("docs: every relative link in README.md and docs/ leads to a file of the repository", async () => {
  const broken: string[] = [];
  for (const file of await docs()) {
    const text = await Deno.readTextFile(file);
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1].split("#")[0];
      if (target === "" || /^[a-z]+:/.test(target)) continue;
      const path = join(dirname(file), target);
      const inside = !relative(ROOT, path).startsWith("..");
      const exists = await Deno.stat(path).then(() => true, () => false);
      if (!inside || !exists) broken.push(`${relative(ROOT, file)}: ${m[1]}`);
    }
  }
  assert.deepEqual(broken, []);
});

Deno.test("docs: the library examples run from a folder outside the checkout with the permissions they name", async () => {
  const mod = new URL("../mod.ts", import.meta.url).href;
  let ran = 0;
  for (const file of await docs()) {
    const text = await Deno.readTextFile(file);
    for (const m of text.matchAll(/```ts\n([^]*?)```/g)) {
      const code = m[1];
      const imp = /from "((?:\.\.?\/)+mod\.ts)"/.exec(code);
      if (!imp) continue;
      const dir = await Deno.makeTempDir({ prefix: "firstspike_doc_" });
      try {
        await Deno.writeTextFile(join(dir, "example.ts"), code.replace(imp[1], mod));
        const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
        const r = await new Deno.Command(Deno.execPath(), {
          args: ["run", "--no-prompt", `--allow-read=${tmp}`, `--allow-write=${tmp}`, "example.ts"],
          cwd: dir,
          clearEnv: true,
          env: { PATH: Deno.env.get("PATH")!, HOME: Deno.env.get("HOME")!, NO_COLOR: "1" },
        }).output();
        assert.equal(r.code, 0, `${relative(ROOT, file)}: ${new TextDecoder().decode(r.stderr)}`);
        ran++;
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }
  }
  assert.ok(ran >= 2, `expected the README's and docs/library.md's examples, ran ${ran}`);
});

Deno.test("docs: commands that need no training run through deno task and succeed", async () => {
  const cheap = /(--help|--dry-run|--slurm-print|schema --check)/;
  const seen = new Set<string>();
  for (const file of await docs()) {
    for (const line of codeLines(await Deno.readTextFile(file))) {
      const cmd = line.replace(/\s+#.*$/, "").trim();
      if (!cmd.startsWith("deno task ") || !cheap.test(cmd) || seen.has(cmd)) continue;
      if (/[<>|$]|\.\.\./.test(cmd)) continue; // placeholders and pipes: not literal commands
      seen.add(cmd);
      const words = cmd.split(/\s+/).slice(2);
      const r = await runTask(words[0], words.slice(1), { inside: true });
      assert.equal(r.code, 0, `${relative(ROOT, file)}: '${cmd}' exited ${r.code}: ${r.stderr}`);
    }
  }
  assert.ok(seen.size >= 3, `expected several such commands, found ${[...seen].join("; ")}`);
});
