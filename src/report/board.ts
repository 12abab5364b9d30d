/**
 * The live board: a small read-only web server (Deno.serve, 127.0.0.1 by
 * default) over a runs folder. Its page (`board_client.js`) shows the
 * experiments side by side and one table of their points: state and why (a
 * failed run's error, what stopped a stopped one, since when one runs),
 * results so far, and the settings that differ between them as columns,
 * sortable and filterable; and it draws the curves of chosen points against
 * epoch, step or training time, raw or smoothed (`board_curves.js`), updated
 * while they train: the server watches the run folders' files
 * (`metrics.jsonl`, `run.yaml`, `lock`) with file-system events, and a slow
 * scan of their sizes and times for file systems without them (NFS), and
 * tells the page over server-sent events; nothing talks to the training
 * processes. A runs folder removed under it shows as missing until it is back.
 *
 * It serves its page, Vega's browser bundle and what it reads from run
 * folders it found by listing the runs folder; a request names an experiment
 * and a run by those listed names only, and every file is read through its
 * real path, which must lie inside the runs folder.
 *
 * @module
 */

import { basename, join, relative, resolve, sep } from "node:path";
import boardClient from "./board_client.js" with { type: "text" };
import boardCurvesText from "./board_curves.js" with { type: "text" };
import { curveRows, PANELS, SERIES, X_AXES } from "./board_curves.js";
import { escapeHtml } from "./escape.ts";
import type { VlSpec } from "./figures.ts";
import {
  experimentFolders,
  readRun,
  runFolders,
  type RunRecord,
  type TextReader,
  unreadable,
} from "./load.ts";
import { NULL_MEANS, summarizeRun } from "./table.ts";
import { toVega, vegaBrowserBundle } from "./vega.ts";

/** An experiment the board shows: its name in URLs and its folder. */
export interface BoardExperiment {
  name: string;
  dir: string;
}

/** What the board lists for one point. */
export interface BoardPoint {
  id: string;
  state: RunRecord["state"];
  /** Why it is in its state: a failed run's error, what stopped it, who trains it (see {@link RunRecord.reason}). */
  reason: string | null;
  /** Since when (ISO 8601): a running run's start, a finished one's end, when known. */
  since: string | null;
  epochs: number;
  /** Epochs the run is set to train (`epochs` of run.yaml), when known. */
  target: number | null;
  /** Optimiser steps and training seconds so far (metrics.jsonl's, summed). */
  steps: number | null;
  seconds: number | null;
  bestValAcc: number | null;
  testAcc: number | null;
  spikesPerSample: number | null;
  error: string | null;
  grid: Record<string, unknown>;
  /**
   * The run's settings (run.yaml's, the grid point's while it has none), without
   * those that only place it ({@link PLACE_KEYS}): the board's hyperparameter columns.
   */
  settings: Record<string, unknown>;
}

/** Settings that only say where a run is or ran, not what it computes: not columns. */
export const PLACE_KEYS: ReadonlySet<string> = new Set([
  "name",
  "output",
  "data_dir",
  "gpu",
  "id",
  "run_id",
]);

/** Sums a number of every metrics line; null when a line lacks it. */
function total(metrics: RunRecord["metrics"], field: "steps" | "seconds"): number | null {
  let sum = 0;
  for (const m of metrics) {
    const v = (m as unknown as Record<string, unknown>)[field];
    if (typeof v !== "number" || !Number.isFinite(v)) return null;
    sum += v;
  }
  return metrics.length > 0 ? sum : null;
}

/**
 * The page's look: one column that fits 1280 px, the experiments side by side at
 * the top, the points' table (long values wrap, so every column stays in view),
 * then the chart.
 */
