import assert from "node:assert/strict";
import { join } from "node:path";
import { buildReport, writeReport } from "../src/report/report.ts";
import { readRuns } from "../src/report/load.ts";
import { meanStd } from "../src/report/table.ts";
import { compareIds, compareValues } from "../src/report/order.ts";
import { escapeHtml, escapeLatex, escapeMarkdown, jsonForScript } from "../src/report/escape.ts";
import { FIGURE_NAMES } from "../src/report/figures.ts";
import { parseCsv, parseXml } from "./_parse.ts";
import { runTask as denoTask } from "./_task.ts";
import { epoch, FAIL_MSG, result, syntheticTree, withTempDir, writeRun } from "./_runs.ts";

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
// Ordering and escaping.

Deno.test("order: ids compare numbers by value, scientific notation included", () => {
  const ids = [
    "lr1e-2_seed0",
    "lr0.03_seed0",
    "lr1e-3_seed10",
    "lr1e-3_seed2",
    "lr3e-4_seed0",
    "lr1e-4_seed1",
    "default",
    "arch=32C5-P2_seed0",
    "arch=16C5-P2_seed0",
  ];
  assert.deepEqual([...ids].sort(compareIds), [
    "arch=16C5-P2_seed0",
    "arch=32C5-P2_seed0",
    "default",
    "lr1e-4_seed1",
    "lr3e-4_seed0",
    "lr1e-3_seed2",
    "lr1e-3_seed10",
    "lr1e-2_seed0",
    "lr0.03_seed0",
  ]);
  // A total order: different texts never compare equal.
  assert.notEqual(compareIds("a01", "a1"), 0);
  assert.equal(compareIds("x", "x"), 0);
  assert.deepEqual([8, "b", 16, null, "a10", "a9", true, 0.5].sort(compareValues), [
    0.5,
    8,
    16,
    true,
    "a9",
    "a10",
    "b",
    null,
  ]);
});

Deno.test("escape: markdown, HTML, LaTeX and JSON in a script", () => {
  // Markdown: tags, emphasis, code, links, tables and entities are inert.
  assert.equal(
    escapeMarkdown("<img src=x onerror=alert(1)>"),
    "\\<img src=x onerror=alert(1)\\>",
  );
  assert.equal(
    escapeMarkdown("a|b `c` *d* [e](f) &amp; ~g~ $x$"),
    "a\\|b \\`c\\` \\*d\\* \\[e\\](f) \\&amp; \\~g\\~ \\$x\\$",
  );
  assert.equal(escapeMarkdown("lr1e-3_seed0"), "lr1e-3_seed0");
  assert.equal(escapeMarkdown("_x_ a_ _b"), "\\_x\\_ a\\_ \\_b");
  assert.equal(escapeMarkdown("two\nlines\r\n here"), "two lines here");
  assert.equal(escapeMarkdown("back\\slash"), "back\\\\slash");
  assert.equal(
    escapeHtml(`<script>"x" & 'y'</script>`),
    "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;",
  );
  assert.equal(
    escapeLatex("a_b&c%d$e#f{g}h~i^j\\k<l>m|n"),
    "a\\_b\\&c\\%d\\$e\\#f\\{g\\}h\\textasciitilde{}i\\textasciicircum{}j\\textbackslash{}k\\textless{}l\\textgreater{}m\\textbar{}n",
  );
  const tricky = { s: "</script><!-- \u2028 & >" };
  const js = jsonForScript(tricky);
  assert.ok(!/[<>&\u2028]/.test(js), js);
  assert.deepEqual(JSON.parse(js), tricky);
});

// ---------------------------------------------------------------------------
// A synthetic runs tree.

