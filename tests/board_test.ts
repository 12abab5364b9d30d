// The live board's server: what it lists, what it refuses (path traversal, writes,
// foreign hosts), and the change events it sends while a run trains.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Board, liveChartSpec, liveRows, serveBoard } from "../src/report/board.ts";
import { curveRows, ema, movingAverage, timeUnit, xValues } from "../src/report/board_curves.js";
import { epoch, result, withTempDir, writeRun } from "./_runs.ts";
import { runTask, startTask } from "./_task.ts";

const SECRET = "TOP-SECRET-NOT-A-RUN";

/** runs/grid with a point in each state, and a secret file beside runs/. */
async function runsTree(root: string): Promise<string> {
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
  await writeRun(grid, { id: "lr1e-4_seed0", lr: 1e-4, seed: 0, state: "failed", error: "boom" });
  await writeRun(grid, {
    id: "lr3e-4_seed0",
    lr: 3e-4,
    seed: 0,
    state: "running",
    metrics: [epoch(1, 0.4, 0.4)],
  });
  await Deno.mkdir(join(grid, "lr1e-1_seed0"));
  await Deno.writeTextFile(join(grid, "lr1e-1_seed0", "slurm-1_0.log"), "");
  await writeRun(join(runs, "other"), { id: "default", lr: 1e-3, seed: 0, state: "done" });
  // Outside the runs folder.
  await Deno.writeTextFile(join(root, "secret.txt"), SECRET);
  await Deno.mkdir(join(root, "outside", "evil"), { recursive: true });
  await Deno.writeTextFile(
    join(root, "outside", "evil", "metrics.jsonl"),
    `{"epoch":1,"x":"${SECRET}"}\n`,
  );
  await Deno.writeTextFile(
    join(root, "outside", "evil", "run.yaml"),
    `kind: run\nnote: ${SECRET}\n`,
  );
  // A run folder that is a link out of runs/, and a run whose files link out.
  await Deno.symlink(join(root, "outside", "evil"), join(grid, "linked"));
  const sneaky = join(grid, "sneaky");
  await Deno.mkdir(sneaky);
  await Deno.symlink(join(root, "outside", "evil", "metrics.jsonl"), join(sneaky, "metrics.jsonl"));
  await Deno.symlink(join(root, "secret.txt"), join(sneaky, "run.yaml"));
  return runs;
}

async function get(board: Board, path: string, init: RequestInit = {}) {
  const res = await board.handler(new Request(`http://127.0.0.1:8080${path}`, init));
  return { status: res.status, text: await res.text(), headers: res.headers };
}

Deno.test("board: lists experiments and points with their state", async () => {
  await withTempDir(async (root) => {
    const board = await Board.open(await runsTree(root));
    const { status, text, headers } = await get(board, "/api/experiments");
    assert.equal(status, 200);
    assert.match(headers.get("content-type")!, /application\/json/);
    const listing = JSON.parse(text);
    assert.deepEqual(listing.experiments.map((e: { name: string }) => e.name), ["grid", "other"]);
    const points = listing.experiments[0].points as Record<string, unknown>[];
    // Numeric order of ids; every state.
    assert.deepEqual(points.map((p) => [p.id, p.state]), [
      ["lr1e-4_seed0", "failed"],
      ["lr3e-4_seed0", "stopped"],
      ["lr1e-3_seed0", "running"],
      ["lr1e-2_seed0", "done"],
      ["lr1e-1_seed0", "pending"],
      ["sneaky", "pending"],
    ]);
    const running = points[2];
    assert.equal(running.epochs, 2);
    assert.equal(running.target, 5);
    assert.equal(running.bestValAcc, 0.6);
    // Steps and seconds so far: 10 steps an epoch; epoch e takes 10 e seconds.
    assert.deepEqual([running.steps, running.seconds], [20, 30]);
    // Why each is in its state, and since when.
    assert.match(running.reason as string, new RegExp(`^trained by pid ${Deno.pid} on `));
    assert.ok(Date.now() - Date.parse(running.since as string) < 60_000, String(running.since));
    assert.equal(points[0].error, "boom");
    assert.equal(points[0].reason, "boom");
    assert.match(points[1].reason as string, /no runner holds it.*resumes it from its checkpoint/);
    assert.equal(points[3].testAcc, 0.8);
    assert.equal(points[3].reason, "trained every epoch");
    assert.equal(points[4].reason, "no run.yaml yet: queued or starting");
    // Settings as columns: what run.yaml says, less where it ran; the grid point while
    // there is no run.yaml.
    assert.deepEqual(
      Object.keys(points[3].settings as object).sort(),
      ["arch", "batch_size", "dataset", "epochs", "lr", "optimizer", "seed", "t_win"],
    );
    assert.deepEqual(points[4].settings, {});
    assert.deepEqual(listing.nullMeans.train_subset, "all");
    // One experiment folder as the root: that experiment alone.
    const one = await Board.open(join(root, "runs", "grid"));
    const l1 = JSON.parse((await get(one, "/api/experiments")).text);
    assert.deepEqual(l1.experiments.map((e: { name: string }) => e.name), ["grid"]);
    assert.equal(l1.experiments[0].points.length, 6);
    // A run's metrics and the rows the chart draws.
    const run = JSON.parse((await get(board, "/api/runs/grid/lr1e-3_seed0")).text);
    assert.equal(run.state, "running");
    assert.deepEqual(run.metrics.map((m: { epoch: number }) => m.epoch), [1, 2]);
    assert.deepEqual(run.rows, liveRows("lr1e-3_seed0", run.metrics));
    assert.deepEqual(
      run.rows.filter((r: { epoch: number }) => r.epoch === 2).map((
        r: { panel: string; series: string; value: number },
      ) => [r.panel, r.series, Number(r.value.toFixed(6))]),
      [
        ["accuracy (%)", "validation", 60],
        ["accuracy (%)", "test", 55],
        ["loss", "training", 0.5],
        ["loss", "validation", 1],
        ["spikes per sample", "per test sample", 102],
      ],
    );
  });
});

