// The playground's options without a device: defaults, the choices offered and why some are refused,
// setModelOption's dependent fields, describeModel's diagram, and the seeded initialisation's distributions
// (smp's initialize_decoder / initialize_head, torchvision's and PyTorch's defaults for the encoders).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  InputError,
  type ModelOptions,
  UnsupportedError,
  checkModelOptions,
  defaultModelOptions,
  describeModel,
  modelOptionChoices,
  modelSafetensors,
  setModelOption,
  smpConfig,
} from '../../src/index.js';
import { SUPPORTED_ENCODERS } from '../../src/arch/smp/encoders/index.js';
import { parseSafetensors } from '../../src/weights/safetensors.js';

const unet = defaultModelOptions();
const brain = defaultModelOptions('brain-unet');
const fields = (o: ModelOptions) => checkModelOptions(o).map((p) => p.field);

// ---
const Options = suite('playground: options, choices and checks');

Options("every architecture's defaults build; smp's are smp's (resnet34, depth 5, decoder 256..16)", () => {
  for (const a of ['Unet', 'UnetPlusPlus', 'brain-unet'] as const) assert.equal(checkModelOptions(defaultModelOptions(a)), [], a);
  assert.equal([unet.encoder, unet.depth, unet.decoderChannels, unet.inChannels, unet.classes], ['resnet34', 5, [256, 128, 64, 32, 16], 3, 1]);
});

