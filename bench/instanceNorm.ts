// Micro-benchmark of instanceNorm (three passes: moments, scale and shift, apply with a residual and
// LeakyReLU) on nnU-Net's first-stage map sizes: GB/s over the bytes its passes move (the input read twice,
// the residual read once, the output written once), beside an elementwise LeakyReLU on the same tensor in
// the same process (one read, one write: what a memory-bound pass gets here).
//   node --import tsx bench/instanceNorm.ts [--sizes 64x64x64,64x128x128] [--channels 32] [--runs 7] [--reps 10] [--f16] [--no-residual]
// Each size's output is checked against the float64 CPU reference (three channels of instance 0) before timing.
import { parseArgs } from 'node:util';
import { createBuffer, readBack, sleep } from '../src/gpu/buffers.js';
import { type Step, c4, dense, encodeSteps } from '../src/kernels/common.js';
import { instanceNormScratch, instanceNormSteps, packInstanceNormParams } from '../src/kernels/instanceNorm.js';
import { instanceNorm } from '../src/kernels/reference/instanceNorm.js';
import { unaryStep } from '../src/kernels/unary.js';
import { f16BitsToF32, f32ToF16Bits } from '../src/weights/safetensors.js';
import { describeDevice, getDevice, releaseGpu } from '../src/node.js';

const { values } = parseArgs({
  options: {
    // 64^3 and 128^3 / 2 voxels
    sizes: { type: 'string', default: '64x64x64,64x128x128' },
    channels: { type: 'string', default: '32' },
    runs: { type: 'string', default: '7' },
    reps: { type: 'string', default: '10' },
    f16: { type: 'boolean', default: false },
    'no-residual': { type: 'boolean', default: false },
  },
});
const C = Number(values.channels);
const runs = Number(values.runs);
const reps = Number(values.reps);
const f16 = values.f16!;
const withResidual = !values['no-residual'];
const slope = 'leakyRelu:0.01' as const;

const device = await getDevice();
if (f16 && !device.features.has('shader-f16')) throw new Error('--f16: this adapter has no shader-f16');
console.log(`adapter: ${describeDevice(device).description}`);
console.log(
  `instanceNorm ${f16 ? 'f16' : 'f32'} storage, ${C} channels, ${withResidual ? '+ residual ' : ''}+ ${slope}; ${runs} runs of ${reps} reps, 1 warm-up`,
);
const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** NHWC4 storage of random N(0,1)-ish values around `mean`, as f32 or f16 bits; also the f32 values stored. */
function randomStorage(count: number, mean: number, seed: number): { bytes: ArrayBufferView; values: Float32Array } {
  let s = seed >>> 0;
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    // the sum of two uniforms: a triangle of sigma ~0.8, cheap and far from uniform's flat edges
    // padding channels of the last vec4 hold 0, as every producer leaves them
    const channel = i % (c4(C) * 4);
    values[i] = channel >= C ? 0 : mean + (s / 2 ** 32 - 0.5) * 2 + ((Math.imul(s, 22695477) >>> 0) / 2 ** 32 - 0.5) * 2;
  }
  if (!f16) return { bytes: values, values };
  const bits = Uint16Array.from(values, f32ToF16Bits);
  return { bytes: bits, values: Float32Array.from(bits, f16BitsToF32) };
}

async function timeSteps(steps: Step[], probe: GPUBuffer): Promise<number[]> {
  const read = createBuffer(device, 'probe', 16, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  const run = async (expectMs: number) => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let i = 0; i < reps; i++) encodeSteps(pass, steps);
    pass.end();
    enc.copyBufferToBuffer(probe, 0, read, 0, 16);
    const t = performance.now();
    device.queue.submit([enc.finish()]);
    if (expectMs) await sleep(expectMs * 0.9);
    await readBack(read, 16);
    return (performance.now() - t) / reps;
  };
  await run(0);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await run(times[times.length - 1] ?? 0));
  read.destroy();
  return times.sort((a, b) => a - b);
}

const median = (t: number[]) => t[Math.floor(t.length / 2)];
const p90 = (t: number[]) => t[Math.min(t.length - 1, Math.ceil(t.length * 0.9) - 1)];

