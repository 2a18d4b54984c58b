// The whole U-Net against PyTorch: fixtures made by tools/make_fixtures.py (weights with BatchNorm
// statistics far from identity, eval mode; reference computed in float64 and stored as f32).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { loadModel } from '../src/load.js';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { testDevice } from './helpers.js';
import { skip } from './skip.js';

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
Parity.before(async (ctx) => {
  ctx.device = await testDevice();
});
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
      if (!(d <= maxAbs)) {
        maxAbs = d;
        worst = i;
      }
    }
    assert.ok(maxAbs <= MAX_ABS, `${name} (${f.metadata.config}): max |diff| ${maxAbs} at ${worst} (gpu ${y.data[worst]}, torch ${f.output.data[worst]})`);
    model.dispose();
    console.log(`  ${name}: max |gpu - torch| = ${maxAbs.toExponential(2)}`);
  });
}

// ---

// precision 'f16': weights and activations stored as f16, sums in f32. Each stored value carries a
// relative error up to 2^-11 (4.9e-4) and these fixtures' heads amplify logits ~40x, so the bound on the
// sigmoid output is 1e-2; thresholded masks must still agree on >= 99.5% of pixels.
const F16_MAX_ABS = 1e-2;
const F16_MIN_AGREEMENT = 0.995;
for (const name of ['b2_rgb', 'nonsquare_f6', 'f5_odd']) {
  Parity(`${name} precision f16: max |gpu - torch| <= ${F16_MAX_ABS}, masks agree >= ${F16_MIN_AGREEMENT * 100}%`, async ({ device }) => {
    if (!device.features.has('shader-f16')) return skip(`"${name} f16": the adapter has no shader-f16`);
    const f = readFixture(name);
    const model = await loadModel(device, `test/fixtures/${name}.weights.safetensors`, { precision: 'f16' });
    assert.is(model.info.precision, 'f16');
    const y = await model.run(f.input);
    let maxAbs = 0;
    let agree = 0;
    for (let i = 0; i < y.data.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(y.data[i] - f.output.data[i]));
      agree += Number(y.data[i] > 0.5 === f.output.data[i] > 0.5);
    }
    const agreement = agree / y.data.length;
    assert.ok(maxAbs <= F16_MAX_ABS && agreement >= F16_MIN_AGREEMENT, `${name} f16: max |diff| ${maxAbs}, agreement ${agreement}`);
    console.log(`  ${name} f16: max |gpu - torch| = ${maxAbs.toExponential(2)}, masks agree ${(agreement * 100).toFixed(3)}%`);
    model.dispose();
  });
}

// ---

// Inputs of any size: the engine pads (centred, to multiples of 16) on the GPU and crops the output;
// the reference is PyTorch on the padded input, cropped (tools/make_fixtures.py, PAD_CASES).
Parity('padding: reflect 27x41, zero 2x20x33, reflect folded 5x7 match PyTorch on the padded input, cropped', async ({ device }) => {
  const path = 'test/fixtures/pad.io.safetensors';
  const io = parseSafetensors(readFileSync(path), path);
  const cases = JSON.parse(io.metadata.pad_cases) as Record<string, { mode: 'zero' | 'reflect' }>;
  const model = await loadModel(device, 'test/fixtures/b2_rgb.weights.safetensors');
  for (const [name, c] of Object.entries(cases)) {
    const x = { data: io.getF32(`input_${name}`), shape: io.tensors.get(`input_${name}`)!.shape };
    const want = io.getF32(`output_${name}`);
    const y = await model.run(x, { pad: c.mode });
    assert.equal(y.shape, io.tensors.get(`output_${name}`)!.shape, `${name}: output shape`);
    const maxAbs = y.data.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0);
    assert.ok(maxAbs <= MAX_ABS, `pad ${name} (${c.mode}, [${x.shape}]): max |diff| ${maxAbs}`);
    console.log(`  pad ${name} [${x.shape}] ${c.mode}: max |gpu - torch| = ${maxAbs.toExponential(2)}`);
  }
  model.dispose();
});

Parity.run();
