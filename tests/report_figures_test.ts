// The report's figures: the numbers in each Vega-Lite spec against values worked
// out by hand, and the rendered SVG (legend, facets, colours, marks) and Vega
// scenegraph (marks placed at their data) as drawn.
import assert from "node:assert/strict";
import type { View } from "vega";
import { buildReport } from "../src/report/report.ts";
import {
  type BandRow,
  coincidentLines,
  distinctColors,
  legendPlan,
  lineKey,
  MAX_COLORS,
  paretoFront,
  sharedDash,
  type SpikeTimeRow,
} from "../src/report/figure_data.ts";
import { MAX_HEATMAP_CONFIGS, spikeShareDomain, type VlSpec } from "../src/report/figures.ts";
import { headlessView } from "../src/report/vega.ts";
import { all, groups, parseXml, textsOf, type XmlElement } from "./_parse.ts";
import {
  epoch,
  GRID,
  hist,
  largeGrid,
  layer,
  result,
  subsetGrid,
  syntheticTree,
  withTempDir,
  writeRun,
} from "./_runs.ts";

const close = (a: number | null, b: number | null, tol = 1e-9) =>
  a === null || b === null ? a === b : Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

function values<T>(spec: VlSpec): T[] {
  return ((spec.data as { values: T[] }).values);
}

function band(rows: BandRow[], config: string, series: string) {
  return rows.filter((r) => r.config === config && r.series === series).map((r) => ({
    epoch: r.epoch,
    mean: r.mean,
    sd: r.sd,
    n: r.n,
  }));
}

function assertBand(
  got: { epoch: number; mean: number; sd: number | null; n: number }[],
  want: [number, number, number | null, number][],
  what: string,
) {
  assert.equal(got.length, want.length, `${what}: epochs`);
  want.forEach(([e, mean, sd, n], i) => {
    assert.equal(got[i].epoch, e, `${what}: epoch`);
    assert.ok(
      close(got[i].mean, mean),
      `${what} epoch ${e}: mean ${got[i].mean}, expected ${mean}`,
    );
    assert.ok(close(got[i].sd, sd), `${what} epoch ${e}: sd ${got[i].sd}, expected ${sd}`);
    assert.equal(got[i].n, n, `${what} epoch ${e}: n`);
  });
}

/** A text element's text, its lines (tspans) joined by ", ". */
function fullText(el: XmlElement): string {
  const lines = el.children.filter((c) => c.name === "tspan").map((c) => c.text);
  return lines.length > 0 ? lines.join(", ") : el.text;
}

/** Every text of the `<text>` elements under `el`. */
function textsIn(el: XmlElement): string[] {
  return all(el, (e) => e.name === "text").map(fullText);
}

/** The title groups of wrapped panels: titles outside any row or column header. */
function cellTitles(el: XmlElement, out: XmlElement[] = []): XmlElement[] {
  const cls = (el.attrs.get("class") ?? "").split(/\s+/);
  if (cls.includes("role-row-header") || cls.includes("role-column-header")) return out;
  if (el.name === "g" && cls.includes("role-title-text")) out.push(el);
  for (const c of el.children) cellTitles(c, out);
  return out;
}

/** Legend labels, facet headers and mark groups of a rendered SVG. */
function svgParts(svg: string) {
  const root = parseXml(svg);
  assert.equal(root.name, "svg");
  const marks = (cls: string) => groups(root, cls);
  const paths = (gs: XmlElement[]) =>
    gs.flatMap((g) => g.children.filter((c) => c.name === "path"));
  return {
    legend: marks("role-legend-label").flatMap(textsOf),
    // Panel names: a grid's column headers, or the titles of wrapped panels (the row
    // header also holds the axes).
    columns: [
      ...marks("role-column-header").flatMap((g) => groups(g, "role-title-text")),
      ...cellTitles(root),
    ].flatMap(textsIn),
    rows: marks("role-row-header").flatMap((g) => groups(g, "role-title-text")).flatMap(textsIn),
    lines: paths(marks("mark-line").filter((g) => g.attrs.get("class")!.includes("role-mark"))),
    symbols: paths(
      marks("mark-symbol").filter((g) => g.attrs.get("class")!.includes("role-mark")),
    ),
    texts: marks("role-mark").filter((g) => g.attrs.get("class")!.includes("mark-text"))
      .flatMap(textsOf),
  };
}

