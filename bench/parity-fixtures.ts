// The committed PyTorch fixtures (test/fixtures) through the engine on whatever adapter this machine has:
// max |engine - PyTorch| per fixture, against the tests' bound. For adapters the tests do not run on
// (a lent GPU: see bench/gpu-run.sh).
import { readFileSync } from 'node:fs';
import { describeDevice, getDevice, loadModel, parseSafetensors, releaseGpu } from '../src/node.js';

const BOUND = 2e-5;
const device = await getDevice();
console.log(`adapter: ${describeDevice(device).description}`);
let ok = true;
const check = async (label: string, weights: string, ioPath: string, inputName: string, outputName: string, pad?: 'zero' | 'reflect') => {
  const io = parseSafetensors(readFileSync(ioPath), ioPath);
  const model = await loadModel(device, weights);
  const y = await model.run({ data: io.getF32(inputName), shape: io.tensors.get(inputName)!.shape }, { pad });
  const want = io.getF32(outputName);
  const maxAbs = y.data.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0);
  ok &&= maxAbs <= BOUND;
  console.log(`${label.padEnd(14)} max |engine - PyTorch| = ${maxAbs.toExponential(2)} ${maxAbs <= BOUND ? 'ok' : 'FAIL'}`);
  model.dispose();
};
for (const name of ['b2_rgb', 'gray', 'out2', 'nonsquare_f6', 'f5_odd']) {
  await check(name, `test/fixtures/${name}.weights.safetensors`, `test/fixtures/${name}.io.safetensors`, 'input', 'output');
}
for (const [name, pad] of [
  ['reflect', 'reflect'],
  ['zero', 'zero'],
  ['fold', 'reflect'],
] as const) {
  await check(`pad ${name}`, 'test/fixtures/b2_rgb.weights.safetensors', 'test/fixtures/pad.io.safetensors', `input_${name}`, `output_${name}`, pad);
}
device.destroy();
releaseGpu();
process.exit(ok ? 0 : 1);
