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
import {
  epoch,
  largeGrid,
  result,
  subsetGrid,
  syntheticTree,
  withTempDir,
  writeRun,
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

/** Starts `deno task board` on a folder; resolves with its URL once it listens. */
async function startBoard(root: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../tasks/board.ts", import.meta.url).pathname,
      root,
      "--port",
      "0",
      "--scan-ms",
      "500",
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + 30000;
  while (!/board: (http:\/\/\S+\/)/.test(text)) {
    if (Date.now() > deadline) throw new Error(`the board did not start: ${text}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`the board exited: ${text}`);
    text += value;
  }
  const url = /board: (http:\/\/\S+\/)/.exec(text)![1];
  return {
    url,
    async stop() {
      child.kill("SIGTERM");
      const status = await child.status;
      await reader.cancel();
      return status;
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
        const rowOf = (id: string) =>
          `[...document.querySelectorAll("tr[data-key='grid/${id}'] td")].map((t) => t.textContent)`;
        assert.deepEqual((await page.evaluate<string[]>(rowOf("lr1e-3_seed0"))).slice(1, 4), [
          "lr1e-3_seed0",
          "running",
          "2/5",
        ]);
        assert.deepEqual((await page.evaluate<string[]>(rowOf("lr1e-4_seed0"))).slice(1, 3), [
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
        await page.waitFor(`${rowOf("lr1e-3_seed0")}[3] === "3/5"`);
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
      } finally {
        await browser.close();
        const status = await board.stop();
        assert.ok(status.success || status.signal === "SIGTERM", `board exit ${status.code}`);
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
