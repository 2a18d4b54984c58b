// model.segment end to end in Node: images as paths, PNG bytes and raw pixels, against model.run on the
// CLI's own preprocessing (decodeImage, channelPlanes, normalize) and against PyTorch's masks of the demo
// samples; sliding windows at full resolution; multi-class argmax; the render helpers and encodePng.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { decodeImage } from '../src/io/image.js';
import { channelPlanes, normalize } from '../src/io/preprocess.js';
import { argmaxLabels, classProbabilities } from '../src/io/classes.js';
import {
  InputError,
  LimitError,
  encodePng,
  getDevice,
  imageTensor,
  loadModel,
  luma,
  probabilitiesPng,
  renderLabels,
  renderMask,
  renderOverlay,
  type Model,
  type Normalization,
  type RawImage,
  type SegmentResult,
} from '../src/node.js';
import { segment } from '../src/segment.js';
import { rejectsWith, rng } from './helpers.js';
import { skip } from './skip.js';

const DEMO = 'assets/demo/nuclei_unet.safetensors'; // brain U-Net layout, 1 -> 1 sigmoid, zscore
const SAMPLE = 'assets/demo/samples/nuclei_01.png'; // 128 x 128 gray
const TORCH_MASK = 'assets/demo/torch/nuclei_01.png'; // PyTorch's mask of it (0 / 255, probability > 0.5)
const ODD_SAMPLE = 'assets/demo/samples/nuclei_07.png';

/** The CLI's path for a gray image: decodeImage, channelPlanes, normalize (zscore), model.run. */
async function runLikeCli(model: Model, path: string): Promise<{ probs: Float32Array; width: number; height: number }> {
  const img = decodeImage(readFileSync(path));
  const { planes } = channelPlanes(img, model.info.inChannels, false);
  const y = await model.run(normalize(planes, img.height, img.width, model.info.preprocessing), { tile: false });
  return { probs: y.data, width: img.width, height: img.height };
}

function agreement(a: Uint8Array, b: Uint8Array): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

function assertSameResult(got: SegmentResult, want: SegmentResult, what: string): void {
  assert.is(got.width, want.width, `${what}: width`);
  assert.is(got.height, want.height, `${what}: height`);
  assert.ok(
    got.probabilities.every((v, i) => v === want.probabilities[i]),
    `${what}: probabilities differ`,
  );
  assert.ok(
    got.mask.every((v, i) => v === want.mask[i]),
    `${what}: masks differ`,
  );
}

const Seg = suite<{ device: GPUDevice; model: Model }>('segment: images in, masks out (demo model, 1 -> 1 sigmoid)');
Seg.before(async (ctx) => {
  ctx.device = await getDevice();
  ctx.model = await loadModel(ctx.device, DEMO);
});
Seg.after((ctx) => {
  ctx.model.dispose();
  ctx.device.destroy();
});

Seg('a PNG path 128x128: probabilities = model.run on the CLI preprocessing, mask = probability > 0.5, PyTorch masks agree 100%', async ({ model }) => {
  const r = await model.segment(SAMPLE);
  const want = await runLikeCli(model, SAMPLE);
  assert.is(r.kind, 'mask');
  assert.is(r.classes, 1);
  assert.equal([r.width, r.height], [want.width, want.height]);
  assert.is(r.probabilities.length, 128 * 128);
  assert.ok(
    r.probabilities.every((v, i) => v === want.probs[i]),
    'probabilities equal model.run on the same input',
  );
  assert.ok(
    r.mask.every((m, i) => m === (want.probs[i] > 0.5 ? 1 : 0)),
    'mask is probability > 0.5',
  );
  const torch = decodeImage(readFileSync(TORCH_MASK)).data.map((v) => (v ? 1 : 0));
  assert.is(agreement(r.mask, torch), 1, 'agrees with PyTorch on every pixel');
  const on = r.mask.reduce((a, v) => a + v, 0);
  assert.ok(on > 0 && on < r.mask.length, 'the mask has foreground and background');
  assert.is(r.foreground[0], on / r.mask.length);
  assert.equal(r.masks, [r.mask]);
  assert.is(r.threshold, 0.5);
  assert.is(r.tiling, undefined, 'one pass');
});

