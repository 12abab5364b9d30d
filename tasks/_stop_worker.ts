/**
 * The stop watchdog of `deno task exp` (see `_signals.ts`). It runs on its own
 * thread, so it hears SIGTERM and SIGINT even while the main thread is held
 * inside a long synchronous call (a GPU driver compiling kernels, a large
 * decompression). While the runner is starting a point (nothing trained since
 * its last checkpoint), a signal that the main thread has not answered within
 * the grace period ends the process at once: the run folder's lock is
 * released, a Slurm task is requeued, and the exit status is 128 + signal.
 * While the runner trains, the main thread owns the signal (it checkpoints at
 * the next chunk boundary); a second Ctrl-C always exits at once. SIGINTs
 * within `samePressMs` of a counted one are copies of that key press (the
 * terminal's, `deno task`'s and the first process's), not a second Ctrl-C.
 * Before it ends the process it writes the runner's `grid_finished` event on
 * stdout, when the runner gave one (`--json`).
 *
 * Shared state (Int32Array over a SharedArrayBuffer): [0] phase (0 starting,
 * 1 training).
 *
 * @module
 */

import { requeueSelf, slurmContext } from "../src/cluster/slurm.ts";

interface Init {
  flags: SharedArrayBuffer;
  graceMs: number;
  samePressMs: number;
}

let flags: Int32Array | null = null;
let grace = 1000;
let samePress = 700;
let lockPath: string | null = null;
let finalEvent: Record<string, unknown> | null = null;
let presses = 0;
let lastPress = -Infinity;

/** Writes the runner's final `--json` event with how the process ends. */
function writeFinalEvent(code: number): void {
  if (!finalEvent) return;
  const line = JSON.stringify({
    event: "grid_finished",
    time: new Date().toISOString(),
    ...finalEvent,
    exit_code: code,
    interrupted: code === 130 ? "SIGINT" : "SIGTERM",
    forced: true,
  });
  try {
    Deno.stdout.writeSync(new TextEncoder().encode(line + "\n"));
  } catch {
    // stdout closed: nothing to tell
  }
}

function hardExit(code: number): never {
  try {
    const libc = Deno.dlopen("libc.so.6", { _exit: { parameters: ["i32"], result: "void" } });
    libc.symbols._exit(code);
  } catch {
    // No FFI (permission or platform): a signal nobody handles ends the process.
  }
  Deno.kill(Deno.pid, "SIGKILL");
  throw new Error("unreachable");
}

/** Removes the run folder's lock if this process holds it. */
function releaseLock(): void {
  if (!lockPath) return;
  try {
    const held = JSON.parse(Deno.readTextFileSync(lockPath));
    if (held.pid === Deno.pid && held.host === Deno.hostname()) Deno.removeSync(lockPath);
  } catch {
    // no lock, or not ours
  }
}

async function emergency(code: number, why: string): Promise<never> {
  console.error(`${why}: the runner is busy starting up (nothing to save); exiting now`);
  releaseLock();
  const ctx = slurmContext(Deno.env);
  if (code === 143 && ctx && Deno.env.get("FIRSTSPIKE_REQUEUE") !== "0") {
    await requeueSelf(ctx).catch((e) => console.error(`requeue failed: ${e.message}`));
  }
  writeFinalEvent(code);
  return hardExit(code);
}

function onSignal(sig: "SIGTERM" | "SIGINT"): void {
  const code = sig === "SIGINT" ? 130 : 143;
  if (sig === "SIGINT") {
    const now = performance.now();
    if (now - lastPress < samePress) return; // a copy of the press just counted
    lastPress = now;
    if (++presses >= 2) {
      console.error("Ctrl-C again: exiting at once");
      releaseLock();
      writeFinalEvent(130);
      hardExit(130);
    }
  }
  setTimeout(() => {
    // Training: the main thread checkpoints at its next chunk boundary. Starting: nothing
    // trained since the last checkpoint, so a runner not gone by now is ended here.
    if (flags && Atomics.load(flags, 0) !== 1) void emergency(code, sig);
  }, grace);
}

/** This module runs as a worker: its global scope receives and posts messages. */
const scope = self as unknown as {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
};

scope.onmessage = (e: MessageEvent) => {
  const m = e.data as Partial<Init> & {
    lock?: string | null;
    finalEvent?: Record<string, unknown> | null;
  };
  if (m.flags) {
    flags = new Int32Array(m.flags);
    grace = m.graceMs ?? grace;
    samePress = m.samePressMs ?? samePress;
    Deno.addSignalListener("SIGTERM", () => onSignal("SIGTERM"));
    Deno.addSignalListener("SIGINT", () => onSignal("SIGINT"));
    scope.postMessage("ready");
  }
  if ("lock" in m) lockPath = m.lock ?? null;
  if ("finalEvent" in m) finalEvent = m.finalEvent ?? null;
};
