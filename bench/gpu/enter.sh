#!/usr/bin/env bash
# On the GPU machine, from the carried .gpu/ (bench/gpu/pack.sh put it there):
#   bash .gpu/enter.sh -- COMMAND...
# unpacks node to /tmp/gpu-bin and the Vulkan loader and GL dispatch libraries to / when they are missing,
# points the Vulkan loader at the NVIDIA driver, prints the GPU and the adapter Dawn sees (llvmpipe or
# none here means the NVIDIA ICD was not found), then runs COMMAND with node on the PATH.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p /tmp/gpu-bin
[ -x /tmp/gpu-bin/node ] || { xz -dc "$here/node.xz" > /tmp/gpu-bin/node; chmod +x /tmp/gpu-bin/node; }
export PATH=/tmp/gpu-bin:$PATH
unpack() { for f in "$@"; do dpkg -x "$f" /; done; ldconfig; }
ldconfig -p | grep -q libvulkan.so.1 || unpack "$here"/libvulkan1_*.deb
# the NVIDIA Vulkan ICD (libGLX_nvidia) fails to load without the GL vendor-neutral dispatch libraries
if [ -d "$here/gl" ] && ! ldconfig -p | grep -q libGLX.so.0; then unpack "$here"/gl/*.deb; fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
node --input-type=module -e "
  import { create } from 'webgpu';
  const a = await create([]).requestAdapter({ powerPreference: 'high-performance' });
  console.log('adapter:', a ? JSON.stringify({ vendor: a.info.vendor, architecture: a.info.architecture, description: a.info.description }) : 'none');
  if (a) console.log('features:', [...a.features].sort().join(' '));
  process.exit(0);
" || true
if [ "${1:-}" = "--" ]; then shift; fi
if [ $# -gt 0 ]; then exec "$@"; fi
