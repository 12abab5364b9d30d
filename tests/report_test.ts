import assert from "node:assert/strict";
import { join } from "node:path";
import { stringify as toYaml } from "yaml";
import { buildReport, writeReport } from "../src/report/report.ts";
import { readRuns } from "../src/report/load.ts";
import { meanStd } from "../src/report/table.ts";
import { barChart, escapeXml, lineChart, niceDomain, niceTicks } from "../src/report/svg.ts";

// ---------------------------------------------------------------------------
// A small strict XML well-formedness checker (Deno has no DOMParser).

interface XmlElement {
  name: string;
  attrs: Map<string, string>;
  children: XmlElement[];
  text: string;
}

const NAME = /^[A-Za-z_:][A-Za-z0-9_.:-]*/;

function decodeEntities(s: string, where: string): string {
  return s.replace(/&([^;&]*);?/g, (m, body: string) => {
    if (!m.endsWith(";")) throw new Error(`${where}: '&' not starting an entity reference`);
    const named: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
    if (body in named) return named[body];
    const num = /^#([0-9]+)$/.exec(body) ?? /^#x([0-9A-Fa-f]+)$/.exec(body);
    if (num) return String.fromCodePoint(parseInt(num[1], body[1] === "x" ? 16 : 10));
    throw new Error(`${where}: unknown entity '&${body};'`);
  });
}

/** Parses XML strictly; throws on anything not well-formed. Returns the root element. */
function parseXml(src: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  const fail = (msg: string): never => {
    throw new Error(`XML at offset ${i}: ${msg}`);
  };
  if (src.startsWith("<?xml")) {
    const end = src.indexOf("?>");
    if (end < 0) fail("unterminated XML declaration");
    i = end + 2;
  }
  while (i < src.length) {
    if (src[i] !== "<") {
      const next = src.indexOf("<", i);
      const chunk = src.slice(i, next < 0 ? src.length : next);
      if (stack.length === 0) {
        if (chunk.trim() !== "") {
          fail(`text outside the root: ${JSON.stringify(chunk.slice(0, 20))}`);
        }
      } else {
        if (chunk.includes("]]>")) fail("']]>' in text");
        stack[stack.length - 1].text += decodeEntities(chunk, `text at ${i}`);
      }
      i = next < 0 ? src.length : next;
      continue;
    }
    if (src.startsWith("<!--", i)) {
      const end = src.indexOf("-->", i + 4);
      if (end < 0) fail("unterminated comment");
      if (src.slice(i + 4, end).includes("--")) fail("'--' inside a comment");
      i = end + 3;
      continue;
    }
    if (src.startsWith("<![CDATA[", i)) {
      if (stack.length === 0) fail("CDATA outside the root");
      const end = src.indexOf("]]>", i);
      if (end < 0) fail("unterminated CDATA");
      stack[stack.length - 1].text += src.slice(i + 9, end);
      i = end + 3;
      continue;
    }
    if (src.startsWith("<?", i)) {
      const end = src.indexOf("?>", i);
      if (end < 0) fail("unterminated processing instruction");
      i = end + 2;
      continue;
    }
    if (src.startsWith("<!", i)) fail("DOCTYPE or other declarations are not expected");
    if (src.startsWith("</", i)) {
      const m = NAME.exec(src.slice(i + 2));
      if (!m) fail("bad end tag name");
      const name = m![0];
      let j = i + 2 + name.length;
      while (/\s/.test(src[j] ?? "")) j++;
      if (src[j] !== ">") fail(`expected '>' closing </${name}`);
      const open = stack.pop();
      if (!open || open.name !== name) {
        fail(`</${name}> does not match <${open?.name ?? "(none)"}>`);
      }
      i = j + 1;
      continue;
    }
    const m = NAME.exec(src.slice(i + 1));
    if (!m) fail("bad start tag name");
    const el: XmlElement = { name: m![0], attrs: new Map(), children: [], text: "" };
    let j = i + 1 + el.name.length;
    let selfClosing = false;
    for (;;) {
      const ws = /^\s*/.exec(src.slice(j))![0].length;
      j += ws;
      if (src.startsWith("/>", j)) {
        selfClosing = true;
        j += 2;
        break;
      }
      if (src[j] === ">") {
        j += 1;
        break;
      }
      if (ws === 0) fail(`expected whitespace before an attribute in <${el.name}>`);
      const an = NAME.exec(src.slice(j));
      if (!an) fail(`bad attribute name in <${el.name}>`);
      j += an![0].length;
      const eq = /^\s*=\s*/.exec(src.slice(j));
      if (!eq) fail(`expected '=' after attribute ${an![0]}`);
      j += eq![0].length;
      const q = src[j];
      if (q !== '"' && q !== "'") fail(`attribute ${an![0]} value not quoted`);
      const end = src.indexOf(q, j + 1);
      if (end < 0) fail("unterminated attribute value");
      const raw = src.slice(j + 1, end);
      if (raw.includes("<")) fail(`'<' in attribute ${an![0]}`);
      if (el.attrs.has(an![0])) fail(`duplicate attribute ${an![0]} in <${el.name}>`);
      el.attrs.set(an![0], decodeEntities(raw, `attribute ${an![0]}`));
      j = end + 1;
    }
    if (stack.length === 0) {
      if (root) fail("a second root element");
      root = el;
    } else {
      stack[stack.length - 1].children.push(el);
    }
    if (!selfClosing) stack.push(el);
    i = j;
  }
  if (stack.length > 0) throw new Error(`XML: <${stack[stack.length - 1].name}> is not closed`);
  if (!root) throw new Error("XML: no root element");
  return root;
}

