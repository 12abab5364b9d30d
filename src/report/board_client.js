// The board's page script (a module, served at /board.js by board.ts). Shows
// the experiments of the runs folder side by side, one table of their points
// (state and why, results, the settings that differ between them as columns,
// each column sortable and filterable) and the chosen points' curves against
// epoch, step or time, raw or smoothed (board_curves.js). Redraws when the
// server says a run's files changed (server-sent events). Run data is put in
// the page as text only (textContent), never as markup. `window.board` gives
// the view and the state to scripts (and to the browser test).
import { curveRows, SMOOTHERS, timeUnit, X_AXES } from "./board_curves.js";

const $ = (id) => document.getElementById(id);
const expsEl = $("experiments");
const tableEl = $("table");
const countEl = $("count");
const chartEl = $("chart");
const statusEl = $("status");
const noteEl = $("note");

const STATE_ORDER = ["running", "stopped", "failed", "done", "pending", "invalid"];

const state = {
  listing: null,
  chosen: new Set(), // "experiment/id"
  metrics: new Map(), // "experiment/id" -> metrics.jsonl lines
  hidden: new Set(), // experiments not shown
  sort: { col: null, dir: 1 },
  filters: new Map(), // column key -> text
  x: "epoch",
  smoothing: { kind: "none", amount: 0.6 },
  view: null,
  viewKey: "",
  columns: [],
  rows: [], // the points shown, in table order
  updates: 0,
  lastUpdate: null,
  ready: false,
};
globalThis.board = state;

// ---------------------------------------------------------------------------
// The address keeps what is chosen, so a link shows the same board.

const params = new URLSearchParams(location.search);
for (const p of params.getAll("point")) state.chosen.add(p);
for (const e of params.getAll("hide")) state.hidden.add(e);
const explicit = state.chosen.size > 0;
if (X_AXES.includes(params.get("x"))) state.x = params.get("x");
{
  const [kind, amount] = (params.get("smooth") ?? "").split(":");
  if (SMOOTHERS.includes(kind)) {
    state.smoothing = { kind, amount: Number(amount) || (kind === "mean" ? 3 : 0.6) };
  }
  const [col, dir] = (params.get("sort") ?? "").split(":");
  if (col) state.sort = { col, dir: dir === "desc" ? -1 : 1 };
  for (const [k, v] of params) if (k.startsWith("f.")) state.filters.set(k.slice(2), v);
}

function syncUrl() {
  const q = new URLSearchParams();
  for (const k of state.chosen) q.append("point", k);
  for (const e of state.hidden) q.append("hide", e);
  if (state.x !== "epoch") q.set("x", state.x);
  if (state.smoothing.kind !== "none") {
    q.set("smooth", state.smoothing.kind + ":" + state.smoothing.amount);
  }
  if (state.sort.col) q.set("sort", state.sort.col + ":" + (state.sort.dir < 0 ? "desc" : "asc"));
  for (const [k, v] of state.filters) if (v !== "") q.set("f." + k, v);
  history.replaceState(null, "", q.toString() ? "?" + q.toString() : location.pathname);
}

// ---------------------------------------------------------------------------
// Helpers.

function el(tag, props, children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "text") e.textContent = v;
    else if (k === "className") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children || []) e.appendChild(c);
  return e;
}

function keyOf(exp, id) {
  return exp + "/" + id;
}

function splitKey(key) {
  const slash = key.indexOf("/");
  return [key.slice(0, slash), key.slice(slash + 1)];
}

async function getJson(url) {
  const r = await fetch(url, { cache: "no-store" });
  if (!r.ok) throw new Error(url + ": " + r.status + " " + (await r.text()));
  return r.json();
}

function pct(v) {
  return v === null || v === undefined ? "–" : (v * 100).toFixed(2);
}

function duration(s) {
  if (s === null || s === undefined) return "–";
  if (s < 60) return s.toFixed(1) + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + " min " + String(Math.round(s - m * 60)).padStart(2, "0") + " s";
  const h = Math.floor(m / 60);
  return h + " h " + String(m - h * 60).padStart(2, "0") + " min";
}

