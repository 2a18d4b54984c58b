// Multi-class outputs on synthetic arrays: which models are multi-class, argmax label maps, probabilities
// per activation, legends, class colours and overlays, and the indexed-colour PNG that stores label maps.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PNG } from 'pngjs';
import { inflateSync } from 'node:zlib';
import { argmaxLabels, classColors, classCounts, classOverlay, classProbabilities, isMultiClass, legend, maskProbabilities } from '../../src/io/classes.js';
import { encodePalettePng } from '../../src/io/png.js';
import { decodeImage } from '../../src/io/image.js';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, atol = 1e-6) => {
  assert.is(a.length, b.length, 'lengths');
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= atol, `index ${i}: ${a[i]} vs ${b[i]}`);
};

const Classes = suite('io: classes');

Classes('isMultiClass: classes > 1 under softmax, logsoftmax or identity', () => {
  for (const activation of ['softmax', 'logsoftmax', 'identity'] as const) {
    assert.ok(isMultiClass({ classes: 2, activation }), activation);
    assert.not.ok(isMultiClass({ classes: 1, activation }), `${activation}, 1 class`);
  }
  for (const activation of ['sigmoid', 'tanh'] as const) assert.not.ok(isMultiClass({ classes: 3, activation }), activation);
});

Classes('argmaxLabels C=3 n=4: per pixel the largest channel, ties to the lower class, NaN never wins', () => {
  // [C, n]: pixel 0 -> class 2, pixel 1 -> 0, pixel 2: tie of 1 and 2 -> 1, pixel 3: class 0 NaN -> 1
  const y = Float32Array.from([0.1, 0.9, 0.2, NaN, 0.2, 0.05, 0.4, 0.3, 0.7, 0.05, 0.4, 0.2]);
  assert.equal([...argmaxLabels(y, 3, 4)], [2, 0, 1, 1]);
});

Classes('classProbabilities: softmax as is, exp of logsoftmax, softmax of logits (large logits too)', () => {
  const logits = Float32Array.from([1, 1000, -2, 0, 2, 999, 0, 0]); // C=2, n=4
  const p = classProbabilities(logits, 2, 4, 'identity');
  // pixel 0: softmax(1, 2) = (1/(1+e), e/(1+e)); pixel 1: softmax(1000, 999) = (e/(1+e), 1/(1+e));
  // pixel 2: softmax(-2, 0) = (e^-2/(1+e^-2), 1/(1+e^-2)); pixel 3: (0.5, 0.5). Layout [class 0 pixels, class 1 pixels].
  const e = Math.E;
  const e2 = Math.exp(-2);
  close(p, [1 / (1 + e), e / (1 + e), e2 / (1 + e2), 0.5, e / (1 + e), 1 / (1 + e), 1 / (1 + e2), 0.5]);
  const logp = Float32Array.from([Math.log(0.25), Math.log(0.75)]);
  close(classProbabilities(logp, 2, 1, 'logsoftmax'), [0.25, 0.75]);
  close(classProbabilities(Float32Array.from([0.3, 0.7]), 2, 1, 'softmax'), [0.3, 0.7]);
  // the argmax of the logits is the argmax of their softmax
  assert.equal([...argmaxLabels(logits, 2, 4)], [...argmaxLabels(p, 2, 4)]);
});

Classes('maskProbabilities: tanh (y + 1) / 2, identity sigmoid, logsoftmax exp, sigmoid as is', () => {
  const y = Float32Array.from([-1, 0, 0.5, 1]);
  close(maskProbabilities(y, 'tanh'), [0, 0.5, 0.75, 1]);
  close(
    maskProbabilities(y, 'identity'),
    [...y].map((v) => 1 / (1 + Math.exp(-v))),
  );
  close(maskProbabilities(Float32Array.from([Math.log(0.2)]), 'logsoftmax'), [0.2]);
  close(maskProbabilities(y, 'sigmoid'), y);
});

Classes('legend: counts per class add up to the pixels, fractions to 1, colours named', () => {
  const labels = Uint8Array.from([0, 0, 0, 1, 2, 2, 0, 1, 0, 2]);
  assert.equal(classCounts(labels, 4), [5, 2, 3, 0]);
  const l = legend(labels, 4);
  assert.equal(
    l.map((e) => [e.class, e.color, e.pixels]),
    [
      [0, 'background', 5],
      [1, 'red', 2],
      [2, 'green', 3],
      [3, 'blue', 0],
    ],
  );
  assert.is(
    l.reduce((n, e) => n + e.pixels, 0),
    labels.length,
  );
  close([l.reduce((f, e) => f + e.fraction, 0)], [1]);
});

