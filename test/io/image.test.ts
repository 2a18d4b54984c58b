// Image decoding / encoding (pngjs, jpeg-js) and the preprocessing that turns an image into the model input.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { decodeImage, sniff, ImageError } from '../../src/io/image.js';
import { encodePng } from '../../src/io/png.js';
import { ChannelError, channelPlanes, normalize, parseNormalization } from '../../src/io/preprocess.js';
import { overlay, probs16, thresholdMask } from '../../src/io/render.js';
import { LimitError } from '../../src/limits.js';
import { jpegDeclared, jpegManyScans, pngDeclaredHuge } from '../hostile.js';

const W = 5;
const H = 3;
const ramp = (n: number, k = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 37 * k + 11) % 256);

/** A PNG with pngjs's own writer: color type 0 (gray), 2 (RGB), 4 (gray + alpha) or 6 (RGBA). */
function png(colorType: 0 | 2 | 4 | 6, rgba: Uint8Array, bitDepth: 8 | 16 = 8): Uint8Array {
  const p = new PNG({ width: W, height: H });
  p.data = Buffer.from(rgba);
  return PNG.sync.write(p, { colorType, bitDepth, inputColorType: 6, inputHasAlpha: true });
}
const grayRgba = (g: Uint8Array, alpha: number) => Uint8Array.from({ length: 4 * g.length }, (_, i) => (i % 4 === 3 ? alpha : g[i >> 2]));

const Img = suite('io: images');

Img('PNG gray, gray+alpha, RGB, RGBA decode to 1 or 3 channels with the exact values', () => {
  const g = ramp(W * H);
  for (const ct of [0, 4] as const) {
    const img = decodeImage(png(ct, grayRgba(g, ct === 4 ? 200 : 255))); // 4: the alpha is dropped, not blended
    assert.equal([img.width, img.height, img.channels], [W, H, 1]);
    assert.equal([...img.data], [...g]);
  }
  const rgba = ramp(4 * W * H, 3);
  const rgb = Uint8Array.from({ length: 3 * W * H }, (_, i) => rgba[4 * Math.floor(i / 3) + (i % 3)]);
  for (const ct of [2, 6] as const) {
    const img = decodeImage(png(ct, ct === 6 ? rgba : Uint8Array.from(rgba, (v, i) => (i % 4 === 3 ? 255 : v))));
    assert.is(img.channels, 3);
    assert.equal([...img.data], [...rgb]);
  }
});

Img('16-bit gray PNG round trip (the probability map format)', () => {
  const v = Uint16Array.from({ length: W * H }, (_, i) => i * 4000 + 7);
  const bytes = encodePng({ width: W, height: H, channels: 1, data: v });
  const back = PNG.sync.read(Buffer.from(bytes), { skipRescale: true });
  assert.is(back.depth, 16);
  const got = Array.from({ length: W * H }, (_, i) => (back.data as unknown as Uint16Array)[4 * i]);
  assert.equal(got, [...v]);
  // and it decodes as a gray 8-bit image (rescaled)
  assert.is(decodeImage(bytes).channels, 1);
});

Img('8-bit gray and RGB PNG written and read back', () => {
  const g = ramp(W * H);
  assert.equal([...decodeImage(encodePng({ width: W, height: H, channels: 1, data: g })).data], [...g]);
  const c = ramp(3 * W * H, 5);
  const img = decodeImage(encodePng({ width: W, height: H, channels: 3, data: c }));
  assert.equal([img.channels, ...img.data], [3, ...c]);
});

Img('JPEG (RGB) decodes to 3 channels, close to the encoded values', () => {
  const rgba = new Uint8Array(16 * 16 * 4).fill(255);
  for (let i = 0; i < 256; i++) [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]] = [200, 100, 50];
  const bytes = jpeg.encode({ width: 16, height: 16, data: rgba }, 95).data;
  assert.is(sniff(bytes), 'jpeg');
  const img = decodeImage(bytes);
  assert.equal([img.width, img.height, img.channels], [16, 16, 3]);
  assert.ok(Math.abs(img.data[0] - 200) <= 3 && Math.abs(img.data[1] - 100) <= 3 && Math.abs(img.data[2] - 50) <= 3, `${img.data.slice(0, 3)}`);
});

Img('bad input: truncated PNG, truncated JPEG, unknown bytes', () => {
  const good = encodePng({ width: W, height: H, channels: 1, data: ramp(W * H) });
  assert.throws(
    () => decodeImage(good.subarray(0, 40)),
    (e: Error) => e instanceof ImageError && /^not a readable PNG/.test(e.message),
  );
  const j = jpeg.encode({ width: 8, height: 8, data: new Uint8Array(256).fill(128) }, 90).data;
  assert.throws(() => decodeImage(j.subarray(0, 12)), /JPEG/);
  assert.throws(() => decodeImage(new TextEncoder().encode('GIF89a.....')), /^unsupported format/);
});

