// Sliding-window inference through Model.run on the GPU, with the demo model (1 -> 1 channels,
// init_features 4, depth 4: a receptive field far wider than the windows here, so tiles cannot equal one
// pass exactly; the bounds below are what blending has to achieve on real-looking images).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import type { Model } from '../../src/model.js';
import { loadModel } from '../../src/load.js';
import { decodeImage } from '../../src/io/image.js';
import { channelPlanes, normalize } from '../../src/io/preprocess.js';
import { windowGeometry } from '../../src/tiling/sliding.js';
import { testDevice } from '../helpers.js';

const DEMO = 'assets/demo/nuclei_unet.safetensors';
const [H, W] = [96, 80];

/** A 96 x 80 crop of a demo sample, z-scored as `unet segment` does; two crops for N = 2. */
function crops(names: string[]): { data: Float32Array; shape: number[] } {
  const data = new Float32Array(names.length * H * W);
  names.forEach((name, n) => {
    const img = decodeImage(readFileSync(`assets/demo/samples/${name}.png`));
    const { planes } = channelPlanes(img, 1, false);
    const crop = new Float64Array(H * W);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) crop[y * W + x] = planes[0][(y + 10) * img.width + x + 20];
    data.set(normalize([crop], H, W, { kind: 'zscore' }).data, n * H * W);
  });
  return { data, shape: [names.length, 1, H, W] };
}

function compare(a: Float32Array, b: Float32Array) {
  let max = 0;
  let sum = 0;
  let agree = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    max = Math.max(max, d);
    sum += d;
    agree += Number(a[i] > 0.5 === b[i] > 0.5);
  }
  return { max, mean: sum / a.length, agreement: agree / a.length };
}

/** Mean |out[x] - out[x - 1]| (and the same along y) over the columns / rows where a window begins or
 *  ends inside the image: a seam shows up as a jump there that the one-pass output does not have. */
function seamJump(out: Float32Array, roi: number, overlap: number): number {
  const { starts } = windowGeometry(H, W, [roi, roi], overlap);
  const cols = new Set(starts[1].flatMap((x0) => [x0, x0 + Math.min(roi, W)]).filter((x) => x > 0 && x < W));
  const rows = new Set(starts[0].flatMap((y0) => [y0, y0 + Math.min(roi, H)]).filter((y) => y > 0 && y < H));
  let sum = 0;
  let n = 0;
  for (const x of cols) for (let y = 0; y < H; y++, n++) sum += Math.abs(out[y * W + x] - out[y * W + x - 1]);
  for (const y of rows) for (let x = 0; x < W; x++, n++) sum += Math.abs(out[y * W + x] - out[(y - 1) * W + x]);
  return sum / n;
}

// Tolerances for gaussian tiles of 48 (overlap 0.25) against one pass, on the 96 x 80 crops. Measured on
// llvmpipe: max |d| 0.34 / 0.38, mean |d| 6.9e-3 / 7.4e-3, masks agree 99.57% / 99.35%. The large max
// is the network's context: a pixel near a window edge sees less of the image than in one pass (the
// receptive field of a depth-4 U-Net is wider than the window). Seams: the mean |step| between
// neighbouring pixels across window edges is within 1.3x (measured 1.09x-1.14x) of one pass's step at the
// same places.
const GAUSS = { max: 0.45, mean: 1.2e-2, agreement: 0.99, seam: 1.3 };

const Tiled = suite<{ device: GPUDevice; model: Model }>('tiling: Model.run in sliding windows');
Tiled.before(async (ctx) => {
  ctx.device = await testDevice();
  ctx.model = await loadModel(ctx.device, DEMO);
});
Tiled.after((ctx) => {
  ctx.model.dispose();
  ctx.device.destroy();
});