Deno.test("board: serves nothing outside the runs folder", async () => {
  await withTempDir(async (root) => {
    const board = await Board.open(await runsTree(root));
    const attempts = [
      "/secret.txt",
      "/../secret.txt",
      "/%2e%2e/secret.txt",
      "/..%2fsecret.txt",
      "/api/runs/grid/..%2F..%2Fsecret.txt",
      "/api/runs/..%2F..%2F/secret.txt",
      "/api/runs/..%2Foutside/evil",
      "/api/runs/grid/%2e%2e",
      "/api/runs/%2e%2e/%2e%2e",
      "/api/runs/grid/..%5C..%5Csecret.txt",
      "/api/runs/grid/lr1e-3_seed0%2F..%2F..%2F..%2Fsecret.txt",
      "/api/runs/grid/lr1e-3_seed0/metrics.jsonl",
      "/api/runs/grid/linked",
      "/api/runs/grid/%ZZ",
      "/api/runs/grid/lr1e-3_seed0%00",
      "/api/runs/outside/evil",
      "/runs/grid/lr1e-3_seed0/run.yaml",
      "/grid/lr1e-3_seed0/metrics.jsonl",
    ];
    for (const path of attempts) {
      const r = await get(board, path);
      assert.ok(!r.text.includes(SECRET), `${path} leaked the secret`);
      // URL parsing reads %2e%2e as '..' and climbs no higher than '/': the page.
      if (new URL(path, "http://x").pathname === "/") {
        assert.equal(r.status, 200);
        assert.match(r.headers.get("content-type")!, /text\/html/);
        continue;
      }
      assert.ok(r.status === 404 || r.status === 400, `${path}: status ${r.status}`);
    }
    // A run folder whose files are links out of runs/: listed, but its files read as absent.
    const sneaky = await get(board, "/api/runs/grid/sneaky");
    assert.equal(sneaky.status, 200);
    assert.ok(!sneaky.text.includes(SECRET));
    assert.deepEqual(JSON.parse(sneaky.text).metrics, []);
    const listing = await get(board, "/api/experiments");
    assert.ok(!listing.text.includes(SECRET) && !listing.text.includes('"linked"'));
    // The same requests on the wire, where no URL parser tidies the path first.
    const served = await serveBoard({ root: join(root, "runs"), port: 0 });
    try {
      for (const path of [...attempts, "/../../secret.txt", "/api/runs/grid/../../secret.txt"]) {
        const raw = await rawGet(served.server.addr.port, path);
        const status = Number(raw.split(" ")[1]);
        assert.ok(!raw.includes(SECRET), `raw ${path} leaked the secret`);
        if (status === 200) {
          assert.match(raw, /content-type: text\/html/i, `raw ${path}: only the page`);
          continue;
        }
        assert.ok(status === 404 || status === 400, `raw ${path}: ${raw.split("\r\n")[0]}`);
      }
    } finally {
      await served.close();
    }
  });
});