Img('limits: sizes from the PNG / JPEG headers, scans counted, before decoding; overridable', () => {
  const refused = (b: Uint8Array, limit: string, opts = {}) =>
    assert.throws(
      () => decodeImage(b, opts),
      (e: Error) => e instanceof LimitError && e.limit === limit && e.message.includes(`(raise limits.${limit})`),
    );
  refused(pngDeclaredHuge(), 'maxPixels');
  refused(jpegDeclared(65000, 65000), 'maxPixels');
  refused(jpegManyScans(101), 'maxJpegScans');
  const small = encodePng({ width: 20, height: 10, channels: 1, data: new Uint8Array(200) });
  refused(small, 'maxPixels', { limits: { maxPixels: 199 } });
  assert.is(decodeImage(small, { limits: { maxPixels: 200 } }).width, 20);
});

const Pre = suite('io: preprocessing');

Pre('zscore per channel with the population std, in float64; a constant channel becomes 0', () => {
  const img = { width: 2, height: 2, channels: 3 as const, data: Uint8Array.from([0, 5, 9, 10, 5, 9, 20, 5, 9, 30, 5, 9]) };
  const { planes } = channelPlanes(img, 3, false);
  const x = normalize(planes, 2, 2, { kind: 'zscore' });
  assert.equal(x.shape, [1, 3, 2, 2]);
  const std = Math.sqrt(125); // values 0, 10, 20, 30: mean 15, population variance 125
  assert.equal(
    [...x.data.slice(0, 4)],
    [-15, -5, 5, 15].map((v) => Math.fround(v / std)),
  );
  assert.equal([...x.data.slice(4)], [0, 0, 0, 0, 0, 0, 0, 0]);
});

Pre('none, imagenet and MEAN,STD', () => {
  const planes = [Float64Array.from([0, 255])];
  assert.equal([...normalize(planes, 1, 2, { kind: 'none' }).data], [0, 1]);
  assert.equal([...normalize(planes, 1, 2, parseNormalization('127.5,127.5')!).data], [-1, 1]);
  const three = [0, 1, 2].map(() => Float64Array.from([255]));
  assert.equal([...normalize(three, 1, 1, { kind: 'imagenet' }).data], [(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225].map(Math.fround));
  assert.is(parseNormalization('zscore')!.kind, 'zscore');
  assert.is(parseNormalization('1,0'), undefined);
  assert.is(parseNormalization('minmax'), undefined);
});

Pre('channels: gray repeated for 3; RGB to 1 only with --gray; other counts refused', () => {
  const gray = { width: 1, height: 1, channels: 1 as const, data: Uint8Array.from([7]) };
  const rgb = { width: 1, height: 1, channels: 3 as const, data: Uint8Array.from([100, 200, 50]) };
  assert.equal(
    channelPlanes(gray, 3, false).planes.map((p) => p[0]),
    [7, 7, 7],
  );
  assert.throws(
    () => channelPlanes(rgb, 1, false),
    (e: Error) => e instanceof ChannelError && /is RGB and the model takes 1 channel: pass --gray/.test(e.message),
  );
  assert.ok(Math.abs(channelPlanes(rgb, 1, true).planes[0][0] - (0.299 * 100 + 0.587 * 200 + 0.114 * 50)) < 1e-9);
  assert.throws(() => channelPlanes(rgb, 2, false), /is RGB \(3 channels\), the model takes 2 channels/);
});

Pre('masks, 16-bit probabilities and the overlay', () => {
  const probs = Float32Array.from([0.1, 0.6, 0.5, 0.9]);
  const { mask, foreground } = thresholdMask(probs, 0, 4, 0.5);
  assert.equal([...mask], [0, 255, 0, 255]);
  assert.is(foreground, 0.5);
  assert.equal([...probs16(probs, 0, 4)], [6554, 39321, 32768, 58981]);
  // 3x3, only the centre inside: it is an edge pixel (outlined), the rest keep the image's gray
  const img = { width: 3, height: 3, channels: 1 as const, data: new Uint8Array(9).fill(100) };
  const m = new Uint8Array(9);
  m[4] = 255;
  const o = overlay(img, [m]);
  assert.equal([...o.slice(12, 15)], [255, 48, 48]);
  assert.equal([...o.slice(0, 3)], [100, 100, 100]);
});

Img.run();
Pre.run();
