/**
 * The live board: a small read-only web server (Deno.serve, 127.0.0.1 by
 * default) over a runs folder. Its page lists experiments and their points
 * with their state (running, done, failed, stopped, pending) and draws the
 * curves of chosen points, updated while they train: the server watches the
 * run folders' files (`metrics.jsonl`, `run.yaml`, `lock`) with file-system
 * events, and a slow scan of their sizes and times for file systems without
 * them (NFS), and tells the page over server-sent events; nothing talks to
 * the training processes.
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
import { escapeHtml } from "./escape.ts";
import type { VlSpec } from "./figures.ts";
import { readRun, runFolders, type RunRecord, type TextReader } from "./load.ts";
import { compareIds } from "./order.ts";
import { summarizeRun } from "./table.ts";
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
  epochs: number;
  /** Epochs the run is set to train (`epochs` of run.yaml), when known. */
  target: number | null;
  bestValAcc: number | null;
  testAcc: number | null;
  spikesPerSample: number | null;
  error: string | null;
  grid: Record<string, unknown>;
  /** A search's trial: the rung (1-based) it was pruned at or reached, of how many; else null. */
  rung: { rung: number; rungs: number } | null;
}

/** What the board says of an experiment that is a search (its trials have rungs). */
export interface BoardSearch {
  /** Trials started. */
  trials: number;
  /** Trials at the top rung (done). */
  top: number;
  /** The best trial so far: the highest best validation accuracy among the trials at the highest rung. */
  best: { id: string; bestValAcc: number | null; rung: number; rungs: number } | null;
}

/** A search's summary from its trials' run folders; null when no point is a search's trial. */
export function boardSearch(points: BoardPoint[]): BoardSearch | null {
  const trials = points.filter((p) => p.rung !== null);
  if (trials.length === 0) return null;
  const top = Math.max(...trials.map((p) => p.rung!.rung));
  let best: BoardPoint | null = null;
  for (const p of trials) {
    if (p.rung!.rung !== top || p.bestValAcc === null || p.state === "failed") continue;
    if (best === null || p.bestValAcc > best.bestValAcc!) best = p;
  }
  return {
    trials: trials.length,
    top: trials.filter((p) => p.state === "done" && p.rung!.rung === p.rung!.rungs).length,
    best: best
      ? { id: best.id, bestValAcc: best.bestValAcc, rung: top, rungs: best.rung!.rungs }
      : null,
  };
}

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

/** The chart of the board: accuracy, loss and spikes per epoch of the chosen points (data `rows`). */
export function liveChartSpec(): VlSpec {
  const x = {
    field: "epoch",
    type: "quantitative",
    title: "epoch",
    axis: { tickMinStep: 1, format: "d" },
  };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { name: "rows" },
    facet: {
      field: "panel",
      type: "nominal",
      sort: ["accuracy (%)", "loss", "spikes per sample"],
      title: null,
      header: { labelFontSize: 13, labelFontWeight: "bold" },
    },
    columns: 2,
    spec: {
      width: 300,
      height: 210,
      layer: [{
        params: [{
          name: "pick",
          select: { type: "point", fields: ["point"] },
          bind: "legend",
        }],
        mark: { type: "line", point: { size: 25 }, strokeWidth: 2 },
        encoding: {
          x,
          y: { field: "value", type: "quantitative", title: null, scale: { zero: false } },
          color: {
            field: "point",
            type: "nominal",
            title: "point",
            scale: { scheme: "tableau10" },
            legend: { labelLimit: 320, symbolType: "stroke", symbolStrokeWidth: 3 },
          },
          strokeDash: {
            field: "series",
            type: "nominal",
            title: "series",
            sort: ["validation", "test", "training", "per test sample"],
            scale: {
              domain: ["validation", "test", "training", "per test sample"],
              range: [[1, 0], [6, 3], [2, 2], [1, 0]],
            },
            legend: { symbolType: "stroke", symbolStrokeColor: "#555", symbolStrokeWidth: 2 },
          },
          detail: { field: "series" },
          opacity: { condition: { param: "pick", value: 1 }, value: 0.15 },
          tooltip: [
            { field: "point" },
            { field: "panel" },
            { field: "series" },
            { field: "epoch" },
            { field: "value", format: ".4~g" },
          ],
        },
      }],
    },
    resolve: { scale: { y: "independent" } },
  };
}

