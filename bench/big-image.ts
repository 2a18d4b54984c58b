// Large images through sliding-window inference, with bounded GPU memory: the demo model (1 -> 1
// channels, init_features 4) on synthetic gray images of 4096^2 and 12000^2 pixels (a mosaic of the demo
// samples, z-scored as `unet segment` does). Prints per size: the windows chosen, the time, the GPU bytes
// the engine held at its peak (weights + compiled plans, model.gpuMemory()) and the process's peak RSS.
//   node --import tsx bench/big-image.ts [--sizes 4096,12000] [--budget-mib N] [--roi N] [--batch N]
//                                        [--overlap F] [--blend gaussian|constant] [--json]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { describeDevice, getDevice, loadModel, releaseGpu, type TileOptions } from '../src/node.js';
import { decodeImage } from '../src/io/image.js';

const { values: v } = parseArgs({
  options: {
    sizes: { type: 'string', default: '4096,12000' },
    'budget-mib': { type: 'string' },
    roi: { type: 'string' },
    batch: { type: 'string' },
    overlap: { type: 'string' },
    blend: { type: 'string' },
    json: { type: 'boolean' },
  },
});
const sizes = v.sizes!.split(',').map(Number);
const tile: TileOptions = {};
if (v['budget-mib']) tile.memoryBudgetBytes = Number(v['budget-mib']) * 2 ** 20;
if (v.roi) tile.roi = Number(v.roi);
if (v.batch) tile.batch = Number(v.batch);
if (v.overlap) tile.overlap = Number(v.overlap);
if (v.blend) tile.blend = v.blend as 'gaussian' | 'constant';

/** A size x size mosaic of the 128 x 128 demo samples 1-6 (random choice, flips), z-scored. */
function mosaic(size: number): Float32Array {
  const tiles = Array.from({ length: 6 }, (_, i) => decodeImage(readFileSync(`assets/demo/samples/nuclei_0${i + 1}.png`)).data);
  const out = new Float32Array(size * size);
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24;
  for (let ty = 0; ty < size; ty += 128) {
    for (let tx = 0; tx < size; tx += 128) {
      const t = tiles[Math.floor(rand() * tiles.length)];
      const flip = rand() < 0.5;
      for (let y = 0; y < 128 && ty + y < size; y++) {
        for (let x = 0; x < 128 && tx + x < size; x++) out[(ty + y) * size + tx + x] = t[y * 128 + (flip ? 127 - x : x)];
      }
    }
  }
  let sum = 0;
  let sq = 0;
  for (const p of out) [sum, sq] = [sum + p, sq + p * p];
  const mean = sum / out.length;
  const std = Math.sqrt(Math.max(sq / out.length - mean * mean, 1e-12));
  for (let i = 0; i < out.length; i++) out[i] = (out[i] - mean) / std;
  return out;
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const device = await getDevice();
const adapter = describeDevice(device);
const model = await loadModel(device, 'assets/demo/nuclei_unet.safetensors');
const results = [];
console.error(
  `adapter: ${adapter.description || adapter.vendor}; maxStorageBufferBindingSize ${mib(device.limits.maxStorageBufferBindingSize)}, maxBufferSize ${mib(device.limits.maxBufferSize)}; tile ${JSON.stringify(tile)}`,
);
for (const size of sizes) {
  const x = { data: mosaic(size), shape: [1, 1, size, size] };
  const whole = model.estimate(x.shape);
  await model.releasePlans();
  model.resetPeak();
  const t0 = performance.now();
  let last = 0;
  const y = await model.run(x, {
    tile: Object.keys(tile).length ? tile : 'auto',
    onProgress: ({ done, total }) => {
      const now = performance.now();
      if (now - last > 5000 || done === total) {
        last = now;
        const s = (now - t0) / 1000;
        process.stderr.write(`  ${size}^2: ${done}/${total} windows, ${s.toFixed(0)} s, ETA ${((s / done) * (total - done)).toFixed(0)} s\n`);
      }
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  let fg = 0;
  for (const p of y.data) fg += Number(p > 0.5);
  const mem = model.gpuMemory();
  const r = {
    size,
    seconds: Math.round(seconds * 10) / 10,
    megapixelsPerSecond: Math.round(((size * size) / 1e6 / seconds) * 100) / 100,
    tiling: y.tiling,
    onePassBytes: whole.totalBytes,
    peakGpuBytes: mem.peakBytes,
    weightBytes: mem.weightBytes,
    planBytes: mem.planBytes,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    foreground: Math.round((fg / y.data.length) * 1e4) / 1e4,
  };
  results.push(r);
  console.error(
    `${size}x${size}: ${r.seconds} s (${r.megapixelsPerSecond} Mpx/s); windows ${y.tiling ? `${y.tiling.roi.join('x')}, batch ${y.tiling.batch}, ${y.tiling.windows} windows in ${y.tiling.batches} passes` : 'none (one pass)'}; ` +
      `peak GPU ${mib(r.peakGpuBytes)} (weights ${mib(r.weightBytes)}, plan ${mib(r.planBytes)}; one pass would need ${mib(whole.totalBytes)}); ` +
      `max RSS ${mib(r.maxRssBytes)}; foreground ${(r.foreground * 100).toFixed(1)}%`,
  );
}
if (v.json) process.stdout.write(`${JSON.stringify({ adapter: adapter.description, tile, results })}\n`);
model.dispose();
device.destroy();
releaseGpu();
