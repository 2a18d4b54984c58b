#!/usr/bin/env bash
# The benchmark on a lent GPU machine (a bare one: no node, maybe no Vulkan loader), prepared here and
# run there in one call. Everything it needs is in this project (bench/gpu/).
#
# Here, in the project root:
#   bash bench/gpu-run.sh prepare     # .gpu/: node, the Vulkan loader and GL dispatch packages, enter.sh
#                                     # (bench/gpu/pack.sh), the bench / tune / parity scripts bundled to
#                                     # .gpu/js/*.mjs, and the PyTorch reference outputs for the bench's
#                                     # inputs (.gpu/bench-ref.safetensors; needs PyTorch here)
# Then with the device tool: run with carry [".gpu", "node_modules/webgpu/dist/linux-x64",
#   "node_modules/webgpu/index.js", "node_modules/webgpu/package.json"] (about 40 MiB) and the command
#   bash bench/gpu-run.sh run
# which writes gpu.txt, parity.txt, tune.txt and bench-<tuning>.json/.txt (auto, portable, measured)
# into $OUT. TUNE_SIZE, TUNINGS and BENCH_ARGS change what runs.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  prepare)
    bash bench/gpu/pack.sh
    mkdir -p .gpu/js
    for entry in bench/bench-cli.ts bench/tune-cli.ts bench/parity-fixtures.ts; do
      # webgpu stays external: the carried node_modules/webgpu holds Dawn's native module
      npx esbuild "$entry" --bundle --platform=node --format=esm --target=node20 --external:webgpu \
        --outfile=".gpu/js/$(basename "$entry" .ts).mjs" --log-level=warning
    done
    [ -f .gpu/bench-ref.safetensors ] || node bin/unet.js bench --runs 1 --warmup 0 --layers none --reference .gpu/bench-ref.safetensors
    du -sh .gpu node_modules/webgpu/dist/linux-x64
    ;;
  run)
    out=${OUT:-out/gpu}; mkdir -p "$out"
    bash .gpu/enter.sh
    export PATH=/tmp/gpu-bin:$PATH
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader > "$out/gpu.txt" 2>&1 || true
    node .gpu/js/parity-fixtures.mjs 2>&1 | tee "$out/parity.txt"
    # per-layer tuning on this adapter, stored in a cache folder of our own, then benchmarked as 'measured'
    export WEBGPU_UNET_CACHE=/tmp/unet-cache
    node .gpu/js/tune-cli.mjs --size "${TUNE_SIZE:-256}" > "$out/tune.txt" 2> "$out/tune.log" || tail -5 "$out/tune.log"
    for t in ${TUNINGS:-auto portable measured}; do
      # shellcheck disable=SC2086 # BENCH_ARGS is a list of arguments
      node .gpu/js/bench-cli.mjs --no-torch --reference .gpu/bench-ref.safetensors --tuning "$t" --json ${BENCH_ARGS:-} > "$out/bench-$t.json" 2> "$out/bench-$t.log" || { tail -5 "$out/bench-$t.log"; continue; }
      node -e "const r=JSON.parse(require('fs').readFileSync('$out/bench-$t.json'));console.log('$t', r.adapter.description, JSON.stringify(r.tuning.conv2d));for(const c of r.configs)console.log(c.batch+'x'+c.size, c.skipped?'skipped':(c.medianMs.toFixed(1)+' ms median, first '+c.firstMs.toFixed(0)+' ms, '+c.gflops.toFixed(0)+' GFLOP/s, check '+JSON.stringify(c.check)))" | tee "$out/bench-$t.txt"
    done
    ;;
  *) echo "usage: bash bench/gpu-run.sh prepare|run" >&2; exit 2 ;;
esac