async function rawGet(port: number, path: string, host = "127.0.0.1"): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      new TextEncoder().encode(
        `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      ),
    );
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    return new TextDecoder().decode(
      chunks.reduce((a, b) => new Uint8Array([...a, ...b]), new Uint8Array()),
    );
  } finally {
    conn.close();
  }
}

Deno.test("board: read-only, loopback names only, escaped page", async () => {
  await withTempDir(async (root) => {
    const runs = await runsTree(root);
    // An experiment whose folder name is markup.
    await writeRun(join(runs, "<img src=x onerror=alert(1)>"), {
      id: "a",
      lr: 1,
      seed: 0,
      state: "done",
    });
    const board = await Board.open(runs);
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      const r = await get(board, "/api/experiments", { method, body: "x" });
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.get("allow"), "GET, HEAD");
    }
    const head = await get(board, "/api/experiments", { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.text, "");
    const rebound = await board.handler(
      new Request("http://127.0.0.1:8080/api/experiments", { headers: { host: "evil.example" } }),
    );
    assert.equal(rebound.status, 403);
    await rebound.body?.cancel();
    for (const host of ["localhost:8080", "127.0.0.1", "[::1]:9"]) {
      const ok = await board.handler(
        new Request("http://127.0.0.1:8080/api/experiments", { headers: { host } }),
      );
      assert.equal(ok.status, 200, host);
      await ok.body?.cancel();
    }
    const page = await get(board, "/");
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-security-policy")!, /connect-src 'self'/);
    assert.ok(page.text.includes('<script src="/vega.min.js"></script>'));
    assert.ok(page.text.includes("firstspike board: runs"));
    // The markup name reaches the page only as JSON data (the client sets textContent).
    const listing = await get(board, "/api/experiments");
    assert.ok(listing.text.includes("<img src=x onerror=alert(1)>"));
    assert.ok(!page.text.includes("<img src=x"));
    const vega = await get(board, "/vega.min.js");
    assert.equal(vega.status, 200);
    assert.match(vega.headers.get("content-type")!, /javascript/);
    assert.ok(vega.text.length > 100_000);
    const chart = JSON.parse((await get(board, "/api/chart.vg.json")).text);
    assert.ok(chart.data.some((d: { name: string }) => d.name === "rows"));
    for (const bad of ["?x=wall", "?width=wide", "?unit=days"]) {
      const r = await get(board, `/api/chart.vg.json${bad}`);
      assert.equal(r.status, 400, bad);
      assert.match(r.text, /Expected \/api\/chart\.vg\.json\?x=epoch\|step\|time/);
    }
    // The page's scripts: the client and the curves it shares with the server.
    for (const script of ["/board.js", "/board_curves.js"]) {
      const r = await get(board, script);
      assert.equal(r.status, 200, script);
      assert.match(r.headers.get("content-type")!, /javascript/);
    }
    assert.match((await get(board, "/board.js")).text, /from "\.\/board_curves\.js"/);
    assert.ok(page.text.includes('<script type="module" src="/board.js"></script>'));
  });
});

/** Reads server-sent events until `until` holds for one, or the time runs out. */
async function waitForEvent(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  until: (event: string, data: string) => boolean,
  ms: number,
): Promise<{ event: string; data: string }> {
  const dec = new TextDecoder();
  let buf = "";
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no matching event within ${ms} ms; got so far: ${buf}`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const chunk = await Promise.race([
      reader.read(),
      new Promise<null>((r) => timer = setTimeout(() => r(null), left)),
    ]);
    clearTimeout(timer);
    if (chunk === null) continue;
    if (chunk.done) throw new Error(`stream ended; got: ${buf}`);
    buf += dec.decode(chunk.value, { stream: true });
    let end;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
      const data = /^data: (.*)$/m.exec(block)?.[1] ?? "";
      if (until(event, data)) return { event, data };
    }
  }
}