interface SceneMark {
  marktype: string;
  role: string;
  items: SceneItem[];
}
interface SceneItem {
  datum?: Record<string, unknown>;
  x?: number;
  y?: number;
  items?: SceneMark[];
}

/** Every mark of a Vega scenegraph with the given type and role "mark". */
function sceneMarks(view: View, marktype: string): SceneMark[] {
  const out: SceneMark[] = [];
  const walk = (node: SceneMark | SceneItem) => {
    if ("marktype" in node) {
      if (node.marktype === marktype && node.role === "mark") out.push(node);
      for (const it of node.items) walk(it);
    } else {
      for (const m of node.items ?? []) walk(m);
    }
  };
  walk((view.scenegraph() as unknown as { root: SceneMark }).root);
  return out;
}

/** In every mark (one facet cell), y must be one decreasing linear function of `field`. */
function assertLinearY(view: View, marktype: string, field: string) {
  let checked = 0;
  for (const mark of sceneMarks(view, marktype)) {
    const pts = mark.items.filter((i) => i.datum && typeof i.datum[field] === "number")
      .map((i) => ({ v: i.datum![field] as number, y: i.y as number }));
    if (pts.length < 2) continue;
    const lo = pts.reduce((a, b) => (b.v < a.v ? b : a)),
      hi = pts.reduce((a, b) => (b.v > a.v ? b : a));
    if (hi.v === lo.v) continue;
    const slope = (hi.y - lo.y) / (hi.v - lo.v);
    assert.ok(slope < 0, "larger values are drawn higher");
    for (const p of pts) {
      assert.ok(Math.abs(lo.y + slope * (p.v - lo.v) - p.y) < 1e-6, `point ${p.v} at y ${p.y}`);
      checked++;
    }
  }
  assert.ok(checked > 0, "no points checked");
}

Deno.test("figures: accuracy, loss, lr and firing are means ± sd over seeds, per epoch", async () => {
  await withTempDir(async (root) => {
    const report = await buildReport(await syntheticTree(root));
    const { plan } = report;
    assert.deepEqual(plan.colorDomain, ["lr=0.001", "lr=0.01"]);
    assert.equal(new Set(plan.colorRange).size, 2);

    // Accuracy (%). lr=0.001: only seed 1 has metrics. lr=0.01: seed 0 (done) and seed 2
    // (running); the failed seed 1 does not count. Validation at epoch 2: 96 and 60, mean
    // 78, deviations ±18, sample sd sqrt(2 * 18^2 / 1) = 25.456; test: 80 and 55, mean 67.5,
    // sd sqrt(2 * 12.5^2) = 17.678.
    const acc = values<BandRow>(report.figures.accuracy.spec);
    assertBand(band(acc, "lr=0.001", "validation"), [[1, 90, null, 1], [2, 95, null, 1], [
      3,
      94,
      null,
      1,
    ]], "val 1e-3");
    assertBand(band(acc, "lr=0.001", "test"), [[1, 88, null, 1], [2, 92, null, 1], [
      3,
      93,
      null,
      1,
    ]], "test 1e-3");
    assertBand(
      band(acc, "lr=0.01", "validation"),
      [[1, 50, 0, 2], [2, 78, 18 * Math.SQRT2, 2], [3, 90, null, 1]],
      "val 1e-2",
    );
    assertBand(
      band(acc, "lr=0.01", "test"),
      [[1, 45, 0, 2], [2, 67.5, 12.5 * Math.SQRT2, 2], [3, 82, null, 1]],
      "test 1e-2",
    );
    for (const r of acc) {
      assert.ok(close(r.lo, r.mean - (r.sd ?? 0)) && close(r.hi, r.mean + (r.sd ?? 0)));
    }
    // Loss: training 1/e, validation 2/e in every run.
    const loss = values<BandRow>(report.figures.loss.spec);
    assertBand(band(loss, "lr=0.01", "training"), [[1, 1, 0, 2], [2, 0.5, 0, 2], [
      3,
      1 / 3,
      null,
      1,
    ]], "train loss");
    assertBand(band(loss, "lr=0.01", "validation"), [[1, 2, 0, 2], [2, 1, 0, 2], [
      3,
      2 / 3,
      null,
      1,
    ]], "val loss");
    assert.deepEqual([...new Set(loss.map((r) => r.series))], ["training", "validation"]);
    // Learning rate per epoch.
    const lr = values<BandRow>(report.figures.lr.spec);
    assertBand(band(lr, "lr=0.001", "learning rate"), [[1, 1e-3, null, 1], [2, 1e-3, null, 1], [
      3,
      1e-3,
      null,
      1,
    ]], "lr");
    // Firing (%): layer 0 fires 0.2 * epoch, except seed 0's epoch 2 (0.3): 30 and 40.
    const firing = values<BandRow>(report.figures.firing.spec);
    assertBand(
      band(firing, "lr=0.01", "layer 0: 16C3"),
      [[1, 20, 0, 2], [2, 35, 5 * Math.SQRT2, 2], [3, 60, null, 1]],
      "firing L0",
    );
    assertBand(
      band(firing, "lr=0.01", "layer 1: 100F"),
      [[1, 10, 0, 2], [2, 12.5, 7.5 * Math.SQRT2, 2], [3, 30, null, 1]],
      "firing L1",
    );

    // Rendered: one legend entry per configuration in natural order, the two splits as
    // columns, one point per configuration, split and epoch, each colour its own.
    const svg = svgParts(report.figures.accuracy.svg);
    assert.deepEqual(svg.legend, ["lr=0.001", "lr=0.01"]);
    assert.deepEqual(svg.columns, ["validation", "test"]);
    assert.equal(svg.symbols.length, acc.length);
    const fills = svg.symbols.map((p) => p.attrs.get("fill"));
    assert.equal(fills.filter((f) => f === plan.colorRange[0]).length, 6);
    assert.equal(fills.filter((f) => f === plan.colorRange[1]).length, 6);
    assert.equal(svg.lines.length, 4, "a line per configuration and split");
    // And each point sits at its mean on the panel's scale.
    const view = await headlessView(report.figures.accuracy.spec);
    try {
      assertLinearY(view, "symbol", "mean");
    } finally {
      view.finalize();
    }
    assert.deepEqual(svgParts(report.figures.firing.svg).columns, [
      "layer 0: 16C3",
      "layer 1: 100F",
    ]);
    assert.deepEqual(svgParts(report.figures.loss.svg).columns, ["training", "validation"]);
  });
});

