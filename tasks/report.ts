/**
 * `deno task report runs/<experiment> [--out DIR]`: prints the markdown report and
 * writes report.md, report.csv, report.tex, report.html and the figures (SVG with
 * their Vega-Lite specs) into the experiment folder, or `--out`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { buildReport, writeReport } from "../src/report/report.ts";

const USAGE = `usage: deno task report runs/<experiment> [--out DIR]

Reads every run folder of an experiment and writes, into the experiment folder
(or DIR):
  report.md     runs and configurations (seeds grouped: mean and sd), failures
  report.csv    one row per run
  report.tex    the configurations as a LaTeX booktabs table (mean ± sd)
  report.html   one self-contained page (works offline): tables and interactive figures
  accuracy, loss, lr, tradeoff, firing, spike_times: <name>.svg and its
                Vega-Lite spec <name>.vl.json
It prints report.md.

example:
  deno task report runs/grid-example --out paper/figures`;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { out: { type: "string" }, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
    });
  } catch (e) {
    console.error(`${e instanceof Error ? e.message : e}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  if (parsed.positionals.length !== 1) {
    console.error(
      `Expected one experiment folder, got ${parsed.positionals.length} ` +
        `(${parsed.positionals.map((p) => `'${p}'`).join(", ") || "none"})\n\n${USAGE}`,
    );
    return 2;
  }
  const expDir = parsed.positionals[0];
  const report = await buildReport(expDir);
  const written = await writeReport(report, parsed.values.out ?? expDir);
  console.log(report.markdown);
  console.error(`Wrote ${written.join(", ")}`);
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