for (const watch of [true, false]) {
  Deno.test(`board: an appended epoch is announced (${watch ? "file events" : "scan only"})`, async () => {
    await withTempDir(async (root) => {
      const runs = await runsTree(root);
      const served = await serveBoard({ root: runs, port: 0, watch, scanMs: 100 });
      try {
        const res = await fetch(`${served.url}api/events`);
        assert.match(res.headers.get("content-type")!, /text\/event-stream/);
        const reader = res.body!.getReader();
        try {
          // (hello, then) the board has recorded the files as they are: every change from
          // now on is reported.
          await waitForEvent(reader, (e) => e === "watching", 5000);
          await Deno.writeTextFile(
            join(runs, "grid", "lr1e-3_seed0", "metrics.jsonl"),
            JSON.stringify(epoch(3, 0.7, 0.65)) + "\n",
            { append: true },
          );
          const ev = await waitForEvent(
            reader,
            (e, d) => e === "change" && d.includes('"lr1e-3_seed0"'),
            5000,
          );
          assert.deepEqual(JSON.parse(ev.data), [{ experiment: "grid", id: "lr1e-3_seed0" }]);
          // What the page then reads holds the new epoch.
          const run = await (await fetch(`${served.url}api/runs/grid/lr1e-3_seed0`)).json();
          assert.deepEqual(run.metrics.map((m: { epoch: number }) => m.epoch), [1, 2, 3]);
        } finally {
          await reader.cancel();
        }
      } finally {
        await served.close();
      }
    });
  });
}

Deno.test("board: 'watching' says when changes are reported, to the first page after its scan and to later pages at once", async () => {
  await withTempDir(async (root) => {
    const runs = await runsTree(root);
    // A slow first scan (many runs, a loaded machine, NFS) is what lost changes: a page read
    // its points, an epoch was appended, and only then did the scan record the files.
    const served = await serveBoard({ root: runs, port: 0, scanMs: 100 });
    try {
      const first = (await fetch(`${served.url}api/events`)).body!.getReader();
      const second: ReadableStreamDefaultReader<Uint8Array>[] = [];
      try {
        await waitForEvent(first, (e) => e === "watching", 5000);
        second.push((await fetch(`${served.url}api/events`)).body!.getReader());
        await waitForEvent(second[0], (e) => e === "watching", 1000);
      } finally {
        await first.cancel();
        for (const r of second) await r.cancel();
      }
    } finally {
      await served.close();
    }
  });
});

Deno.test("board: a runs folder removed under it shows as missing and comes back", async () => {
  await withTempDir(async (root) => {
    const runs = await runsTree(root);
    const served = await serveBoard({ root: runs, port: 0, scanMs: 100 });
    try {
      const res = await fetch(`${served.url}api/events`);
      const reader = res.body!.getReader();
      try {
        await waitForEvent(reader, (e) => e === "watching", 5000);
        const before = await (await fetch(`${served.url}api/experiments`)).json();
        assert.equal(before.missing, false);
        assert.equal(before.experiments.length, 2);
        await Deno.remove(runs, { recursive: true });
        await waitForEvent(reader, (e, d) => e === "root" && JSON.parse(d).missing, 5000);
        // Every address answers without a stack trace: the listing says the folder is gone.
        const gone = await fetch(`${served.url}api/experiments`);
        assert.equal(gone.status, 200);
        const listing = await gone.json();
        assert.deepEqual([listing.missing, listing.experiments], [true, []]);
        const page = await fetch(served.url);
        assert.equal(page.status, 200);
        await page.body?.cancel();
        const run = await fetch(`${served.url}api/runs/grid/lr1e-3_seed0`);
        assert.equal(run.status, 404);
        assert.ok(!/\bat .*\.ts:\d+/.test(await run.text()), "a stack trace");
        // The folder comes back (made anew): announced, listed and watched again.
        await writeRun(join(runs, "back"), {
          id: "again",
          lr: 1e-3,
          seed: 0,
          state: "running",
          lock: "live",
          metrics: [epoch(1, 0.5, 0.5)],
        });
        await waitForEvent(reader, (e, d) => e === "root" && !JSON.parse(d).missing, 5000);
        const after = await (await fetch(`${served.url}api/experiments`)).json();
        assert.equal(after.missing, false);
        assert.deepEqual(after.experiments.map((e: { name: string }) => e.name), ["back"]);
        // A new epoch in the new folder is announced.
        await new Promise((r) => setTimeout(r, 300));
        await Deno.writeTextFile(
          join(runs, "back", "again", "metrics.jsonl"),
          JSON.stringify(epoch(2, 0.6, 0.6)) + "\n",
          { append: true },
        );
        await waitForEvent(reader, (e, d) => e === "change" && d.includes('"again"'), 5000);
      } finally {
        await reader.cancel();
      }
    } finally {
      await served.close();
    }
  });
});

