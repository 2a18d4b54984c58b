#!/usr/bin/env bash
# Installs the system packages webgpu-unet needs on a machine without a GPU driver:
#   - the software Vulkan driver (Mesa lavapipe) that Dawn runs on when there is no GPU.
#     Debian 12's own Mesa 22 is too old for Dawn, so on bookworm it comes from bookworm-backports.
#   - with --torch: the Python modules that tools/*.py import (PyTorch, torchvision, numpy, PIL), from
#     Debian, used only by tools/ to make reference outputs. TOOLS_PYTHON_PACKAGES below maps each module
#     to its package; test/scripts/toolImports.test.ts fails when a tools/ import has no entry there.
#   - with --chromium: Debian's chromium, for the browser tests.
#   - with --redis: Debian's redis-server, for the work-queue tests (BullMQ workers; the tests start their own).
# Safe to run again: it installs only what is missing and says what it does. Needs root (or sudo).
set -euo pipefail
want_torch=0; want_chromium=0; want_redis=0
for a in "$@"; do
  case "$a" in
    --torch) want_torch=1 ;;
    --chromium) want_chromium=1 ;;
    --redis) want_redis=1 ;;
    *) echo "setup-system: unknown option $a (expected --torch, --chromium or --redis)" >&2; exit 2 ;;
  esac
done

SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
log() { echo "setup-system: $*" >&2; }

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
mesa_major() { dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | sed -E 's/^([0-9]+:)?([0-9]+).*/\2/'; }

if ! command -v apt-get >/dev/null; then
  log "no apt-get here: install Mesa >= 24 with its Vulkan drivers (lavapipe) and the Vulkan loader with your package manager"
  exit 0
fi

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
updated=0
apt_update() { [ $updated = 1 ] || { log "apt-get update"; $SUDO apt-get update -qq; updated=1; }; }
apt_install() { log "apt-get install $*"; DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }

m=$(mesa_major || true)
if ! have_pkg libvulkan1 || [ -z "$m" ] || [ "$m" -lt 24 ]; then
  if [ "$codename" = bookworm ]; then
    src=/etc/apt/sources.list.d/bookworm-backports.sources
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      # the mirror (or proxy) the machine already uses for bookworm, else deb.debian.org
      mirror=$(bash "$(dirname "$0")/debian-mirror.sh" bookworm)
      log "adding bookworm-backports from $mirror to apt sources ($src): Debian 12's Mesa 22 is too old for Dawn"
      printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" | $SUDO tee "$src" >/dev/null
    fi
    apt_update
    apt_install -t bookworm-backports libvulkan1 mesa-vulkan-drivers
  else
    apt_update
    apt_install libvulkan1 mesa-vulkan-drivers
  fi
else
  log "Vulkan loader and Mesa $m drivers already installed"
fi

# module=package, one per import that tools/*.py make beyond Python's standard library and tools/ itself
TOOLS_PYTHON_PACKAGES=(
  torch=python3-torch
  torchvision=python3-torchvision
  numpy=python3-numpy
  PIL=python3-pil
  scipy=python3-scipy
  skimage=python3-skimage
  nibabel=python3-nibabel
  pandas=python3-pandas
)
if [ $want_torch = 1 ]; then
  missing=()
  for entry in "${TOOLS_PYTHON_PACKAGES[@]}"; do
    module=${entry%%=*}; package=${entry#*=}
    # a real module, not the namespace package a removed package's leftover folder (its -lib part) still forms
    if ! have_pkg "$package" && ! /usr/bin/python3 -c "import sys, $module; sys.exit(0 if getattr($module, '__file__', None) else 1)" 2>/dev/null; then missing+=("$package"); fi
  done
  if [ ${#missing[@]} -gt 0 ]; then apt_update; apt_install "${missing[@]}"; fi
fi
if [ $want_chromium = 1 ] && ! command -v chromium >/dev/null; then
  apt_update; apt_install chromium
fi
if [ $want_redis = 1 ] && ! command -v redis-server >/dev/null; then
  apt_update; apt_install redis-server
fi