function all(el: XmlElement, pred: (e: XmlElement) => boolean, out: XmlElement[] = []) {
  if (pred(el)) out.push(el);
  for (const c of el.children) all(c, pred, out);
  return out;
}

function seriesOf(svg: string): Map<string, XmlElement> {
  const root = parseXml(svg);
  assert.equal(root.name, "svg");
  const found = all(root, (e) => e.attrs.has("data-series"));
  const out = new Map<string, XmlElement>();
  for (const e of found) {
    assert.ok(e.name === "polyline" || e.name === "path", `series element <${e.name}>`);
    assert.ok(!out.has(e.attrs.get("data-series")!), `series twice: ${e.attrs.get("data-series")}`);
    out.set(e.attrs.get("data-series")!, e);
  }
  return out;
}

function polylinePoints(e: XmlElement): [number, number][] {
  const p = e.attrs.get("points")!.trim();
  if (p === "") return [];
  return p.split(/\s+/).map((xy) => xy.split(",").map(Number) as [number, number]);
}

// ---------------------------------------------------------------------------
// A strict RFC 4180 CSV parser.

function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [], field = "", i = 0, quoted = false, started = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        if (!(i >= text.length || text[i] === "," || text[i] === "\r")) {
          throw new Error(`CSV: character after closing quote at ${i}`);
        }
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === '"') {
      if (field !== "") throw new Error(`CSV: quote inside an unquoted field at ${i}`);
      quoted = true;
      started = true;
      i++;
    } else if (c === ",") {
      row.push(field);
      field = "";
      i++;
    } else if (c === "\r") {
      if (text[i + 1] !== "\n") throw new Error(`CSV: bare CR at ${i}`);
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      started = false;
      i += 2;
    } else if (c === "\n") {
      throw new Error(`CSV: bare LF at ${i}`);
    } else {
      field += c;
      started = true;
      i++;
    }
  }
  if (quoted) throw new Error("CSV: unterminated quote");
  if (field !== "" || started || row.length > 0) throw new Error("CSV: last row without CRLF");
  return rows;
}

// ---------------------------------------------------------------------------
// The checkers themselves must reject bad input.

