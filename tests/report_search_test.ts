// The report and the board of a search, on a synthetic finished search (its state and
// its trials' run folders written as the worker and runPoint write them): the best trial
// and its ready-to-run file, the trials table with rungs, the three figures, and the
// board's listing of trials with their rungs.
import assert from "node:assert/strict";
import { join } from "node:path";
import { parseExperiment } from "../src/experiment/config.ts";
import { Board } from "../src/report/board.ts";
import { acquireLock } from "../src/run/run_lock.ts";
import { buildReport, writeReport } from "../src/report/report.ts";
import { metricGoal } from "../src/experiment/search_spec.ts";
import { renderSvg } from "../src/report/vega.ts";
import { parseXml } from "./_parse.ts";
import { writeSyntheticSearch } from "./_search.ts";
import { drawnText } from "../src/report/search.ts";
import type { Job } from "../src/search/schedule.ts";

async function withTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "firstspike_report_search_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The best trial by hand: the highest rung any trial reached, then the highest value there. */
function bestByHand(jobs: Job[]): Job {
  const top = Math.max(...jobs.map((j) => j.rung));
  return jobs.filter((j) => j.rung === top)
    .reduce((a, b) => (b.result!.value! > a.result!.value! ? b : a));
}

Deno.test("report of a search: best trial, its settings file, trials with rungs, figures", async () => {
  await withTemp(async (root) => {
    const { plan, jobs } = await writeSyntheticSearch(root);
    const expDir = join(root, "srch");
    const report = await buildReport(expDir);
    assert.ok(report.search, "a search section");
    const [s] = report.search!.searches;
    const best = bestByHand(jobs);
    assert.equal(s.best!.trial, best.trial);
    assert.equal(s.best!.rung, 2);
    assert.equal(metricGoal(plan.spec.metric), "max");

    // The settings file runs as it stands and carries the best trial's values.
    const file = parseExperiment(s.bestYaml!, "best.yaml");
    assert.equal(file.search, null);
    assert.equal(file.base.name, "srch-best");
    for (const [k, v] of Object.entries(best.point)) {
      assert.deepEqual((file.base as unknown as Record<string, unknown>)[k], v, k);
    }
    assert.equal(file.base.epochs, 9);
    assert.equal(file.base.dataset, plan.settings.dataset);

    // The trials: every one, with the rung it reached, best first.
    const latest = new Map<string, Job>();
    for (const j of jobs) latest.set(j.trial, j);
    assert.equal(s.trials.length, latest.size);
    for (const t of s.trials) {
      const j = latest.get(t.id)!;
      assert.equal(t.rung, j.rung + 1);
      assert.equal(t.state, j.rung === 2 ? "done" : "pruned");
      assert.equal(t.value, j.result!.value);
    }
    const md = report.markdown;
    assert.match(md, /^## Search$/m);
    assert.match(md, new RegExp(`^Best trial: ${best.trial} \\(rung 3 of 3, 9 epochs\\)`, "m"));
    assert.match(
      md,
      /^\| trial \| state \| rung \| epochs \| val_acc \(%\) \| test acc \(%\) \| lr \| batch_size \| annealing \|$/m,
    );
    const section = md.slice(md.indexOf("## Search"), md.indexOf("## Runs"));
    const rows = section.split("\n").filter((l) => /^\| t\d{4} \|/.test(l));
    assert.equal(rows.length, latest.size);
    assert.ok(rows[0].startsWith(`| ${best.trial} | done | 3 of 3 | 9 |`), rows[0]);
    // Rows go down by rung: no rung-1 trial above a rung-2 one.
    const rungsInOrder = rows.map((r) => Number(/\| (\d) of 3 \|/.exec(r)![1]));
    assert.deepEqual(rungsInOrder, [...rungsInOrder].sort((a, b) => b - a));

    // Files: best.yaml, trials.csv, the figures and their specs.
    const out = join(root, "report");
    const written = (await writeReport(report, out)).map((p) => p.slice(out.length + 1));
    for (
      const f of [
        "best.yaml",
        "trials.csv",
        "search_curves.svg",
        "search_curves.vl.json",
        "search_params.svg",
        "search_parallel.svg",
      ]
    ) {
      assert.ok(written.includes(f), `${f} written`);
    }
    assert.equal(await Deno.readTextFile(join(out, "best.yaml")), s.bestYaml);
    const csv = (await Deno.readTextFile(join(out, "trials.csv"))).trim().split("\r\n");
    assert.equal(csv.length, latest.size + 1);
    assert.equal(
      csv[0],
      "search,trial,state,rung,epochs,metric,value,test_acc,bracket,lr,batch_size,annealing,error",
    );
    for (const f of ["search_curves", "search_params", "search_parallel"]) {
      parseXml(await Deno.readTextFile(join(out, `${f}.svg`)));
    }

    // The curves: every trial's epochs, a cross per pruned trial at its last epoch, rules at
    // the rungs below the top.
    const curves = report.search!.figures.search_curves.spec as any;
    const [rules, , lines, crosses] = curves.layer;
    assert.deepEqual(rules.data.values.map((r: any) => r.epoch), [1, 3]);
    const epochs = [...latest.values()].reduce((n, j) => n + j.epochs, 0);
    assert.equal(lines.data.values.length, epochs);
    const pruned = [...latest.values()].filter((j) => j.rung < 2);
    assert.deepEqual(
      crosses.data.values.map((c: any) => `${c.trial}@${c.epoch}`).sort(),
      pruned.map((j) => `${j.trial}@${j.epochs}`).sort(),
    );
    assert.equal(
      lines.data.values.filter((r: any) => r.best).length,
      9,
      "the best trial's nine epochs are drawn thick",
    );

    // The metric against each setting: a log axis for lr, the choice's values in file order.
    const params = report.search!.figures.search_params.spec as any;
    const [lr, bs, an] = params.concat;
    assert.equal(lr.encoding.x.scale.type, "log");
    assert.equal(bs.encoding.x.type, "nominal");
    assert.deepEqual(bs.encoding.x.sort, ["64", "128", "256"]);
    assert.notEqual(an.encoding.x.scale?.type, "log");
    assert.equal(params.data.values.length, latest.size);

    // Parallel coordinates: one line per trial across the three settings and the metric.
    const par = report.search!.figures.search_parallel.spec as any;
    const lineRows = par.layer[1].data.values;
    assert.equal(lineRows.length, latest.size * 4);
    for (const r of lineRows) assert.ok(r.pos >= 0 && r.pos <= 1, JSON.stringify(r));
    // On the log axis, the smallest lr sits at 0 and the largest at 1.
    const lrs = lineRows.filter((r: any) => r.axis === "lr");
    const min = Math.min(...[...latest.values()].map((j) => j.point.lr as number));
    assert.equal(lrs.find((r: any) => r.pos === 0).value, drawnText(min));

    // The page: the search first, its trials and figures.
    assert.match(report.html, /<section id="search">/);
    assert.match(report.html, new RegExp(`<p class="best">Best trial: ${best.trial}`));
    assert.ok(report.html.indexOf('id="search"') < report.html.indexOf('id="configurations"'));
    for (const f of ["search_curves", "search_params", "search_parallel"]) {
      assert.match(report.html, new RegExp(`data-figure="${f}"`));
    }
    // Every spec renders.
    for (const f of ["search_curves", "search_params", "search_parallel"] as const) {
      assert.ok((await renderSvg(report.search!.figures[f].spec)).startsWith("<svg"));
    }
  });
});

Deno.test("the board lists a search's trials: pruned ones with their rung, the best done", async () => {
  await withTemp(async (root) => {
    const { jobs } = await writeSyntheticSearch(root);
    const board = await Board.open(root);
    const listing = await board.listing();
    const exp = listing.experiments.find((e) => e.name === "srch")!;
    const latest = new Map<string, Job>();
    for (const j of jobs) latest.set(j.trial, j);
    assert.equal(exp.points.length, latest.size);
    for (const p of exp.points) {
      const j = latest.get(p.id)!;
      if (j.rung === 2) {
        assert.equal(p.state, "done");
      } else {
        assert.equal(p.state, "pruned");
        assert.equal(
          p.reason,
          `stopped by the search's scheduler after rung ${j.rung + 1} of 3; a promotion ` +
            "continues it",
        );
      }
      assert.equal(p.epochs, j.epochs);
    }
    // A promoted trial that trains again (its lock held) shows as running, not pruned.
    const t = [...latest.values()].find((j) => j.rung === 0)!;
    const release = await acquireLock(join(root, "srch", t.trial), null);
    try {
      const again = await board.listing();
      const p = again.experiments[0].points.find((x) => x.id === t.trial)!;
      assert.equal(p.state, "running");
    } finally {
      await release();
    }
  });
});
