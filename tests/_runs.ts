// Synthetic run folders for the report and board tests: run.yaml, metrics.jsonl
// and lock written the way src/run/ writes them.
import { join } from "node:path";
import { stringify as toYaml } from "yaml";
import { acquireLock } from "../src/run/run_lock.ts";

/** One spiking layer's statistics of an epoch. */
export function layer(index: number, token: string, firing: number, hist: number[]) {
  return { index, token, firing, mean_time: 0.5, hist };
}

/** A 16-bin histogram with the given counts. */
export function hist(spikes: Record<number, number>): number[] {
  return Array.from({ length: 16 }, (_, i) => spikes[i] ?? 0);
}

/** An EpochRecord-shaped line of metrics.jsonl. */
export function epoch(
  e: number,
  val: number | null,
  test: number,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    epoch: e,
    lr: 1e-3,
    steps: 10,
    train_loss: 1 / e,
    train_acc: test,
    val_loss: val === null ? null : 2 / e,
    val_acc: val,
    test_loss: 1 / e,
    test_acc: test,
    seconds: 10 * e,
    spikes_per_sample: 100 + e,
    layers: [layer(0, "16C3", 0.2 * e, hist({ 0: e })), layer(1, "100F", 0.1 * e, hist({ 15: 1 }))],
    ...extra,
  };
}

/** A run folder to write. */
export interface RunSpec {
  id: string;
  lr: number;
  seed: number;
  state: "done" | "running" | "failed" | "stopped";
  error?: string;
  results?: Record<string, unknown>;
  metrics?: unknown[];
  metricsTail?: string;
  /** Extra settings (and grid keys when `grid` names them). */
  settings?: Record<string, unknown>;
  /** Grid point; default `{ lr, seed }`. */
  grid?: Record<string, unknown>;
  /**
   * Write a lock: `live` is held by this process (as a runner's), `dead` names a process of
   * this host that has ended (no one holds it), `remote` another host's runner.
   */
  lock?: "live" | "dead" | "remote";
  /** Extra fields of `status` (e.g. `reason` of a stopped run). */
  status?: Record<string, unknown>;
  /** Extra fields of `provenance` (e.g. `started`). */
  provenance?: Record<string, unknown>;
}

let deadPid: number | null = null;
/** Releases of the locks "live" runs hold; withTempDir releases them. */
const held: (() => Promise<void>)[] = [];

/** The pid of a process of this host that has ended. */
export async function endedPid(): Promise<number> {
  if (deadPid === null) {
    const child = new Deno.Command("true", { stdout: "null", stderr: "null" }).spawn();
    await child.status;
    deadPid = child.pid;
  }
  return deadPid;
}

/** Writes a run folder under `expDir`. */
export async function writeRun(expDir: string, r: RunSpec): Promise<string> {
  const dir = join(expDir, r.id);
  await Deno.mkdir(dir, { recursive: true });
  const doc: Record<string, unknown> = {
    kind: "run",
    name: "grid",
    dataset: "fmnist",
    arch: "16C3-100F",
    lr: r.lr,
    seed: r.seed,
    batch_size: 50,
    epochs: 5,
    optimizer: "adam",
    t_win: 1,
    output: `runs/grid/${r.id}`,
    ...(r.settings ?? {}),
    id: r.id,
    grid_point: r.grid ?? { lr: r.lr, seed: r.seed },
    status: {
      state: r.state,
      ...(r.error ? { error: r.error } : {}),
      slurm: { job_id: "7", array_task_id: 0, array_job_id: "7" },
      ...(r.status ?? {}),
    },
    provenance: { git: "abc", host: "h", ...(r.provenance ?? {}) },
    ...(r.results ? { results: r.results } : {}),
  };
  await Deno.writeTextFile(join(dir, "run.yaml"), toYaml(doc));
  if (r.metrics) {
    await Deno.writeTextFile(
      join(dir, "metrics.jsonl"),
      r.metrics.map((m) => JSON.stringify(m) + "\n").join("") + (r.metricsTail ?? ""),
    );
  }
  if (r.lock === "live") {
    // A live runner: this process holds the folder's lock (flock) until withTempDir ends.
    held.push(await acquireLock(dir, null));
  } else if (r.lock) {
    const lock = {
      host: r.lock === "remote" ? "some-other-node" : Deno.hostname(),
      pid: r.lock === "dead" ? await endedPid() : Deno.pid,
      slurm: null,
      since: new Date().toISOString(),
    };
    await Deno.writeTextFile(join(dir, "lock"), JSON.stringify(lock) + "\n");
  }
  return dir;
}