const BOARD_STYLE = `
body { font: 13px/1.35 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0; color: #222; }
header { padding: .5em 1em; background: #23364d; color: #fff; display: flex; gap: 1.5em; align-items: baseline; }
header h1 { font-size: 1.15em; margin: 0; } #status { font-size: .9em; opacity: .85; }
main { padding: .6em 1em 1em; max-width: 100%; box-sizing: border-box; }
section { margin-bottom: .8em; }
#experiments { display: flex; flex-wrap: wrap; gap: .5em; }
#experiments .exp { display: flex; gap: .5em; align-items: baseline; flex-wrap: wrap; border: 1px solid #d6dbe3;
  border-radius: 4px; padding: .3em .6em; background: #f7f9fc; cursor: pointer; max-width: 100%; }
#experiments .name { font-weight: 600; } #experiments .what, #experiments .counts { color: #555; }
#experiments .best { color: #2a7d2a; }
.missing { color: #b00020; font-weight: 600; } .empty { color: #777; }
.bar { display: flex; flex-wrap: wrap; gap: 1em; align-items: baseline; margin: .3em 0; }
.bar .hint { color: #777; font-size: .92em; } .bar .group label { margin-right: .4em; }
#table-wrap { max-height: 52vh; overflow-y: auto; overflow-x: hidden; border: 1px solid #e2e2e2; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: .2em .4em; border-bottom: 1px solid #ececec; text-align: left; vertical-align: top; }
td { overflow-wrap: anywhere; }
thead th { position: sticky; background: #f3f5f8; z-index: 1; }
thead tr.labels th { top: 0; cursor: pointer; user-select: none; font-weight: 600; }
thead tr.filters th { top: 1.75em; font-weight: normal; }
thead tr.filters input, thead tr.filters select { width: 100%; min-width: 2.5em; box-sizing: border-box; font: inherit; font-size: .92em; }
th.sorted-asc .label::after { content: " ▲"; } th.sorted-desc .label::after { content: " ▼"; }
td.num, th.col-num { text-align: right; } td.num, td.short { white-space: nowrap; }
td.choose, th.col-choose { width: 1.6em; }
tr.chosen { background: #eef4ff; }
td.state { min-width: 7em; max-width: 16em; }
.badge { font-weight: 600; } .state-done { color: #2a7d2a; } .state-running { color: #1f5fbf; }
.state-stopped { color: #b26b00; } .state-failed, .state-invalid { color: #b00020; } .state-pending { color: #777; }
.state-pruned { color: #6b5b95; }
.why { color: #555; font-size: .9em; display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical;
  overflow: hidden; cursor: pointer; }
.why.open { display: block; white-space: pre-wrap; }
#chart { width: 100%; overflow-x: auto; }
#note { color: #555; }
`;

/** Options of {@link Board}. */
export interface BoardOptions {
  /** Milliseconds between scans of the run folders' file sizes and times while a page listens (default 2000). */
  scanMs?: number;
  /**
   * Host names a request's `Host` header may carry (default: `localhost`, `127.0.0.1`,
   * `[::1]`); guards a board on the loopback interface against DNS rebinding. `null`
   * accepts any.
   */
  allowedHosts?: string[] | null;
  /** Use file-system change events (default true); the scan alone serves without them. */
  watch?: boolean;
}

const FILES = /^\.?(metrics\.jsonl|run\.yaml|lock)(\.tmp-.*)?$/;
/**
 * The event that says the board now reports every change: sent once the first scan has
 * recorded the files (to the pages then listening, and at once to pages that connect
 * later). A page reads its points anew when it comes, so a change between the page's
 * first reads and that scan is not lost.
 */
const WATCHING = `event: watching\ndata: {}\n\n`;

/** How the board's chart is drawn: its x axis, its width, smoothing, the time unit. */
export interface ChartOptions {
  /** `epoch`, `step` or `time` (default `epoch`). */
  x?: string;
  /** The chart's width in CSS pixels (default 1200). */
  width?: number;
  /** Draw the raw values faintly behind the smoothed ones. */
  smoothed?: boolean;
  /** The time axis's unit (`s`, `min`, `h`; default `s`). */
  unit?: string;
}

/** The x axis titles. */
function xTitle(x: string, unit: string): string {
  return x === "step" ? "optimiser step" : x === "time" ? `training time (${unit})` : "epoch";
}