for (const size of values.sizes!.split(',')) {
  const spatial = size.split('x').map(Number);
  const positions = spatial.reduce((a, b) => a * b, 1);
  const vec4s = positions * c4(C);
  const x = randomStorage(vec4s * 4, 3, 1);
  const r = randomStorage(vec4s * 4, 0, 2);
  const input = createBuffer(device, 'x', x.bytes.byteLength, usage, x.bytes);
  const residual = createBuffer(device, 'r', r.bytes.byteLength, usage, r.bytes);
  const output = createBuffer(device, 'y', x.bytes.byteLength, usage);
  const p = { weight: Float32Array.from({ length: C }, (_, i) => 0.5 + i / C), bias: Float32Array.from({ length: C }, (_, i) => i / C - 0.5), eps: 1e-5 };
  const params = createBuffer(device, 'params', 32 * c4(C), GPUBufferUsage.STORAGE, packInstanceNormParams(p));
  const spec = {
    N: 1,
    positions,
    channels: C,
    eps: p.eps,
    activation: slope,
    input: dense(C),
    output: dense(C),
    residual: withResidual ? dense(C) : undefined,
    workgroupSize: 64,
    f16,
  };
  const [pb, sb] = instanceNormScratch(spec);
  const partials = createBuffer(device, 'partials', pb, usage);
  const stats = createBuffer(device, 'stats', sb, usage);
  const steps = instanceNormSteps(device, spec, {
    input: { buffer: input },
    params: { buffer: params },
    partials: { buffer: partials },
    stats: { buffer: stats },
    output: { buffer: output },
    residual: withResidual ? { buffer: residual } : undefined,
  });

  // check three channels of the output against the float64 reference before timing
  await timeSteps(steps, output);
  const read = createBuffer(device, 'readback', x.bytes.byteLength, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(output, 0, read, 0, x.bytes.byteLength);
  device.queue.submit([enc.finish()]);
  const raw = await readBack(read, x.bytes.byteLength);
  read.destroy();
  const got = f16 ? Float32Array.from(new Uint16Array(raw), f16BitsToF32) : new Float32Array(raw);
  let maxDiff = 0;
  for (const c of [0, Math.floor(C / 2), C - 1]) {
    const lane = (i: number, a: Float32Array) => a[i * c4(C) * 4 + c];
    const one = Float32Array.from({ length: positions }, (_, i) => lane(i, x.values));
    const want = instanceNorm(
      { data: one, shape: [1, 1, positions] },
      { weight: p.weight.subarray(c, c + 1), bias: p.bias.subarray(c, c + 1), eps: p.eps },
      slope,
      withResidual ? Float32Array.from({ length: positions }, (_, i) => lane(i, r.values)) : undefined,
    );
    for (let i = 0; i < positions; i++) maxDiff = Math.max(maxDiff, Math.abs(lane(i, got) - want.data[i]) / Math.max(1, Math.abs(want.data[i])));
  }
  const limit = f16 ? 4e-3 : 1e-4;
  if (!(maxDiff <= limit)) throw new Error(`${size}: max |gpu - float64| / max(1, |ref|) ${maxDiff} over ${limit}`);

  const bytes = steps.reduce((s, st) => s + (st.bytes ?? 0), 0);
  const norm = await timeSteps(steps, output);
  const relu = unaryStep(
    device,
    { op: slope, pixels: positions, c4: c4(C), channels: C, input: dense(C), output: dense(C), workgroupSize: 64, f16 },
    { input: { buffer: input }, output: { buffer: output } },
  );
  const copy = await timeSteps([relu], output);
  const copyBytes = 2 * x.bytes.byteLength;
  const gbs = (b: number, ms: number) => (b / 1e9 / (ms / 1000)).toFixed(1);
  console.log(
    `${C}x${size} (${(x.bytes.byteLength / 2 ** 20).toFixed(0)} MiB a tensor; checked, max rel |diff| ${maxDiff.toExponential(1)}): ` +
      `instanceNorm median ${median(norm).toFixed(3)} ms, p90 ${p90(norm).toFixed(3)} ms = ${gbs(bytes, median(norm))} GB/s over ${(bytes / 2 ** 20).toFixed(0)} MiB moved; ` +
      `leakyRelu alone ${median(copy).toFixed(3)} ms = ${gbs(copyBytes, median(copy))} GB/s; norm / leakyRelu time ${(median(norm) / median(copy)).toFixed(2)}x`,
  );
  for (const b of [input, residual, output, params, partials, stats]) b.destroy();
  for (const s of [...steps, relu]) for (const o of s.owned) o.destroy();
}
device.destroy();
releaseGpu();
process.exit(0);