Classes('classColors: background black, then distinct colours, also past the named ones (40 classes)', () => {
  const colors = classColors(40);
  assert.equal(colors[0], { name: 'background', rgb: [0, 0, 0] });
  const keys = new Set(colors.map((c) => c.rgb.join(',')));
  assert.is(keys.size, 40, 'all distinct');
  assert.ok(colors.every((c) => c.rgb.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)));
  assert.match(colors[39].name, /^#[0-9a-f]{6}$/);
});

Classes('classOverlay 4x3: background untouched, class pixels tinted, class borders solid', () => {
  const image = { width: 4, height: 3, channels: 1, data: new Uint8Array(12).fill(100) };
  // class 1 fills the right half (x >= 2); its pixels at x = 2 touch class 0, so they are outline
  const labels = Uint8Array.from({ length: 12 }, (_, i) => (i % 4 >= 2 ? 1 : 0));
  const colors = classColors(2);
  const out = classOverlay(image, labels, colors, 0.4);
  const px = (x: number, y: number) => [...out.subarray(3 * (y * 4 + x), 3 * (y * 4 + x) + 3)];
  assert.equal(px(0, 1), [100, 100, 100]);
  assert.equal(px(2, 1), colors[1].rgb);
  // interior: 0.6 * 100 + 0.4 * (230, 25, 75)
  assert.equal(px(3, 1), [152, 70, 90]);
});

// ---

const Png = suite('io: palette PNG');

Png('encodePalettePng 7x5, 3 colours: pngjs decodes the colours; the raw samples are the indices', () => {
  const [W, H] = [7, 5];
  const indices = Uint8Array.from({ length: W * H }, (_, i) => (i * 5) % 3);
  const palette: [number, number, number][] = [
    [0, 0, 0],
    [230, 25, 75],
    [60, 180, 75],
  ];
  const bytes = encodePalettePng(W, H, indices, palette);
  const png = PNG.sync.read(Buffer.from(bytes));
  assert.is(png.width, W);
  assert.is(png.height, H);
  for (let i = 0; i < W * H; i++) assert.equal([...png.data.subarray(4 * i, 4 * i + 4)], [...palette[indices[i]], 255], `pixel ${i}`);
  // the IDAT holds, per row, filter byte 0 then the indices
  const idat = chunks(bytes).find((c) => c.type === 'IDAT')!;
  const raw = inflateSync(idat.data);
  for (let y = 0; y < H; y++) {
    assert.is(raw[y * (W + 1)], 0);
    assert.equal([...raw.subarray(y * (W + 1) + 1, (y + 1) * (W + 1))], [...indices.subarray(y * W, (y + 1) * W)]);
  }
  assert.equal(
    chunks(bytes).map((c) => c.type),
    ['IHDR', 'PLTE', 'IDAT', 'IEND'],
  );
  const ihdr = chunks(bytes)[0].data;
  assert.equal([ihdr[8], ihdr[9]], [8, 3], 'bit depth 8, colour type 3');
  // the engine's own reader takes it too (as RGB)
  const img = decodeImage(bytes);
  assert.equal([img.width, img.height, img.channels], [W, H, 3]);
});

Png('encodePalettePng refuses an index past the palette and a wrong length', () => {
  assert.throws(
    () =>
      encodePalettePng(2, 1, Uint8Array.from([0, 2]), [
        [0, 0, 0],
        [1, 1, 1],
      ]),
    /index 2 is past the palette's 2 colours/,
  );
  assert.throws(() => encodePalettePng(2, 2, Uint8Array.from([0, 0]), [[0, 0, 0]]), /2 indices for 2x2 pixels/);
});

/** The chunks of a PNG, CRCs checked. */
function chunks(bytes: Uint8Array): { type: string; data: Uint8Array }[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: { type: string; data: Uint8Array }[] = [];
  for (let at = 8; at < bytes.length; ) {
    const length = dv.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const data = bytes.subarray(at + 8, at + 8 + length);
    assert.is(dv.getUint32(at + 8 + length), crc(bytes.subarray(at + 4, at + 8 + length)), `${type} CRC`);
    out.push({ type, data });
    at += 12 + length;
  }
  return out;
}

/** Bitwise CRC-32 (the PNG spec's reference loop), independent of the encoder's table. */
function crc(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

Classes.run();
Png.run();
