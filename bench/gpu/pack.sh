#!/usr/bin/env bash
# Run here, in a checkout (not on the GPU machine): fills .gpu/ (git-ignored) with what a bare GPU machine
# lacks to run the engine in Node: an xz copy of this machine's node binary, the Vulkan loader package,
# the vendor-neutral GL dispatch packages the NVIDIA Vulkan driver loads (libGLX_nvidia needs them), and
# enter.sh, which unpacks them there. bench/gpu-run.sh prepare calls it. Downloads with apt-get (amd64),
# into a private list directory: the machine's apt state is not touched.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=bench/gpu
mkdir -p .gpu
[ -f .gpu/node.xz ] || xz -T2 -6 -c "$(readlink -f "$(command -v node)")" > .gpu/node.xz
if ! ls .gpu/libvulkan1_*.deb >/dev/null 2>&1 || ! ls .gpu/gl/*.deb >/dev/null 2>&1; then
  lists=$(mktemp -d); trap 'rm -rf "$lists"' EXIT
  mkdir -p "$lists/partial" .gpu/gl
  # APT::Sandbox::User=root: no "download is performed unsandboxed" warning for folders _apt cannot write
  apt=(apt-get -oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists" -oAPT::Sandbox::User=root)
  "${apt[@]}" update >/dev/null
  (cd .gpu && "${apt[@]}" download libvulkan1 >/dev/null)
  (cd .gpu/gl && "${apt[@]}" download libglvnd0 libglx0 libgl1 libegl1 >/dev/null)
fi
cp "$here/enter.sh" .gpu/enter.sh
du -sh .gpu
