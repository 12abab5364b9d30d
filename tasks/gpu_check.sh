#!/usr/bin/env bash
# One-shot check on a lent GPU machine (see ../shared/GPU.md): no registry
# there, so Deno, the Vulkan loader packages and node_modules travel with the
# call. Prepare once here:
#
#   echo /.gpu/ >> .git/info/exclude; mkdir -p .gpu /tmp/amd64/partial
#   o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
#   apt-get $o update
#   (cd .gpu && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
#   xz -T2 -9 -c "$(readlink -f "$(command -v deno)")" > .gpu/deno.xz
#   deno task bench --quick --peer --only mnist-cnn --reps 1 --json /tmp/b.json
#       # fills node_modules and bundles TensorFlow.js into node_modules/.cache/firstspike/
#   tar cf - node_modules | xz -T2 -6 > .gpu/node_modules.tar.xz
#       # ~5 MB; node_modules itself is ~77 MB with TensorFlow.js, too much to carry
#   (cd /usr/share/datasets/fashion-mnist && cat *.gz) | wc -c   # 30 MB as gzip
#   mkdir -p /tmp/fm && for f in /usr/share/datasets/fashion-mnist/*.gz; do
#     gunzip -c "$f" > /tmp/fm/$(basename "$f" .gz); done
#   tar cf - -C /tmp/fm . | xz -T2 -9e > .gpu/fmnist.tar.xz
#       # Fashion-MNIST for the end-to-end run; keep deno.xz + the rest under 64 MiB
#
# Then run it there with carry [".gpu", "node_modules"] (node_modules only if small enough;
# the script unpacks .gpu/node_modules.tar.xz otherwise):
#   bash tasks/gpu_check.sh            (writes tests, bench tables and JSON, e2e to $OUT)
# In order, each with its own time limit (the whole check: about 8 minutes at most):
#   1. the adapter;
#   2. engine, sparse (event-driven against dense, bit for bit), direct-convolution and error
#      tests, every tile of the tiled core (TESTS_TIMEOUT, 150 s);
#   3. the full benchmark on trained activity: each shape trained on Fashion-MNIST (two epochs
#      of 4,000 images), then dense and event-driven (`--sparse on`) timed interleaved with
#      TensorFlow.js, each kernel profiled (`--profile`), and the two-epoch vgg7 run
#      (BENCH_TIMEOUT, 300 s; BENCH_ARGS overrides the options);
#   4. vgg7-b256 in float16, dense and event-driven (F16_TIMEOUT, 60 s);
#   5. end to end: the reference's Fashion-MNIST vgg7 experiment, timed to 89.6% test
#      accuracy (E2E_TIMEOUT, 150 s; E2E_EPOCHS, 30).
# Without Fashion-MNIST there, the bench times random activity and the epoch random data.
set -uo pipefail
export XDG_RUNTIME_DIR=/tmp
if [ -z "${DENO:-}" ]; then
  # On the lent machine: the Vulkan loader, node_modules and Deno from .gpu/.
  for f in .gpu/*.deb; do dpkg -x "$f" /; done
  ldconfig
  if [ -f .gpu/node_modules.tar.xz ]; then
    python3 -c "import tarfile; tarfile.open('.gpu/node_modules.tar.xz').extractall('.')"
  fi
  if [ ! -x /tmp/deno ]; then
    python3 -c "import lzma,shutil; shutil.copyfileobj(lzma.open('.gpu/deno.xz'), open('/tmp/deno','wb'))"
    chmod +x /tmp/deno
  fi
fi
# DENO=deno FMNIST=DIR runs the same steps here (with BENCH_ARGS=--quick ..., TESTS_ALL_TILES=0).
D=${DENO:-/tmp/deno}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
FM=""
if [ -n "${FMNIST:-}" ]; then
  FM="--data $FMNIST"
elif [ -f .gpu/fmnist.tar.xz ]; then
  mkdir -p /tmp/fmnist
  python3 -c "import tarfile; tarfile.open('.gpu/fmnist.tar.xz').extractall('/tmp/fmnist')"
  FM="--data /tmp/fmnist"
fi
$D eval 'const a = await navigator.gpu.requestAdapter({powerPreference: "high-performance"}); console.log(a?.info, [...(a?.features ?? [])])' 2>&1 | tee "$OUT/adapter.txt"
FIRSTSPIKE_TEST_ALL_TILES=${TESTS_ALL_TILES:-1} timeout ${TESTS_TIMEOUT:-150} $D test -A tests/engine_test.ts \
  tests/sparse_test.ts tests/direct_conv_test.ts tests/errors_test.ts 2>&1 | tail -30 | tee "$OUT/tests.txt"
timeout ${BENCH_TIMEOUT:-300} $D run -A tasks/bench.ts --json "$OUT/bench.json" --cache /tmp/bench-cache \
  $FM ${BENCH_ARGS:---peer --profile --reps 5} 2>&1 | tee "$OUT/bench.txt"
timeout ${F16_TIMEOUT:-60} $D run -A tasks/bench.ts --json "$OUT/bench_f16.json" --cache /tmp/bench-cache \
  $FM --precision f16 --only vgg7-b256 --reps 5 2>&1 | tee "$OUT/bench_f16.txt"

# End to end: the reference's Fashion-MNIST vgg7 experiment, timed to 89.6% test accuracy.
if [ -n "$FM" ]; then
  start=$(date +%s.%N)
  timeout ${E2E_TIMEOUT:-150} $D run -A tasks/exp.ts experiments/fmnist-vgg7.yaml \
    data_dir=${FMNIST:-/tmp/fmnist} epochs=${E2E_EPOCHS:-30} --output "$OUT/runs" 2>&1 | tail -40 | tee "$OUT/e2e.txt"
  end=$(date +%s.%N)
  $D eval "
    const lines = Deno.readTextFileSync('$OUT/runs/fmnist-vgg7/epochs${E2E_EPOCHS:-30}/metrics.jsonl')
      .trim().split('\\n').map((l) => JSON.parse(l));
    let t = 0, hit = null;
    for (const r of lines) { t += r.seconds; if (hit === null && r.test_acc >= 0.896) hit = { epoch: r.epoch, seconds: t }; }
    const best = Math.max(...lines.map((r) => r.test_acc));
    console.log('e2e: ' + lines.length + ' epochs, ' + (t / lines.length).toFixed(2) + ' s/epoch with evaluation, best test ' +
      (best * 100).toFixed(2) + '%, ' + (hit ? '89.6% reached at epoch ' + hit.epoch + ' after ' + hit.seconds.toFixed(1) +
      ' s of training' : '89.6% not reached') + '; wall ' + ($end - $start).toFixed(1) + ' s');
  " 2>&1 | tee -a "$OUT/e2e.txt"
fi

# The short table last: per shape dense and event-driven ms/step, f32 and f16.
$D eval "
  const read = (f) => { try { return JSON.parse(Deno.readTextFileSync(f)); } catch { return null; } };
  for (const [tag, j] of [['f32', read('$OUT/bench.json')], ['f16', read('$OUT/bench_f16.json')]]) {
    if (!j) { console.log(tag + ': no results'); continue; }
    for (const s of j.shapes) {
      console.log(tag + ' ' + s.name.padEnd(11) + ' dense ' + s.train_dense.median_ms.toFixed(2).padStart(8) +
        ' ms  sparse ' + s.train_sparse.median_ms.toFixed(2).padStart(8) + ' ms  (' + s.sparse_speedup.toFixed(2) +
        'x, ' + s.activity.kind + ')' + (s.peer ? '  TF.js ' + s.peer.ratio.toFixed(1) + 'x' : ''));
    }
    if (j.epoch && !j.epoch.skipped) console.log(tag + ' epoch: steady ' + j.epoch.steady_epoch_seconds.toFixed(2) + ' s');
  }
" 2>&1 | tee "$OUT/summary.txt"
