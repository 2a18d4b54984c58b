// What `unet segment` (and model.segment) refuse before any input runs, and what they no longer drop
// without a word: a model with more per-channel files than --max-class-files, more classes than a label
// map holds, --gray for a 3-channel model; an image's alpha channel, hidden files in an input folder.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodePng } from '../../src/io/png.js';
import { parseSafetensors, writeSafetensorsBytes } from '../../src/weights/safetensors.js';
import { segment } from '../../src/segment.js';
import { UnsupportedError } from '../../src/errors.js';
import type { Model } from '../../src/node.js';
import { ALPHA_NOTE, pngHasAlpha } from '../../src/cli/segment.js';
import { assertOneLineError, tempDirs, unet } from '../cliRun.js';

const WEIGHTS = 'assets/demo/nuclei_unet.safetensors'; // brain U-Net 1 -> 1 channels, sigmoid
const OUT2 = 'test/fixtures/out2.weights.safetensors'; // brain U-Net 3 -> 2 channels, sigmoid
const EB0 = 'test/fixtures/smp/eb0_d5_sigmoid'; // smp efficientnet-b0, 3 -> 1 class
const tmp = tempDirs('unet-checks-');

/** A copy of a safetensors file with `head` (weight [C, ...]) and its bias widened to `classes` outputs (seeded values). */
function widenHead(bytes: Uint8Array, head: string, classes: number): Uint8Array {
  const st = parseSafetensors(bytes, 'widen');
  let s = 1;
  const rand = (n: number) => new Float32Array(n).map(() => ((s = (Math.imul(s, 48271) >>> 0) % 2147483647) / 2147483647 - 0.5) * 0.2);
  const raw = [...st.tensors.values()].map((t) => {
    const data = st.bytes.subarray(t.byteOffset, t.byteOffset + t.byteLength);
    if (t.name === `${head}.weight`) {
      const shape = [classes, ...t.shape.slice(1)];
      return { name: t.name, dtype: 'F32' as const, shape, data: new Uint8Array(rand(shape.reduce((a, b) => a * b, 1)).buffer) };
    }
    if (t.name === `${head}.bias`) return { name: t.name, dtype: 'F32' as const, shape: [classes], data: new Uint8Array(rand(classes).buffer) };
    return { name: t.name, dtype: t.dtype, shape: t.shape, data };
  });
  return writeSafetensorsBytes(raw, st.metadata);
}

const grayPng = (w: number, h: number) => encodePng({ width: w, height: h, channels: 1, data: Uint8Array.from({ length: w * h }, (_, i) => (i * 37) % 256) });

// ---

const Refuse = suite('cli: segment refuses what the model cannot give, before it runs');
Refuse.after(tmp.cleanup);

Refuse('300 sigmoid channels: 300 mask files an input, more than --max-class-files 256; --max-class-files 300 writes them', () => {
  const d = tmp.dir();
  const w = join(d, 'c300.safetensors');
  writeFileSync(w, widenHead(readFileSync(WEIGHTS), 'conv', 300));
  writeFileSync(join(d, 'p.png'), grayPng(16, 16));
  const out = join(d, 'out');
  const r = unet('segment', join(d, 'p.png'), '--weights', w, '--out-dir', out);
  assertOneLineError(
    r,
    /c300\.safetensors: 300 output channels read as masks \(sigmoid\) make 300 files \(a mask each\) per input, more than --max-class-files 256: raise --max-class-files$/,
  );
  assert.is(r.stdout, '', 'no summary: nothing ran');
  assert.equal(readdirSync(out), []);
  // --probs doubles the count; the cap is checked with it
  assertOneLineError(
    unet('segment', join(d, 'p.png'), '--weights', w, '--out-dir', out, '--probs', '--max-class-files', '300'),
    /make 600 files \(a mask and a probability each\) per input, more than --max-class-files 300: drop --probs or raise --max-class-files$/,
  );
  const ok = unet('segment', join(d, 'p.png'), '--weights', w, '--out-dir', out, '--max-class-files', '300');
  assert.is(ok.code, 0, ok.stderr);
  assert.is(readdirSync(out).length, 301, '300 masks and the overlay');
  assertOneLineError(
    unet('segment', 'p.png', '--weights', w, '--out-dir', out, '--max-class-files', 'many'),
    /--max-class-files must be a whole number >= 0, found "many"$/,
    2,
  );
});

