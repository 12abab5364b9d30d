/**
 * Stopping `deno task exp` on SIGTERM (Slurm's warning before a time limit,
 * `kill`) and SIGINT (Ctrl-C). The first signal aborts the run: while it
 * trains, a checkpoint is written at the next chunk boundary and the task
 * exits 143 (SIGTERM) or 130 (Ctrl-C); while it starts a point (loading
 * data, compiling kernels), it exits within about a second, since nothing has
 * been trained since the last checkpoint. A second Ctrl-C exits at once.
 * A watchdog thread (`_stop_worker.ts`) makes this hold even while the main
 * thread is held in a long synchronous call.
 *
 * One Ctrl-C is one: a terminal sends SIGINT to its whole foreground process
 * group, and `deno task` (and the task's first process, `_launch.ts`) pass on
 * the copy they got, so one key press arrives two or three times within
 * milliseconds. Copies within {@link SAME_PRESS_MS} of a press count as that
 * press; only a later Ctrl-C exits at once. A forced exit (that second
 * Ctrl-C, or a signal while starting) still ends `--json` output with a
 * `grid_finished` event.
 *
 * @module
 */

/**
 * SIGINTs this close to a counted one are copies of the same key press (the
 * terminal's and those `deno task` and the first process pass on), not a
 * second Ctrl-C.
 */
export const SAME_PRESS_MS = 700;

/** What the runner tells the watchdog. */
export interface StopHandle {
  /** Aborted by the first signal. */
  signal: AbortSignal;
  /** Which signal stopped the run: 143 for SIGTERM, 130 for SIGINT; 0 before any. */
  exitCode(): number;
  /** The runner is starting the point in `dir` (its lock is `dir/lock`), or training it. */
  phase(phase: "starting" | "training", dir?: string): void;
  /**
   * The fields of the `grid_finished` event the watchdog writes on stdout if it
   * ends the process itself (with `--json`); null (the default) writes none.
   */
  finalEvent(fields: Record<string, unknown> | null): void;
  /** Removes the listeners and ends the watchdog. */
  dispose(): void;
}

/** Installs the listeners and starts the watchdog; `log` receives one line per signal. */
export async function installStop(
  log: (line: string) => void,
  graceMs = 1000,
): Promise<StopHandle> {
  const controller = new AbortController();
  const shared = new SharedArrayBuffer(8);
  const flags = new Int32Array(shared);
  let code = 0;
  const onTerm = () => {
    if (code) return;
    code = 143;
    log("SIGTERM: writing a checkpoint at the next chunk boundary");
    controller.abort();
  };
  // A second Ctrl-C is the watchdog's to count (it tells copies of one press apart).
  const onInt = () => {
    if (code) return;
    code = 130;
    log("Ctrl-C: writing a checkpoint at the next chunk boundary (Ctrl-C again exits at once)");
    controller.abort();
  };
  Deno.addSignalListener("SIGTERM", onTerm);
  Deno.addSignalListener("SIGINT", onInt);
  const worker = new Worker(new URL("./_stop_worker.ts", import.meta.url).href, {
    type: "module",
  });
  await new Promise<void>((resolve, reject) => {
    worker.onmessage = () => resolve();
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(`Cannot start the stop watchdog: ${e.message}`));
    };
    worker.postMessage({ flags: shared, graceMs, samePressMs: SAME_PRESS_MS });
  });
  return {
    signal: controller.signal,
    exitCode: () => code,
    phase(phase, dir) {
      Atomics.store(flags, 0, phase === "training" ? 1 : 0);
      if (dir !== undefined) worker.postMessage({ lock: `${dir}/lock` });
    },
    finalEvent(fields) {
      worker.postMessage({ finalEvent: fields });
    },
    dispose() {
      Deno.removeSignalListener("SIGTERM", onTerm);
      Deno.removeSignalListener("SIGINT", onInt);
      worker.terminate();
    },
  };
}