Tiled(
  `gaussian tiles (roi 48, overlap 0.25, batch 4) vs one pass: max |d| <= ${GAUSS.max}, mean <= ${GAUSS.mean}, masks >= ${GAUSS.agreement * 100}%, no seams`,
  async ({ model }) => {
    const x = crops(['nuclei_01', 'nuclei_04']);
    const whole = await model.run(x, { tile: false });
    assert.is(whole.tiling, undefined);
    const tiled = await model.run(x, { tile: { roi: 48, overlap: 0.25, blend: 'gaussian', batch: 4 } });
    assert.equal(tiled.shape, [2, 1, H, W]);
    assert.equal(tiled.tiling, { roi: [48, 48], overlap: 0.25, blend: 'gaussian', batch: 4, windows: 12, batches: 3 }, 'windows of both images share batches');
    for (let n = 0; n < 2; n++) {
      const a = tiled.data.subarray(n * H * W, (n + 1) * H * W);
      const b = whole.data.subarray(n * H * W, (n + 1) * H * W);
      const c = compare(a, b);
      const [ja, jb] = [seamJump(a, 48, 0.25), seamJump(b, 48, 0.25)];
      console.log(
        `  image ${n}: max |tiled - whole| ${c.max.toFixed(3)}, mean ${c.mean.toExponential(2)}, masks agree ${(c.agreement * 100).toFixed(2)}%; ` +
          `mean jump across window edges ${ja.toFixed(4)} (one pass, same places: ${jb.toFixed(4)})`,
      );
      assert.ok(c.max <= GAUSS.max && c.mean <= GAUSS.mean && c.agreement >= GAUSS.agreement, JSON.stringify(c));
      assert.ok(ja <= GAUSS.seam * jb, `mean jump across window edges ${ja} vs ${jb} in one pass`);
    }
    // windows batched 4 at a time give what they give one at a time
    const single = await model.run(x, { tile: { roi: 48, overlap: 0.25, blend: 'gaussian', batch: 1 } });
    assert.ok(compare(single.data, tiled.data).max <= 1e-6, 'batch 1 vs batch 4');
  },
);

Tiled('constant blending with overlap: exactly the average of the per-window outputs (CPU re-stitching)', async ({ model }) => {
  const x = crops(['nuclei_02']);
  const [roi, overlap] = [32, 0.5];
  const tiled = await model.run(x, { tile: { roi, overlap, blend: 'constant', batch: 3 } });
  const { starts } = windowGeometry(H, W, [roi, roi], overlap);
  const sum = new Float64Array(H * W);
  const count = new Float64Array(H * W);
  const win = new Float32Array(roi * roi);
  for (const y0 of starts[0]) {
    for (const x0 of starts[1]) {
      for (let y = 0; y < roi; y++) win.set(x.data.subarray((y0 + y) * W + x0, (y0 + y) * W + x0 + roi), y * roi);
      const y = await model.run({ data: win, shape: [1, 1, roi, roi] }, { tile: false });
      for (let yy = 0; yy < roi; yy++) {
        for (let xx = 0; xx < roi; xx++) {
          const i = (y0 + yy) * W + x0 + xx;
          sum[i] += y.data[yy * roi + xx];
          count[i]++;
        }
      }
    }
  }
  let max = 0;
  let overlapped = 0;
  for (let i = 0; i < H * W; i++) {
    max = Math.max(max, Math.abs(tiled.data[i] - sum[i] / count[i]));
    overlapped += Number(count[i] > 1);
  }
  console.log(
    `  constant, roi ${roi}, overlap ${overlap}: ${starts[0].length * starts[1].length} windows, ${overlapped} of ${H * W} pixels in overlaps, max |tiled - average| ${max.toExponential(2)}`,
  );
  assert.ok(overlapped > (H * W) / 2);
  assert.ok(max <= 1e-6, `max |tiled - average| ${max}`);
});

Tiled("auto: a memory budget too small for one pass tiles, within the budget; 'auto' alone runs one pass", async ({ model }) => {
  const x = crops(['nuclei_03']);
  const whole = model.estimate(x.shape);
  const once = await model.run(x);
  assert.is(once.tiling, undefined, 'fits the limits: one pass');
  await model.releasePlans();
  model.resetPeak();
  const budget = Math.floor(whole.totalBytes / 2);
  const progress: number[] = [];
  const y = await model.run(x, { tile: { memoryBudgetBytes: budget }, onProgress: (p) => progress.push(p.done / p.total) });
  assert.ok(y.tiling, 'tiled');
  const mem = model.gpuMemory();
  console.log(
    `  budget ${budget} B (one pass: ${whole.totalBytes} B): windows ${y.tiling!.roi.join('x')} x ${y.tiling!.batch}, ${y.tiling!.windows} windows; plans hold ${mem.planBytes} B, peak ${mem.peakBytes} B`,
  );
  assert.ok(mem.planBytes <= budget, `plans hold ${mem.planBytes} > budget ${budget}`);
  assert.ok(mem.peakBytes - mem.weightBytes <= budget);
  assert.is(progress[progress.length - 1], 1);
  assert.ok(progress.every((p, i) => i === 0 || p > progress[i - 1]));
  const c = compare(y.data, once.data);
  assert.ok(c.agreement >= 0.98, JSON.stringify(c));
});

