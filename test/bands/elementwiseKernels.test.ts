// The kernels of the elementwise, pooling, resize, concat, softmax and gate ops in bands, without the
// planner: values sit in one arena at aligned offsets, a one-pass dispatch and a set of banded dispatches
// run on two copies of it, and the whole arenas must be equal bit for bit. Each band binds windows as the
// planner cuts them (rows aligned down to the offset alignment, the value's offset moved by the window's
// start, so negative), so a kernel that indexes outside its window, writes past its band or computes a
// coordinate from a band-local index shows up as a difference, here or outside the output.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createBuffer, readBack } from '../../src/gpu/buffers.js';
import { type BufferRange, type Nhwc4View, type Step, encodeSteps } from '../../src/kernels/common.js';
import { addStep } from '../../src/kernels/add.js';
import { batchNormStep, packBatchNormParams } from '../../src/kernels/batchNorm.js';
import { channelSoftmaxStep } from '../../src/kernels/channelSoftmax.js';
import { concatStep } from '../../src/kernels/concat.js';
import { maxPool2dOutSize, maxPool2dSourceRows, maxPool2dStep } from '../../src/kernels/maxPool2d.js';
import { resizeSourceRows, resizeStep } from '../../src/kernels/resize.js';
import { scseGateStep } from '../../src/kernels/scseGate.js';
import { unaryStep } from '../../src/kernels/unary.js';
import { f32ToF16Bits } from '../../src/weights/safetensors.js';
import { randArray, rng, testDevice } from '../helpers.js';
import { skip } from '../skip.js';

type Band = { row0: number; rows: number };

/** A value in the arena: `rows` flat rows of `W` pixels of `c4Stride` vec4s; the op's part of it starts at vec4 `c4Offset`. */
interface Value {
  rows: number;
  W: number;
  c4Stride: number;
  c4Offset?: number;
  /** for inputs: the input rows output row r reads (inclusive, unclamped); absent: the same row; 'all': bound whole */
  reach?: 'all' | ((r: number) => [number, number]);
}

interface KernelCase {
  name: string;
  f16: boolean;
  inputs: Value[];
  output: Value;
  /** output rows per band (odd counts, not dividing the rows) */
  bandRows: number;
  step(device: GPUDevice, views: Nhwc4View[], ranges: BufferRange[], band: Band | undefined, params: BufferRange | undefined): Step;
  params?: Float32Array;
}

const ALIGN = 256;
const alignUp = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