Deno.test("figures: spike times pool seeds' histograms; the silent share is 100 % - firing", async () => {
  await withTempDir(async (root) => {
    const report = await buildReport(await syntheticTree(root));
    const rows = values<SpikeTimeRow>(report.figures.spike_times.spec);
    const cell = (config: string, l: string, e: number) =>
      rows.filter((r) => r.config === config && r.layer === l && r.epoch === e);
    // lr=0.01, epoch 2, layer 0: seed 0 has 8 spikes in bin 0, seed 2 has 2: all in bin 0.
    const c0 = cell("lr=0.01", "layer 0: 16C3", 2);
    assert.equal(c0.length, 17, "16 bins and the silent column");
    assert.deepEqual(c0.slice(0, 16).map((r) => r.share), [100, ...Array(15).fill(0)]);
    assert.deepEqual(c0.slice(0, 16).map((r) => r.spikes), [10, ...Array(15).fill(0)]);
    // Firing 0.3 and 0.4: 35 % fired, 65 % silent.
    assert.equal(c0[16].column, "silent");
    assert.ok(close(c0[16].silent, 65));
    assert.equal(c0[16].n, 2);
    // Layer 1: seed 0 has 2 + 2 spikes in bins 3 and 4, seed 2 one in bin 15: 40 %, 40 %, 20 %.
    const c1 = cell("lr=0.01", "layer 1: 100F", 2);
    const shares = c1.slice(0, 16).map((r) => r.share!);
    assert.ok(close(shares[3], 40) && close(shares[4], 40) && close(shares[15], 20));
    assert.ok(close(shares.reduce((a, b) => a + b, 0), 100));
    // Firing 0.05 and 0.2: 87.5 % silent.
    assert.ok(close(c1[16].silent, 87.5));
    // Bins cover [0, t_win = 1] in sixteenths.
    assert.deepEqual([c1[4].t0, c1[4].t1], [0.25, 0.3125]);
    assert.equal(c1[4].column, "0.25");
    // Every epoch of both configurations, both layers.
    assert.deepEqual(
      [...new Set(rows.map((r) => `${r.config} ${r.layer} ${r.epoch}`))].length,
      2 * 2 * 3,
    );
    // Rendered: layers as rows, configurations as columns, the silent share written in.
    const svg = svgParts(report.figures.spike_times.svg);
    // Row headers: the layer over its token.
    assert.deepEqual(svg.rows, ["layer 0, 16C3", "layer 1, 100F"]);
    assert.deepEqual(svg.columns, ["lr=0.001", "lr=0.01"]);
    assert.ok(svg.texts.includes("65") && svg.texts.includes("88"), svg.texts.join(" "));
  });
});

