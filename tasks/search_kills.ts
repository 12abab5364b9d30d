/**
 * Measures that a search survives `kill -9`: the search example (or FILE) is
 * run through `deno task exp`, its worker (the process training, under `deno
 * task`) killed with SIGKILL at N random moments (default 10), each followed
 * by a rerun, and the last rerun left to finish. Then it is compared with an
 * uninterrupted run of the same search (`--reference DIR`, e.g. the ASHA run
 * of `search_compare.ts`, or one made here): the same trials with the same
 * values, rungs and results, every trial's metrics.jsonl equal (but for
 * wall-clock seconds), the same best; no recorded epoch trained twice, no
 * trial lost.
 *
 *     deno run -A tasks/search_kills.ts [FILE] [--kills N] [--seed S] [--max-delay SECONDS]
 *         [--reference DIR] [--out DIR] [key=value ...]
 *
 * The kill moments are drawn uniformly from [2 s, max-delay] after each start
 * (default 240 s), so they land while the worker loads data, compiles
 * kernels, trains, writes a checkpoint or records a job. Writes
 * `DIR/kills.json` and `DIR/kills.md` (default DIR: `runs/measure-kills`).
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { Rng } from "../src/util/rng.ts";
import { metricGoal, type SearchSpec } from "../src/experiment/search_spec.ts";
import { bestJob, type Schedule } from "../src/search/schedule.ts";
import { readHeader, readJobs } from "../src/search/state.ts";
import { duration, machine, ROOT, save, startExp, workerPid } from "./_measure.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    kills: { type: "string", default: "10" },
    seed: { type: "string", default: "1" },
    "max-delay": { type: "string", default: "240" },
    reference: { type: "string" },
    out: { type: "string" },
  },
  allowPositionals: true,
});
const file = args.positionals.find((a) => !a.includes("=")) ??
  join(ROOT, "experiments", "search-example.yaml");
const overrides = args.positionals.filter((a) => a.includes("="));
const out = args.values.out ?? join(ROOT, "runs", "measure-kills");
const kills = Number(args.values.kills);
const maxDelay = Number(args.values["max-delay"]);
const rng = new Rng(Number(args.values.seed));
await Deno.mkdir(out, { recursive: true });
const name = (parseYaml(await Deno.readTextFile(file)) as { name?: string }).name ??
  file.replace(/^.*\//, "").replace(/\.ya?ml$/, "");
const before = await machine();

/** The recorded jobs of a search output folder, keyed `trial.rung`. */
async function jobsOf(output: string): Promise<Map<string, Record<string, any>>> {
  const dir = join(output, name, "search", "default", "jobs");
  const jobs = new Map<string, Record<string, any>>();
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile || !e.name.endsWith(".json") || e.name.startsWith(".")) continue;
    const j = JSON.parse(await Deno.readTextFile(join(dir, e.name)));
    jobs.set(`${j.trial}.${j.rung}`, j);
  }
  return jobs;
}

async function metrics(output: string, trial: string): Promise<string[]> {
  const text = await Deno.readTextFile(join(output, name, trial, "metrics.jsonl"));
  return text.split("\n").filter(Boolean).map((l) => {
    const { seconds: _, ...rest } = JSON.parse(l);
    return JSON.stringify(rest);
  });
}

let reference = args.values.reference;
if (!reference) {
  reference = join(out, "reference");
  console.error(`reference: an uninterrupted run into ${reference}`);
  const r = startExp([file, "--output", reference, ...overrides], join(out, "reference.log"));
  const { code } = await r.done;
  if (code !== 0) throw new Error(`the reference run exited ${code}; see ${out}/reference.log`);
}

