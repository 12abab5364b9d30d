// Slurm scripts that fit clusters, through deno task exp --slurm-print (no cluster needed):
// --account, --qos, --mem, --time and --partition on the command line and as slurm: keys
// (the command line wins), documented in --help; a warning when the script asks for no GPU,
// none when it asks for one in any of the ways Slurm takes.
import assert from "node:assert/strict";
import { join } from "node:path";
import { asksForGpu } from "../src/cluster/slurm.ts";
import { runTask, withUserFolder } from "./_task.ts";

const NO_GPU = /warning: the script asks Slurm for no GPU/;

Deno.test("asksForGpu: gres naming a gpu, --gpus options and -G in extra lines", () => {
  for (const gres of ["gpu:1", "gpu", "gpu:a100:2", "tmp:10G,gpu:1", "GPU:1"]) {
    assert.ok(asksForGpu({ gres }), gres);
  }
  for (const gres of ["tmp:10G", "gpuish:1", "mps:100"]) assert.ok(!asksForGpu({ gres }), gres);
  for (
    const extra of [
      "--gpus=1",
      "--gpus 2",
      "--gpus-per-node=4",
      "--gpus-per-task=1",
      "#SBATCH --gpus-per-node=1",
      "--gres=gpu:v100:1",
      "-G 1",
      "-G1",
    ]
  ) assert.ok(asksForGpu({ extra: [extra] }), extra);
  for (const extra of ["--qos=long", "module load cuda", "echo --gpus", "--gpusomething"]) {
    assert.ok(!asksForGpu({ extra: [extra] }), extra);
  }
});