Deno.test("figures: an 18-run grid has 6 readable configurations, numeric order, a Pareto front", async () => {
  await withTempDir(async (root) => {
    const report = await buildReport(await largeGrid(root));
    assert.deepEqual(report.runs.map((r) => r.id).slice(0, 7), [
      "lr1e-4_seed0",
      "lr1e-4_seed1",
      "lr1e-4_seed2",
      "lr3e-4_seed0",
      "lr3e-4_seed1",
      "lr3e-4_seed2",
      "lr1e-3_seed0",
    ]);
    assert.deepEqual(report.runs.map((r) => r.id).slice(-3), [
      "lr0.03_seed0",
      "lr0.03_seed1",
      "lr0.03_seed2",
    ]);
    const labels = ["lr=0.0001", "lr=0.0003", "lr=0.001", "lr=0.003", "lr=0.01", "lr=0.03"];
    assert.deepEqual(report.plan.colorDomain, labels);
    assert.equal(new Set(report.plan.colorRange).size, 6, "no two configurations share a colour");

    // Accuracy: 6 legend entries (not 36), 6 colours, a line per configuration and split.
    const acc = svgParts(report.figures.accuracy.svg);
    assert.deepEqual(acc.legend, labels);
    assert.equal(acc.lines.length, 12);
    assert.equal(new Set(acc.lines.map((l) => l.attrs.get("stroke"))).size, 6);
    // Seeds grouped: epoch 2 validation of lr=0.01 is 89, 90, 91: mean 90, sd 1.
    const rows = values<BandRow>(report.figures.accuracy.spec);
    const r = rows.find((x) =>
      x.config === "lr=0.01" && x.series === "validation" && x.epoch === 2
    )!;
    assert.ok(close(r.mean, 90) && close(r.sd, 1) && r.n === 3, JSON.stringify(r));

    // Trade-off: seeds and configurations; spikes 198, 200, 202 (sd 2), accuracy sd 1.
    const spec = report.figures.tradeoff.spec as {
      datasets: Record<string, Record<string, unknown>[]>;
    };
    assert.equal(spec.datasets.runs.length, 18);
    const configs = spec.datasets.configs;
    assert.deepEqual(configs.map((c) => c.config), labels);
    for (const [i, [, , acc, spikes]] of GRID.entries()) {
      assert.ok(close(configs[i].acc as number, acc), `${labels[i]} accuracy`);
      assert.ok(close(configs[i].spikes as number, spikes), `${labels[i]} spikes`);
      assert.ok(close(configs[i].accSd as number, 1) && close(configs[i].spikesSd as number, 2));
    }
    // The front by hand: 0.03 (50 spikes), 1e-4 (100), 3e-3 (110), 1e-2 (200); 3e-4 and
    // 1e-3 have fewer correct answers than 3e-3 for more spikes.
    const front = ["lr=0.03", "lr=0.0001", "lr=0.003", "lr=0.01"];
    assert.deepEqual(spec.datasets.front.map((c) => c.config), front);
    assert.deepEqual(
      configs.filter((c) => c.pareto).map((c) => c.config).sort(),
      [...front].sort(),
    );
    const t = svgParts(report.figures.tradeoff.svg);
    assert.deepEqual([...t.texts].sort(), [...front].sort(), "the front is labelled");
    assert.deepEqual(t.legend, labels);
    // Seeds (18), configurations (6) and rings round the front (4).
    assert.equal(t.symbols.length, 18 + 6 + 4);
    // The rings are the unfilled symbols.
    const rings = t.symbols.filter((s) => !s.attrs.has("fill"));
    assert.equal(rings.length, 4);
    assert.ok(rings.every((s) => s.attrs.get("stroke") === "#111"));
    const view = await headlessView(report.figures.tradeoff.spec);
    try {
      assertLinearY(view, "symbol", "acc");
    } finally {
      view.finalize();
    }

    // Spike times: the best 4 (a page) or 2 (a column) by mean test accuracy, in natural order.
    assert.deepEqual(svgParts(report.figures.spike_times.svg).columns, [
      "lr=0.0003",
      "lr=0.001",
      "lr=0.003",
      "lr=0.01",
    ]);
    assert.deepEqual(svgParts(report.columnFigures.spike_times.svg).columns, [
      "lr=0.003",
      "lr=0.01",
    ]);
    assert.match(report.figures.spike_times.caption, /the best 4 of 6 configurations/);
    // The LaTeX table lists them in natural order too.
    const texLines = report.latex.split("\n").filter((l) => /^\s+0\.0/.test(l)).map((l) =>
      l.trim().split(" & ")[0]
    );
    assert.deepEqual(texLines, ["0.0001", "0.0003", "0.001", "0.003", "0.01", "0.03"]);
  });
});

