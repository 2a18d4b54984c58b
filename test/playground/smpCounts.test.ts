// The playground's numbers against smp's (test/fixtures/playground/smp.json, which tools/smp_playground.py
// made by running smp itself): config.json byte for byte as save_pretrained writes it, parameters and buffers
// as PyTorch counts them, and model.safetensors with exactly smp's state_dict keys, dtypes and shapes (what
// load_state_dict(strict=True) checks). Nothing here is a hard-coded count. With $SMP_SOURCE set, smp also
// builds our config.json and loads our weights live.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeModel, modelSafetensors, smpConfig, smpConfigJson } from '../../src/index.js';
import { parseSafetensors } from '../../src/weights/safetensors.js';
import { skip } from '../skip.js';
import { COUNT_CASES } from './cases.js';
import { type Layout, liveSmp, runSmp, smpFixture, tempDir } from './smp.js';

const Counts = suite<{ dir: string }>('playground: config.json, counts and state_dict vs smp');
Counts.before((ctx) => {
  ctx.dir = tempDir();
});

const fixture = smpFixture();

Counts('config.json is json.dumps(config, sort_keys=True, indent=2) of smp init arguments', () => {
  const o = COUNT_CASES[6][2];
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

Counts("the fixture has every case and no other (tools/smp_playground.py's CONFIGS are cases.ts's names)", () => {
  assert.equal(Object.keys(fixture.configs).sort(), COUNT_CASES.map(([name]) => name).sort());
});

Counts("every case: our config.json is smp's save_pretrained text; parameters and buffers are smp's", () => {
  const rows: string[] = [];
  for (const [name, title, o] of COUNT_CASES) {
    const want = fixture.configs[name];
    assert.is(smpConfigJson(o), want.config_json, `${name} (${title}): config.json`);
    const ours = describeModel(o, [64, 64]);
    rows.push(`${title.padEnd(70)} ours ${ours.parameters} / ${ours.buffers}  smp ${want.parameters} / ${want.buffers}`);
    assert.is(ours.parameters, want.parameters, `${title}: parameters`);
    assert.is(ours.buffers, want.buffers, `${title}: buffers`);
    assert.is(ours.parameterGroups.encoder + ours.parameterGroups.decoder + ours.parameterGroups.head, ours.parameters, `${title}: groups add up`);
  }
  console.log(`\n${rows.join('\n')}`);
});

/** What strict=True would refuse: keys missing or unexpected, dtypes or shapes that differ (the first few). */
function strictProblems(ours: Map<string, Layout>, smp: Record<string, Layout>): string[] {
  const problems: string[] = [];
  for (const [k, want] of Object.entries(smp)) {
    const got = ours.get(k);
    if (!got) problems.push(`missing ${k}`);
    else if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`${k}: ours ${JSON.stringify(got)}, smp's ${JSON.stringify(want)}`);
  }
  for (const k of ours.keys()) if (!(k in smp)) problems.push(`unexpected ${k}`);
  return problems;
}

Counts("every case: model.safetensors has exactly smp's state_dict keys, dtypes and shapes (what strict=True checks)", () => {
  COUNT_CASES.forEach(([name, title, o], i) => {
    const st = parseSafetensors(modelSafetensors(o, { random: { seed: i } }));
    const ours = new Map<string, Layout>([...st.tensors.values()].map((t) => [t.name, [t.dtype, ...t.shape]]));
    const problems = strictProblems(ours, fixture.configs[name].state_dict);
    assert.equal(problems.slice(0, 5), [], `${title}: ${problems.length} differences from smp's state_dict`);
    assert.ok(ours.size > 100, `${title}: ${ours.size} tensors`);
  });
});

Counts('the strict comparison fails on a missing, an unexpected and a reshaped tensor (negative control)', () => {
  const smp = fixture.configs.r18_scse.state_dict;
  const ours = new Map(Object.entries(smp));
  assert.equal(strictProblems(ours, smp), []);
  ours.delete('encoder.conv1.weight');
  ours.set('encoder.fc.weight', ['F32', 1000, 512]);
  ours.set('segmentation_head.0.bias', ['F32', 2]);
  assert.is(strictProblems(ours, smp).length, 3);
});

// live: only where $SMP_SOURCE names smp's source (a CI machine has none; the fixture above stands for it)
const live = liveSmp();
if (live) {
  Counts('live smp: builds Unet(**config) from our config.json with our parameter and buffer counts', ({ dir }) => {
    const paths = COUNT_CASES.map(([, , o], i) => {
      const p = join(dir, `config${i}.json`);
      writeFileSync(p, smpConfigJson(o));
      return p;
    });
    const theirs = runSmp(['count', ...paths]);
    assert.is(theirs.length, COUNT_CASES.length);
    COUNT_CASES.forEach(([, title, o], i) => {
      const ours = describeModel(o, [64, 64]);
      assert.equal([ours.parameters, ours.buffers], [theirs[i].parameters, theirs[i].buffers], `${title}: parameters, buffers`);
    });
  });

  Counts('live smp: model.safetensors loads with strict=True (in_channels 1 and 4, no norm, scse, UnetPlusPlus)', ({ dir }) => {
    // the small ones: each file is written and read in full
    const cases = [3, 5, 6, 2].map((i) => COUNT_CASES[i]);
    const args: string[] = [];
    cases.forEach(([, , o], i) => {
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
}

Counts.run();
