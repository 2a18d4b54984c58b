// The whole U-Net against PyTorch: fixtures made by tools/make_fixtures.py (weights with BatchNorm
// statistics far from identity, eval mode; reference computed in float64 and stored as f32).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { loadModel } from '../src/model.js';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { testDevice } from './helpers.js';

// The bound on the sigmoid output. f32 accumulation over up to 3*3*64 terms per conv through
// 23 layers stays around 1e-6 on these small models.
const MAX_ABS = 2e-5;
const FIXTURES = ['b2_rgb', 'gray', 'out2', 'nonsquare_f6', 'f5_odd'];
const HINT = 'run `/usr/bin/python3 tools/make_fixtures.py` to regenerate';

function readFixture(name: string) {
  const path = `test/fixtures/${name}.io.safetensors`;
  if (!existsSync(path)) throw new Error(`${path} is missing: ${HINT}`);
  const io = parseSafetensors(readFileSync(path), path);
  if (io.metadata.format_version !== '1') throw new Error(`${path}: format_version ${io.metadata.format_version}, expected 1: ${HINT}`);
  const shape = (n: string) => io.tensors.get(n)!.shape;
  return { input: { data: io.getF32('input'), shape: shape('input') }, output: { data: io.getF32('output'), shape: shape('output') }, metadata: io.metadata };
}

const Parity = suite<{ device: GPUDevice }>('U-Net vs PyTorch');
Parity.before(async (ctx) => { ctx.device = await testDevice(); });
Parity.after((ctx) => ctx.device.destroy());

for (const name of FIXTURES) {
  Parity(`${name}: max |gpu - torch| <= ${MAX_ABS}`, async ({ device }) => {
    const f = readFixture(name);
    const model = await loadModel(device, `test/fixtures/${name}.weights.safetensors`);
    const y = await model.run(f.input);
    assert.equal(y.shape, f.output.shape, `${name}: output shape`);
    let maxAbs = 0;
    let worst = 0;
    for (let i = 0; i < y.data.length; i++) {
      const d = Math.abs(y.data[i] - f.output.data[i]);
      if (!(d <= maxAbs)) { maxAbs = d; worst = i; }
    }
    assert.ok(maxAbs <= MAX_ABS, `${name} (${f.metadata.config}): max |diff| ${maxAbs} at ${worst} (gpu ${y.data[worst]}, torch ${f.output.data[worst]})`);
    model.dispose();
    console.log(`  ${name}: max |gpu - torch| = ${maxAbs.toExponential(2)}`);
  });
}

Parity.run();
