/**
 * `deno task test`: the whole suite (every `tests/*_test.ts` and the examples in the docs and
 * JSDoc, `--doc`) in a few `deno test` processes at once, each given a share of the files by
 * their measured time, so that tests that mostly wait (a Slurm cluster, browsers, killed
 * workers) overlap. Each process's output is printed whole when it ends, then one summary.
 *
 * A process whose tests all passed and that then died of a signal as it exited (seen once in
 * CI: glibc's "corrupted size vs. prev_size in fastbins", SIGABRT, after "ok | 544 passed |
 * 0 failed", while Mesa's software driver and Deno's WebGPU tore down) runs its share again,
 * once, saying so; the suite passes only when every share has ended with status 0.
 *
 * `deno task test FILE...` (or any `deno test` option) runs `deno test -A` on those alone, in
 * one process. `--jobs N` (or `FIRSTSPIKE_TEST_JOBS`) sets the processes (default 3).
 *
 * @module
 */

import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** What `--doc` reads for examples: the public module, the code and the Markdown guides. */
const DOC_PATHS = ["mod.ts", "src", "tasks", "README.md", "docs"];

/**
 * Seconds each file took in a full run on the 2-core machine (fresh clone, warm shader cache);
 * a file not listed counts {@link DEFAULT_SECONDS}. Only the balance of the shares uses them.
 */
const SECONDS: Record<string, number> = {
  "slurm_test.ts": 60,
  "search_state_test.ts": 31,
  "search_exp_test.ts": 26,
  "board_browser_test.ts": 24,
  "run_lock_test.ts": 22,
  "signals_test.ts": 18,
  "task_runs_test.ts": 17,
  "exp_display_test.ts": 14,
  "report_test.ts": 14,
  "train_test.ts": 13,
  "cli_test.ts": 13,
  "task_folders_test.ts": 11,
  "run_folder_test.ts": 10,
  "sparse_test.ts": 9,
  "engine_test.ts": 8,
  "docs_test.ts": 8,
  "report_figures_test.ts": 8,
  "task_env_test.ts": 15,
  "direct_conv_test.ts": 7,
  "task_ids_test.ts": 6,
  "bench_test.ts": 5,
};
const DEFAULT_SECONDS = 2;
/** The doc examples: 158 modules, each started on its own, about a minute. */
const DOC_SECONDS = 55;

/** One process's share of the suite. */
export interface Share {
  /** Test files, relative to the checkout. */
  files: string[];
  /** Whether this share also runs the documentation's examples. */
  doc: boolean;
  /** Its expected seconds. */
  seconds: number;
}

/**
 * Splits the files (and the doc examples) into `jobs` shares of about equal time, longest
 * first onto the share with the least so far.
 *
 * @example
 * ```ts
 * import { shares } from "./test.ts";
 * const s = shares(["tests/slurm_test.ts", "tests/a_test.ts", "tests/b_test.ts"], 2);
 * if (s.length !== 2 || !s.some((x) => x.doc)) throw new Error(JSON.stringify(s));
 * if (s.flatMap((x) => x.files).length !== 3) throw new Error(JSON.stringify(s));
 * ```
 */
export function shares(files: readonly string[], jobs: number): Share[] {
  const n = Math.max(1, Math.floor(jobs));
  const out: Share[] = Array.from({ length: n }, () => ({ files: [], doc: false, seconds: 0 }));
  const items = [
    { file: null as string | null, seconds: DOC_SECONDS },
    ...files.map((file) => ({ file, seconds: SECONDS[basename(file)] ?? DEFAULT_SECONDS })),
  ].sort((a, b) => b.seconds - a.seconds || String(a.file).localeCompare(String(b.file)));
  for (const item of items) {
    const least = out.reduce((a, b) => (b.seconds < a.seconds ? b : a));
    if (item.file === null) least.doc = true;
    else least.files.push(item.file);
    least.seconds += item.seconds;
  }
  return out.filter((s) => s.doc || s.files.length);
}

/** The counts of `deno test`'s last summary line, or null when it printed none. */
export interface Summary {
  ok: boolean;
  passed: number;
  failed: number;
  ignored: number;
}

/**
 * Reads the summary line `deno test` prints last (`ok | 12 passed | 0 failed | 1 ignored (3s)`).
 *
 * @example
 * ```ts
 * import { summaryOf } from "./test.ts";
 * const s = summaryOf("...\nFAILED | 3 passed (2 steps) | 1 failed | 2 ignored (4s)\n");
 * if (!s || s.ok || s.passed !== 3 || s.failed !== 1 || s.ignored !== 2) throw new Error();
 * ```
 */
