// A pretrained encoder file, as smp's encoder_weights="imagenet" loads it: small seeded files in the formats of
// torchvision's resnet18 (tools/make_torchvision_resnet18.py, 45 MB), efficientnet-pytorch's efficientnet-b0
// and torchvision's mobilenet_v2 (tools/smp_playground.py make-pth), made here from numpy's seeded generator
// with the commands test/fixtures/playground/pretrained.json records, with its sha256s (no smp needed, only
// /usr/bin/python3 with PyTorch); every encoder.* tensor of our export must have the sha256 smp's loaded
// tensor had when the fixture was made: bit for bit, at in_channels 3, 1 (smp sums the stem's channels) and
// 4 (it repeats them, scaled by 3 / 4). With $SMP_SOURCE set, smp also loads the files live.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WeightsError, buildModel, defaultModelOptions, describeModel, modelSafetensors, smpConfigJson } from '../../src/index.js';
import { parseSafetensors } from '../../src/weights/safetensors.js';
import { randArray, rng, testDevice } from '../helpers.js';
import { skip } from '../skip.js';
import { PRETRAINED_CASES, PRETRAINED_DECODER_SEED } from './cases.js';
import { encoderProblems, liveSmp, makePth, pretrainedFixture, runSmp, sha256, tempDir, torchWhy } from './smp.js';

const fixture = pretrainedFixture();
const cases = (file: string) => PRETRAINED_CASES.filter(([, f]) => f === file);

const Pre = suite<{ dir: string; pth: Map<string, Uint8Array>; why?: string }>('playground: pretrained encoder files');
Pre.before((ctx) => {
  ctx.dir = tempDir();
  ctx.pth = new Map();
  ctx.why = torchWhy();
  if (ctx.why) return;
  for (const file of Object.keys(fixture.files)) ctx.pth.set(file, makePth(fixture, file, ctx.dir));
});

Pre("the fixture's cases are cases.ts's; each file is made byte for byte as recorded (seeded, no torch RNG)", ({ pth, why }) => {
  if (why) return skip(why);
  assert.equal(Object.keys(fixture.cases).sort(), PRETRAINED_CASES.map(([name]) => name).sort());
  for (const [file, f] of Object.entries(fixture.files)) {
    const bytes = pth.get(file)!;
    assert.is(bytes.length, f.bytes, `${file}: size`);
    assert.is(sha256(bytes), f.sha256, `${file}: sha256 (${f.command.join(' ')})`);
  }
});

for (const [file, what] of [
  ['resnet18', 'torchvision resnet18 .pth at in_channels 3, 1 and 4'],
  ['efficientnet-b0', 'efficientnet-pytorch efficientnet-b0 .pth (depth 4)'],
  ['mobilenet_v2', 'torchvision mobilenet_v2 .pth at in_channels 2 (depth 3)'],
])
  Pre(`${what}: every encoder tensor of our export is smp's, bit for bit`, ({ pth, why }) => {
    if (why) return skip(why);
    for (const [name, , o] of cases(file)) {
      const want = fixture.cases[name];
      assert.is(want.file, file);
      assert.is(smpConfigJson(o), want.config_json, `${name}: config.json`);
      const ours = modelSafetensors(o, { encoder: { bytes: pth.get(file)!, name: `${file}-test.pth`, seed: PRETRAINED_DECODER_SEED } });
      const problems = encoderProblems(want.encoder, ours);
      assert.equal(problems.slice(0, 5), [], `${name}: ${problems.length} of ${Object.keys(want.encoder).length} encoder tensors differ from smp's`);
      assert.ok(Object.keys(want.encoder).length >= 100, `${name}: ${Object.keys(want.encoder).length} encoder tensors compared`);
    }
  });

Pre('the comparison sees one changed value, a missing and an unexpected tensor (negative control)', ({ pth, why }) => {
  if (why) return skip(why);
  const [name, , o] = cases('resnet18')[0];
  const want = { ...fixture.cases[name].encoder };
  const bytes = modelSafetensors(o, { encoder: { bytes: pth.get('resnet18')!, name: 'resnet18-test.pth', seed: PRETRAINED_DECODER_SEED } });
  assert.equal(encoderProblems(want, bytes), []);
  const changed = new Uint8Array(bytes);
  const st = parseSafetensors(changed);
  const t = st.tensors.get('encoder.layer3.1.bn2.running_var')!;
  changed[t.byteOffset + 4 * 17] ^= 1; // the lowest mantissa bit of element 17
  assert.equal(encoderProblems(want, changed), ["encoder.layer3.1.bn2.running_var: other values than smp's"]);
  const edited = { ...want, 'encoder.extra.weight': want['encoder.conv1.weight'] };
  delete (edited as Record<string, unknown>)['encoder.layer1.0.bn1.bias'];
  assert.equal(encoderProblems(edited, bytes).sort(), ['missing encoder.extra.weight', 'unexpected encoder.layer1.0.bn1.bias']);
});