/**
 * The chart of the board: accuracy, loss and spikes per sample of the chosen points
 * against epoch, step or time (data `rows`, see `board_curves.js`), three panels side
 * by side filling `width`, the legend below; with smoothing, each raw curve faint
 * behind its smoothed one.
 */
export function liveChartSpec(opts: ChartOptions = {}): VlSpec {
  const axis = X_AXES.includes(opts.x ?? "epoch") ? opts.x ?? "epoch" : "epoch";
  const width = Math.max(300, Math.min(4000, opts.width ?? 1200));
  // Three panels, each with its y axis (about 55 px) and the gaps between them.
  const panel = Math.max(120, Math.floor((width - 3 * 55 - 2 * 20 - 10) / 3));
  const x = {
    field: "x",
    type: "quantitative",
    title: xTitle(axis, opts.unit ?? "s"),
    axis: axis === "epoch" ? { tickMinStep: 1, format: "d" } : { format: "~s" },
    scale: { nice: false, zero: false },
  };
  const color = {
    field: "point",
    type: "nominal",
    title: "point",
    scale: { scheme: "tableau10" },
    legend: { labelLimit: 360, symbolType: "stroke", symbolStrokeWidth: 3, columns: 3 },
  };
  const strokeDash = {
    field: "series",
    type: "nominal",
    title: "series",
    sort: SERIES,
    scale: { domain: SERIES, range: [[1, 0], [6, 3], [2, 2], [1, 0]] },
    legend: { symbolType: "stroke", symbolStrokeColor: "#555", symbolStrokeWidth: 2 },
  };
  const tooltip = [
    { field: "point" },
    { field: "panel" },
    { field: "series" },
    { field: "epoch" },
    { field: "x", title: x.title, format: ".4~g" },
    { field: "value", title: opts.smoothed ? "smoothed" : "value", format: ".4~g" },
    ...(opts.smoothed ? [{ field: "raw", format: ".4~g" }] : []),
  ];
  const layers: VlSpec[] = [];
  if (opts.smoothed) {
    layers.push({
      mark: { type: "line", strokeWidth: 1, opacity: 0.25 },
      encoding: {
        x,
        y: { field: "raw", type: "quantitative", title: null, scale: { zero: false } },
        color,
        strokeDash,
        detail: { field: "series" },
      },
    });
  }
  layers.push({
    params: [{ name: "pick", select: { type: "point", fields: ["point"] }, bind: "legend" }],
    mark: {
      type: "line",
      strokeWidth: 2,
      ...(axis === "epoch" && !opts.smoothed ? { point: { size: 25 } } : {}),
    },
    encoding: {
      x,
      y: { field: "value", type: "quantitative", title: null, scale: { zero: false } },
      color,
      strokeDash,
      detail: { field: "series" },
      opacity: { condition: { param: "pick", value: 1 }, value: 0.15 },
      tooltip,
    },
  });
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { name: "rows" },
    facet: {
      field: "panel",
      type: "nominal",
      sort: PANELS,
      title: null,
      header: { labelFontSize: 13, labelFontWeight: "bold" },
    },
    columns: 3,
    spec: {
      width: panel,
      height: Math.round(Math.max(160, Math.min(280, panel * 0.7))),
      layer: layers,
    },
    resolve: { scale: { y: "independent" } },
    config: { legend: { orient: "bottom", direction: "horizontal" } },
  };
}

/** The rows of {@link liveChartSpec} for one point's metrics, against epoch, unsmoothed. */
export function liveRows(point: string, metrics: RunRecord["metrics"]): Record<string, unknown>[] {
  return curveRows(point, metrics as unknown as Record<string, unknown>[]);
}

function inside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

function json(data: unknown, status = 200): Response {
  return new Response(JSON.stringify(data), {
    status,
    headers: {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
    },
  });
}

function problem(status: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(message + "\n", {
    status,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "x-content-type-options": "nosniff",
      ...headers,
    },
  });
}

