/**
 * `deno task report runs/<experiment> [--out DIR]`: prints the runs table and writes
 * report.md, report.csv, accuracy.svg, firing.svg and spike_times.svg (into the
 * experiment folder unless `--out` says otherwise).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { buildReport, writeReport } from "../src/report/report.ts";

const USAGE = "usage: deno task report runs/<experiment> [--out DIR]";

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { out: { type: "string" }, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
    });
  } catch (e) {
    console.error(`${e instanceof Error ? e.message : e}\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  if (parsed.positionals.length !== 1) {
    console.error(
      `Expected one experiment folder, got ${parsed.positionals.length} ` +
        `(${parsed.positionals.map((p) => `'${p}'`).join(", ") || "none"})\n${USAGE}`,
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
