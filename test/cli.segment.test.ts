// `unet segment` as a user runs it, with the demo model (assets/demo, 1 -> 1 channels): a folder of good and
// bad inputs (the bad ones are one-line errors, the good ones still get their outputs, exit 1 with a count),
// masks equal to PyTorch's, a NIfTI volume whose mask keeps the header, --gray for RGB, usage errors.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import jpeg from 'jpeg-js';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { decodeImage } from '../src/io/image.js';
import { encodePng } from '../src/io/png.js';
import { readNifti } from '../src/io/nifti.js';
import { Progress } from '../src/cli/progress.js';
import { assertOneLineError, tempDirs, unet } from './cliRun.js';
import { makeNifti } from './io/makeNifti.js';
import { parseSafetensors, writeSafetensors } from '../src/weights/safetensors.js';
import { getDevice, loadModel, type Model } from '../src/node.js';
import { classImageFiles, segmentOne, type Settings } from '../src/cli/segment.js';
import { classColors } from '../src/io/classes.js';
import { channelPlanes, normalize } from '../src/io/preprocess.js';
import { DEFAULT_LIMITS } from '../src/limits.js';

const DEMO = 'assets/demo';
const WEIGHTS = `${DEMO}/nuclei_unet.safetensors`;
const OUT2 = 'test/fixtures/out2.weights.safetensors'; // brain U-Net 3 -> 2 channels (sigmoid), init_features 4
const tmp = tempDirs('unet-segment-');
const Seg = suite('cli: unet segment');
Seg.after(tmp.cleanup);

const gray = (path: string) => decodeImage(readFileSync(path));
const agreement = (a: Uint8Array, b: Uint8Array) => a.reduce((n, v, i) => n + Number(v > 127 === b[i] > 127), 0) / a.length;

