/**
 * `deno task board [runs/] [--port N] [--host H]`: serves a live board of the
 * runs folder on http://127.0.0.1:8080/ (this machine only, unless `--host`
 * says otherwise): experiments side by side, their points with states,
 * reasons, results and settings, and the curves of chosen points, updated
 * while they train. Read-only. Stop it with Ctrl-C.
 *
 * @module
 */

import {
  type CommandSpec,
  type ParsedArgs,
  requirePermissions,
  runTask,
  UsageError,
} from "./_args.ts";
import { serveBoard } from "../src/report/board.ts";

/** The command line of `deno task board`. */
export const BOARD: CommandSpec = {
  name: "board",
  summary: "Serve a read-only live board of a runs folder: its experiments side by side, one " +
    "table of their points (state and why: the error, what stopped it, since when it runs; " +
    "results; the settings that differ as columns, each sortable and filterable) and the " +
    "accuracy, loss and spike curves of the points you tick against epoch, step or training " +
    "time, raw or smoothed, updated as their metrics.jsonl grows.",
  usage: "[RUNS_DIR] [options]",
  positionals: [{
    name: "RUNS_DIR",
    help: "the runs folder, or one experiment folder (default runs)",
  }],
  options: [
    {
      name: "port",
      type: "string",
      value: "N",
      help: "port to listen on (default 8080; 0 picks a free one)",
    },
    {
      name: "host",
      type: "string",
      value: "H",
      help: "interface to listen on (default 127.0.0.1, this machine only)",
    },
    {
      name: "scan-ms",
      type: "string",
      value: "N",
      help: "how often to look at file sizes and times, for NFS (default 2000)",
    },
  ],
  examples: [
    "deno task board runs/ --port 8090",
    "ssh -L 8090:127.0.0.1:8090 login-node   # then open http://127.0.0.1:8090/",
  ],
};

function intIn(args: ParsedArgs, name: string, lo: number, max: number): number | undefined {
  const v = args.string(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < lo || n > max) {
    throw new UsageError(
      lo === 0
        ? `--${name}: expected an integer from 0 to ${max}, got '${v}'`
        : `--${name}: expected a positive integer up to ${max}, got '${v}'`,
    );
  }
  return n;
}

async function main(args: ParsedArgs): Promise<number> {
  const port = intIn(args, "port", 0, 65535);
  const scanMs = intIn(args, "scan-ms", 1, 3_600_000);
  if (args.positionals.length > 1) {
    throw new UsageError(
      `expected at most one runs folder, got ${args.positionals.length} ` +
        `(${args.positionals.map((p) => `'${p}'`).join(", ")})`,
    );
  }
  const root = args.positionals[0] ?? "runs";
  const hostname = args.string("host") ?? "127.0.0.1";
  // An IPv6 address is bracketed before its port (`[::1]:8080`), as Deno's net permission reads it.
  const bare = hostname.replace(/^\[(.*)\]$/, "$1");
  const address = bare.includes(":") ? `[${bare}]` : bare;
  requirePermissions("board", [{ name: "read", path: root }, {
    name: "net",
    host: `${address}:${port ?? 8080}`,
  }]);
  const served = await serveBoard({
    root,
    port: port ?? 8080,
    hostname: bare,
    scanMs,
    onListen: (url) => console.log(`board: ${url} (runs folder '${root}'; Ctrl-C stops it)`),
  });
  const stop = () => {
    served.close().then(() => Deno.exit(0));
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await served.server.finished;
  return 0;
}

if (import.meta.main) await runTask(BOARD, main);