/** The rows of {@link liveChartSpec} for one point's metrics. */
export function liveRows(point: string, metrics: RunRecord["metrics"]): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  const add = (panel: string, series: string, epoch: number, v: unknown, scale = 1) => {
    if (typeof v === "number" && Number.isFinite(v)) {
      rows.push({ point, panel, series, epoch, value: v * scale });
    }
  };
  for (const m of metrics) {
    add("accuracy (%)", "validation", m.epoch, m.val_acc, 100);
    add("accuracy (%)", "test", m.epoch, m.test_acc, 100);
    add("loss", "training", m.epoch, m.train_loss);
    add("loss", "validation", m.epoch, m.val_loss);
    add("spikes per sample", "per test sample", m.epoch, m.spikes_per_sample);
  }
  return rows;
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

  /** Reads a file only when its real path lies inside the runs folder; null otherwise or when absent. */
  readonly read: TextReader = async (path) => {
    let real: string;
    try {
      real = await Deno.realPath(path);
    } catch {
      return null;
    }
    if (!inside(this.realRoot, real)) return null;
    try {
      const info = await Deno.stat(real);
      return info.isFile ? await Deno.readTextFile(real) : null;
    } catch {
      return null;
    }
  };

  /**
   * The experiments: the runs folder itself when it holds run folders, otherwise each
   * of its sub-folders that does (symbolic links are not followed).
   */
  async experiments(): Promise<BoardExperiment[]> {
    this.#rootIsExperiment = (await runFolders(this.realRoot)).length > 0;
    if (this.#rootIsExperiment) return [{ name: basename(this.realRoot), dir: this.realRoot }];
    const out: BoardExperiment[] = [];
    for await (const e of Deno.readDir(this.realRoot)) {
      if (!e.isDirectory) continue;
      const dir = join(this.realRoot, e.name);
      if ((await runFolders(dir).catch(() => [])).length > 0) out.push({ name: e.name, dir });
    }
    return out.sort((a, b) => compareIds(a.name, b.name));
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

  /** Every experiment with its points' states and results so far. */
  async listing(): Promise<
    {
      root: string;
      experiments: { name: string; points: BoardPoint[]; search: BoardSearch | null }[];
    }
  > {
    const experiments = [];
    const seen = new Set<string>();
    for (const exp of await this.experiments()) {
      const points: BoardPoint[] = [];
      for (const id of await runFolders(exp.dir)) {
        seen.add(join(exp.dir, id));
        const run = await this.#readCached(join(exp.dir, id), id);
        const s = summarizeRun(run);
        points.push({
          id,
          state: run.state,
          epochs: run.metrics.length,
          target: typeof run.settings.epochs === "number" ? run.settings.epochs : null,
          bestValAcc: s.bestValAcc,
          testAcc: s.testAcc,
          spikesPerSample: s.spikesPerSample,
          error: run.error,
          grid: run.gridPoint,
          rung: run.rung ?? null,
        });
      }
      experiments.push({ name: exp.name, points, search: boardSearch(points) });
    }
    for (const dir of [...this.#cache.keys()]) if (!seen.has(dir)) this.#cache.delete(dir);
    return { root: basename(this.realRoot), experiments };
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
    const res = await this.#route(url);
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
    if (path === "/api/experiments") return json(await this.listing());
    if (path === "/api/chart.vg.json") return json(toVega(liveChartSpec(), "the board chart"));
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
      `Not found: '${path}' (the board serves /, /api/experiments and /api/runs/<experiment>/<run>)`,
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
<style>
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0; color: #222; }
header { padding: .6em 1.2em; background: #23364d; color: #fff; display: flex; gap: 1.5em; align-items: baseline; }
header h1 { font-size: 1.2em; margin: 0; } #status { font-size: .9em; opacity: .85; }
main { display: grid; grid-template-columns: minmax(380px, 34%) 1fr; gap: 1em; padding: 1em; }
details { margin-bottom: 1em; } summary { font-weight: 600; cursor: pointer; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: .2em .45em; border-bottom: 1px solid #e6e6e6; text-align: left; }
td.num { text-align: right; } td.id { white-space: nowrap; } tr.chosen { background: #eef4ff; }
#chart { overflow-x: auto; }
.state { font-weight: 600; } .state-done { color: #2a7d2a; } .state-running { color: #1f5fbf; }
.state-stopped { color: #b26b00; } .state-failed, .state-invalid { color: #b00020; } .state-pending { color: #777; }
.state-pruned { color: #6b5b95; } .search-line { margin: .2em 0 .4em; color: #444; }
#chart:empty::before { content: "Choose points on the left to draw their curves."; color: #777; }
</style>
</head>
<body>
<header><h1>firstspike board: ${
      escapeHtml(basename(this.realRoot))
    }</h1><span id="status">connecting…</span></header>
<main>
<section id="list" aria-label="experiments and points"></section>
<section><div id="chart"></div><p id="note"></p></section>
</main>
<script src="/vega.min.js"></script>
<script>${boardClient.replace(/<\/(script)/gi, "<\\/$1")}</script>
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
      try {
        await this.#scan();
      } catch { /* a folder vanished mid-scan: next time */ }
    };
    // The first scan records the files as they are; later ones report changes.
    void scan();
    this.#scanTimer = setInterval(scan, this.#scanMs);
    this.#pingTimer = setInterval(() => this.#send(": ping\n\n"), 15000);
    if (!this.#watch) return;
    try {
      this.#watcher = Deno.watchFs(this.realRoot, { recursive: true });
    } catch {
      this.#watcher = null; // No file-system events here: the scan alone serves.
      return;
    }
    const watcher = this.#watcher;
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
    const seen = new Set<string>();
    const first = this.#signatures.size === 0;
    for (const exp of await this.experiments()) {
      for (const id of await runFolders(exp.dir)) {
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
