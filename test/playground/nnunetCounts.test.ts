// nnU-Net Plain (2D PlainConvUNet) in the playground against dynamic_network_architectures itself
// (test/fixtures/playground/nnunet.json, which tools/nnunet_playground.py made by running dna's source):
// parameters and buffers as PyTorch counts them, modelSafetensors' tensors against dna's named_parameters() and
// named_buffers() (keys, dtypes, shapes), nnU-Net's He init, and buildModel through the nnU-Net plug-in running
// a forward. Nothing here is a hard-coded count: the options below are written by hand, dna's arguments for the
// same names are in the tool, and the first test checks that the two describe the same network.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Model,
  type ModelOptions,
  buildModel,
  checkModelOptions,
  defaultModelOptions,
  describeModel,
  modelOptionChoices,
  modelSafetensors,
  setModelOption,
  smpConfig,
} from '../../src/index.js';
import { parseSafetensors } from '../../src/weights/safetensors.js';
import { randArray, rng, testDevice } from '../helpers.js';

interface DnaCase {
  arguments: { features: number[]; input_channels: number; num_classes: number; norm: 'instance' | 'batch' };
  parameters: number;
  buffers: number;
  state_dict_keys: number;
  tensors: Record<string, [string, ...number[]]>;
}
const fixture = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'playground', 'nnunet.json'), 'utf8')) as {
  cases: Record<string, DnaCase>;
};

const base = defaultModelOptions('nnunet-plain');
/** name (tools/nnunet_playground.py's CASES) -> our options for that network */
const CASES: [string, ModelOptions][] = [
  ['plain_d6_in1_c2', base],
  ['plain_d4_bn_in3_c4', { ...setModelOption(base, 'depth', 4), decoderNorm: 'batchnorm', inChannels: 3, classes: 4 }],
  ['plain_d8_in1_c3', { ...setModelOption(base, 'depth', 8), classes: 3 }],
  ['plain_d2_8_16_in2_c1', { ...setModelOption(base, 'depth', 2), decoderChannels: [8, 16], inChannels: 2, classes: 1 }],
  [
    'plain_d5_16_in4_c5_bn',
    { ...setModelOption(base, 'depth', 5), decoderChannels: [16, 32, 64, 128, 256], decoderNorm: 'batchnorm', inChannels: 4, classes: 5 },
  ],
];
const optionsOf = (name: string) => CASES.find(([n]) => n === name)![1];

const Counts = suite('playground: nnU-Net Plain vs dynamic_network_architectures');

Counts('the cases are the fixture’s, and each describes the same network dna built', () => {
  assert.equal(CASES.map(([n]) => n).sort(), Object.keys(fixture.cases).sort());
  for (const [name, o] of CASES) {
    const a = fixture.cases[name].arguments;
    assert.equal(checkModelOptions(o), [], name);
    assert.equal(
      { features: o.decoderChannels, input_channels: o.inChannels, num_classes: o.classes, norm: o.decoderNorm === 'batchnorm' ? 'batch' : 'instance' },
      a,
      name,
    );
  }
});

for (const [name, o] of CASES) {
  Counts(`${name}: parameters and buffers as PyTorch counts them; the state_dict's tensors`, () => {
    const want = fixture.cases[name];
    const d = describeModel(o, [64, 64]);
    assert.is(d.parameters, want.parameters, 'parameters');
    assert.is(d.buffers, want.buffers, 'buffers');
    assert.is(d.parameterGroups.encoder + d.parameterGroups.decoder + d.parameterGroups.head, want.parameters, 'groups sum to the parameters');
    const st = parseSafetensors(modelSafetensors(o, { random: { seed: 3 } }), name);
    const ours = Object.fromEntries([...st.tensors].map(([k, t]) => [k, [t.dtype, ...t.shape]]).sort());
    const theirs = Object.fromEntries(Object.entries(want.tensors).sort());
    assert.equal(ours, theirs, 'keys, dtypes and shapes of named_parameters() + named_buffers()');
    // the deep-supervision heads are built (counted) but never run
    assert.is(d.unused.length, o.depth - 2);
    // the diagram: every stage's parameters are the run network's, which is all but the unused heads
    const unusedParams = Object.entries(want.tensors)
      .filter(([k]) => /^decoder\.seg_layers\./.test(k) && !k.startsWith(`decoder.seg_layers.${o.depth - 2}.`))
      .reduce((a, [, [, ...s]]) => a + s.reduce((x, y) => x * y, 1), 0);
    assert.is(
      d.stages.reduce((a, s) => a + s.parameters, 0),
      want.parameters - unusedParams,
    );
  });
}

