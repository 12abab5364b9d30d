// The board and report.html in a real browser (headless Chromium): figures
// render, the board shows a new epoch appended to metrics.jsonl without a
// reload, report.html works with the network off. Screenshots go to
// test-output/ (or $FIRSTSPIKE_TEST_OUTPUT). Skipped, saying why, where
// Chromium cannot start.
import assert from "node:assert/strict";
import { basename, dirname, join } from "node:path";
import { buildReport, writeReport } from "../src/report/report.ts";
import { FIGURE_NAMES, FIGURE_SIZES, FIGURE_WIDTH, figureFile } from "../src/report/figures.ts";
import { FIGURE_FONT, textWidth } from "../src/report/text_metrics.ts";
import { Browser, chromiumProblem, findChromium, type Page, pngSize } from "./_cdp.ts";
import { startTask } from "./_task.ts";
import {
  epoch,
  largeGrid,
  result,
  type RunSpec,
  subsetGrid,
  syntheticTree,
  withTempDir,
  writeRun,
  writeRun as writeRunAs,
} from "./_runs.ts";

const problem = await chromiumProblem();
if (problem) console.warn(`board_browser_test: skipped: ${problem}`);

const OUT = Deno.env.get("FIRSTSPIKE_TEST_OUTPUT") ??
  new URL("../test-output", import.meta.url).pathname;

async function saveScreenshot(name: string, png: Uint8Array): Promise<string> {
  const path = join(OUT, name);
  await Deno.mkdir(dirname(path), { recursive: true });
  await Deno.writeFile(path, png);
  return path;
}

/** An expression giving the texts of a table row's cells named by `cols` (ids without break hints). */
function cellsOf(key: string, cols: string[]): string {
  return `${JSON.stringify(cols)}.map((c) => {
    const td = document.querySelector("tr[data-key='${key}'] td[data-col=" + c + "]");
    if (!td) return null;
    const badge = td.querySelector(".badge");
    return (badge ? badge.textContent : td.textContent).replaceAll("\u200b", "");
  })`;
}

/**
 * Starts `deno task board` on a folder as a user does (deno.json's permissions,
 * from the folder above it); resolves with its URL once it listens.
 */
async function startBoard(root: string) {
  const task = startTask("board", [basename(root), "--port", "0", "--scan-ms", "500"], {
    cwd: dirname(root),
  });
  const m = await task.waitFor(/board: (http:\/\/\S+\/)/, 30000);
  return {
    url: m[1],
    async stop() {
      task.kill("SIGTERM");
      return await task.finished();
    },
  };
}