Deno.test("xml checker: rejects malformed documents, accepts good ones", () => {
  for (
    const bad of [
      "<a><b></a></b>",
      `<a x="1" x="2"/>`,
      "<a>&foo;</a>",
      "<a>1 < 2</a>",
      "<a>AT&T</a>",
      "<a x=1/>",
      "<a/><b/>",
      "<a>",
      `<a x="<"/>`,
      `<a x="1"y="2"/>`,
      "text<a/>",
    ]
  ) {
    assert.throws(() => parseXml(bad), Error, bad);
  }
  const ok = parseXml(
    `<?xml version="1.0"?>\n<a k='v &amp; w'><!-- c --><b>x &lt; y &#65;</b></a>\n`,
  );
  assert.equal(ok.attrs.get("k"), "v & w");
  assert.equal(ok.children[0].text, "x < y A");
});

Deno.test("csv parser: round trip of quoting and rejects bad input", () => {
  assert.deepEqual(parseCsv(`a,"b,c","d""e","f\r\ng"\r\n,x\r\n`), [
    ["a", "b,c", `d"e`, "f\r\ng"],
    ["", "x"],
  ]);
  assert.throws(() => parseCsv(`a"b\r\n`));
  assert.throws(() => parseCsv(`a\nb\r\n`));
  assert.throws(() => parseCsv(`a,b`));
});

// ---------------------------------------------------------------------------
// SVG helper.

Deno.test("svg: escaping, ticks, domains", () => {
  assert.equal(escapeXml(`<&>"'`), "&lt;&amp;&gt;&quot;&apos;");
  assert.equal(escapeXml("a\u0001b"), "a\ufffdb");
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(0.83, 0.97, 5), [0.85, 0.9, 0.95]);
  assert.deepEqual(niceTicks(1, 10, 5), [2, 4, 6, 8, 10]);
  assert.deepEqual(niceTicks(3, 3), [3]);
  assert.deepEqual(niceDomain(0.83, 0.97), [0.8, 1]);
  // 5 +- 10 %, widened to multiples of the 0.2 tick step.
  assert.deepEqual(niceDomain(5, 5), [4.4, 5.6]);
  assert.deepEqual(niceDomain(0, 0), [-1, 1]);
});

Deno.test("svg: line chart with awkward names, gaps and no data is well-formed", () => {
  const svg = lineChart({
    title: `a <b> & "c"`,
    series: [
      { name: `x<&>"'y`, points: [[1, 1], [2, null], [3, 3]] },
      { name: "flat", points: [[1, 2]] },
    ],
    xLabel: "epoch",
    yLabel: "v",
  });
  const series = seriesOf(svg);
  assert.deepEqual([...series.keys()], [`x<&>"'y`, "flat"]);
  const pts = polylinePoints(series.get(`x<&>"'y`)!);
  assert.equal(pts.length, 2); // the null point is left out
  assert.ok(pts[0][0] < pts[1][0] && pts[0][1] > pts[1][1], "y grows upwards");
  const empty = seriesOf(lineChart({ title: "none", series: [] }));
  assert.equal(empty.size, 0);
  const bars = seriesOf(
    barChart({ title: "b", categories: ["p", "q"], series: [{ name: "s", values: [1, null] }] }),
  );
  // One rectangle for the one non-null value.
  assert.equal((bars.get("s")!.attrs.get("d")!.match(/M/g) ?? []).length, 1);
});

// ---------------------------------------------------------------------------
// A synthetic runs tree.

function layer(index: number, token: string, firing: number, hist: number[]) {
  return { index, token, firing, mean_time: 0.5, hist };
}

function hist(spikes: Record<number, number>): number[] {
  return Array.from({ length: 16 }, (_, i) => spikes[i] ?? 0);
}

function epoch(e: number, val: number | null, test: number, extra: Record<string, unknown> = {}) {
  return {
    epoch: e,
    lr: 1e-3,
    train_loss: 1 / e,
    train_acc: test,
    val_loss: val === null ? null : 1 / e,
    val_acc: val,
    test_loss: 1 / e,
    test_acc: test,
    seconds: 10 * e,
    spikes_per_sample: 100 + e,
    layers: [layer(0, "16C3", 0.2 * e, hist({ 0: e })), layer(1, "100F", 0.1 * e, hist({ 15: 1 }))],
    ...extra,
  };
}