Deno.test("board: an error answers 500 with one line, no stack trace", async () => {
  await withTempDir(async (root) => {
    const board = await Board.open(await runsTree(root));
    // Make listing throw something unexpected.
    (board as unknown as { experiments: () => Promise<never> }).experiments = () => {
      throw new Error("disk on fire");
    };
    const r = await get(board, "/api/experiments");
    assert.equal(r.status, 500);
    assert.equal(r.text, "The board could not answer '/api/experiments': disk on fire\n");
  });
});

Deno.test("board: a folder named run.yaml is an unreadable point, the rest still listed", async () => {
  await withTempDir(async (root) => {
    const runs = await runsTree(root);
    await Deno.mkdir(join(runs, "grid", "odd", "run.yaml"), { recursive: true });
    const board = await Board.open(runs);
    const listing = JSON.parse((await get(board, "/api/experiments")).text);
    const points = listing.experiments[0].points as Record<string, unknown>[];
    const odd = points.find((p) => p.id === "odd")!;
    assert.equal(odd.state, "invalid");
    assert.match(odd.error as string, /run\.yaml': expected a file, got a folder/);
    assert.equal(points.length, 7);
    const run = await get(board, "/api/runs/grid/odd");
    assert.equal(run.status, 200);
    assert.equal(JSON.parse(run.text).state, "invalid");
  });
});

/** `deno task board ARGS` as users run it, with deno.json's permissions. */
function boardTask(args: string[]) {
  return runTask("board", args, { inside: true });
}

Deno.test("board task: --help, usage errors exit 2, a missing folder exits 1", async () => {
  const help = await boardTask(["--help"]);
  assert.equal(help.code, 0);
  assert.ok(help.stdout.includes("Examples:\n  deno task board runs/ --port 8090"), help.stdout);
  for (
    const [args, msg] of [
      [["--port", "http"], /--port: expected an integer from 0 to 65535, got 'http'/],
      [["--port", "70000"], /--port: expected an integer from 0 to 65535/],
      [["--scan-ms", "0"], /--scan-ms: expected a positive integer/],
      [["a", "b"], /expected at most one runs folder, got 2/],
      [["--nope"], /nope/],
    ] as const
  ) {
    const r = await boardTask([...args]);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.stderr, msg);
    assert.match(r.stderr, /Run 'deno task board --help' for usage/);
  }
  const missing = await boardTask(["/nonexistent/runs", "--port", "0"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /expected a runs folder \(like runs\/\), got '\/nonexistent\/runs'/);
});

Deno.test("board curves: x is the epoch, the steps so far or the seconds so far", () => {
  const m = [
    { epoch: 1, steps: 10, seconds: 4 },
    { epoch: 2, steps: 10, seconds: 6 },
    { epoch: 3, steps: 5, seconds: 5 },
  ];
  assert.deepEqual(xValues(m, "epoch"), [1, 2, 3]);
  assert.deepEqual(xValues(m, "step"), [10, 20, 25]);
  assert.deepEqual(xValues(m, "time"), [4, 10, 15]);
  // A line without steps (an older metrics.jsonl): no x from it on.
  assert.deepEqual(xValues([m[0], { epoch: 2 }, m[2]], "step"), [10, null, null]);
  assert.deepEqual(timeUnit(100), { unit: "s", seconds: 1 });
  assert.deepEqual(timeUnit(600), { unit: "min", seconds: 60 });
  assert.deepEqual(timeUnit(10_000), { unit: "h", seconds: 3600 });
});

Deno.test("board curves: smoothing is an exact EMA or trailing mean", () => {
  // EMA with weight 0.5 by hand: 10; 0.5*10 + 0.5*20 = 15; 0.5*15 + 0.5*0 = 7.5; 0.5*7.5 + 0.5*40 = 23.75.
  assert.deepEqual(ema([10, 20, 0, 40], 0.5), [10, 15, 7.5, 23.75]);
  // Weight 0.9: 1; 0.9 + 0.1*2 = 1.1; 0.99 + 0.3 = 1.29.
  const e = ema([1, 2, 3], 0.9);
  assert.ok(Math.abs(e[1] - 1.1) < 1e-12 && Math.abs(e[2] - 1.29) < 1e-12, String(e));
  assert.deepEqual(ema([3, 4], 0), [3, 4]);
  // Trailing mean over 3: 10; 15; (10+20+0)/3 = 10; (20+0+40)/3 = 20.
  assert.deepEqual(movingAverage([10, 20, 0, 40], 3), [10, 15, 10, 20]);
  assert.deepEqual(movingAverage([5, 7], 1), [5, 7]);
  // Rows: each series smoothed along itself; raw kept beside the smoothed value.
  const metrics = [1, 2, 3].map((e) => epoch(e, 0.5 + 0.1 * e, 0.4 + 0.1 * e));
  const rows = curveRows("p", metrics, { x: "time", smoothing: { kind: "ema", amount: 0.5 } });
  const test = rows.filter((r) => r.series === "test");
  // Test accuracy 50, 60, 70 %: EMA 50, 55, 62.5; at 10, 30, 60 s (epoch e takes 10 e s).
  assert.deepEqual(test.map((r) => r.x), [10, 30, 60]);
  assert.deepEqual(test.map((r) => Number(r.value.toFixed(9))), [50, 55, 62.5]);
  assert.deepEqual(test.map((r) => Number(r.raw.toFixed(9))), [50, 60, 70]);
  // Minutes: the x divided by 60.
  const mins = curveRows("p", metrics, { x: "time", unitSeconds: 60 });
  assert.deepEqual(mins.filter((r) => r.series === "test").map((r) => r.x), [10 / 60, 0.5, 1]);
  // Unsmoothed, value is the number itself; liveRows is the epoch view of it.
  assert.deepEqual(liveRows("p", metrics as any), curveRows("p", metrics));
});

Deno.test("board chart: three panels fill the width, the axis says what x is", () => {
  const spec = liveChartSpec({ x: "time", unit: "min", width: 1200, smoothed: true }) as any;
  assert.equal(spec.columns, 3);
  // 3 panels with their axes and gaps in 1200 px.
  assert.equal(spec.spec.width, Math.floor((1200 - 3 * 55 - 2 * 20 - 10) / 3));
  assert.equal(spec.spec.layer.length, 2, "the raw curve faint behind the smoothed one");
  assert.equal(spec.spec.layer[0].encoding.y.field, "raw");
  assert.equal(spec.spec.layer[1].encoding.y.field, "value");
  assert.equal(spec.spec.layer[1].encoding.x.title, "training time (min)");
  const plain = liveChartSpec({ x: "step" }) as any;
  assert.equal(plain.spec.layer.length, 1);
  assert.equal(plain.spec.layer[0].encoding.x.title, "optimiser step");
});

Deno.test("board task: --host 0.0.0.0 (every interface) and the IPv6 loopback serve, with deno.json's permissions", async () => {
  // The docs say the board listens on 127.0.0.1 unless --host says otherwise: deno.json granted
  // loopback names only (0.0.0.0 exited 2) and '::1' made an invalid permission ('::1:8080').
  await withTempDir(async (root) => {
    await runsTree(root);
    for (const host of ["0.0.0.0", "::1", "[::1]"]) {
      const task = startTask("board", ["runs", "--host", host, "--port", "0"], { cwd: root });
      try {
        const m = await task.waitFor(/board: (http:\/\/\S+\/)/, 30_000);
        const url = m[1].replace("0.0.0.0", "127.0.0.1");
        assert.match(
          m[1],
          host === "0.0.0.0" ? /^http:\/\/0\.0\.0\.0:\d+\/$/ : /^http:\/\/\[::1\]:\d+\/$/,
        );
        const r = await fetch(`${url}api/experiments`);
        const text = await r.text();
        assert.equal(r.status, 200, `${host}: ${text}`);
        assert.match(text, /grid/);
      } finally {
        try {
          task.kill("SIGTERM");
        } catch {
          // it ended by itself (refused)
        }
        const end = await task.finished();
        assert.doesNotMatch(end.stderr, /missing permission|invalid/, host);
      }
    }
  });
});