export function summaryOf(output: string): Summary | null {
  // deno-lint-ignore no-control-regex
  const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
  const all = [
    ...plain.matchAll(
      /^(ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed(?: \(\d+ steps?\))?(?: \| (\d+) ignored)?/gm,
    ),
  ];
  const m = all.at(-1);
  if (!m) return null;
  return {
    ok: m[1] === "ok",
    passed: Number(m[2]),
    failed: Number(m[3]),
    ignored: Number(m[4] ?? 0),
  };
}

/** One run of a share: its output, status and summary. */
export interface Ended {
  output: string;
  code: number;
  signal: Deno.Signal | null;
  summary: Summary | null;
  seconds: number;
}

const children = new Set<Deno.ChildProcess>();

async function runShare(share: Share): Promise<Ended> {
  const t0 = performance.now();
  const args = ["test", "-A", ...(share.doc ? ["--doc", ...DOC_PATHS] : []), ...share.files];
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  children.add(child);
  const dec = new TextDecoder();
  let output = "";
  // One stream of both, in the order they came (as on a terminal).
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s) output += dec.decode(chunk, { stream: true });
  };
  const [status] = await Promise.all([child.status, pump(child.stdout), pump(child.stderr)]);
  children.delete(child);
  return {
    output,
    code: status.code,
    signal: status.signal,
    summary: summaryOf(output),
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Whether a run's tests all passed and its process then ended badly (a crash as it exited). */
function crashedAfterPassing(e: Ended): boolean {
  return e.code !== 0 && e.summary?.ok === true && e.summary.failed === 0;
}

/**
 * Runs every share at once with `run`, printing each one's output and a line as it ends; a
 * share that {@link crashedAfterPassing} runs again, once, and its second run is the one that
 * counts.
 *
 * @example
 * ```ts
 * import { runShares, type Share } from "./test.ts";
 * const plan: Share[] = [{ files: ["tests/a_test.ts"], doc: false, seconds: 1 }];
 * const summary = { ok: true, passed: 3, failed: 0, ignored: 0 };
 * const crash = { output: "ok | 3 passed | 0 failed", code: 134, signal: "SIGABRT" as const, summary, seconds: 1 };
 * const clean = { ...crash, code: 0, signal: null };
 * const runs = [crash, clean];
 * const lines: string[] = [];
 * const ends = await runShares(plan, async () => runs.shift()!, (t) => lines.push(t));
 * if (ends[0].code !== 0 || runs.length !== 0 || !lines.some((l) => l.includes("again"))) {
 *   throw new Error(lines.join("\n"));
 * }
 * ```
 */
export async function runShares(
  plan: readonly Share[],
  run: (share: Share) => Promise<Ended>,
  print: (text: string) => void,
): Promise<Ended[]> {
  return await Promise.all(plan.map(async (share, i) => {
    const name = `share ${i + 1}/${plan.length} (${describe(share)})`;
    let end = await run(share);
    if (crashedAfterPassing(end)) {
      print(end.output);
      print(
        `${name}: every test passed, then the test process ended with ${
          end.signal ?? `status ${end.code}`
        } as it exited; running this share again, once`,
      );
      end = await run(share);
    }
    print(end.output);
    const s = end.summary;
    print(
      `${name}: ${
        s ? `${s.ok ? "ok" : "FAILED"} | ${s.passed} passed | ${s.failed} failed` : "no summary"
      }, status ${end.signal ?? end.code}, ${minutes(end.seconds)}\n`,
    );
    return end;
  }));
}

function describe(share: Share): string {
  const names = share.files.map((f) => basename(f));
  const shown = names.length > 4 ? [...names.slice(0, 4), `${names.length - 4} more`] : names;
  return (share.doc ? ["the doc examples", ...shown] : shown).join(", ");
}

function minutes(s: number): string {
  return s >= 60
    ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`
    : `${s.toFixed(0)}s`;
}

async function main(argv: string[]): Promise<number> {
  let jobs = Number(Deno.env.get("FIRSTSPIKE_TEST_JOBS") ?? 3);
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--jobs" || argv[i].startsWith("--jobs=")) {
      const v = argv[i].includes("=") ? argv[i].split("=")[1] : argv[++i];
      jobs = Number(v);
      if (!Number.isInteger(jobs) || jobs < 1) {
        console.error(`deno task test: --jobs expected an integer >= 1, got '${v}'`);
        return 2;
      }
    } else rest.push(argv[i]);
  }
  if (!Number.isInteger(jobs) || jobs < 1) {
    console.error(
      `deno task test: FIRSTSPIKE_TEST_JOBS expected an integer >= 1, got '${
        Deno.env.get("FIRSTSPIKE_TEST_JOBS")
      }'`,
    );
    return 2;
  }
  if (rest.length) {
    // Files or options of deno test's own: one process, its output as it comes.
    const child = new Deno.Command(Deno.execPath(), {
      args: ["test", "-A", ...rest],
      cwd: ROOT,
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    children.add(child);
    return (await child.status).code;
  }

  const files = [...Deno.readDirSync(join(ROOT, "tests"))]
    .filter((e) => e.isFile && e.name.endsWith("_test.ts"))
    .map((e) => `tests/${e.name}`)
    .sort();
  const plan = shares(files, jobs);
  const t0 = performance.now();
  console.log(
    `deno task test: ${files.length} test files and the doc examples in ${plan.length} ` +
      `processes; each one's output follows when it ends`,
  );
  const ends = await runShares(plan, runShare, (text) => console.log(text));
  const sum = (k: "passed" | "failed" | "ignored") =>
    ends.reduce((a, e) => a + (e.summary?.[k] ?? 0), 0);
  const bad = ends.filter((e) => e.code !== 0 || !e.summary);
  const line = `${bad.length ? "FAILED" : "ok"} | ${sum("passed")} passed | ${
    sum("failed")
  } failed | ${sum("ignored")} ignored (${
    minutes((performance.now() - t0) / 1000)
  }, ${plan.length} processes)`;
  console.log(line);
  if (bad.length) {
    console.log(
      `deno task test: ${bad.length} of ${plan.length} processes did not end with status 0: ` +
        bad.map((e) => `${plan[ends.indexOf(e)].files.length} files, status ${e.signal ?? e.code}`)
          .join("; "),
    );
  }
  return bad.length ? 1 : 0;
}

if (import.meta.main) {
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, () => {
      for (const c of children) {
        try {
          c.kill(sig);
        } catch {
          // gone
        }
      }
      Deno.exit(sig === "SIGINT" ? 130 : 143);
    });
  }
  Deno.exit(await main(Deno.args));
}