// live: only where $SMP_SOURCE names smp's source (the fixture above stands for it elsewhere)
if (liveSmp())
  Pre('live smp: loads the same files through its get_encoder; every encoder tensor equals ours, bit for bit', ({ dir, pth, why }) => {
    if (why) return skip(why);
    const args = PRETRAINED_CASES.flatMap(([name, file, o]) => {
      const config = join(dir, `${name}.json`);
      const ours = join(dir, `${name}.safetensors`);
      writeFileSync(config, smpConfigJson(o));
      writeFileSync(ours, modelSafetensors(o, { encoder: { bytes: pth.get(file)!, name: `${file}-test.pth`, seed: PRETRAINED_DECODER_SEED } }));
      return ['--case', join(dir, `${file}.pth`), config, ours];
    });
    const out = runSmp(['pretrained', ...args]);
    PRETRAINED_CASES.forEach(([name], i) => {
      assert.is(out[i].first_mismatch, null, `${name}: first tensor that differs from smp's`);
      assert.is(out[i].equal, out[i].encoder_tensors, name);
    });
  });

Pre('the decoder stays random and seeded: the same seed gives the same bytes, another seed another decoder, the same encoder', ({ pth, why }) => {
  if (why) return skip(why);
  const o = cases('resnet18')[0][2];
  const bytes = pth.get('resnet18')!;
  const a = modelSafetensors(o, { encoder: { bytes, name: 'a.pth', seed: 1 } });
  const b = modelSafetensors(o, { encoder: { bytes, name: 'a.pth', seed: 1 } });
  const c = parseSafetensors(modelSafetensors(o, { encoder: { bytes, name: 'a.pth', seed: 2 } }));
  assert.ok(Buffer.compare(a, b) === 0, 'same seed, same bytes');
  const sa = parseSafetensors(a);
  const same = (k: string) => Buffer.compare(Buffer.from(sa.getF32(k).buffer), Buffer.from(c.getF32(k).buffer)) === 0;
  assert.ok(same('encoder.layer2.0.conv1.weight'), 'the encoder is the file whatever the seed');
  assert.not.ok(same('decoder.blocks.0.conv1.0.weight'), 'the decoder follows the seed');
  assert.ok(same('decoder.blocks.0.conv1.1.weight'), 'BatchNorm weights start at 1 whatever the seed');
});

Pre('a file of another encoder: a WeightsError naming the file and the first key that does not match', ({ pth, why }) => {
  if (why) return skip(why);
  const wrong: [string, RegExp][] = [
    ['resnet34', /resnet18-test\.pth: not resnet34's pretrained weights: no "layer1\.2\.conv1\.weight" \[64, 64, 3, 3\]/],
    ['resnet50', /resnet18-test\.pth: not resnet50's pretrained weights: "layer1\.0\.conv1\.weight" has shape \[64, 64, 3, 3\], expected \[64, 64, 1, 1\]/],
    ['efficientnet-b0', /resnet18-test\.pth: not efficientnet-b0's pretrained weights: no "_conv_stem\.weight"/],
  ];
  for (const [encoder, want] of wrong) {
    const o = { ...defaultModelOptions(), encoder };
    try {
      modelSafetensors(o, { encoder: { bytes: pth.get('resnet18')!, name: 'resnet18-test.pth', seed: 0 } });
      assert.unreachable(`${encoder} accepted resnet18's file`);
    } catch (e) {
      assert.instance(e, WeightsError);
      assert.match((e as Error).message, want);
    }
  }
});

Pre('buildModel with each file (the bytes it loads are the export above): the model runs, counted as smp counts it', async ({ pth, why }) => {
  if (why) return skip(why);
  const device = await testDevice();
  try {
    for (const [name, file, o] of [cases('resnet18')[1], cases('efficientnet-b0')[0], cases('mobilenet_v2')[0]]) {
      const model = await buildModel(device, o, { weights: { encoder: { bytes: pth.get(file)!, name: `${file}-test.pth`, seed: PRETRAINED_DECODER_SEED } } });
      const y = await model.run({ data: randArray(rng(2), o.inChannels * 32 * 48), shape: [1, o.inChannels, 32, 48] });
      assert.equal(y.shape, [1, o.classes, 32, 48], name);
      assert.ok(y.data.every(Number.isFinite), `${name}: finite`);
      assert.is(model.info.parameters, describeModel(o, [32, 48]).parameters, `${name}: parameters`);
      model.dispose();
    }
  } finally {
    device.destroy();
  }
});

Pre.run();