/** A JSON-ish text of a setting, null as what it means for its key. */
function settingText(key, v) {
  if (v === null || v === undefined) {
    return (state.listing && state.listing.nullMeans[key]) || "none";
  }
  if (Array.isArray(v)) {
    return v.length === 0 ? "none" : "[" + v.map((x) => settingText(key, x)).join(", ") + "]";
  }
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** "since 14:03 (12 min ago)" for an ISO time. */
function sinceText(iso) {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return "";
  const mins = Math.max(0, Math.round((Date.now() - t.getTime()) / 60000));
  const ago = mins < 60 ? mins + " min ago" : duration(mins * 60) + " ago";
  const sameDay = t.toDateString() === new Date().toDateString();
  const when = sameDay
    ? t.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : t.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
  return when + " (" + ago + ")";
}

/** Why a point is in its state, in one line. */
function whyText(p) {
  if (p.state === "running") {
    return "since " + (p.since ? sinceText(p.since) : "an unknown time") +
      (p.reason ? "; " + p.reason : "");
  }
  if ((p.state === "done" || p.state === "stopped") && p.since) {
    return (p.reason || p.state) + "; ended " + sinceText(p.since);
  }
  return p.reason || "";
}

const collator = new Intl.Collator("en", { numeric: true });

// ---------------------------------------------------------------------------
// The experiments, side by side.

function visiblePoints() {
  const out = [];
  for (const exp of state.listing ? state.listing.experiments : []) {
    if (state.hidden.has(exp.name)) continue;
    for (const p of exp.points) {
      out.push({ ...p, experiment: exp.name, key: keyOf(exp.name, p.id) });
    }
  }
  return out;
}

function renderExperiments() {
  expsEl.textContent = "";
  const listing = state.listing;
  if (listing && listing.missing) {
    expsEl.appendChild(el("p", {
      className: "missing",
      text: "The runs folder '" + listing.root + "' does not exist (any more). " +
        "The board shows it again as soon as it is back.",
    }));
    return;
  }
  if (!listing || listing.experiments.length === 0) {
    expsEl.appendChild(el("p", {
      className: "empty",
      text: "No run folders yet in " + (listing ? listing.root : "the runs folder") + ".",
    }));
    return;
  }
  for (const exp of listing.experiments) {
    const counts = {};
    for (const p of exp.points) counts[p.state] = (counts[p.state] || 0) + 1;
    const tests = exp.points.map((p) => p.testAcc).filter((v) => typeof v === "number");
    const box = el("input", { type: "checkbox", "aria-label": "show " + exp.name });
    box.checked = !state.hidden.has(exp.name);
    box.addEventListener("change", () => {
      if (box.checked) state.hidden.delete(exp.name);
      else state.hidden.add(exp.name);
      syncUrl();
      render();
    });
    const settings = exp.points.find((p) => p.settings && p.settings.arch)?.settings ?? {};
    expsEl.appendChild(el("label", { className: "exp", "data-exp": exp.name }, [
      box,
      el("span", { className: "name", text: exp.name }),
      el("span", {
        className: "what",
        text: [settings.dataset, settings.arch].filter(Boolean).join(" · "),
      }),
      el("span", {
        className: "counts",
        text: exp.points.length + " point" + (exp.points.length === 1 ? "" : "s") + ": " +
          STATE_ORDER.filter((s) => counts[s]).map((s) => counts[s] + " " + s).join(", "),
      }),
      el("span", {
        className: "best",
        text: tests.length ? "best test " + pct(Math.max(...tests)) + " %" : "",
      }),
    ]));
  }
}

// ---------------------------------------------------------------------------
// One table of the points: columns, filters, sorting.

function numberFilter(text) {
  const m = /^\s*(<=|>=|<|>|=)?\s*(-?\d+(?:\.\d*)?(?:e[-+]?\d+)?)\s*$/i.exec(text);
  if (!m) return null;
  const v = Number(m[2]);
  const op = m[1] || "=";
  return (x) =>
    x !== null && x !== undefined &&
    (op === "<"
      ? x < v
      : op === "<="
      ? x <= v
      : op === ">"
      ? x > v
      : op === ">="
      ? x >= v
      : Math.abs(x - v) < 1e-9 * Math.max(1, Math.abs(v)));
}

/** The columns: fixed ones, then every setting that differs between the shown points. */
function columnsFor(points) {
  const experiments = new Set(points.map((p) => p.experiment));
  const cols = [{ key: "choose", label: "", kind: "choose" }];
  if (experiments.size > 1) {
    cols.push({ key: "experiment", label: "experiment", kind: "text", get: (p) => p.experiment });
  }
  cols.push(
    { key: "point", label: "point", kind: "text", get: (p) => p.id },
    { key: "state", label: "state", kind: "state", get: (p) => p.state },
    {
      key: "epochs",
      label: "epochs",
      kind: "num",
      get: (p) => p.epochs,
      text: (p) => (p.target ? p.epochs + "/" + p.target : String(p.epochs)),
    },
    {
      key: "val",
      label: "best val (%)",
      kind: "num",
      get: (p) => pctValue(p.bestValAcc),
      text: (p) => pct(p.bestValAcc),
    },
    {
      key: "test",
      label: "test (%)",
      kind: "num",
      get: (p) => pctValue(p.testAcc),
      text: (p) => pct(p.testAcc),
    },
    {
      key: "spikes",
      label: "spikes",
      kind: "num",
      get: (p) => p.spikesPerSample,
      text: (p) => (p.spikesPerSample === null ? "–" : p.spikesPerSample.toFixed(1)),
    },
    {
      key: "time",
      label: "time",
      kind: "num",
      get: (p) => p.seconds,
      text: (p) => duration(p.seconds),
    },
  );
  const keys = [];
  for (const p of points) {
    for (const k of Object.keys(p.settings || {})) if (!keys.includes(k)) keys.push(k);
  }
  for (const k of keys) {
    const texts = new Set(points.map((p) => JSON.stringify((p.settings || {})[k] ?? null)));
    if (texts.size < 2) continue;
    cols.push({
      key: "p:" + k,
      label: k,
      kind: "param",
      get: (p) => (p.settings || {})[k],
      text: (p) => (k in (p.settings || {}) ? settingText(k, p.settings[k]) : "–"),
    });
  }
  return cols;
}

function pctValue(v) {
  return v === null || v === undefined ? null : v * 100;
}

function cellText(col, p) {
  if (col.text) return col.text(p);
  const v = col.get(p);
  return v === null || v === undefined ? "–" : String(v);
}

function passes(col, p) {
  const f = (state.filters.get(col.key) || "").trim();
  if (f === "") return true;
  if (col.kind === "num") {
    const test = numberFilter(f);
    if (test) return test(col.get(p));
  }
  if (col.kind === "state" || col.kind === "param") return cellText(col, p) === f;
  return cellText(col, p).toLowerCase().includes(f.toLowerCase());
}

function compareBy(col) {
  return (a, b) => {
    const x = col.get(a), y = col.get(b);
    const missing = (v) => v === null || v === undefined;
    if (missing(x) || missing(y)) return missing(x) === missing(y) ? 0 : missing(x) ? 1 : -1;
    let d;
    if (col.kind === "state") d = STATE_ORDER.indexOf(x) - STATE_ORDER.indexOf(y);
    else if (typeof x === "number" && typeof y === "number") d = x - y;
    else d = collator.compare(cellText(col, a), cellText(col, b));
    return d * state.sort.dir;
  };
}

function renderHead(points) {
  const head = el("tr", { className: "labels" });
  const filters = el("tr", { className: "filters" });
  for (const col of state.columns) {
    const th = el("th", { scope: "col", "data-col": col.key, className: "col-" + col.kind });
    if (col.kind !== "choose") {
      // Long names may break after an underscore: `train_` over `subset`.
      th.appendChild(
        el("span", { className: "label", text: col.label.replaceAll("_", "_\u200b") }),
      );
      th.title = "sort by " + col.label;
      th.addEventListener("click", () => {
        state.sort = state.sort.col === col.key
          ? { col: col.key, dir: -state.sort.dir }
          : { col: col.key, dir: col.kind === "num" ? -1 : 1 };
        syncUrl();
        renderBody();
      });
    }
    head.appendChild(th);
    const td = el("th", { "data-filter": col.key, className: "col-" + col.kind });
    if (col.kind === "state" || col.kind === "param") {
      const sel = el("select", { "aria-label": "filter " + (col.label || col.key) });
      sel.appendChild(el("option", { value: "", text: "all" }));
      const values = [...new Set(points.map((p) => cellText(col, p)))];
      values.sort(
        col.kind === "state"
          ? (a, b) => STATE_ORDER.indexOf(a) - STATE_ORDER.indexOf(b)
          : (a, b) => collator.compare(a, b),
      );
      for (const v of values) sel.appendChild(el("option", { value: v, text: v }));
      sel.value = state.filters.get(col.key) || "";
      sel.addEventListener("change", () => {
        state.filters.set(col.key, sel.value);
        syncUrl();
        renderBody();
      });
      td.appendChild(sel);
    } else if (col.kind !== "choose") {
      const input = el("input", {
        type: "search",
        size: "3",
        placeholder: col.kind === "num" ? ">80" : "filter",
        "aria-label": "filter " + col.label,
      });
      input.value = state.filters.get(col.key) || "";
      input.addEventListener("input", () => {
        state.filters.set(col.key, input.value);
        syncUrl();
        renderBody();
      });
      td.appendChild(input);
    }
    filters.appendChild(td);
  }
  tableEl.tHead.replaceChildren(head, filters);
}

function renderBody() {
  const all = visiblePoints();
  let rows = all.filter((p) => state.columns.every((c) => c.kind === "choose" || passes(c, p)));
  const col = state.columns.find((c) => c.key === state.sort.col);
  if (col) rows = rows.slice().sort(compareBy(col));
  state.rows = rows;
  for (const th of tableEl.tHead.querySelectorAll("tr.labels th")) {
    th.classList.toggle("sorted-asc", th.dataset.col === state.sort.col && state.sort.dir > 0);
    th.classList.toggle("sorted-desc", th.dataset.col === state.sort.col && state.sort.dir < 0);
  }
  const body = tableEl.tBodies[0];
  body.replaceChildren(...rows.map(rowOf));
  countEl.textContent = rows.length === all.length
    ? all.length + " point" + (all.length === 1 ? "" : "s")
    : rows.length + " of " + all.length + " points (filtered)";
}

function rowOf(p) {
  const tr = el("tr", { "data-key": p.key, className: state.chosen.has(p.key) ? "chosen" : "" });
  for (const col of state.columns) {
    if (col.kind === "choose") {
      const box = el("input", { type: "checkbox", "aria-label": "draw " + p.id });
      box.checked = state.chosen.has(p.key);
      box.addEventListener("change", () => {
        if (box.checked) state.chosen.add(p.key);
        else state.chosen.delete(p.key);
        tr.classList.toggle("chosen", box.checked);
        syncUrl();
        refreshPoints([p.key]);
      });
      tr.appendChild(el("td", { className: "choose" }, [box]));
    } else if (col.kind === "state") {
      const why = whyText(p);
      const whyEl = el("div", { className: "why", text: why, title: why });
      whyEl.addEventListener("click", () => whyEl.classList.toggle("open"));
      tr.appendChild(el("td", { className: "state", "data-col": col.key }, [
        el("span", { className: "badge state-" + p.state, text: p.state }),
        ...(why ? [whyEl] : []),
      ]));
    } else {
      const text = cellText(col, p);
      tr.appendChild(el("td", {
        // Short values (numbers, most settings) never break; long ones may.
        className: col.kind + (col.key === "point" ? " id" : "") +
          (text.length <= 12 ? " short" : ""),
        "data-col": col.key,
        title: text,
        // Ids break after an underscore first (`lr1e-3_` over `seed0`).
        text: col.key === "point" ? text.replaceAll("_", "_\u200b") : text,
      }));
    }
  }
  return tr;
}

/** The whole listing: experiments, the table's columns (kept while they stay the same), rows. */
function render() {
  renderExperiments();
  const points = visiblePoints();
  const cols = columnsFor(points);
  const sig = cols.map((c) => c.key).join("|") + "#" +
    cols.filter((c) => c.kind === "param" || c.kind === "state")
      .map((c) => [...new Set(points.map((p) => cellText(c, p)))].sort().join(",")).join("|");
  state.columns = cols;
  if (sig !== state.columnsSig) {
    state.columnsSig = sig;
    renderHead(points);
  }
  renderBody();
}

// ---------------------------------------------------------------------------
// The curves.

async function refreshPoints(keys) {
  for (const key of keys) {
    if (!state.chosen.has(key)) {
      state.metrics.delete(key);
      continue;
    }
    const [exp, id] = splitKey(key);
    try {
      const run = await getJson(
        "/api/runs/" + encodeURIComponent(exp) + "/" + encodeURIComponent(id),
      );
      state.metrics.set(key, run.metrics);
    } catch (e) {
      state.metrics.delete(key);
      console.warn(String(e));
    }
  }
  await redraw();
}

/** The chart's view for the axis, unit, smoothing and width; made anew when one changes. */
async function ensureView(unit) {
  const width = Math.max(600, Math.floor((chartEl.clientWidth || 1200) / 20) * 20);
  const smoothed = state.smoothing.kind !== "none";
  const key = [state.x, unit, smoothed ? 1 : 0, width].join("|");
  if (state.view && state.viewKey === key) return;
  const spec = await getJson(
    "/api/chart.vg.json?x=" + state.x + "&unit=" + unit + "&width=" + width + "&smoothed=" +
      (smoothed ? 1 : 0),
  );
  if (state.view) state.view.finalize();
  chartEl.textContent = "";
  state.view = new vega.View(vega.parse(spec), {
    renderer: "svg",
    container: chartEl,
    hover: true,
  });
  state.viewKey = key;
  await state.view.runAsync();
}

/** Redraws one at a time (a view made anew must not race another). */
let drawing = Promise.resolve();
function redraw() {
  drawing = drawing.then(draw, draw);
  return drawing;
}

async function draw() {
  const listed = visiblePoints().map((p) => p.key);
  const all = state.listing
    ? state.listing.experiments.flatMap((e) => e.points.map((p) => keyOf(e.name, p.id)))
    : [];
  // In the listing's order (numbers in ids by value), so the legend reads in order.
  const order = [
    ...all.filter((k) => state.chosen.has(k)),
    ...[...state.chosen].filter((k) => !all.includes(k)),
  ];
  const exps = new Set(order.map((k) => splitKey(k)[0]));
  let maxSeconds = 0;
  for (const key of order) {
    let s = 0;
    for (const m of state.metrics.get(key) || []) {
      s += typeof m.seconds === "number" ? m.seconds : 0;
    }
    maxSeconds = Math.max(maxSeconds, s);
  }
  const unit = timeUnit(maxSeconds);
  await ensureView(unit.unit);
  const rows = [];
  for (const key of order) {
    const label = exps.size > 1 ? key : splitKey(key)[1];
    rows.push(...curveRows(label, state.metrics.get(key) || [], {
      x: state.x,
      smoothing: state.smoothing,
      unitSeconds: unit.seconds,
    }));
  }
  state.chartRows = rows;
  await state.view.change("rows", vega.changeset().remove(() => true).insert(rows)).resize()
    .runAsync();
  const gone = order.filter((k) => !all.includes(k)).length;
  const hiddenChosen = order.filter((k) => all.includes(k) && !listed.includes(k)).length;
  const aside = [
    hiddenChosen ? hiddenChosen + " in hidden experiments" : "",
    gone ? gone + " no longer in the runs folder" : "",
  ].filter(Boolean).join(", ");
  noteEl.textContent = state.chosen.size === 0
    ? "Tick points in the table to draw their curves."
    : state.chosen.size + " point" + (state.chosen.size === 1 ? "" : "s") + " chosen" +
      (aside ? " (" + aside + ")" : "") +
      "; click a legend entry to highlight one." +
      (state.x === "step" && rows.length === 0
        ? " These runs' metrics.jsonl has no steps: draw them against epoch or time."
        : "");
}

function setupControls() {
  for (const input of document.querySelectorAll("input[name=x]")) {
    input.checked = input.value === state.x;
    input.addEventListener("change", () => {
      if (!input.checked) return;
      state.x = input.value;
      syncUrl();
      redraw();
    });
  }
  const kind = $("smooth-kind"), amount = $("smooth-amount"), shown = $("smooth-value");
  const configure = () => {
    const k = state.smoothing.kind;
    amount.disabled = k === "none";
    if (k === "mean") {
      Object.assign(amount, { min: "2", max: "20", step: "1" });
    } else {
      Object.assign(amount, { min: "0", max: "0.95", step: "0.05" });
    }
    amount.value = String(state.smoothing.amount);
    shown.textContent = k === "none"
      ? ""
      : k === "ema"
      ? "weight " + state.smoothing.amount
      : state.smoothing.amount + " points";
  };
  kind.value = state.smoothing.kind;
  kind.addEventListener("change", () => {
    state.smoothing = { kind: kind.value, amount: kind.value === "mean" ? 3 : 0.6 };
    configure();
    syncUrl();
    redraw();
  });
  amount.addEventListener("input", () => {
    state.smoothing = { kind: state.smoothing.kind, amount: Number(amount.value) };
    configure();
    syncUrl();
    redraw();
  });
  configure();
  $("clear").addEventListener("click", () => {
    state.filters.clear();
    state.columnsSig = "";
    syncUrl();
    render();
  });
  let resizing = null;
  addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => redraw(), 200);
  });
}