Deno.test({
  name: `board in a browser: curves render and a new epoch appears without a reload${
    problem ? ` (skipped: ${problem})` : ""
  }`,
  ignore: problem !== null,
  fn: async () => {
    await withTempDir(async (root) => {
      const runs = join(root, "runs");
      const grid = join(runs, "grid");
      await writeRun(grid, {
        id: "lr1e-3_seed0",
        lr: 1e-3,
        seed: 0,
        state: "running",
        lock: "live",
        metrics: [epoch(1, 0.5, 0.45), epoch(2, 0.6, 0.55)],
      });
      await writeRun(grid, {
        id: "lr1e-2_seed0",
        lr: 1e-2,
        seed: 0,
        state: "done",
        results: result(0.8, 0.82),
        metrics: [epoch(1, 0.7, 0.7), epoch(2, 0.82, 0.8)],
      });
      await writeRun(grid, {
        id: "lr1e-4_seed0",
        lr: 1e-4,
        seed: 0,
        state: "failed",
        error: "boom",
      });
      const board = await startBoard(runs);
      const browser = await Browser.launch((await findChromium())!);
      try {
        const page = await browser.newPage();
        await page.goto(`${board.url}?point=grid/lr1e-3_seed0&point=grid/lr1e-2_seed0`);
        await page.waitFor("globalThis.board && board.ready");
        const symbols =
          `document.querySelectorAll("#chart svg g.mark-symbol.role-mark path").length`;
        // Two points: 2 epochs x (val and test accuracy, training and val loss, spikes).
        assert.equal(await page.waitFor(`${symbols} === 20 && ${symbols}`), 20);
        const rowOf = (id: string) => cellsOf(`grid/${id}`, ["point", "state", "epochs"]);
        assert.deepEqual(await page.evaluate<string[]>(rowOf("lr1e-3_seed0")), [
          "lr1e-3_seed0",
          "running",
          "2/5",
        ]);
        assert.deepEqual((await page.evaluate<string[]>(rowOf("lr1e-4_seed0"))).slice(0, 2), [
          "lr1e-4_seed0",
          "failed",
        ]);
        // The facets and the legend are drawn.
        const texts = await page.evaluate<string[]>(
          `[...document.querySelectorAll("#chart svg text")].map((t) => t.textContent)`,
        );
        for (
          const t of ["accuracy (%)", "loss", "spikes per sample", "lr1e-3_seed0", "lr1e-2_seed0"]
        ) {
          assert.ok(texts.includes(t), `'${t}' in the chart`);
        }
        // A new epoch, appended as the trainer would; the page must not reload.
        await page.evaluate("globalThis.__sameDocument = 42");
        const updates = await page.evaluate<number>("board.updates");
        await Deno.writeTextFile(
          join(grid, "lr1e-3_seed0", "metrics.jsonl"),
          JSON.stringify(epoch(3, 0.7, 0.66)) + "\n",
          { append: true },
        );
        assert.equal(await page.waitFor(`${symbols} === 25 && ${symbols}`, 15000), 25);
        await page.waitFor(`${rowOf("lr1e-3_seed0")}[2] === "3/5"`);
        assert.equal(await page.evaluate("globalThis.__sameDocument"), 42, "the page reloaded");
        assert.ok((await page.evaluate<number>("board.updates")) > updates);
        // The new epoch is in the chart's data: test accuracy 66 % at epoch 3.
        const e3 = await page.evaluate<number[]>(
          `board.view.data("rows").filter((r) => r.epoch === 3 && r.series === "test").map((r) => r.value)`,
        );
        assert.equal(e3.length, 1);
        assert.ok(Math.abs(e3[0] - 66) < 1e-9);
        assert.deepEqual(page.errors, [], "errors in the page");
        // Only the board was asked for anything.
        for (const u of page.requests) assert.ok(u.startsWith(board.url), u);
        const png = await page.screenshot();
        const size = pngSize(png);
        assert.ok(size.width >= 800 && size.height >= 600, JSON.stringify(size));
        console.log(`board screenshot: ${await saveScreenshot("board.png", png)}`);
        // The runs folder removed under the board: the page says so, and shows it again
        // when it is back (issue #16).
        await Deno.remove(runs, { recursive: true });
        await page.waitFor(`document.querySelector("#experiments .missing")?.textContent`);
        assert.match(
          await page.evaluate<string>(
            `document.querySelector("#experiments .missing").textContent`,
          ),
          /The runs folder 'runs' does not exist \(any more\)/,
        );
        await saveScreenshot("board-missing.png", await page.screenshot());
        await writeRun(join(runs, "again"), {
          id: "back",
          lr: 1e-3,
          seed: 0,
          state: "done",
          results: result(0.5, 0.5),
          metrics: [epoch(1, 0.5, 0.5)],
        });
        await page.waitFor(`!!document.querySelector("tr[data-key='again/back']")`, 15000);
        assert.equal(await page.evaluate(`document.querySelector("#experiments .missing")`), null);
        assert.deepEqual(page.errors, [], "errors in the page");
      } finally {
        await browser.close();
        const status = await board.stop();
        assert.ok(status.code === 0 || status.code === 143, `board exit ${status.code}`);
      }
    });
  },
});

