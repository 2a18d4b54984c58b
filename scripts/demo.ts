// `npm run demo`: what the engine does today, end to end on a fresh checkout.
//  1. `unet info`: the WebGPU adapter the engine runs on.
//  2. `unet infer` of each bundled PyTorch fixture (test/fixtures), then its max error vs PyTorch's output.
// The full-size brain-MRI model (init_features 32, 256x256) is `npm run parity:full` (needs PyTorch).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { parseSafetensors } from '../src/weights/safetensors.js';

const FIXTURES = ['b2_rgb', 'gray', 'out2', 'nonsquare_f6', 'f5_odd'];
const BOUND = 2e-5;
const unet = (args: string[]) => execFileSync(process.execPath, ['bin/unet.js', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

console.log('$ unet info');
const info = JSON.parse(unet(['info', '--json']));
console.log(`adapter: ${info.description || info.vendor} (${info.architecture || 'unknown architecture'})`);
console.log(`features: ${info.features.join(' ')}\n`);

mkdirSync('out', { recursive: true });
let ok = true;
for (const name of FIXTURES) {
  const args = ['infer', '--weights', `test/fixtures/${name}.weights.safetensors`, '--input', `test/fixtures/${name}.io.safetensors`, '--out', `out/${name}.output.safetensors`];
  console.log(`$ unet ${args.join(' ')}`);
  let stderr = '';
  try {
    execFileSync(process.execPath, ['bin/unet.js', ...args], { encoding: 'utf8', stdio: ['ignore', 'inherit', 'pipe'] });
  } catch (e) {
    stderr = String((e as { stderr?: string }).stderr ?? e);
    console.log(stderr.trim());
    ok = false;
    continue;
  }
  const got = parseSafetensors(readFileSync(`out/${name}.output.safetensors`)).getF32('output');
  const want = parseSafetensors(readFileSync(`test/fixtures/${name}.io.safetensors`)).getF32('output');
  const maxAbs = got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0);
  const agree = got.reduce((n, v, i) => n + Number(v > 0.5 === want[i] > 0.5), 0) / got.length;
  console.log(`  max |engine - PyTorch| = ${maxAbs.toExponential(2)} (bound ${BOUND}), mask agreement at 0.5: ${(agree * 100).toFixed(2)}%\n`);
  ok &&= maxAbs <= BOUND;
}
console.log(ok ? 'all outputs match PyTorch' : 'MISMATCH: see above');
process.exit(ok ? 0 : 1);
