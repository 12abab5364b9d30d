// The search's state in files: exclusive claims, several workers on one search at once
// (in one process and as separate processes), SIGKILL of a worker at random moments and
// reruns, and a folder that holds another search. The trainer here follows a synthetic
// curve (tests/fixtures/search_worker.ts); tests/search_exp_test.ts does the same through
// `deno task exp` with real training.
import assert from "node:assert/strict";
import { join } from "node:path";
import YAML from "yaml";
import { acquireLock } from "../src/run/run_lock.ts";
import { bestJob, type Job, type JobResult } from "../src/search/schedule.ts";
import {
  createExclusive,
  openSearch,
  readJobs,
  SearchChanged,
  searchHeader,
} from "../src/search/state.ts";
import { runWorker } from "../src/search/worker.ts";
import { Rng } from "../src/util/rng.ts";
import { curveResult, plansOf } from "./_search.ts";

const WORKER = new URL("./fixtures/search_worker.ts", import.meta.url).pathname;

const EXPERIMENT = {
  name: "s",
  dataset: "fmnist",
  arch: "P2-32F",
  epochs: 9,
  search: {
    trials: 18,
    sampler: "random",
    seed: 3,
    scheduler: "asha",
    min_epochs: 1,
    reduction: 3,
    space: { lr: { log_uniform: [1e-5, 1e-1] }, shuffle: { choice: [true, false] } },
  },
};

async function withTemp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "firstspike_search_" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("createExclusive: of many concurrent creators exactly one wins, the file whole", async () => {
  await withTemp(async (dir) => {
    const path = join(dir, "a", "claim.json");
    const wins = await Promise.all(
      Array.from({ length: 20 }, (_, i) => createExclusive(path, JSON.stringify({ i }) + "\n")),
    );
    assert.equal(wins.filter(Boolean).length, 1);
    assert.equal(JSON.parse(await Deno.readTextFile(path)).i, wins.indexOf(true));
    // Nothing left aside.
    assert.deepEqual([...Deno.readDirSync(join(dir, "a"))].map((e) => e.name), ["claim.json"]);
  });
});

Deno.test("openSearch: refuses a folder holding another search, naming each difference", async () => {
  await withTemp(async (dir) => {
    const [a] = plansOf(EXPERIMENT, dir);
    const head = (p: typeof a) =>
      searchHeader(p.gridId, p.gridPoint, p.spec, p.schedule, p.settings);
    await openSearch(a.stateDir, head(a));
    // The same search, more trials and another data_dir: the same search.
    const [more] = plansOf(
      { ...EXPERIMENT, data_dir: "/elsewhere", search: { ...EXPERIMENT.search, trials: 30 } },
      dir,
    );
    await openSearch(more.stateDir, head(more));
    const [other] = plansOf(
      { ...EXPERIMENT, lr: 0.5, epochs: 27, search: { ...EXPERIMENT.search, seed: 4 } },
      dir,
    );
    await assert.rejects(
      () => openSearch(other.stateDir, head(other)),
      (e: Error) =>
        e instanceof SearchChanged && /search.seed: 3 -> 4/.test(e.message) &&
        /lr: 0.0001 -> 0.5/.test(e.message) && /epochs: 9 -> 27/.test(e.message) &&
        /give another --output/.test(e.message),
    );
  });
});

/**
 * A stand-in trainer in this process: the trial folder's lock, a delay per job, and (like
 * runPoint with skipDone) under the lock it trains only what the folder has not done yet.
 */
function lockedTrainer(dir: string, trainedLog: string[], rng: Rng) {
  const curve = (job: Job, e: number) => {
    const x = Math.log10(job.point.lr as number) + 3;
    return Math.exp(-x * x) * (1 - 0.5 / e);
  };
  return async (
    plan: ReturnType<typeof plansOf>[number],
    job: Job,
    started: () => void,
  ): Promise<JobResult> => {
    const folder = join(dir, "s", job.trial);
    const release = await acquireLock(folder, null);
    try {
      const reached = Number(await Deno.readTextFile(join(folder, "epochs")).catch(() => "0"));
      if (reached < job.epochs) {
        started();
        trainedLog.push(`${job.trial}.${job.rung}`);
        await new Promise((r) => setTimeout(r, 1 + rng.int(8)));
        await Deno.writeTextFile(join(folder, "epochs"), String(job.epochs));
      }
      return curveResult(plan, job, curve);
    } finally {
      await release();
    }
  };
}

