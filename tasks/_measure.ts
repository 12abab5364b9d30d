/**
 * Shared pieces of the search measurements (`search_compare.ts`,
 * `search_kills.ts`, `search_replay.ts`): run `deno task exp` as a user does, with `--json`
 * events collected and its human lines kept in a log, find the worker
 * process under it, and describe the machine.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The checkout. */
export const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

/** One JSON event of `deno task exp --json`. */
export type Event = Record<string, any>;

/** A running `deno task exp`: its events so far, its log, its end. */
export interface Running {
  child: Deno.ChildProcess;
  events: Event[];
  done: Promise<{ code: number; seconds: number }>;
}

/** Starts `deno task exp ARGS --json` from the checkout; stderr is appended to `log`. */
export function startExp(args: string[], log: string): Running {
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "exp", ...args, "--json"],
    cwd: ROOT,
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const events: Event[] = [];
  const out = (async () => {
    let rest = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      const lines = rest.split("\n");
      rest = lines.pop()!;
      for (const l of lines) {
        try {
          events.push(JSON.parse(l));
        } catch {
          // a line cut by a kill
        }
      }
    }
  })();
  const err = (async () => {
    const f = await Deno.open(log, { append: true, create: true, write: true });
    try {
      for await (const chunk of child.stderr) await f.write(chunk);
    } finally {
      f.close();
    }
  })();
  const done = (async () => {
    const { code } = await child.status;
    await Promise.all([out, err]);
    return { code, seconds: (performance.now() - t0) / 1000 };
  })();
  return { child, events, done };
}

/** The pids of a process's descendants, in tree order. */
async function descendants(pid: number): Promise<number[]> {
  const out: number[] = [];
  const kids = await Deno.readTextFile(`/proc/${pid}/task/${pid}/children`).catch(() => "");
  for (const k of kids.trim().split(/\s+/).filter(Boolean).map(Number)) {
    out.push(k, ...(await descendants(k)));
  }
  return out;
}

/** The worker under `deno task exp`: the deepest process running tasks/exp.ts (the second one). */
export async function workerPid(taskPid: number): Promise<number | null> {
  const all = [taskPid, ...(await descendants(taskPid))].reverse();
  for (const p of all) {
    const cmd = await Deno.readTextFile(`/proc/${p}/cmdline`).catch(() => "");
    if (cmd.includes("tasks/exp.ts")) return p;
  }
  return null;
}

/** What ran the measurement: CPU, cores, memory, load, Deno, commit, time. */
export async function machine(): Promise<Record<string, unknown>> {
  const cpu = /^model name\s*:\s*(.*)$/m.exec(await Deno.readTextFile("/proc/cpuinfo"))?.[1];
  const mem = /^MemTotal:\s+(\d+)/m.exec(await Deno.readTextFile("/proc/meminfo"))?.[1];
  const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  const git = await new Deno.Command("git", { args: ["rev-parse", "--short", "HEAD"], cwd: ROOT })
    .output().then((o) => new TextDecoder().decode(o.stdout).trim()).catch(() => "unknown");
  return {
    cpu,
    cores: navigator.hardwareConcurrency,
    memory_gib: mem ? Math.round(Number(mem) / 1048576) : null,
    load_average: load,
    deno: Deno.version.deno,
    commit: git,
    time: new Date().toISOString(),
  };
}

/** Writes `text` to `file` (the folder made). */
export async function save(file: string, text: string): Promise<void> {
  await Deno.mkdir(join(file, ".."), { recursive: true });
  await Deno.writeTextFile(file, text);
}

/** `1 h 02 min`, `12 min 30 s`. */
export function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.round((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** A copy of an experiment file with its `search:` section changed (same name, so the same trials). */
export async function variant(
  file: string,
  out: string,
  search: Record<string, unknown>,
): Promise<string> {
  const { parse, stringify } = await import("yaml");
  const doc = parse(await Deno.readTextFile(file)) as Record<string, any>;
  doc.name ??= file.replace(/^.*\//, "").replace(/\.ya?ml$/, "");
  doc.search = { ...doc.search, ...search };
  await save(out, stringify(doc));
  return out;
}