Counts('depth resizes features_per_stage by doubling up to the 2D cap; the fixed fields say why', () => {
  const deep = setModelOption(base, 'depth', 8).decoderChannels;
  assert.equal(deep.slice(0, base.depth), base.decoderChannels, 'the first stages kept');
  for (let i = 1; i < deep.length; i++) assert.ok(deep[i] === Math.min(2 * deep[i - 1], Math.max(...base.decoderChannels)), `stage ${i}`);
  assert.equal(setModelOption(base, 'depth', 3).decoderChannels, base.decoderChannels.slice(0, 3));
  const c = modelOptionChoices(base);
  for (const [field, value] of [
    ['attention', 'scse'],
    ['upsampling', 'bilinear'],
    ['decoderNorm', 'none'],
    ['activation', 'sigmoid'],
  ] as const) {
    const choice = c[field]!.find((x) => x.value === value)!;
    assert.is(choice.allowed, false, `${field} ${value}`);
    assert.ok(choice.why && choice.why.length > 10, `${field}: why`);
  }
  assert.ok(c.decoderNorm!.find((x) => x.value === 'instancenorm')?.allowed);
  assert.ok(c.architecture!.find((x) => x.value === 'nnunet-plain')?.allowed);
  assert.throws(() => smpConfig(base), /not an smp model/);
  assert.ok(checkModelOptions({ ...base, decoderChannels: [32, 64] }).some((p) => p.field === 'decoderChannels'));
});

Counts("random weights are nnU-Net's InitWeights_He(1e-2): N(0, 2 / (1 + 0.01^2) / fan_in), biases 0, norms 1 / 0", () => {
  const o = optionsOf('plain_d4_bn_in3_c4');
  const st = parseSafetensors(modelSafetensors(o, { random: { seed: 7 } }), 'he');
  const check = (key: string, fanIn: number) => {
    const w = st.getF32(key);
    const mean = w.reduce((a, v) => a + v, 0) / w.length;
    const std = Math.sqrt(w.reduce((a, v) => a + (v - mean) ** 2, 0) / w.length);
    const want = Math.sqrt(2 / (1 + 0.01 ** 2) / fanIn);
    assert.ok(Math.abs(std / want - 1) < 0.03, `${key}: std ${std}, want ${want}`);
    assert.ok(Math.abs(mean) < 0.05 * want, `${key}: mean ${mean}`);
  };
  const w = st.tensors.get('encoder.stages.3.0.convs.1.conv.weight')!.shape;
  check('encoder.stages.3.0.convs.1.conv.weight', w[1] * w[2] * w[3]);
  // ConvTranspose2d [in, out, k, k]: PyTorch's fan_in is dim 1 times the kernel
  const t = st.tensors.get('decoder.transpconvs.0.weight')!.shape;
  check('decoder.transpconvs.0.weight', t[1] * t[2] * t[3]);
  assert.ok(
    st.getF32('encoder.stages.3.0.convs.1.conv.bias').every((v) => v === 0),
    'conv bias 0',
  );
  assert.ok(
    st.getF32('encoder.stages.3.0.convs.1.norm.weight').every((v) => v === 1),
    'norm weight 1',
  );
  assert.ok(
    st.getF32('encoder.stages.3.0.convs.1.norm.running_var').every((v) => v === 1),
    'running_var 1',
  );
});

const Build = suite<{ device: GPUDevice; models: Model[] }>('playground: nnU-Net Plain buildModel');
Build.before(async (ctx) => {
  ctx.device = await testDevice();
  ctx.models = [];
});
Build.after((ctx) => {
  for (const m of ctx.models) m.dispose();
  ctx.device.destroy();
});

for (const name of ['plain_d4_bn_in3_c4', 'plain_d2_8_16_in2_c1']) {
  Build(`${name}: builds through the nnU-Net plug-in and runs a forward; the same seed gives the same logits`, async (ctx) => {
    const o = optionsOf(name);
    const m = await buildModel(ctx.device, o, { weights: { random: { seed: 5 } } });
    const again = await buildModel(ctx.device, o, { weights: { random: { seed: 5 } } });
    const other = await buildModel(ctx.device, o, { weights: { random: { seed: 6 } } });
    ctx.models.push(m, again, other);
    assert.is(m.info.family, 'nnunet');
    assert.is(m.info.parameters, fixture.cases[name].parameters, "the loaded model's parameter count");
    const d = describeModel(o, [40, 48]);
    const shape = [1, o.inChannels, d.padded[0], d.padded[1]];
    const x = {
      data: randArray(
        rng(9),
        shape.reduce((a, b) => a * b, 1),
      ),
      shape,
    };
    const y = await m.run(x);
    assert.equal(y.shape, [1, o.classes, d.padded[0], d.padded[1]]);
    assert.ok(y.data.every(Number.isFinite), 'finite');
    assert.ok(
      y.data.some((v) => v !== 0),
      'not all zero',
    );
    assert.equal((await again.run(x)).data, y.data, 'seed 5 twice');
    assert.ok(
      (await other.run(x)).data.some((v, i) => v !== y.data[i]),
      'seed 6 differs',
    );
  });
}

Counts.run();
Build.run();
