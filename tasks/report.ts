/**
 * `deno task report runs/<experiment> [--out DIR]`: prints report.md and writes
 * report.md, report.csv, report.tex, report.html and the figures (into the
 * experiment folder unless `--out` says otherwise). Given a runs folder that
 * holds experiments (`runs/`, what the board takes), it reports each of them
 * into its own folder (or `DIR/<experiment>`) and prints an index.
 *
 * @module
 */

import { join } from "node:path";
import {
  type CommandSpec,
  type ParsedArgs,
  requirePermissions,
  runTask,
  UsageError,
} from "./_args.ts";
import { experimentFolders, runFolders } from "../src/report/load.ts";
import { buildReport, reportIndex, writeReport } from "../src/report/report.ts";
import { delegate } from "./_launch.ts";

/** The command line of `deno task report`. */
export const REPORT: CommandSpec = {
  name: "report",
  summary: "Summarise an experiment's runs (seeds grouped: mean and sd) and print report.md. " +
    "Writes report.md, report.csv, report.tex (a booktabs table), report.html (one " +
    "self-contained page that works offline: tables and interactive figures), and the " +
    "figures accuracy, loss, lr, tradeoff, firing and spike_times as <name>.svg (sized for " +
    "a page) and <name>-column.svg (sized for a column), each with the Vega-Lite spec it " +
    "was drawn from (.vl.json). For a search, also its best trial's settings (best.yaml, " +
    "ready to run), trials.csv and the figures search_curves, search_params and " +
    "search_parallel. Given a runs folder holding experiments (runs/), reports each of them.",
  usage: "runs/<experiment> [--out DIR]   or   runs/ [--out DIR]",
  positionals: [{
    name: "runs/<experiment>",
    help: "the folder holding the experiment's runs, or a runs folder holding experiments",
  }],
  options: [
    {
      name: "out",
      type: "string",
      value: "DIR",
      help: "write the report files to DIR (default: the experiment folder; for a runs " +
        "folder, DIR/<experiment>)",
    },
  ],
  examples: [
    "deno task report runs/grid-example",
    "deno task report runs/grid-example --out paper/figures",
    "deno task report runs/                     # every experiment in runs/",
    "deno task report runs/search-example",
  ],
};

/** What the folder given to the task is. */
async function folderKind(dir: string): Promise<"experiment" | "runs"> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(
        `expected an experiment folder (like runs/<experiment>) or a runs folder holding ` +
          `experiments (like runs/), got '${dir}', which does not exist`,
      );
    }
    throw e;
  }
  if (!info.isDirectory) {
    throw new UsageError(
      `expected an experiment folder (like runs/<experiment>), got the file '${dir}'`,
    );
  }
  if ((await runFolders(dir)).length > 0) return "experiment";
  if ((await experimentFolders(dir)).length > 0) return "runs";
  throw new UsageError(
    `expected an experiment folder holding run folders (runs/<experiment>/<run>/run.yaml) or a ` +
      `runs folder holding experiments (runs/<experiment>/), got '${dir}', which holds neither`,
  );
}

async function main(args: ParsedArgs): Promise<number> {
  if (args.positionals.length !== 1) {
    throw new UsageError(
      `expected one experiment folder, got ${args.positionals.length} ` +
        `(${args.positionals.map((p) => `'${p}'`).join(", ") || "none"})`,
    );
  }
  const dir = args.positionals[0];
  const outArg = args.string("out");
  requirePermissions("report", [{ name: "read", path: dir }]);
  const child = await delegate("report", [outArg ?? dir]);
  if (child !== null) return child;
  // What the folder is decides what is written; a wrong one is a usage error before any work.
  if (await folderKind(dir) === "experiment") {
    const report = await buildReport(dir);
    const written = await writeReport(report, outArg ?? dir);
    console.log(report.markdown);
    console.error(`Wrote ${written.join(", ")}`);
    return 0;
  }
  // A runs folder: one report per experiment, each in its own folder.
  const reports = [];
  for (const name of await experimentFolders(dir)) {
    const report = await buildReport(join(dir, name));
    const out = join(outArg ?? dir, name);
    const written = await writeReport(report, out);
    console.error(`${name}: wrote ${written.length} files into ${out}`);
    reports.push({ report, out });
  }
  console.log(reportIndex(dir, reports));
  return 0;
}

if (import.meta.main) await runTask(REPORT, main);
