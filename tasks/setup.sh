#!/usr/bin/env bash
# Installs what firstspike needs on a Debian machine that has npm and apt:
# Deno (from npm), Mesa's Vulkan drivers (lavapipe, the software adapter for
# machines without a GPU, and the device-select layer that `--gpu` uses),
# Debian's Fashion-MNIST package, Slurm + munge for the Slurm tests and
# Chromium for the board's browser test, then the npm packages the tasks
# import (quietly, so a first run does not list them). Safe to run again: it
# skips what is already there.
set -euo pipefail

DENO_VERSION=2.9.6
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi

if ! command -v deno >/dev/null || [ "$(deno --version | head -1 | cut -d' ' -f2)" != "$DENO_VERSION" ]; then
  echo "setup: installing deno@$DENO_VERSION from npm" >&2
  $SUDO npm install -g "deno@$DENO_VERSION" >&2
fi

have_apt() { command -v apt-get >/dev/null && { [ -n "$SUDO" ] || [ "$(id -u)" = 0 ]; }; }
apt_updated=0
apt_install() {
  have_apt || { echo "setup: apt-get not available: install $* yourself" >&2; return 0; }
  if [ $apt_updated = 0 ]; then $SUDO apt-get update -qq >&2; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >&2
}

if [ ! -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ] && [ ! -e /usr/share/vulkan/icd.d/lvp_icd.aarch64.json ]; then
  echo "setup: installing Mesa's Vulkan drivers (lavapipe and the device-select layer)" >&2
  apt_install mesa-vulkan-drivers
fi
if ! deno eval 'Deno.exit((await navigator.gpu?.requestAdapter()) ? 0 : 1)' 2>/dev/null; then
  echo "setup: warning: still no WebGPU adapter (Vulkan, Metal, D3D12 or OpenGL driver)" >&2
fi

if [ ! -e /usr/share/datasets/fashion-mnist ]; then apt_install dataset-fashion-mnist; fi

if [ "${FIRSTSPIKE_SKIP_SLURM:-0}" != 1 ] && ! command -v slurmctld >/dev/null; then
  apt_install slurm-wlm munge || echo "setup: Slurm not installed; its tests will be skipped" >&2
fi
if [ "${FIRSTSPIKE_SKIP_BROWSER:-0}" != 1 ] && ! command -v chromium >/dev/null; then
  apt_install chromium || echo "setup: Chromium not installed; the browser tests will be skipped" >&2
fi
(cd "$(dirname "$0")/.." && deno install -q) || echo "setup: deno install failed: the first run installs the npm packages" >&2
echo "setup: ready ($(deno --version | head -1))" >&2