Deno.test({
  name: `report.html in a browser: interactive figures with the network off${
    problem ? ` (skipped: ${problem})` : ""
  }`,
  ignore: problem !== null,
  fn: async () => {
    await withTempDir(async (root) => {
      const expDir = await syntheticTree(root);
      await writeRun(expDir, {
        id: "lr1e-2_seed9",
        lr: 1e-2,
        seed: 9,
        state: "failed",
        error: "</script><script>globalThis.__pwned = 1</script><img src=x onerror=__pwned=2>",
      });
      const out = join(root, "out");
      await writeReport(await buildReport(expDir), out);
      const browser = await Browser.launch((await findChromium())!);
      try {
        const page = await browser.newPage();
        await page.send("Network.emulateNetworkConditions", {
          offline: true,
          latency: 0,
          downloadThroughput: -1,
          uploadThroughput: -1,
        });
        await page.goto(`file://${join(out, "report.html")}`);
        const n = FIGURE_NAMES.length;
        await page.waitFor(`document.querySelectorAll(".chart.interactive").length === ${n}`);
        // Each live figure is an SVG with its marks; the static image is hidden.
        const marks = await page.evaluate<number[]>(
          `[...document.querySelectorAll(".chart .live")].map((d) => d.querySelectorAll("svg .role-mark path, svg .role-mark text").length)`,
        );
        assert.equal(marks.length, n);
        assert.ok(marks.every((m) => m > 0), JSON.stringify(marks));
        assert.equal(
          await page.evaluate(
            `[...document.querySelectorAll("img.static")].filter((i) => getComputedStyle(i).display !== "none").length`,
          ),
          0,
        );
        // Legend entries are the configurations; clicking one highlights its lines.
        const legend = await page.evaluate<string[]>(
          `[...document.querySelectorAll("[data-figure=accuracy] .role-legend-label text")].map((t) => t.textContent)`,
        );
        assert.deepEqual(legend, ["lr=0.001", "lr=0.01"]);
        const lineOpacity =
          `[...document.querySelectorAll("[data-figure=accuracy] .mark-line.role-mark path")].map((p) => [p.getAttribute("stroke"), Number(p.getAttribute("opacity") ?? 1)])`;
        const before = await page.evaluate<[string, number][]>(lineOpacity);
        assert.equal(before.length, 4);
        assert.ok(before.every(([, o]) => o === 1));
        await page.evaluate(`(() => {
          const sym = document.querySelectorAll("[data-figure=accuracy] .role-legend-symbol path")[1];
          for (const type of ["pointerdown", "mousedown", "pointerup", "mouseup", "click"]) {
            sym.dispatchEvent(new MouseEvent(type, { bubbles: true, clientX: 1, clientY: 1 }));
          }
        })()`);
        const after = await page.waitFor<[string, number][]>(
          `(() => { const v = ${lineOpacity}; return v.some(([, o]) => o < 1) && v; })()`,
        );
        const picked = after.filter(([, o]) => o === 1).map(([c]) => c);
        assert.equal(picked.length, 2, "the two lines of lr=0.01 stay");
        assert.equal(new Set(picked).size, 1);
        assert.equal(after.filter(([, o]) => o < 0.2).length, 2, "the others fade");
        // Tables sort on a click: test accuracy, ascending, then descending.
        const order =
          `[...document.querySelectorAll("#runs tbody tr")].map((r) => r.cells[0].textContent)`;
        await page.evaluate(`document.querySelectorAll("#runs th")[5].click()`);
        const asc = await page.evaluate<string[]>(order);
        assert.deepEqual(asc.slice(0, 5), [
          "lr1e-2_seed2",
          "lr1e-2_seed0",
          "lr1e-3_seed0",
          "lr1e-3_seed1",
          "lr1e-3_seed2",
        ]);
        // Untrusted text stayed text.
        assert.equal(await page.evaluate("globalThis.__pwned ?? null"), null);
        assert.equal(await page.evaluate(`document.querySelectorAll("img[src=x]").length`), 0);
        assert.deepEqual(page.errors, [], "errors in the page");
        for (const u of page.requests) assert.match(u, /^(file|data):/, "a network request");
        const png = await page.screenshot();
        pngSize(png);
        console.log(`report screenshot: ${await saveScreenshot("report.png", png)}`);
      } finally {
        await browser.close();
      }
    });
  },
});

