// What deno task exp shows while it trains and before: the progress bar on a terminal
// (running loss and accuracy, the run's and the grid's ETA), plain lines at an interval
// into a pipe (none by default on a short run), each point's settings that differ from the
// defaults, and --dry-run's estimates (from earlier runs, by FLOPs, measured) and settings;
// tested through deno task with deno.json's permissions, on a pseudo-terminal and a pipe.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  barLine,
  formatDuration,
  gridSecondsLeft,
  nonDefaultSettings,
  PLAIN_INTERVAL_SECONDS,
  plainInterval,
  ProgressDisplay,
  settingsLines,
} from "../tasks/_progress.ts";
import { runPoint, type StepProgress } from "../src/run/train.ts";
import { parseExperiment } from "../src/experiment/config.ts";
import { expandGrid } from "../src/experiment/grid.ts";
import { GPU_TEST, testEngine } from "./_compare.ts";
import { runTask, withUserFolder } from "./_task.ts";
import { tinyExperiment, weightsOf, withTempDir, writeFakeFmnist } from "./_data.ts";

const P: StepProgress = {
  epoch: 1,
  epochs: 3,
  step: 30,
  steps: 120,
  samplesPerSecond: 2000,
  epochSecondsLeft: 9,
  runSecondsLeft: 75,
  elapsedSeconds: 12,
  loss: 1.23456,
  accuracy: 0.5,
  lr: 1e-3,
};

Deno.test("the bar fits the terminal, dropping samples/s, then the grid, then the metrics", () => {
  const grid = { index: 2, total: 5, trainedSeconds: [100] };
  const wide = barLine(P, grid, 25, 200);
  assert.equal(
    wide,
    "epoch 1/3 [=====>              ]  25% 30/120 loss 1.2346 acc 50.0% 2000 samples/s ETA 1:15 " +
      "| point 2/5, grid ETA 6:15",
  );
  // point 2 of 5: 75 s left; its projected 100 s and point 1's 100 s: 3 more of 100 s each.
  assert.equal(gridSecondsLeft(grid, 25, 75), 75 + 3 * 100);
  const cuts = [110, 90, 70, 50].map((w) => barLine(P, grid, 25, w));
  assert.ok(!cuts[0].includes("samples/s") && cuts[0].includes("grid ETA"), cuts[0]);
  assert.ok(!cuts[1].includes("grid") && cuts[1].includes("loss"), cuts[1]);
  assert.ok(!cuts[2].includes("loss") && cuts[2].includes("ETA 1:15"), cuts[2]);
  for (const [i, w] of [110, 90, 70, 50].entries()) assert.ok(cuts[i].length <= w, cuts[i]);
  // One point: no grid; before the first read of the running metrics: none shown.
  const alone = barLine({ ...P, loss: null, accuracy: null }, { ...grid, total: 1 }, 0, 200);
  assert.ok(!alone.includes("grid") && !alone.includes("loss"), alone);
  assert.match(barLine({ ...P, step: 120 }, null, 0, 200), /\[====================\] 100% /);
});

Deno.test("ProgressDisplay: a bar rewritten on a terminal; plain lines at an interval elsewhere", () => {
  let now = 0;
  const out: string[] = [];
  const grid = { index: 1, total: 2, trainedSeconds: [] };
  const tty = new ProgressDisplay({ tty: true, write: (t) => out.push(t), now: () => now });
  tty.startPoint(grid);
  tty.update(P, false);
  tty.update({ ...P, step: 60 }, false);
  tty.update(null, true);
  tty.clear(); // nothing shown: nothing written
  assert.equal(out.length, 3);
  assert.ok(out[0].startsWith("\r\x1b[Kepoch 1/3 [") && out[1].includes(" 60/120 "), out[1]);
  assert.equal(out[2], "\r\x1b[K");

  out.length = 0;
  const plain = new ProgressDisplay({
    tty: false,
    write: (t) => out.push(t),
    now: () => now,
    interval: 30,
  });
  plain.startPoint(grid);
  for (now = 0; now < 100; now += 10) plain.update(P, false);
  // At 30, 60 and 90 s after the point started.
  assert.equal(out.length, 3);
  assert.equal(
    out[0],
    "epoch 1/3 step 30/120 (25%) loss 1.2346 acc 50.0% 2000 samples/s; run: 1 min 15 s left; " +
      "grid: point 1 of 2, 3 min 00 s left\n",
  );
  // An epoch's own line counts: the next plain line comes 30 s after it.
  plain.update(null, true);
  now += 25;
  plain.update(P, false);
  assert.equal(out.length, 3);
  now += 5;
  plain.update(P, false);
  assert.equal(out.length, 4);
  const none = new ProgressDisplay({ tty: false, write: (t) => out.push(t), interval: 0 });
  none.startPoint(grid);
  none.update(P, false);
  assert.equal(out.length, 4);
  assert.equal(plainInterval(undefined), PLAIN_INTERVAL_SECONDS);
  assert.throws(() => plainInterval("soon"), /FIRSTSPIKE_PROGRESS_SECONDS: expected a number/);
  assert.throws(() => plainInterval("-1"), /got '-1'/);
});

