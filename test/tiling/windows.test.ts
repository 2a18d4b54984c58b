// Sliding-window geometry, importance maps and stitching on the CPU (no GPU): window placement as
// MONAI's dense_patch_slices places them, gaussian weights as its compute_importance_map makes them, and
// the stitching checked against brute force with fake networks whose outputs are known.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { importanceMap, scanInterval, windowStarts } from '../../src/tiling/windows.js';
import { slidingWindow, windowGeometry, type WindowRunner } from '../../src/tiling/sliding.js';
import { rng, randArray } from '../helpers.js';

const Geometry = suite('tiling: window placement');

Geometry('scan interval is floor(roi * (1 - overlap)), the roi itself when it covers the axis', () => {
  assert.is(scanInterval(96, 32, 0.25), 24);
  assert.is(scanInterval(96, 48, 0.5), 24);
  assert.is(scanInterval(96, 40, 0.25), 30);
  assert.is(scanInterval(32, 32, 0.25), 32);
  assert.is(scanInterval(100, 3, 0.9), 1, 'at least 1');
});

Geometry('starts: a grid from 0, the last window flush with the border (MONAI dense_patch_slices)', () => {
  // values worked out with MONAI's formula: num = first d with d * interval + roi >= size, plus 1;
  // start = d * interval, moved back by max(start + roi - size, 0)
  assert.equal(windowStarts(96, 32, 0.25), [0, 24, 48, 64]);
  assert.equal(windowStarts(80, 32, 0.25), [0, 24, 48]);
  assert.equal(windowStarts(80, 48, 0.25), [0, 32]);
  assert.equal(windowStarts(96, 48, 0), [0, 48]);
  assert.equal(windowStarts(100, 48, 0), [0, 48, 52]);
  assert.equal(windowStarts(64, 64, 0.25), [0]);
  assert.equal(windowStarts(20, 64, 0.25), [0], 'a roi larger than the axis is clamped to it');
  for (const [size, roi, overlap] of [
    [12000, 256, 0.25],
    [4096, 512, 0.25],
    [97, 13, 0.6],
    [5, 2, 0.9],
  ]) {
    const s = windowStarts(size, roi, overlap);
    assert.is(s[0], 0);
    assert.is(s[s.length - 1], size - roi, 'last window flush with the border');
    for (let i = 1; i < s.length; i++) assert.ok(s[i] > s[i - 1] && s[i] - s[i - 1] <= scanInterval(size, roi, overlap), 'increasing, no gaps');
  }
});

Geometry('importance map: constant is all ones; gaussian is separable, sigma = 0.125 roi, clamped at 1e-3', () => {
  assert.ok(importanceMap(5, 7, 'constant').every((v) => v === 1));
  const [h, w] = [48, 40];
  const m = importanceMap(h, w, 'gaussian');
  const g = (i: number, r: number) => Math.exp(-((i - (r - 1) / 2) ** 2) / (2 * (0.125 * r) ** 2));
  let maxErr = 0;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) maxErr = Math.max(maxErr, Math.abs(m[y * w + x] - Math.max(g(y, h) * g(x, w), 1e-3)));
  assert.ok(maxErr < 1e-7, `max error ${maxErr}`);
  assert.ok(Math.abs(m[0] - 1e-3) < 1e-9, `corner clamped to 1e-3 (${m[0]})`);
  assert.ok(m[(h / 2) * w + w / 2] > 0.99, 'near 1 at the centre');
  // a wide sigma never reaches the clamp: the minimum stays
  const wide = importanceMap(8, 8, 'gaussian', 2);
  assert.ok(wide[0] > 0.9 && wide[0] < 1);
});

const Stitch = suite('tiling: stitching (CPU, fake networks)');

// a fake network: [B, C, h, w] -> [B, OC, h, w] by a function of the batch, channel and input
// (f gets the batch's data, and the offset of pixel i of channel c of window b in it)
function fakeRunner(oc: number, f: (x: Float32Array, offset: number, c: number, i: number) => number): WindowRunner & { calls: number[][] } {
  const calls: number[][] = [];
  const run = async ({ data, shape: [B, C, h, w] }: { data: Float32Array; shape: [number, number, number, number] }) => {
    calls.push([B, C, h, w]);
    const out = new Float32Array(B * oc * h * w);
    for (let b = 0; b < B; b++)
      for (let c = 0; c < oc; c++) for (let i = 0; i < h * w; i++) out[(b * oc + c) * h * w + i] = f(data, (b * C + Math.min(c, C - 1)) * h * w + i, c, i);
    return out;
  };
  return Object.assign(run, { calls });
}

