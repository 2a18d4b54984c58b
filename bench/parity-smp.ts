// Per-encoder parity of smp Unets at full size: every ResNet / ResNeXt encoder and EfficientNet b0, b3, b5,
// b7 with smp's default decoder
// (256,128,64,32,16), 3 -> 1 sigmoid, random weights (BatchNorm far from identity), against our PyTorch
// re-implementation's float64 output (tools/smp_unet.py, checked against smp itself by check_smp.py),
// at 256x256 and at 200x152 (not multiples of 32: smp interpolates each decoder block to the skip's size).
//   node --import tsx bench/parity-smp.ts [DIR] [--algos default,direct,winograd2,winograd4,tiled] [--only ENC,...]
//   (DIR default .cache/smp-encoders; made on first use by tools/make_smp_fixtures.py --encoders DIR, ~1 GB;
//   needs Debian's python3-torch). --algos runs every conv with each algorithm the tuner may pick (where it
//   applies; 'default' = the adapter's default tuning for the model).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { adapterOf } from '../src/gpu/device.js';
import { type ConvAlgo, type Tuning, tuningFor } from '../src/compiler/tuning.js';
import { describeDevice, getDevice, loadModel, parseSafetensors, releaseGpu } from '../src/node.js';

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: { algos: { type: 'string', default: 'default' }, only: { type: 'string' } },
});
const DIR = positionals[0] ?? '.cache/smp-encoders';
const BOUND = 1e-4;
const ENCODERS = [
  'resnet18',
  'resnet34',
  'resnet50',
  'resnet101',
  'resnet152',
  'resnext50_32x4d',
  'resnext101_32x4d',
  'resnext101_32x8d',
  'efficientnet-b0',
  'efficientnet-b3',
  'efficientnet-b5',
  'efficientnet-b7',
].filter((e) => !opts.only || opts.only.split(',').includes(e));
const ALGOS = opts.algos!.split(',') as ('default' | ConvAlgo)[];

if (!ENCODERS.every((e) => existsSync(`${DIR}/${e}_256.io.safetensors`))) {
  const missing = ENCODERS.filter((e) => !existsSync(`${DIR}/${e}_256.io.safetensors`));
  console.error(`making the models: /usr/bin/python3 tools/make_smp_fixtures.py --encoders ${DIR} ${missing.map((e) => `--only ${e}_256`).join(' ')}`);
  execFileSync('/usr/bin/python3', ['tools/make_smp_fixtures.py', '--encoders', DIR, ...missing.flatMap((e) => ['--only', `${e}_256`])], { stdio: 'inherit' });
}

const device = await getDevice();
console.log(`webgpu-unet smp Unet parity on ${describeDevice(device).description}; bound ${BOUND}`);
console.log('encoder            algo        params   max |Δ| 256x256   max |Δ| 200x152   forward 256x256');
const base = tuningFor(device, adapterOf(device));
const tuningOf = (algo: 'default' | ConvAlgo): Tuning | undefined =>
  algo === 'default'
    ? undefined
    : { ...base, conv2d: algo === 'tiled' ? { tilePixels: 8, tileC4: 16, workgroupSize: 64, weights: 'load', algo } : { ...base.conv2d, algo } };
const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
let failed = 0;
for (const enc of ENCODERS)
  for (const algo of ALGOS) {
    const io = parseSafetensors(readFileSync(`${DIR}/${enc}_256.io.safetensors`), enc);
    const model = await loadModel(device, `${DIR}/${enc}_256`, { tuning: tuningOf(algo) });
    const t = (k: string) => ({ data: io.getF32(k), shape: io.tensors.get(k)!.shape });
    const d256 = maxAbsDiff((await model.run(t('input'))).data, io.getF32('output'));
    const t0 = performance.now();
    await model.run(t('input'));
    const ms = performance.now() - t0;
    const dOdd = maxAbsDiff((await model.run(t('input_odd'))).data, io.getF32('output_odd'));
    const ok = d256 <= BOUND && dOdd <= BOUND;
    if (!ok) failed++;
    console.log(
      `${enc.padEnd(18)} ${(algo === 'default' ? `(${model.info.tuning})` : algo).padEnd(10)} ${(model.info.parameters / 1e6).toFixed(1).padStart(5)} M  ${d256.toExponential(2).padStart(16)}  ${dOdd.toExponential(2).padStart(16)}  ${ms.toFixed(0).padStart(12)} ms${ok ? '' : '  OVER THE BOUND'}`,
    );
    model.dispose();
  }
device.destroy();
releaseGpu();
process.exit(failed ? 1 : 0);
