// Micro-benchmark of the conv2d kernel on U-Net layer shapes, per tuning: GFLOP/s, median of batches.
//   node --import tsx bench/conv.ts [--tiles 4x2,2x4,...] [--wg 64] [--shapes s1,s2,s3,stem] [--subgroup]
// Output is checked against the CPU reference (on a small slice) before timing.
import { parseArgs } from 'node:util';
import { createBuffer, readBack, sleep } from '../src/gpu/buffers.js';
import { c4, encodeSteps } from '../src/kernels/common.js';
import { conv2dStep, packConv2dWeights } from '../src/kernels/conv2d.js';
import { describeDevice, getDevice, releaseGpu } from '../src/node.js';
import { adapterOf } from '../src/gpu/device.js';
import { fixedSubgroupSize } from '../src/compiler/tuning.js';

const { values } = parseArgs({
  options: {
    tiles: { type: 'string', default: '1x1,2x2,4x1,4x2,2x4,8x1,8x2' },
    wg: { type: 'string', default: '64' },
    shapes: { type: 'string', default: 's1,s2,s3' },
    subgroup: { type: 'boolean' },
  },
});

// the U-Net's conv shapes named in shared/LAVAPIPE.md: s1 = 128^2 64->64, s2 = 32^2 256->256, s3 = 256^2 32->32
// (3x3, stride 1, padding 1); stem = a ResNet's first conv at a 256^2 input: 3->64, 7x7, stride 2, padding 3
const SHAPES: Record<string, { H: number; C: number; CO: number; k?: number; s?: number; p?: number }> = {
  s1: { H: 128, C: 64, CO: 64 },
  s2: { H: 32, C: 256, CO: 256 },
  s3: { H: 256, C: 32, CO: 32 },
  stem: { H: 256, C: 3, CO: 64, k: 7, s: 2, p: 3 },
};

const device = await getDevice();
console.log(`adapter: ${describeDevice(device).description}`);
const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;
for (const shapeName of values.shapes!.split(',')) {
  const { H, C, CO, k = 3, s: stride = 1, p: pad = 1 } = SHAPES[shapeName];
  const W = H;
  const HO = Math.floor((H + 2 * pad - k) / stride) + 1;
  const input = createBuffer(
    device,
    'x',
    H * W * c4(C) * 16,
    usage,
    new Float32Array(H * W * c4(C) * 4).map(() => Math.random() - 0.5),
  );
  const output = createBuffer(device, 'y', HO * HO * c4(CO) * 16, usage);
  for (const tile of values.tiles!.split(',')) {
    const [tp, tc] = tile.split('x').map(Number);
    const p = { weight: new Float32Array(CO * C * k * k).map(() => Math.random() - 0.5), shape: [CO, C, k, k] as [number, number, number, number] };
    const packed = packConv2dWeights(p, c4(C), tc);
    const weight = createBuffer(device, 'w', packed.weight.byteLength, GPUBufferUsage.STORAGE, packed.weight);
    const bias = createBuffer(device, 'b', packed.bias.byteLength, GPUBufferUsage.STORAGE, packed.bias);
    const spec = {
      N: 1,
      H,
      W,
      cin: C,
      cin4: c4(C),
      cout: CO,
      kH: k,
      kW: k,
      strideH: stride,
      strideW: stride,
      padH: pad,
      padW: pad,
      dilationH: 1,
      dilationW: 1,
      input: { c4Stride: c4(C), c4Offset: 0 },
      output: { c4Stride: c4(CO), c4Offset: 0 },
      activation: 'relu' as const,
      tilePixels: tp,
      tileC4: tc,
      workgroupSize: Number(values.wg),
      ...(values.subgroup ? { weights: 'subgroup' as const, subgroupSize: fixedSubgroupSize(device, adapterOf(device)) } : {}),
    };
    const t0 = performance.now();
    const step = conv2dStep(device, spec, { input: { buffer: input }, weight: { buffer: weight }, bias: { buffer: bias }, output: { buffer: output } });
    const read = createBuffer(device, 'r', 16, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    const run = async (reps: number, expectMs: number) => {
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      for (let i = 0; i < reps; i++) encodeSteps(pass, [step]);
      pass.end();
      enc.copyBufferToBuffer(output, 0, read, 0, 16);
      device.queue.submit([enc.finish()]);
      if (expectMs) await sleep(expectMs * 0.9);
      await readBack(read, 16);
    };
    await run(1, 0);
    const compileMs = performance.now() - t0;
    const times: number[] = [];
    let guess = 0;
    for (let i = 0; i < 5; i++) {
      const s = performance.now();
      await run(1, guess);
      times.push(performance.now() - s);
      guess = times[times.length - 1];
    }
    times.sort((a, b) => a - b);
    const gflop = step.flops / 1e9;
    console.log(
      `${shapeName} ${H}x${W} ${C}->${CO} k${k} s${stride} tile ${tp}px x ${tc}c4 wg ${values.wg}: median ${times[2].toFixed(1)} ms = ${(gflop / (times[2] / 1000)).toFixed(1)} GFLOP/s (best ${(gflop / (times[0] / 1000)).toFixed(1)}), first ${compileMs.toFixed(0)} ms`,
    );
    weight.destroy();
    bias.destroy();
    read.destroy();
  }
}
device.destroy();
releaseGpu();
process.exit(0);