Deno.test("four workers in one process: every job trained once, every trial there", async () => {
  await withTemp(async (dir) => {
    const [plan] = plansOf(EXPERIMENT, dir);
    const trained: string[] = [];
    const rng = new Rng(5);
    const summaries = await Promise.all(
      Array.from(
        { length: 4 },
        () => runWorker({ plans: [plan], train: lockedTrainer(dir, trained, rng), pollMs: 5 }),
      ),
    );
    assert.ok(summaries.every((s) => s.complete));
    const jobs = await readJobs(plan.stateDir);
    assert.ok(jobs.every((j) => j.result));
    assert.deepEqual([...trained].sort(), jobs.map((j) => `${j.trial}.${j.rung}`).sort());
    assert.equal(new Set(trained).size, trained.length, `trained twice: ${trained}`);
    assert.equal(summaries.reduce((n, s) => n + s.jobs, 0), jobs.length);
    assert.deepEqual(
      [...new Set(jobs.map((j) => j.index))].sort((a, b) => a - b),
      Array.from({ length: 18 }, (_, i) => i),
    );
    // Every promotion is justified by the results recorded below it.
    for (const j of jobs.filter((j) => j.rung > 0)) {
      assert.ok(jobs.some((b) => b.index === j.index && b.rung === j.rung - 1 && b.result));
    }
  });
});

function worker(file: string, output: string, ms: number): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", WORKER, file, output, String(ms)],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Each trial's progress: epochs in order, each once. */
async function checkProgress(expDir: string, jobs: Job[]): Promise<number> {
  let epochs = 0;
  for (const t of new Set(jobs.map((j) => j.trial))) {
    const p: { epoch: number }[] = JSON.parse(
      await Deno.readTextFile(join(expDir, t, "progress.json")),
    );
    const top = Math.max(...jobs.filter((j) => j.trial === t).map((j) => j.epochs));
    assert.deepEqual(p.map((x) => x.epoch), Array.from({ length: top }, (_, i) => i + 1), t);
    epochs += p.length;
  }
  return epochs;
}

/** The jobs without the times they were recorded at. */
function comparable(jobs: Job[]) {
  return jobs.map((j) => ({ ...j, result: { ...j.result!, value: j.result!.value } }));
}

Deno.test({
  name: "SIGKILL of a worker at 10 random moments, each followed by a rerun: the " +
    "uninterrupted search's jobs and best, nothing trained twice or lost",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withTemp(async (dir) => {
      const file = join(dir, "s.yaml");
      await Deno.writeTextFile(file, YAML.stringify(EXPERIMENT));
      // 42 epochs of 0.3 s (18 trials, rungs of 1, 3 and 9 epochs, keep 1/3): 12.6 s of
      // training in all, more than ten runs killed within 1.2 s of their start can do, so
      // the search cannot end before the tenth kill however fast or slow the machine.
      const ms = 300;
      const whole = await (worker(file, join(dir, "whole"), ms)).output();
      assert.equal(whole.code, 0, new TextDecoder().decode(whole.stderr));
      const [ref] = plansOf(EXPERIMENT, join(dir, "whole"));
      const refJobs = await readJobs(ref.stateDir);

      const [cut] = plansOf(EXPERIMENT, join(dir, "cut"));
      const rng = new Rng(17);
      let kills = 0;
      for (let round = 0; round < 40 && kills < 10; round++) {
        const child = worker(file, join(dir, "cut"), ms);
        // Between 0.1 s (the worker is starting) and 1.2 s (training).
        await new Promise((r) => setTimeout(r, 100 + rng.int(1100)));
        try {
          child.kill("SIGKILL");
          kills++;
        } catch {
          // it finished before the kill: the search is complete
        }
        await child.output();
      }
      assert.equal(kills, 10, "the search ended before ten kills");
      const last = await (worker(file, join(dir, "cut"), ms)).output();
      assert.equal(last.code, 0, new TextDecoder().decode(last.stderr));
      const jobs = await readJobs(cut.stateDir);
      assert.deepEqual(comparable(jobs), comparable(refJobs));
      assert.equal(bestJob(cut.schedule, jobs)!.trial, bestJob(ref.schedule, refJobs)!.trial);
      const epochs = await checkProgress(join(dir, "cut", "s"), jobs);
      assert.equal(epochs, await checkProgress(join(dir, "whole", "s"), refJobs));
    });
  },
});

Deno.test({
  name: "three worker processes on one search: every job trained by one of them, once",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withTemp(async (dir) => {
      const file = join(dir, "s.yaml");
      await Deno.writeTextFile(file, YAML.stringify(EXPERIMENT));
      const outs = await Promise.all(
        [0, 1, 2].map(() => worker(file, join(dir, "out"), 20).output()),
      );
      const trained: string[] = [];
      for (const o of outs) {
        assert.equal(o.code, 0, new TextDecoder().decode(o.stderr));
        for (const line of new TextDecoder().decode(o.stdout).split("\n").filter(Boolean)) {
          const e = JSON.parse(line);
          if (e.trained) trained.push(`${e.trial}.${e.rung}`);
        }
      }
      const [plan] = plansOf(EXPERIMENT, join(dir, "out"));
      const jobs = await readJobs(plan.stateDir);
      assert.deepEqual(trained.sort(), jobs.map((j) => `${j.trial}.${j.rung}`).sort());
      assert.equal(new Set(trained).size, trained.length);
      await checkProgress(join(dir, "out", "s"), jobs);
      // More than one worker trained.
      const by = outs.map((o) =>
        new TextDecoder().decode(o.stdout).split("\n").filter((l) => l.includes('"trained":true'))
          .length
      );
      assert.ok(by.filter((n) => n > 0).length >= 2, `jobs per worker: ${by}`);
    });
  },
});