interface RunSpec {
  id: string;
  lr: number;
  seed: number;
  state: "done" | "running" | "failed";
  error?: string;
  results?: Record<string, unknown>;
  metrics?: unknown[];
  metricsTail?: string;
}

async function writeRun(expDir: string, r: RunSpec): Promise<void> {
  const dir = join(expDir, r.id);
  await Deno.mkdir(dir, { recursive: true });
  const doc: Record<string, unknown> = {
    kind: "run",
    name: "grid",
    dataset: "fmnist",
    arch: "16C3-100F",
    lr: r.lr,
    seed: r.seed,
    batch_size: 50,
    optimizer: "adam",
    t_win: 1,
    output: `runs/grid/${r.id}`,
    status: {
      state: r.state,
      ...(r.error ? { error: r.error } : {}),
      slurm: { job_id: "7", array_task_id: 0, array_job_id: "7" },
    },
    provenance: { git: "abc", host: "h" },
    grid_point: { lr: r.lr, seed: r.seed },
    ...(r.results ? { results: r.results } : {}),
  };
  await Deno.writeTextFile(join(dir, "run.yaml"), toYaml(doc));
  if (r.metrics) {
    await Deno.writeTextFile(
      join(dir, "metrics.jsonl"),
      r.metrics.map((m) => JSON.stringify(m) + "\n").join("") + (r.metricsTail ?? ""),
    );
  }
}

const RESULT = (test: number, val: number) => ({
  epochs_run: 3,
  best_epoch: 2,
  best_val_acc: val,
  test_acc: test,
  spikes_per_sample: 123.5,
  wall_seconds: 60,
});

const FAIL_MSG = `Out of "memory", at step 3\nsecond line | pipe`;

async function syntheticTree(): Promise<{ root: string; expDir: string }> {
  const root = await Deno.makeTempDir({ prefix: "firstspike_report_" });
  const expDir = join(root, "grid");
  const runs: RunSpec[] = [
    { id: "lr1e-3_seed0", lr: 1e-3, seed: 0, state: "done", results: RESULT(0.90, 0.91) },
    {
      id: "lr1e-3_seed1",
      lr: 1e-3,
      seed: 1,
      state: "done",
      results: RESULT(0.92, 0.95),
      metrics: [epoch(1, 0.9, 0.88), epoch(2, 0.95, 0.92), epoch(3, 0.94, 0.93)],
    },
    { id: "lr1e-3_seed2", lr: 1e-3, seed: 2, state: "done", results: RESULT(0.97, 0.94) },
    {
      id: "lr1e-2_seed0",
      lr: 1e-2,
      seed: 0,
      state: "done",
      results: RESULT(0.80, 0.96),
      metrics: [
        epoch(1, 0.5, 0.45),
        // The best epoch: its histogram differs (8 spikes in the first bin).
        epoch(2, 0.96, 0.80, {
          layers: [
            layer(0, "16C3", 0.3, hist({ 0: 8 })),
            layer(1, "100F", 0.05, hist({ 3: 2, 4: 2 })),
          ],
        }),
        epoch(3, 0.9, 0.82),
      ],
    },
    { id: "lr1e-2_seed1", lr: 1e-2, seed: 1, state: "failed", error: FAIL_MSG },
    {
      id: "lr1e-2_seed2",
      lr: 1e-2,
      seed: 2,
      state: "running",
      metrics: [
        { ...epoch(1, 0.5, 0.45), seconds: 10 },
        { ...epoch(2, 0.6, 0.55), seconds: 12 },
      ],
      metricsTail: `{"epoch": 3, "val_a`,
    },
  ];
  for (const r of runs) await writeRun(expDir, r);
  // Not runs: the Slurm log folder and an unrelated folder.
  await Deno.mkdir(join(expDir, "slurm"), { recursive: true });
  await Deno.writeTextFile(join(expDir, "slurm", "7_0.log"), "log\n");
  await Deno.mkdir(join(expDir, "figures"), { recursive: true });
  // A queued point: only its Slurm log link so far.
  await Deno.mkdir(join(expDir, "lr1e-2_seed3"), { recursive: true });
  await Deno.writeTextFile(join(expDir, "lr1e-2_seed3", "slurm-7_6.log"), "");
  // A broken run.yaml.
  await Deno.mkdir(join(expDir, "broken"), { recursive: true });
  await Deno.writeTextFile(join(expDir, "broken", "run.yaml"), "kind: experiment\n");
  return { root, expDir };
}

