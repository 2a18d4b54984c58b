// smp Unet models (ResNet / ResNeXt encoders) against PyTorch: fixtures made by
// tools/make_smp_fixtures.py with tools/smp_unet.py, our re-implementation of smp's Unet, which
// tools/check_smp.py checks against smp itself. The encoders have their real widths, so the weights
// (45-95 MB each) are regenerated bit-exactly from the script instead of being committed: see
// test/fixtures/smp/README.md. This suite checks the sha256 the io file records before trusting them.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { loadModel } from '../../src/load.js';
import { parseSafetensors, writeSafetensors } from '../../src/weights/safetensors.js';
import { testDevice } from '../helpers.js';
import { skip } from '../skip.js';
import { SMP_DIR, maskAgreement, smpFixture as fixture } from './smpFixture.js';

const DIR = SMP_DIR;

/** name -> [expected info fields, max |gpu - torch|]. Logits (identity) and log-probabilities are
 *  unbounded, so their bound is relative to the output's spread (see check below). */
const CASES: Record<string, { encoder: string; depth: number; activation: string; classes: number; attention: string | null; upsampling: string }> = {
  r18_d5_sigmoid: { encoder: 'resnet18', depth: 5, activation: 'sigmoid', classes: 1, attention: null, upsampling: 'nearest' },
  r34_d4_scse_bilinear: { encoder: 'resnet34', depth: 4, activation: 'softmax', classes: 3, attention: 'scse', upsampling: 'bilinear' },
  r50_d3_nonorm: { encoder: 'resnet50', depth: 3, activation: 'logsoftmax', classes: 2, attention: null, upsampling: 'nearest' },
  rx50_d5_identity: { encoder: 'resnext50_32x4d', depth: 5, activation: 'identity', classes: 1, attention: null, upsampling: 'nearest' },
  r18_odd_tanh: { encoder: 'resnet18', depth: 5, activation: 'tanh', classes: 1, attention: null, upsampling: 'nearest' },
  r18_d4_legacy_cfg: { encoder: 'resnet18', depth: 4, activation: 'softmax', classes: 2, attention: null, upsampling: 'bilinear' },
  eb0_d5_sigmoid: { encoder: 'efficientnet-b0', depth: 5, activation: 'sigmoid', classes: 1, attention: null, upsampling: 'nearest' },
  eb1_d3_scse_softmax: { encoder: 'efficientnet-b1', depth: 3, activation: 'softmax', classes: 3, attention: 'scse', upsampling: 'bilinear' },
  eb3_odd_identity: { encoder: 'efficientnet-b3', depth: 4, activation: 'identity', classes: 2, attention: null, upsampling: 'nearest' },
};
/** f32 through up to 50 residual blocks against a float64 reference: outputs in [0, 1] or [-1, 1]
 *  within 1e-4 absolute; logits and log-probabilities within 1e-4 of their own scale. */
const MAX_ABS = 1e-4;

function compare(name: string, got: Float32Array, want: Float32Array, scale: number): number {
  let maxAbs = 0;
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= maxAbs)) [maxAbs, worst] = [d, i];
  }
  assert.ok(maxAbs <= MAX_ABS * scale, `${name}: max |diff| ${maxAbs} at ${worst} (gpu ${got[worst]}, torch ${want[worst]}), bound ${MAX_ABS * scale}`);
  return maxAbs;
}

const spread = (a: Float32Array) => Math.max(1, ...Array.from(a, Math.abs));

const Smp = suite<{ device: GPUDevice }>('smp Unet vs PyTorch');
Smp.before(async (ctx) => {
  ctx.device = await testDevice();
});
Smp.after((ctx) => ctx.device.destroy());

for (const [name, want] of Object.entries(CASES)) {
  Smp(`${name}: ${want.encoder} depth ${want.depth} ${want.activation}, folder with config.json`, async ({ device }) => {
    const f = fixture(name, `${DIR}/${name}/model.safetensors`);
    const model = await loadModel(device, `${DIR}/${name}`);
    const i = model.info;
    assert.equal({ encoder: i.encoder, depth: i.depth, activation: i.activation, classes: i.classes, attention: i.attention, upsampling: i.upsampling }, want);
    assert.is(i.architecture, 'smp-unet');
    assert.equal(i.preprocessing, { kind: 'imagenet' });
    assert.equal(i.inferred, []);
    const y = await model.run(f.input);
    assert.equal(y.shape, f.output.shape);
    const d = compare(name, y.data, f.output.data, spread(f.output.data));
    console.log(`  ${name} [${f.input.shape}]: max |gpu - torch| = ${d.toExponential(2)}`);
    model.dispose();
  });
}

