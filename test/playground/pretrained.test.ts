// A pretrained encoder file, as smp's encoder_weights="imagenet" loads it: a small torchvision-format
// resnet18 .pth written by tools/make_torchvision_resnet18.py (45 MB, made here, never committed); smp itself
// (tools/smp_playground.py) loads the same file through its own get_encoder, and every encoder.* tensor of
// our exported state_dict must equal smp's bit for bit, at in_channels 3, 1 (smp sums the stem's channels)
// and 4 (it repeats them, scaled by 3 / 4).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type ModelOptions,
  WeightsError,
  buildModel,
  defaultModelOptions,
  describeModel,
  modelSafetensors,
  setModelOption,
  smpConfigJson,
} from '../../src/index.js';
import { parseSafetensors } from '../../src/weights/safetensors.js';
import { randArray, rng, testDevice } from '../helpers.js';
import { skip } from '../skip.js';
import { runSmp, smpSource, tempDir } from './smp.js';

const Pre = suite<{ dir: string; pth?: Uint8Array; why?: string }>('playground: pretrained encoder files');
Pre.before((ctx) => {
  ctx.dir = tempDir();
  const path = join(ctx.dir, 'resnet18-test.pth');
  const r = spawnSync('/usr/bin/python3', ['tools/make_torchvision_resnet18.py', path, '--seed', '7'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) ctx.why = `tools/make_torchvision_resnet18.py could not run: ${r.error?.message ?? r.stderr.trim().split('\n').pop()}`;
  else ctx.pth = readFileSync(path);
});

const resnet18 = (inChannels: number): ModelOptions => ({
  ...setModelOption({ ...defaultModelOptions(), encoder: 'resnet18' }, 'depth', 4),
  inChannels,
  classes: 2,
});

Pre('resnet18 .pth at in_channels 3, 1 and 4: every encoder tensor equals smp loading the same file, bit for bit', ({ dir, pth, why }) => {
  if (!pth) return skip(why ?? 'no .pth');
  const src = smpSource();
  if (!src.path) return skip(src.why ?? 'no smp');
  const args: string[] = [];
  const ins = [3, 1, 4];
  for (const c of ins) {
    const o = resnet18(c);
    const config = join(dir, `pre${c}.json`);
    const ours = join(dir, `pre${c}.safetensors`);
    writeFileSync(config, smpConfigJson(o));
    writeFileSync(ours, modelSafetensors(o, { encoder: { bytes: pth, name: 'resnet18-test.pth', seed: 1 } }));
    args.push('--case', join(dir, 'resnet18-test.pth'), config, ours);
  }
  const out = runSmp(['pretrained', ...args]);
  ins.forEach((c, i) => {
    assert.is(out[i].first_mismatch, null, `in_channels ${c}: first tensor that differs from smp's`);
    assert.is(out[i].equal, out[i].encoder_tensors, `in_channels ${c}`);
    assert.ok((out[i].encoder_tensors as number) >= 100, `in_channels ${c}: ${out[i].encoder_tensors} encoder tensors compared`);
  });
});

Pre('efficientnet-pytorch efficientnet-b0 (in_channels 3) and torchvision mobilenet_v2 (in_channels 2) files, bit for bit', ({ dir }) => {
  const src = smpSource();
  if (!src.path) return skip(src.why ?? 'no smp');
  const cases: [string, ModelOptions][] = [
    ['efficientnet-b0', { ...setModelOption({ ...defaultModelOptions(), encoder: 'efficientnet-b0' }, 'depth', 4), classes: 2 }],
    ['mobilenet_v2', { ...setModelOption({ ...defaultModelOptions(), encoder: 'mobilenet_v2' }, 'depth', 3), inChannels: 2 }],
  ];
  runSmp(['make-pth', '--seed', '3', ...cases.flatMap(([e]) => ['--file', e, join(dir, `${e}-test.pth`)])]);
  const args = cases.flatMap(([e, o]) => {
    const pth = join(dir, `${e}-test.pth`);
    writeFileSync(join(dir, `${e}.json`), smpConfigJson(o));
    writeFileSync(join(dir, `${e}.safetensors`), modelSafetensors(o, { encoder: { bytes: readFileSync(pth), name: `${e}-test.pth`, seed: 1 } }));
    return ['--case', pth, join(dir, `${e}.json`), join(dir, `${e}.safetensors`)];
  });
  const out = runSmp(['pretrained', ...args]);
  cases.forEach(([e], i) => {
    assert.is(out[i].first_mismatch, null, `${e}: first tensor that differs from smp's`);
    assert.is(out[i].equal, out[i].encoder_tensors, e);
  });
});

Pre('the decoder stays random and seeded: the same seed gives the same bytes, another seed another decoder, the same encoder', ({ pth, why }) => {
  if (!pth) return skip(why ?? 'no .pth');
  const o = resnet18(3);
  const a = modelSafetensors(o, { encoder: { bytes: pth, name: 'a.pth', seed: 1 } });
  const b = modelSafetensors(o, { encoder: { bytes: pth, name: 'a.pth', seed: 1 } });
  const c = parseSafetensors(modelSafetensors(o, { encoder: { bytes: pth, name: 'a.pth', seed: 2 } }));
  assert.ok(Buffer.compare(a, b) === 0, 'same seed, same bytes');
  const sa = parseSafetensors(a);
  const same = (k: string) => Buffer.compare(Buffer.from(sa.getF32(k).buffer), Buffer.from(c.getF32(k).buffer)) === 0;
  assert.ok(same('encoder.layer2.0.conv1.weight'), 'the encoder is the file whatever the seed');
  assert.not.ok(same('decoder.blocks.0.conv1.0.weight'), 'the decoder follows the seed');
  assert.ok(same('decoder.blocks.0.conv1.1.weight'), 'BatchNorm weights start at 1 whatever the seed');
});

Pre('a file of another encoder: a WeightsError naming the file and the first key that does not match', ({ pth, why }) => {
  if (!pth) return skip(why ?? 'no .pth');
  const cases: [string, RegExp][] = [
    ['resnet34', /resnet18-test\.pth: not resnet34's pretrained weights: no "layer1\.2\.conv1\.weight" \[64, 64, 3, 3\]/],
    ['resnet50', /resnet18-test\.pth: not resnet50's pretrained weights: "layer1\.0\.conv1\.weight" has shape \[64, 64, 3, 3\], expected \[64, 64, 1, 1\]/],
    ['efficientnet-b0', /resnet18-test\.pth: not efficientnet-b0's pretrained weights: no "_conv_stem\.weight"/],
  ];
  for (const [encoder, want] of cases) {
    const o = { ...defaultModelOptions(), encoder };
    try {
      modelSafetensors(o, { encoder: { bytes: pth, name: 'resnet18-test.pth', seed: 0 } });
      assert.unreachable(`${encoder} accepted resnet18's file`);
    } catch (e) {
      assert.instance(e, WeightsError);
      assert.match((e as Error).message, want);
    }
  }
});

Pre('buildModel with the file: the model runs, counted as smp counts it', async ({ pth, why }) => {
  if (!pth) return skip(why ?? 'no .pth');
  const device = await testDevice();
  try {
    const o = resnet18(1);
    const model = await buildModel(device, o, { weights: { encoder: { bytes: pth, name: 'resnet18-test.pth', seed: 1 } } });
    const y = await model.run({ data: randArray(rng(2), 32 * 48), shape: [1, 1, 32, 48] });
    assert.equal(y.shape, [1, 2, 32, 48]);
    assert.ok(y.data.every(Number.isFinite));
    assert.is(model.info.parameters, describeModel(o, [32, 48]).parameters);
    model.dispose();
  } finally {
    device.destroy();
  }
});

Pre.run();
