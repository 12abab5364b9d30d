import assert from "node:assert/strict";
import { basename, dirname, join } from "node:path";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import {
  pendingIds,
  shellQuote,
  slurmContext,
  slurmLogPath,
  slurmScript,
  submitSlurm,
} from "../src/cluster/slurm.ts";
import { buildReport } from "../src/report/report.ts";
import { type SlurmCluster, startCluster } from "./_slurm_cluster.ts";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const dec = new TextDecoder();

// ---------------------------------------------------------------------------
// Without Slurm: the script, pending ids, the environment, sbatch handling.

Deno.test("slurmScript: array, options, extra lines, ids", () => {
  const s = slurmScript({
    experimentPath: "experiments/grid.yaml",
    ids: ["lr1e-3_seed0", "lr1e-3_seed1", "lr3e-4_seed0", "lr3e-4_seed1"],
    runsDir: "runs",
    cwd: "/repo",
    partition: "gpu",
    time: "04:00:00",
    gres: "gpu:1",
    cpusPerTask: 4,
    mem: "16G",
    maxParallel: 2,
    extra: ["--qos=long", "#SBATCH --constraint=a100", "module load cuda", "export A=1"],
    args: ["--max-epochs", "3"],
  });
  const lines = s.split("\n");
  assert.equal(lines[0], "#!/bin/bash");
  const sbatch = lines.filter((l) => l.startsWith("#SBATCH "));
  assert.deepEqual(sbatch, [
    "#SBATCH --job-name=firstspike-grid",
    "#SBATCH --array=0-3%2",
    "#SBATCH --requeue",
    "#SBATCH --signal=B:TERM@120",
    "#SBATCH --open-mode=append",
    "#SBATCH --output=/repo/runs/grid/slurm/%A_%a.log",
    "#SBATCH --chdir=/repo",
    "#SBATCH --partition=gpu",
    "#SBATCH --time=04:00:00",
    "#SBATCH --gres=gpu:1",
    "#SBATCH --mem=16G",
    "#SBATCH --cpus-per-task=4",
    "#SBATCH --qos=long",
    "#SBATCH --constraint=a100",
  ]);
  // sbatch reads options only before the first command: all #SBATCH lines come first.
  const firstCommand = lines.findIndex((l) => l !== "" && !l.startsWith("#"));
  assert.ok(lines.slice(firstCommand).every((l) => !l.startsWith("#SBATCH")));
  assert.ok(
    lines.includes("ids=('lr1e-3_seed0' 'lr1e-3_seed1' 'lr3e-4_seed0' 'lr3e-4_seed1')"),
  );
  const exec = lines.filter((l) => l.startsWith("exec "));
  assert.deepEqual(exec, [
    `exec deno task exp 'experiments/grid.yaml' --only "$id" '--max-epochs' '3'`,
  ]);
  // Shell extra lines run before the runner.
  assert.ok(lines.indexOf("module load cuda") < lines.indexOf(exec[0]));
  assert.ok(lines.indexOf("export A=1") < lines.indexOf(exec[0]));

  // Minimal: no %N, no optional options, absolute runsDir, custom command.
  const m = slurmScript({
    experimentPath: "/x/e.yml",
    ids: ["default"],
    runsDir: "/data/runs",
    cwd: "/repo",
    denoCommand: "deno run -A tasks/exp.ts",
    experiment: "other",
  });
  assert.match(m, /^#SBATCH --array=0-0$/m);
  assert.match(m, /^#SBATCH --output=\/data\/runs\/other\/slurm\/%A_%a\.log$/m);
  assert.doesNotMatch(m, /--partition|--time|--gres|--mem|--cpus-per-task/);
  assert.match(m, /^exec deno run -A tasks\/exp\.ts '\/x\/e\.yml' --only "\$id"$/m);
});

Deno.test("slurmScript for a search: N workers, each running the same command", async () => {
  const s = slurmScript({
    experimentPath: "experiments/search.yaml",
    ids: [],
    workers: 3,
    runsDir: "runs",
    cwd: "/repo",
    args: ["lr=1e-3"],
  });
  assert.match(s, /^#SBATCH --array=0-2$/m);
  assert.match(s, /^# firstspike: 3 worker\(s\) of the search 'search'/m);
  assert.deepEqual(s.split("\n").filter((l) => l.startsWith("exec ")), [
    "exec deno task exp 'experiments/search.yaml' 'lr=1e-3'",
  ]);
  assert.doesNotMatch(s, /--only|ids=/);
  assert.throws(
    () => slurmScript({ experimentPath: "e.yaml", ids: [], workers: 0, runsDir: "r", cwd: "/r" }),
    /workers expected an integer >= 1, got 0/,
  );
  // Every task runs it: the script does not depend on which task it is.
  const dir = await Deno.makeTempDir({ prefix: "firstspike_slurm_" });
  try {
    const echo = slurmScript({
      experimentPath: "s.yaml",
      ids: [],
      workers: 2,
      runsDir: "runs",
      cwd: dir,
      denoCommand: "echo RUN",
    });
    for (const task of ["0", "1"]) {
      const r = await bash(echo, {
        SLURM_JOB_ID: "9",
        SLURM_ARRAY_JOB_ID: "7",
        SLURM_ARRAY_TASK_ID: task,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim().split("\n").pop(), "RUN s.yaml");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("slurmScript: bad options are errors naming the option and value", () => {
  const base = { experimentPath: "e.yaml", ids: ["a"], runsDir: "runs", cwd: "/r" };
  assert.throws(() => slurmScript({ ...base, ids: [] }), /ids expected at least one run id/);
  assert.throws(
    () => slurmScript({ ...base, ids: ["a", "b c"] }),
    /ids\[1\] expected a folder name .*got "b c"/,
  );
  assert.throws(() => slurmScript({ ...base, ids: ["a", "a"] }), /got 'a' twice/);
  assert.throws(() => slurmScript({ ...base, ids: [".."] }), /ids\[0\]/);
  assert.throws(
    () => slurmScript({ ...base, maxParallel: 0 }),
    /maxParallel expected an integer >= 1, got 0/,
  );
  assert.throws(
    () => slurmScript({ ...base, cpusPerTask: 1.5 }),
    /cpusPerTask expected an integer >= 1, got 1.5/,
  );
  assert.throws(() => slurmScript({ ...base, time: "4 h" }), /time expected .*got "4 h"/);
  assert.throws(
    () => slurmScript({ ...base, extra: ["a\nb"] }),
    /extra\[0\] expected a single line/,
  );
  assert.throws(() => slurmScript({ ...base, cwd: "/my repo" }), /cwd expected .*"\/my repo"/);
});

async function bash(
  script: string,
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command("bash", {
    args: ["-s"],
    env,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(script));
  await w.close();
  const r = await child.output();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

Deno.test("slurmScript: the script picks its id, links its log and execs the runner", async () => {
  const dir = await Deno.makeTempDir({ prefix: "firstspike_slurm_" });
  try {
    const s = slurmScript({
      experimentPath: "my exp's.yaml",
      experiment: "exp",
      ids: ["a", "b", "c"],
      runsDir: "runs",
      cwd: dir,
      // `echo` stands in for the runner: the log shows the exact command line.
      denoCommand: "echo RUN",
      args: ["--max-epochs", "1"],
    });
    const env = { SLURM_JOB_ID: "9", SLURM_ARRAY_JOB_ID: "7", SLURM_ARRAY_TASK_ID: "1" };
    const r = await bash(s, env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split("\n").pop(), "RUN my exp's.yaml --only b --max-epochs 1");
    const link = join(dir, "runs", "exp", "b", "slurm-7_1.log");
    assert.equal(await Deno.readLink(link), "../slurm/7_1.log");
    const bad = await bash(s, { ...env, SLURM_ARRAY_TASK_ID: "3" });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /array task 3 expected in \[0, 3\)/);
    const none = await bash(s, { SLURM_JOB_ID: "9" });
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /submit this script with sbatch/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pendingIds: everything not done, in order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "firstspike_slurm_" });
  try {
    const write = async (id: string, text: string) => {
      await Deno.mkdir(join(dir, "e", id), { recursive: true });
      await Deno.writeTextFile(join(dir, "e", id, "run.yaml"), text);
    };
    await write("done1", toYaml({ kind: "run", seed: 1, status: { state: "done" } }));
    await write("running", toYaml({ kind: "run", status: { state: "running" } }));
    await write("failed", toYaml({ kind: "run", status: { state: "failed", error: "x" } }));
    await write("broken", "kind: run\nstatus: {state: done\n");
    await write("nostatus", "kind: run\n");
    await write("done2", toYaml({ kind: "run", status: { state: "done" } }));
    await Deno.mkdir(join(dir, "e", "empty"));
    const ids = ["missing", "done1", "running", "failed", "broken", "nostatus", "empty", "done2"];
    assert.deepEqual(await pendingIds(dir, "e", ids), [
      "missing",
      "running",
      "failed",
      "broken",
      "nostatus",
      "empty",
    ]);
    assert.deepEqual(await pendingIds(dir, "e", ["done2", "done1"]), []);
    assert.deepEqual(await pendingIds(dir, "nothing-here", ["a"]), ["a"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("slurmContext and slurmLogPath", () => {
  assert.equal(slurmContext({}), null);
  assert.equal(slurmContext({ SLURM_ARRAY_TASK_ID: "1" }), null);
  assert.deepEqual(slurmContext({ SLURM_JOB_ID: "5" }), {
    jobId: "5",
    arrayJobId: null,
    arrayTaskId: null,
  });
  const ctx = slurmContext({
    SLURM_JOB_ID: "12",
    SLURM_ARRAY_JOB_ID: "10",
    SLURM_ARRAY_TASK_ID: "2",
  })!;
  assert.deepEqual(ctx, { jobId: "12", arrayJobId: "10", arrayTaskId: 2 });
  assert.equal(slurmLogPath("runs", "e", ctx), "runs/e/slurm/10_2.log");
  assert.equal(slurmLogPath("runs", "e", { ...ctx, arrayTaskId: null }), null);
  assert.throws(
    () => slurmContext({ SLURM_JOB_ID: "1", SLURM_ARRAY_TASK_ID: "x" }),
    /SLURM_ARRAY_TASK_ID: expected an integer >= 0, got 'x'/,
  );
  // Deno.env works too.
  assert.equal(slurmContext({ get: () => undefined }), null);
  assert.equal(shellQuote(""), "''");
});

Deno.test("submitSlurm: passes the script, makes the log folder, reads the job id", async () => {
  const dir = await Deno.makeTempDir({ prefix: "firstspike_slurm_" });
  try {
    const fake = join(dir, "sbatch");
    await Deno.writeTextFile(
      fake,
      `#!/bin/bash\necho "$@" > "${dir}/args"\ncat > "${dir}/got"\necho "123;cluster"\n`,
    );
    await Deno.chmod(fake, 0o755);
    const script = slurmScript({
      experimentPath: "e.yaml",
      ids: ["a"],
      runsDir: join(dir, "runs"),
      cwd: dir,
    });
    assert.deepEqual(await submitSlurm(script, { sbatch: fake }), { jobId: "123" });
    assert.equal(await Deno.readTextFile(join(dir, "got")), script);
    assert.equal((await Deno.readTextFile(join(dir, "args"))).trim(), "--parsable");
    assert.ok((await Deno.stat(join(dir, "runs", "e", "slurm"))).isDirectory);

    const failing = join(dir, "sbatch-fail");
    await Deno.writeTextFile(
      failing,
      `#!/bin/bash\ncat > /dev/null\necho "sbatch: error: invalid partition specified: gpu" >&2\nexit 1\n`,
    );
    await Deno.chmod(failing, 0o755);
    await assert.rejects(
      () => submitSlurm(script, { sbatch: failing }),
      /exited with 1: sbatch: error: invalid partition specified: gpu/,
    );
    const garbled = join(dir, "sbatch-garbled");
    await Deno.writeTextFile(garbled, `#!/bin/bash\ncat > /dev/null\necho "Submitted"\n`);
    await Deno.chmod(garbled, 0o755);
    await assert.rejects(
      () => submitSlurm(script, { sbatch: garbled }),
      /expected a job id on standard output, got "Submitted"/,
    );
    await assert.rejects(
      () => submitSlurm(script, { sbatch: join(dir, "no-such-sbatch") }),
      /expected the sbatch executable '.*no-such-sbatch', got no such command/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------
// A real one-node cluster (FIRSTSPIKE_SLURM_TEST=1, root, slurm-wlm and munge installed).

let cluster: SlurmCluster | null = null;
let skipReason = "";
if (Deno.env.get("FIRSTSPIKE_SLURM_TEST") !== "1") {
  skipReason = "FIRSTSPIKE_SLURM_TEST is not 1";
} else {
  try {
    cluster = await startCluster();
  } catch (e) {
    skipReason = `cannot start a Slurm cluster: ${e instanceof Error ? e.message : e}`;
  }
}
if (cluster === null) console.log(`slurm_test: skipping the real Slurm tests: ${skipReason}`);
globalThis.addEventListener("unload", () => cluster?.killNow());

const real = { ignore: cluster === null, sanitizeOps: false, sanitizeResources: false };

async function queueIds(c: SlurmCluster): Promise<string[]> {
  const q = await c.run("squeue", ["-h", "-o", "%i %T"]);
  assert.equal(q.code, 0, q.stderr);
  return q.stdout.split("\n").map((l) => l.trim()).filter(Boolean);
}

async function waitQueueEmpty(c: SlurmCluster, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const left = await queueIds(c);
    if (left.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`expected the queue to empty within ${timeoutMs} ms, got ${left.join("; ")}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function waitFor<T>(
  what: string,
  timeoutMs: number,
  f: () => Promise<T | null>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const v = await f();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`expected ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

Deno.test({
  name: "slurm (real): a trivial sbatch --wrap array job runs and finishes",
  ...real,
  fn: async () => {
    const c = cluster!;
    const out = join(c.dir, "wrap");
    await Deno.mkdir(out);
    const r = await c.run("sbatch", [
      "--parsable",
      "--array=0-2%2",
      `--output=${out}/%A_%a.log`,
      "--wrap",
      'echo "hi $SLURM_ARRAY_TASK_ID"',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const job = r.stdout.trim();
    assert.match(job, /^\d+$/);
    await waitQueueEmpty(c, 60_000);
    for (const i of [0, 1, 2]) {
      assert.equal(await Deno.readTextFile(join(out, `${job}_${i}.log`)), `hi ${i}\n`);
    }
  },
});

Deno.test({
  name: "slurm (real): slurmScript + submitSlurm run every id; SIGTERM reaches the exec'd command",
  ...real,
  fn: async () => {
    const c = cluster!;
    const cwd = join(c.dir, "repo");
    await Deno.mkdir(cwd);
    // The "runner" echoes its arguments; on SIGTERM it says so and exits.
    const script = slurmScript({
      experimentPath: "exp.yaml",
      ids: ["p0", "p1", "p2"],
      runsDir: "runs",
      cwd,
      maxParallel: 2,
      denoCommand: `bash -c 'echo "ARGS $*"; if [ "$3" = p2 ]; then ` +
        `trap "echo got-TERM; exit 0" TERM; echo waiting; sleep 60 & wait; fi' runner`,
    });
    const { jobId } = await submitSlurm(script, { env: c.env });
    const log = (i: number) => join(cwd, "runs", "exp", "slurm", `${jobId}_${i}.log`);
    await waitFor("task 2 to wait for its signal", 60_000, async () => {
      const t = await Deno.readTextFile(log(2)).catch(() => "");
      return t.includes("waiting") ? t : null;
    });
    const sig = await c.run("scancel", ["--batch", "--signal=TERM", `${jobId}_2`]);
    assert.equal(sig.code, 0, sig.stderr);
    await waitQueueEmpty(c, 60_000);
    for (const [i, id] of ["p0", "p1", "p2"].entries()) {
      const text = await Deno.readTextFile(log(i));
      assert.match(text, new RegExp(`^ARGS exp\\.yaml --only ${id}$`, "m"));
      assert.equal(
        await Deno.readLink(join(cwd, "runs", "exp", id, `slurm-${jobId}_${i}.log`)),
        `../slurm/${jobId}_${i}.log`,
      );
    }
    assert.match(await Deno.readTextFile(log(2)), /got-TERM/);
    // Nothing was written as run.yaml, so every id is still pending.
    assert.deepEqual(await pendingIds(join(cwd, "runs"), "exp", ["p0", "p1", "p2"]), [
      "p0",
      "p1",
      "p2",
    ]);
  },
});

// --- End to end through the runner: `deno task exp FILE --slurm` -------------

/** Writes a copy of the fixture under a unique experiment name; returns its path and name. */
async function experimentCopy(
  c: SlurmCluster,
  tag: string,
  changes: Record<string, unknown> = {},
): Promise<string> {
  const doc = parseYaml(
    await Deno.readTextFile(join(REPO, "tests", "fixtures", "slurm-grid.yaml")),
  ) as Record<string, unknown>;
  const name = `slurm-grid-test-${tag}-${Date.now().toString(36)}`;
  const file = join(c.dir, `${name}.yaml`);
  await Deno.writeTextFile(file, toYaml({ ...doc, ...changes, name }));
  return file;
}

/**
 * `deno task exp ARGS` as on a cluster, where `module load` has set `LD_LIBRARY_PATH`: Deno
 * starts programs from such an environment only under an unrestricted `--allow-run`, and
 * sbatch passes it on to the jobs, whose tasks then run under it too.
 */
async function exp(c: SlurmCluster, args: string[]) {
  const r = await c.run(Deno.execPath(), ["task", "exp", ...args], {
    cwd: REPO,
    env: { LD_LIBRARY_PATH: LD_LIBRARY_PATH },
  });
  return r;
}

/** A folder every Linux has, so the loader finds what it found before. */
const LD_LIBRARY_PATH = "/usr/lib";

/** The ids and experiment folder a `--slurm-print` script names. */
function parsePrinted(script: string): { ids: string[]; expDir: string } {
  const ids = /^ids=\((.*)\)$/m.exec(script);
  const out = /^#SBATCH --output=(\S+)\/slurm\/%A_%a\.log$/m.exec(script);
  assert.ok(ids && out, `expected a firstspike sbatch script, got:\n${script}`);
  const list = [...ids[1].matchAll(/'((?:[^']|'\\'')*)'/g)].map((m) =>
    m[1].replaceAll(`'\\''`, "'")
  );
  return { ids: list, expDir: out[1] };
}

async function runYaml(expDir: string, id: string): Promise<Record<string, any> | null> {
  try {
    return parseYaml(await Deno.readTextFile(join(expDir, id, "run.yaml")));
  } catch {
    return null;
  }
}

Deno.test({
  name:
    "slurm (real): e2e grid via deno task exp --slurm; cancel and resubmit; preempt, requeue and resume",
  ...real,
  fn: async () => {
    const c = cluster!;
    const TIMEOUT = 15 * 60_000;

    // 1. The whole grid.
    const first = await experimentCopy(c, "all");
    const printed = await exp(c, [first, "--slurm-print"]);
    assert.equal(printed.code, 0, printed.stderr);
    const { ids, expDir } = parsePrinted(printed.stdout);
    try {
      assert.equal(ids.length, 3, `expected one id per seed, got ${ids.join(", ")}`);
      const sub = await exp(c, [first, "--slurm"]);
      assert.equal(sub.code, 0, sub.stdout + sub.stderr);
      await waitQueueEmpty(c, TIMEOUT);
      for (const id of ids) {
        const doc = await runYaml(expDir, id);
        assert.equal(doc?.status?.state, "done", `${id}: ${JSON.stringify(doc?.status)}`);
        assert.match(String(doc?.status?.slurm?.array_job_id), /^\d+$/);
        assert.equal(doc?.results?.epochs_run, 2);
      }
      assert.deepEqual(await pendingIds(dirname(expDir), basename(expDir), ids), []);
      const report = await buildReport(expDir);
      assert.equal(report.summaries.filter((s) => s.state === "done").length, 3);
      assert.equal(report.groups.length, 1);
      assert.equal(report.groups[0].n, 3);
      // Resubmitting a finished grid has nothing to run.
      const again = await exp(c, [first, "--slurm-print"]);
      assert.ok(
        again.code !== 0 || !/^ids=/m.test(again.stdout),
        `expected no script for a finished grid, got:\n${again.stdout}`,
      );
    } finally {
      await Deno.remove(expDir, { recursive: true }).catch(() => {});
    }

    // 2. Cancel one task while it trains, resubmit: only it runs again, and completes. 40 short
    // epochs, and the victim chosen once it has finished one: the cancel lands while it trains
    // (with 4 epochs a task could finish between being seen running and the scancel).
    const second = await experimentCopy(c, "cancel", { epochs: 40, max_steps: 400 });
    const p2 = parsePrinted((await exp(c, [second, "--slurm-print"])).stdout);
    try {
      const sub = await exp(c, [second, "--slurm"]);
      assert.equal(sub.code, 0, sub.stdout + sub.stderr);
      const victim = await waitFor("a task that is training", TIMEOUT, async () => {
        for (const id of p2.ids) {
          const doc = await runYaml(p2.expDir, id);
          const trained = await Deno.stat(join(p2.expDir, id, "metrics.jsonl")).catch(() => null);
          if (
            doc?.status?.state === "running" && doc.status.slurm?.array_job_id !== undefined &&
            trained
          ) {
            return { id, slurm: doc.status.slurm };
          }
        }
        return null;
      });
      const target = `${victim.slurm.array_job_id}_${victim.slurm.array_task_id}`;
      const cancel = await c.run("scancel", [target]);
      assert.equal(cancel.code, 0, cancel.stderr);
      await waitQueueEmpty(c, TIMEOUT);
      const left = await pendingIds(dirname(p2.expDir), basename(p2.expDir), p2.ids);
      assert.deepEqual(left, [victim.id], `cancelled ${target} (${victim.id}) while running`);
      // The runner resubmits only the unfinished point.
      const re = await exp(c, [second, "--slurm-print"]);
      assert.deepEqual(parsePrinted(re.stdout).ids, [victim.id]);
      const sub2 = await exp(c, [second, "--slurm"]);
      assert.equal(sub2.code, 0, sub2.stdout + sub2.stderr);
      await waitQueueEmpty(c, TIMEOUT);
      for (const id of p2.ids) {
        const doc = await runYaml(p2.expDir, id);
        assert.equal(doc?.status?.state, "done", `${id}: ${JSON.stringify(doc?.status)}`);
      }
      assert.deepEqual(await pendingIds(dirname(p2.expDir), basename(p2.expDir), p2.ids), []);
    } finally {
      await Deno.remove(p2.expDir, { recursive: true }).catch(() => {});
    }

    // 3. Preemption: SIGTERM to a training task (as Slurm sends before its time limit) makes it
    // write a checkpoint and requeue itself; the requeued task resumes and finishes, with no
    // resubmission.
    // 40 short epochs, as for the cancel: with 6 (24 steps, 1.5 s) the run could finish between
    // being seen in its first epoch and the signal, and nothing was requeued.
    const third = await experimentCopy(c, "preempt", {
      epochs: 40,
      max_steps: 400,
      grid: { seed: [0] },
    });
    const p3 = parsePrinted((await exp(c, [third, "--slurm-print"])).stdout);
    try {
      const sub = await exp(c, [third, "--slurm"]);
      assert.equal(sub.code, 0, sub.stdout + sub.stderr);
      const victim = await waitFor("the task to finish an epoch", TIMEOUT, async () => {
        const doc = await runYaml(p3.expDir, p3.ids[0]);
        const metrics = await Deno.stat(join(p3.expDir, p3.ids[0], "metrics.jsonl")).catch(() =>
          null
        );
        return doc?.status?.state === "running" && metrics ? doc.status.slurm : null;
      });
      const target = `${victim.array_job_id}_${victim.array_task_id}`;
      const sig = await c.run("scancel", ["--batch", "--signal=TERM", target]);
      assert.equal(sig.code, 0, sig.stderr);
      // Slurm holds a requeued job back for a while; let it start at once.
      const requeued = await waitFor("the task to be requeued", TIMEOUT, async () => {
        const q = await c.run("squeue", ["-h", "-j", String(victim.array_job_id), "-o", "%i %T"]);
        const lines = q.stdout.trim().split("\n").filter(Boolean);
        if (lines.length === 0) {
          // Gone from the queue without a requeue: say why now rather than wait 15 minutes.
          const log = await Deno.readTextFile(
            join(p3.expDir, "slurm", `${target}.log`),
          ).catch((e) => `(no log: ${e.message})`);
          throw new Error(`${target} left the queue without being requeued; its log:\n${log}`);
        }
        const line = lines.find((l) => l.includes("PENDING"));
        return line ? line.split(" ")[0] : null;
      });
      // Not in the second of the requeue: slurmd revokes the old incarnation's credential
      // with a time in whole seconds, and a new one made in that second counts as revoked
      // ("Killing non-startable batch job: Job credential revoked", and the task is gone).
      await new Promise((r) => setTimeout(r, 2500));
      await c.run("scontrol", ["update", `JobId=${requeued}`, "StartTime=now"]);
      await waitQueueEmpty(c, TIMEOUT);
      const doc = await runYaml(p3.expDir, p3.ids[0]);
      const log = await Deno.readTextFile(
        join(p3.expDir, "slurm", `${victim.array_job_id}_${victim.array_task_id}.log`),
      ).catch((e) => `(no log: ${e.message})`);
      // On failure, the task's log (both incarnations) and the controller's lines on the job
      // say what happened.
      const ctld = await Deno.readTextFile(join(c.dir, "log", "slurmctld.log")).catch(() => "");
      const about = ctld.split("\n").filter((l) => l.includes(`JobId=${victim.array_job_id}`));
      assert.equal(
        doc?.status?.state,
        "done",
        `${JSON.stringify(doc?.status)}\n${log}\n${about.join("\n")}`,
      );
      assert.match(log, /checkpoint written/);
      assert.match(log, /resuming/);
    } finally {
      await Deno.remove(p3.expDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "slurm (real): a search through deno task exp --slurm --parallel 3: three workers " +
    "share its trials, every job trained once",
  ...real,
  fn: async () => {
    const c = cluster!;
    const TIMEOUT = 15 * 60_000;
    const file = await experimentCopy(c, "search", {
      grid: undefined,
      epochs: 9,
      max_steps: null,
      validation_fraction: 0.25,
      search: {
        trials: 12,
        seed: 1,
        scheduler: "asha",
        min_epochs: 1,
        reduction: 3,
        space: { lr: { log_uniform: [1e-3, 3e-2] }, seed: { int: [0, 9] } },
      },
    });
    const printed = await exp(c, [file, "--slurm-print", "--parallel", "3"]);
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(printed.stdout, /^#SBATCH --array=0-2$/m);
    assert.match(printed.stdout, /^# firstspike: 3 worker\(s\) of the search/m);
    assert.doesNotMatch(printed.stdout, /--only/);
    const expDir = /^#SBATCH --output=(\S+)\/slurm\/%A_%a\.log$/m.exec(printed.stdout)![1];
    try {
      const sub = await exp(c, [file, "--slurm", "--parallel", "3"]);
      assert.equal(sub.code, 0, sub.stdout + sub.stderr);
      const jobId = /submitted job (\d+): 3 worker\(s\)/.exec(sub.stdout)?.[1];
      assert.ok(jobId, sub.stdout);
      await waitQueueEmpty(c, TIMEOUT);
      // Every job of the search has a result, and exactly one task's log says it trained it.
      const jobsDir = join(expDir, "search", "default", "jobs");
      const jobs = [];
      for await (const e of Deno.readDir(jobsDir)) {
        if (e.name.endsWith(".json") && !e.name.startsWith(".")) {
          jobs.push(JSON.parse(await Deno.readTextFile(join(jobsDir, e.name))));
        }
      }
      assert.ok(jobs.length >= 12, `${jobs.length} jobs`);
      assert.ok(jobs.every((j) => j.result && j.result.state !== "failed"), JSON.stringify(jobs));
      const trained: string[] = [];
      const perTask: number[] = [];
      for (const i of [0, 1, 2]) {
        const log = await Deno.readTextFile(join(expDir, "slurm", `${jobId}_${i}.log`));
        const mine = [...log.matchAll(/^trial (t\d{4}) \(\d+ of 12\), rung (\d) of /gm)]
          .map((m) => `${m[1]}.${Number(m[2]) - 1}`);
        trained.push(...mine);
        perTask.push(mine.length);
        assert.match(log, /search finished in/, `task ${i}:\n${log}`);
      }
      assert.deepEqual(trained.sort(), jobs.map((j) => `${j.trial}.${j.rung}`).sort());
      assert.equal(new Set(trained).size, trained.length, `a job trained twice: ${trained}`);
      assert.ok(perTask.filter((n) => n > 0).length >= 2, `jobs per task: ${perTask}`);
      // Nothing left to submit.
      const again = await exp(c, [file, "--slurm-print", "--parallel", "3"]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /the search is complete: nothing to submit/);
    } finally {
      await Deno.remove(expDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "slurm (real): stop the cluster",
  ...real,
  fn: async () => {
    await cluster!.stop();
    cluster = null;
  },
});
