// The board's page script (served inline by board.ts). Lists experiments and
// points, draws the chosen points' curves with Vega, and redraws when the
// server says a run's files changed (server-sent events). Run data is put in
// the page as text only (textContent), never as markup. `window.board` gives
// the view and the state to scripts (and to the browser test).
(function () {
  "use strict";
  const listEl = document.getElementById("list");
  const chartEl = document.getElementById("chart");
  const statusEl = document.getElementById("status");
  const noteEl = document.getElementById("note");
  const state = {
    listing: null,
    chosen: new Set(), // "experiment/id"
    rows: new Map(), // "experiment/id" -> rows
    view: null,
    updates: 0,
    lastUpdate: null,
  };
  globalThis.board = state;

  const params = new URLSearchParams(location.search);
  for (const p of params.getAll("point")) state.chosen.add(p);
  const explicit = state.chosen.size > 0;

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

  function pct(v) {
    return v === null || v === undefined ? "–" : (v * 100).toFixed(2);
  }

  function keyOf(exp, id) {
    return exp + "/" + id;
  }

  async function getJson(url) {
    const r = await fetch(url, { cache: "no-store" });
    if (!r.ok) throw new Error(url + ": " + r.status + " " + (await r.text()));
    return r.json();
  }

  function renderList() {
    const listing = state.listing;
    listEl.textContent = "";
    if (!listing || listing.experiments.length === 0) {
      listEl.appendChild(
        el("p", {
          text: "No run folders yet in " + (listing ? listing.root : "the runs folder") + ".",
        }),
      );
      return;
    }
    for (const exp of listing.experiments) {
      const counts = {};
      for (const p of exp.points) counts[p.state] = (counts[p.state] || 0) + 1;
      const summary = exp.name + " (" + Object.entries(counts).map(([s, n]) =>
        n + " " + s
      ).join(", ") + ")";
      const rows = exp.points.map((p) => {
        const key = keyOf(exp.name, p.id);
        const box = el("input", { type: "checkbox", "aria-label": "draw " + p.id });
        box.checked = state.chosen.has(key);
        box.addEventListener("change", () => {
          if (box.checked) state.chosen.add(key);
          else state.chosen.delete(key);
          syncUrl();
          refreshPoints([key]).then(renderList);
        });
        const tr = el("tr", { "data-key": key, className: state.chosen.has(key) ? "chosen" : "" }, [
          el("td", {}, [box]),
          el("td", { className: "id", text: p.id }),
          el("td", {
            className: "state state-" + p.state,
            text: p.rung
              ? p.state + " (rung " + p.rung.rung + " of " + p.rung.rungs + ")"
              : p.state,
          }),
          el("td", {
            className: "num epochs",
            text: p.target ? p.epochs + "/" + p.target : String(p.epochs),
          }),
          el("td", { className: "num", text: pct(p.bestValAcc) }),
          el("td", { className: "num", text: pct(p.testAcc) }),
          el("td", {
            className: "num",
            text: p.spikesPerSample === null ? "–" : p.spikesPerSample.toFixed(1),
          }),
        ]);
        if (p.error) tr.title = p.error;
        return tr;
      });
      const head = el(
        "tr",
        {},
        ["", "point", "state", "epochs", "best val (%)", "test (%)", "spikes"].map((h) =>
          el("th", { text: h })
        ),
      );
      const search = exp.search
        ? [
          el("p", {
            className: "search-line",
            text: "search: " + exp.search.trials + " trials started, " + exp.search.top +
              " at the top rung" + (exp.search.best
                ? "; best so far " + exp.search.best.id + " (rung " + exp.search.best.rung +
                  " of " + exp.search.best.rungs + ", val " + pct(exp.search.best.bestValAcc) +
                  " %)"
                : ""),
          }),
        ]
        : [];
      listEl.appendChild(
        el("details", { open: "" }, [
          el("summary", { text: summary }),
          ...search,
          el("table", {}, [el("thead", {}, [head]), el("tbody", {}, rows)]),
        ]),
      );
    }
  }

  function syncUrl() {
    const q = new URLSearchParams();
    for (const k of state.chosen) q.append("point", k);
    history.replaceState(null, "", q.toString() ? "?" + q.toString() : location.pathname);
  }

  async function refreshPoints(keys) {
    for (const key of keys) {
      if (!state.chosen.has(key)) {
        state.rows.delete(key);
        continue;
      }
      const slash = key.indexOf("/");
      const exp = key.slice(0, slash), id = key.slice(slash + 1);
      try {
        const run = await getJson(
          "/api/runs/" + encodeURIComponent(exp) + "/" + encodeURIComponent(id),
        );
        state.rows.set(key, run.rows);
      } catch (e) {
        state.rows.delete(key);
        console.error(e);
      }
    }
    await redraw();
  }

  async function redraw() {
    if (!state.view) return;
    const exps = new Set([...state.chosen].map((k) => k.slice(0, k.indexOf("/"))));
    const rows = [];
    // In the listing's order (numbers in ids by value), so the legend reads in order.
    const listed = state.listing
      ? state.listing.experiments.flatMap((e) => e.points.map((p) => keyOf(e.name, p.id)))
      : [];
    const order = [
      ...listed.filter((k) => state.chosen.has(k)),
      ...[...state.chosen].filter((k) => !listed.includes(k)),
    ];
    for (const key of order) {
      const label = exps.size > 1 ? key : key.slice(key.indexOf("/") + 1);
      for (const r of state.rows.get(key) || []) rows.push(Object.assign({}, r, { point: label }));
    }
    // resize(): the facets change with the data, so the layout is computed again.
    await state.view.change("rows", vega.changeset().remove(() => true).insert(rows)).resize()
      .runAsync();
    noteEl.textContent = state.chosen.size === 0
      ? "Choose points on the left to draw their curves."
      : state.chosen.size + " point" + (state.chosen.size === 1 ? "" : "s") +
        " drawn; click a legend entry to highlight one.";
  }

  async function refreshListing() {
    state.listing = await getJson("/api/experiments");
    renderList();
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
    const spec = await getJson("/api/chart.vg.json");
    state.view = new vega.View(vega.parse(spec), {
      renderer: "svg",
      container: chartEl,
      hover: true,
    });
    await state.view.runAsync();
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
    await refreshPoints([...state.chosen]);
    renderList();
    const events = new EventSource("/api/events");
    events.addEventListener("hello", () => {
      statusEl.textContent = "live";
    });
    events.addEventListener("change", (e) => schedule(JSON.parse(e.data)));
    events.onerror = () => {
      statusEl.textContent = "reconnecting…";
    };
    state.ready = true;
  }

  main().catch((e) => {
    statusEl.textContent = "error: " + e.message;
    console.error(e);
  });
})();
