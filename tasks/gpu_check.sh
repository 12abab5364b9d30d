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