Seg('PNG bytes (Buffer and ArrayBuffer), a Blob, and a raw gray buffer give the result of the path', async ({ model }) => {
  const want = await model.segment(SAMPLE);
  const bytes = readFileSync(SAMPLE);
  assertSameResult(await model.segment(bytes), want, 'Buffer');
  assertSameResult(await model.segment(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)), want, 'ArrayBuffer');
  assertSameResult(await model.segment(new Blob([bytes])), want, 'Blob');
  const img = decodeImage(bytes);
  assertSameResult(await model.segment({ data: img.data, width: img.width, height: img.height, channels: 1 }), want, 'raw gray');
});

Seg('raw RGBA: a gray RGBA image equals the gray one; a colour one is converted by luma (0.299 R + 0.587 G + 0.114 B)', async ({ model }) => {
  const img = decodeImage(readFileSync(SAMPLE));
  const n = img.width * img.height;
  const rgba = new Uint8ClampedArray(4 * n);
  for (let i = 0; i < n; i++) rgba.set([img.data[i], img.data[i], img.data[i], 255], 4 * i);
  assertSameResult(await model.segment({ data: rgba, width: img.width, height: img.height, channels: 4 }), await model.segment(SAMPLE), 'gray RGBA');
  // ImageData has no channels field: it is RGBA
  assertSameResult(await model.segment({ data: rgba, width: img.width, height: img.height } as ImageData), await model.segment(SAMPLE), 'ImageData-like');

  const rand = rng(5);
  const color = new Uint8Array(4 * n);
  for (let i = 0; i < n; i++) color.set([img.data[i], 255 * rand(), 255 - img.data[i], 7], 4 * i);
  const r = await model.segment({ data: color, width: img.width, height: img.height, channels: 4 });
  assert.equal(r.notes, ['RGB converted to gray']);
  const gray = Float64Array.from({ length: n }, (_, i) => 0.299 * color[4 * i] + 0.587 * color[4 * i + 1] + 0.114 * color[4 * i + 2]);
  const y = await model.run(normalize([gray], img.height, img.width, { kind: 'zscore' }));
  let maxDiff = 0;
  for (let i = 0; i < n; i++) maxDiff = Math.max(maxDiff, Math.abs(r.probabilities[i] - y.data[i]));
  assert.ok(maxDiff <= 1e-6, `max |diff| ${maxDiff} from model.run on the hand-made luma`);
  assert.is(luma(10, 10, 10), 10, 'gray stays exact');
  assert.is(luma(100, 50, 200), 0.299 * 100 + 0.587 * 50 + 0.114 * 200);
});

Seg('Float32Array pixels on the 0..255 scale equal the 8-bit ones; normalize and threshold options apply', async ({ model }) => {
  const img = decodeImage(readFileSync(SAMPLE));
  const f = await model.segment({ data: Float32Array.from(img.data), width: img.width, height: img.height, channels: 1 });
  assertSameResult(f, await model.segment(SAMPLE), 'float pixels');
  const low = await model.segment(SAMPLE, { threshold: 0.1 });
  assert.ok(
    low.mask.every((m, i) => m === (low.probabilities[i] > 0.1 ? 1 : 0)),
    'threshold 0.1',
  );
  assert.ok(low.foreground[0] >= f.foreground[0], 'a lower threshold keeps at least as many pixels');
  const fixed = await model.segment(SAMPLE, { normalize: { kind: 'fixed', mean: 100, std: 50 } });
  const y = await model.run(normalize([Float64Array.from(img.data)], img.height, img.width, { kind: 'fixed', mean: 100, std: 50 }));
  assert.ok(
    fixed.probabilities.every((v, i) => v === y.data[i]),
    'normalize: fixed mean / std',
  );
});