Tiled('estimate() is what the compiled plan holds (to the shape uniforms)', async ({ model }) => {
  await model.releasePlans();
  for (const shape of [
    [1, 1, 96, 80],
    [3, 1, 37, 53],
    [2, 1, 128, 128],
  ]) {
    const e = model.estimate(shape);
    await model.run({ data: new Float32Array(shape.reduce((a, b) => a * b, 1)), shape }, { tile: false });
    const held = model.gpuMemory().planBytes;
    await model.releasePlans();
    assert.ok(held >= e.totalBytes && held - e.totalBytes < 16384, `[${shape}]: estimate ${e.totalBytes}, plan holds ${held}`);
  }
});

Tiled('past one binding: one pass in bands (not windows); where no band fits: tile false is a clear error before any allocation', async ({ model, device }) => {
  const limit = model.device.limits.maxStorageBufferBindingSize;
  // the smallest square image whose largest activation exceeds the binding limit runs in one pass, in bands
  let side = 256;
  while (model.estimate([1, 1, side, side]).largestActivationBytes <= limit) side += 256;
  const big = model.runPath([1, 1, side, side]);
  assert.is(big.path, 'bands', big.why);
  assert.ok(big.estimate.bandedNodes > 0 && big.estimate.bands > big.estimate.bandedNodes, big.why);
  console.log(`  ${side}x${side}: ${big.why}`);
  // a binding limit under one row of the first layer's halo: no band fits, so one pass is impossible
  const tiny = await loadModel(device, DEMO, { maxBindingBytes: 2048 });
  try {
    const x = { data: new Float32Array(64 * 64), shape: [1, 1, 64, 64] };
    const before = tiny.gpuBytes();
    try {
      await tiny.run(x, { tile: false });
      assert.unreachable('should have failed');
    } catch (e) {
      assert.match(
        (e as Error).message,
        /^input \[1,1,64,64\] does not fit one pass: input \[1,1,64,64\]: .+ passes the binding limit \(2048 bytes\) even in a band of one row; .*run it in tiles/,
      );
    }
    assert.is(tiny.gpuBytes(), before, 'nothing allocated');
  } finally {
    tiny.dispose();
  }
});

Tiled('bad tile options are clear errors', async ({ model }) => {
  const x = crops(['nuclei_05']);
  const cases: [unknown, RegExp][] = [
    [{ roi: 0 }, /^tile: roi must be a positive integer or \[h, w\]/],
    [{ roi: [32] }, /^tile: roi must be/],
    [{ overlap: 1 }, /^tile: overlap must be a number with 0 <= overlap < 1, found 1/],
    [{ blend: 'linear' }, /^tile: blend must be 'constant' or 'gaussian', found "linear"/],
    [{ batch: 1.5 }, /^tile: batch must be a positive integer/],
    [{ memoryBudgetBytes: -1 }, /^tile: memoryBudgetBytes must be a positive number/],
    [
      { roi: 32, memoryBudgetBytes: 1000 },
      /^tile: input \[1,1,96,80\] does not fit one pass \(.*budget of 0\.0 MiB\), and windows of 32x32 in batches of 1 do not fit either/,
    ],
    [{ rois: 32 }, /^tile: unknown option "rois"/],
    ['yes', /^tile: must be 'auto', false or an object/],
  ];
  for (const [tile, re] of cases) {
    try {
      await model.run(x, { tile: tile as never });
      assert.unreachable(`tile ${JSON.stringify(tile)} should fail`);
    } catch (e) {
      assert.match((e as Error).message, re);
    }
  }
  // the model still runs
  assert.is((await model.run(x)).shape[3], W);
});

Tiled.run();