/** A board over one runs folder; {@link Board.handler} answers requests. */
export class Board {
  /** The runs folder as given, and its real path (what every file read must lie in). */
  readonly root: string;
  readonly realRoot: string;
  readonly #scanMs: number;
  readonly #watch: boolean;
  readonly #allowedHosts: Set<string> | null;
  readonly #clients = new Set<ReadableStreamDefaultController<Uint8Array>>();
  #watcher: Deno.FsWatcher | null = null;
  #scanTimer: ReturnType<typeof setInterval> | null = null;
  #pingTimer: ReturnType<typeof setInterval> | null = null;
  #signatures = new Map<string, string>();
  #pending = new Map<string, { experiment: string; id: string }>();
  #flushTimer: ReturnType<typeof setTimeout> | null = null;
  #closed = false;
  /** Whether the runs folder is itself one experiment (as last listed). */
  #rootIsExperiment = false;
  /** Whether the runs folder was missing when last listed. */
  #missing = false;
  /** Whether a scan has recorded the files (later scans report what changed). */
  #primed = false;
  /** The runs folder's inode when last scanned (a new one: it was made again; watch it anew). */
  #rootIno: number | null | undefined = undefined;

  private constructor(root: string, realRoot: string, opts: BoardOptions) {
    this.root = root;
    this.realRoot = realRoot;
    this.#scanMs = opts.scanMs ?? 2000;
    this.#watch = opts.watch ?? true;
    this.#allowedHosts = opts.allowedHosts === null
      ? null
      : new Set(opts.allowedHosts ?? ["localhost", "127.0.0.1", "[::1]"]);
  }

