// An architecture names itself: title, family and PyTorch reference are data in its info (what the CLI, the
// bench and the page print and launch), and smp models are told apart by config.json's _model_class or, for
// a bare state_dict, by their decoder's keys. No GPU: graphs are built, not run.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { buildModel } from '../../src/arch/index.js';
import { parseSafetensors, writeSafetensors } from '../../src/weights/safetensors.js';
import { randomUNetSafetensors } from '../../src/arch/random.js';
import { skip } from '../skip.js';

const R18 = 'test/fixtures/smp/r18_d5_sigmoid';
const HINT = 'run `/usr/bin/python3 tools/make_smp_fixtures.py --weights`';

const message = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  return assert.unreachable('expected an error') as never;
};

const Identity = suite('architecture identity');

Identity('brain U-Net: title, family, reference from its info', () => {
  const { info: i } = buildModel(parseSafetensors(randomUNetSafetensors({ features: 4 }), 'b.safetensors'), undefined);
  assert.equal(
    [i.architecture, i.family, i.name, i.variant, i.title],
    ['brain-unet', 'brain-unet', 'brain U-Net', 'init_features 4', 'brain U-Net init_features 4'],
  );
  assert.equal(i.reference, { option: '--weights', config: false });
});

Identity('smp Unet from a folder: title, family, reference from its info', () => {
  if (!existsSync(`${R18}/model.safetensors`)) return skip(`${R18}/model.safetensors is missing: ${HINT}`);
  const config = JSON.parse(readFileSync(`${R18}/config.json`, 'utf8'));
  const { info: i } = buildModel(parseSafetensors(readFileSync(`${R18}/model.safetensors`), 'r18'), config);
  assert.equal(
    [i.architecture, i.family, i.name, i.variant, i.title],
    ['smp-unet', 'smp', 'smp Unet', 'resnet18, decoder 16,8,8,4,4', 'smp Unet resnet18, decoder 16,8,8,4,4'],
  );
  assert.equal(i.reference, { option: '--smp', config: true });
});

Identity("smp: a config's unknown _model_class is refused, naming it and the supported classes", () => {
  const st = parseSafetensors(writeSafetensors({ 'segmentation_head.0.weight': { shape: [1, 16, 3, 3], data: new Float32Array(144) } }), 'tiny.safetensors');
  const m = message(() => buildModel(st, { _model_class: 'FPN', encoder_name: 'resnet18' }, { configSource: 'config.json' }));
  assert.match(m, /^config\.json: not supported: model class "FPN" \(supported: Unet, UnetPlusPlus\)$/);
});

Identity("smp: a config's _model_class picks the decoder; UnetPlusPlus needs encoder_depth 2 or more", () => {
  const st = parseSafetensors(writeSafetensors({ 'segmentation_head.0.weight': { shape: [1, 16, 3, 3], data: new Float32Array(144) } }), 'tiny.safetensors');
  const config = { _model_class: 'UnetPlusPlus', encoder_name: 'resnet18', encoder_depth: 1, decoder_channels: [16] };
  assert.match(
    message(() => buildModel(st, config, { configSource: 'config.json' })),
    /^config\.json: not supported: encoder_depth 1 \(UnetPlusPlus: 2 to 5\)$/,
  );
});

Identity.run();
