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
# Then run it there with carry [".gpu"]:
#   bash tasks/gpu_check.sh            (writes engine tests, bench table and JSON to $OUT;
#   without Fashion-MNIST there, the epoch is timed on random data of its size)
# The bench runs with --peer (TensorFlow.js on the same shapes, interleaved) and 5
# repetitions: about 4 minutes if TF.js is near the issue's times (BENCH_ARGS overrides).
set -uo pipefail
for f in .gpu/*.deb; do dpkg -x "$f" /; done
ldconfig
if [ -f .gpu/node_modules.tar.xz ]; then
  python3 -c "import tarfile; tarfile.open('.gpu/node_modules.tar.xz').extractall('.')"
fi
export XDG_RUNTIME_DIR=/tmp
if [ ! -x /tmp/deno ]; then
  python3 -c "import lzma,shutil; shutil.copyfileobj(lzma.open('.gpu/deno.xz'), open('/tmp/deno','wb'))"
  chmod +x /tmp/deno
fi
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
D=/tmp/deno
$D eval 'const a = await navigator.gpu.requestAdapter({powerPreference: "high-performance"}); console.log(a?.info)' 2>&1 | tee "$OUT/adapter.txt"
timeout 120 $D test -A tests/engine_test.ts tests/errors_test.ts 2>&1 | tail -25 | tee "$OUT/tests.txt"
timeout ${BENCH_TIMEOUT:-420} $D run -A tasks/bench.ts --json "$OUT/bench.json" ${BENCH_ARGS:---peer --reps 5} 2>&1 | tee "$OUT/bench.txt"

# End to end: the reference's Fashion-MNIST vgg7 experiment, timed to 89.6% test accuracy.
if [ -f .gpu/fmnist.tar.xz ]; then
  mkdir -p /tmp/fmnist
  python3 -c "import tarfile; tarfile.open('.gpu/fmnist.tar.xz').extractall('/tmp/fmnist')"
  start=$(date +%s.%N)
  timeout ${E2E_TIMEOUT:-240} $D run -A tasks/exp.ts experiments/fmnist-vgg7.yaml \
    data_dir=/tmp/fmnist epochs=${E2E_EPOCHS:-30} --output "$OUT/runs" 2>&1 | tail -40 | tee "$OUT/e2e.txt"
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
