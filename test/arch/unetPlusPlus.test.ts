// smp UnetPlusPlus models (the nested decoder grid, decoder.blocks.x_{d}_{l}) against PyTorch: fixtures by
// tools/make_smp_fixtures.py with tools/smp_unet.py's UnetPlusPlus, which tools/check_smp.py runs through
// smp's own source. Within 1e-4 * max(1, max |ref|) of the float64 outputs, at 256x256 and at 200x152 (not
// a multiple of 32: smp takes multiples of 2^depth, 8 at depth 3), and at 200x152 on depth 5, which smp
// refuses and the engine pads (centred, reflect) to 224x160 and crops back: there the reference is the model
// on the padded input, cropped. From config.json (_model_class "UnetPlusPlus"), from a bare state_dict, and
// from a .pth through `unet convert`.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../src/load.js';
import { parseSafetensors } from '../../src/weights/safetensors.js';
import { tempDirs, unet } from '../cliRun.js';
import { testDevice } from '../helpers.js';
import { skip } from '../skip.js';
import { SMP_DIR, expectClose, savePth, smpFixture } from './smpFixture.js';

const CASES = {
  pp_r18_d5_256: {
    encoder: 'resnet18',
    depth: 5,
    decoderChannels: [16, 8, 8, 4, 4],
    classes: 1,
    activation: 'sigmoid',
    attention: null,
    upsampling: 'nearest',
    sizeMultiple: 32,
  },
  pp_eb0_d3_scse_200x152: {
    encoder: 'efficientnet-b0',
    depth: 3,
    decoderChannels: [32, 16, 16],
    classes: 3,
    activation: 'softmax',
    attention: 'scse',
    upsampling: 'bilinear',
    sizeMultiple: 8,
  },
} as const;

const Pp = suite<{ device: GPUDevice }>('smp UnetPlusPlus vs PyTorch');
Pp.before(async (ctx) => {
  ctx.device = await testDevice();
});
Pp.after((ctx) => ctx.device.destroy());

for (const [name, want] of Object.entries(CASES)) {
  Pp(
    `${name}: ${want.encoder} depth ${want.depth} ${want.attention ?? 'no attention'} ${want.upsampling} ${want.activation}, folder with config.json`,
    async ({ device }) => {
      const f = smpFixture(name, `${SMP_DIR}/${name}/model.safetensors`);
      const model = await loadModel(device, `${SMP_DIR}/${name}`);
      const i = model.info;
      assert.equal(
        {
          encoder: i.encoder,
          depth: i.depth,
          decoderChannels: i.decoderChannels,
          classes: i.classes,
          activation: i.activation,
          attention: i.attention,
          upsampling: i.upsampling,
          sizeMultiple: i.sizeMultiple,
        },
        want,
      );
      assert.equal([i.architecture, i.family, i.name, i.inferred], ['smp-unetplusplus', 'smp', 'smp UnetPlusPlus', []]);
      for (const [pair, how] of [
        [f, ''],
        [f.padded, ', padded to multiples of 32'],
      ] as const) {
        if (!pair) continue;
        const y = await model.run(pair.input);
        assert.equal(y.shape, pair.output.shape);
        expectClose(`${name} [${pair.input.shape}]${how}`, y.data, pair.output.data);
      }
      model.dispose();
    },
  );
}

const BARE = `${SMP_DIR}/bare_pp_r18_d4_nonorm.safetensors`;

Pp(
  'bare_pp_r18_d4_nonorm: a state_dict without config is a UnetPlusPlus by its x_0_* blocks; depth, decoder, no norm, classes inferred',
  async ({ device }) => {
    const f = smpFixture('bare_pp_r18_d4_nonorm', BARE);
    const model = await loadModel(device, BARE);
    const i = model.info;
    assert.equal(
      [i.architecture, i.encoder, i.depth, i.decoderChannels, i.attention, i.inChannels, i.classes, i.activation],
      ['smp-unetplusplus', 'resnet18', 4, [16, 16, 8, 8], null, 3, 2, 'identity'],
    );
    assert.ok(i.inferred.includes('decoder_use_norm') && i.inferred.includes('activation'), i.inferred.join(', '));
    expectClose('bare_pp_r18_d4_nonorm', (await model.run(f.input)).data, f.output.data);
    model.dispose();
  },
);

const tmp = tempDirs('unet-pp-');
Pp.after(tmp.cleanup);

Pp('bare_pp_r18_d4_nonorm as a .pth (torch.save of the state_dict) -> unet convert -> unet infer equals PyTorch', () => {
  const f = smpFixture('bare_pp_r18_d4_nonorm', BARE);
  const d = tmp.dir();
  const pth = join(d, 'pp.pth');
  const why = savePth(BARE, pth);
  if (why) return skip(why);
  const w = join(d, 'pp.safetensors');
  const r = unet('convert', pth, '-o', w);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /smp UnetPlusPlus 3 -> 2 channels, resnet18, decoder 16,16,8,8/);
  const out = join(d, 'y.safetensors');
  const r2 = unet('infer', '--weights', w, '--input', `${SMP_DIR}/bare_pp_r18_d4_nonorm.io.safetensors`, '--out', out);
  assert.is(r2.code, 0, r2.stderr);
  expectClose('bare_pp_r18_d4_nonorm via .pth', parseSafetensors(readFileSync(out)).getF32('output'), f.output.data);
});

Pp.run();