Deno.test("figures: past 10 configurations, colour shows the first grid key and rows the rest", async () => {
  await withTempDir(async (root) => {
    const lrs = [1e-4, 1e-3, 1e-2, 0.1], sizes = [64, 8, 16];
    for (const lr of lrs) {
      for (const bs of sizes) {
        await writeRun(root, {
          id: `lr${lr}_batch_size${bs}`,
          lr,
          seed: 0,
          state: "done",
          results: result(0.8, 0.8),
          metrics: [epoch(1, 0.8, 0.8)],
          settings: { batch_size: bs },
          grid: { lr, batch_size: bs },
        });
      }
    }
    const report = await buildReport(root);
    assert.equal(report.groups.length, 12);
    assert.ok(report.groups.length > MAX_COLORS);
    const plan = report.plan;
    assert.deepEqual(plan.colorDomain, ["lr=0.0001", "lr=0.001", "lr=0.01", "lr=0.1"]);
    assert.equal(plan.colorTitle, "lr");
    assert.deepEqual(plan.restDomain, ["batch_size=8", "batch_size=16", "batch_size=64"]);
    const svg = svgParts(report.figures.accuracy.svg);
    assert.deepEqual(svg.legend, plan.colorDomain);
    assert.deepEqual(svg.rows, plan.restDomain);
    // Spike times: the best 4 of 12, with the caption saying so.
    assert.match(
      report.figures.spike_times.caption,
      new RegExp(`best ${MAX_HEATMAP_CONFIGS.page} of 12 configurations`),
    );
    assert.equal(
      svgParts(report.figures.spike_times.svg).columns.length,
      MAX_HEATMAP_CONFIGS.page,
    );
  });
});

