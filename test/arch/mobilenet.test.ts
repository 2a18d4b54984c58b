// smp Unets with the mobilenet_v2 encoder (torchvision's MobileNetV2: inverted residuals, ReLU6) against
// PyTorch: fixtures by tools/make_smp_fixtures.py with tools/smp_mobilenet.py, which tools/check_smp.py
// runs through smp's own source (outputs equal to 0 in float64). Within 1e-4 * max(1, max |ref|) of the
// float64 outputs, at 256x256 and at 200x152 (not multiples of 32); from config.json, from a bare
// state_dict, and from a .pth through `unet convert`.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../src/load.js';
import { parseSafetensors } from '../../src/weights/safetensors.js';
import { tempDirs, unet } from '../cliRun.js';
import { testDevice } from '../helpers.js';
import { skip } from '../skip.js';
import { SMP_DIR, expectClose, maskAgreement, savePth, smpFixture } from './smpFixture.js';

const CASES = {
  mnv2_d5_256: { depth: 5, decoderChannels: [16, 8, 8, 4, 4], inChannels: 1, classes: 1, activation: 'sigmoid', attention: null, upsampling: 'nearest' },
  mnv2_d3_in4_scse: { depth: 3, decoderChannels: [32, 16, 16], inChannels: 4, classes: 3, activation: 'softmax', attention: 'scse', upsampling: 'bilinear' },
  mnv2_d1_tanh: { depth: 1, decoderChannels: [8], inChannels: 3, classes: 1, activation: 'tanh', attention: null, upsampling: 'nearest' },
} as const;

const Mnv2 = suite<{ device: GPUDevice }>('smp Unet mobilenet_v2 vs PyTorch');
Mnv2.before(async (ctx) => {
  ctx.device = await testDevice();
});
Mnv2.after((ctx) => ctx.device.destroy());

for (const [name, want] of Object.entries(CASES)) {
  Mnv2(`${name}: depth ${want.depth}, in_channels ${want.inChannels}, ${want.activation}, folder with config.json`, async ({ device }) => {
    const f = smpFixture(name, `${SMP_DIR}/${name}/model.safetensors`);
    const model = await loadModel(device, `${SMP_DIR}/${name}`);
    const i = model.info;
    assert.equal(
      {
        depth: i.depth,
        decoderChannels: i.decoderChannels,
        inChannels: i.inChannels,
        classes: i.classes,
        activation: i.activation,
        attention: i.attention,
        upsampling: i.upsampling,
      },
      want,
    );
    assert.equal([i.architecture, i.encoder, i.inferred, i.preprocessing], ['smp-unet', 'mobilenet_v2', [], { kind: 'imagenet' }]);
    // the modules past the depth are in the state_dict, accepted and named
    if (want.depth < 5)
      assert.ok(
        i.unused.some((u) => u.includes('encoder.features.18.*')),
        i.unused.join('; '),
      );
    for (const pair of [f, ...(f.odd ? [f.odd] : [])]) {
      const y = await model.run(pair.input);
      assert.equal(y.shape, pair.output.shape);
      expectClose(`${name} [${pair.input.shape}]`, y.data, pair.output.data);
    }
    model.dispose();
  });
}

Mnv2('mnv2_d5_256 precision f16: f16 storage (ReLU6 and the depthwise convs included), within 0.1 of PyTorch, masks agree on >= 99%', async ({ device }) => {
  if (!device.features.has('shader-f16')) return skip('the adapter has no shader-f16');
  const f = smpFixture('mnv2_d5_256', `${SMP_DIR}/mnv2_d5_256/model.safetensors`);
  const model = await loadModel(device, `${SMP_DIR}/mnv2_d5_256`, { precision: 'f16' });
  const { maxAbs, frac } = maskAgreement((await model.run(f.input)).data, f.output.data);
  console.log(`  mnv2_d5_256 f16: max |gpu - torch| = ${maxAbs.toExponential(2)}, masks agree ${(frac * 100).toFixed(3)}%`);
  assert.ok(maxAbs <= 0.1 && frac >= 0.99, `max ${maxAbs}, agreement ${frac}`);
  model.dispose();
});

const BARE = `${SMP_DIR}/bare_mnv2_d4.safetensors`;

Mnv2(
  'bare_mnv2_d4: a state_dict without config: mobilenet_v2 told by encoder.features.*, depth, decoder, in_channels and classes inferred',
  async ({ device }) => {
    const f = smpFixture('bare_mnv2_d4', BARE);
    const model = await loadModel(device, BARE);
    const i = model.info;
    assert.equal(
      [i.encoder, i.depth, i.decoderChannels, i.attention, i.inChannels, i.classes, i.activation],
      ['mobilenet_v2', 4, [16, 8, 8, 8], null, 3, 2, 'identity'],
    );
    assert.ok(i.inferred.includes('encoder') && i.inferred.includes('activation'), i.inferred.join(', '));
    expectClose('bare_mnv2_d4', (await model.run(f.input)).data, f.output.data);
    model.dispose();
  },
);

const tmp = tempDirs('unet-mnv2-');
Mnv2.after(tmp.cleanup);

Mnv2('bare_mnv2_d4 as a .pth (torch.save of the state_dict) -> unet convert -> unet infer equals PyTorch', () => {
  const f = smpFixture('bare_mnv2_d4', BARE);
  const d = tmp.dir();
  const pth = join(d, 'mnv2.pth');
  // the .pth a user has: torch.save(model.state_dict()), made here from the regenerated weights
  const why = savePth(BARE, pth);
  if (why) return skip(why);
  const w = join(d, 'mnv2.safetensors');
  const r = unet('convert', pth, '-o', w);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /mobilenet_v2/);
  const out = join(d, 'y.safetensors');
  const r2 = unet('infer', '--weights', w, '--input', `${SMP_DIR}/bare_mnv2_d4.io.safetensors`, '--out', out);
  assert.is(r2.code, 0, r2.stderr);
  expectClose('bare_mnv2_d4 via .pth', parseSafetensors(readFileSync(out)).getF32('output'), f.output.data);
});

Mnv2.run();