/** Starts a process that takes the lock of `dir` and holds it, as a live runner does. */
export async function lockHolder(dir: string, slurm?: string): Promise<Deno.ChildProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./fixtures/lock_holder.ts", import.meta.url).pathname,
      dir,
      ...(slurm ? [slurm] : []),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let said = "";
  while (!said.includes("held")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the holder ended: ${said}`);
    said += value;
  }
  reader.releaseLock();
  return child;
}

/** `results` of run.yaml. */
export function result(test: number, val: number, spikes = 123.5, bestEpoch = 2) {
  return {
    epochs_run: 3,
    steps: 30,
    best_epoch: bestEpoch,
    best_val_acc: val,
    test_acc: test,
    spikes_per_sample: spikes,
    wall_seconds: 60,
    stopped: "epochs",
  };
}

/** A temporary folder, removed after `fn`. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "firstspike_report_" });
  try {
    return await fn(dir);
  } finally {
    for (const release of held.splice(0)) await release();
    await Deno.remove(dir, { recursive: true });
  }
}

export const FAIL_MSG = `Out of "memory", at step 3\nsecond line | pipe`;

/** The tree most tests read: two learning rates, three seeds, every state. */
export async function syntheticTree(root: string): Promise<string> {
  const expDir = join(root, "grid");
  const runs: RunSpec[] = [
    { id: "lr1e-3_seed0", lr: 1e-3, seed: 0, state: "done", results: result(0.90, 0.91, 120) },
    {
      id: "lr1e-3_seed1",
      lr: 1e-3,
      seed: 1,
      state: "done",
      results: result(0.92, 0.95, 125),
      metrics: [epoch(1, 0.9, 0.88), epoch(2, 0.95, 0.92), epoch(3, 0.94, 0.93)],
    },
    { id: "lr1e-3_seed2", lr: 1e-3, seed: 2, state: "done", results: result(0.97, 0.94, 125.5) },
    {
      id: "lr1e-2_seed0",
      lr: 1e-2,
      seed: 0,
      state: "done",
      results: result(0.80, 0.96, 110),
      metrics: [
        epoch(1, 0.5, 0.45),
        // The best epoch: its histograms differ.
        epoch(2, 0.96, 0.80, {
          layers: [
            layer(0, "16C3", 0.3, hist({ 0: 8 })),
            layer(1, "100F", 0.05, hist({ 3: 2, 4: 2 })),
          ],
        }),
        epoch(3, 0.9, 0.82),
      ],
    },
    { id: "lr1e-2_seed1", lr: 1e-2, seed: 1, state: "failed", error: FAIL_MSG },
    {
      id: "lr1e-2_seed2",
      lr: 1e-2,
      seed: 2,
      state: "running",
      lock: "live",
      metrics: [
        { ...epoch(1, 0.5, 0.45), seconds: 10 },
        { ...epoch(2, 0.6, 0.55), seconds: 12 },
      ],
      metricsTail: `{"epoch": 3, "val_a`,
    },
  ];
  for (const r of runs) await writeRun(expDir, r);
  // Not runs: the Slurm log folder and an unrelated folder.
  await Deno.mkdir(join(expDir, "slurm"), { recursive: true });
  await Deno.writeTextFile(join(expDir, "slurm", "7_0.log"), "log\n");
  await Deno.mkdir(join(expDir, "figures"), { recursive: true });
  // A queued point: only its Slurm log link so far.
  await Deno.mkdir(join(expDir, "lr1e-2_seed3"), { recursive: true });
  await Deno.writeTextFile(join(expDir, "lr1e-2_seed3", "slurm-7_6.log"), "");
  // A broken run.yaml.
  await Deno.mkdir(join(expDir, "broken"), { recursive: true });
  await Deno.writeTextFile(join(expDir, "broken", "run.yaml"), "kind: experiment\n");
  return expDir;
}

/** 6 learning rates x 3 seeds, with accuracy and spikes chosen for a known Pareto front. */
export const GRID = [
  // lr, id text, mean test accuracy (%), mean spikes per sample
  [1e-4, "1e-4", 80, 100],
  [3e-4, "3e-4", 85, 120], // dominated by 3e-3 (87 % at 110)
  [1e-3, "1e-3", 86, 160], // dominated by 3e-3
  [3e-3, "3e-3", 87, 110],
  [1e-2, "1e-2", 90, 200],
  [0.03, "0.03", 70, 50],
] as const;

export async function largeGrid(root: string): Promise<string> {
  const expDir = join(root, "lr-grid");
  // Written in a shuffled order: the report must not depend on it.
  const order = [4, 0, 5, 2, 3, 1];
  for (const i of order) {
    const [lr, text, acc, spikes] = GRID[i];
    for (const seed of [2, 0, 1]) {
      const a = (acc + (seed - 1)) / 100, s = spikes + 2 * (seed - 1);
      await writeRun(expDir, {
        id: `lr${text}_seed${seed}`,
        lr,
        seed,
        state: "done",
        results: result(a, a, s, 2),
        metrics: [
          epoch(1, a - 0.1, a - 0.1, { lr, spikes_per_sample: s + 10 }),
          epoch(2, a, a, { lr, spikes_per_sample: s }),
        ],
      });
    }
  }
  return expDir;
}

/**
 * lr 1e-3 and 3e-3 x train_subset 3000 and all (null) x seeds 0 and 1, 4 epochs:
 * the learning-rate schedule depends on lr only (annealing 0.5), so each lr's two
 * configurations share one; firing is 50 % ± 5 (seed 0: 45, seed 1: 55, nudged by
 * configuration) so every band overlaps every other; every layer's histogram holds
 * 9000, 900, 90, 9 and 1 spikes in bins 0, 3, 7, 12 and 15.
 */
export async function subsetGrid(root: string): Promise<string> {
  const expDir = join(root, "subsets");
  const spikes = hist({ 0: 9000, 3: 900, 7: 90, 12: 9, 15: 1 });
  let c = 0;
  for (const lr of [1e-3, 3e-3]) {
    for (const subset of [3000, null]) {
      c++;
      for (const seed of [0, 1]) {
        const acc = (subset === null ? 0.85 : 0.7) + lr * 10 + seed * 0.01;
        await writeRun(expDir, {
          id: `lr${lr}_seed${seed}_train_subset=${subset}`,
          lr,
          seed,
          state: "done",
          results: result(acc, acc),
          settings: { train_subset: subset },
          grid: { lr, seed, train_subset: subset },
          metrics: [1, 2, 3, 4].map((e) =>
            epoch(e, acc - 0.1 / e, acc - 0.1 / e, {
              lr: lr * Math.pow(0.5, e - 1),
              layers: [layer(1, "32C3", 0.45 + 0.1 * seed + 0.001 * c, spikes)],
            })
          ),
        });
      }
    }
  }
  return expDir;
}
