/**
 * `deno task report runs/<experiment> [--out DIR]`: prints report.md and writes
 * report.md, report.csv, report.tex, report.html and the figures (into the
 * experiment folder unless `--out` says otherwise).
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
import { buildReport, writeReport } from "../src/report/report.ts";
import { delegate } from "./_launch.ts";

/** The command line of `deno task report`. */
export const REPORT: CommandSpec = {
  name: "report",
  summary: "Summarise an experiment's runs (seeds grouped: mean and sd) and print report.md. " +
    "Writes report.md, report.csv, report.tex (a booktabs table), report.html (one " +
    "self-contained page that works offline: tables and interactive figures), and the " +
    "figures accuracy, loss, lr, tradeoff, firing and spike_times as <name>.svg with their " +
    "Vega-Lite spec <name>.vl.json. For a search, also its best trial's settings (best.yaml, " +
    "ready to run), trials.csv and the figures search_curves, search_params and search_parallel.",
  usage: "runs/<experiment> [--out DIR]",
  positionals: [{ name: "runs/<experiment>", help: "the folder holding the experiment's runs" }],
  options: [
    {
      name: "out",
      type: "string",
      value: "DIR",
      help: "write the report files to DIR (default: the experiment folder)",
    },
  ],
  examples: [
    "deno task report runs/grid-example",
    "deno task report runs/grid-example --out paper/figures",
    "deno task report runs/search-example",
  ],
};

async function main(args: ParsedArgs): Promise<number> {
  if (args.positionals.length !== 1) {
    throw new UsageError(
      `expected one experiment folder, got ${args.positionals.length} ` +
        `(${args.positionals.map((p) => `'${p}'`).join(", ") || "none"})`,
    );
  }
  const expDir = args.positionals[0];
  const out = args.string("out") ?? expDir;
  requirePermissions("report", [{ name: "read", path: expDir }]);
  const child = await delegate("report", [out]);
  if (child !== null) return child;
  const report = await buildReport(expDir);
  const written = await writeReport(report, out);
  console.log(report.markdown);
  console.error(`Wrote ${written.join(", ")}`);
  return 0;
}

if (import.meta.main) await runTask(REPORT, main);