const target = join(out, "killed");
const record: Record<string, unknown>[] = [];
const epochs: string[] = [];
let totalSeconds = 0;
let landed = 0;
while (landed < kills) {
  const delay = 2 + rng.next() * (maxDelay - 2);
  const r = startExp([file, "--output", target, ...overrides], join(out, "killed.log"));
  const ended = await Promise.race([
    r.done.then(() => true),
    new Promise<boolean>((res) => setTimeout(() => res(false), delay * 1000)),
  ]);
  let killedAt: Record<string, unknown> | null = null;
  if (!ended) {
    const pid = await workerPid(r.child.pid);
    const last = r.events.at(-1);
    if (pid !== null) {
      try {
        Deno.kill(pid, "SIGKILL");
        landed++;
        killedAt = {
          after_seconds: Math.round(delay * 10) / 10,
          last_event: last ? `${last.event}${last.id ? ` ${last.id}` : ""}` : "(none yet)",
        };
        console.error(
          `kill ${landed}: SIGKILL to pid ${pid} after ${
            delay.toFixed(1)
          } s (${killedAt.last_event})`,
        );
      } catch {
        // it ended just now
      }
    }
  }
  const { code, seconds } = await r.done;
  totalSeconds += seconds;
  for (const e of r.events) if (e.event === "epoch") epochs.push(`${e.id}.${e.epoch}`);
  record.push({ code, seconds: Math.round(seconds), killed: killedAt });
  if (ended || killedAt === null) {
    if (code === 0) break; // the search finished before all kills landed
    throw new Error(`a run exited ${code} without being killed; see ${out}/killed.log`);
  }
}
console.error(`last run: to the end`);
const last = startExp([file, "--output", target, ...overrides], join(out, "killed.log"));
const fin = await last.done;
totalSeconds += fin.seconds;
for (const e of last.events) if (e.event === "epoch") epochs.push(`${e.id}.${e.epoch}`);
record.push({ code: fin.code, seconds: Math.round(fin.seconds), killed: null });
if (fin.code !== 0) throw new Error(`the last run exited ${fin.code}; see ${out}/killed.log`);

// Compare with the reference.
const ref = await jobsOf(reference), got = await jobsOf(target);
const strip = (j: Record<string, any>) => JSON.stringify({ ...j, created: null, finished: null });
const missing = [...ref.keys()].filter((k) => !got.has(k));
const extra = [...got.keys()].filter((k) => !ref.has(k));
const differ = [...ref.keys()].filter((k) =>
  got.has(k) && strip(ref.get(k)!) !== strip(got.get(k)!)
);
const trials = [...new Set([...ref.values()].map((j) => j.trial as string))];
const metricsDiffer: string[] = [];
for (const t of trials) {
  if ((await metrics(reference, t)).join("\n") !== (await metrics(target, t)).join("\n")) {
    metricsDiffer.push(t);
  }
}
const twice = epochs.filter((e, i) => epochs.indexOf(e) !== i);
const best = async (o: string) => {
  const dir = join(o, name, "search", "default");
  const head = (await readHeader(dir))!;
  const schedule = {
    rungs: head.schedule.rungs,
    goal: metricGoal(head.search.metric as SearchSpec["metric"]),
  } as Schedule;
  return bestJob(schedule, await readJobs(dir))?.trial ?? null;
};
const [bestRef, bestGot] = [await best(reference), await best(target)];
const after = await machine();
const result = {
  file,
  overrides,
  kills: landed,
  runs: record,
  seconds_in_all: Math.round(totalSeconds),
  jobs: got.size,
  trials: trials.length,
  jobs_missing: missing,
  jobs_extra: extra,
  jobs_differing: differ,
  trials_with_other_metrics: metricsDiffer,
  recorded_epochs_trained_twice: twice,
  best_reference: bestRef,
  best_killed: bestGot,
  ok: landed === kills && !missing.length && !extra.length && !differ.length &&
    !metricsDiffer.length && !twice.length && bestRef === bestGot,
  machine_before: before,
  machine_after: after,
};
const md = [
  `${landed} SIGKILLs of the worker at random moments (${
    record.filter((r) => r.killed).map((r) => (r.killed as any).after_seconds + " s").join(", ")
  } after each start), each followed by a rerun; ${record.length} runs, ${
    duration(totalSeconds)
  } in all.`,
  "",
  `- jobs: ${got.size} (${trials.length} trials); missing ${missing.length}, extra ${extra.length}, ` +
  `with other values or results ${differ.length}`,
  `- trials whose metrics.jsonl differs from the uninterrupted run's: ${metricsDiffer.length}`,
  `- recorded epochs trained twice: ${twice.length}`,
  `- best: ${bestGot} (uninterrupted: ${bestRef})`,
  `- ${result.ok ? "OK: the same search as the uninterrupted one" : "NOT OK"}`,
  "",
  `Machine: ${before.cpu}, ${before.cores} cores; load average ${before.load_average} before, ` +
  `${after.load_average} after; Deno ${before.deno}; commit ${before.commit}; ${before.time} to ${after.time}.`,
].join("\n");
await save(join(out, "kills.json"), JSON.stringify(result, null, 2) + "\n");
await save(join(out, "kills.md"), md + "\n");
console.log(md);
if (!result.ok) Deno.exit(1);
