// Full-size parity and forward time: the brain-MRI U-Net shape (init_features 32, 3 -> 1, 256x256) with
// random weights (BatchNorm far from identity), against PyTorch's float64 reference.
//   npm run parity:full        (makes the model with tools/make_fixtures.py --full on first use; needs
//                               Debian's python3-torch: bash scripts/setup-system.sh --torch)
// Prints max |gpu - torch| on a random input and on the real brain-MRI slice (when the fixture has it),
// and the forward time: median and p90 of RUNS after WARMUP warm-up runs (upload and readback included).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describeDevice, getDevice, loadModel, parseSafetensors, releaseGpu } from '../src/node.js';

const DIR = '.cache/full';
const IMAGE = '../shared/data/TCGA_CS_4944.png';
const BOUND = 1e-4;
const WARMUP = 2;
const RUNS = 5;

const weights = `${DIR}/full256.weights.safetensors`;
const ioPath = `${DIR}/full256.io.safetensors`;
if (!existsSync(weights) || !existsSync(ioPath)) {
  const args = ['tools/make_fixtures.py', '--full', DIR, ...(existsSync(IMAGE) ? ['--image', IMAGE] : [])];
  console.error(`making the full-size model: /usr/bin/python3 ${args.join(' ')}`);
  try {
    execFileSync('/usr/bin/python3', args, { stdio: 'inherit' });
  } catch {
    console.error('could not run PyTorch: install it with `bash scripts/setup-system.sh --torch` (Debian python3-torch)');
    process.exit(1);
  }
}

const device = await getDevice();
const adapter = describeDevice(device);
const io = parseSafetensors(readFileSync(ioPath), ioPath);
const model = await loadModel(device, weights);
const x = { data: io.getF32('input'), shape: io.tensors.get('input')!.shape };

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

let t0 = performance.now();
const first = await model.run(x);
const firstMs = performance.now() - t0;
const results: { input: string; maxAbs: number }[] = [{ input: 'random input', maxAbs: maxAbsDiff(first.data, io.getF32('output')) }];
if (io.tensors.has('input_mri')) {
  const y = await model.run({ data: io.getF32('input_mri'), shape: io.tensors.get('input_mri')!.shape });
  results.push({ input: 'brain-MRI slice', maxAbs: maxAbsDiff(y.data, io.getF32('output_mri')) });
}
for (let i = 0; i < WARMUP; i++) await model.run(x);
const times: number[] = [];
for (let i = 0; i < RUNS; i++) {
  t0 = performance.now();
  await model.run(x);
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
const plan = model.plan(x.shape);
const gflop = plan.steps.reduce((s, st) => s + st.flops, 0) / 1e9;

console.log(`adapter: ${adapter.description || adapter.vendor} (${adapter.architecture})`);
console.log(
  `model: init_features ${model.info.features}, ${model.info.inChannels} -> ${model.info.outChannels}, ${model.info.parameters} parameters, input [${x.shape}]`,
);
for (const r of results) console.log(`${r.input}: max |gpu - torch| = ${r.maxAbs.toExponential(2)} (bound ${BOUND}) ${r.maxAbs <= BOUND ? 'ok' : 'FAIL'}`);
console.log(`first run (compile included): ${firstMs.toFixed(0)} ms`);
console.log(
  `forward: median ${times[RUNS >> 1].toFixed(0)} ms, p90 ${times[Math.min(RUNS - 1, Math.ceil(RUNS * 0.9) - 1)].toFixed(0)} ms over ${RUNS} runs after ${WARMUP} warm-ups; ` +
    `${gflop.toFixed(1)} GFLOP -> ${(gflop / (times[RUNS >> 1] / 1000)).toFixed(1)} GFLOP/s`,
);
console.log(
  `memory: weights ${(model.info.weightBytes / 2 ** 20).toFixed(1)} MiB, activation arena ${(plan.memory.arenaBytes / 2 ** 20).toFixed(1)} MiB (${(plan.memory.unsharedBytes / 2 ** 20).toFixed(1)} MiB without reuse)`,
);
model.dispose();
device.destroy();
releaseGpu();
process.exit(results.every((r) => r.maxAbs <= BOUND) ? 0 : 1);
