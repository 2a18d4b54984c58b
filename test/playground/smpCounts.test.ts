// The playground's numbers against smp itself (tools/smp_playground.py over smp's source): parameters and
// buffers as PyTorch counts them, smp building Unet(**config) from our config.json, and smp loading our
// model.safetensors with strict=True. Nothing here is a hard-coded count: smp computes every reference.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ModelOptions, defaultModelOptions, describeModel, modelSafetensors, setModelOption, smpConfig, smpConfigJson } from '../../src/index.js';
import { skip } from '../skip.js';
import { runSmp, smpSource, tempDir } from './smp.js';

const base = defaultModelOptions();
/** name -> options: the five configurations of issue 22 and a few more corners (no norm, in_channels 1, UnetPlusPlus + scse) */
const CASES: [string, ModelOptions][] = [
  ['Unet resnet34 depth 5, 3 classes', { ...base, classes: 3 }],
  ['Unet efficientnet-b0 depth 4, 2 classes', { ...setModelOption({ ...base, encoder: 'efficientnet-b0' }, 'depth', 4), classes: 2 }],
  ['Unet mobilenet_v2 (smp defaults)', { ...base, encoder: 'mobilenet_v2' }],
  ['Unet resnet18 + scse', { ...base, encoder: 'resnet18', attention: 'scse' }],
  ['UnetPlusPlus resnet34', { ...base, architecture: 'UnetPlusPlus' }],
  [
    'Unet resnext50_32x4d depth 3, no norm, bilinear, in 1, sigmoid',
    {
      ...setModelOption({ ...base, encoder: 'resnext50_32x4d' }, 'depth', 3),
      decoderNorm: 'none',
      upsampling: 'bilinear',
      inChannels: 1,
      activation: 'sigmoid',
    },
  ],
  [
    'UnetPlusPlus efficientnet-b3 depth 3 scse, in 4, 5 classes softmax',
    {
      ...setModelOption({ ...base, architecture: 'UnetPlusPlus', encoder: 'efficientnet-b3' }, 'depth', 3),
      attention: 'scse',
      inChannels: 4,
      classes: 5,
      activation: 'softmax',
    },
  ],
  ['Unet resnet50 depth 2 logsoftmax', { ...setModelOption({ ...base, encoder: 'resnet50' }, 'depth', 2), classes: 2, activation: 'logsoftmax' }],
];

const Counts = suite<{ dir: string }>('playground: parameter and buffer counts vs smp');
Counts.before((ctx) => {
  ctx.dir = tempDir();
});

Counts('config.json is json.dumps(config, sort_keys=True, indent=2) of smp init arguments', () => {
  const o = CASES[6][1];
  const text = smpConfigJson(o);
  assert.equal(JSON.parse(text), smpConfig(o));
  assert.equal(Object.keys(smpConfig(o)), [...Object.keys(smpConfig(o))].sort(), 'keys in sorted order');
  const py = spawnSync(
    '/usr/bin/python3',
    ['-c', 'import json,sys; t=sys.stdin.read(); sys.stdout.write(json.dumps(json.loads(t), sort_keys=True, indent=2))'],
    {
      input: text,
      encoding: 'utf8',
    },
  );
  if (py.error || py.status !== 0) return skip(`no /usr/bin/python3: ${py.error?.message ?? py.stderr}`);
  assert.is(text, py.stdout, 'byte for byte as Python writes it');
});

Counts('every case: smp builds Unet(**config) from our config.json with our parameter and buffer counts', ({ dir }) => {
  const src = smpSource();
  if (!src.path) return skip(src.why ?? 'no smp');
  const paths = CASES.map(([, o], i) => {
    const p = join(dir, `config${i}.json`);
    writeFileSync(p, smpConfigJson(o));
    return p;
  });
  const theirs = runSmp(['count', ...paths]);
  assert.is(theirs.length, CASES.length);
  const rows: string[] = [];
  CASES.forEach(([name, o], i) => {
    const ours = describeModel(o, [64, 64]);
    rows.push(`${name.padEnd(70)} ours ${ours.parameters} / ${ours.buffers}  smp ${theirs[i].parameters} / ${theirs[i].buffers}`);
    assert.is(ours.parameters, theirs[i].parameters, `${name}: parameters`);
    assert.is(ours.buffers, theirs[i].buffers, `${name}: buffers`);
    assert.is(ours.parameterGroups.encoder + ours.parameterGroups.decoder + ours.parameterGroups.head, ours.parameters, `${name}: groups add up`);
  });
  console.log(`\n${rows.join('\n')}`);
});

Counts('model.safetensors loads into smp with strict=True (random, in_channels 1 and 4, no norm, scse, UnetPlusPlus)', ({ dir }) => {
  const src = smpSource();
  if (!src.path) return skip(src.why ?? 'no smp');
  // the small ones: each file is written and read in full
  const cases = [CASES[3], CASES[5], CASES[6], CASES[2]];
  const args: string[] = [];
  cases.forEach(([, o], i) => {
    const config = join(dir, `load${i}.json`);
    const weights = join(dir, `load${i}.safetensors`);
    writeFileSync(config, smpConfigJson(o));
    writeFileSync(weights, modelSafetensors(o, { random: { seed: i } }));
    args.push('--case', config, weights);
  });
  const out = runSmp(['load', ...args]);
  assert.equal(
    out.map((r) => r.loaded),
    cases.map(() => true),
  );
});

Counts.run();