Stitch('an identity network gives back the input exactly, whatever the windows and blending', async () => {
  const r = rng(1);
  const [N, C, H, W] = [2, 2, 37, 53];
  const x = randArray(r, N * C * H * W);
  for (const blend of ['constant', 'gaussian'] as const) {
    for (const [roi, overlap, batch] of [
      [16, 0.25, 3],
      [20, 0.5, 1],
      [64, 0.25, 4],
      [7, 0, 5],
    ] as const) {
      const run = fakeRunner(C, (d, offset) => d[offset]);
      const y = await slidingWindow({ data: x, shape: [N, C, H, W] }, C, { roi: [roi, roi], overlap, blend, sigmaScale: 0.125, batch }, run);
      let maxErr = 0;
      for (let i = 0; i < x.length; i++) maxErr = Math.max(maxErr, Math.abs(y.data[i] - x[i]));
      assert.ok(maxErr < 1e-6, `${blend} roi ${roi} overlap ${overlap} batch ${batch}: max error ${maxErr}`);
      const g = windowGeometry(H, W, [roi, roi], overlap);
      assert.is(y.windows, N * g.starts[0].length * g.starts[1].length);
      assert.ok(
        run.calls.every(([b, c, h, w]) => b === Math.min(batch, y.windows) && c === C && h === g.roi[0] && w === g.roi[1]),
        'every batch has one shape',
      );
    }
  }
});

Stitch('constant blending: every pixel is the plain average of the windows covering it (brute force)', async () => {
  const [N, H, W, roi, overlap] = [2, 45, 61, 20, 0.4];
  // window k outputs the value k everywhere (k counts windows across the whole run)
  let next = 0;
  const run = fakeRunner(1, (_d, _offset, _c, i) => (i === 0 ? next++ : next - 1));
  const x = new Float32Array(N * H * W);
  const y = await slidingWindow({ data: x, shape: [N, 1, H, W] }, 1, { roi: [roi, roi], overlap, blend: 'constant', sigmaScale: 0.125, batch: 1 }, run);
  const { starts } = windowGeometry(H, W, [roi, roi], overlap);
  let k = 0;
  const sum = new Float64Array(N * H * W);
  const count = new Float64Array(N * H * W);
  for (let n = 0; n < N; n++)
    for (const y0 of starts[0])
      for (const x0 of starts[1]) {
        for (let yy = y0; yy < y0 + roi; yy++)
          for (let xx = x0; xx < x0 + roi; xx++)
            [sum[(n * H + yy) * W + xx], count[(n * H + yy) * W + xx]] = [sum[(n * H + yy) * W + xx] + k, count[(n * H + yy) * W + xx] + 1];
        k++;
      }
  let maxErr = 0;
  for (let i = 0; i < sum.length; i++) maxErr = Math.max(maxErr, Math.abs(y.data[i] - sum[i] / count[i]));
  assert.ok(maxErr < 1e-4, `max error ${maxErr}`);
});

Stitch('progress: once per batch, done increasing to total; a throwing callback ends the run', async () => {
  const seen: string[] = [];
  const run = fakeRunner(1, () => 0.5);
  await slidingWindow(
    { data: new Float32Array(50 * 50), shape: [1, 1, 50, 50] },
    1,
    { roi: [16, 16], overlap: 0.25, blend: 'gaussian', sigmaScale: 0.125, batch: 4 },
    run,
    (p) => seen.push(`${p.done}/${p.total}`),
  );
  assert.equal(seen, ['4/16', '8/16', '12/16', '16/16']);
  let calls = 0;
  const stop = slidingWindow(
    { data: new Float32Array(50 * 50), shape: [1, 1, 50, 50] },
    1,
    { roi: [16, 16], overlap: 0.25, blend: 'gaussian', sigmaScale: 0.125, batch: 4 },
    fakeRunner(1, () => 0),
    () => {
      if (++calls === 2) throw new Error('cancelled');
    },
  );
  try {
    await stop;
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.is((e as Error).message, 'cancelled');
  }
});

Geometry.run();
Stitch.run();