Options('refused combinations name the field and why', () => {
  const scse = checkModelOptions({ ...unet, attention: 'scse', decoderChannels: [256, 128, 64, 32, 8] });
  assert.equal(
    scse.map((p) => p.field),
    ['attention'],
  );
  assert.match(scse[0].message, /scse needs >= 16 channels: decoder block 4's attention2 has 8/);
  assert.equal(fields({ ...unet, encoder: 'efficientnet-b0', depth: 1, decoderChannels: [16] }), ['depth']);
  assert.equal(fields({ ...unet, architecture: 'UnetPlusPlus', depth: 1, decoderChannels: [16] }), ['depth']);
  assert.equal(fields({ ...unet, decoderChannels: [256, 128] }), ['decoderChannels']);
  assert.equal(fields({ ...unet, encoder: 'vgg16' }), ['encoder']);
  assert.equal(fields({ ...unet, classes: 0 }), ['classes']);
  assert.equal(fields({ ...brain, attention: 'scse' }), ['attention']);
  assert.equal(fields({ ...brain, activation: 'softmax' }), ['activation']);
  assert.equal(fields({ ...brain, decoderNorm: 'none' }), ['decoderNorm']);
});

Options('choices: every supported encoder, and refused values carry the reason', () => {
  const c = modelOptionChoices({ ...unet, encoder: 'efficientnet-b0' });
  assert.equal(
    c.encoder?.map((e) => e.value),
    [...SUPPORTED_ENCODERS],
  );
  assert.ok(c.encoder?.every((e) => e.allowed));
  const d1 = c.depth?.find((d) => d.value === 1);
  assert.is(d1?.allowed, false);
  assert.match(d1?.why ?? '', /efficientnet-b0 takes depth 2 to 5/);
  assert.ok(c.depth?.filter((d) => d.value !== 1).every((d) => d.allowed));
  const small = modelOptionChoices({ ...unet, decoderChannels: [64, 32, 16, 8, 4] });
  const scse = small.attention?.find((a) => a.value === 'scse');
  assert.is(scse?.allowed, false);
  assert.match(scse?.why ?? '', /scse needs >= 16 channels/);
  const b = modelOptionChoices(brain);
  assert.is(b.decoderNorm?.find((v) => v.value === 'none')?.allowed, false);
  assert.is(b.activation?.find((v) => v.value === 'sigmoid')?.allowed, true);
  assert.is(b.activation?.find((v) => v.value === 'tanh')?.allowed, false);
});

Options('setModelOption: a new depth resizes decoder_channels, another architecture starts from its defaults', () => {
  assert.equal(setModelOption(unet, 'depth', 3).decoderChannels, [256, 128, 64]);
  assert.equal(setModelOption(setModelOption(unet, 'depth', 3), 'depth', 5).decoderChannels, [256, 128, 64, 32, 16]);
  const b = setModelOption({ ...unet, inChannels: 1, classes: 4 }, 'architecture', 'brain-unet');
  assert.equal(b, { ...brain, inChannels: 1, classes: 4 });
  const pp = setModelOption({ ...unet, encoder: 'mobilenet_v2' }, 'architecture', 'UnetPlusPlus');
  assert.equal([pp.architecture, pp.encoder, pp.depth], ['UnetPlusPlus', 'mobilenet_v2', 5]);
  assert.throws(
    () => smpConfig(brain),
    (e: Error) => e instanceof UnsupportedError,
  );
});

// ---
const Describe = suite('playground: describeModel');

Describe('Unet resnet34 at 256: five encoder stages, five decoder blocks with their skips, the head; shapes follow', () => {
  const d = describeModel({ ...unet, classes: 3 }, [256, 256]);
  const ids = new Set(d.stages.map((s) => s.id));
  assert.equal(
    d.stages.map((s) => s.kind),
    ['input', ...Array(5).fill('encoder'), ...Array(5).fill('decoder'), 'head'],
  );
  for (const s of d.stages) for (const k of [s.from, ...s.skips]) if (k) assert.ok(ids.has(k), `${s.id} refers to ${k}`);
  const byId = new Map(d.stages.map((s) => [s.id, s]));
  for (let i = 1; i <= 5; i++) assert.equal(byId.get(`enc${i}`)?.shape.slice(2), [256 / 2 ** i, 256 / 2 ** i], `enc${i}`);
  for (const s of d.stages.filter((s) => s.kind === 'decoder'))
    for (const k of s.skips) assert.equal(byId.get(k)?.shape.slice(2), s.shape.slice(2), `${s.id}: its skip ${k} has its size`);
  assert.equal(byId.get('head')?.shape, [1, 3, 256, 256]);
  const staged = d.stages.reduce((a, s) => a + s.parameters, 0);
  assert.is(staged, d.parameters, 'every parameter sits in one stage (resnet34 at depth 5 runs all of them)');
  assert.is(d.text.split('\n').length, d.stages.length + 1);
  assert.ok(d.gflop > 1 && d.memory.totalBytes > d.memory.weightsBytes);
});

Describe('UnetPlusPlus: the nested blocks x_d_l with their dense skips; a size not a multiple of 2^depth is padded', () => {
  const d = describeModel({ ...unet, architecture: 'UnetPlusPlus', depth: 3, decoderChannels: [64, 32, 16] }, [50, 70]);
  assert.equal(d.padded, [56, 72]);
  assert.is(d.sizeMultiple, 8);
  const x02 = d.stages.find((s) => s.id === 'x_0_2')!;
  assert.equal([x02.from, x02.skips], ['x_0_1', []]);
  const x01 = d.stages.find((s) => s.id === 'x_0_1')!;
  assert.equal([x01.from, x01.skips], ['x_0_0', ['x_1_1', 'enc1']]);
});

Describe('efficientnet-b0 at depth 4: the blocks past the depth and the head smp keeps count as parameters but run nowhere', () => {
  const d = describeModel(setModelOption({ ...unet, encoder: 'efficientnet-b0' }, 'depth', 4), [64, 64]);
  const staged = d.stages.reduce((a, s) => a + s.parameters, 0);
  assert.ok(staged < d.parameters, `${staged} of ${d.parameters} run`);
  assert.match(d.unused.join(' '), /_conv_head/);
  assert.throws(
    () => describeModel(unet, [0, 64]),
    (e: Error) => e instanceof InputError,
  );
});

// ---
const Init = suite('playground: seeded initialisation');

const stats = (a: Float32Array) => {
  let s = 0;
  let s2 = 0;
  let max = 0;
  for (const v of a) [s, s2, max] = [s + v, s2 + v * v, Math.max(max, Math.abs(v))];
  const mean = s / a.length;
  return { mean, std: Math.sqrt(s2 / a.length - mean * mean), max };
};

Init('the same seed gives the same bytes; another seed other weights', () => {
  const o = { ...setModelOption({ ...unet, encoder: 'resnet18' }, 'depth', 2), decoderChannels: [16, 8] };
  const a = modelSafetensors(o, { random: { seed: 4 } });
  assert.ok(Buffer.compare(a, modelSafetensors(o, { random: { seed: 4 } })) === 0);
  assert.ok(Buffer.compare(a, modelSafetensors(o, { random: { seed: 5 } })) !== 0);
  assert.throws(
    () => modelSafetensors(o, { random: { seed: 1.5 } }),
    (e: Error) => e instanceof InputError,
  );
  assert.throws(
    () => modelSafetensors(brain, { encoder: { bytes: new Uint8Array(8), name: 'x.pth', seed: 0 } }),
    (e: Error) => e instanceof InputError,
  );
});

Init('distributions: torchvision kaiming_normal fan_out (ResNet), kaiming_uniform a=sqrt(5) (EfficientNet), smp decoder and head', () => {
  const r = parseSafetensors(modelSafetensors({ ...unet, encoder: 'resnet18', classes: 2 }, { random: { seed: 1 } }));
  // layer3.0.conv2 [256, 256, 3, 3]: std sqrt(2 / (256 * 9)); decoder.blocks.1.conv1.0 [128, 256 + 128, 3, 3]: U(+-sqrt(6 / fan_in))
  const enc = stats(r.getF32('encoder.layer3.0.conv2.weight'));
  assert.ok(Math.abs(enc.std / Math.sqrt(2 / (256 * 9)) - 1) < 0.01, `encoder std ${enc.std}`);
  const dec = stats(r.getF32('decoder.blocks.1.conv1.0.weight'));
  const bound = Math.sqrt(6 / (384 * 9));
  assert.ok(dec.max <= bound && dec.max > 0.99 * bound, `decoder max ${dec.max} vs bound ${bound}`);
  assert.ok(Math.abs(dec.std / (bound / Math.sqrt(3)) - 1) < 0.01, `decoder std ${dec.std}`);
  // head [2, 16, 3, 3]: xavier U(+-sqrt(6 / (16 * 9 + 2 * 9))), bias 0
  assert.ok(stats(r.getF32('segmentation_head.0.weight')).max <= Math.sqrt(6 / (16 * 9 + 2 * 9)));
  assert.equal([...r.getF32('segmentation_head.0.bias')], [0, 0]);
  assert.ok(r.getF32('decoder.blocks.0.conv1.1.weight').every((v) => v === 1));
  assert.ok(r.getF32('encoder.bn1.running_var').every((v) => v === 1));
  assert.is(r.tensors.get('encoder.bn1.num_batches_tracked')?.dtype, 'I64');
  const e = parseSafetensors(modelSafetensors(setModelOption({ ...unet, encoder: 'efficientnet-b0' }, 'depth', 3), { random: { seed: 1 } }));
  // _blocks.3._project_conv [40, 144, 1, 1]: U(+-1/sqrt(144)); _se_reduce's bias U(+-1/sqrt(fan_in))
  const proj = stats(e.getF32('encoder._blocks.3._project_conv.weight'));
  assert.ok(proj.max <= 1 / 12 && proj.max > 0.95 / 12, `project max ${proj.max}`);
  assert.ok(stats(e.getF32('encoder._blocks.3._se_reduce.bias')).max <= 1 / Math.sqrt(144));
});

Options.run();
Describe.run();
Init.run();