Deno.test("report: reads runs of every state, ids in numeric order", async () => {
  await withTempDir(async (root) => {
    const expDir = await syntheticTree(root);
    const runs = await readRuns(expDir);
    assert.deepEqual(
      runs.map((r) => [r.id, r.state]),
      [
        ["broken", "invalid"],
        ["lr1e-3_seed0", "done"],
        ["lr1e-3_seed1", "done"],
        ["lr1e-3_seed2", "done"],
        ["lr1e-2_seed0", "done"],
        ["lr1e-2_seed1", "failed"],
        ["lr1e-2_seed2", "running"],
        ["lr1e-2_seed3", "pending"],
      ],
    );
    const running = runs.find((r) => r.id === "lr1e-2_seed2")!;
    assert.equal(running.metrics.length, 2);
    assert.equal(running.warnings.length, 1);
    assert.match(running.warnings[0], /line 3.*still being written/);
    assert.deepEqual(running.gridPoint, { lr: 1e-2, seed: 2 });
    assert.equal(runs.find((r) => r.id === "lr1e-2_seed1")!.error, FAIL_MSG);
    assert.match(runs[0].error!, /expected a mapping with 'kind: run', got kind "experiment"/);
  });
});

Deno.test("report: a run without a live runner is stopped", async () => {
  await withTempDir(async (root) => {
    const base = { lr: 1e-3, seed: 0, metrics: [epoch(1, 0.5, 0.4)] };
    await writeRun(root, { ...base, id: "no_lock", state: "running" });
    await writeRun(root, { ...base, id: "dead_lock", state: "running", lock: "dead" });
    await writeRun(root, { ...base, id: "live_lock", state: "running", lock: "live" });
    await writeRun(root, { ...base, id: "remote_lock", state: "running", lock: "remote" });
    await writeRun(root, { ...base, id: "said_stopped", state: "stopped" });
    // An empty lock nobody holds (locks appear whole, so a crash left it): no one at work.
    const half = await writeRun(root, { ...base, id: "half_lock", state: "running" });
    await Deno.writeTextFile(join(half, "lock"), "");
    const states = Object.fromEntries((await readRuns(root)).map((r) => [r.id, r.state]));
    assert.deepEqual(states, {
      dead_lock: "stopped",
      half_lock: "stopped",
      live_lock: "running",
      no_lock: "stopped",
      remote_lock: "running",
      said_stopped: "stopped",
    });
  });
});