// ---------------------------------------------------------------------------
// Live updates.

async function refreshListing() {
  state.listing = await getJson("/api/experiments");
  render();
}

let timer = null;
const pending = new Set();
function schedule(changes) {
  for (const c of changes) pending.add(keyOf(c.experiment, c.id));
  if (timer) return;
  timer = setTimeout(async () => {
    timer = null;
    const keys = [...pending];
    pending.clear();
    try {
      await refreshListing();
      await refreshPoints(keys.filter((k) => state.chosen.has(k)));
      state.updates += 1;
      state.lastUpdate = new Date();
      statusEl.textContent = "live · updated " + state.lastUpdate.toLocaleTimeString();
    } catch (e) {
      statusEl.textContent = "update failed: " + e.message;
    }
  }, 200);
}

async function main() {
  setupControls();
  await refreshListing();
  if (!explicit) {
    for (const exp of state.listing.experiments) {
      for (const p of exp.points) {
        if (p.state === "running" && state.chosen.size < 10) {
          state.chosen.add(keyOf(exp.name, p.id));
        }
      }
    }
  }
  state.columnsSig = "";
  render();
  await refreshPoints([...state.chosen]);
  const events = new EventSource("/api/events");
  events.addEventListener("hello", () => {
    statusEl.textContent = "live";
  });
  events.addEventListener("change", (e) => schedule(JSON.parse(e.data)));
  // The runs folder was removed or made again: list it anew, and the chosen points.
  events.addEventListener(
    "root",
    () =>
      schedule([...state.chosen].map((k) => ({ experiment: splitKey(k)[0], id: splitKey(k)[1] }))),
  );
  // The board reports changes from now on: read anew what may have changed since the page
  // read it (and, after a reconnection, while it was away).
  events.addEventListener("watching", () => {
    schedule([...state.chosen].map((k) => ({ experiment: splitKey(k)[0], id: splitKey(k)[1] })));
    state.ready = true;
  });
  events.onerror = () => {
    statusEl.textContent = "reconnecting…";
  };
}

main().catch((e) => {
  statusEl.textContent = "error: " + e.message;
  console.error(e);
});
