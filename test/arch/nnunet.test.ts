// nnU-Net's networks against dynamic_network_architectures' own forward: every case of test/fixtures/nnunet
// (results folders written by tools/nnunet_networks.py, whose networks the upstream source built from the
// plans, with float64 reference logits) loaded as a user loads a results folder, and run on the fixture's
// input. f32 within 1e-4 * max(1, |ref|) (the bound); f16 storage reported, with a looser bound.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { loadModel } from '../../src/load.js';
import '../../src/node.js';
import { parseSafetensors } from '../../src/weights/safetensors.js';
import { testDevice } from '../helpers.js';
import { skip } from '../skip.js';

const DIR = 'test/fixtures/nnunet';
const HINT = 'regenerate with tools/nnunet_networks.py (see test/fixtures/nnunet/README.md)';
const CASES = existsSync(DIR)
  ? readdirSync(DIR)
      .filter((f) => f.endsWith('.io.safetensors'))
      .map((f) => f.replace(/\.io\.safetensors$/, ''))
  : [];

/** max |got - want| / max(1, |want|) */
function relMax(got: Float32Array, want: Float32Array): number {
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
  return Number.isNaN(m) ? Number.POSITIVE_INFINITY : m;
}

const Net = suite<{ device: GPUDevice }>('nnU-Net networks vs dynamic_network_architectures');
Net.before(async (ctx) => {
  ctx.device = await testDevice();
});
Net.after((ctx) => ctx.device.destroy());

Net('the fixtures are there', () => {
  assert.ok(CASES.length >= 8, `expected the 8 cases of ${DIR}, found ${CASES.length}: ${HINT}`);
});

for (const name of CASES) {
  Net(`${name}: fold 0, f32 and f16`, async ({ device }) => {
    const io = parseSafetensors(readFileSync(`${DIR}/${name}.io.safetensors`), name);
    const input = { data: io.getF32('input'), shape: io.tensors.get('input')!.shape as number[] };
    const want = io.getF32('output');
    const model = await loadModel(device, `${DIR}/${name}`, { nnunet: { folds: [0] } });
    try {
      assert.is(model.info.family, 'nnunet');
      assert.equal(model.info.dims ?? 2, input.shape.length - 2);
      const out = await model.run(input);
      assert.equal(out.shape, io.tensors.get('output')!.shape);
      const err = relMax(out.data, want);
      console.log(`  ${name} f32: max |Δ| / max(1, |ref|) = ${err.toExponential(2)}`);
      assert.ok(err <= 1e-4, `${name}: f32 max relative error ${err} > 1e-4`);
    } finally {
      model.dispose();
    }
    if (!device.features.has('shader-f16')) return skip(`${name} f16: the adapter has no shader-f16`);
    const half = await loadModel(device, `${DIR}/${name}`, { nnunet: { folds: [0] }, precision: 'f16' });
    try {
      const err = relMax((await half.run(input)).data, want);
      console.log(`  ${name} f16: max |Δ| / max(1, |ref|) = ${err.toExponential(2)}`);
      // f16 storage rounds every stored activation and weight to 11 bits; instance norms renormalize, so the
      // error stays near that rounding times the depth
      assert.ok(err <= 0.15, `${name}: f16 max relative error ${err}`);
    } finally {
      half.dispose();
    }
  });
}

Net('resenc3d_2folds: both folds average their logits, as nnU-Net does', async ({ device }) => {
  const name = 'resenc3d_2folds';
  if (!CASES.includes(name)) return assert.unreachable(`${name} is missing: ${HINT}`);
  const io = parseSafetensors(readFileSync(`${DIR}/${name}.io.safetensors`), name);
  const a = io.getF32('output');
  const b = io.getF32('output.fold_1');
  const want = a.map((v, i) => (v + b[i]) / 2);
  const model = await loadModel(device, `${DIR}/${name}`);
  try {
    assert.match(model.info.variant, /2 folds/);
    const out = await model.run({ data: io.getF32('input'), shape: io.tensors.get('input')!.shape as number[] });
    const err = relMax(out.data, want);
    console.log(`  ${name} folds 0+1: max |Δ| / max(1, |ref|) = ${err.toExponential(2)}`);
    assert.ok(err <= 1e-4, `ensemble max relative error ${err}`);
  } finally {
    model.dispose();
  }
});

Net.run();
