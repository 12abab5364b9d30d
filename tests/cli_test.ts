// The command line of every task in deno.json, run as `deno task <name>`
// subprocesses (with the permissions deno.json gives): --help lists every
// option on one line with examples, an unknown flag says "did you mean",
// usage errors exit 2, a missing permission is a clear usage error. None of
// these reach the GPU: arguments are checked before any engine is made.
// Also: the package `deno publish` would upload holds only the library.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { CommandSpec } from "../tasks/_args.ts";
import { EXP } from "../tasks/exp.ts";
import { BENCH } from "../tasks/bench.ts";
import { REPORT } from "../tasks/report.ts";
import { EVAL } from "../tasks/eval.ts";
import { DEMO } from "../tasks/demo.ts";
import { SCHEMA } from "../tasks/schema.ts";
import { BOARD } from "../tasks/board.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SPECS: Record<string, CommandSpec> = {
  exp: EXP,
  bench: BENCH,
  report: REPORT,
  eval: EVAL,
  demo: DEMO,
  schema: SCHEMA,
  board: BOARD,
};

async function task(name: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", name, ...args],
    cwd: ROOT,
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function denoTasks(): Promise<Record<string, string>> {
  return JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`)).tasks;
}

Deno.test("every task in deno.json but test has a command spec, and asks for permissions, not -A", async () => {
  const tasks = await denoTasks();
  const names = Object.keys(tasks).filter((t) => t !== "test").sort();
  assert.deepEqual(names, Object.keys(SPECS).sort());
  for (const n of names) {
    assert.match(tasks[n], new RegExp(`^deno run .* tasks/${n}\\.ts$`), n);
    assert.doesNotMatch(tasks[n], /(^| )(-A|--allow-all)( |$)/, `${n} should not have -A`);
    // Network only where a dataset may be downloaded, and only to the dataset hosts; the board
    // listens where --host says (any interface), so its grant cannot name the host in advance.
    const net = /--allow-net(=(\S+))?/.exec(tasks[n]);
    if (net) {
      assert.ok(["exp", "eval", "board"].includes(n), `${n} should not need the network`);
      if (n !== "board") assert.ok(net[2], `${n}: --allow-net must name the hosts`);
    }
  }
});

for (const [name, spec] of Object.entries(SPECS)) {
  Deno.test(`deno task ${name} --help: usage, every option on one line, examples; exit 0`, async () => {
    const r = await task(name, ["--help"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split("\n");
    assert.equal(lines[0], `Usage: deno task ${name} ${spec.usage}`);
    for (const o of [...spec.options, { name: "help", help: "print this help" }]) {
      const line = lines.find((l) => new RegExp(`^  (-\\w, )?--${o.name}\\b`).test(l));
      assert.ok(line, `--${o.name} is listed`);
      assert.ok(line.includes(o.help), `--${o.name}'s line says what it does: ${line}`);
    }
    const ex = lines.indexOf(spec.examples.length > 1 ? "Examples:" : "Example:");
    assert.ok(ex > 0, "an examples section");
    assert.ok(lines[ex + 1].startsWith(`  deno task ${name}`), lines[ex + 1]);
    assert.ok(r.stdout.includes("Exit status: 0 success, 1 failure, 2 usage error"));
    assert.ok(lines.every((l) => l.length <= 120), "no overlong lines");
  });
}

/** One misspelt flag per task and the option it is close to. */
const TYPOS: Record<string, [string, string]> = {
  exp: ["--max-epoch", "--max-epochs"],
  bench: ["--quik", "--quick"],
  report: ["--outt", "--out"],
  eval: ["--splt", "--split"],
  demo: ["--step", "--steps"],
  schema: ["--chek", "--check"],
  board: ["--prot", "--port"],
};

for (const [name, [typo, meant]] of Object.entries(TYPOS)) {
  Deno.test(`deno task ${name} ${typo}: "did you mean ${meant}?", exit 2`, async () => {
    const r = await task(name, [typo, "1"]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr,
      `deno task ${name}: unknown option ${typo} (did you mean ${meant}?)\n` +
        `Run 'deno task ${name} --help' for usage.\n`,
    );
    const far = await task(name, ["--zzzzzz"]);
    assert.equal(far.code, 2);
    assert.match(far.stderr, /^deno task \w+: unknown option --zzzzzz\n/);
  });
}

