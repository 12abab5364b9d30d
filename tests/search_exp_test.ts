// Searches as users run them: `deno task exp` with deno.json's permissions, into a pipe,
// on a small generated dataset. A whole ASHA search (trials are run folders, pruned ones
// recorded with their rung, the best one's file reproduces it bit for bit), SIGKILL of the
// worker at random moments with reruns, two workers at once, and the errors.
import assert from "node:assert/strict";
import { join } from "node:path";
import YAML from "yaml";
import { readSafetensors } from "../src/engine/safetensors.ts";
import { readJobs, searchStateDir } from "../src/search/state.ts";
import type { Job } from "../src/search/schedule.ts";
import { Rng } from "../src/util/rng.ts";
import { writeFakeFmnist } from "./_data.ts";
import { GPU_TEST } from "./_compare.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const dec = new TextDecoder();

/** `deno task exp ARGS` from the repository, as a user types it. */
function exp(args: string[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "exp", ...args],
    cwd: ROOT,
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  });
}

/** A folder inside the repository (deno task exp may write only there), removed afterwards. */
async function withRepoTemp(fn: (dir: string) => Promise<void>): Promise<void> {
  await Deno.mkdir(join(ROOT, "test-output"), { recursive: true });
  const dir = await Deno.makeTempDir({ dir: join(ROOT, "test-output"), prefix: "search_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes the experiment `name` with a search into `dir`; returns its path. */
async function experiment(
  dir: string,
  name: string,
  search: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await Deno.writeTextFile(
    file,
    YAML.stringify({
      name,
      dataset: "fmnist",
      data_dir: join(dir, "data"),
      arch: "P2-32F",
      batch_size: 32,
      epochs: 4,
      validation_fraction: 0.25,
      weight_decay: 0,
      output: join(dir, "runs"),
      ...extra,
      search: {
        trials: 6,
        seed: 2,
        scheduler: "asha",
        min_epochs: 1,
        reduction: 2,
        space: { lr: { log_uniform: [1e-3, 1e-2] }, annealing: { uniform: [0.5, 1.0] } },
        ...search,
      },
    }),
  );
  return file;
}

function events(stdout: Uint8Array): Record<string, any>[] {
  return dec.decode(stdout).split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}

/** A run folder's metrics without the wall-clock seconds (which differ run to run). */
async function metricsOf(dir: string): Promise<unknown[]> {
  const text = await Deno.readTextFile(join(dir, "metrics.jsonl"));
  return text.split("\n").filter(Boolean).map((l) => {
    const { seconds: _, ...rest } = JSON.parse(l);
    return rest;
  });
}

async function weightsOf(dir: string): Promise<Float32Array[]> {
  const f = await readSafetensors(join(dir, "weights.safetensors"));
  return Object.keys(f.tensors).sort().map((k) => f.tensors[k].data);
}

/** The jobs as they compare across runs (no times). */
function jobsKey(jobs: Job[]): unknown[] {
  return jobs.map((j) => ({ ...j }));
}

Deno.test(
  "deno task exp on a search: trials are run folders, pruned at their rungs, the best one's file reproduces it exactly",
  GPU_TEST,
  async () => {
    await withRepoTemp(async (dir) => {
      await writeFakeFmnist(join(dir, "data"));
      const file = await experiment(dir, "asha");
      const run = await exp([file, "--json"]).output();
      const log = dec.decode(run.stderr);
      assert.equal(run.code, 0, log);
      const ev = events(run.stdout);
      const started = ev.filter((e) => e.event === "trial_started").map((e) => `${e.id}.${e.rung}`);
      const stateDir = searchStateDir(join(dir, "runs"), "asha", "default");
      const jobs = await readJobs(stateDir);
      assert.deepEqual(started.sort(), jobs.map((j) => `${j.trial}.${j.rung + 1}`).sort());
      assert.equal(new Set(jobs.map((j) => j.index)).size, 6);
      assert.ok(jobs.some((j) => j.rung === 2), "some trial reached the top rung");
      assert.ok(jobs.some((j) => j.result?.state === "pruned"), "some trial was pruned");
      const finished = ev.find((e) => e.event === "search_finished");
      assert.equal(finished?.complete, true);
      assert.equal(finished?.exit_code, 0);
      assert.equal(finished?.gpu_devices, 1, "one device for every trial of the worker");

      // Each trial is a run folder: its draw as the point, its state and rung, its files.
      const latest = new Map<string, Job>();
      for (const j of jobs) latest.set(j.trial, j);
      for (const [id, j] of latest) {
        const tdir = join(dir, "runs", "asha", id);
        const doc = YAML.parse(await Deno.readTextFile(join(tdir, "run.yaml")));
        assert.equal(doc.kind, "run");
        assert.equal(doc.id, id);
        assert.deepEqual(doc.grid_point, j.point);
        assert.equal(doc.lr, j.point.lr);
        assert.match(doc.fingerprint, /^[0-9a-f]{16}$/);
        const top = j.rung === 2;
        assert.equal(doc.status.state, top ? "done" : "pruned", id);
        if (!top) {
          assert.equal(doc.status.rung, j.rung + 1);
          assert.equal(doc.status.rungs, 3);
          assert.equal(doc.status.epochs, j.epochs);
          assert.match(doc.notes, /pruned by the search's asha scheduler/);
        }
        assert.equal(doc.results.epochs_run, j.epochs);
        assert.equal((await metricsOf(tdir)).length, j.epochs);
        assert.ok(await Deno.stat(join(tdir, "checkpoint.safetensors")));
        assert.equal(await Deno.stat(join(tdir, "lock")).catch(() => null), null, "lock released");
      }

      // The best trial went through every rung (paused twice, resumed from its checkpoint);
      // its settings file, run straight through, gives the same metrics and weights.
      const best = ev.find((e) => e.event === "search_best");
      assert.ok(best, log);
      const bestJob = latest.get(best.id)!;
      assert.equal(bestJob.rung, 2);
      const bestYaml = join(stateDir, "best.yaml");
      const straight = await exp([bestYaml]).output();
      assert.equal(straight.code, 0, dec.decode(straight.stderr));
      const again = join(dir, "runs", "asha-best", "default");
      assert.deepEqual(await metricsOf(again), await metricsOf(join(dir, "runs", "asha", best.id)));
      assert.deepEqual(await weightsOf(again), await weightsOf(join(dir, "runs", "asha", best.id)));

      // A rerun has nothing to do; --dry-run lists every trial with its state and rung.
      const rerun = await exp([file, "--json"]).output();
      assert.equal(rerun.code, 0);
      assert.equal(events(rerun.stdout).filter((e) => e.event === "trial_started").length, 0);
      const listed = events((await exp([file, "--dry-run", "--json"]).output()).stdout);
      assert.equal(listed.length, 6);
      for (const l of listed) {
        const j = latest.get(l.id)!;
        assert.equal(l.state, j.rung === 2 ? "done" : "pruned");
        assert.equal(l.rung, j.rung + 1);
        assert.equal(l.val_acc, j.result!.value);
      }
      const text = dec.decode((await exp([file, "--dry-run"]).output()).stdout);
      assert.match(
        text,
        /^search: 6 trials, random sampling \(seed 2\), ASHA over rungs of 1, 2, 4/,
      );
      assert.match(text, /^t0000\t(pruned|done)\trung \d of 3 \(\d epochs?\)\t\d+\.\d\d%\t/m);
    });
  },
);

Deno.test("deno task exp on a search: usage errors exit 2 and say why", async () => {
  await withRepoTemp(async (dir) => {
    await writeFakeFmnist(join(dir, "data"));
    const file = await experiment(dir, "errs");
    for (
      const [args, pattern] of [
        [["--only", "t0001"], /--only: not for a search/],
        [["--max-epochs", "2"], /--max-epochs: not for a search \(the scheduler gives each trial/],
        [["--force"], /--force: not for a search/],
      ] as const
    ) {
      const r = await exp([file, ...args]).output();
      assert.equal(r.code, 2, dec.decode(r.stderr));
      assert.match(dec.decode(r.stderr), pattern);
    }
    const bad = join(dir, "bad.yaml");
    await Deno.writeTextFile(
      bad,
      "dataset: fmnist\narch: P2-32F\nsearch:\n  trials: 4\n  sampler: sobl\n  space:\n" +
        "    lrate: {log_uniform: [1.0e-4, 1.0e-2]}\n",
    );
    const r = await exp([bad]).output();
    assert.equal(r.code, 2);
    const err = dec.decode(r.stderr);
    assert.match(
      err,
      /bad\.yaml:5:12: search\.sampler: expected one of random, sobol, tpe, got "sobl" \(did you mean 'sobol'\?\)/,
    );
    assert.match(err, /bad\.yaml:7:5: search\.space\.lrate: unknown key \(did you mean 'lr'\?\)/);
    const val = await experiment(dir, "noval", {}, { validation_fraction: 0 });
    const v = await exp([val, "--dry-run"]).output();
    assert.equal(v.code, 2);
    assert.match(dec.decode(v.stderr), /search\.metric: val_acc needs a validation split/);
  });
});

Deno.test(
  "deno task exp on a search: a folder holding another search is refused, untouched",
  GPU_TEST,
  async () => {
    await withRepoTemp(async (dir) => {
      await writeFakeFmnist(join(dir, "data"));
      const file = await experiment(dir, "changed", { trials: 2, scheduler: "none" }, {
        epochs: 1,
      });
      assert.equal((await exp([file]).output()).code, 0);
      const stateDir = searchStateDir(join(dir, "runs"), "changed", "default");
      const before = await Deno.readTextFile(join(stateDir, "search.json"));
      await experiment(dir, "changed", { trials: 2, scheduler: "none", seed: 9 }, { epochs: 1 });
      const r = await exp([file]).output();
      assert.equal(r.code, 2);
      assert.match(
        dec.decode(r.stderr),
        /Cannot continue the search in '.*': it was started with other settings \(search\.seed: 2 -> 9\)/,
      );
      assert.equal(await Deno.readTextFile(join(stateDir, "search.json")), before);
      // More trials extend it: only the new ones train.
      await experiment(dir, "changed", { trials: 3, scheduler: "none" }, { epochs: 1 });
      const more = await exp([file, "--json"]).output();
      assert.equal(more.code, 0, dec.decode(more.stderr));
      assert.deepEqual(
        events(more.stdout).filter((e) => e.event === "trial_started").map((e) => e.id),
        ["t0002"],
      );
    });
  },
);

/** The pids of a process's descendants, deepest last. */
async function descendants(pid: number): Promise<number[]> {
  const out: number[] = [];
  const walk = async (p: number) => {
    let kids: string;
    try {
      kids = await Deno.readTextFile(`/proc/${p}/task/${p}/children`);
    } catch {
      return;
    }
    for (const k of kids.trim().split(/\s+/).filter(Boolean).map(Number)) {
      out.push(k);
      await walk(k);
    }
  };
  await walk(pid);
  return out;
}

/** The worker of a `deno task exp` process: the deepest process running tasks/exp.ts. */
async function workerPid(taskPid: number): Promise<number | null> {
  const all = [taskPid, ...(await descendants(taskPid))];
  for (const p of all.reverse()) {
    const cmd = await Deno.readTextFile(`/proc/${p}/cmdline`).catch(() => "");
    if (cmd.includes("exp.ts")) return p;
  }
  return null;
}

Deno.test(
  "deno task exp on a search: SIGKILL of the worker at random moments, rerun each time: the uninterrupted search's trials, results and best, no trial trained twice",
  GPU_TEST,
  async () => {
    await withRepoTemp(async (dir) => {
      await writeFakeFmnist(join(dir, "data"), 1280, 96);
      const search = { trials: 10 };
      const whole = await experiment(dir, "whole", search);
      const w = await exp([whole]).output();
      assert.equal(w.code, 0, dec.decode(w.stderr));
      const ref = await readJobs(searchStateDir(join(dir, "runs"), "whole", "default"));

      const cut = await experiment(dir, "cut", search);
      const rng = new Rng(23);
      let kills = 0, rounds = 0;
      const trainedEpochs: string[] = [];
      while (kills < 5 && rounds++ < 30) {
        const child = exp([cut, "--json"]).spawn();
        const stderr = new Response(child.stderr).text();
        // Kill at a random moment, chosen by progress so that a fast machine cannot finish
        // the search before the fifth kill: while the worker starts (0.3 to 1.5 s in, loading
        // data, compiling kernels), or just after its first, second or third JSON event
        // (0 to 0.2 s later: training, writing its checkpoint or recording a job).
        const after = rng.int(4);
        const delay = after === 0 ? 300 + rng.int(1200) : rng.int(200);
        let lines = 0;
        let timer: ReturnType<typeof setTimeout> | undefined;
        let killing: Promise<void> | undefined;
        let killed = false;
        const kill = () => {
          timer = setTimeout(() => {
            killing = (async () => {
              const pid = await workerPid(child.pid);
              if (pid === null) return;
              try {
                Deno.kill(pid, "SIGKILL");
                killed = true;
              } catch {
                // it ended by itself
              }
            })();
          }, delay);
        };
        if (after === 0) kill();
        const stdout: string[] = [];
        let rest = "";
        for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
          const parts = (rest + chunk).split("\n");
          rest = parts.pop()!;
          for (const line of parts.filter((l) => l.trim() !== "")) {
            stdout.push(line);
            if (++lines === after) kill();
          }
        }
        const status = await child.status;
        await stderr;
        // A kill still pending when the worker ended by itself is not made.
        clearTimeout(timer);
        await killing;
        if (killed) kills++;
        for (const e of stdout.map((l) => JSON.parse(l))) {
          if (e.event === "epoch") trainedEpochs.push(`${e.id}.${e.epoch}`);
        }
        if (!killed && status.code === 0) break;
      }
      assert.equal(kills, 5, `only ${kills} kills landed before the search ended`);
      const last = await exp([cut, "--json"]).output();
      assert.equal(last.code, 0, dec.decode(last.stderr));
      for (const e of events(last.stdout)) {
        if (e.event === "epoch") trainedEpochs.push(`${e.id}.${e.epoch}`);
      }
      const jobs = await readJobs(searchStateDir(join(dir, "runs"), "cut", "default"));
      assert.deepEqual(jobsKey(jobs), jobsKey(ref));
      for (const t of new Set(jobs.map((j) => j.trial))) {
        assert.deepEqual(
          await metricsOf(join(dir, "runs", "cut", t)),
          await metricsOf(join(dir, "runs", "whole", t)),
          t,
        );
      }
      // An epoch recorded (metrics written) is never trained again: each appears once.
      assert.equal(new Set(trainedEpochs).size, trainedEpochs.length, trainedEpochs.join(" "));
    });
  },
);

Deno.test(
  "deno task exp on a search: two workers at once train every job once, between them",
  GPU_TEST,
  async () => {
    await withRepoTemp(async (dir) => {
      await writeFakeFmnist(join(dir, "data"), 640, 96);
      const file = await experiment(dir, "two", { trials: 12 });
      const [a, b] = await Promise.all([
        exp([file, "--json"]).output(),
        exp([file, "--json"]).output(),
      ]);
      assert.equal(a.code, 0, dec.decode(a.stderr));
      assert.equal(b.code, 0, dec.decode(b.stderr));
      const started = (o: Deno.CommandOutput) =>
        events(o.stdout).filter((e) => e.event === "trial_started").map((e) => `${e.id}.${e.rung}`);
      const all = [...started(a), ...started(b)];
      const jobs = await readJobs(searchStateDir(join(dir, "runs"), "two", "default"));
      assert.ok(jobs.every((j) => j.result && j.result.state !== "failed"));
      assert.deepEqual([...all].sort(), jobs.map((j) => `${j.trial}.${j.rung + 1}`).sort());
      assert.equal(new Set(all).size, all.length, `a job trained twice: ${all}`);
      assert.ok(started(a).length > 0 && started(b).length > 0, `${started(a)} | ${started(b)}`);
    });
  },
);