Deno.test("deno task exp --slurm-print: account, qos, mem, time, partition; the GPU warning", async () => {
  await withUserFolder(async (dir) => {
    const print = (...args: string[]) =>
      runTask("exp", ["tiny.yaml", "--slurm-print", ...args], { cwd: dir });
    const bare = await print();
    assert.equal(bare.code, 0, bare.stderr);
    assert.match(bare.stderr, NO_GPU);
    assert.match(bare.stderr, /add --gres gpu:1/);
    assert.doesNotMatch(bare.stdout, /--account|--qos|--gres/);

    const flags = await print(
      "--account",
      "proj42",
      "--qos",
      "long",
      "--mem",
      "32G",
      "--time",
      "1-00:00:00",
      "--partition",
      "gpu",
      "--gres",
      "gpu:1",
    );
    assert.equal(flags.code, 0, flags.stderr);
    assert.doesNotMatch(flags.stderr, NO_GPU);
    for (
      const line of [
        "--account=proj42",
        "--qos=long",
        "--partition=gpu",
        "--time=1-00:00:00",
        "--gres=gpu:1",
        "--mem=32G",
      ]
    ) assert.match(flags.stdout, new RegExp(`^#SBATCH ${line}$`, "m"));

    // The slurm: section gives them; the command line overrides one.
    await Deno.writeTextFile(
      join(dir, "tiny.yaml"),
      (await Deno.readTextFile(join(dir, "tiny.yaml"))) +
        'slurm:\n  account: lab\n  qos: normal\n  time: "12:00:00"\n' +
        '  extra: ["--gpus-per-node=1", "module load cuda"]\n',
    );
    const section = await print("--qos", "long");
    assert.equal(section.code, 0, section.stderr);
    assert.doesNotMatch(section.stderr, NO_GPU, "--gpus-per-node in extra asks for a GPU");
    assert.match(section.stdout, /^#SBATCH --account=lab$/m);
    assert.match(section.stdout, /^#SBATCH --qos=long$/m);
    assert.doesNotMatch(section.stdout, /--qos=normal/);
    assert.match(section.stdout, /^#SBATCH --time=12:00:00$/m);
    assert.match(section.stdout, /^#SBATCH --gpus-per-node=1$/m);
    assert.match(section.stdout, /^module load cuda$/m);

    // A bad key in the slurm: section names itself.
    await Deno.writeTextFile(
      join(dir, "bad.yaml"),
      "dataset: fmnist\narch: 8F\nslurm:\n  acount: x\n",
    );
    const bad = await runTask("exp", ["bad.yaml", "--slurm-print"], { cwd: dir });
    assert.equal(bad.code, 2);
    assert.match(
      bad.stderr,
      /bad\.yaml:4:3: slurm\.acount: unknown key \(did you mean 'account'\?\)/,
    );
  });
});

Deno.test("deno task exp --help documents the Slurm options and the slurm: section", async () => {
  await withUserFolder(async (dir) => {
    const help = await runTask("exp", ["--help"], { cwd: dir });
    assert.equal(help.code, 0);
    for (const o of ["account A", "qos Q", "partition P", "time T", "gres G", "mem M", "cpus N"]) {
      assert.match(
        help.stdout,
        new RegExp(`^ {2}--${o} +Slurm .*\\(overrides slurm: \\w+\\)$`, "m"),
        o,
      );
    }
    assert.match(help.stdout, /slurm: section of the file gives account, qos, partition, time/);
    assert.match(help.stdout, /'module load cuda'/);
    assert.match(help.stdout, /--measure +with --dry-run/);
  });
});

Deno.test("deno task exp --slurm-print: a done point whose epochs were raised is submitted, as a run continues it", async () => {
  await withUserFolder(async (dir) => {
    const file = join(dir, "tiny.yaml");
    const edit = async (from: RegExp, to: string) =>
      await Deno.writeTextFile(file, (await Deno.readTextFile(file)).replace(from, to));
    const print = () =>
      runTask("exp", ["tiny.yaml", "--slurm-print", "--gres", "gpu:1"], { cwd: dir });
    const trained = await runTask("exp", ["tiny.yaml"], { cwd: dir });
    assert.equal(trained.code, 0, trained.stderr);
    const done = await print();
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /every point is done: nothing to submit/);

    await edit(/^epochs: 1$/m, "epochs: 3");
    const dry = await runTask("exp", ["tiny.yaml", "--dry-run"], { cwd: dir });
    assert.match(dry.stdout, /pending \(continuing a done run \(1 epochs\) with more\)/);
    const more = await print();
    assert.equal(more.code, 0, more.stderr);
    assert.doesNotMatch(more.stdout, /nothing to submit/);
    assert.match(more.stdout, /^ids=\('default'\)$/m);

    // Settings that differ are refused here, as a run refuses them, not submitted to fail.
    await edit(/^lr: 0.003$/m, "lr: 0.001");
    const changed = await print();
    assert.equal(changed.code, 1, changed.stderr);
    assert.match(changed.stderr, /default: Cannot continue the run .*lr: 0\.003 -> 0\.001/);
    assert.doesNotMatch(changed.stdout, /^ids=/m);
  }, { epochs: 1 });
});

Deno.test("a Slurm task whose folder its script made (for the log) continues the run found under its former id", async () => {
  // `exp tiny.yaml epochs=2` names the point 'epochs2'; its run is the done 'default' (the same
  // settings but epochs). The script does `mkdir -p runs/tiny/epochs2` before the task starts:
  // the task then trained from scratch in that empty folder instead of continuing 'default'.
  await withUserFolder(async (dir) => {
    const trained = await runTask("exp", ["tiny.yaml"], { cwd: dir });
    assert.equal(trained.code, 0, trained.stderr);
    const script = await runTask("exp", ["tiny.yaml", "epochs=2", "--slurm-print"], { cwd: dir });
    assert.equal(script.code, 0, script.stderr);
    assert.match(script.stdout, /^ids=\('epochs2'\)$/m);
    assert.match(script.stdout, /mkdir -p "\$run_dir"/);
    await Deno.mkdir(join(dir, "runs/tiny/epochs2"), { recursive: true }); // as the script does
    const task = await runTask("exp", ["tiny.yaml", "epochs=2", "--only", "epochs2"], { cwd: dir });
    assert.equal(task.code, 0, task.stderr);
    assert.match(task.stderr, /epochs2: its run is in \S*runs\/tiny\/default \(the id 'default'/);
    const metrics = (await Deno.readTextFile(join(dir, "runs/tiny/default/metrics.jsonl")))
      .trim().split("\n");
    assert.equal(metrics.length, 2, "epoch 2 appended to the done run");
    await assert.rejects(Deno.stat(join(dir, "runs/tiny/epochs2/run.yaml")));
  }, { epochs: 1 });
});

Deno.test("--force with --slurm-print: every point is submitted, with a warning that its tasks do not start over", async () => {
  await withUserFolder(async (dir) => {
    const r = await runTask("exp", ["tiny.yaml", "--force", "--slurm-print", "--gres", "gpu:1"], {
      cwd: dir,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: --force submits every point, but its tasks do not start over/);
    assert.match(r.stdout, /^ids=\('default'\)$/m);
    assert.doesNotMatch(r.stdout, /exec deno .*--force/);
  });
});