Deno.test("a grid and overrides beside a search: one search per point, its own state and trial ids", async () => {
  await withTemp(async (dir) => {
    const plans = plansOf(
      { ...EXPERIMENT, grid: { weight_decay: [0, 0.1] } },
      dir,
      ["seed=1,2", "shuffle=false"],
    );
    // weight_decay from the file's grid, seed swept, shuffle fixed (and no longer drawn).
    assert.deepEqual(plans.map((p) => p.gridId), [
      "weight_decay0_seed1_shuffle=false",
      "weight_decay0_seed2_shuffle=false",
      "weight_decay0.1_seed1_shuffle=false",
      "weight_decay0.1_seed2_shuffle=false",
    ]);
    for (const p of plans) {
      assert.deepEqual(Object.keys(p.spec.space), ["lr"]);
      assert.equal(p.settings.shuffle, false);
      assert.equal(p.stateDir, join(dir, "s", "search", p.gridId));
      assert.equal(p.prefix, `${p.gridId}_`);
    }
    const trained: string[] = [];
    const summary = await runWorker({
      plans,
      train: lockedTrainer(dir, trained, new Rng(1)),
      pollMs: 5,
    });
    assert.ok(summary.complete);
    for (const p of plans) {
      const jobs = await readJobs(p.stateDir);
      assert.equal(new Set(jobs.map((j) => j.index)).size, 18);
      assert.ok(
        jobs.every((j) => j.trial.startsWith(p.prefix) && j.point.seed === p.settings.seed),
      );
      assert.ok(
        jobs.every((j) =>
          j.point.shuffle === false && j.point.weight_decay === p.settings.weight_decay
        ),
      );
    }
    // The same seed draws the same lr for trial i in every point (common random numbers).
    const lr = async (p: (typeof plans)[number]) =>
      (await readJobs(p.stateDir)).filter((j) => j.rung === 0).map((j) => j.point.lr);
    assert.deepEqual(await lr(plans[0]), await lr(plans[3]));
    // A searched key fixed by an override is fixed even at its default value, and names the search.
    const [fixed] = plansOf(EXPERIMENT, dir, ["lr=1e-4"]);
    assert.equal(fixed.gridId, "lr1e-4");
    assert.deepEqual(Object.keys(fixed.spec.space), ["shuffle"]);
    assert.equal(fixed.settings.lr, 1e-4);
  });
});

Deno.test("a TPE search cut at any job and run again takes the uninterrupted search's jobs", async () => {
  await withTemp(async (dir) => {
    const doc = {
      ...EXPERIMENT,
      search: { ...EXPERIMENT.search, sampler: "tpe", startup_trials: 4, trials: 14 },
    };
    const curve = (job: Job, e: number) => {
      const x = Math.log10(job.point.lr as number) + 3;
      return Math.exp(-x * x) * (1 - 0.5 / e) + (job.point.shuffle === true ? 0.05 : 0);
    };
    const train = (p: ReturnType<typeof plansOf>[number], job: Job, started: () => void) => {
      started();
      return Promise.resolve(curveResult(p, job, curve));
    };
    const [ref] = plansOf(doc, join(dir, "ref"));
    await runWorker({ plans: [ref], train });
    const want = await readJobs(ref.stateDir);
    assert.ok(want.length > 17, `${want.length} jobs`);
    // Crash the worker inside job n (after it started training), then run it again.
    for (const n of [1, 5, 11, 17]) {
      const [plan] = plansOf(doc, join(dir, `cut${n}`));
      let calls = 0;
      await assert.rejects(() =>
        runWorker({
          plans: [plan],
          train: (p, job, started) => {
            if (++calls === n) throw new Error("crash");
            return train(p, job, started);
          },
        }), /crash/);
      const resumed: string[] = [];
      await runWorker({
        plans: [plan],
        train: (p, job, started) => {
          resumed.push(`${job.trial}.${job.rung}`);
          return train(p, job, started);
        },
      });
      const got = await readJobs(plan.stateDir);
      assert.deepEqual(got, want, `cut in job ${n}`);
      // The job that was cut is the first one the rerun takes.
      const cutJob = got.find((j) => `${j.trial}.${j.rung}` === resumed[0])!;
      assert.ok(cutJob, `cut in job ${n}`);
    }
  });
});