  /** A board over `root`, which must be an existing folder. */
  static async open(root: string, opts: BoardOptions = {}): Promise<Board> {
    let real: string;
    try {
      real = await Deno.realPath(root);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new Error(
          `Cannot open the board: expected a runs folder (like runs/), got '${root}', which does not exist`,
        );
      }
      throw e;
    }
    if (!(await Deno.stat(real)).isDirectory) {
      throw new Error(`Cannot open the board: expected a folder, got the file '${root}'`);
    }
    return new Board(resolve(root), real, opts);
  }

  /**
   * Reads a file only when its real path lies inside the runs folder; null otherwise
   * or when absent. Something inside that is no readable file (a folder named
   * `run.yaml`) is an error naming it, so that run shows as unreadable.
   */
  readonly read: TextReader = async (path) => {
    let real: string;
    try {
      real = await Deno.realPath(path);
    } catch {
      return null;
    }
    if (!inside(this.realRoot, real)) return null;
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(real);
    } catch {
      return null;
    }
    if (!info.isFile) {
      throw new Error(
        `Cannot read '${path}': expected a file, got ${info.isDirectory ? "a folder" : "no file"}`,
      );
    }
    try {
      return await Deno.readTextFile(real);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return null;
      throw unreadable(path, e);
    }
  };

  /**
   * The experiments: the runs folder itself when it holds run folders, otherwise each
   * of its sub-folders that does (symbolic links are not followed). None while the
   * runs folder does not exist ({@link Board.missing} then says so).
   */
  async experiments(): Promise<BoardExperiment[]> {
    try {
      this.#rootIsExperiment = (await runFolders(this.realRoot)).length > 0;
      this.#missing = false;
      if (this.#rootIsExperiment) return [{ name: basename(this.realRoot), dir: this.realRoot }];
      return (await experimentFolders(this.realRoot)).map((name) => ({
        name,
        dir: join(this.realRoot, name),
      }));
    } catch (e) {
      // Removed (or replaced by a file) under the board: nothing to show until it is back.
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
        this.#missing = true;
        return [];
      }
      throw e;
    }
  }

  /** Whether the runs folder was missing when last listed (removed under the board). */
  get missing(): boolean {
    return this.#missing;
  }

  /** The listed experiment and run named by a request, or null when either is not listed. */
  async #locate(
    experiment: string,
    id: string,
  ): Promise<{ exp: BoardExperiment; dir: string } | null> {
    const exp = (await this.experiments()).find((e) => e.name === experiment);
    if (!exp) return null;
    if (!(await runFolders(exp.dir)).includes(id)) return null;
    const dir = join(exp.dir, id);
    // Listed names hold no separators, but check the real path all the same.
    const real = await Deno.realPath(dir).catch(() => null);
    return real !== null && inside(this.realRoot, real) ? { exp, dir } : null;
  }

  /** Parsed runs by folder, with the sizes and times of their files when read. */
  #cache = new Map<string, { sig: string; run: RunRecord }>();

  /**
   * A run folder, parsed again only when its files changed; a run whose runner may
   * have gone (running or stopped) is read again every time, for its lock.
   */
  async #readCached(dir: string, id: string): Promise<RunRecord> {
    const parts: string[] = [];
    for (const f of ["run.yaml", "metrics.jsonl", "lock"]) {
      const st = await Deno.stat(join(dir, f)).catch(() => null);
      parts.push(st ? `${st.size}:${st.mtime?.getTime() ?? 0}` : "-");
    }
    const sig = parts.join("|");
    const hit = this.#cache.get(dir);
    if (hit && hit.sig === sig && hit.run.state !== "running" && hit.run.state !== "stopped") {
      return hit.run;
    }
    const run = await readRun(dir, id, this.read);
    this.#cache.set(dir, { sig, run });
    return run;
  }

  /**
   * Every experiment with its points' states, reasons, settings and results so far;
   * `nullMeans` says what a null setting means (`train_subset: null` is `all`).
   */
  async listing(): Promise<{
    root: string;
    missing: boolean;
    nullMeans: Record<string, string>;
    experiments: { name: string; points: BoardPoint[] }[];
  }> {
    const experiments = [];
    const seen = new Set<string>();
    for (const exp of await this.experiments()) {
      const points: BoardPoint[] = [];
      for (const id of await runFolders(exp.dir)) {
        seen.add(join(exp.dir, id));
        const run = await this.#readCached(join(exp.dir, id), id);
        const s = summarizeRun(run);
        const source = Object.keys(run.settings).length > 0 ? run.settings : run.gridPoint;
        points.push({
          id,
          state: run.state,
          reason: run.reason,
          since: run.since,
          epochs: run.metrics.length,
          target: typeof run.settings.epochs === "number" ? run.settings.epochs : null,
          steps: total(run.metrics, "steps"),
          seconds: total(run.metrics, "seconds"),
          bestValAcc: s.bestValAcc,
          testAcc: s.testAcc,
          spikesPerSample: s.spikesPerSample,
          error: run.error,
          grid: run.gridPoint,
          settings: Object.fromEntries(
            Object.entries(source).filter(([k]) => !PLACE_KEYS.has(k)),
          ),
        });
      }
      experiments.push({ name: exp.name, points });
    }
    for (const dir of [...this.#cache.keys()]) if (!seen.has(dir)) this.#cache.delete(dir);
    return {
      root: basename(this.realRoot),
      missing: this.#missing,
      nullMeans: { ...NULL_MEANS },
      experiments,
    };
  }

  /** Answers one request (read-only: GET and HEAD). */
  handler = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    if (this.#allowedHosts) {
      const host = (req.headers.get("host") ?? url.host).replace(/:\d+$/, "").toLowerCase();
      if (!this.#allowedHosts.has(host)) {
        return problem(
          403,
          `Host '${host}' is not served (expected one of ${[...this.#allowedHosts].join(", ")})`,
        );
      }
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return problem(405, `The board is read-only: expected GET or HEAD, got ${req.method}`, {
        allow: "GET, HEAD",
      });
    }
    let res: Response;
    try {
      res = await this.#route(url);
    } catch (e) {
      // Whatever went wrong, the page gets one line saying so, never a stack trace.
      res = problem(
        500,
        `The board could not answer '${url.pathname}': ${e instanceof Error ? e.message : e}`,
      );
    }
    return req.method === "HEAD"
      ? new Response(null, { status: res.status, headers: res.headers })
      : res;
  };

  async #route(url: URL): Promise<Response> {
    const path = url.pathname;
    if (path === "/" || path === "/index.html") {
      return new Response(this.page(), {
        headers: {
          "content-type": "text/html; charset=utf-8",
          "cache-control": "no-store",
          "x-content-type-options": "nosniff",
          // Vega compiles its expressions with Function(): 'unsafe-eval'.
          "content-security-policy": "default-src 'none'; script-src 'self' 'unsafe-inline' " +
            "'unsafe-eval'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'",
        },
      });
    }
    if (path === "/vega.min.js") {
      return new Response(await vegaBrowserBundle(), {
        headers: {
          "content-type": "text/javascript; charset=utf-8",
          "cache-control": "max-age=3600",
          "x-content-type-options": "nosniff",
        },
      });
    }
    if (path === "/board.js" || path === "/board_curves.js") {
      return new Response(path === "/board.js" ? boardClient : boardCurvesText, {
        headers: {
          "content-type": "text/javascript; charset=utf-8",
          "cache-control": "no-store",
          "x-content-type-options": "nosniff",
        },
      });
    }
    if (path === "/api/experiments") return json(await this.listing());
    if (path === "/api/chart.vg.json") {
      const q = url.searchParams;
      const x = q.get("x") ?? "epoch";
      const width = Number(q.get("width") ?? 1200);
      const unit = q.get("unit") ?? "s";
      if (!X_AXES.includes(x) || !Number.isInteger(width) || !["s", "min", "h"].includes(unit)) {
        return problem(
          400,
          `Expected /api/chart.vg.json?x=epoch|step|time&width=<integer>&unit=s|min|h&smoothed=0|1, ` +
            `got '${url.search}'`,
        );
      }
      return json(
        toVega(
          liveChartSpec({ x, width, unit, smoothed: q.get("smoothed") === "1" }),
          "the board chart",
        ),
      );
    }
    if (path === "/api/events") return this.#events();
    const m = /^\/api\/runs\/([^/]+)\/([^/]+)$/.exec(path);
    if (m) {
      let experiment: string, id: string;
      try {
        experiment = decodeURIComponent(m[1]);
        id = decodeURIComponent(m[2]);
      } catch {
        return problem(
          400,
          `Expected /api/runs/<experiment>/<run>, got a malformed escape in '${path}'`,
        );
      }
      const found = await this.#locate(experiment, id);
      if (!found) {
        return problem(404, `No run '${id}' in an experiment '${experiment}' of this runs folder`);
      }
      const run = await readRun(found.dir, id, this.read);
      return json({
        experiment,
        id,
        state: run.state,
        error: run.error,
        grid: run.gridPoint,
        metrics: run.metrics,
        rows: liveRows(id, run.metrics),
        warnings: run.warnings,
      });
    }
    return problem(
      404,
      `Not found: '${path}' (the board serves /, /api/experiments, /api/chart.vg.json and ` +
        `/api/runs/<experiment>/<run>)`,
    );
  }

  /** The page. */
  page(): string {
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>firstspike board: ${escapeHtml(basename(this.realRoot))}</title>
<style>${BOARD_STYLE}</style>
</head>
<body>
<header><h1>firstspike board: ${
      escapeHtml(basename(this.realRoot))
    }</h1><span id="status">connecting…</span></header>
<main>
<section id="experiments" aria-label="experiments"></section>
<section id="points" aria-label="points">
<div class="bar"><span id="count"></span><button id="clear" type="button">clear filters</button>
<span class="hint">Click a column to sort it; filter with the row below (numbers: <code>&gt;85</code>, <code>&lt;=100</code>). Tick points to draw them.</span></div>
<div id="table-wrap"><table id="table"><thead></thead><tbody></tbody></table></div>
</section>
<section id="curves" aria-label="curves">
<div class="bar" id="chart-controls">
<span class="group">x axis: <label><input type="radio" name="x" value="epoch"> epoch</label>
<label><input type="radio" name="x" value="step"> step</label>
<label><input type="radio" name="x" value="time"> time</label></span>
<span class="group"><label>smoothing <select id="smooth-kind">
<option value="none">none</option><option value="ema">exponential (EMA)</option><option value="mean">moving average</option>
</select></label> <input id="smooth-amount" type="range" aria-label="smoothing amount"> <output id="smooth-value"></output></span>
</div>
<div id="chart"></div><p id="note"></p>
</section>
</main>
<script src="/vega.min.js"></script>
<script type="module" src="/board.js"></script>
</body>
</html>
`;
  }

  #events(): Response {
    const enc = new TextEncoder();
    let me: ReadableStreamDefaultController<Uint8Array> | null = null;
    const stream = new ReadableStream<Uint8Array>({
      start: (c) => {
        me = c;
        this.#clients.add(c);
        c.enqueue(enc.encode(`retry: 2000\nevent: hello\ndata: {}\n\n`));
        // Changes are reported from the moment the files are recorded (the first scan):
        // "watching" says so, and a page reads anew what changed before it.
        if (this.#primed) c.enqueue(enc.encode(WATCHING));
        this.#startWatching();
      },
      cancel: () => this.#drop(me),
    });
    return new Response(stream, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
      },
    });
  }

  #drop(c: ReadableStreamDefaultController<Uint8Array> | null): void {
    if (!c || !this.#clients.delete(c)) return;
    try {
      c.close();
    } catch { /* already closed */ }
    if (this.#clients.size === 0) this.#stopWatching();
  }

  #send(text: string): void {
    const bytes = new TextEncoder().encode(text);
    for (const c of [...this.#clients]) {
      try {
        c.enqueue(bytes);
      } catch {
        this.#drop(c);
      }
    }
  }

  /** Queues a change of a run for the pages (sent together a moment later). */
  #changed(experiment: string, id: string): void {
    this.#pending.set(`${experiment}\u0000${id}`, { experiment, id });
    this.#flushTimer ??= setTimeout(() => {
      this.#flushTimer = null;
      const changes = [...this.#pending.values()];
      this.#pending.clear();
      if (changes.length > 0) this.#send(`event: change\ndata: ${JSON.stringify(changes)}\n\n`);
    }, 150);
  }

  #startWatching(): void {
    if (this.#closed || this.#scanTimer !== null) return;
    const scan = async () => {
      const primed = this.#primed;
      try {
        await this.#scan();
      } catch { /* a folder vanished mid-scan: next time */ }
      if (!primed && this.#primed) this.#send(WATCHING);
    };
    this.#scanTimer = setInterval(scan, this.#scanMs);
    this.#pingTimer = setInterval(() => this.#send(": ping\n\n"), 15000);
    // The first scan records the files as they are (and starts the watch); later ones
    // report changes.
    void scan();
  }

  /** Watches the runs folder's file-system events (again, when the folder was made anew). */
  #watchRoot(): void {
    try {
      this.#watcher?.close();
    } catch { /* already closed */ }
    this.#watcher = null;
    if (!this.#watch || this.#closed || this.#scanTimer === null) return;
    let watcher: Deno.FsWatcher;
    try {
      watcher = Deno.watchFs(this.realRoot, { recursive: true });
    } catch {
      return; // No file-system events here (or no folder): the scan alone serves.
    }
    this.#watcher = watcher;
    void (async () => {
      try {
        for await (const ev of watcher) this.#onFsEvent(ev);
      } catch { /* closed */ }
    })();
  }

  #stopWatching(): void {
    if (this.#scanTimer !== null) clearInterval(this.#scanTimer);
    if (this.#pingTimer !== null) clearInterval(this.#pingTimer);
    if (this.#flushTimer !== null) clearTimeout(this.#flushTimer);
    this.#scanTimer = this.#pingTimer = this.#flushTimer = null;
    this.#pending.clear();
    this.#signatures.clear();
    this.#primed = false;
    this.#rootIno = undefined;
    try {
      this.#watcher?.close();
    } catch { /* already closed */ }
    this.#watcher = null;
  }

  #onFsEvent(ev: Deno.FsEvent): void {
    for (const p of ev.paths) {
      const rel = relative(this.realRoot, p);
      if (rel.startsWith("..") || rel === "") continue;
      const parts = rel.split(sep);
      if (!FILES.test(parts[parts.length - 1])) continue;
      // <experiment>/<run>/<file>, or <run>/<file> when the root is one experiment.
      if (!this.#rootIsExperiment && parts.length === 3) this.#changed(parts[0], parts[1]);
      if (this.#rootIsExperiment && parts.length === 2) {
        this.#changed(basename(this.realRoot), parts[0]);
      }
    }
  }

  async #scan(): Promise<void> {
    // The runs folder itself: removed, or made again (a new folder needs a new watch).
    const st = await Deno.stat(this.realRoot).catch(() => null);
    const ino = st?.isDirectory ? st.ino ?? 0 : null;
    if (ino !== this.#rootIno) {
      const before = this.#rootIno;
      this.#rootIno = ino;
      if (ino !== null) this.#watchRoot();
      if (before !== undefined) {
        this.#send(`event: root\ndata: ${JSON.stringify({ missing: ino === null })}\n\n`);
      }
    }
    const seen = new Set<string>();
    const first = !this.#primed;
    for (const exp of await this.experiments()) {
      for (const id of await runFolders(exp.dir).catch(() => [])) {
        const parts: string[] = [];
        for (const f of ["metrics.jsonl", "run.yaml", "lock"]) {
          const st = await Deno.stat(join(exp.dir, id, f)).catch(() => null);
          parts.push(st ? `${st.size}:${st.mtime?.getTime() ?? 0}` : "-");
        }
        const key = `${exp.name}\u0000${id}`, sig = parts.join("|");
        seen.add(key);
        if (!first && this.#signatures.get(key) !== sig) this.#changed(exp.name, id);
        this.#signatures.set(key, sig);
      }
    }
    for (const key of [...this.#signatures.keys()]) {
      if (!seen.has(key)) {
        this.#signatures.delete(key);
        const [experiment, id] = key.split("\u0000");
        this.#changed(experiment, id);
      }
    }
    this.#primed = true;
  }

  /** Ends every event stream and stops watching. */
  close(): void {
    this.#closed = true;
    for (const c of [...this.#clients]) this.#drop(c);
    this.#stopWatching();
  }
}

/** Options of {@link serveBoard}. */
export interface ServeBoardOptions extends BoardOptions {
  /** The runs folder (default `runs`). */
  root?: string;
  /** Interface to listen on (default 127.0.0.1: this machine only). */
  hostname?: string;
  /** Port (default 8080; 0 picks a free one). */
  port?: number;
  /** Called once listening, with the page's URL. */
  onListen?: (url: string) => void;
}

/** A running board. */
export interface ServedBoard {
  board: Board;
  url: string;
  server: Deno.HttpServer<Deno.NetAddr>;
  /** Stops the server and the board's watchers. */
  close(): Promise<void>;
}

/** Serves a board until closed. */
export async function serveBoard(opts: ServeBoardOptions = {}): Promise<ServedBoard> {
  const hostname = opts.hostname ?? "127.0.0.1";
  const loopback = ["127.0.0.1", "localhost", "::1", "[::1]"].includes(hostname);
  const board = await Board.open(opts.root ?? "runs", {
    ...opts,
    // Bound to another interface, the board is meant to be reached by other names.
    allowedHosts: opts.allowedHosts !== undefined ? opts.allowedHosts : loopback ? undefined : null,
  });
  let url = "";
  const server = Deno.serve({
    hostname,
    port: opts.port ?? 8080,
    onListen: (addr) => {
      const h = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
      url = `http://${h}:${addr.port}/`;
      opts.onListen?.(url);
    },
  }, board.handler);
  return {
    board,
    url: url || `http://${hostname}:${server.addr.port}/`,
    server,
    close: async () => {
      board.close();
      await server.shutdown();
    },
  };
}