Smp('bare_r18_d4_scse: a state_dict without config: encoder, depth, decoder, scse, classes inferred; activation defaults to identity', async ({ device }) => {
  const path = `${DIR}/bare_r18_d4_scse.safetensors`;
  const f = fixture('bare_r18_d4_scse', path);
  const model = await loadModel(device, path);
  const i = model.info;
  assert.equal(
    [i.encoder, i.depth, i.decoderChannels, i.attention, i.inChannels, i.classes, i.activation],
    ['resnet18', 4, [32, 16, 16, 16], 'scse', 2, 2, 'identity'],
  );
  assert.ok(i.inferred.includes('encoder') && i.inferred.includes('activation'));
  const y = await model.run(f.input);
  const d = compare('bare_r18_d4_scse', y.data, f.output.data, spread(f.output.data));
  console.log(`  bare_r18_d4_scse [${f.input.shape}]: max |gpu - torch| = ${d.toExponential(2)}`);
  // scse pools over the whole image: a tiled run says so, once in info.warnings
  const tiled = await model.run(f.input, { tile: { roi: 32, overlap: 0.25 } });
  assert.match(tiled.tiling?.warning ?? '', /pools over the whole image/);
  await model.run(f.input, { tile: { roi: 32, overlap: 0.25 } });
  assert.is(model.info.warnings.filter((w) => /pools over the whole image/.test(w)).length, 1);
  // { activation } overrides: sigmoid of the same logits
  const sig = await loadModel(device, path, { activation: 'sigmoid' });
  assert.is(sig.info.activation, 'sigmoid');
  assert.not.ok(sig.info.inferred.includes('activation'));
  const s = await sig.run(f.input);
  compare(
    'bare_r18_d4_scse sigmoid',
    s.data,
    f.output.data.map((v) => 1 / (1 + Math.exp(-v))),
    1,
  );
  model.dispose();
  sig.dispose();
});

Smp('EfficientNet: the variant inferred from a bare state_dict; unused head tensors accepted and named; other unexpected keys refused', async ({ device }) => {
  const path = `${DIR}/eb0_d5_sigmoid/model.safetensors`;
  const f = fixture('eb0_d5_sigmoid', path);
  const model = await loadModel(device, readFileSync(path), { activation: 'sigmoid' });
  assert.equal([model.info.encoder, model.info.depth, model.info.decoderChannels], ['efficientnet-b0', 5, [16, 8, 8, 4, 4]]);
  assert.ok(
    model.info.unused.some((u) => u.includes('encoder._conv_head.*')),
    model.info.unused.join('; '),
  );
  compare('eb0 bare', (await model.run(f.input)).data, f.output.data, 1);
  model.dispose();
  // a key smp would not have is still an error, beside the accepted head
  const st = parseSafetensors(readFileSync(path));
  const keys = [...st.tensors.keys()];
  const extra = {
    ...Object.fromEntries(
      keys.map((k) => [k, { shape: [...st.tensors.get(k)!.shape], data: new Float32Array(st.tensors.get(k)!.shape.reduce((a, b) => a * b, 1)) }]),
    ),
    'encoder._fc.weight': { shape: [2], data: new Float32Array(2) },
  };
  const bad = writeSafetensors(Object.fromEntries(Object.entries(extra).filter(([k]) => !k.endsWith('num_batches_tracked'))));
  await loadModel(device, { weights: bad, config: readFileSync(`${DIR}/eb0_d5_sigmoid/config.json`, 'utf8'), name: 'extra.safetensors' }).then(
    () => assert.unreachable('an unexpected key must be refused'),
    (e: Error) => assert.match(e.message, /unexpected "encoder\._fc\.weight"/),
  );
});

Smp('r18_d5_sigmoid precision f16: f16 storage, f32 sums, within 3e-2 of PyTorch, masks agree on >= 99%', async ({ device }) => {
  if (!device.features.has('shader-f16')) return skip('the adapter has no shader-f16');
  const f = fixture('r18_d5_sigmoid', `${DIR}/r18_d5_sigmoid/model.safetensors`);
  const model = await loadModel(device, `${DIR}/r18_d5_sigmoid`, { precision: 'f16' });
  const { maxAbs, frac } = maskAgreement((await model.run(f.input)).data, f.output.data);
  console.log(`  r18_d5_sigmoid f16: max |gpu - torch| = ${maxAbs.toExponential(2)}, masks agree ${(frac * 100).toFixed(3)}%`);
  assert.ok(maxAbs <= 3e-2 && frac >= 0.99, `max ${maxAbs}, agreement ${frac}`);
  model.dispose();
});

Smp('r18_odd_tanh in sliding windows (roi 32, overlap 0.5): the same shape, finite, close to one pass away from window edges', async ({ device }) => {
  const f = fixture('r18_odd_tanh', `${DIR}/r18_odd_tanh/model.safetensors`);
  const model = await loadModel(device, `${DIR}/r18_odd_tanh`);
  const whole = await model.run(f.input);
  const tiled = await model.run(f.input, { tile: { roi: 32, overlap: 0.5, blend: 'gaussian' } });
  assert.equal(tiled.shape, whole.shape);
  assert.ok(tiled.tiling && tiled.tiling.windows > 1, JSON.stringify(tiled.tiling));
  assert.is(tiled.tiling!.warning, undefined, 'no global pooling in this model: no warning');
  let mean = 0;
  for (let i = 0; i < whole.data.length; i++) {
    assert.ok(Number.isFinite(tiled.data[i]));
    mean += Math.abs(tiled.data[i] - whole.data[i]) / whole.data.length;
  }
  // a ResNet-34 encoder sees far more than 32 pixels: windows are an approximation (see README)
  console.log(`  r18_odd_tanh tiled: ${tiled.tiling!.windows} windows, mean |tiled - one pass| ${mean.toExponential(2)}`);
  assert.ok(mean < 0.5, `mean ${mean}`);
  model.dispose();
});

Smp.run();
