// Micro-benchmark of the conv3d kernel at nnU-Net's first-stage sizes beside the direct conv2d kernel at the
// same implicit-GEMM sizes (voxels M, output channels N, K = taps x input channels), same tile, same weight
// mode, same process: GFLOP/s, median and p90 of --runs single-dispatch runs after one warm-up.
//   node --import tsx bench/conv3d.ts [--tiles 2x4,4x2] [--shapes c32,c64,stem,down] [--weights load|subgroup] [--runs 5]
// Each kernel is first checked against its CPU reference at a small size with the same pipeline (the sizes
// are shape uniforms, so the code checked is the code timed).
import { parseArgs } from 'node:util';
import { createBuffer, readBack, sleep } from '../src/gpu/buffers.js';
import { type Step, c4, encodeSteps } from '../src/kernels/common.js';
import { conv2dOutSize, conv2dStep, packConv2dWeights } from '../src/kernels/conv2d.js';
import { type Axes3, type Conv3dSpec, conv3dOutShape, conv3dStep, packConv3dWeights } from '../src/kernels/conv3d.js';
import { conv3d as conv3dRef } from '../src/kernels/reference/conv3d.js';
import { conv2d as conv2dRef } from '../src/kernels/reference/conv2d.js';
import { nchwToNhwc4Step, nhwc4ToNchwStep } from '../src/kernels/layout.js';
import { describeDevice, getDevice, releaseGpu } from '../src/node.js';
import { adapterOf } from '../src/gpu/device.js';
import { tuningFor } from '../src/compiler/tuning.js';

const { values } = parseArgs({
  options: {
    tiles: { type: 'string', default: '2x4,4x2' },
    shapes: { type: 'string', default: 'c32,c64,stem,down' },
    weights: { type: 'string' },
    runs: { type: 'string', default: '5' },
  },
});

// 3x3x3, padding 1, at nnU-Net's first stages (a 64^3 patch), and a 2D 3x3 conv with the same GEMM:
// the same M (output positions), N (cout) and K (taps x cin: 27 x cin = 9 x 3 cin)
const SHAPES: Record<string, { size: Axes3; C: number; CO: number; s: number; H2: number; W2: number }> = {
  c32: { size: [64, 64, 64], C: 32, CO: 32, s: 1, H2: 512, W2: 512 },
  c64: { size: [32, 32, 32], C: 64, CO: 64, s: 1, H2: 128, W2: 256 },
  stem: { size: [64, 64, 64], C: 1, CO: 32, s: 1, H2: 512, W2: 512 },
  down: { size: [64, 64, 64], C: 32, CO: 64, s: 2, H2: 128, W2: 256 },
};

const device = await getDevice();
const base = tuningFor(device, adapterOf(device)).conv3d;
const weights = (values.weights ?? base.weights) as 'load' | 'subgroup';
const subgroupSize = weights === 'subgroup' ? base.subgroupSize : undefined;
if (weights === 'subgroup' && !subgroupSize) throw new Error('--weights subgroup: this adapter has no fixed subgroup size');
const RUNS = Number(values.runs);
console.log(`adapter: ${describeDevice(device).description}; weights by ${weights}${subgroupSize ? `/${subgroupSize}` : ''}; 1 warm-up, ${RUNS} runs`);

const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
const rand = (n: number, scale = 1) => new Float32Array(n).map(() => (Math.random() * 2 - 1) * scale);