Seg('a 120x152 sample at full resolution: windows of 64 (forced) against one pass; tile auto within a small budget tiles too', async ({ model }) => {
  const one = await model.segment(ODD_SAMPLE, { tile: false });
  assert.equal([one.width, one.height], [152, 120]);
  let progress = 0;
  const tiled = await model.segment(ODD_SAMPLE, { tile: { roi: 64, overlap: 0.25 }, onProgress: (p) => (progress = p.done / p.total) });
  assert.equal([tiled.width, tiled.height], [152, 120]);
  assert.is(tiled.probabilities.length, 152 * 120);
  assert.ok(tiled.tiling && tiled.tiling.windows > 1, `ran in windows: ${JSON.stringify(tiled.tiling)}`);
  assert.is(progress, 1);
  let sum = 0;
  for (let i = 0; i < one.probabilities.length; i++) sum += Math.abs(tiled.probabilities[i] - one.probabilities[i]);
  const a = agreement(tiled.mask, one.mask);
  // README: windows of 48 on 96 x 80 crops agree on 99.35-99.57% of pixels, mean |diff| 7e-3
  assert.ok(a >= 0.98, `masks agree on ${(100 * a).toFixed(2)}%`);
  assert.ok(sum / one.probabilities.length <= 0.02, `mean |tiled - one pass| ${sum / one.probabilities.length}`);
  const budget = await model.segment(ODD_SAMPLE, { tile: { memoryBudgetBytes: 256 * 1024 } });
  assert.ok(budget.tiling, 'a 256 KiB budget makes it tile');
  assert.equal([budget.width, budget.height], [152, 120]);
});

Seg('render helpers: mask, labels and overlay as RGBA at the image size; PNGs decode to the same pixels', async ({ model }) => {
  const img = decodeImage(readFileSync(SAMPLE));
  const r = await model.segment(SAMPLE);
  const n = r.width * r.height;
  const mask = renderMask(r);
  assert.ok(mask.data instanceof Uint8ClampedArray && mask.data.length === 4 * n);
  for (let i = 0; i < n; i++) if (mask.data[4 * i] !== 255 * r.mask[i] || mask.data[4 * i + 3] !== 255) assert.unreachable(`mask pixel ${i}`);
  const labels = renderLabels(r);
  const on = r.mask.indexOf(1);
  assert.equal([...labels.data.subarray(4 * on, 4 * on + 4)], [230, 25, 75, 255], 'foreground is class 1, red');
  const over = renderOverlay(img, r, { opacity: 0.5 });
  const off = r.mask.indexOf(0);
  assert.equal([...over.data.subarray(4 * off, 4 * off + 4)], [img.data[off], img.data[off], img.data[off], 255], 'background keeps the image');
  assert.not.equal([...over.data.subarray(4 * on, 4 * on + 3)], [img.data[on], img.data[on], img.data[on]], 'foreground is tinted');

  const back = PNG.sync.read(Buffer.from(encodePng(over)));
  assert.equal([back.width, back.height], [r.width, r.height]);
  assert.ok(
    back.data.every((v, i) => v === over.data[i]),
    'RGBA PNG round trip',
  );
  const gray = PNG.sync.read(Buffer.from(encodePng({ width: r.width, height: r.height, data: Uint8Array.from(r.mask, (v) => 255 * v) })));
  assert.ok(
    r.mask.every((v, i) => gray.data[4 * i] === 255 * v),
    'gray PNG round trip',
  );
  const probs = PNG.sync.read(Buffer.from(probabilitiesPng(r)), { skipRescale: true });
  const at = r.probabilities.reduce((best, v, i) => (Math.abs(v - 0.5) < Math.abs(r.probabilities[best] - 0.5) ? i : best), 0);
  assert.ok(Math.abs((probs.data as unknown as Uint16Array)[4 * at] / 65535 - r.probabilities[at]) < 1e-4, '16-bit probability');
});

Seg.run();

// ---

const Classes = suite('segment: multi-class output (argmax) and multi-channel masks, stub models');

/** A model whose run returns `y` ([1, C, H, W]): what segment does with a model's output, without a GPU. */
function stub(info: { inChannels: number; classes: number; activation: 'softmax' | 'logsoftmax' | 'identity' | 'sigmoid' }, y: Float32Array): Model {
  return {
    info: { ...info, preprocessing: { kind: 'zscore' } },
    run: async (x: { shape: number[] }) => ({ data: y, shape: [1, info.classes, x.shape[2], x.shape[3]] }),
  } as unknown as Model;
}