Deno.test("report: tables, groups over seeds, CSV, LaTeX and files", async () => {
  await withTempDir(async (root) => {
    const expDir = await syntheticTree(root);
    const report = await buildReport(expDir);
    const out = join(root, "out");
    const written = await writeReport(report, out);
    const expected = [
      "report.csv",
      "report.html",
      "report.md",
      "report.tex",
      ...FIGURE_NAMES.flatMap((n) => [
        `${n}.svg`,
        `${n}.vl.json`,
        `${n}-column.svg`,
        `${n}-column.vl.json`,
      ]),
    ].sort();
    assert.deepEqual(written.map((p) => p.slice(out.length + 1)).sort(), expected);
    // No temporary files left behind.
    const names: string[] = [];
    for await (const e of Deno.readDir(out)) names.push(e.name);
    assert.deepEqual(names.sort(), expected);
    for (const n of FIGURE_NAMES) {
      const both = [[n, report.figures[n]], [`${n}-column`, report.columnFigures[n]]] as const;
      for (const [file, f] of both) {
        assert.equal(await Deno.readTextFile(join(out, `${file}.svg`)), f.svg);
        assert.deepEqual(
          JSON.parse(await Deno.readTextFile(join(out, `${file}.vl.json`))),
          JSON.parse(JSON.stringify(f.spec)),
        );
      }
    }

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
    assert.deepEqual(g1.varying, { lr: 0.001 });
    assert.ok(Math.abs(g1.testMean! - 0.93) < 1e-12);
    assert.ok(Math.abs(g1.testStd! - 0.036055512754639890) < 1e-12);
    assert.ok(Math.abs(g1.valMean! - (0.91 + 0.95 + 0.94) / 3) < 1e-12);
    // Val: 0.91, 0.95, 0.94, mean 0.9333..., squares 0.0005444+0.0002778+0.0000444 = 0.00086667.
    assert.ok(Math.abs(g1.valStd! - Math.sqrt(0.00086666666666666 / 2)) < 1e-9);
    // Spikes 120, 125, 125.5: mean 123.5, deviations -3.5, 1.5, 2; squares 12.25+2.25+4 = 18.5.
    assert.equal(g1.spikesMean, 123.5);
    assert.ok(Math.abs(g1.spikesStd! - Math.sqrt(18.5 / 2)) < 1e-12);
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
    assert.match(md, /Dataset: fmnist\. Architecture: 16C3-100F\./);
    assert.ok(
      md.includes(
        "| lr1e-3_seed1 | done | 3 | 2 | 95.00 | 92.00 | 125 | 1 min 00 s | 0.001 | 1 |",
      ),
      md,
    );
    assert.ok(
      md.includes("| lr1e-2_seed2 | running | 2 | 2 | 60.00 | 55.00 | 102 | 22.0 s | 0.01 | 2 |"),
      md,
    );
    assert.ok(md.includes("| lr1e-2_seed3 | pending | – | – | – | – | – | – |  |  |"), md);
    assert.ok(md.includes("| lr=0.001 | 3 | 93.00 | 3.61 | 93.33 | 123.5 |"), md);
    assert.ok(md.includes("| lr=0.01 | 1 | 80.00 | – | 96.00 | 110 |"), md);
    assert.ok(md.indexOf("| lr=0.001 |") < md.indexOf("| lr=0.01 |"), "best configuration first");
    assert.ok(
      md.includes('- lr1e-2_seed1 (failed): Out of "memory", at step 3 second line \\| pipe'),
      md,
    );
    assert.match(md, /- broken \(invalid\): Cannot read .*run\.yaml/);
    assert.match(md, /## Warnings\n\n- lr1e-2_seed2\/metrics.jsonl line 3/);
    for (const n of FIGURE_NAMES) assert.ok(md.includes(`](${n}.svg)`), n);

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
      "125.5",
      "60",
      "0.001",
      "2",
      "",
    ]);
    assert.equal(byId.get("lr1e-2_seed1")![1], "failed");
    assert.equal(byId.get("lr1e-2_seed1")![10], FAIL_MSG);

    // LaTeX: the booktabs table, rows in natural order (0.001 before 0.01).
    const tex = await Deno.readTextFile(join(out, "report.tex"));
    assert.equal(tex, report.latex);
    const body = texRows(tex);
    assert.deepEqual(body.header, [
      "lr",
      "seeds",
      "val.\\ acc.\\ (\\%)",
      "test acc.\\ (\\%)",
      "spikes / sample",
    ]);
    assert.deepEqual(body.rows, [
      [
        "0.001",
        "3",
        `93.33 $\\pm$ ${(100 * g1.valStd!).toFixed(2)}`,
        "\\textbf{93.00} $\\pm$ 3.61",
        `123.5 $\\pm$ ${g1.spikesStd!.toFixed(1)}`,
      ],
      ["0.01", "1", "96.00", "80.00", "110.0"],
    ]);
    assert.match(tex, /\\begin\{tabular\}\{lrrrr\}/);
    assert.match(tex, /\\label\{tab:grid\}/);
  });
});