Deno.test("the settings line: what differs from the defaults, at most two lines", () => {
  const { base } = parseExperiment(
    "dataset: fmnist\narch: vgg7\nlr: 3.0e-4\nnormalize: true\nshuffle: once\n" +
      "augment: [crop, flip]\nweight_clip: [-1, 1]\noutput: elsewhere\nname: x\n",
    "x.yaml",
  );
  assert.deepEqual(nonDefaultSettings(base), {
    dataset: "fmnist",
    arch: "vgg7",
    normalize: true,
    lr: 3e-4,
    weight_clip: [-1, 1],
    shuffle: "once",
    augment: ["crop", "flip"],
  });
  assert.deepEqual(settingsLines(nonDefaultSettings(base)), [
    "settings: dataset=fmnist arch=vgg7 normalize=true lr=3e-4 weight_clip=[-1,1] shuffle=once",
    "          augment=[crop,flip]",
  ]);
  assert.deepEqual(settingsLines({ lr: 3e-4 }), ["settings: lr=3e-4"]);
  const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`key_${i}`, i]));
  const lines = settingsLines(many, 60);
  assert.equal(lines.length, 2);
  assert.ok(lines.every((l) => l.length <= 60), lines.join("\n"));
  const shown = lines.join(" ").match(/key_\d+=/g)!.length;
  assert.match(lines[1], new RegExp(`\\(${40 - shown} more in run\\.yaml\\)$`));
});

Deno.test(
  "the running loss and accuracy are the training sums two chunks back, exactly; weights unchanged",
  GPU_TEST,
  async () => {
    const engine = await testEngine();
    await withTempDir(async (tmp) => {
      await writeFakeFmnist(join(tmp, "data"));
      // 256 training samples in steps of 32: 8 steps an epoch, chunks of 2 steps.
      const exp = tinyExperiment(join(tmp, "data"), { epochs: 1 });
      const [p] = expandGrid(exp);
      const seen: StepProgress[] = [];
      await runPoint({
        ...p,
        dir: join(tmp, "watched"),
        engine,
        chunk: 2,
        log: () => {},
        progress: (_line, final, info) => {
          if (!final) seen.push(info!);
        },
      });
      assert.deepEqual(seen.map((i) => i.step), [2, 4, 6, 8]);
      // Two chunks queued: after chunk k the loop has waited for chunk k - 2.
      assert.deepEqual(seen.map((i) => i.loss === null), [true, true, false, false]);
      // A run cut after 2 steps records the training loss and accuracy of those steps: what the
      // watched run showed after its third chunk (its first chunk done), to the bit.
      for (const [steps, shown] of [[2, seen[2]], [4, seen[3]]] as const) {
        const [cut] = expandGrid(
          tinyExperiment(join(tmp, "data"), { epochs: 1, max_steps: steps }),
        );
        await runPoint({ ...cut, dir: join(tmp, `cut${steps}`), engine, chunk: 2, log: () => {} });
        const rec = JSON.parse(await Deno.readTextFile(join(tmp, `cut${steps}`, "metrics.jsonl")));
        assert.equal(shown.loss, rec.train_loss, `loss after ${steps} steps`);
        assert.equal(shown.accuracy, rec.train_acc, `accuracy after ${steps} steps`);
      }
      // Watching changes nothing: the same weights as a run without progress.
      await runPoint({ ...p, dir: join(tmp, "plain"), engine, chunk: 2, log: () => {} });
      assert.deepEqual(await weightsOf(join(tmp, "watched")), await weightsOf(join(tmp, "plain")));
      // Where training is: the rate, what is left of the epoch and the run.
      for (const i of seen) {
        assert.ok(i.samplesPerSecond > 0 && i.epochSecondsLeft >= 0 && i.runSecondsLeft >= 0);
        assert.equal(i.epochs, 1);
        assert.equal(i.steps, 8);
      }
      assert.equal(seen[3].epochSecondsLeft, 0);
    });
  },
);