Classes('3 classes of logits 7x5: mask = argmax (lowest on ties), probabilities = softmax, foreground = class fractions', async () => {
  const [W, H, C] = [7, 5, 3];
  const n = W * H;
  const rand = rng(9);
  const y = Float32Array.from({ length: C * n }, () => Math.round(4 * rand()) - 2); // small integers: ties happen
  const r = await segment(stub({ inChannels: 1, classes: C, activation: 'identity' }, y), {
    data: new Uint8Array(n).fill(3),
    width: W,
    height: H,
    channels: 1,
  });
  assert.is(r.kind, 'classes');
  assert.is(r.masks, undefined);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (y[c * n + i] > y[best * n + i]) best = c;
    assert.is(r.mask[i], best, `pixel ${i}`);
    const sum = r.probabilities[i] + r.probabilities[n + i] + r.probabilities[2 * n + i];
    assert.ok(Math.abs(sum - 1) < 1e-6, `softmax sums to 1 at ${i}`);
  }
  assert.equal(r.mask, argmaxLabels(y, C, n));
  assert.equal(r.probabilities, classProbabilities(y, C, n, 'identity'));
  const counts = [0, 1, 2].map((c) => r.mask.filter((l) => l === c).length / n);
  assert.equal(r.foreground, counts);
  const labels = renderLabels(r);
  const two = r.mask.indexOf(2);
  assert.equal([...labels.data.subarray(4 * two, 4 * two + 3)], [60, 180, 75], 'class 2 is green');
});

Classes('2 sigmoid channels: a 0 / 1 mask per channel (> threshold), mask = channel 0', async () => {
  const [W, H] = [4, 3];
  const n = W * H;
  const y = Float32Array.from({ length: 2 * n }, (_, i) => (i % 5) / 4); // 0, 0.25, 0.5 (not > 0.5), 0.75, 1
  const r = await segment(stub({ inChannels: 1, classes: 2, activation: 'sigmoid' }, y), { data: new Uint8Array(n), width: W, height: H, channels: 1 });
  assert.is(r.kind, 'mask');
  assert.is(r.masks!.length, 2);
  for (let c = 0; c < 2; c++) for (let i = 0; i < n; i++) assert.is(r.masks![c][i], y[c * n + i] > 0.5 ? 1 : 0);
  assert.is(r.mask, r.masks![0]);
});

Classes('channels: gray repeated for a 3-channel model, noted; imageTensor gives the same tensor', async () => {
  const n = 6;
  const img: RawImage = { data: Uint8Array.from({ length: n }, (_, i) => 40 * i), width: 3, height: 2, channels: 1 };
  let seen: Float32Array | undefined;
  const model = {
    info: { inChannels: 3, classes: 1, activation: 'sigmoid', preprocessing: { kind: 'none' } },
    run: async (x: { data: Float32Array }) => ((seen = x.data), { data: new Float32Array(n), shape: [1, 1, 2, 3] }),
  } as unknown as Model;
  const r = await segment(model, img);
  assert.equal(r.notes, ['gray image repeated into 3 channels']);
  assert.equal([...seen!], [0, 1, 2].flatMap(() => [...img.data].map((v) => v / 255)).map(Math.fround));
  assert.equal(imageTensor(img, 3, { kind: 'none' }).input.data, seen);
});

Classes.run();

// ---

const Smp = suite<{ device: GPUDevice }>('segment: an smp model with 3 classes (softmax, scse, 1 channel in)');
const SMP = 'test/fixtures/smp/r34_d4_scse_bilinear';
Smp.before(async (ctx) => {
  ctx.device = await getDevice();
});
Smp.after((ctx) => ctx.device.destroy());

Smp('48x80 gray image: mask = argmax of model.run on imageTensor, probabilities the softmax output', async ({ device }) => {
  if (!existsSync(`${SMP}/model.safetensors`)) return skip(`${SMP}/model.safetensors is missing (bash scripts/smp-weights.sh makes it)`);
  const model = await loadModel(device, `${SMP}/`);
  try {
    assert.is(model.info.classes, 3);
    const [W, H] = [80, 48];
    const rand = rng(21);
    const img: RawImage = { data: Uint8Array.from({ length: W * H }, (_, i) => 128 + 100 * Math.sin(i / 37) * rand()), width: W, height: H, channels: 1 };
    const r = await model.segment(img);
    const { input } = imageTensor(img, 1, model.info.preprocessing);
    const y = await model.run(input);
    assert.is(r.kind, 'classes');
    assert.equal(r.mask, argmaxLabels(y.data, 3, W * H));
    assert.ok(
      r.probabilities.every((v, i) => v === y.data[i]),
      'softmax output as it is',
    );
    assert.ok(new Set(r.mask).size >= 2, `more than one class appears: ${r.foreground.map((f) => f.toFixed(3))}`);
    assert.ok(Math.abs(r.foreground.reduce((a, b) => a + b, 0) - 1) < 1e-9);
  } finally {
    model.dispose();
  }
});

