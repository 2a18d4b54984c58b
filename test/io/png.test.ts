// The PNG writer (src/io/png.ts) against pngjs's reader: every colour type it writes, 8 and 16 bits,
// noise and smooth images (so that each row filter gets picked), and its refusals.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { PNG } from 'pngjs';
import { encodePng } from '../../src/io/png.js';
import { rng } from '../helpers.js';

const Png = suite('io: encodePng');

/** pngjs's decode: RGBA (8-bit, or 16-bit samples with skipRescale) whatever the file holds. */
const decode = (bytes: Uint8Array, sixteen = false) => PNG.sync.read(Buffer.from(bytes), sixteen ? { skipRescale: true } : {});

/** Sample k of pixel i as pngjs expands it to RGBA: gray -> R = G = B, gray + alpha -> (g, g, g, a), RGB -> alpha max. */
function expanded(data: ArrayLike<number>, channels: number, i: number, k: number, max: number): number {
  if (channels === 1) return k < 3 ? data[i] : max;
  if (channels === 2) return k < 3 ? data[2 * i] : data[2 * i + 1];
  if (channels === 3) return k < 3 ? data[3 * i + k] : max;
  return data[4 * i + k];
}

for (const [W, H] of [
  [1, 1],
  [7, 5],
  [33, 17],
]) {
  for (const channels of [1, 2, 3, 4] as const) {
    Png(`${W}x${H} ${channels} channel(s), 8-bit noise and gradient: pngjs reads back every sample`, () => {
      const rand = rng(W * 100 + channels);
      for (const kind of ['noise', 'gradient']) {
        const data = Uint8Array.from({ length: W * H * channels }, (_, j) =>
          kind === 'noise' ? 256 * rand() : (j * 3 + Math.floor(j / (W * channels))) & 255,
        );
        const png = decode(encodePng({ width: W, height: H, data }));
        assert.equal([png.width, png.height], [W, H]);
        for (let i = 0; i < W * H; i++)
          for (let k = 0; k < 4; k++) if (png.data[4 * i + k] !== expanded(data, channels, i, k, 255)) assert.unreachable(`${kind}: pixel ${i} sample ${k}`);
      }
    });
  }
}

Png('16-bit gray and RGB 9x4: big-endian samples read back exactly', () => {
  const rand = rng(3);
  for (const channels of [1, 3] as const) {
    const data = Uint16Array.from({ length: 9 * 4 * channels }, () => 65536 * rand());
    const png = decode(encodePng({ width: 9, height: 4, data, channels }), true);
    const got = png.data as unknown as Uint16Array;
    for (let i = 0; i < 36; i++)
      for (let k = 0; k < 3; k++) assert.is(got[4 * i + k], expanded(data, channels, i, k, 65535), `${channels} channels, pixel ${i}`);
  }
});

Png('Uint8ClampedArray (ImageData) is written as it is; a smooth image compresses below its raw size', () => {
  const data = new Uint8ClampedArray(64 * 64 * 4).map((_, j) => (j % 4 === 3 ? 255 : (j >> 4) & 255));
  const bytes = encodePng({ width: 64, height: 64, data });
  assert.ok(bytes.length < data.length / 4, `${bytes.length} bytes for ${data.length} samples`);
  assert.ok(decode(bytes).data.every((v, i) => v === data[i]));
});

Png('refused: sizes that are not positive integers, lengths that fit no channel count, a channel count the length contradicts', () => {
  assert.throws(() => encodePng({ width: 0, height: 2, data: new Uint8Array(0) }), /PNG: size 0x2 must be positive integers/);
  assert.throws(() => encodePng({ width: 2, height: 2, data: new Uint8Array(5) }), /PNG: 5 samples for 2x2 pixels is not 1, 2, 3 or 4 a pixel/);
  assert.throws(() => encodePng({ width: 2, height: 2, data: new Uint8Array(12), channels: 4 }), /PNG: 12 samples for 2x2 pixels of 4 channels/);
});

Png.run();
