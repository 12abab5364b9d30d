/**
 * Tasks run the way users run them: `deno task <name>` with exactly the
 * permissions of deno.json (never `-A`), from the user's own folder outside
 * the checkout (`deno task --config <checkout>/deno.json ...`) or inside it,
 * with the output going into a pipe or onto a pseudo-terminal (`script`
 * from util-linux), and a clean environment (no `INIT_CWD` from an outer
 * `deno task`).
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { writeFakeFmnist } from "./_data.ts";

/** The checkout's root folder. */
export const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

/** How a task is started. */
export interface TaskOptions {
  /** The working folder; default a new temporary folder outside the checkout. */
  cwd?: string;
  /** Run `deno task NAME` in the checkout (as the README shows) instead of `--config`. */
  inside?: boolean;
  /** Output onto a pseudo-terminal (stdout and stderr then arrive together in `stdout`). */
  tty?: boolean;
  /** Extra environment variables. */
  env?: Record<string, string>;
}

/** What a task did. */
export interface TaskResult {
  code: number;
  /** Standard output (on a terminal: everything the terminal showed, `\r\n` as `\n`). */
  stdout: string;
  /** Standard error (empty on a terminal). */
  stderr: string;
}

/** Single-quotes a word for the shell. */
function sq(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * The command that starts `deno task NAME ARGS` as a user does (see
 * {@link TaskOptions}); its standard output and error are piped.
 */
export function taskCommand(name: string, args: readonly string[], o: TaskOptions): Deno.Command {
  const deno = Deno.execPath();
  const words = o.inside
    ? [deno, "task", name, ...args]
    : [deno, "task", "--config", join(ROOT, "deno.json"), name, ...args];
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/root",
    XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp",
    NO_COLOR: "1",
    ...(Deno.env.get("MESA_SHADER_CACHE_DISABLE")
      ? { MESA_SHADER_CACHE_DISABLE: Deno.env.get("MESA_SHADER_CACHE_DISABLE")! }
      : {}),
    ...o.env,
  };
  const cwd = o.inside ? (o.cwd ?? ROOT) : o.cwd!;
  if (o.tty) {
    // A real pseudo-terminal: the task's stdout and stderr are a terminal, and a Ctrl-C
    // written to it reaches the foreground process group, as a terminal's would.
    return new Deno.Command("script", {
      args: ["-qefc", words.map(sq).join(" "), "/dev/null"],
      cwd,
      env: { TERM: "xterm", COLUMNS: "120", LINES: "40", ...env },
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    });
  }
  return new Deno.Command(words[0], {
    args: words.slice(1),
    cwd,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** A task that runs while the test watches its output and sends it signals. */
export class RunningTask {
  readonly #child: Deno.ChildProcess;
  readonly #tty: boolean;
  #out = "";
  #err = "";
  readonly #done: Promise<TaskResult>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array> | null;

  constructor(child: Deno.ChildProcess, tty: boolean) {
    this.#child = child;
    this.#tty = tty;
    this.#writer = tty ? child.stdin.getWriter() : null;
    const dec = new TextDecoder();
    const read = async (s: ReadableStream<Uint8Array>, to: "out" | "err") => {
      for await (const chunk of s) {
        const t = dec.decode(chunk, { stream: true }).replaceAll("\r\n", "\n");
        if (to === "out") this.#out += t;
        else this.#err += t;
      }
    };
    const reading = Promise.all([read(child.stdout, "out"), read(child.stderr, "err")]);
    const writer = this.#writer;
    this.#done = (async () => {
      const status = await child.status;
      await reading;
      await writer?.close().catch(() => {});
      return { code: status.code, stdout: this.#out, stderr: this.#err };
    })();
  }

  /** Everything written so far (stdout, then stderr). */
  get output(): string {
    return this.#out + this.#err;
  }

  /** The `deno task` process (or `script`'s on a terminal). */
  get pid(): number {
    return this.#child.pid;
  }

  /** Waits until the output matches `re`; throws with the output after `timeoutMs`. */
  async waitFor(re: RegExp, timeoutMs = 120_000): Promise<RegExpMatchArray> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const m = this.output.match(re);
      if (m) return m;
      if (Date.now() > end) {
        throw new Error(`timed out waiting for ${re}; output so far:\n${this.output}`);
      }
      const settled = await Promise.race([
        this.#done.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 50)),
      ]);
      if (settled && !this.output.match(re)) {
        throw new Error(`the task ended without printing ${re}; output:\n${this.output}`);
      }
    }
  }

  /** A Ctrl-C typed on the terminal (only with `tty`): SIGINT to the foreground process group. */
  async ctrlC(): Promise<void> {
    if (!this.#tty || !this.#writer) throw new Error("ctrlC needs a task started with tty: true");
    await this.#writer.write(new Uint8Array([3]));
  }

  /** Sends a signal to the `deno task` process (as `kill` from another shell would). */
  kill(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  /** The result, once the task has ended. */
  finished(): Promise<TaskResult> {
    return this.#done;
  }
}

/** Starts `deno task NAME ARGS` as a user does (see {@link TaskOptions}). */
export function startTask(
  name: string,
  args: readonly string[],
  o: TaskOptions & { cwd: string } | TaskOptions & { inside: true },
): RunningTask {
  return new RunningTask(taskCommand(name, args, o).spawn(), !!o.tty);
}

/** Runs `deno task NAME ARGS` to the end, as a user does. */
export function runTask(
  name: string,
  args: readonly string[],
  o: TaskOptions & { cwd: string } | TaskOptions & { inside: true },
): Promise<TaskResult> {
  return startTask(name, args, o).finished();
}

/**
 * A user's folder outside the checkout, with a small Fashion-MNIST-format
 * dataset in `data/` and `tiny.yaml`: a small network on it that trains in a
 * second or two per epoch on a CPU driver. Removed after `fn`.
 */
export async function withUserFolder<T>(
  fn: (dir: string) => Promise<T>,
  experiment: Record<string, unknown> = {},
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "firstspike_user_" });
  try {
    await writeFakeFmnist(join(dir, "data"), 320, 96);
    await Deno.writeTextFile(join(dir, "tiny.yaml"), tinyExperiment(experiment));
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The text of `tiny.yaml` (see {@link withUserFolder}), with `extra` settings added or replaced. */
export function tinyExperiment(extra: Record<string, unknown> = {}): string {
  const settings: Record<string, unknown> = {
    dataset: "fmnist",
    data_dir: "data",
    arch: "P2-8C3-P2",
    batch_size: 32,
    epochs: 2,
    lr: 0.003,
    seed: 0,
    ...extra,
  };
  return Object.entries(settings).map(([k, v]) => `${k}: ${JSON.stringify(v)}\n`).join("");
}