/** The header and body rows of a booktabs table, checked for structure. */
function texRows(tex: string): { header: string[]; rows: string[][] } {
  // Environments open and close in order; braces balance outside escapes.
  const envs: string[] = [];
  for (const m of tex.matchAll(/\\(begin|end)\{([a-z]+)\}/g)) {
    if (m[1] === "begin") envs.push(m[2]);
    else assert.equal(envs.pop(), m[2], `\\end{${m[2]}} closes the wrong environment`);
  }
  assert.deepEqual(envs, []);
  let depth = 0;
  const code = tex.split("\n").filter((l) => !l.startsWith("%")).join("\n").replace(/\\[{}]/g, "");
  for (const c of code) {
    depth += c === "{" ? 1 : c === "}" ? -1 : 0;
    assert.ok(depth >= 0, "a '}' closes nothing");
  }
  assert.equal(depth, 0, "unbalanced braces");
  const lines = tex.split("\n").map((l) => l.trim());
  const top = lines.indexOf("\\toprule"), mid = lines.indexOf("\\midrule");
  const bottom = lines.indexOf("\\bottomrule");
  assert.ok(top >= 0 && top < mid && mid < bottom, "booktabs rules in order");
  const cells = (l: string) => {
    assert.ok(l.endsWith("\\\\"), `row ends with \\\\: ${l}`);
    // Split on '&' not escaped as '\&'.
    return l.slice(0, -2).trim().split(/(?<!\\) & /);
  };
  assert.equal(mid - top, 2, "one header row");
  const header = cells(lines[top + 1]);
  const rows = lines.slice(mid + 1, bottom).map(cells);
  for (const r of rows) {
    const span = /^\\multicolumn\{(\d+)\}/.exec(r[0]);
    assert.equal(span ? Number(span[1]) : r.length, header.length, `row ${r.join(" | ")}`);
  }
  return { header, rows };
}

Deno.test("report: untrusted ids, errors and architectures are escaped everywhere", async () => {
  await withTempDir(async (root) => {
    const evilId = "<img src=x onerror=alert(1)>_*x*|`";
    const evilArch = "<b>16C3</b>-100F & 5% {x}_y";
    const evilError = "</script><script>window.__pwned = 1</script>";
    await writeRun(root, {
      id: evilId,
      lr: 1e-3,
      seed: 0,
      state: "done",
      results: result(0.9, 0.9),
      metrics: [epoch(1, 0.9, 0.9)],
      settings: { arch: evilArch },
      grid: { arch: evilArch, seed: 0 },
    });
    await writeRun(root, {
      id: "plain",
      lr: 1e-3,
      seed: 0,
      state: "failed",
      error: evilError,
      settings: { arch: "16C3-100F" },
      grid: { arch: "16C3-100F", seed: 0 },
    });
    const report = await buildReport(root);
    // Markdown: no raw tag; the id and the architecture read back when rendered.
    assert.ok(!/(?<!\\)</.test(report.markdown), "an unescaped '<' in report.md");
    assert.ok(report.markdown.includes("\\<img src=x onerror=alert(1)\\>\\_\\*x\\*\\|\\`"));
    assert.ok(report.markdown.includes("\\<b\\>16C3\\</b\\>-100F \\& 5% {x}\\_y"));
    // HTML: no markup from run data anywhere (tables, JSON of the specs, scripts).
    const html = report.html;
    assert.ok(!html.includes("<img src=x"), "raw id in the HTML");
    assert.ok(!html.includes("<b>16C3"), "raw architecture in the HTML");
    assert.ok(
      !html.includes("window.__pwned = 1</script>"),
      "error message breaks out of a script",
    );
    assert.ok(html.includes("&lt;img src=x onerror=alert(1)&gt;_*x*|`"), "escaped id in the table");
    assert.ok(html.includes("&lt;b&gt;16C3&lt;/b&gt;-100F &amp; 5% {x}_y"));
    assert.ok(html.includes("&lt;/script&gt;&lt;script&gt;window.__pwned = 1&lt;/script&gt;"));
    // Script elements: exactly the three of the page.
    assert.equal((html.match(/<script\b/g) ?? []).length, 3);
    assert.equal((html.match(/<\/script>/g) ?? []).length, 3);
    // LaTeX: the architecture is a configuration setting, escaped.
    assert.ok(
      report.latex.includes(
        "\\textless{}b\\textgreater{}16C3\\textless{}/b\\textgreater{}-100F \\& 5\\% \\{x\\}\\_y &",
      ),
      report.latex,
    );
    texRows(report.latex);
    // SVGs are well-formed XML with the texts escaped.
    for (const n of FIGURE_NAMES) parseXml(report.figures[n].svg);
  });
});