Deno.test("usage errors of every task exit 2 with what was expected and what came", async () => {
  const cases: [string, string[], RegExp][] = [
    ["exp", [], /expected one experiment file \(and key=value settings\), got no file/],
    ["exp", ["a.yaml", "b.yaml"], /got 'a\.yaml', 'b\.yaml'/],
    [
      "exp",
      ["experiments/quickstart.yaml", "--max-epochs", "0"],
      /--max-epochs: expected a positive integer, got '0'/,
    ],
    [
      "exp",
      ["experiments/quickstart.yaml", "--output"],
      /--output expects a value \(--output DIR\), got none/,
    ],
    ["exp", ["experiments/quickstart.yaml", "--force=yes"], /--force takes no value, got 'yes'/],
    [
      "exp",
      ["experiments/quickstart.yaml", "--lr", "3e-4"],
      /unknown option --lr \(settings are given as lr=VALUE, without dashes\)/,
    ],
    ["exp", ["experiments/quickstart.yaml", "--gpu", "x"], /--gpu: expected an index/],
    [
      "exp",
      ["experiments/quickstart.yaml", "--only", "nope", "--dry-run"],
      /--only: expected one of the point ids \(default\), got 'nope'/,
    ],
    [
      "exp",
      ["experiments/grid-example.yaml", "--slurm", "--gpu", "1"],
      /a Slurm task uses the GPU Slurm gives it/,
    ],
    ["bench", ["--reps", "0"], /--reps: expected a positive integer, got '0'/],
    ["bench", ["--precision", "f64"], /--precision: expected one of f32, f16, got 'f64'/],
    ["bench", ["extra"], /expected no arguments, got 'extra'/],
    ["report", [], /expected one experiment folder, got 0 \(none\)/],
    ["eval", [], /expected one run folder or weights file, got 0 \(none\)/],
    [
      "eval",
      ["runs/x", "--split", "holdout"],
      /--split: expected one of test, val, train, got 'holdout'/,
    ],
    [
      "eval",
      ["runs/x", "--dataset", "imagenet"],
      /--dataset: expected one of mnist, fmnist, cifar10, cifar100, got 'imagenet'/,
    ],
    ["demo", ["--steps", "0"], /--steps: expected a positive integer, got '0'/],
    ["demo", ["--seed", "-1"], /--seed: expected an integer >= 0, got '-1'/],
    ["schema", ["extra"], /expected no arguments, got 'extra'/],
  ];
  for (const [name, args, want] of cases) {
    const r = await task(name, args);
    assert.equal(r.code, 2, `${name} ${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, want, `${name} ${args.join(" ")}`);
    assert.equal(r.stdout, "", `${name} ${args.join(" ")} prints nothing on stdout`);
  }
});

Deno.test("exp: bad overrides and bad files are usage errors that name the argument or line", async () => {
  const r = await task("exp", [
    "experiments/quickstart.yaml",
    "lr=abc",
    "learning_rate=1",
    "--dry-run",
  ]);
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr,
    "deno task exp: 2 problems in the command-line settings:\n" +
      `  argument 'lr=abc': lr: expected a positive number, got "abc"\n` +
      "  argument 'learning_rate=1': learning_rate: unknown key (did you mean 'lr'?)\n",
  );
  const tmp = await Deno.makeTempFile({ suffix: ".yaml" });
  try {
    await Deno.writeTextFile(tmp, "dataset: fmnist\narch: P2-32F\nlr: 0.1x\n");
    const f = await task("exp", [tmp, "--dry-run"]);
    assert.equal(f.code, 2);
    assert.equal(
      f.stderr,
      `deno task exp: ${tmp}:3:5: lr: expected a positive number, got "0.1x"\n`,
    );
  } finally {
    await Deno.remove(tmp);
  }
});

Deno.test("exp: overrides and sweeps make points with their own ids (--dry-run, --slurm-print)", async () => {
  const r = await task("exp", [
    "experiments/grid-example.yaml",
    "lr=3e-4",
    "seed=0,1,2",
    "--dry-run",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  const ids = lines.filter((l) => l.includes("\t")).map((l) => l.split("\t")[0]);
  assert.deepEqual(ids, ["lr3e-4_seed0", "lr3e-4_seed1", "lr3e-4_seed2"]);
  assert.match(r.stdout, /\n3 point\(s\)\n$/);
  // The settings every point shares (beyond the defaults; each adds its grid values), and
  // the grid's estimate or why there is none.
  assert.match(r.stdout, /\nsettings: dataset=fmnist arch=16C5-P2-32C5-P2-100F lr=3e-4 /);
  assert.match(r.stdout, /\nestimate: /);
  // Slurm's array tasks get the same arguments, so they rebuild the same points.
  const s = await task("exp", ["experiments/grid-example.yaml", "seed=5", "--slurm-print"]);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stdout, /^ids=\('lr1e-3_seed5' 'lr3e-4_seed5'\)$/m);
  // From any folder: the task names this checkout's deno.json.
  assert.ok(
    s.stdout.includes(
      `\nexec deno task --config '${ROOT.replace(/\/$/, "")}/deno.json' exp ` +
        `'experiments/grid-example.yaml' --only "$id" 'seed=5'\n`,
    ),
    s.stdout,
  );
});

Deno.test("a missing permission is a usage error naming it, before anything runs", async () => {
  // deno task grants what a run needs (see task_folders_test.ts); a process started with
  // fewer permissions, which may not run deno to get them, stops before anything runs.
  const out = "/firstspike-no-permission-here/runs";
  const direct = async (script: string, args: string[]) => {
    const o = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--allow-read", "--allow-env", script, ...args],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: o.code, stderr: new TextDecoder().decode(o.stderr) };
  };
  const r = await direct("tasks/exp.ts", ["experiments/quickstart.yaml", "--output", out]);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(
    r.stderr,
    `deno task exp: missing permission: this process may not run 'deno' to do the work with ` +
      `write access to '${out}/quickstart', '${Deno.env.get("HOME")}/.cache/firstspike' ` +
      `(start it as 'deno task exp ...' (which grants exactly these), or 'deno run -A ` +
      `tasks/exp.ts ...')\n`,
  );
  await assert.rejects(Deno.stat("/firstspike-no-permission-here"), Deno.errors.NotFound);
  const rep = await direct("tasks/report.ts", [
    "runs/x",
    "--out",
    "/firstspike-no-permission-here",
  ]);
  assert.equal(rep.code, 2);
  assert.match(rep.stderr, /write access to '\/firstspike-no-permission-here'/);
  // A folder whose name has a comma cannot be put in Deno's comma-separated permission list.
  const comma = await task("exp", ["experiments/quickstart.yaml", "--output", "/tmp/a,b"]);
  assert.equal(comma.code, 2, comma.stderr);
  assert.match(comma.stderr, /expected a path without ','/);
});

Deno.test("deno publish --dry-run: a scoped, licensed package of the library's files only", async () => {
  const cfg = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  assert.match(cfg.name, /^@[a-z0-9-]+\/[a-z0-9-]+$/);
  assert.equal(cfg.license, "MIT");
  assert.match(await Deno.readTextFile(`${ROOT}/LICENSE`), /^MIT License\n/);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, text);
  assert.match(text, /Dry run complete/);
  const rel = [...text.matchAll(/file:\/\/(\S+) \(/g)].map((m) => m[1].slice(ROOT.length));
  assert.ok(rel.length > 20, text);
  for (
    const must of [
      "mod.ts",
      "LICENSE",
      "README.md",
      "deno.json",
      "kernels/_gemm.wgsl",
      "src/engine/model.ts",
    ]
  ) {
    assert.ok(rel.includes(must), `${must} is published`);
  }
  for (const f of rel) {
    assert.match(
      f,
      /^(mod\.ts|LICENSE|README\.md|deno\.json|src\/.+\.(ts|js)|kernels\/.+\.wgsl)$/,
      `${f} should not be published`,
    );
  }
});

Deno.test(
  "deno task demo: trains the tiny network and prints accuracy and spike statistics",
  { sanitizeResources: false, sanitizeOps: false },
  async () => {
    const r = await task("demo", ["--steps", "120"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^adapter: .+/m);
    const test =
      /^test \(256 new images\): accuracy ([\d.]+)%, loss ([\d.]+), ([\d.]+) spikes per sample$/m
        .exec(r.stdout);
    assert.ok(test, r.stdout);
    assert.ok(
      Number(test[1]) >= 80,
      `expected >= 80% test accuracy after 120 steps, got ${test[1]}%`,
    );
    const layers = [...r.stdout.matchAll(
      /^ {2}layer (\d) (\S+) +firing [#.]{20} +([\d.]+)% +mean time ([\d.]+) +spikes\/sample +([\d.]+) +\|.{16}\|$/gm,
    )];
    assert.deepEqual(layers.map((m) => [m[1], m[2]]), [["0", "8C3"], ["1", "8C3"]]);
    for (const m of layers) {
      assert.ok(Number(m[3]) > 0 && Number(m[3]) <= 100, `firing ${m[3]}%`);
      assert.ok(Number(m[4]) >= 0 && Number(m[4]) <= 1, `mean time ${m[4]} within [0, T]`);
      // 8C3 on 8x8 has 512 neurons: spikes per sample = firing x 512.
      assert.ok(Math.abs(Number(m[5]) - (Number(m[3]) / 100) * 512) < 0.6, m[0]);
    }
    const total = layers.reduce((a, m) => a + Number(m[5]), 0);
    assert.ok(Math.abs(total - Number(test[3])) < 0.2, `layers sum to ${total}, total ${test[3]}`);
    const preds = [...r.stdout.matchAll(/^ {2}label (\d) {2}predicted (\d) .* U = \[(.*)\]$/gm)];
    assert.equal(preds.length, 6);
    for (const p of preds) {
      const u = p[3].trim().split(/\s+/).map(Number);
      assert.equal(u.indexOf(Math.max(...u)), Number(p[2]), "the prediction is the largest U");
    }
  },
);