Deno.test("figures: legend plan and colours by hand", () => {
  for (const n of [1, 2, 10, 11, 20, 21, 36, 100]) {
    const c = distinctColors(n);
    assert.equal(c.length, n);
    assert.equal(new Set(c).size, n, `${n} colours`);
    for (const x of c) assert.match(x, /^#[0-9a-f]{6}$/);
  }
  assert.deepEqual(legendPlan([]).colorDomain, []);
});

Deno.test("figures: Pareto front keeps ties and drops dominated points", () => {
  // Few spikes and high accuracy are good.
  assert.deepEqual(paretoFront([]), []);
  assert.deepEqual(paretoFront([{ x: 5, y: 1 }]), [0]);
  // Equal points are both on the front; a point equal in x but lower in y is not.
  assert.deepEqual(paretoFront([{ x: 1, y: 9 }, { x: 1, y: 9 }, { x: 1, y: 8 }]), [0, 1]);
  // Same accuracy, more spikes: dominated.
  assert.deepEqual(paretoFront([{ x: 2, y: 5 }, { x: 1, y: 5 }]), [1]);
  assert.deepEqual(
    paretoFront([{ x: 3, y: 3 }, { x: 1, y: 1 }, { x: 2, y: 2 }, { x: 2.5, y: 1.5 }]),
    [1, 2, 0],
  );
});

Deno.test("figures: a layer that never fired shows 100 % silent and no spikes", async () => {
  await withTempDir(async (root) => {
    await writeRun(root, {
      id: "quiet",
      lr: 1e-3,
      seed: 0,
      state: "done",
      results: result(0.1, 0.1),
      metrics: [epoch(1, 0.1, 0.1, { layers: [layer(0, "8C3", 0, hist({}))] })],
    });
    const report = await buildReport(root);
    const rows = values<SpikeTimeRow>(report.figures.spike_times.spec);
    assert.equal(rows.length, 17);
    assert.ok(rows.slice(0, 16).every((r) => r.share === 0 && r.spikes === 0));
    assert.equal(rows[16].silent, 100);
    assert.ok(svgParts(report.figures.spike_times.svg).texts.includes("100"));
  });
});

Deno.test("figures: long runs draw plain lines and a sample of epochs in the heatmap", async () => {
  await withTempDir(async (root) => {
    await writeRun(root, {
      id: "long",
      lr: 1e-3,
      seed: 0,
      state: "done",
      results: result(0.9, 0.9),
      metrics: Array.from({ length: 100 }, (_, i) => epoch(i + 1, 0.5, 0.5)),
    });
    const report = await buildReport(root);
    const rows = values<SpikeTimeRow>(report.figures.spike_times.spec);
    const epochs = [...new Set(rows.map((r) => r.epoch))];
    assert.equal(epochs.length, 40);
    assert.equal(epochs[0], 1);
    assert.equal(epochs[epochs.length - 1], 100);
    assert.match(report.figures.spike_times.caption, /40 of 100 epochs/);
    // 100 epochs: the accuracy lines carry no per-epoch markers, but every epoch's value.
    const acc = svgParts(report.figures.accuracy.svg);
    assert.equal(acc.symbols.length, 0);
    assert.equal(acc.lines.length, 2);
    assert.equal(values<BandRow>(report.figures.accuracy.spec).length, 200);
  });
});

/** Every text of an SVG (tspans joined). */
function allTexts(svg: string): string[] {
  return textsIn(parseXml(svg));
}

Deno.test("figures: no label, legend, table or caption says 'null' (train_subset: null reads 'all')", async () => {
  await withTempDir(async (root) => {
    const report = await buildReport(await subsetGrid(root));
    assert.deepEqual(report.plan.colorDomain, [
      "lr=0.001, train_subset=3000",
      "lr=0.001, train_subset=all",
      "lr=0.003, train_subset=3000",
      "lr=0.003, train_subset=all",
    ]);
    for (const set of [report.figures, report.columnFigures]) {
      for (const [name, f] of Object.entries(set)) {
        for (const t of allTexts(f.svg)) assert.ok(!/null/i.test(t), `${name}.svg: '${t}'`);
        assert.ok(!/null/i.test(f.caption), `${name} caption: ${f.caption}`);
        // The labels the spec's data carries (what a redraw would print).
        const spec = f.spec as { data?: { values?: Record<string, unknown>[] } };
        for (const row of spec.data?.values ?? []) {
          for (const k of ["config", "color", "rest", "series", "layer"]) {
            if (typeof row[k] === "string") {
              assert.ok(!/null/i.test(row[k] as string), `${k}: ${row[k]}`);
            }
          }
        }
      }
    }
    assert.ok(allTexts(report.figures.accuracy.svg).includes("lr=0.001, train_subset=all"));
    // The LaTeX table's column reads 'all'; the markdown and HTML tables too (run ids
    // are the runner's folder names and stay as they are).
    assert.ok(!/null/i.test(report.latex), report.latex);
    assert.match(report.latex, /^\s+0\.001 & all & 2 &/m);
    let md = report.markdown, html = report.html;
    for (const r of report.runs) {
      md = md.replaceAll(r.id, "");
      html = html.replaceAll(r.id, "");
    }
    assert.ok(!/null/i.test(md), md);
    // (Vega's bundle in the page says null; the tables and captions must not.)
    const body = html.slice(0, html.indexOf('<script type="application/json"'));
    assert.ok(!/null/i.test(body), "'null' in report.html's tables or captions");
  });
});

Deno.test("figures: spike times on a log colour scale from the rarest bin to the fullest", async () => {
  await withTempDir(async (root) => {
    const report = await buildReport(await subsetGrid(root));
    for (const f of [report.figures.spike_times, report.columnFigures.spike_times]) {
      // Shares: 9000, 900, 90, 9, 1 of 10000 spikes: 90 %, 9 %, 0.9 %, 0.09 %, 0.01 %.
      const spec = f.spec as { spec: { layer: { encoding: Record<string, any> }[] } };
      const scale = spec.spec.layer[0].encoding.color.scale;
      assert.equal(scale.type, "log");
      assert.ok(close(scale.domain[0], 0.01) && close(scale.domain[1], 90), scale.domain);
      assert.equal(scale.clamp, true);
      // One layer, 4 epochs, per configuration: five cells per epoch drawn (empty bins
      // stay white), their colours spread over the whole scheme: the 0.9 % bin, the middle
      // of the scale in logs, is far from both ends (a linear or square-root scale would
      // paint it as dark as the 0.01 % one).
      const shown = f === report.figures.spike_times ? 4 : 2;
      const cells = groups(parseXml(f.svg), "mark-rect")
        .filter((g) => g.attrs.get("class")!.includes("child_layer_0_marks"))
        .flatMap((g) => g.children);
      assert.equal(cells.length, 5 * 4 * shown);
      const lum = (fill: string) => {
        const [r, g, b] = /rgb\((\d+), (\d+), (\d+)\)/.exec(fill)!.slice(1).map(Number);
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
      };
      const byShare = new Map<number, number>();
      for (const c of cells) {
        const share = Number(
          /spikes in bin \(%\): ([\d.e-]+)/.exec(c.attrs.get("aria-label")!)![1],
        );
        byShare.set(Number(share.toPrecision(3)), lum(c.attrs.get("fill")!));
      }
      assert.deepEqual([...byShare.keys()].sort((a, b) => a - b), [0.01, 0.09, 0.9, 9, 90]);
      const ls = [0.01, 0.09, 0.9, 9, 90].map((k) => byShare.get(k)!);
      for (let i = 1; i < ls.length; i++) {
        assert.ok(ls[i] > ls[i - 1], `lighter with more spikes: ${ls}`);
      }
      const mid = (ls[2] - ls[0]) / (ls[4] - ls[0]);
      assert.ok(mid > 0.25 && mid < 0.75, `the 0.9 % bin sits ${mid} of the way`);
    }
    assert.deepEqual(spikeShareDomain([{ share: 1e-6 }, { share: 50 }, { share: 0 }]), [0.005, 50]);
    assert.deepEqual(spikeShareDomain([{ share: 0 }, { share: null }]), [0.01, 100]);
  });
});

Deno.test("figures: coinciding lines take turns in dashes; their markers nest", async () => {
  await withTempDir(async (root) => {
    const report = await buildReport(await subsetGrid(root));
    for (
      const [size, f] of [["page", report.figures.lr], ["column", report.columnFigures.lr]] as const
    ) {
      // Both lr=0.001 configurations follow one schedule, and both lr=0.003 ones.
      const rows = values<Record<string, any>>(f.spec);
      const byConfig = new Map(rows.map((r) => [r.config, r]));
      const big = size === "page" ? 18 : 13;
      for (
        const [config, dash, mark] of [
          ["lr=0.001, train_subset=3000", [4, 4], big],
          ["lr=0.001, train_subset=all", [0, 4, 4, 0], big * Math.pow(0.5, 1.5)],
          ["lr=0.003, train_subset=3000", [4, 4], big],
          ["lr=0.003, train_subset=all", [0, 4, 4, 0], big * Math.pow(0.5, 1.5)],
        ] as const
      ) {
        assert.deepEqual(byConfig.get(config)!.dash, dash, config);
        assert.ok(close(byConfig.get(config)!.markSize, mark), `${config} marker`);
      }
      // Drawn: each line's dashes are its own, so both colours show along the shared line.
      const lines = svgParts(f.svg).lines;
      assert.equal(lines.length, 4);
      assert.deepEqual(lines.map((l) => l.attrs.get("stroke-dasharray")).sort(), [
        "0,4,4,0",
        "0,4,4,0",
        "4,4",
        "4,4",
      ]);
      assert.equal(new Set(lines.map((l) => l.attrs.get("stroke"))).size, 4);
    }
    // Lines apart from each other stay solid.
    const acc = svgParts(report.figures.accuracy.svg).lines;
    assert.ok(acc.every((l) => !l.attrs.get("stroke-dasharray")), "solid accuracy lines");
  });
});

Deno.test("figures: coincidence is within 0.4 % of a panel's range, per panel, transitive", () => {
  const row = (config: string, series: string, epoch: number, mean: number): BandRow => ({
    config,
    color: config,
    rest: "",
    series,
    epoch,
    mean,
    sd: null,
    lo: mean,
    hi: mean,
    n: 1,
  });
  // Range 0..100: a and b differ by 0.3 (coincide), b and c by 0.3 (so a, b, c are one
  // class), d by 1 (apart); in another panel the same configurations differ.
  const rows = [
    ...[1, 2].flatMap((e) => [
      row("a", "s", e, 0 + e),
      row("b", "s", e, 0.3 + e),
      row("c", "s", e, 0.6 + e),
      row("d", "s", e, 1.6 + e),
      row("z", "s", e, 100),
    ]),
    row("a", "t", 1, 1),
    row("b", "t", 1, 50),
  ];
  const places = coincidentLines(rows, ["a", "b", "c", "d", "z"]);
  const at = (config: string, series = "s") => places.get(lineKey({ series, rest: "", config }));
  assert.deepEqual([at("a"), at("b"), at("c")], [
    { index: 0, count: 3 },
    { index: 1, count: 3 },
    { index: 2, count: 3 },
  ]);
  assert.deepEqual(at("d"), { index: 0, count: 1 });
  assert.deepEqual([at("a", "t"), at("b", "t")], [{ index: 0, count: 1 }, { index: 0, count: 1 }]);
  assert.deepEqual(sharedDash({ index: 0, count: 1 }, 4), []);
});

Deno.test("figures: overlapping bands of 3+ configurations become error bars nudged apart", async () => {
  await withTempDir(async (root) => {
    const report = await buildReport(await subsetGrid(root));
    for (
      const [size, f] of [
        ["page", report.figures.firing],
        ["column", report.columnFigures.firing],
      ] as const
    ) {
      const spec = f.spec as { spec: { layer: { mark: { type: string } }[] } };
      const marks = spec.spec.layer.map((l) => l.mark.type);
      assert.deepEqual(marks, ["rule", "line", "point"], size);
      // Four configurations, 0.12 epoch apart, centred on the epoch.
      const rows = values<Record<string, any>>(f.spec);
      const order = report.plan.colorDomain;
      for (const r of rows) {
        const i = order.indexOf(r.config);
        assert.ok(close(r.x, r.epoch + (i - 1.5) * 0.12), `${r.config} epoch ${r.epoch}: x ${r.x}`);
        // 45 % and 55 % (plus a nudge per configuration): sd sqrt(2 * 5^2) = 7.07.
        assert.ok(close(r.sd, 5 * Math.SQRT2, 1e-6), String(r.sd));
      }
      // Drawn: a bar per configuration and epoch, no band.
      const root = parseXml(f.svg);
      const rules = groups(root, "mark-rule").filter((g) =>
        g.attrs.get("class")!.includes("role-mark")
      )
        .flatMap((g) => g.children);
      assert.equal(rules.length, 4 * 4);
      assert.equal(groups(root, "mark-area").length, 0);
      assert.match(f.caption, /Error bars \(± sd over seeds\) are nudged sideways/);
    }
    // Accuracy's bands are apart: bands stay.
    const acc = report.figures.accuracy.spec as { spec: { layer: { mark: { type: string } }[] } };
    assert.equal(acc.spec.layer[0].mark.type, "area");
    assert.match(report.figures.accuracy.caption, /Shaded: ± sd over seeds/);
  });
});

Deno.test("figures: sized in points for a page (486 pt) and a column (234 pt), 8 and 9 pt text", async () => {
  await withTempDir(async (root) => {
    for (
      const expDir of [await subsetGrid(root), await syntheticTree(root), await largeGrid(root)]
    ) {
      const report = await buildReport(expDir);
      for (
        const [size, set] of [["page", report.figures], ["column", report.columnFigures]] as const
      ) {
        for (const [name, f] of Object.entries(set)) {
          const svg = parseXml(f.svg);
          const w = svg.attrs.get("width")!, h = svg.attrs.get("height")!;
          assert.match(w, /^[\d.]+pt$/, `${name}: width in points`);
          const target = size === "page" ? 486 : 234;
          assert.ok(
            Math.abs(parseFloat(w) - target) <= 1,
            `${size} ${name}: ${w}, expected ${target}pt`,
          );
          // Not a sliver or a tower: a figure fits on its page.
          assert.ok(parseFloat(h) >= 40 && parseFloat(h) <= 700, `${size} ${name}: height ${h}`);
          const sizes = all(svg, (e) => e.name === "text").map((e) =>
            parseFloat(e.attrs.get("font-size") ?? "NaN")
          );
          assert.ok(sizes.length > 0);
          for (const s of sizes) assert.ok(s >= 5 && s <= 9, `${size} ${name}: a ${s}px font`);
          for (const e of all(svg, (e) => e.name === "text")) {
            assert.match(e.attrs.get("font-family") ?? "", /^Helvetica, Arial/, `${name}: font`);
          }
          // No title: the caption says what the figure shows.
          assert.equal(
            groups(svg, "role-title").filter((g) =>
              textsIn(g).some((t) => /per epoch|against/.test(t))
            ).length,
            0,
          );
        }
      }
      await Deno.remove(expDir, { recursive: true });
    }
  });
});