Deno.test("report.html: one self-contained page with tables, figures and Vega inlined", async () => {
  await withTempDir(async (root) => {
    const report = await buildReport(await syntheticTree(root));
    const html = report.html;
    assert.match(html, /^<!DOCTYPE html>\n<html lang="en">/);
    // Nothing to fetch: every src/href is a data: URI or an in-page anchor; no <link>, no @import.
    const refs = [...html.matchAll(/\s(src|href)="([^"]*)"/g)].map((m) => m[2]);
    assert.ok(refs.length >= FIGURE_NAMES.length);
    for (const r of refs) assert.ok(/^(data:|#)/.test(r), `external reference ${r.slice(0, 60)}`);
    assert.ok(!/<link\b|@import|<iframe\b/.test(html));
    assert.ok(!/<script[^>]*\ssrc=/.test(html), "scripts are inline");
    // The Vega bundle is inline (its UMD header) and the compiled specs are parseable.
    assert.ok(html.includes('"undefined"!=typeof globalThis?globalThis:t||self).vega={}'));
    const specs = JSON.parse(
      /<script type="application\/json" id="vega-specs">(.*?)<\/script>/s.exec(html)![1],
    );
    assert.deepEqual(Object.keys(specs).sort(), [...FIGURE_NAMES].sort());
    for (const n of FIGURE_NAMES) assert.match(specs[n].$schema, /vega\/v6/);
    // Each figure: the static SVG as an image, which decodes to the written SVG.
    for (const n of FIGURE_NAMES) {
      const m = new RegExp(
        `data-figure="${n}"><img class="static" alt="[^"]*" src="data:image/svg\\+xml;base64,([^"]+)"`,
      )
        .exec(html);
      assert.ok(m, n);
      const svg = new TextDecoder().decode(Uint8Array.from(atob(m[1]), (c) => c.charCodeAt(0)));
      assert.equal(svg, report.figures[n].svg);
    }
    // Tables: the configurations (mean ± sd) and every run, with sortable numbers.
    assert.ok(html.includes('<td>lr=0.001</td><td class="num" data-value="3">3</td>'));
    assert.ok(html.includes(`data-value="${report.groups[0].testMean}">93.00 ± 3.61</td>`));
    for (const s of report.summaries) assert.ok(html.includes(`<td class="id">${s.id}</td>`), s.id);
    assert.ok(html.includes('<td class="state state-running">running</td>'));
  });
});

Deno.test("report: an empty experiment folder still writes valid files", async () => {
  await withTempDir(async (root) => {
    const report = await buildReport(root);
    assert.equal(report.runs.length, 0);
    assert.equal(report.best, null);
    for (const n of FIGURE_NAMES) parseXml(report.figures[n].svg);
    assert.deepEqual(parseCsv(report.csv).length, 1);
    assert.match(report.latex, /no finished runs/);
    texRows(report.latex);
    await writeReport(report, join(root, "out"));
  });
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

async function runTask(args: string[]) {
  const res = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../tasks/report.ts", import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: res.code,
    stdout: new TextDecoder().decode(res.stdout),
    stderr: new TextDecoder().decode(res.stderr),
  };
}

Deno.test("report task: prints the report, writes to --out; usage errors exit 2", async () => {
  await withTempDir(async (root) => {
    const expDir = await syntheticTree(root);
    const out = join(root, "o");
    const ok = await runTask([expDir, "--out", out]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /\| lr1e-3_seed1 \| done \|/);
    assert.equal(await Deno.readTextFile(join(out, "report.md")), ok.stdout.replace(/\n$/, ""));
    assert.match(ok.stderr, /report\.html/);

    const none = await runTask([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /expected one experiment folder, got 0 \(none\)/);
    const two = await runTask(["a", "b"]);
    assert.equal(two.code, 2);
    assert.match(two.stderr, /got 2 \('a', 'b'\)/);
    const unknown = await runTask([expDir, "--bogus"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /bogus/);
    const help = await runTask(["--help"]);
    assert.equal(help.code, 0);
    assert.ok(
      help.stdout.includes("deno task report runs/grid-example --out paper/figures"),
      help.stdout,
    );
    // A folder that is not there is a usage error (exit 2), naming it.
    const missing = await runTask([join(root, "nope")]);
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /got '.*nope', which does not exist/);
    assert.match(missing.stderr, /Run 'deno task report --help' for usage/);
    // So is a folder holding neither runs nor experiments, and a file.
    await Deno.mkdir(join(root, "empty"));
    const empty = await runTask([join(root, "empty")]);
    assert.equal(empty.code, 2, empty.stderr);
    assert.match(empty.stderr, /got '.*empty', which holds neither/);
    const file = await runTask([join(expDir, "lr1e-3_seed0", "run.yaml")]);
    assert.equal(file.code, 2, file.stderr);
    assert.match(file.stderr, /got the file/);
  });
});

Deno.test("report task: a runs folder (the board's argument) reports each experiment in it", async () => {
  await withTempDir(async (root) => {
    await syntheticTree(root); // root/grid
    await writeRun(join(root, "other"), {
      id: "default",
      lr: 1e-3,
      seed: 0,
      state: "done",
      results: result(0.5, 0.6),
      metrics: [epoch(1, 0.6, 0.5)],
    });
    await Deno.mkdir(join(root, "not-an-experiment"));
    const r = await runTask([root]);
    assert.equal(r.code, 0, r.stderr);
    // Each experiment's report, in its own folder.
    for (const name of ["grid", "other"]) {
      const md = await Deno.readTextFile(join(root, name, "report.md"));
      assert.match(md, new RegExp(`^# Report: ${name}$`, "m"));
      assert.match(r.stdout, new RegExp(`\\| ${name} \\|.*${join(root, name, "report.md")}`));
    }
    assert.match(r.stdout, /^# Reports: /m);
    assert.match(r.stdout, /2 experiments/);
    assert.match(r.stdout, /\| other \| 1 \| 1 done \| default \| 50\.00 \|/);
    await assert.rejects(() => Deno.stat(join(root, "not-an-experiment", "report.md")));
    await assert.rejects(() => Deno.stat(join(root, "report.md")));
    // With --out: DIR/<experiment>.
    const out = join(root, "o");
    const o = await runTask([root, "--out", out]);
    assert.equal(o.code, 0, o.stderr);
    assert.ok((await Deno.stat(join(out, "other", "report.html"))).isFile);
    assert.ok((await Deno.stat(join(out, "grid", "accuracy.svg"))).isFile);
  });
});

Deno.test("report: a folder named run.yaml is one unreadable run, not a failed report", async () => {
  await withTempDir(async (root) => {
    const expDir = await syntheticTree(root);
    await Deno.mkdir(join(expDir, "odd", "run.yaml"), { recursive: true });
    // metrics.jsonl as a folder: the run stays readable, with a warning.
    const m = await writeRun(expDir, {
      id: "lr1e-3_seed9",
      lr: 1e-3,
      seed: 9,
      state: "done",
      results: result(0.9, 0.9),
    });
    await Deno.mkdir(join(m, "metrics.jsonl"));
    const runs = await readRuns(expDir);
    const odd = runs.find((r) => r.id === "odd")!;
    assert.equal(odd.state, "invalid");
    assert.match(odd.error!, /odd\/run\.yaml': expected a file, got a folder/);
    assert.equal(odd.reason, odd.error);
    const nine = runs.find((r) => r.id === "lr1e-3_seed9")!;
    assert.equal(nine.state, "done");
    assert.match(nine.warnings.join(), /metrics\.jsonl': expected a file, got a folder/);
    const report = await buildReport(expDir);
    assert.match(report.markdown, /- odd \(invalid\): Cannot read .*expected a file, got a folder/);
    assert.match(report.markdown, /10 runs: 5 done, 1 running, 1 failed, 1 pending, 2 invalid\./);
    // The task too: exit 0, the run reported as unreadable.
    const r = await runTask([expDir, "--out", join(root, "o")]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\| odd \| invalid \|/);
  });
});

Deno.test("deno task report (deno.json's permissions): a missing folder exits 2; runs/ reports each experiment", async () => {
  await withTempDir(async (root) => {
    await syntheticTree(join(root, "runs")); // runs/grid
    await writeRun(join(root, "runs", "other"), {
      id: "default",
      lr: 1e-3,
      seed: 0,
      state: "done",
      results: result(0.5, 0.6),
      metrics: [epoch(1, 0.6, 0.5)],
    });
    const missing = await denoTask("report", ["runs/nope"], { cwd: root });
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /got 'runs\/nope', which does not exist/);
    const all = await denoTask("report", ["runs/"], { cwd: root });
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /\| grid \| 8 \|/);
    assert.match(all.stdout, /\| other \| 1 \| 1 done \|/);
    for (const name of ["grid", "other"]) {
      assert.ok((await Deno.stat(join(root, "runs", name, "report.html"))).isFile, name);
      assert.ok((await Deno.stat(join(root, "runs", name, "tradeoff-column.svg"))).isFile, name);
    }
  });
});

Deno.test("runs say why they are in their state and since when", async () => {
  await withTempDir(async (root) => {
    const base = { lr: 1e-3, seed: 0, metrics: [epoch(1, 0.5, 0.4)] };
    const started = "2026-01-02T03:04:05.000Z";
    await writeRun(root, {
      ...base,
      id: "done",
      state: "done",
      results: { ...result(0.5, 0.5), stopped: "early_stopping", wall_seconds: 90 },
      provenance: { started },
    });
    await writeRun(root, {
      ...base,
      id: "cut",
      state: "stopped",
      status: { reason: "max_epochs" },
      results: result(0.5, 0.5),
      provenance: { started },
    });
    await writeRun(root, { ...base, id: "fail", state: "failed", error: "Out of memory" });
    await writeRun(root, { ...base, id: "live", state: "running", lock: "live" });
    await writeRun(root, { ...base, id: "gone", state: "running", lock: "dead" });
    await writeRun(root, { ...base, id: "remote", state: "running", lock: "remote" });
    await Deno.mkdir(join(root, "queued"));
    await Deno.writeTextFile(join(root, "queued", "slurm-7_1.log"), "");
    const runs = Object.fromEntries((await readRuns(root)).map((r) => [r.id, r]));
    assert.equal(runs.done.reason, "early stopping: validation accuracy stopped improving");
    // Its end: started + 90 s of wall time.
    assert.equal(runs.done.since, "2026-01-02T03:05:35.000Z");
    assert.equal(runs.cut.state, "stopped");
    assert.match(
      runs.cut.reason!,
      /^cut by --max-epochs; a later run without the cut continues it/,
    );
    assert.equal(runs.fail.reason, "Out of memory");
    assert.match(
      runs.live.reason!,
      new RegExp(`^trained by pid ${Deno.pid} on ${Deno.hostname()}`),
    );
    assert.ok(Date.now() - Date.parse(runs.live.since!) < 60_000, runs.live.since!);
    assert.equal(runs.gone.state, "stopped");
    assert.match(runs.gone.reason!, /^its runner \(pid \d+ on .*\) has ended without finishing/);
    assert.equal(runs.remote.state, "running");
    assert.match(runs.remote.reason!, /^trained by pid \d+ on some-other-node/);
    assert.equal(runs.queued.state, "pending");
    assert.equal(runs.queued.reason, "no run.yaml yet: queued or starting");
  });
});