Smp.run();

// ---

const Bad = suite<{ device: GPUDevice; model: Model }>('segment: refusals (typed errors)');
Bad.before(async (ctx) => {
  ctx.device = await getDevice();
  ctx.model = await loadModel(ctx.device, DEMO);
});
Bad.after((ctx) => {
  ctx.model.dispose();
  ctx.device.destroy();
});

Bad('bad images: InputError (code INPUT) naming the problem', async ({ model }) => {
  await rejectsWith(
    model.segment(Uint8Array.from([1, 2, 3, 4])),
    (e) => e instanceof InputError && e.code === 'INPUT' && e.name === 'ImageError' && /unsupported format/.test(e.message),
    'not an image',
  );
  await rejectsWith(model.segment('test/fixtures/nope.png'), (e) => e.code === 'INPUT' && /nope\.png: cannot read \(ENOENT\)/.test(e.message), 'missing file');
  const png = encodePng({ width: 4, height: 4, data: new Uint8Array(16) });
  await rejectsWith(model.segment(png.subarray(0, 40)), (e) => e.code === 'INPUT' && /not a readable PNG/.test(e.message), 'truncated PNG');
  await rejectsWith(
    model.segment({ data: new Uint8Array(10), width: 4, height: 4, channels: 1 }),
    (e) => e.code === 'INPUT' && /data has 10 values, 4x4 with 1 channels needs 16/.test(e.message),
    'short data',
  );
  await rejectsWith(
    model.segment({ data: new Uint8Array(32), width: 4, height: 4, channels: 2 as 1 }),
    (e) => e.code === 'INPUT' && /channels must be 1 \(gray\), 3 \(RGB\) or 4/.test(e.message),
    '2 channels',
  );
  await rejectsWith(
    model.segment({ data: new Int16Array(16), width: 4, height: 4, channels: 1 } as unknown as RawImage),
    (e) => e.code === 'INPUT' && /found Int16Array/.test(e.message),
    'Int16Array',
  );
  await rejectsWith(
    model.segment({ data: new Uint8Array(16), width: 4, height: 4, channels: 1 }, { limits: { maxPixels: 15 } }),
    (e) => e instanceof LimitError && e.code === 'INPUT' && /exceeds maxPixels 15/.test(e.message),
    'maxPixels',
  );
  await rejectsWith(model.segment(42 as unknown as string), (e) => e.code === 'INPUT' && /found number/.test(e.message), 'a number');
});

Bad('unknown and bad options: refused with one line naming them', async ({ model }) => {
  await rejectsWith(
    model.segment(SAMPLE, { treshold: 0.3 } as object),
    (e) =>
      e.code === 'UNSUPPORTED' &&
      e.message === 'segment: unknown option "treshold"; did you mean threshold? (known: normalize, threshold, tile, onProgress, signal, limits, pad)',
    'segment typo',
  );
  await rejectsWith(
    model.segment(SAMPLE, { normalize: { kind: 'fixed', mean: 0, std: 0 } }),
    (e) => e.code === 'INPUT' && /^segment: normalize must be .* with std > 0, found \{"kind":"fixed","mean":0,"std":0\}$/.test(e.message),
    'std 0',
  );
  await rejectsWith(
    model.segment(SAMPLE, { normalize: { kind: 'minmax' } as unknown as Normalization }),
    (e) => e.code === 'INPUT' && /found \{"kind":"minmax"\}/.test(e.message),
    'unknown kind',
  );
  await rejectsWith(
    model.segment(SAMPLE, { threshold: 2 }),
    (e) => e.code === 'INPUT' && /threshold must be a number from 0 to 1, found 2/.test(e.message),
    'threshold 2',
  );
  await rejectsWith(
    model.run({ data: new Float32Array(16 * 16), shape: [1, 1, 16, 16] }, { tiles: false } as object),
    (e) => e.code === 'UNSUPPORTED' && /^run: unknown option "tiles"; did you mean tile\?/.test(e.message),
    'run typo',
  );
  await rejectsWith(
    model.run({ data: new Float32Array(4), shape: [1, 2, 1, 2] }),
    (e) => e.code === 'INPUT' && /has 2 channels, the model expects 1/.test(e.message),
    'run: wrong channels',
  );
});

Bad.run();
