// Shards (`unet segment --num-parts N --part-id I|env`, `unet predict -num_parts N -part_id I`): the N parts
// together write what one run writes, file for file and byte for byte, and no part writes another's files;
// an nnU-Net case is never split. The partition itself (src/cli/shards.ts) is checked without a GPU.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { encodePng } from '../src/io/png.js';
import { UsageError } from '../src/cli/errors.js';
import { parseShard, shardOf } from '../src/cli/shards.js';
import { ROOT, assertOneLineError, tempDirs, unet } from './cliRun.js';

const GRAY = 'test/fixtures/gray.weights.safetensors'; // brain U-Net 1 -> 1, init_features 4
const W3 = 'test/fixtures/nnunet_predict/windows3d';
const tmp = tempDirs('unet-shards-');

/** Every file under `dir` (flat) with its bytes; .gz files inflated, since gzip's header holds the time it was written. */
const filesOf = (dir: string) =>
  new Map(
    readdirSync(dir).map((f) => {
      const bytes = readFileSync(join(dir, f));
      return [f, f.endsWith('.gz') ? gunzipSync(bytes) : bytes];
    }),
  );

/** `unet ...` with extra environment variables (the scheduler's index). */
function unetEnv(env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/unet.js', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, UNET_DEBUG: '', ...env },
  });
  if (r.error) throw r.error;
  return r;
}

/** A gray image whose pixels follow a seed, so every input differs. */
function grayPng(width: number, height: number, seed: number): Uint8Array {
  const data = new Uint8Array(width * height);
  let s = seed * 2654435761;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = (s >>> 24) ^ ((i % width) * 4);
  }
  return encodePng({ width, height, channels: 1, data });
}

/** Asserts that the parts' folders hold disjoint files whose union equals `whole`, byte for byte. */
function assertPartsEqualWhole(whole: Map<string, Buffer>, parts: Map<string, Buffer>[]): void {
  const seen = new Map<string, number>();
  for (const [k, part] of parts.entries()) {
    assert.ok(part.size > 0, `part ${k} wrote nothing`);
    for (const [f, bytes] of part) {
      assert.not.ok(seen.has(f), `${f} written by parts ${seen.get(f)} and ${k}`);
      seen.set(f, k);
      assert.ok(whole.has(f), `part ${k} wrote ${f}, which one run does not write`);
      assert.ok(Buffer.compare(bytes, whole.get(f) as Buffer) === 0, `${f} differs from one run's`);
    }
  }
  assert.equal([...seen.keys()].sort(), [...whole.keys()].sort(), 'the parts together write what one run writes');
}

// ---

const Partition = suite('shards: the partition');

Partition('every N-th of the sorted list, whatever the order given; the parts cover it once', () => {
  const names = ['b', 'a', 'e', 'c', 'd', 'g', 'f'];
  const parts = [0, 1, 2].map((partId) => shardOf(names, (n) => n, { numParts: 3, partId }));
  assert.equal(parts, [
    ['a', 'd', 'g'],
    ['b', 'e'],
    ['c', 'f'],
  ]);
  assert.equal(
    shardOf([...names].reverse(), (n) => n, { numParts: 3, partId: 1 }),
    ['b', 'e'],
    'same part for another order',
  );
  assert.equal(
    shardOf(names, (n) => n, undefined),
    names,
    'no shard: all, as given',
  );
  // code-unit order, not the locale's: 'B' < 'a'
  assert.equal(
    shardOf(['a', 'B'], (n) => n, { numParts: 2, partId: 0 }),
    ['B'],
  );
});

Partition('--part-id env reads JOB_COMPLETION_INDEX, then SLURM_ARRAY_TASK_ID; bad values are usage errors', () => {
  assert.equal(parseShard('segment', '3', 'env', { JOB_COMPLETION_INDEX: '2' }), { numParts: 3, partId: 2 });
  assert.equal(parseShard('segment', '3', 'env', { SLURM_ARRAY_TASK_ID: '1' }), { numParts: 3, partId: 1 });
  assert.equal(parseShard('segment', '3', 'env', { JOB_COMPLETION_INDEX: '0', SLURM_ARRAY_TASK_ID: '1' }), { numParts: 3, partId: 0 });
  assert.equal(parseShard('segment', undefined, undefined), undefined);
  assert.equal(parseShard('segment', '1', undefined), { numParts: 1, partId: 0 });
  const refused: [string | undefined, string | undefined, Record<string, string>, RegExp][] = [
    ['3', 'env', {}, /--part-id env: neither JOB_COMPLETION_INDEX nor SLURM_ARRAY_TASK_ID is set/],
    ['3', 'env', { SLURM_ARRAY_TASK_ID: '3' }, /--part-id env \(SLURM_ARRAY_TASK_ID\) must be a whole number from 0 to 2 .*found "3"/],
    ['3', '3', {}, /--part-id must be a whole number from 0 to 2/],
    ['3', '-1', {}, /--part-id must be a whole number/],
    ['3', undefined, {}, /--num-parts 3 needs --part-id I \(0 to 2\) or --part-id env/],
    [undefined, '1', {}, /--part-id needs --num-parts/],
    ['0', '0', {}, /--num-parts must be a whole number >= 1, found "0"/],
    ['two', '0', {}, /--num-parts must be a whole number/],
  ];
  for (const [n, i, env, message] of refused) {
    try {
      parseShard('segment', n, i, env);
      assert.unreachable(`${n} ${i} accepted`);
    } catch (e) {
      assert.instance(e, UsageError);
      assert.match((e as Error).message, message);
    }
  }
});