interface TextBox {
  text: string;
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** Opens an SVG file and returns its size (CSS px) and the boxes of its non-empty texts. */
async function svgLayout(page: Page, file: string) {
  await page.goto(`file://${file}`);
  return await page.evaluate<{ width: number; height: number; texts: TextBox[] }>(`(() => {
    const svg = document.documentElement;
    const box = svg.getBoundingClientRect();
    // Texts Vega hid (overlapping labels it dropped) have opacity 0.
    const shown = (t) => {
      for (let e = t; e && e !== svg; e = e.parentElement) {
        if (e.getAttribute("opacity") === "0") return false;
      }
      return true;
    };
    const texts = [...svg.querySelectorAll("text")]
      .filter((t) => t.textContent.trim() !== "" && shown(t))
      .map((t) => {
        const b = t.getBoundingClientRect();
        return { text: t.textContent, left: b.left, top: b.top, right: b.right, bottom: b.bottom };
      });
    return { width: box.width, height: box.height, texts };
  })()`);
}

/** A PNG of the SVG open in the page, at twice its size. */
async function svgScreenshot(page: Page, width: number, height: number): Promise<Uint8Array> {
  await page.send("Emulation.setDeviceMetricsOverride", {
    width: Math.ceil(width),
    height: Math.ceil(height),
    deviceScaleFactor: 2,
    mobile: false,
  });
  const r = await page.send("Page.captureScreenshot", {
    format: "png",
    clip: { x: 0, y: 0, width: Math.ceil(width), height: Math.ceil(height), scale: 1 },
  });
  await page.send("Emulation.clearDeviceMetricsOverride");
  return Uint8Array.from(atob(r.data), (c) => c.charCodeAt(0));
}

Deno.test({
  name: `report figures in a browser: page and column widths, every text inside and apart${
    problem ? ` (skipped: ${problem})` : ""
  }`,
  ignore: problem !== null,
  fn: async () => {
    await withTempDir(async (root) => {
      const dirs = [await subsetGrid(root), await syntheticTree(root), await largeGrid(root)];
      const browser = await Browser.launch((await findChromium())!);
      try {
        const page = await browser.newPage();
        // Helvetica's widths (the headless layout's) are what Chromium measures with the
        // figures' font (Liberation Sans here, metric-compatible with Arial and Helvetica).
        const samples = [
          "lr=0.001, train_subset=3000",
          "accuracy (%)",
          "spikes per sample",
          "layer 1: 32C3",
          "0123456789",
          "Mixed Case: mm ii ll",
          "± – ×",
        ];
        const measured = await page.evaluate<number[]>(`(() => {
          const c = document.createElement("canvas").getContext("2d");
          c.font = "80px ${FIGURE_FONT}";
          return ${JSON.stringify(samples)}.map((s) => c.measureText(s).width);
        })()`);
        samples.forEach((s, i) => {
          const ours = textWidth(s, 80);
          assert.ok(
            Math.abs(ours - measured[i]) <= 0.015 * measured[i],
            `'${s}': ${ours} here, ${measured[i]} in Chromium`,
          );
        });
        for (const dir of dirs) {
          const out = join(root, "out", basename(dir));
          await writeReport(await buildReport(dir), out);
          for (const size of FIGURE_SIZES) {
            for (const name of FIGURE_NAMES) {
              const file = figureFile(name, size);
              const where = `${basename(dir)}/${file}.svg`;
              const { width, height, texts } = await svgLayout(page, join(out, `${file}.svg`));
              // The picture first, so a failure below can be looked at.
              const png = await svgScreenshot(page, width, height);
              pngSize(png);
              await saveScreenshot(`figures/${basename(dir)}-${file}.png`, png);
              // Sized in points: 4/3 CSS px per point.
              assert.ok(
                Math.abs(width - FIGURE_WIDTH[size] * 4 / 3) <= 2,
                `${where}: ${width} px wide, expected ${FIGURE_WIDTH[size] * 4 / 3}`,
              );
              assert.ok(texts.length > 0, where);
              for (const t of texts) {
                assert.ok(
                  t.left >= -1 && t.top >= -1 && t.right <= width + 1 && t.bottom <= height + 1,
                  `${where}: '${t.text}' outside the figure: ${JSON.stringify(t)}`,
                );
              }
              for (let i = 0; i < texts.length; i++) {
                for (let j = i + 1; j < texts.length; j++) {
                  const a = texts[i], b = texts[j];
                  const dx = Math.min(a.right, b.right) - Math.max(a.left, b.left);
                  const dy = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
                  assert.ok(
                    dx <= 1 || dy <= 1,
                    `${where}: '${a.text}' and '${b.text}' overlap (${dx.toFixed(1)} x ${
                      dy.toFixed(1)
                    } px)`,
                  );
                }
              }
            }
          }
        }
        assert.deepEqual(page.errors, [], "errors in the page");
        console.log(`figure screenshots: ${join(OUT, "figures")}`);
      } finally {
        await browser.close();
      }
    });
  },
});

/**
 * Two experiments to compare: `grid` (lr x seed, a point in each state, a long
 * error and a long id) and `small` (another architecture and batch size).
 */
async function compareTree(root: string): Promise<string> {
  const runs = join(root, "runs");
  const grid = join(runs, "grid"), small = join(runs, "small");
  // Every run.yaml holds every setting: train_subset null (all) unless said otherwise.
  const writeRun = (dir: string, spec: RunSpec) =>
    writeRunAs(dir, { ...spec, settings: { train_subset: null, ...spec.settings } });
  const line = (e: number, val: number, test: number) =>
    epoch(e, val, test, { seconds: 10 * e, steps: 10 });
  await writeRun(grid, {
    id: "lr1e-3_seed0",
    lr: 1e-3,
    seed: 0,
    state: "running",
    lock: "live",
    metrics: [line(1, 0.5, 0.45), line(2, 0.6, 0.55), line(3, 0.65, 0.6)],
  });
  await writeRun(grid, {
    id: "lr1e-2_seed0",
    lr: 1e-2,
    seed: 0,
    state: "done",
    results: result(0.82, 0.82),
    // Test accuracy 70, 80, 82 %.
    metrics: [line(1, 0.7, 0.7), line(2, 0.82, 0.8), line(3, 0.8, 0.82)],
  });
  await writeRun(grid, {
    id: "lr1e-2_seed1",
    lr: 1e-2,
    seed: 1,
    state: "stopped",
    status: { reason: "max_epochs" },
    results: result(0.75, 0.76),
    metrics: [line(1, 0.6, 0.6), line(2, 0.76, 0.75)],
  });
  await writeRun(grid, {
    id: "lr1e-4_seed0",
    lr: 1e-4,
    seed: 0,
    state: "failed",
    error: "Out of memory: the GPU could not allocate 3.2 GiB for the activations of " +
      "layer 7 (512C3) at batch size 256; lower batch_size or choose a smaller network " +
      "and run the experiment again",
  });
  await writeRun(grid, {
    id: "lr3e-4_seed1_train_subset=null_weight_decay=0.01_augment=crop_flip",
    lr: 3e-4,
    seed: 1,
    state: "done",
    results: result(0.7, 0.72),
    settings: { augment: ["crop", "flip"], weight_decay: 0.01, train_subset: null },
    metrics: [line(1, 0.72, 0.7)],
  });
  for (const seed of [0, 1]) {
    await writeRun(small, {
      id: `seed${seed}`,
      lr: 3e-3,
      seed,
      state: "done",
      results: result(0.65 + seed / 100, 0.66),
      settings: { arch: "P2-16C3-P2-50F", batch_size: 128, train_subset: 5000 },
      metrics: [line(1, 0.6, 0.6 + seed / 100), line(2, 0.66, 0.65 + seed / 100)],
    });
  }
  return runs;
}

Deno.test({
  name: `board in a browser at 1280 px: experiments side by side, every column in view, ` +
    `sort, filter, reasons, smoothing, x axes${problem ? ` (skipped: ${problem})` : ""}`,
  ignore: problem !== null,
  fn: async () => {
    await withTempDir(async (root) => {
      const runs = await compareTree(root);
      const board = await startBoard(runs);
      const browser = await Browser.launch((await findChromium())!);
      try {
        const page = await browser.newPage();
        await page.send("Emulation.setDeviceMetricsOverride", {
          width: 1280,
          height: 900,
          deviceScaleFactor: 1,
          mobile: false,
        });
        await page.goto(board.url);
        await page.waitFor("globalThis.board && board.ready");
        // Both experiments, and one table of all their points.
        assert.deepEqual(
          await page.evaluate(
            `[...document.querySelectorAll("#experiments .exp .name")].map((e) => e.textContent)`,
          ),
          ["grid", "small"],
        );
        const columns = await page.evaluate<string[]>(`board.columns.map((c) => c.key)`);
        assert.deepEqual(columns.slice(0, 9), [
          "choose",
          "experiment",
          "point",
          "state",
          "epochs",
          "val",
          "test",
          "spikes",
          "time",
        ]);
        // The settings that differ, and only those (dataset, optimizer, epochs are shared).
        assert.deepEqual(columns.slice(9).sort(), [
          "p:arch",
          "p:augment",
          "p:batch_size",
          "p:lr",
          "p:seed",
          "p:train_subset",
          "p:weight_decay",
        ]);
        assert.equal(await page.evaluate(`board.rows.length`), 7);
        // Running points are drawn from the start.
        assert.deepEqual(await page.evaluate(`[...board.chosen]`), ["grid/lr1e-3_seed0"]);
        // At 1280 px every column is inside the window, and nothing scrolls sideways.
        const layout = await page.evaluate<
          { right: number; left: number; key: string }[]
        >(`[...document.querySelectorAll("#table thead tr.labels th")].map((th) => {
          const r = th.getBoundingClientRect();
          return { key: th.dataset.col, left: r.left, right: r.right };
        })`);
        assert.equal(layout.length, columns.length);
        for (const c of layout) {
          assert.ok(c.left >= 0 && c.right <= 1280, `column ${c.key} at ${c.left}..${c.right}`);
        }
        const widths = await page.evaluate<number[]>(`[
          document.getElementById("table-wrap").scrollWidth,
          document.getElementById("table-wrap").clientWidth,
          document.documentElement.scrollWidth,
          document.getElementById("chart").scrollWidth,
        ]`);
        assert.ok(widths[0] <= widths[1], `the table scrolls sideways: ${widths}`);
        assert.ok(widths[2] <= 1280, `the page is ${widths[2]} px wide`);
        assert.ok(widths[3] <= 1280, `the chart is ${widths[3]} px wide`);
        // Each state says why: the error, what stopped it, since when it runs.
        const why = (key: string) =>
          page.evaluate<string>(`document.querySelector("tr[data-key='${key}'] .why").textContent`);
        assert.match(await why("grid/lr1e-4_seed0"), /^Out of memory: the GPU could not allocate/);
        assert.match(
          await why("grid/lr1e-2_seed1"),
          /^cut by --max-epochs; a later run without the cut continues it/,
        );
        assert.match(
          await why("grid/lr1e-3_seed0"),
          /^since \d{1,2}:\d\d.* \(\d+ min ago\); trained by pid \d+/,
        );
        assert.match(await why("grid/lr1e-2_seed0"), /^trained every epoch/);
        await saveScreenshot("board-1280.png", await page.screenshot());

        // Sorting: test accuracy, highest first, then lowest first (no result last).
        const order = `board.rows.map((p) => p.key)`;
        await page.evaluate(`document.querySelector("th[data-col=test]").click()`);
        assert.deepEqual(await page.evaluate(order), [
          "grid/lr1e-2_seed0",
          "grid/lr1e-2_seed1",
          "grid/lr3e-4_seed1_train_subset=null_weight_decay=0.01_augment=crop_flip",
          "small/seed1",
          "small/seed0",
          "grid/lr1e-3_seed0",
          "grid/lr1e-4_seed0",
        ]);
        await page.evaluate(`document.querySelector("th[data-col=test]").click()`);
        assert.deepEqual((await page.evaluate<string[]>(order)).slice(0, 3), [
          "grid/lr1e-3_seed0",
          "small/seed0",
          "small/seed1",
        ]);
        // The rows drawn are the rows in that order.
        assert.deepEqual(
          await page.evaluate<string[]>(
            `[...document.querySelectorAll("#table tbody tr")].map((r) => r.dataset.key)`,
          ),
          await page.evaluate(order),
        );
        // Filters: a setting's value, then a number.
        const filter = (col: string, value: string) =>
          page.evaluate(`(() => {
            const f = document.querySelector("th[data-filter='${col}'] select, th[data-filter='${col}'] input");
            f.value = ${JSON.stringify(value)};
            f.dispatchEvent(new Event(f.tagName === "SELECT" ? "change" : "input"));
          })()`);
        await filter("p:lr", "0.01");
        assert.deepEqual((await page.evaluate<string[]>(order)).sort(), [
          "grid/lr1e-2_seed0",
          "grid/lr1e-2_seed1",
        ]);
        assert.match(
          await page.evaluate<string>(`document.getElementById("count").textContent`),
          /^2 of 7 points/,
        );
        await filter("p:lr", "");
        await filter("test", ">75");
        assert.deepEqual((await page.evaluate<string[]>(order)).sort(), ["grid/lr1e-2_seed0"]);
        await filter("test", "");
        // train_subset null reads 'all' in its column and its filter.
        assert.ok(
          (await page.evaluate<string[]>(
            `[...document.querySelectorAll("th[data-filter='p:train_subset'] option")].map((o) => o.value)`,
          ))
            .includes("all"),
        );
        // Hiding an experiment: its rows and the experiment column go.
        await page.evaluate(`document.querySelector(".exp[data-exp=small] input").click()`);
        assert.equal(await page.evaluate(`board.rows.length`), 5);
        assert.ok(
          !(await page.evaluate<string[]>(`board.columns.map((c) => c.key)`)).includes(
            "experiment",
          ),
        );
        await page.evaluate(`document.querySelector(".exp[data-exp=small] input").click()`);
        assert.equal(await page.evaluate(`board.rows.length`), 7);

        // Curves of two experiments' points: tick them.
        for (const key of ["grid/lr1e-2_seed0", "small/seed1"]) {
          await page.evaluate(
            `document.querySelector("tr[data-key='${key}'] td.choose input").click()`,
          );
        }
        const series = (point: string, s: string, field = "value") =>
          page.evaluate<number[]>(
            `board.view.data("rows").filter((r) => r.point === ${
              JSON.stringify(point)
            } && r.series === "${s}").map((r) => r.${field})`,
          );
        // Both ticked points drawn (each tick fetches its run; the redraws come in turn).
        await page.waitFor(
          `board.view && ["small/seed1", "grid/lr1e-2_seed0"].every((p) => board.view.data("rows").some((r) => r.point === p))`,
        );
        assert.deepEqual(await series("grid/lr1e-2_seed0", "test", "x"), [1, 2, 3]);
        // Smoothing by the page's controls: EMA, weight 0.5, by hand: 70; 75; 78.5.
        await page.evaluate(`(() => {
          const k = document.getElementById("smooth-kind");
          k.value = "ema";
          k.dispatchEvent(new Event("change"));
          const a = document.getElementById("smooth-amount");
          a.value = "0.5";
          a.dispatchEvent(new Event("input"));
        })()`);
        await page.waitFor(`board.view.data("rows").some((r) => r.value !== r.raw)`);
        const ema = await series("grid/lr1e-2_seed0", "test");
        assert.deepEqual(ema.map((v) => Number(v.toFixed(9))), [70, 75, 78.5]);
        assert.deepEqual(
          (await series("grid/lr1e-2_seed0", "test", "raw")).map((v) => Number(v.toFixed(9))),
          [70, 80, 82],
        );
        // Moving average over 2: 70; 75; 81.
        await page.evaluate(`(() => {
          const k = document.getElementById("smooth-kind");
          k.value = "mean";
          k.dispatchEvent(new Event("change"));
          const a = document.getElementById("smooth-amount");
          a.value = "2";
          a.dispatchEvent(new Event("input"));
        })()`);
        await page.waitFor(`board.smoothing.kind === "mean" && board.smoothing.amount === 2`);
        await page.waitFor(
          `board.view.data("rows").filter((r) => r.point === "grid/lr1e-2_seed0" && r.series === "test").map((r) => r.value.toFixed(6)).join() === "70.000000,75.000000,81.000000"`,
        );
        // The raw curves stay, faint, behind the smoothed ones: two lines per curve.
        const lines = await page.evaluate<number>(
          `document.querySelectorAll("#chart .mark-line.role-mark path").length`,
        );
        // 3 points (the running one was drawn from the start) x (2 accuracy + 2 loss + 1
        // spikes) curves, raw and smoothed.
        assert.equal(lines, 3 * 5 * 2);
        // Against steps (10 an epoch) and training time (epoch e takes 10 e s): 10, 30, 60 s.
        await page.evaluate(`document.querySelector("input[name=x][value=step]").click()`);
        await page.waitFor(`board.x === "step"`);
        await page.waitFor(
          `${
            JSON.stringify([10, 20, 30])
          }.join() === board.view.data("rows").filter((r) => r.point === "grid/lr1e-2_seed0" && r.series === "test").map((r) => r.x).join()`,
        );
        await page.evaluate(`document.querySelector("input[name=x][value=time]").click()`);
        await page.waitFor(
          `"10,30,60" === board.view.data("rows").filter((r) => r.point === "grid/lr1e-2_seed0" && r.series === "test").map((r) => r.x).join()`,
        );
        const title = await page.evaluate<string[]>(
          `[...document.querySelectorAll("#chart svg .role-axis-title text")].map((t) => t.textContent)`,
        );
        assert.ok(title.includes("training time (s)"), title.join(" | "));
        // The address keeps the view: a reload shows the same.
        const url = await page.evaluate<string>("location.href");
        assert.match(url, /x=time/);
        assert.match(url, /smooth=mean%3A2/);
        assert.match(url, /point=small%2Fseed1/);
        await saveScreenshot("board-compare.png", await page.screenshot());
        assert.deepEqual(page.errors, [], "errors in the page");
        for (const u of page.requests) assert.ok(u.startsWith(board.url), u);
      } finally {
        await browser.close();
        await board.stop();
      }
    });
  },
});
