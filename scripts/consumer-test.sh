#!/usr/bin/env bash
# The package as a user gets it from npm: `npm pack` -> a fresh TypeScript app that installs the tarball ->
# strict `tsc` with TypeScript 5.6 (lib es2022, types node, no DOM, skipLibCheck off: the package's
# declarations must bring their own WebGPU types) -> the app loads the demo model through the library and
# segments demo samples (IoU vs the true masks), then the installed `unet` does the same from the shell.
# Needs the npm registry (typescript, @types/node, pngjs, and the package's own dependencies); nothing else.
# Ends with a uvu-style "Total / Passed / Skipped" block, so .ci/run counts it as one test.
#   bash scripts/consumer-test.sh        (npm run test:consumer)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d "${TMPDIR:-/tmp}/unet-consumer-XXXXXX")
passed=0
finish() {
  rm -rf "$work"
  printf '\n  Total:     1\n  Passed:    %s\n  Skipped:   0\n' "$passed"
}
trap finish EXIT
log() { echo "consumer-test: $*"; }

# 1. the tarball: `npm pack --json` must print JSON (the build it runs logs on stderr) and list what ships
log "npm pack (runs the build)"
npm pack --json --pack-destination "$work" > "$work/pack.json"
tarball=$(node -e '
  const [r] = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const files = r.files.map((f) => f.path);
  const problems = [];
  for (const want of ["LICENSE", "README.md", "bin/unet.js", "dist/node.js", "dist/index.d.ts", "dist/cli/main.js"])
    if (!files.includes(want)) problems.push(`missing ${want}`);
  for (const f of files) {
    if (f.startsWith("dist/web/") || f.endsWith(".mjs")) problems.push(`ships ${f}`);
    if (f.endsWith(".map")) problems.push(`ships the source map ${f}`);
  }
  if (problems.length) { console.error("consumer-test: package contents: " + problems.join("; ")); process.exit(1); }
  console.error(`consumer-test: ${r.filename}: ${files.length} files, ${(r.size / 1024).toFixed(0)} KiB packed, ${(r.unpackedSize / 1024).toFixed(0)} KiB unpacked`);
  console.log(r.filename);
' "$work/pack.json")

# 2. a fresh app with no WebGPU types of its own, type-checked two ways: TypeScript's default libraries
#    (DOM included) with every .d.ts checked, and a Node-only app (lib es2022, types node), where
#    skipLibCheck stays on because @webgpu/types itself names DOM types (BufferSource, VideoFrame, ...)
app="$work/app"
mkdir -p "$app"
cat > "$app/package.json" <<'EOF'
{ "name": "unet-consumer", "private": true, "type": "module" }
EOF
cat > "$app/tsconfig.json" <<'EOF'
{
  "compilerOptions": {
    "target": "es2022", "module": "nodenext", "moduleResolution": "nodenext", "types": ["node"],
    "strict": true, "skipLibCheck": false, "outDir": "out"
  },
  "files": ["main.ts"]
}
EOF
cat > "$app/tsconfig.node.json" <<'EOF'
{
  "extends": "./tsconfig.json",
  "compilerOptions": { "lib": ["es2022"], "skipLibCheck": true, "noEmit": true }
}
EOF
cat > "$app/main.ts" <<'EOF'
// Segments demo samples with the library's public API: node main.js MODEL SAMPLES_DIR TRUTH_DIR NAME...
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { getDevice, loadModel, releaseGpu, type Model, type RunResult } from 'webgpu-unet';

const [modelPath, samples, truth, ...names] = process.argv.slice(2);
const gray = (path: string) => {
  const png = PNG.sync.read(readFileSync(path));
  return { width: png.width, height: png.height, values: Float64Array.from({ length: png.width * png.height }, (_, i) => png.data[4 * i]) };
};

const device: GPUDevice = await getDevice(); // GPUDevice: a WebGPU type the package's declarations bring
const model: Model = await loadModel(device, modelPath);
let worst = 1;
for (const name of names) {
  const img = gray(join(samples, name));
  // the CLI's default preprocessing: z-score of the 0..255 values
  const n = img.values.length;
  const mean = img.values.reduce((s, v) => s + v, 0) / n;
  const std = Math.sqrt(img.values.reduce((s, v) => s + (v - mean) ** 2, 0) / n) || 1;
  const data = Float32Array.from(img.values, (v) => (v - mean) / std);
  const y: RunResult = await model.run({ data, shape: [1, 1, img.height, img.width] });
  const want = gray(join(truth, name)).values;
  let inter = 0;
  let union = 0;
  for (let i = 0; i < n; i++) {
    const a = y.data[i] > 0.5;
    const b = want[i] > 127;
    inter += Number(a && b);
    union += Number(a || b);
  }
  const iou = union ? inter / union : 1;
  worst = Math.min(worst, iou);
  console.log(`library: ${name} ${img.width}x${img.height} -> [${y.shape.join(', ')}], IoU vs truth ${iou.toFixed(4)}`);
}
model.dispose();
device.destroy();
releaseGpu();
if (!(worst > 0.9)) {
  console.error(`library: IoU ${worst.toFixed(4)} <= 0.9`);
  process.exit(1);
}
EOF
log "npm install $tarball typescript@~5.6 @types/node@20 pngjs@7 @types/pngjs"
(cd "$app" && npm install --no-audit --no-fund --loglevel=error "$work/$tarball" typescript@~5.6.0 @types/node@20 pngjs@7 @types/pngjs@6 >&2)
log "tsc $(cd "$app" && npx tsc --version): strict, default libraries, skipLibCheck false"
(cd "$app" && npx tsc -p tsconfig.json)
log "tsc: strict, lib es2022, types node (no DOM)"
(cd "$app" && npx tsc -p tsconfig.node.json)

# 3. run it, then the installed CLI on the same samples
samples=(nuclei_01.png nuclei_07.png) # 128x128 and a size that is not a multiple of 16
(cd "$app" && node out/main.js "$root/assets/demo/nuclei_unet.safetensors" "$root/assets/demo/samples" "$root/assets/demo/truth" "${samples[@]}")
unet="$app/node_modules/.bin/unet"
log "$("$unet" --version)"
mkdir -p "$work/in" "$work/masks"
for s in "${samples[@]}"; do cp "assets/demo/samples/$s" "$work/in/"; done
# stderr through a pipe, as on a terminal or in a pipeline: Dawn's limit-clamping lines must not show
{ "$unet" segment "$work/in" --weights assets/demo/nuclei_unet.safetensors --out-dir "$work/masks" 2>&1 >&3 | cat > "$work/segment.log"; } 3>&1 \
  || { cat "$work/segment.log" >&2; exit 1; }
if grep -q 'artificially reduced' "$work/segment.log"; then log "Dawn's limit-clamping warnings reached stderr:"; cat "$work/segment.log"; exit 1; fi
(cd "$app" && node --input-type=module -e '
  import { readFileSync } from "node:fs";
  import { PNG } from "pngjs";
  const [masks, truth, ...names] = process.argv.slice(1);
  const read = (p) => PNG.sync.read(readFileSync(p)).data.filter((_, i) => i % 4 === 0).map((v) => v > 127);
  let ok = true;
  for (const name of names) {
    const got = read(`${masks}/${name.replace(/\.png$/, "_mask.png")}`);
    const want = read(`${truth}/${name}`);
    let inter = 0, union = 0;
    for (let i = 0; i < got.length; i++) { inter += got[i] & want[i]; union += got[i] | want[i]; }
    const iou = union ? inter / union : 1;
    console.log(`unet segment: ${name} IoU vs truth ${iou.toFixed(4)}`);
    ok &&= iou > 0.9;
  }
  process.exit(ok ? 0 : 1);
' "$work/masks" "$root/assets/demo/truth" "${samples[@]}")
passed=1
log "ok"
