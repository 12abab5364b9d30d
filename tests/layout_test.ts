// The tree tells the architecture: src/ is split into layers, a layer imports
// only layers below it (or its own files), and no module imports close a
// cycle. The import graph comes from `deno info --json`, so type-only
// imports, re-exports and dynamic imports count, and comments do not.
import assert from "node:assert/strict";
import { relative } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** Layers of src/ and their ranks: a module may import only strictly lower ranks or its own layer. */
export const LAYERS: Readonly<Record<string, number>> = {
  util: 0,
  deps: 0,
  engine: 1,
  reference: 2,
  data: 2,
  experiment: 2,
  bench: 4,
  run: 3,
  cluster: 4,
  search: 4,
  report: 5,
};

/** Local modules (paths relative to the repository) and what each imports, code or type. */
type Graph = Map<string, string[]>;

/** What is wrong with a graph: upward or sideways imports between layers, files outside a layer, cycles. */
export function layoutProblems(graph: Graph): string[] {
  const problems: string[] = [];
  const layerOf = (path: string): string | null | undefined => {
    const m = /^src\/([^/]+)\//.exec(path);
    if (!m) return path.startsWith("src/") ? null : undefined; // undefined: not in src/
    return m[1];
  };
  for (const [from, deps] of graph) {
    const a = layerOf(from);
    if (a === null || (a !== undefined && !(a in LAYERS))) {
      problems.push(
        `${from}: not inside a layer folder of src/ (${Object.keys(LAYERS).join(", ")})`,
      );
      continue;
    }
    if (a === undefined) continue; // mod.ts, tasks/ and tests/ sit above every layer
    for (const to of deps) {
      const b = layerOf(to);
      if (b === undefined) {
        if (to.endsWith(".ts")) problems.push(`${from} imports ${to}, which is above src/`);
        continue;
      }
      if (b === a) continue;
      if (b === null || !(b in LAYERS) || LAYERS[b] >= LAYERS[a]) {
        problems.push(
          `${from} (layer '${a}', rank ${LAYERS[a]}) imports ${to} (layer '${b}', rank ${
            b && b in LAYERS ? LAYERS[b] : "none"
          }): a layer may import only lower ranks`,
        );
      }
    }
  }
  // Cycles: Tarjan's strongly connected components over local modules.
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) {
        problems.push(`import cycle: ${scc.sort().join(" <-> ")}`);
      }
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return problems;
}

async function* tsFiles(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(`${ROOT}/${dir}`)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) yield* tsFiles(p);
    else if (e.name.endsWith(".ts")) yield p;
  }
}

/** The import graph of mod.ts, src/ and tasks/, from one `deno info --json` over all of them. */
async function projectGraph(): Promise<Graph> {
  const files = ["mod.ts"];
  for (const d of ["src", "tasks"]) for await (const f of tsFiles(d)) files.push(f);
  const entry = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      entry,
      files.map((f) => `import ${JSON.stringify(`file://${ROOT}/${f}`)};`).join("\n"),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", `--config=${ROOT}/deno.json`, entry],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const info = JSON.parse(new TextDecoder().decode(out.stdout));
    const graph: Graph = new Map();
    const local = (s: string | undefined) =>
      s?.startsWith(`file://${ROOT}/`)
        ? relative(ROOT, decodeURIComponent(new URL(s).pathname))
        : null;
    for (const m of info.modules) {
      const from = local(m.specifier);
      if (!from || !from.endsWith(".ts") || !files.includes(from)) continue;
      const deps = new Set<string>();
      for (const d of m.dependencies ?? []) {
        for (const s of [d.code?.specifier, d.type?.specifier]) {
          const to = local(s);
          if (to) deps.add(to);
        }
      }
      graph.set(from, [...deps]);
    }
    assert.equal(graph.size, files.length, "every file should appear in the graph");
    return graph;
  } finally {
    await Deno.remove(entry);
  }
}

Deno.test("layout: src/ layers import only lower layers, with no cycles", async () => {
  const graph = await projectGraph();
  assert.deepEqual(layoutProblems(graph), []);
  // Every layer folder that exists is named in LAYERS and has a mod.ts.
  for await (const e of Deno.readDir(`${ROOT}/src`)) {
    assert.ok(e.isDirectory, `src/${e.name}: files belong in a layer folder`);
    assert.ok(e.name in LAYERS, `src/${e.name}: not a known layer`);
    assert.ok(graph.has(`src/${e.name}/mod.ts`), `src/${e.name}/mod.ts is missing`);
  }
});

Deno.test("layout: the checker finds upward imports, sideways imports and cycles", () => {
  const g: Graph = new Map([
    ["src/engine/model.ts", ["src/report/load.ts"]], // up
    ["src/data/datasets.ts", ["src/experiment/config.ts"]], // same rank, other layer
    ["src/run/train.ts", ["src/run/checkpoint.ts", "src/engine/model.ts"]],
    ["src/run/checkpoint.ts", ["src/run/train.ts"]], // cycle inside a layer
    ["src/experiment/config.ts", []],
    ["src/report/load.ts", []],
    ["src/stray.ts", []],
    ["src/util/fs.ts", ["tasks/exp.ts"]],
  ]);
  const p = layoutProblems(g);
  assert.ok(p.some((s) => s.startsWith("src/engine/model.ts (layer 'engine'")), p.join("\n"));
  assert.ok(p.some((s) => s.startsWith("src/data/datasets.ts (layer 'data'")), p.join("\n"));
  assert.ok(p.includes("import cycle: src/run/checkpoint.ts <-> src/run/train.ts"), p.join("\n"));
  assert.ok(p.some((s) => s.startsWith("src/stray.ts: not inside a layer")), p.join("\n"));
  assert.ok(p.some((s) => s.startsWith("src/util/fs.ts imports tasks/exp.ts")), p.join("\n"));
  assert.equal(p.length, 5, p.join("\n"));
});

Deno.test("layout: src/ imports npm packages only through src/deps/, pinned as in deno.json", async () => {
  const imports: Record<string, string> = JSON.parse(
    await Deno.readTextFile(`${ROOT}/deno.json`),
  ).imports;
  const walk = async function* (dir: string): AsyncGenerator<string> {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) yield* walk(`${dir}/${e.name}`);
      else if (e.name.endsWith(".ts")) yield `${dir}/${e.name}`;
    }
  };
  const spec = /^(?:import|export)\b[^"]*?\bfrom\s*"([^"]+)"/gm;
  let pinned = 0;
  for await (const path of walk(`${ROOT}/src`)) {
    const text = await Deno.readTextFile(path);
    for (const m of text.matchAll(spec)) {
      const s = m[1];
      if (s.startsWith(".") || s.startsWith("node:")) continue;
      const file = relative(ROOT, path);
      // A bare specifier resolves only through this repository's import map: a script in
      // another folder that imports mod.ts could not load it.
      assert.ok(s.startsWith("npm:"), `${file} imports '${s}': expected ./, node: or npm:`);
      assert.ok(file.startsWith("src/deps/"), `${file} imports '${s}': import it from src/deps/`);
      const name = /^npm:(@?[^@]+)@/.exec(s)![1];
      assert.equal(imports[name], s, `${file}: '${s}' should equal deno.json's '${name}'`);
      pinned++;
    }
  }
  assert.equal(pinned, 4, "yaml, zod, vega and vega-lite");
});