Partition.run();

// ---

const Cli = suite('shards: unet segment / unet predict');
Cli.after(tmp.cleanup);

Cli('segment: 3 parts (one by JOB_COMPLETION_INDEX, one by SLURM_ARRAY_TASK_ID) equal one run, file for file, disjoint', () => {
  const d = tmp.dir();
  const a = join(d, 'a');
  const b = join(d, 'b');
  mkdirSync(a);
  mkdirSync(b);
  // 8 images in two folders and one named file, sizes mixed, given out of order
  for (let k = 0; k < 4; k++) writeFileSync(join(a, `img${k}.png`), grayPng(24 + 8 * (k % 2), 16 + 8 * k, k));
  for (let k = 4; k < 7; k++) writeFileSync(join(b, `img${k}.png`), grayPng(32, 24, k));
  writeFileSync(join(d, 'img7.png'), grayPng(20, 28, 7));
  const inputs = [join(d, 'img7.png'), b, a];
  const whole = join(d, 'whole');
  const one = unet('segment', ...inputs, '--weights', GRAY, '--out-dir', whole);
  assert.is(one.code, 0, one.stderr);
  const parts: Map<string, Buffer>[] = [];
  const partInputs: string[][] = [];
  for (let k = 0; k < 3; k++) {
    const out = join(d, `part${k}`);
    const how: [Record<string, string>, string] =
      k === 0 ? [{}, '0'] : k === 1 ? [{ JOB_COMPLETION_INDEX: '1' }, 'env'] : [{ SLURM_ARRAY_TASK_ID: '2' }, 'env'];
    // the inputs in another order on each machine: the partition must not depend on it
    const order = k === 1 ? [...inputs].reverse() : inputs;
    const r = unetEnv(how[0], 'segment', ...order, '--weights', GRAY, '--out-dir', out, '--num-parts', '3', '--part-id', how[1], '--json');
    assert.is(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.part, { id: k, of: 3 });
    assert.match(r.stderr, new RegExp(`part ${k} of 3: ${k < 2 ? 3 : 2} of 8 inputs`));
    partInputs.push(report.inputs.map((i: { input: string }) => i.input));
    parts.push(filesOf(out));
  }
  assert.is(new Set(partInputs.flat()).size, 8, 'each input in one part');
  assertPartsEqualWhole(filesOf(whole), parts);
  assert.is(filesOf(whole).size, 8 * 2, 'a mask and an overlay per input');
});

Cli('segment: a missing input is reported by one part only', () => {
  const d = tmp.dir();
  writeFileSync(join(d, 'x.png'), grayPng(16, 16, 1));
  const codes = [0, 1].map((k) =>
    unet('segment', join(d, 'x.png'), join(d, 'missing.png'), '--weights', GRAY, '--out-dir', join(d, `o${k}`), '--num-parts', '2', '--part-id', String(k)),
  );
  const failing = codes.filter((r) => /missing\.png: cannot read/.test(r.stderr));
  assert.is(failing.length, 1, codes.map((r) => r.stderr).join('\n---\n'));
  assert.is(failing[0].code, 1);
});

Cli('segment: bad shard options are one-line usage errors', () => {
  assertOneLineError(
    unet('segment', 'x.png', '--weights', GRAY, '--out-dir', tmp.dir(), '--num-parts', '2', '--part-id', '2'),
    /--part-id must be a whole number from 0 to 1/,
    2,
  );
  const r = unetEnv(
    { JOB_COMPLETION_INDEX: '', SLURM_ARRAY_TASK_ID: '' },
    'segment',
    'x.png',
    '--weights',
    GRAY,
    '--out-dir',
    tmp.dir(),
    '--num-parts',
    '2',
    '--part-id',
    'env',
  );
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, /--part-id env: neither JOB_COMPLETION_INDEX nor SLURM_ARRAY_TASK_ID is set/);
});

Cli('predict -num_parts 2 -part_id I: whole cases per part, together equal to one run', () => {
  const d = tmp.dir();
  const input = join(d, 'in');
  mkdirSync(input);
  for (const id of ['c', 'a', 'b']) copyFileSync(`${W3}/windows3d_0000.nii.gz`, join(input, `${id}_0000.nii.gz`));
  const common = ['-i', input, '-m', `${W3}/results`, '-f', '0', '--disable_tta'];
  const one = unet('predict', ...common, '-o', join(d, 'whole'));
  assert.is(one.code, 0, one.stderr);
  const parts = [0, 1].map((k) => {
    const r = unet('predict', ...common, '-o', join(d, `p${k}`), '-num_parts', '2', '-part_id', String(k));
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`part ${k} of 2: ${k === 0 ? 2 : 1} of 3 cases`));
    return filesOf(join(d, `p${k}`));
  });
  assert.equal([...parts[0].keys()].sort(), ['a.nii.gz', 'c.nii.gz']);
  assertPartsEqualWhole(filesOf(join(d, 'whole')), parts);
  const bad = unet('predict', ...common, '-o', join(d, 'bad'), '-num_parts', '2', '-part_id', '5');
  assertOneLineError(bad, /-part_id must be a whole number from 0 to 1 \(-num_parts 2\), found "5"/, 2);
});

Cli.run();