Refuse('300 softmax classes (smp): refused once loaded, before any input runs: a label map holds at most 256', () => {
  if (!existsSync(join(EB0, 'model.safetensors')))
    throw new Error(`${EB0}/model.safetensors is missing: run /usr/bin/python3 tools/make_smp_fixtures.py --weights`);
  const d = tmp.dir();
  const m = join(d, 'eb0_300');
  mkdirSync(m);
  writeFileSync(join(m, 'model.safetensors'), widenHead(readFileSync(join(EB0, 'model.safetensors')), 'segmentation_head.0', 300));
  const config = JSON.parse(readFileSync(join(EB0, 'config.json'), 'utf8'));
  writeFileSync(join(m, 'config.json'), JSON.stringify({ ...config, classes: 300, activation: 'softmax' }));
  writeFileSync(join(d, 'p.png'), grayPng(32, 32));
  const r = unet('segment', join(d, 'p.png'), '--weights', m, '--out-dir', join(d, 'out'));
  assertOneLineError(r, /eb0_300\/model\.safetensors: 300 classes: unet segment writes class maps of at most 256$/);
  assert.is(r.stdout, '');
});

Refuse('model.segment: a 300-class softmax model is refused (UNSUPPORTED) before the image is read or the model runs', async () => {
  let runs = 0;
  const stub = {
    info: { inChannels: 1, outChannels: 300, classes: 300, activation: 'softmax', preprocessing: { kind: 'none' } },
    run: async () => {
      runs++;
      return { data: new Float32Array(300 * 16), shape: [1, 300, 4, 4] };
    },
  } as unknown as Model;
  const e = await segment(stub, { width: 4, height: 4, channels: 1, data: new Uint8Array(16) }).then(
    () => undefined,
    (err: unknown) => err,
  );
  assert.ok(e instanceof UnsupportedError, `expected an UnsupportedError, got ${e}`);
  assert.is(e.code, 'UNSUPPORTED');
  assert.match(
    e.message,
    /^segment: the model has 300 classes \(softmax\) and the mask holds one class index a byte, at most 256 classes; model\.run gives the raw output$/,
  );
  assert.is(runs, 0, 'the model did not run');
  // 256 classes still run
  stub.info.classes = 256;
  (stub.info as { outChannels: number }).outChannels = 256;
  stub.run = async () => ({ data: new Float32Array(256 * 16), shape: [1, 256, 4, 4] }) as never;
  const ok = await segment(stub, { width: 4, height: 4, channels: 1, data: new Uint8Array(16) });
  assert.is(ok.kind, 'classes');
});

Refuse('--gray with a 3-channel model is a usage error, not silently ignored', () => {
  const d = tmp.dir();
  writeFileSync(join(d, 'p.png'), grayPng(16, 16));
  const r = unet('segment', join(d, 'p.png'), '--gray', '--weights', OUT2, '--out-dir', join(d, 'out'));
  assertOneLineError(
    r,
    /^unet: segment: --gray converts RGB images for 1-channel models, and .*out2\.weights\.safetensors takes 3 channels \(RGB images go in as they are, gray ones repeated into 3 channels\): drop --gray$/,
    2,
  );
  assert.equal(readdirSync(join(d, 'out')), []);
});

// ---

const Notes = suite('cli: segment says what it dropped');