/** The tab-separated point lines of a --dry-run, as [id, state, estimate]. */
function points(stdout: string): string[][] {
  return stdout.trim().split("\n").filter((l) => l.includes("\t"))
    .map((l) => l.split("\t")).map((f) => [f[0], f[1], f[4]]);
}

Deno.test(
  "deno task exp: the settings, a bar with the running metrics on a terminal, quiet in a pipe",
  GPU_TEST,
  async () => {
    await withUserFolder(async (dir) => {
      // Batch 2: 144 steps an epoch, 5 chunks, so the running metrics show before its end.
      const tty = await runTask("exp", ["tiny.yaml", "batch_size=2", "seed=0,1"], {
        cwd: dir,
        tty: true,
      });
      assert.equal(tty.code, 0, tty.stdout);
      const screen = tty.stdout;
      assert.match(
        screen,
        /\n {2}settings: dataset=fmnist data_dir=data arch=P2-8C3-P2 lr=3e-3 batch_size=2 epochs=2\n/,
      );
      assert.match(screen, /\n {2}settings: .* epochs=2 seed=1\n/);
      const bars = screen.split("\r\x1b[K").filter((s) => s.startsWith("epoch 1/2 ["));
      assert.ok(bars.length >= 4, screen);
      assert.ok(
        bars.some((b) =>
          /\] +\d+% \d+\/144 loss \d\.\d{4} acc \d+\.\d% \d+ samples\/s ETA \d+:\d\d/.test(b)
        ),
        bars.join("\n"),
      );
      assert.ok(bars.some((b) => /\| point 2\/2, grid ETA \d+:\d\d$/.test(b)), bars.join("\n"));
      // The bar is cleared before each epoch's line.
      assert.ok(screen.includes("\r\x1b[Kepoch 1: loss "), "the bar is cleared before the line");
      // A narrow terminal ($COLUMNS where the terminal does not say): what fits.
      const narrow = await runTask("exp", ["tiny.yaml", "batch_size=2", "seed=0,1", "--force"], {
        cwd: dir,
        tty: true,
        env: { COLUMNS: "72" },
      });
      const cut = narrow.stdout.split("\r\x1b[K").filter((s) => s.startsWith("epoch 1/2 ["))
        .map((s) => s.split("\n")[0]);
      assert.ok(cut.length >= 4 && cut.every((b) => b.length <= 71), cut.join("\n"));
      assert.ok(cut.every((b) => !b.includes("samples/s")), cut.join("\n"));

      // Into a pipe: by default (a line every 30 s) this short run prints no progress lines.
      const quiet = await runTask("exp", ["tiny.yaml", "batch_size=2", "--force"], { cwd: dir });
      assert.equal(quiet.code, 0, quiet.stderr);
      assert.doesNotMatch(quiet.stderr, /step \d+\/\d+/);
      assert.ok(!quiet.stderr.includes("\x1b"), "no terminal codes into a pipe");
      // At an interval set short: plain lines with the running metrics and the grid.
      const plain = await runTask("exp", ["tiny.yaml", "batch_size=2", "seed=0,1", "--force"], {
        cwd: dir,
        env: { FIRSTSPIKE_PROGRESS_SECONDS: "0.01" },
      });
      assert.equal(plain.code, 0, plain.stderr);
      assert.match(
        plain.stderr,
        /\nepoch 1\/2 step \d+\/144 \(\d+%\) loss \d\.\d{4} acc \d+\.\d% \d+ samples\/s; run: .* left; grid: point 2 of 2, .* left\n/,
      );
      const bad = await runTask("exp", ["tiny.yaml"], {
        cwd: dir,
        env: { FIRSTSPIKE_PROGRESS_SECONDS: "often" },
      });
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /FIRSTSPIKE_PROGRESS_SECONDS: expected a number of seconds >= 0/);
    });
  },
);