Seg('a folder with good and bad inputs: outputs for the good, one line per bad one, exit 1 with the count', () => {
  const d = tmp.dir();
  const inDir = join(d, 'in');
  const out = join(d, 'out');
  mkdirSync(inDir);
  copyFileSync(`${DEMO}/samples/nuclei_01.png`, join(inDir, 'nuclei_01.png'));
  copyFileSync(`${DEMO}/samples/nuclei_08.png`, join(inDir, 'nuclei_08.png'));
  writeFileSync(join(inDir, 'truncated.png'), readFileSync(`${DEMO}/samples/nuclei_02.png`).subarray(0, 500));
  writeFileSync(join(inDir, 'notes.png'), 'these are my notes, not a PNG');
  const rgba = new Uint8Array(24 * 16 * 4).map((_, i) => (i % 4 === 3 ? 255 : (i * 7) % 256));
  writeFileSync(join(inDir, 'photo.jpg'), jpeg.encode({ width: 24, height: 16, data: rgba }, 90).data);
  // A uint8 volume 48 x 40 x 2 whose slice z is the top-left corner of sample z + 1; slice 0 also as a PNG.
  const crops = [1, 2]
    .map((k) => gray(`${DEMO}/samples/nuclei_0${k}.png`))
    .map((img) => Uint8Array.from({ length: 48 * 40 }, (_, i) => img.data[Math.floor(i / 48) * img.width + (i % 48)]));
  writeFileSync(join(inDir, 'vol.nii.gz'), gzipSync(makeNifti({ dims: [48, 40, 2], datatype: 2, values: [...crops[0], ...crops[1]] })));
  writeFileSync(join(inDir, 'slice0.png'), encodePng({ width: 48, height: 40, channels: 1, data: crops[0] }));

  const r = unet('segment', inDir, join(d, 'missing.png'), `${DEMO}/samples/nuclei_01.png`, '--weights', WEIGHTS, '--out-dir', out, '--probs', '--json');
  assert.is(r.code, 1, r.stderr);
  const errors = r.lines.filter((l) => l.startsWith('unet: '));
  assert.is(errors.length, r.lines.length, r.stderr);
  const expect = [
    /missing\.png: cannot read \(ENOENT\)$/,
    /samples\/nuclei_01\.png: skipped: its outputs \(nuclei_01_mask\.\.\.\) would overwrite those of .*in\/nuclei_01\.png$/,
    /notes\.png: unsupported format \(PNG, JPEG, NIfTI/,
    /photo\.jpg: is RGB and the model takes 1 channel: pass --gray to convert it to grayscale$/,
    /truncated\.png: not a readable PNG/,
    /^unet: 5 of 9 inputs failed$/,
  ];
  for (const p of expect)
    assert.ok(
      errors.some((l) => p.test(l)),
      `no line matches ${p}:\n${r.stderr}`,
    );
  assert.is(errors.length, expect.length, r.stderr);

  const report = JSON.parse(r.stdout);
  assert.equal(
    report.inputs.map((i: { input: string }) => i.input.replace(/.*\//, '')),
    ['nuclei_01.png', 'nuclei_08.png', 'slice0.png', 'vol.nii.gz'],
  );
  assert.is(report.failed.length, 5);
  assert.equal(report.model, {
    architecture: 'brain-unet',
    encoder: 'unet',
    inChannels: 1,
    outChannels: 1,
    classes: 1,
    activation: 'sigmoid',
    multiClass: false,
    features: 4,
    depth: 4,
  });
  assert.equal(report.normalize, { kind: 'zscore' }, "the model's own preprocessing by default");
  assert.is(report.legend, undefined);
  assert.equal(readdirSync(out).sort(), [
    'nuclei_01_mask.png',
    'nuclei_01_overlay.png',
    'nuclei_01_probs.png',
    'nuclei_08_mask.png',
    'nuclei_08_overlay.png',
    'nuclei_08_probs.png',
    'slice0_mask.png',
    'slice0_overlay.png',
    'slice0_probs.png',
    'vol_mask.nii.gz',
    'vol_probs.nii.gz',
  ]);

  // The masks are PyTorch's (tools/train_demo.py, same preprocessing), also for the 131 x 97 image.
  for (const name of ['nuclei_01', 'nuclei_08']) {
    const a = agreement(gray(join(out, `${name}_mask.png`)).data, gray(`${DEMO}/torch/${name}.png`).data);
    assert.ok(a >= 0.999, `${name}: agreement ${a}`);
  }
  const probs = PNG.sync.read(readFileSync(join(out, 'nuclei_01_probs.png')), { skipRescale: true });
  assert.is(probs.depth, 16);
  const fg = report.inputs[0].foreground[0];
  assert.ok(fg > 0.1 && fg < 0.6, `foreground ${fg}`);

  // The volume's mask: the input's header, uint8 0 / 1, slice 0 equal to the PNG of slice 0.
  const vol = readNifti(readFileSync(join(out, 'vol_mask.nii.gz')));
  assert.equal(vol.dims, [48, 40, 2]);
  assert.ok(vol.data.every((v) => v === 0 || v === 1));
  const slice0 = gray(join(out, 'slice0_mask.png')).data;
  assert.equal(
    [...vol.data.subarray(0, 48 * 40)],
    [...slice0].map((v) => (v ? 1 : 0)),
  );
  const probsVol = readNifti(readFileSync(join(out, 'vol_probs.nii.gz')));
  assert.ok(probsVol.data.every((p, i) => (p > 0.5 ? 1 : 0) === vol.data[i]));
});

Seg('--gray segments an RGB JPEG with a 1-channel model; the text summary', () => {
  const d = tmp.dir();
  const rgba = new Uint8Array(40 * 24 * 4).map((_, i) => (i % 4 === 3 ? 255 : (i * 13) % 256));
  writeFileSync(join(d, 'photo.jpg'), jpeg.encode({ width: 40, height: 24, data: rgba }, 90).data);
  const r = unet('segment', join(d, 'photo.jpg'), '--gray', '--threshold', '0.7', '--weights', WEIGHTS, '--out-dir', join(d, 'out'));
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^photo\.jpg +40x24 +foreground \d+\.\d% +\d+ ms +\(RGB converted to gray\)$/m);
  assert.match(r.stdout, /^1 input segmented in [\d.]+ s \([\d.]+ images\/s\); outputs in .*out; model 1 -> 1 channels, init_features 4/m);
  assert.equal(readdirSync(join(d, 'out')).sort(), ['photo_mask.png', 'photo_overlay.png']);
});

Seg('usage errors (exit 2): activation, normalize, bad threshold, no inputs', () => {
  assertOneLineError(
    unet('segment', 'x.png', '--weights', WEIGHTS, '--out-dir', 'o', '--activation', 'softmax2d'),
    /--activation must be identity, sigmoid, softmax, logsoftmax or tanh, found "softmax2d"$/,
    2,
  );
  assertOneLineError(
    unet('segment', 'x.png', '--weights', WEIGHTS, '--out-dir', 'o', '--normalize', 'imagenet1k'),
    /--normalize must be model, zscore, none, imagenet or MEAN,STD \(STD > 0\), found "imagenet1k"$/,
    2,
  );
  assertOneLineError(
    unet('segment', 'x.png', '--weights', WEIGHTS, '--out-dir', 'o', '--threshold', '2'),
    /--threshold must be a number from 0 to 1, found "2"/,
    2,
  );
  assertOneLineError(unet('segment', '--weights', WEIGHTS, '--out-dir', 'o'), /segment: no input images or folders given/, 2);
  // names of Object's own properties are no axis
  for (const axis of ['constructor', 'toString', '__proto__']) {
    assertOneLineError(
      unet('segment', 'x.nii', '--weights', WEIGHTS, '--out-dir', 'o', '--axis', axis),
      new RegExp(`--axis must be axial, coronal, sagittal, 0, 1 or 2, found "${axis}"$`),
      2,
    );
  }
});

Seg("--out-dir = the input folder: a user's own cell_mask.png is neither replaced nor segmented without --overwrite", () => {
  const d = tmp.dir();
  copyFileSync(`${DEMO}/samples/nuclei_01.png`, join(d, 'cell.png'));
  const mine = encodePng({ width: 4, height: 4, channels: 1, data: new Uint8Array(16).fill(7) });
  writeFileSync(join(d, 'cell_mask.png'), mine);
  const r = unet('segment', d, '--weights', WEIGHTS, '--out-dir', d);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.lines[0], /^unet: note: skipped 1 file in --out-dir named like the outputs of another input \(cell_mask\.png\)$/, r.stderr);
  assert.match(r.lines[1], /^unet: .*cell\.png: its output .*cell_mask\.png already exists \(pass --overwrite to replace it\)$/, r.stderr);
  assert.match(r.lines[2], /^unet: 1 of 1 inputs failed$/, r.stderr);
  assert.ok(readFileSync(join(d, 'cell_mask.png')).equals(Buffer.from(mine)), "the user's file is unchanged");
  assert.equal(readdirSync(d).sort(), ['cell.png', 'cell_mask.png']);
  // --overwrite: replaced by the model's mask; the old mask is still not read as an input
  const o = unet('segment', d, '--weights', WEIGHTS, '--out-dir', d, '--overwrite');
  assert.is(o.code, 0, o.stderr);
  assert.equal(readdirSync(d).sort(), ['cell.png', 'cell_mask.png', 'cell_overlay.png']);
  assert.is(decodeImage(readFileSync(join(d, 'cell_mask.png'))).width, gray(join(d, 'cell.png')).width);
});

Seg('an input is never written over, even with --overwrite', () => {
  const d = tmp.dir();
  copyFileSync(`${DEMO}/samples/nuclei_01.png`, join(d, 'p.png'));
  copyFileSync(`${DEMO}/samples/nuclei_02.png`, join(d, 'p_mask.png'));
  const r = unet('segment', join(d, 'p.png'), join(d, 'p_mask.png'), '--weights', WEIGHTS, '--out-dir', d, '--overwrite');
  assert.is(r.code, 1, r.stderr);
  assert.ok(
    r.lines.some((l) => /p\.png: its output p_mask\.png would overwrite the input .*p_mask\.png: choose another --out-dir$/.test(l)),
    r.stderr,
  );
  assert.equal(readFileSync(join(d, 'p_mask.png')), readFileSync(`${DEMO}/samples/nuclei_02.png`));
});

Seg('a failing write leaves no partial set: p_overlay.png is a directory, so no p_mask.png either', () => {
  const d = tmp.dir();
  const out = join(d, 'out');
  mkdirSync(join(out, 'p_overlay.png'), { recursive: true });
  copyFileSync(`${DEMO}/samples/nuclei_01.png`, join(d, 'p.png'));
  for (const extra of [[], ['--overwrite']]) {
    const r = unet('segment', join(d, 'p.png'), '--weights', WEIGHTS, '--out-dir', out, ...extra);
    assert.is(r.code, 1, r.stderr);
    assert.match(r.lines[0], /p\.png: its output .*p_overlay\.png is a directory$/, r.stderr);
    assert.equal(readdirSync(out), ['p_overlay.png']);
  }
});

Seg('--pad mirror is a usage error', () => {
  assertOneLineError(
    unet('segment', 'x.png', '--weights', WEIGHTS, '--out-dir', 'o', '--pad', 'mirror'),
    /^unet: segment: --pad must be 'reflect' or 'zero', found "mirror"$/,
    2,
  );
  assertOneLineError(
    unet('segment', 'x.png', '--weights', WEIGHTS, '--out-dir', 'o', '--max-pixels', 'lots'),
    /--max-pixels must be a number >= 0, found "lots"/,
    2,
  );
});

Seg('finite inputs of 3e38 give NaN outputs: a warning naming how many and where; --strict makes it an error', () => {
  const d = tmp.dir();
  const input = join(d, 'big.safetensors');
  writeFileSync(input, writeSafetensors({ input: { shape: [1, 1, 16, 16], data: new Float32Array(256).fill(3e38) } }));
  const args = ['infer', '--weights', WEIGHTS, '--input', input, '--out', join(d, 'y.safetensors')];
  const r = unet(...args);
  assert.is(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /^unet: warning: .*big\.safetensors: tensor "input": (\d+) of 256 output values are NaN or Inf \(the first at n 0, c 0, y \d+, x \d+\) although the input is finite/m,
  );
  const s = unet(...args, '--strict', '--out', join(d, 'z.safetensors'));
  assert.is(s.code, 1, s.stderr);
  assert.match(s.lines[s.lines.length - 1], /output values are NaN or Inf .* \(--strict: no output written\)$/);
  assert.equal(readdirSync(d).sort(), ['big.safetensors', 'y.safetensors']);
});

Seg('progress bar: only on a terminal, with rate and ETA, cleared before a message', () => {
  const written: string[] = [];
  const tty = { isTTY: true, columns: 120, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
  const p = new Progress(4, tty);
  p.update(0, 'a.png');
  p.update(2, 'c.png');
  p.print('unet: c.png: broken');
  assert.match(written[1], /^\r\x1b\[K\[#{12}\.{12}\] 2\/4 [\d.]+ img\/s ETA \d+:\d\d {2}c\.png$/);
  assert.equal(written.slice(2), ['\r\x1b[K', 'unet: c.png: broken\n']);
  const pipe = { isTTY: false, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
  const before = written.length;
  new Progress(4, pipe).update(1, 'x');
  assert.is(written.length, before);
});

Seg('out2 (sigmoid, 2 channels) stays a mask model: a mask per channel; --normalize model is zscore for it', () => {
  const d = tmp.dir();
  const img = join(d, 'p.png');
  copyFileSync(`${DEMO}/samples/nuclei_03.png`, img);
  const a = unet('segment', img, '--weights', OUT2, '--out-dir', join(d, 'a'), '--json');
  assert.is(a.code, 0, a.stderr);
  assert.equal(readdirSync(join(d, 'a')).sort(), ['p_mask_c0.png', 'p_mask_c1.png', 'p_overlay.png']);
  const b = unet('segment', img, '--weights', OUT2, '--out-dir', join(d, 'b'), '--normalize', 'zscore');
  assert.is(b.code, 0, b.stderr);
  for (const f of ['p_mask_c0.png', 'p_mask_c1.png']) assert.ok(readFileSync(join(d, 'a', f)).equals(readFileSync(join(d, 'b', f))), f);
  assert.equal(JSON.parse(a.stdout).model.multiClass, false);
});

Seg("classImageFiles on out2's GPU output read as logits: the label PNG decodes to the argmax, probs per class sum to 1", async () => {
  // a brain U-Net with 2 outputs (test/fixtures/out2, input [1, 3, 32, 32]); its output taken as 2-class logits
  const io = parseSafetensors(readFileSync('test/fixtures/out2.io.safetensors'), 'out2.io');
  const x = { data: io.getF32('input'), shape: io.tensors.get('input')!.shape };
  const device = await getDevice();
  try {
    const model = await loadModel(device, OUT2);
    const y = await model.run(x);
    model.dispose();
    const [, C, H, W] = y.shape;
    const img = { width: W, height: H, channels: 1 as const, data: new Uint8Array(H * W).fill(128) };
    const { files, classes } = classImageFiles(img, y.data, C, 'q', { probs: true, activation: 'identity' });
    assert.equal([...files.keys()], ['q_labels.png', 'q_overlay.png', 'q_probs_c0.png', 'q_probs_c1.png']);
    const labels = paletteIndices(
      files.get('q_labels.png')!,
      classColors(C).map((c) => c.rgb),
    );
    const expected = Array.from({ length: H * W }, (_, i) => (y.data[H * W + i] > y.data[i] ? 1 : 0));
    assert.equal(labels, expected);
    assert.ok(expected.some((l) => l === 1) && expected.some((l) => l === 0), 'both classes occur');
    assert.is(
      classes.reduce((n, e) => n + e.pixels, 0),
      H * W,
    );
    assert.is(classes[1].pixels, expected.filter((l) => l === 1).length);
    const [p0, p1] = ['q_probs_c0.png', 'q_probs_c1.png'].map((f) => PNG.sync.read(Buffer.from(files.get(f)!), { skipRescale: true }));
    assert.is(p0.depth, 16);
    for (let i = 0; i < H * W; i++) {
      const sum = probAt(p0, i) + probAt(p1, i);
      assert.ok(Math.abs(sum - 65535) <= 1, `pixel ${i}: ${sum}`);
    }
  } finally {
    device.destroy();
  }
});

Seg('multi-class outputs with a stub model (3 classes, logsoftmax): labels, overlay, probs per class, volume labels, legend, no overwrite', async () => {
  const d = tmp.dir();
  const out = join(d, 'out');
  mkdirSync(out);
  // logits per pixel from the normalized value v: class k scores -(v - (k - 1))^2, so dark -> 0, mid -> 1, bright -> 2
  let last: Float32Array = new Float32Array(0);
  const stub = {
    info: { inChannels: 1, outChannels: 3, classes: 3, activation: 'logsoftmax' },
    run: async (x: { data: Float32Array; shape: readonly number[] }) => {
      const [, , H, W] = x.shape;
      const n = H * W;
      const logits = Float32Array.from({ length: 3 * n }, (_, j) => -((x.data[j % n] - (Math.floor(j / n) - 1)) ** 2));
      const y = new Float32Array(3 * n);
      for (let i = 0; i < n; i++) {
        const lse = Math.log([0, 1, 2].reduce((a, k) => a + Math.exp(logits[k * n + i]), 0));
        for (let k = 0; k < 3; k++) y[k * n + i] = logits[k * n + i] - lse;
      }
      last = y;
      return { data: y, shape: [1, 3, H, W] };
    },
  } as unknown as Model;
  const settings: Settings = {
    threshold: 0.5,
    norm: { kind: 'zscore' },
    activation: 'logsoftmax',
    multiClass: true,
    gray: false,
    axis: 2,
    pad: 'reflect',
    tile: false,
    probs: true,
    outDir: out,
    overwrite: false,
    strict: false,
    limits: DEFAULT_LIMITS,
    protectedFiles: [],
  };
  copyFileSync(`${DEMO}/samples/nuclei_04.png`, join(d, 'cell.png'));
  const r = await segmentOne(stub, join(d, 'cell.png'), 'cell', settings, () => {});
  assert.equal(r.outputs, ['cell_labels.png', 'cell_overlay.png', 'cell_probs_c0.png', 'cell_probs_c1.png', 'cell_probs_c2.png']);
  const n = last.length / 3;
  const expected = Array.from({ length: n }, (_, i) => [0, 1, 2].reduce((b, k) => (last[k * n + i] > last[b * n + i] ? k : b), 0));
  assert.equal(
    paletteIndices(
      readFileSync(join(out, 'cell_labels.png')),
      classColors(3).map((c) => c.rgb),
    ),
    expected,
  );
  assert.equal(
    r.classes!.map((e) => e.pixels),
    [0, 1, 2].map((k) => expected.filter((l) => l === k).length),
  );
  assert.is(
    r.classes!.reduce((a, e) => a + e.pixels, 0),
    n,
  );
  assert.equal(
    r.classes!.map((e) => e.color),
    ['background', 'red', 'green'],
  );
  const p = PNG.sync.read(readFileSync(join(out, 'cell_probs_c2.png')), { skipRescale: true });
  const i = expected.indexOf(2);
  assert.ok(Math.abs(probAt(p, i) / 65535 - Math.exp(last[2 * n + i])) < 1e-4, 'exp of the log-softmax');
  // the overlay leaves background pixels as the image
  const img = decodeImage(readFileSync(join(d, 'cell.png')));
  const overlay = decodeImage(readFileSync(join(out, 'cell_overlay.png')));
  const bg = expected.indexOf(0);
  assert.equal([...overlay.data.subarray(3 * bg, 3 * bg + 3)], [img.data[bg], img.data[bg], img.data[bg]]);
  // run again: the outputs exist, nothing is replaced without --overwrite
  const again = await segmentOne(stub, join(d, 'cell.png'), 'cell', settings, () => {}).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.match(String(again?.message), /cell_labels\.png already exists \(pass --overwrite to replace it\)$/);

  // a volume: NAME_labels.nii.gz, uint8 class indices with the input's header; probs per class
  const vals = Uint8Array.from({ length: 12 * 10 * 2 }, (_, j) => (j * 37) % 256);
  writeFileSync(join(d, 'v.nii.gz'), gzipSync(makeNifti({ dims: [12, 10, 2], datatype: 2, values: vals })));
  const v = await segmentOne(stub, join(d, 'v.nii.gz'), 'v', settings, () => {});
  assert.equal(v.outputs, ['v_labels.nii.gz', 'v_probs_c0.nii.gz', 'v_probs_c1.nii.gz', 'v_probs_c2.nii.gz']);
  const labels = readNifti(readFileSync(join(out, 'v_labels.nii.gz')));
  assert.equal(labels.dims, [12, 10, 2]);
  // slice 1 was the last run: its labels are the argmax of the stub's output
  const m = 120;
  assert.equal(
    [...labels.data.subarray(m)],
    Array.from({ length: m }, (_, q) => [0, 1, 2].reduce((b, k) => (last[k * m + q] > last[b * m + q] ? k : b), 0)),
  );
  assert.is(
    v.classes!.reduce((a, e) => a + e.pixels, 0),
    240,
  );
  const probs = [0, 1, 2].map((k) => readNifti(readFileSync(join(out, `v_probs_c${k}.nii.gz`))).data);
  assert.ok(
    probs[0].every((q, j) => Math.abs(q + probs[1][j] + probs[2][j] - 1) < 1e-5),
    'probabilities sum to 1',
  );
});

const SMP = 'test/fixtures/smp/r50_d3_nonorm'; // resnet50, depth 3, 3 -> 2 classes, logsoftmax, imagenet

Seg('an smp model (2 classes, logsoftmax) end to end: labels = argmax of the model output, legend, --activation identity the same', async () => {
  if (!existsSync(join(SMP, 'model.safetensors')))
    throw new Error(`${SMP}/model.safetensors is missing: run /usr/bin/python3 tools/make_smp_fixtures.py --weights`);
  const d = tmp.dir();
  const rgba = new Uint8Array(40 * 24 * 4).map((_, i) => (i % 4 === 3 ? 255 : (i * 13) % 256));
  writeFileSync(join(d, 'photo.png'), PNG.sync.write(Object.assign(new PNG({ width: 40, height: 24 }), { data: Buffer.from(rgba) })));
  const r = unet('segment', join(d, 'photo.png'), '--weights', SMP, '--out-dir', join(d, 'out'), '--probs', '--json');
  assert.is(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.normalize, { kind: 'imagenet' });
  assert.equal(
    report.legend.map((e: { color: string }) => e.color),
    ['background', 'red'],
  );
  assert.equal(readdirSync(join(d, 'out')).sort(), ['photo_labels.png', 'photo_overlay.png', 'photo_probs_c0.png', 'photo_probs_c1.png']);
  const counts = report.inputs[0].classes.map((e: { pixels: number }) => e.pixels);
  assert.is(counts[0] + counts[1], 40 * 24);
  // the same input through the library
  const img = decodeImage(readFileSync(join(d, 'photo.png')));
  const x = normalize(channelPlanes(img, 3, false).planes, 24, 40, { kind: 'imagenet' });
  const device = await getDevice();
  let y: Float32Array;
  try {
    const model = await loadModel(device, SMP);
    y = (await model.run(x)).data;
    model.dispose();
  } finally {
    device.destroy();
  }
  const n = 40 * 24;
  const expected = Array.from({ length: n }, (_, i) => (y[n + i] > y[i] ? 1 : 0));
  assert.equal(
    paletteIndices(
      readFileSync(join(d, 'out', 'photo_labels.png')),
      classColors(2).map((c) => c.rgb),
    ),
    expected,
  );
  const id = unet('segment', join(d, 'photo.png'), '--weights', SMP, '--out-dir', join(d, 'id'), '--activation', 'identity');
  assert.is(id.code, 0, id.stderr);
  assert.match(id.stdout, /^photo\.png +40x24 +classes 0 background \d+ \([\d.]+%\), 1 red \d+ \([\d.]+%\)/m);
  assert.equal(
    paletteIndices(
      readFileSync(join(d, 'id', 'photo_labels.png')),
      classColors(2).map((c) => c.rgb),
    ),
    expected,
  );
});

/** A 16-bit gray PNG's value at pixel i (pngjs with skipRescale gives 16-bit RGBA samples). */
function probAt(png: PNG, i: number): number {
  return (png.data as unknown as Uint16Array)[4 * i];
}

/** The class index of each pixel of a palette PNG, from the colours pngjs expands it to. */
function paletteIndices(bytes: Uint8Array, palette: [number, number, number][]): number[] {
  const png = PNG.sync.read(Buffer.from(bytes));
  const byColor = new Map(palette.map((rgb, k) => [rgb.join(','), k]));
  return Array.from({ length: png.width * png.height }, (_, i) => {
    const k = byColor.get([...png.data.subarray(4 * i, 4 * i + 3)].join(','));
    if (k === undefined) throw new Error(`pixel ${i}: colour not in the palette`);
    return k;
  });
}

Seg.run();