Notes('an image with alpha: a note in the summary, in --json and on stderr; none without alpha', () => {
  const d = tmp.dir();
  const W = 24;
  const H = 16;
  // gray + alpha (PNG colour type 4), half of it transparent
  const ga = Uint8Array.from({ length: W * H * 2 }, (_, i) => (i % 2 ? (i < W * H ? 0 : 255) : (i * 7) % 256));
  writeFileSync(join(d, 'ga.png'), encodePng({ width: W, height: H, channels: 2, data: ga }));
  writeFileSync(join(d, 'g.png'), grayPng(W, H));
  const r = unet('segment', join(d, 'ga.png'), join(d, 'g.png'), '--weights', WEIGHTS, '--out-dir', join(d, 'out'));
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ga\.png +24x16 +foreground [\d.]+% +\d+ ms +\(alpha channel ignored: colours read as stored, not composited over a background\)$/m);
  assert.match(r.stdout, /^g\.png +24x16 +foreground [\d.]+% +\d+ ms$/m);
  assert.equal(r.lines, ['unet: note: 1 of the images has an alpha channel; it was ignored: colours read as stored, not composited over a background']);
  const j = unet('segment', join(d, 'ga.png'), join(d, 'g.png'), '--weights', WEIGHTS, '--out-dir', join(d, 'json'), '--json');
  assert.is(j.code, 0, j.stderr);
  const report = JSON.parse(j.stdout);
  assert.equal(
    report.inputs.map((i: { notes: string[] }) => i.notes),
    [[ALPHA_NOTE], []],
  );
});

Notes('pngHasAlpha: colour types 4 and 6, a tRNS chunk; not gray or RGB', () => {
  const px = (channels: 1 | 2 | 3 | 4) => encodePng({ width: 2, height: 1, channels, data: new Uint8Array(2 * channels).fill(9) });
  assert.equal(
    [1, 2, 3, 4].map((c) => pngHasAlpha(px(c as 1 | 2 | 3 | 4))),
    [false, true, false, true],
  );
  // an RGB PNG with a tRNS chunk (transparent colour) inserted after IHDR (8 + 25 bytes)
  const rgb = px(3);
  const trns = Uint8Array.from([0, 0, 0, 6, ...[...'tRNS'].map((c) => c.charCodeAt(0)), 0, 9, 0, 9, 0, 9, 0, 0, 0, 0]);
  assert.ok(pngHasAlpha(Uint8Array.from([...rgb.subarray(0, 33), ...trns, ...rgb.subarray(33)])));
});

Notes('hidden files in an input folder: counted in a note and in --json skipped; a folder of only hidden files says so', () => {
  const d = tmp.dir();
  const inDir = join(d, 'in');
  mkdirSync(inDir);
  for (const f of ['a.png', '.b.png', '._a.png']) writeFileSync(join(inDir, f), grayPng(16, 16));
  const r = unet('segment', inDir, '--weights', WEIGHTS, '--out-dir', join(d, 'out'), '--json');
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.lines, ['unet: note: skipped 2 hidden files (named .*) in the input folders (._a.png, .b.png): name a file as an argument to segment it']);
  const report = JSON.parse(r.stdout);
  assert.equal(
    report.inputs.map((i: { input: string }) => i.input),
    [join(inDir, 'a.png')],
  );
  assert.equal(report.skipped, [
    { input: join(inDir, '._a.png'), reason: 'hidden file in an input folder' },
    { input: join(inDir, '.b.png'), reason: 'hidden file in an input folder' },
  ]);
  // named on the command line, a hidden file is an input
  const named = unet('segment', join(inDir, '.b.png'), '--weights', WEIGHTS, '--out-dir', join(d, 'named'));
  assert.is(named.code, 0, named.stderr);
  assert.equal(readdirSync(join(d, 'named')).sort(), ['.b_mask.png', '.b_overlay.png']);
  const only = join(d, 'only');
  mkdirSync(only);
  writeFileSync(join(only, '.x.png'), grayPng(16, 16));
  const o = unet('segment', only, '--weights', WEIGHTS, '--out-dir', join(d, 'o'));
  assert.is(o.code, 1, o.stderr);
  assert.ok(
    o.lines.some((l) => /only: no \.png, \.jpg, \.jpeg, \.nii or \.nii\.gz files in this folder \(1 hidden file, named \.\*, skipped\)$/.test(l)),
    o.stderr,
  );
});

Refuse.run();
Notes.run();
