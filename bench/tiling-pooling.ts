// How far sliding-window outputs are from one pass for a model that pools over the whole image
// (EfficientNet's squeeze-excite, scse): every window sees its own average, so outputs differ everywhere,
// not only near window edges. Compares one pass with windows of each size on one smooth random image.
//   node --import tsx bench/tiling-pooling.ts MODEL [--size 512] [--rois 128,256] [--overlap 0.25]
import { parseArgs } from 'node:util';
import { describeDevice, getDevice, loadModel, releaseGpu } from '../src/node.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { size: { type: 'string', default: '512' }, rois: { type: 'string', default: '128,256' }, overlap: { type: 'string', default: '0.25' } },
});
if (positionals.length !== 1) {
  console.error('usage: node --import tsx bench/tiling-pooling.ts MODEL [--size 512] [--rois 128,256] [--overlap 0.25]');
  process.exit(2);
}
const size = Number(values.size);
const overlap = Number(values.overlap);
const device = await getDevice();
const model = await loadModel(device, positionals[0]);
const C = model.info.inChannels;
// a smooth field plus noise, seeded: images have large-scale structure, which is what global pooling sees
let seed = 12345;
const rand = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5;
const x = new Float32Array(C * size * size);
for (let c = 0; c < C; c++)
  for (let y = 0; y < size; y++) for (let i = 0; i < size; i++) x[(c * size + y) * size + i] = Math.sin((y + 40 * c) / 37) + Math.cos(i / 53) + 0.5 * rand();
const input = { data: x, shape: [1, C, size, size] };
const whole = await model.run(input, { tile: false });
console.log(
  `${describeDevice(device).description}; ${model.info.encoder}, ${model.info.activation}, input 1x${C}x${size}x${size}, overlap ${overlap}, gaussian blend`,
);
for (const roi of values.rois!.split(',').map(Number)) {
  const t = await model.run(input, { tile: { roi, overlap } });
  let max = 0;
  let mean = 0;
  let agree = 0;
  for (let i = 0; i < whole.data.length; i++) {
    const d = Math.abs(t.data[i] - whole.data[i]);
    max = Math.max(max, d);
    mean += d / whole.data.length;
    if (t.data[i] > 0.5 === whole.data[i] > 0.5) agree++;
  }
  console.log(
    `windows ${roi}: ${t.tiling!.windows} windows, max |tiled - one pass| ${max.toExponential(2)}, mean ${mean.toExponential(2)}, masks (> 0.5) agree ${((agree / whole.data.length) * 100).toFixed(2)}%`,
  );
}
model.dispose();
device.destroy();
releaseGpu();