Deno.test(
  "deno task exp --dry-run: estimates from earlier runs (same network, or by FLOPs), measured, and none",
  GPU_TEST,
  async () => {
    await withUserFolder(async (dir) => {
      const dry = (...args: string[]) =>
        runTask("exp", ["tiny.yaml", ...args, "--dry-run"], { cwd: dir });
      const none = await dry();
      assert.equal(none.code, 0, none.stderr);
      assert.deepEqual(points(none.stdout), [["default", "pending", "no estimate"]]);
      assert.match(
        none.stdout,
        /\nestimate: none for 1 point to train: no earlier runs under runs\/ /,
      );
      assert.match(
        none.stdout,
        /\nsettings: dataset=fmnist data_dir=data arch=P2-8C3-P2 lr=3e-3 batch_size=32 epochs=2\n/,
      );

      const run = await runTask("exp", ["tiny.yaml"], { cwd: dir });
      assert.equal(run.code, 0, run.stderr);
      const secs = (await Deno.readTextFile(join(dir, "runs/tiny/default/metrics.jsonl"))).trim()
        .split("\n").map((l) => JSON.parse(l).seconds).sort((a, b) => a - b);
      const median = (secs[0] + secs[1]) / 2;
      const adapter = (await Deno.readTextFile(join(dir, "runs/tiny/default/run.yaml")))
        .match(/adapter: (.*)/)![1];

      // The same network: its epochs' median seconds per epoch; the done point: nothing.
      const again = await dry("seed=0,1", "epochs=2,3");
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(points(again.stdout), [
        ["default", "done", "nothing to train"],
        ["seed1", "pending", `about ${formatDuration(2 * median)}`],
        ["epochs3", "pending", `about ${formatDuration(3 * median)}`],
        ["epochs3_seed1", "pending", `about ${formatDuration(3 * median)}`],
      ]);
      assert.ok(
        again.stdout.includes(
          `\nestimate: about ${formatDuration(8 * median)} for 3 points to train, from earlier ` +
            `runs on ${adapter} (2 epochs of 1 run) (epochs as set:`,
        ),
        again.stdout,
      );
      // Another network: by the FLOPs of its epochs at the earlier runs' rate.
      const other = await dry("arch=P2-16C3-P2");
      assert.match(points(other.stdout)[0][2], /^about .* \(by FLOPs\)$/);
      assert.match(other.stdout, /; 1 by FLOPs at the runs' rate, rougher/);
      // As JSON.
      const json = await dry("seed=1", "--json");
      assert.equal(json.code, 0, json.stderr);
      const events = json.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assert.deepEqual(events.map((e) => e.event), ["point_listed", "estimate"]);
      assert.equal(events[0].estimate, "same network");
      assert.equal(events[0].epochs_left, 2);
      assert.ok(
        Math.abs(events[0].estimate_seconds - 2 * median) < 0.051,
        JSON.stringify(events[0]),
      );
      assert.deepEqual(events[0].non_default_settings, {
        dataset: "fmnist",
        data_dir: "data",
        arch: "P2-8C3-P2",
        lr: 0.003,
        batch_size: 32,
        epochs: 2,
        seed: 1,
      });
      assert.match(events[1].source, /^earlier runs on /);
      assert.equal(events[1].points_to_train, 1);

      // Measured on this machine's adapter: every network timed, the source said.
      const measured = await dry("arch=P2-8C3-P2,P2-16C3-P2", "--measure");
      assert.equal(measured.code, 0, measured.stderr);
      assert.match(measured.stderr, /^adapter: /m);
      assert.equal(measured.stderr.match(/^measured P2-\d+C3-P2 at batch 32: /gm)?.length, 2);
      assert.deepEqual(points(measured.stdout).map((p) => p.slice(0, 2)), [
        ["default", "done"],
        ["arch=P2-16C3-P2", "pending"],
      ]);
      assert.match(points(measured.stdout)[1][2], /^about \d/);
      assert.match(measured.stdout, /from measured on this machine's /);
      const misuse = await runTask("exp", ["tiny.yaml", "--measure"], { cwd: dir });
      assert.equal(misuse.code, 2);
      assert.match(misuse.stderr, /--measure: .* without --dry-run/);
    });
  },
);
