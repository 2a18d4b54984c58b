#!/usr/bin/env bash
# Makes a checkout ready to run: npm packages, and a WebGPU adapter for Dawn. Installs only what is
# missing, says what it does, and is quick when everything is there. Used by `npm test` and `npm run demo`.
#   bash scripts/setup.sh [--torch] [--chromium]   (extra flags go to scripts/setup-system.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "setup: $*" >&2; }

# npm packages: install when node_modules is missing or older than the lockfile.
if [ ! -d node_modules/webgpu ] || [ ! -d node_modules/tsx ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund >&2
fi

# A WebGPU adapter: Dawn needs a Vulkan driver; without a GPU that is Mesa's lavapipe.
probe() {
  node --input-type=module -e "
    import { create, globals } from 'webgpu';
    Object.assign(globalThis, globals);
    const gpu = create([]);
    const a = await gpu.requestAdapter();
    if (!a) process.exit(3);
    console.log(a.info.description || a.info.vendor || 'unknown adapter');
    process.exit(0);
  " 2>/dev/null
}
if adapter=$(probe); then
  log "WebGPU adapter: $adapter"
else
  log "no WebGPU adapter: installing the software Vulkan driver (scripts/setup-system.sh)"
  bash scripts/setup-system.sh "$@"
  adapter=$(probe) || { log "still no WebGPU adapter after installing Mesa's Vulkan drivers; see README (Requirements)"; exit 1; }
  log "WebGPU adapter: $adapter"
fi
if [ $# -gt 0 ]; then bash scripts/setup-system.sh "$@"; fi
