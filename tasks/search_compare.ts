/**
 * Measures what ASHA saves: the search example (or FILE) run once with its
 * scheduler and once with `scheduler: none` (the same trials, drawn from the
 * same seed, each trained to the last epoch), one after the other through
 * `deno task exp`, and compared on epochs trained, wall time, and the test
 * accuracy of the best trial each found (ranked by validation accuracy).
 * Claim checked: at least 3x less compute for a best within 0.5 points.
 *
 *     deno run -A tasks/search_compare.ts [FILE] [--out DIR] [key=value ...]
 *
 * Writes `DIR/compare.json` and `DIR/compare.md` (default DIR:
 * `runs/measure-compare`); the runs land in `DIR/asha` and `DIR/none`, and a
 * rerun continues them (finished searches are not run again).
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { duration, type Event, machine, ROOT, save, startExp, variant } from "./_measure.ts";

const args = parseArgs({
  args: Deno.args,
  options: { out: { type: "string" } },
  allowPositionals: true,
});
const file = args.positionals.find((a) => !a.includes("=")) ??
  join(ROOT, "experiments", "search-example.yaml");
const overrides = args.positionals.filter((a) => a.includes("="));
const out = args.values.out ?? join(ROOT, "runs", "measure-compare");
await Deno.mkdir(out, { recursive: true });

const before = await machine();
const result: Record<string, unknown> = { file, overrides, machine_before: before };

async function run(label: string, scheduler: string | null) {
  const exp = scheduler === null ? file : await variant(file, join(out, `${label}.yaml`), {
    scheduler,
  });
  console.error(
    `${label}: deno task exp ${exp} --output ${join(out, label)} ${overrides.join(" ")}`,
  );
  const r = startExp([exp, "--output", join(out, label), ...overrides], join(out, `${label}.log`));
  const { code, seconds } = await r.done;
  if (code !== 0) {
    throw new Error(`${label}: deno task exp exited ${code}; see ${out}/${label}.log`);
  }
  const epochs = r.events.filter((e: Event) => e.event === "epoch").length;
  const best = r.events.find((e: Event) => e.event === "search_best");
  const finished = r.events.find((e: Event) => e.event === "search_finished");
  return {
    seconds,
    epochs_trained_this_run: epochs,
    epochs_trained: best?.epochs_trained ?? null,
    trials: best?.trials ?? null,
    best: best
      ? { id: best.id, val_acc: best.value, test_acc: best.test_acc, point: best.grid_point }
      : null,
    finished,
  };
}

const asha = await run("asha", null);
const none = await run("none", "none");
const after = await machine();
result.asha = asha;
result.none = none;
result.machine_after = after;
const ratio = none.epochs_trained / asha.epochs_trained;
const gap = (none.best!.test_acc - asha.best!.test_acc) * 100;
result.compute_ratio = ratio;
result.wall_ratio = none.seconds / asha.seconds;
result.best_test_gap_points = gap;
result.claim_met = ratio >= 3 && gap <= 0.5;

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const md = [
  `| | epochs trained | wall time | best trial | its val acc | its test acc |`,
  `| --- | --- | --- | --- | --- | --- |`,
  `| ASHA | ${asha.epochs_trained} | ${duration(asha.seconds)} | ${asha.best!.id} | ${
    pct(asha.best!.val_acc)
  } | ${pct(asha.best!.test_acc)} |`,
  `| every trial to the last epoch | ${none.epochs_trained} | ${duration(none.seconds)} | ${
    none.best!.id
  } | ${pct(none.best!.val_acc)} | ${pct(none.best!.test_acc)} |`,
  "",
  `ASHA trained ${ratio.toFixed(2)}x fewer epochs in ${
    (none.seconds / asha.seconds).toFixed(2)
  }x less wall time; its best is ${gap.toFixed(2)} points of test accuracy ${
    gap >= 0 ? "below" : "above"
  } the full search's (claim, >= 3x for <= 0.5 points: ${result.claim_met ? "met" : "NOT met"}).`,
  "",
  `Machine: ${before.cpu}, ${before.cores} cores, ${before.memory_gib} GiB; load average ${before.load_average} ` +
  `before, ${after.load_average} after; Deno ${before.deno}; commit ${before.commit}; ${before.time} to ${after.time}.`,
].join("\n");
await save(join(out, "compare.json"), JSON.stringify(result, null, 2) + "\n");
await save(join(out, "compare.md"), md + "\n");
console.log(md);
