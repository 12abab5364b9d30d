/**
 * `deno task board [runs/] [--port N] [--host H]`: serves a live board of the
 * runs folder on http://127.0.0.1:8080/ (this machine only, unless `--host`
 * says otherwise): experiments, their points and states, and the curves of
 * chosen points, updated while they train. Read-only. Stop it with Ctrl-C.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { serveBoard } from "../src/report/board.ts";

const USAGE = `usage: deno task board [RUNS_DIR] [--port N] [--host H] [--scan-ms N]

Serves a read-only live board of a runs folder (default 'runs'): every experiment
with its points and their state (running, done, failed, stopped, pending), and
the accuracy, loss and spike curves of the points you tick, updated as their
metrics.jsonl grows.

  RUNS_DIR      the runs folder, or one experiment folder (default: runs)
  --port N      port to listen on (default 8080; 0 picks a free one)
  --host H      interface to listen on (default 127.0.0.1: this machine only;
                0.0.0.0 makes the board reachable from other machines)
  --scan-ms N   how often to look at file sizes and times, for file systems
                without change events such as NFS (default 2000)
  -h, --help    this text

example:
  deno task board runs/ --port 8090
  ssh -L 8090:127.0.0.1:8090 login-node   # then open http://127.0.0.1:8090/ here`;

function nonNegativeInt(name: string, v: string | undefined, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > max) {
    throw new Error(`--${name}: expected an integer from 0 to ${max}, got '${v}'`);
  }
  return n;
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  let port: number | undefined, scanMs: number | undefined;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        port: { type: "string" },
        host: { type: "string" },
        "scan-ms": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
    });
    port = nonNegativeInt("port", parsed.values.port, 65535);
    scanMs = nonNegativeInt("scan-ms", parsed.values["scan-ms"], 3_600_000);
    if (scanMs === 0) throw new Error("--scan-ms: expected a positive integer, got '0'");
  } catch (e) {
    console.error(`${e instanceof Error ? e.message : e}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  if (parsed.positionals.length > 1) {
    console.error(
      `Expected at most one runs folder, got ${parsed.positionals.length} ` +
        `(${parsed.positionals.map((p) => `'${p}'`).join(", ")})\n\n${USAGE}`,
    );
    return 2;
  }
  const root = parsed.positionals[0] ?? "runs";
  const served = await serveBoard({
    root,
    port: port ?? 8080,
    hostname: parsed.values.host ?? "127.0.0.1",
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

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    Deno.exit(1);
  }
}