/** Runs `steps` once and reads `out` (NHWC4, rows x W2 pixels, dense) back as NCHW. */
async function runAndRead(steps: Step[], out: GPUBuffer, N: number, C: number, H: number, W: number): Promise<Float32Array> {
  const bytes = N * C * H * W * 4;
  const nchw = createBuffer(device, 'nchw', bytes, STORAGE);
  const read = createBuffer(device, 'read', bytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  const back = nhwc4ToNchwStep(
    device,
    { N, C, H, W, view: { c4Stride: c4(C), c4Offset: 0 }, workgroupSize: 64 },
    { input: { buffer: out }, output: { buffer: nchw } },
  );
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  encodeSteps(pass, [...steps, back]);
  pass.end();
  enc.copyBufferToBuffer(nchw, 0, read, 0, bytes);
  device.queue.submit([enc.finish()]);
  const data = new Float32Array(await readBack(read, bytes));
  nchw.destroy();
  read.destroy();
  return data;
}

/** An NCHW tensor (rows = D * H for 3D) uploaded as NHWC4, with the step converting it. */
function uploadNhwc4(data: Float32Array, N: number, C: number, H: number, W: number): { buffer: GPUBuffer; steps: Step[] } {
  const src = createBuffer(device, 'nchw in', data.byteLength, STORAGE, data);
  const buffer = createBuffer(device, 'nhwc4 in', N * H * W * c4(C) * 16, STORAGE);
  return {
    buffer,
    steps: [nchwToNhwc4Step(device, { N, C, H, W, view: { c4Stride: c4(C), c4Offset: 0 }, workgroupSize: 64 }, { input: { buffer: src }, output: { buffer } })],
  };
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

type Dims = [number, number, number];

/** A contender: a step maker for a size, given its NCHW input and weights, and its CPU reference. */
interface Contender {
  name: string;
  /** the step at full (`small` false) or check size: its NCHW input, input and output as [C, rows, W]
   *  (rows = D * H for 3D), the output buffer and the CPU reference's output */
  make(small: boolean): { input: Float32Array; inDims: Dims; outDims: Dims; step: (input: GPUBuffer) => Step; out: GPUBuffer; ref: () => Float32Array };
}

function conv3dContender(shape: (typeof SHAPES)[string], tp: number, tc: number): Contender {
  const k: Axes3 = [3, 3, 3];
  return {
    name: `conv3d ${shape.size.join('x')} ${shape.C}->${shape.CO} k3x3x3 s${shape.s}`,
    make(small) {
      const size: Axes3 = small ? [5, 6, 7] : shape.size;
      const spec: Conv3dSpec = {
        N: 1,
        D: size[0],
        H: size[1],
        W: size[2],
        cin: shape.C,
        cin4: c4(shape.C),
        cout: shape.CO,
        kernel: k,
        stride: [shape.s, shape.s, shape.s],
        padding: [1, 1, 1],
        input: { c4Stride: c4(shape.C), c4Offset: 0 },
        output: { c4Stride: c4(shape.CO), c4Offset: 0 },
        activation: 'relu',
        tilePixels: tp,
        tileC4: tc,
        workgroupSize: 64,
        weights,
        subgroupSize,
      };
      const [DO, HO, WO] = conv3dOutShape(spec);
      const input = rand(shape.C * size[0] * size[1] * size[2]);
      const p = { weight: rand(shape.CO * shape.C * 27, 1 / Math.sqrt(shape.C * 27)), shape: [shape.CO, shape.C, ...k], bias: rand(shape.CO) };
      const packed = packConv3dWeights(p, c4(shape.C), tc);
      const weight = createBuffer(device, 'w', packed.weight.byteLength, GPUBufferUsage.STORAGE, packed.weight);
      const bias = createBuffer(device, 'b', packed.bias.byteLength, GPUBufferUsage.STORAGE, packed.bias);
      const out = createBuffer(device, 'y', DO * HO * WO * c4(shape.CO) * 16, STORAGE);
      return {
        input,
        out,
        inDims: [shape.C, size[0] * size[1], size[2]],
        outDims: [shape.CO, DO * HO, WO],
        step: (x) => conv3dStep(device, spec, { input: { buffer: x }, weight: { buffer: weight }, bias: { buffer: bias }, output: { buffer: out } }),
        ref: () => conv3dRef({ data: input, shape: [1, shape.C, ...size] }, p, { stride: spec.stride, padding: spec.padding, activation: 'relu' }).data,
      };
    },
  };
}

function conv2dContender(shape: (typeof SHAPES)[string], tp: number, tc: number): Contender {
  const C = shape.C * 3; // 9 taps x 3 cin = 27 taps x cin
  return {
    name: `conv2d ${shape.H2 * shape.s}x${shape.W2 * shape.s} ${C}->${shape.CO} k3x3 s${shape.s}`,
    make(small) {
      const [H, W] = small ? [9, 11] : [shape.H2 * shape.s, shape.W2 * shape.s];
      const [HO, WO] = [conv2dOutSize(H, 3, shape.s, 1, 1), conv2dOutSize(W, 3, shape.s, 1, 1)];
      const input = rand(C * H * W);
      const p = { weight: rand(shape.CO * C * 9, 1 / Math.sqrt(C * 9)), shape: [shape.CO, C, 3, 3] as [number, number, number, number], bias: rand(shape.CO) };
      const packed = packConv2dWeights(p, c4(C), tc);
      const weight = createBuffer(device, 'w', packed.weight.byteLength, GPUBufferUsage.STORAGE, packed.weight);
      const bias = createBuffer(device, 'b', packed.bias.byteLength, GPUBufferUsage.STORAGE, packed.bias);
      const out = createBuffer(device, 'y', HO * WO * c4(shape.CO) * 16, STORAGE);
      const spec = {
        N: 1,
        H,
        W,
        cin: C,
        cin4: c4(C),
        cout: shape.CO,
        kH: 3,
        kW: 3,
        strideH: shape.s,
        strideW: shape.s,
        padH: 1,
        padW: 1,
        dilationH: 1,
        dilationW: 1,
        input: { c4Stride: c4(C), c4Offset: 0 },
        output: { c4Stride: c4(shape.CO), c4Offset: 0 },
        activation: 'relu' as const,
        tilePixels: tp,
        tileC4: tc,
        workgroupSize: 64,
        weights,
        subgroupSize,
      };
      return {
        input,
        out,
        inDims: [C, H, W],
        outDims: [shape.CO, HO, WO],
        step: (x) => conv2dStep(device, spec, { input: { buffer: x }, weight: { buffer: weight }, bias: { buffer: bias }, output: { buffer: out } }),
        ref: () => conv2dRef({ data: input, shape: [1, C, H, W] }, p, { stride: shape.s, padding: 1, activation: 'relu' }).data,
      };
    },
  };
}

/** Times one step: one warm-up (compiles), then RUNS single-dispatch submits, each slept through for about
 *  the last run's time before waiting (waiting on Dawn busy-polls a core: shared/LAVAPIPE.md). */
async function time(step: Step, out: GPUBuffer): Promise<number[]> {
  const read = createBuffer(device, 'r', 16, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  const run = async (expectMs: number) => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    encodeSteps(pass, [step]);
    pass.end();
    enc.copyBufferToBuffer(out, 0, read, 0, 16);
    device.queue.submit([enc.finish()]);
    if (expectMs) await sleep(expectMs * 0.9);
    await readBack(read, 16);
  };
  await run(0);
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const s = performance.now();
    await run(times[times.length - 1] ?? 0);
    times.push(performance.now() - s);
  }
  read.destroy();
  return times.sort((a, b) => a - b);
}

/** Checks the contender at its small size (same code, other shape uniforms), then times it at full size. */
async function bench(c: Contender): Promise<number> {
  const small = c.make(true);
  const x = uploadNhwc4(small.input, 1, ...small.inDims);
  const got = await runAndRead([...x.steps, small.step(x.buffer)], small.out, 1, ...small.outDims);
  const diff = maxDiff(got, small.ref());
  if (!(diff < 1e-4)) throw new Error(`${c.name}: max |gpu - cpu| ${diff} at the check size`);
  const full = c.make(false);
  const fx = uploadNhwc4(full.input, 1, ...full.inDims);
  const step = full.step(fx.buffer);
  await runAndRead(fx.steps, fx.buffer, 1, ...full.inDims); // the input conversion, once
  const times = await time(step, full.out);
  const median = times[Math.floor(times.length / 2)];
  const p90 = times[Math.min(times.length - 1, Math.ceil(times.length * 0.9) - 1)];
  const gflop = step.flops / 1e9;
  console.log(
    `  ${c.name.padEnd(34)} ${gflop.toFixed(2).padStart(6)} GFLOP: median ${median.toFixed(1)} ms = ${(gflop / (median / 1000)).toFixed(1)} GFLOP/s, p90 ${p90.toFixed(1)} ms (check ${diff.toExponential(1)})`,
  );
  return gflop / (median / 1000);
}

for (const name of values.shapes!.split(',')) {
  const shape = SHAPES[name];
  if (!shape) throw new Error(`--shapes: no shape ${name} (${Object.keys(SHAPES).join(', ')})`);
  for (const tile of values.tiles!.split(',')) {
    const [tp, tc] = tile.split('x').map(Number);
    console.log(`${name}, tile ${tp}px x ${tc}c4 wg64:`);
    const g3 = await bench(conv3dContender(shape, tp, tc));
    const g2 = await bench(conv2dContender(shape, tp, tc));
    console.log(`  conv3d / conv2d per FLOP: ${(g3 / g2).toFixed(2)}`);
  }
}
device.destroy();
releaseGpu();
process.exit(0);
