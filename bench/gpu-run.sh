#!/usr/bin/env bash
# The benchmark on a lent GPU machine (a bare one: no node, maybe no Vulkan loader; its python3 has
# PyTorch with CUDA), prepared here and run there in one call. Everything it needs is in this project
# (bench/gpu/, tools/); nothing outside the checkout.
#
# Here, in the project root:
#   bash bench/gpu-run.sh prepare     # .gpu/: node, the Vulkan loader and GL dispatch packages, enter.sh
#                                     # (bench/gpu/pack.sh); the bench, tune, parity and peers scripts
#                                     # bundled to .gpu/js/*.mjs; the webgpu package (Dawn's linux-x64
#                                     # module) and ONNX Runtime's Node package (its JS and linux-x64
#                                     # library) as .gpu/*.tar.xz (26 MB instead of 80 raw)
# Then with the device tool: run with carry [".gpu"] (about 43 MB, plus 7 MB of checkout) and the command
#   bash bench/gpu-run.sh run
# which writes into $OUT (at most 8 files come back):
#   summary.txt   the one table: ours (f32, f16) vs ONNX Runtime WebGPU EP vs PyTorch CUDA (f32 with TF32
#                 off, TF32 on, fp16 channels_last), interleaved (bench/peers.ts), then `unet bench`'s
#                 GPU / throughput / e2e tables per tuning
#   gpu.txt       nvidia-smi, PyTorch, the adapter Dawn sees;   parity.txt  the committed fixtures there
#   tune.txt      `unet tune`;   bench-<tuning>.json, peers.json  the raw results;   log.txt  stderr
# PYTHON (python3), TUNE_SIZE (256), TUNINGS ("auto measured"), BENCH_ARGS and PEERS_ARGS change what runs;
# TORCH_DEVICE=cpu TORCH_VARIANTS=f32 with `inside` instead of `run` dry-runs it on a machine without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  prepare)
    bash bench/gpu/pack.sh
    mkdir -p .gpu/js
    for entry in bench/bench-cli.ts bench/tune-cli.ts bench/parity-fixtures.ts bench/peers.ts; do
      # webgpu stays external: the carried node_modules/webgpu holds Dawn's native module; so does
      # onnxruntime-node (unpacked there from .gpu/ort.tar.xz), which peers.ts imports at run time
      npx esbuild "$entry" --bundle --platform=node --format=esm --target=node20 --external:webgpu --external:onnxruntime-node \
        --outfile=".gpu/js/$(basename "$entry" .ts).mjs" --log-level=warning
    done
    # the device tool carries at most 64 MiB: dawn.node alone is 21 MB, 5 MB as xz
    pack() { local name=$1; shift; [ -f ".gpu/$name.tar.xz" ] || tar -cf - "$@" | xz -T2 -6 > ".gpu/$name.tar.xz"; }
    pack webgpu node_modules/webgpu/package.json node_modules/webgpu/index.js node_modules/webgpu/dist/linux-x64
    # no CUDA providers (the npm package has none): the WebGPU and CPU EPs are in libonnxruntime.so
    [ -d node_modules/onnxruntime-node ] && pack ort node_modules/onnxruntime-node/package.json \
      node_modules/onnxruntime-node/dist node_modules/onnxruntime-node/bin/napi-v6/linux/x64 \
      node_modules/onnxruntime-common/package.json node_modules/onnxruntime-common/dist
    du -sh .gpu
    ;;
  run)
    # enter.sh unpacks node and the Vulkan loader, prints the GPU and the adapter Dawn sees, points the
    # loader at the NVIDIA driver (VK_DRIVER_FILES) and runs the rest with that environment
    for f in .gpu/*.tar.xz; do xz -dc "$f" | tar -xf - -C .; done
    exec bash .gpu/enter.sh -- bash bench/gpu-run.sh inside
    ;;
  inside)
    out=${OUT:-out/gpu}; mkdir -p "$out"
    log="$out/log.txt"; : > "$log"
    py=${PYTHON:-python3} dev=${TORCH_DEVICE:-cuda}
    {
      echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}"
      nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader || true
      "$py" -c 'import torch; print("PyTorch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version(), torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA device")' || echo "no PyTorch at $py"
    } > "$out/gpu.txt" 2>&1
    cat "$out/gpu.txt"
    node .gpu/js/parity-fixtures.mjs 2>> "$log" | tee "$out/parity.txt" || true
    # per-layer tuning on this adapter, stored in a cache folder of our own, then benchmarked as 'measured'
    export WEBGPU_UNET_CACHE=/tmp/unet-cache
    node .gpu/js/tune-cli.mjs --size "${TUNE_SIZE:-256}" > "$out/tune.txt" 2>> "$log" || tail -5 "$log"
    # the one table first: every engine on the same inputs, interleaved run by run
    # shellcheck disable=SC2086 # PEERS_ARGS is a list of arguments
    node .gpu/js/peers.mjs --python "$py" --torch-device "$dev" --torch-variants "${TORCH_VARIANTS:-f32,tf32,fp16-cl}" --f16 --no-ort-cpu \
      --sizes 128,256,512 --batches 1,4 --json-file "$out/peers.json" ${PEERS_ARGS:-} > "$out/summary.txt" 2>> "$log" || { echo "peers failed:"; tail -5 "$log"; }
    for t in ${TUNINGS:-auto measured}; do
      # shellcheck disable=SC2086 # BENCH_ARGS is a list of arguments
      { echo; echo "== unet bench --tuning $t (PyTorch $dev f32 interleaved) =="; } >> "$out/summary.txt"
      node .gpu/js/bench-cli.mjs --python "$py" --torch-device "$dev" --tuning "$t" --f16 --json-file "$out/bench-$t.json" ${BENCH_ARGS:-} >> "$out/summary.txt" 2>> "$log" || { echo "bench $t failed:"; tail -5 "$log"; }
    done
    cat "$out/summary.txt"
    ;;
  *) echo "usage: bash bench/gpu-run.sh prepare|run (inside: what run runs under .gpu/enter.sh)" >&2; exit 2 ;;
esac