async function runBoth(device: GPUDevice, c: KernelCase): Promise<{ whole: Uint32Array; banded: Uint32Array; steps: number }> {
  const vec4 = c.f16 ? 8 : 16;
  const values = [...c.inputs, c.output];
  const rowBytes = (v: Value) => v.W * v.c4Stride * vec4;
  // each value at an aligned offset, with a gap after it (a write past a window lands there)
  const offsets: number[] = [];
  let end = ALIGN;
  for (const v of values) {
    offsets.push(end);
    end = alignUp(end + v.rows * rowBytes(v) + 48);
  }
  const rand = rng(4242);
  const words = new Uint32Array(end / 4);
  if (c.f16) for (let i = 0; i < words.length; i++) words[i] = f32ToF16Bits(-4 + 8 * rand()) | (f32ToF16Bits(-4 + 8 * rand()) << 16);
  else words.set(new Uint32Array(randArray(rand, words.length, -4, 4).buffer));
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const params = c.params && createBuffer(device, 'params', c.params.byteLength, GPUBufferUsage.STORAGE, c.params);

  const run = async (bands: (Band | undefined)[]) => {
    const arena = createBuffer(device, 'arena', end, usage, words);
    const steps = bands.map((band) => {
      const bind = values.map((v, k) => {
        const whole = { range: { buffer: arena, offset: offsets[k], size: v.rows * rowBytes(v) }, view: { c4Stride: v.c4Stride, c4Offset: v.c4Offset ?? 0 } };
        const isOutput = k === values.length - 1;
        if (!band || (!isOutput && v.reach === 'all')) return whole;
        let [lo, hi] = [band.row0, band.row0 + band.rows - 1];
        if (!isOutput && typeof v.reach === 'function') {
          [lo, hi] = [Number.POSITIVE_INFINITY, -1];
          for (let r = band.row0; r < band.row0 + band.rows; r++) {
            const [l, h] = v.reach(r);
            lo = Math.min(lo, Math.max(l, 0));
            hi = Math.max(hi, Math.min(h, v.rows - 1));
          }
        }
        const start = offsets[k] + lo * rowBytes(v);
        const offset = Math.floor(start / ALIGN) * ALIGN;
        const shift = (offset - offsets[k]) / vec4;
        return {
          range: { buffer: arena, offset, size: offsets[k] + (hi + 1) * rowBytes(v) - offset },
          view: { c4Stride: v.c4Stride, c4Offset: (v.c4Offset ?? 0) - shift },
        };
      });
      return c.step(
        device,
        bind.map((b) => b.view),
        bind.map((b) => b.range),
        band,
        params && { buffer: params },
      );
    });
    const read = createBuffer(device, 'read', end, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    device.pushErrorScope('validation');
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    encodeSteps(pass, steps);
    pass.end();
    enc.copyBufferToBuffer(arena, 0, read, 0, end);
    device.queue.submit([enc.finish()]);
    const err = await device.popErrorScope();
    if (err) throw new Error(`${c.name}: validation: ${err.message}`);
    const out = new Uint32Array(await readBack(read, end));
    arena.destroy();
    read.destroy();
    for (const s of steps) for (const b of s.owned) b.destroy();
    return out;
  };
  const bands: Band[] = [];
  for (let row0 = 0; row0 < c.output.rows; row0 += c.bandRows) bands.push({ row0, rows: Math.min(c.bandRows, c.output.rows - row0) });
  const whole = await run([undefined]);
  const banded = await run(bands);
  params?.destroy();
  return { whole, banded, steps: bands.length };
}

const N = 2;
const H = 37;
const W = 13;
const dense = (rows: number, w: number, c4: number, reach?: Value['reach']): Value => ({ rows, W: w, c4Stride: c4, reach });

function cases(f16: boolean): KernelCase[] {
  const px = (band: Band | undefined, w: number, rows: number) => ({ pixels: (band?.rows ?? rows) * w, pixel0: (band?.row0 ?? 0) * w });
  const out: KernelCase[] = [
    {
      name: 'add + relu into a channel slice',
      f16,
      inputs: [dense(N * H, W, 2), dense(N * H, W, 2)],
      // the output is the second part of a 3-vec4 concatenation
      output: { rows: N * H, W, c4Stride: 3, c4Offset: 1 },
      bandRows: 9,
      step: (device, [a, b, output], [ra, rb, ro], band) =>
        addStep(device, { ...px(band, W, N * H), channels: 7, activation: 'relu', a, b, output, workgroupSize: 64, f16 }, { a: ra, b: rb, output: ro }),
    },
    ...(['relu6', 'silu', 'leakyRelu:0.2'] as const).map(
      (op): KernelCase => ({
        name: op,
        f16,
        inputs: [{ rows: N * H, W, c4Stride: 3, c4Offset: 1 }],
        output: dense(N * H, W, 2),
        bandRows: 11,
        step: (device, [input, output], [ri, ro], band) =>
          unaryStep(device, { op, ...px(band, W, N * H), c4: 2, channels: 6, input, output, workgroupSize: 64, f16 }, { input: ri, output: ro }),
      }),
    ),
    {
      name: 'batchNorm',
      f16,
      inputs: [dense(N * H, W, 2)],
      output: dense(N * H, W, 2),
      bandRows: 5,
      params: packBatchNormParams(
        {
          weight: randArray(rng(1), 7, 0.5, 2),
          bias: randArray(rng(2), 7),
          runningMean: randArray(rng(3), 7),
          runningVar: randArray(rng(4), 7, 0.2, 2),
          eps: 1e-5,
        },
        2,
      ),
      step: (device, [input, output], [ri, ro], band, params) =>
        batchNormStep(device, { N, H, W, c4: 2, eps: 1e-5, band, input, output, workgroupSize: 64, f16 }, { input: ri, output: ro, params: params! }),
    },
    ...[false, true].map(
      (log): KernelCase => ({
        name: log ? 'log_softmax' : 'softmax',
        f16,
        inputs: [dense(N * H, W, 2)],
        output: { rows: N * H, W, c4Stride: 4, c4Offset: 2 },
        bandRows: 7,
        step: (device, [input, output], [ri, ro], band) =>
          channelSoftmaxStep(device, { ...px(band, W, N * H), channels: 7, log, input, output, workgroupSize: 64, f16 }, { input: ri, output: ro }),
      }),
    ),
    {
      name: 'scse gate',
      f16,
      inputs: [dense(N * H, W, 2), dense(N, 1, 2, 'all'), dense(N * H, W, 1)],
      output: dense(N * H, W, 2),
      bandRows: 13,
      step: (device, [input, cse, sse, output], [ri, rc, rs, ro], band) =>
        scseGateStep(device, { N, H, W, c4: 2, band, input, cse, sse, output, workgroupSize: 64, f16 }, { input: ri, cse: rc, sse: rs, output: ro }),
    },
    {
      name: 'channel scale',
      f16,
      inputs: [dense(N * H, W, 2), dense(N, 1, 2, 'all')],
      output: dense(N * H, W, 2),
      bandRows: 3,
      step: (device, [input, cse, output], [ri, rc, ro], band) =>
        scseGateStep(device, { N, H, W, c4: 2, band, input, cse, output, workgroupSize: 64, f16 }, { input: ri, cse: rc, output: ro }),
    },
  ];
  for (const [k, s, p] of [
    [2, 2, 0],
    [3, 2, 1],
    [3, 1, 1],
  ]) {
    const [HO, WO] = [maxPool2dOutSize(H, k, s, p), maxPool2dOutSize(W, k, s, p)];
    const rows = maxPool2dSourceRows(k, s, p);
    out.push({
      name: `maxPool2d k${k} s${s} p${p}`,
      f16,
      inputs: [
        {
          rows: N * H,
          W,
          c4Stride: 3,
          c4Offset: 1,
          reach: (r) => {
            const [lo, hi] = rows(r % HO);
            const n = Math.floor(r / HO);
            return [n * H + Math.max(lo, 0), n * H + Math.min(hi, H - 1)];
          },
        },
      ],
      output: dense(N * HO, WO, 2),
      bandRows: 5,
      step: (device, [input, output], [ri, ro], band) =>
        maxPool2dStep(device, { N, H, W, c4: 2, kernel: k, stride: s, padding: p, band, input, output, workgroupSize: 64, f16 }, { input: ri, output: ro }),
    });
  }
  for (const mode of ['nearest', 'bilinear'] as const) {
    for (const [h, w, ho, wo] of [
      [19, 11, 38, 22],
      [37, 13, 75, 29],
      [75, 29, 37, 13],
      [23, 9, 61, 9],
    ]) {
      const rows = resizeSourceRows(mode, h, ho);
      out.push({
        name: `resize ${mode} ${h}x${w} -> ${ho}x${wo}`,
        f16,
        inputs: [
          {
            rows: N * h,
            W: w,
            c4Stride: 2,
            reach: (r) => {
              const [lo, hi] = rows(r % ho);
              const n = Math.floor(r / ho);
              return [n * h + Math.max(lo, 0), n * h + Math.min(hi, h - 1)];
            },
          },
        ],
        output: { rows: N * ho, W: wo, c4Stride: 3, c4Offset: 1 },
        bandRows: 7,
        step: (device, [input, output], [ri, ro], band) =>
          resizeStep(device, { N, H: h, W: w, HO: ho, WO: wo, c4: 2, mode, band, input, output, workgroupSize: 64, f16 }, { input: ri, output: ro }),
      });
    }
  }
  if (!f16)
    out.push({
      name: 'concat 5 + 3 channels',
      f16,
      inputs: [dense(N * H, W, 2), { rows: N * H, W, c4Stride: 3, c4Offset: 2 }],
      output: { rows: N * H, W, c4Stride: 3, c4Offset: 1 },
      bandRows: 9,
      step: (device, [a, b, output], [ra, rb, ro], band) =>
        concatStep(device, { ...px(band, W, N * H), ca: 5, cb: 3, a, b, output, workgroupSize: 64 }, { a: ra, b: rb, output: ro }),
    });
  return out;
}

const Kernels = suite<{ device: GPUDevice }>('bands: elementwise kernels against one pass, arena bit for bit');
Kernels.before(async (ctx) => {
  ctx.device = await testDevice();
});
Kernels.after((ctx) => ctx.device.destroy());

for (const f16 of [false, true]) {
  for (const c of cases(f16)) {
    const name = `${c.name}${f16 ? ' f16' : ''}`;
    Kernels(name, async ({ device }) => {
      if (f16 && !device.features.has('shader-f16')) return skip(`${name}: the adapter has no shader-f16`);
      const { whole, banded, steps } = await runBoth(device, c);
      assert.ok(steps > 2, `${name}: ${steps} bands`);
      let k = 0;
      while (k < whole.length && whole[k] === banded[k]) k++;
      assert.is(k, whole.length, `${name}: the arenas differ first at byte ${k * 4} of ${whole.length * 4}`);
    });
  }
}

Kernels.run();