Deno.test("report: reads runs of every state", async () => {
  const { root, expDir } = await syntheticTree();
  try {
    const runs = await readRuns(expDir);
    assert.deepEqual(
      runs.map((r) => [r.id, r.state]),
      [
        ["broken", "invalid"],
        ["lr1e-2_seed0", "done"],
        ["lr1e-2_seed1", "failed"],
        ["lr1e-2_seed2", "running"],
        ["lr1e-2_seed3", "pending"],
        ["lr1e-3_seed0", "done"],
        ["lr1e-3_seed1", "done"],
        ["lr1e-3_seed2", "done"],
      ],
    );
    const running = runs.find((r) => r.id === "lr1e-2_seed2")!;
    assert.equal(running.metrics.length, 2);
    assert.equal(running.warnings.length, 1);
    assert.match(running.warnings[0], /line 3.*still being written/);
    assert.deepEqual(running.gridPoint, { lr: 1e-2, seed: 2 });
    assert.equal(runs.find((r) => r.id === "lr1e-2_seed1")!.error, FAIL_MSG);
    assert.match(runs[0].error!, /expected a mapping with 'kind: run', got kind "experiment"/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("report: tables, groups over seeds, CSV and figures", async () => {
  const { root, expDir } = await syntheticTree();
  try {
    const report = await buildReport(expDir);
    const out = join(root, "out");
    const written = await writeReport(report, out);
    assert.deepEqual(
      written.map((p) => p.slice(out.length + 1)).sort(),
      ["accuracy.svg", "firing.svg", "report.csv", "report.md", "spike_times.svg"],
    );
    // No temporary files left behind.
    const names = [];
    for await (const e of Deno.readDir(out)) names.push(e.name);
    assert.equal(names.length, 5);

    // Running point: what metrics.jsonl holds (best by val acc, wall time summed).
    const running = report.summaries.find((s) => s.id === "lr1e-2_seed2")!;
    assert.deepEqual(
      [
        running.epochsRun,
        running.bestEpoch,
        running.bestValAcc,
        running.testAcc,
        running.wallSeconds,
      ],
      [2, 2, 0.6, 0.55, 22],
    );
    assert.equal(running.spikesPerSample, 102);

    // Groups: lr 1e-3 over three seeds by hand: mean 0.93, deviations -0.03, -0.01, 0.04,
    // sum of squares 0.0026, sample variance 0.0013.
    assert.equal(report.groups.length, 2);
    const [g1, g2] = report.groups;
    assert.equal(g1.label, "lr=0.001");
    assert.equal(g1.n, 3);
    assert.deepEqual(g1.ids, ["lr1e-3_seed0", "lr1e-3_seed1", "lr1e-3_seed2"]);
    assert.ok(Math.abs(g1.testMean! - 0.93) < 1e-12);
    assert.ok(Math.abs(g1.testStd! - 0.036055512754639890) < 1e-12);
    assert.ok(Math.abs(g1.valMean! - (0.91 + 0.95 + 0.94) / 3) < 1e-12);
    // lr 1e-2: one finished seed (the others failed or are running).
    assert.equal(g2.label, "lr=0.01");
    assert.equal(g2.n, 1);
    assert.equal(g2.testMean, 0.8);
    assert.equal(g2.testStd, null);
    assert.deepEqual(g2.ids, ["lr1e-2_seed0", "lr1e-2_seed1", "lr1e-2_seed2"]);

    // Best run: highest best validation accuracy among finished runs.
    assert.equal(report.best?.id, "lr1e-2_seed0");

    // Markdown.
    const md = await Deno.readTextFile(join(out, "report.md"));
    assert.equal(md, report.markdown);
    assert.match(md, /^# Report: grid$/m);
    assert.match(md, /8 runs: 4 done, 1 running, 1 failed, 1 pending, 1 invalid\./);
    assert.ok(
      md.includes(
        "| lr1e-3_seed1 | done | 3 | 2 | 95.00 | 92.00 | 123.5 | 1 min 00 s | 0.001 | 1 |",
      ),
      md,
    );
    assert.ok(
      md.includes("| lr1e-2_seed2 | running | 2 | 2 | 60.00 | 55.00 | 102 | 22.0 s | 0.01 | 2 |"),
      md,
    );
    assert.ok(md.includes("| lr1e-2_seed3 | pending | – | – | – | – | – | – |  |  |"), md);
    assert.ok(md.includes("| lr=0.001 | 3 | 93.00 | 3.61 | 93.33 | 123.5 |"), md);
    assert.ok(md.includes("| lr=0.01 | 1 | 80.00 | – | 96.00 | 123.5 |"), md);
    assert.ok(md.indexOf("| lr=0.001 |") < md.indexOf("| lr=0.01 |"), "best configuration first");
    assert.ok(
      md.includes('- `lr1e-2_seed1` (failed): Out of "memory", at step 3 second line \\| pipe'),
      md,
    );
    assert.match(md, /- `broken` \(invalid\): Cannot read .*run\.yaml/);
    assert.match(md, /## Warnings\n\n- lr1e-2_seed2\/metrics.jsonl line 3/);

    // CSV parses back.
    const rows = parseCsv(await Deno.readTextFile(join(out, "report.csv")));
    assert.deepEqual(rows[0], [
      "id",
      "status",
      "epochs_run",
      "best_epoch",
      "best_val_acc",
      "test_acc",
      "spikes_per_sample",
      "wall_seconds",
      "lr",
      "seed",
      "error",
    ]);
    assert.equal(rows.length, 1 + 8);
    assert.ok(rows.every((r) => r.length === rows[0].length));
    const byId = new Map(rows.slice(1).map((r) => [r[0], r]));
    assert.deepEqual(byId.get("lr1e-3_seed2"), [
      "lr1e-3_seed2",
      "done",
      "3",
      "2",
      "0.94",
      "0.97",
      "123.5",
      "60",
      "0.001",
      "2",
      "",
    ]);
    assert.equal(byId.get("lr1e-2_seed1")![1], "failed");
    assert.equal(byId.get("lr1e-2_seed1")![10], FAIL_MSG);
    assert.deepEqual(byId.get("lr1e-2_seed2")!.slice(1, 8), [
      "running",
      "2",
      "2",
      "0.6",
      "0.55",
      "102",
      "22",
    ]);
    assert.deepEqual(byId.get("lr1e-2_seed3")!.slice(1, 10), [
      "pending",
      "",
      "",
      "",
      "",
      "",
      "",
      "",
      "",
    ]);

    // accuracy.svg: a test series per run with metrics, a val series where val exists.
    const acc = seriesOf(report.figures["accuracy.svg"]);
    assert.deepEqual([...acc.keys()].sort(), [
      "lr1e-2_seed0 test",
      "lr1e-2_seed0 val",
      "lr1e-2_seed2 test",
      "lr1e-2_seed2 val",
      "lr1e-3_seed1 test",
      "lr1e-3_seed1 val",
    ]);
    const rt = polylinePoints(acc.get("lr1e-2_seed2 test")!);
    assert.equal(rt.length, 2);
    assert.ok(rt[1][1] < rt[0][1], "55 % is drawn above 45 %");
    // Same y for the same accuracy in different series (45 % in two runs at epoch 1).
    assert.equal(polylinePoints(acc.get("lr1e-2_seed0 test")!)[0][1], rt[0][1]);

    // firing.svg: one series per layer of the best run, one point per epoch.
    const firing = seriesOf(report.figures["firing.svg"]);
    assert.deepEqual([...firing.keys()], ["L0 16C3", "L1 100F"]);
    assert.equal(polylinePoints(firing.get("L0 16C3")!).length, 3);
    assert.match(report.figures["firing.svg"], /Firing per layer: lr1e-2_seed0/);

    // spike_times.svg: the best run's best epoch (2), one histogram per layer.
    const times = seriesOf(report.figures["spike_times.svg"]);
    assert.deepEqual([...times.keys()], ["L0 16C3", "L1 100F"]);
    const svgText = report.figures["spike_times.svg"];
    assert.match(svgText, /lr1e-2_seed0, epoch 2/);
    assert.match(svgText, /L0 16C3 \(8 spikes\)/);
    assert.match(svgText, /L1 100F \(4 spikes\)/);
    // Layer 0 has all its spikes in bin 0: the step path rises only over the first bin.
    const vs = [...times.get("L0 16C3")!.attrs.get("d")!.matchAll(/V(-?[\d.]+)/g)].map((m) =>
      Number(m[1])
    );
    assert.equal(vs.length, 17);
    assert.ok(vs[0] < vs[16], "the first bin is tall");
    assert.ok(vs.slice(1).every((v) => v === vs[16]), "the other bins are empty");
    // Layer 1: half in bin 3, half in bin 4.
    const v1 = [...times.get("L1 100F")!.attrs.get("d")!.matchAll(/V(-?[\d.]+)/g)].map((m) =>
      Number(m[1])
    );
    assert.equal(v1[3], v1[4]);
    assert.ok(v1[3] < v1[16] && v1[0] === v1[16]);
    for (const f of ["firing.svg", "spike_times.svg", "accuracy.svg"] as const) {
      assert.equal(await Deno.readTextFile(join(out, f)), report.figures[f]);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("report: an empty experiment folder still writes valid files", async () => {
  const root = await Deno.makeTempDir({ prefix: "firstspike_report_" });
  try {
    const report = await buildReport(root);
    assert.equal(report.runs.length, 0);
    assert.equal(report.best, null);
    for (const f of ["accuracy.svg", "firing.svg", "spike_times.svg"] as const) {
      assert.equal(seriesOf(report.figures[f]).size, 0);
    }
    assert.deepEqual(parseCsv(report.csv).length, 1);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("report: a missing folder is an error naming it", async () => {
  await assert.rejects(
    () => buildReport("/nonexistent/runs/exp"),
    /expected an experiment folder like runs\/<experiment>, got '\/nonexistent\/runs\/exp'/,
  );
});

Deno.test("report: mean and sample standard deviation", () => {
  assert.deepEqual(meanStd([]), { mean: null, std: null });
  assert.deepEqual(meanStd([0.5]), { mean: 0.5, std: null });
  // 2 and 4: mean 3, deviations -1 and 1, sample variance 2.
  const r = meanStd([2, 4]);
  assert.equal(r.mean, 3);
  assert.equal(r.std, Math.SQRT2);
});

Deno.test("report task: prints the table and writes to --out", async () => {
  const { root, expDir } = await syntheticTree();
  try {
    const out = join(root, "o");
    const res = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../tasks/report.ts", import.meta.url).pathname,
        expDir,
        "--out",
        out,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(res.stdout);
    assert.equal(res.code, 0, new TextDecoder().decode(res.stderr));
    assert.match(stdout, /\| lr1e-3_seed1 \| done \|/);
    assert.equal(await Deno.readTextFile(join(out, "report.md")), stdout.replace(/\n$/, ""));
    const bad = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../tasks/report.ts", import.meta.url).pathname],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(bad.code, 2);
    assert.match(
      new TextDecoder().decode(bad.stderr),
      /expected one experiment folder, got 0 \(none\)/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
