// conv_transpose with kernel = stride (2D and 3D): the kernel against the CPU reference on odd shapes, every
// tuning candidate, channel slices of a wider output, f16 storage; then every convt* case of the nd op
// fixtures (PyTorch's own conv_transpose2d / 3d) as a one-node graph through the plan.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type Nhwc4View, type Step, c4 } from '../../src/kernels/common.js';
import {
  type ConvTransposeStridedSpec,
  convTransposeStridedStep,
  convTransposeStridedWorkgroups,
  packConvTransposeStridedWeights,
} from '../../src/kernels/convTransposeStrided.js';
import { type NdTensor, convTransposeStrided } from '../../src/kernels/reference/convTransposeStrided.js';
import { nchwToNhwc4Step } from '../../src/kernels/layout.js';
import { createBuffer } from '../../src/gpu/buffers.js';
import { adapterOf } from '../../src/gpu/device.js';
import { candidates, tuningFor } from '../../src/compiler/tuning.js';
import { GraphBuilder, type Shape } from '../../src/ir/graph.js';
import { weightsFor } from '../../src/ops/registry.js';
import { ND_OPS_HINT, ND_OPS_PATH, assertClose, assertRelative, ndOpCases, randArray, rng, runAndReadRaw, testDevice } from '../helpers.js';
import { runGraph } from '../ops/runGraph.js';
import { skip } from '../skip.js';

// f32: each output is a sum of Cin (<= 13) products of values in [-1, 1] plus a bias. f16 storage: one
// rounding of 2^-11 relative on each stored input, weight and output (sums of |terms| up to ~8)
const TOL = { f32: [1e-5, 1e-5], f16: [1.5e-2, 4e-3] } as const;

// a function: GPUBufferUsage exists once the platform's first device does
const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
const SENTINEL = 0x3f;

/**
 * Runs `make(input, output)` on the NCHW / NCDHW tensor `x` (an NCDHW array is NCHW with D*H rows, as NDHWC4
 * is NHWC4 with N*D images), its input and output stored as the views given, and reads the output back as
 * NCHW / NCDHW. The output buffer starts filled with SENTINEL bytes: `outside` counts the bytes of vec4s
 * outside the output's slice that changed, `padding` the nonzero bytes of its padding lanes.
 */
async function run(
  device: GPUDevice,
  x: NdTensor,
  inView: Nhwc4View,
  outShape: number[],
  outView: Nhwc4View,
  f16: boolean,
  make: (input: GPUBuffer, output: GPUBuffer) => Step,
): Promise<{ data: Float32Array; outside: number; padding: number }> {
  const rows = (s: number[]) => (s.length === 5 ? s[2] * s[3] : s[2]);
  const [N, C, H, W] = [x.shape[0], x.shape[1], rows(x.shape), x.shape.at(-1)!];
  const [CO, OH, OW] = [outShape[1], rows(outShape), outShape.at(-1)!];
  const vec4Bytes = f16 ? 8 : 16;
  const src = createBuffer(device, 'test nchw', x.data.byteLength, STORAGE(), x.data);
  const input = createBuffer(device, 'test input', N * H * W * inView.c4Stride * vec4Bytes, STORAGE());
  const outBytes = N * OH * OW * outView.c4Stride * vec4Bytes;
  const output = createBuffer(device, 'test output', outBytes, STORAGE(), new Uint8Array(outBytes).fill(SENTINEL));
  const steps = [
    nchwToNhwc4Step(device, { N, C, H, W, view: inView, workgroupSize: 64, f16 }, { input: { buffer: src }, output: { buffer: input } }),
    make(input, output),
  ];
  const { data, raw } = await runAndReadRaw(device, steps, output, [N, CO, OH, OW], outView, f16);
  for (const b of [src, input, output]) b.destroy();
  let [outside, padding] = [0, 0];
  const laneBytes = vec4Bytes / 4;
  for (let v = 0; v < raw.length / vec4Bytes; v++) {
    const c4i = (v % outView.c4Stride) - outView.c4Offset;
    for (let b = 0; b < vec4Bytes; b++) {
      const byte = raw[v * vec4Bytes + b];
      if (c4i < 0 || c4i >= c4(CO)) outside += byte !== SENTINEL ? 1 : 0;
      else if (c4i * 4 + Math.floor(b / laneBytes) >= CO) padding += byte !== 0 ? 1 : 0;
    }
  }
  return { data, outside, padding };
}

interface Case {
  N: number;
  C: number;
  CO: number;
  /** input spatial size, [H, W] or [D, H, W] */
  size: number[];
  kernel: number[];
  tilePixels: number;
  tileC4: number;
  bias?: boolean;
  /** [vec4s before, vec4s after] the tensor in its pixel's storage */
  inSlice?: [number, number];
  outSlice?: [number, number];
}

const viewOf = (channels: number, slice: [number, number] = [0, 0]): Nhwc4View => ({ c4Offset: slice[0], c4Stride: slice[0] + c4(channels) + slice[1] });

const describe = (c: Case) =>
  `N=${c.N} C=${c.C}->${c.CO} ${c.size.join('x')} k${c.kernel.join('x')}${c.bias === false ? ' no bias' : ''} tile ${c.tilePixels}px x ${c.tileC4}c4` +
  `${c.inSlice ? ' from slice' : ''}${c.outSlice ? ' into slice' : ''}`;

/** The case on the GPU with `tile` and its reference; throws on a mismatch. Returns the max |diff|. */
async function check(device: GPUDevice, c: Case, seed: number, tile: Partial<ConvTransposeStridedSpec>, f16: boolean, what: string): Promise<number> {
  const rand = rng(seed);
  const x = { data: randArray(rand, c.N * c.C * c.size.reduce((a, b) => a * b, 1)), shape: [c.N, c.C, ...c.size] };
  const taps = c.kernel.reduce((a, b) => a * b, 1);
  const p = { weight: randArray(rand, c.C * c.CO * taps), shape: [c.C, c.CO, ...c.kernel], bias: c.bias === false ? undefined : randArray(rand, c.CO) };
  const want = convTransposeStrided(x, p);
  const [D, H, W] = c.size.length === 2 ? [1, ...c.size] : c.size;
  const kernel = (c.kernel.length === 2 ? [1, ...c.kernel] : c.kernel) as [number, number, number];
  const [inView, outView] = [viewOf(c.C, c.inSlice), viewOf(c.CO, c.outSlice)];
  const spec: ConvTransposeStridedSpec = {
    N: c.N,
    D,
    H,
    W,
    kernel,
    cin: c.C,
    cin4: c4(c.C),
    cout: c.CO,
    input: inView,
    output: outView,
    tilePixels: c.tilePixels,
    tileC4: c.tileC4,
    workgroupSize: 64,
    ...tile,
    f16,
  };
  const packed = packConvTransposeStridedWeights(p, c4(c.C), spec.tileC4);
  const got = await run(device, x, inView, want.shape, outView, f16, (input, output) =>
    convTransposeStridedStep(device, spec, {
      input: { buffer: input },
      weight: { buffer: createBuffer(device, 'test weight', packed.weight.byteLength, GPUBufferUsage.STORAGE, weightsFor(packed.weight, f16)) },
      bias: { buffer: createBuffer(device, 'test bias', packed.bias.byteLength, GPUBufferUsage.STORAGE, packed.bias) },
      output: { buffer: output },
    }),
  );
  assert.is(got.outside, 0, `${what}: bytes changed outside the output's channel slice`);
  assert.is(got.padding, 0, `${what}: nonzero bytes in the output's padding lanes`);
  const [atol, rtol] = TOL[f16 ? 'f16' : 'f32'];
  return assertClose(got.data, want.data, atol, rtol, what);
}

const cases: Case[] = [
  { N: 1, C: 3, CO: 5, size: [5, 7], kernel: [2, 2], tilePixels: 2, tileC4: 1 },
  { N: 2, C: 5, CO: 3, size: [3, 5], kernel: [1, 2], tilePixels: 1, tileC4: 4, bias: false },
  { N: 1, C: 6, CO: 7, size: [4, 3], kernel: [3, 2], tilePixels: 4, tileC4: 1, outSlice: [1, 2] },
  { N: 1, C: 8, CO: 4, size: [3, 4, 5], kernel: [2, 2, 2], tilePixels: 2, tileC4: 2 },
  { N: 2, C: 13, CO: 6, size: [2, 3, 5], kernel: [1, 2, 2], tilePixels: 1, tileC4: 2, inSlice: [1, 1], outSlice: [2, 0] },
  { N: 1, C: 3, CO: 2, size: [3, 2, 3], kernel: [2, 1, 2], tilePixels: 2, tileC4: 1, bias: false },
  { N: 1, C: 4, CO: 9, size: [2, 3, 2], kernel: [3, 2, 1], tilePixels: 4, tileC4: 2, outSlice: [0, 1] },
];

const ConvT = suite<{ device: GPUDevice; subgroupSize?: number }>('convTransposeStrided');
ConvT.before(async (ctx) => {
  ctx.device = await testDevice();
  ctx.subgroupSize = tuningFor(ctx.device, adapterOf(ctx.device)).convTranspose2x2.subgroupSize;
});
ConvT.after((ctx) => ctx.device.destroy());

for (const [i, c] of cases.entries())
  for (const weights of ['load', 'subgroup'] as const)
    for (const f16 of [false, true]) {
      const name = `convTransposeStrided ${describe(c)} weights by ${weights}${f16 ? ' f16' : ''}`;
      ConvT(name, async ({ device, subgroupSize }) => {
        if (weights === 'subgroup' && !subgroupSize) return skip(`"${name}": the adapter has no fixed subgroup size`);
        if (f16 && !device.features.has('shader-f16')) return skip(`"${name}": the adapter has no shader-f16`);
        const diff = await check(device, c, 3000 + i, { weights, subgroupSize }, f16, name);
        if (f16) console.log(`  ${name}: max |diff| ${diff.toExponential(2)}`);
      });
    }

// Every configuration `unet tune` may pick (the convTranspose2x2 entry), on layers whose sizes are not
// multiples of any tile: a 3D k2x2x2 one and a 2D k1x2 one.
ConvT('every tuning candidate: N=1 C=7->6 3x5x3 k2x2x2 and N=2 C=5->10 5x3 k1x2', async ({ device, subgroupSize }) => {
  const all = candidates('convTranspose2x2', subgroupSize);
  const layers: Case[] = [
    { N: 1, C: 7, CO: 6, size: [3, 5, 3], kernel: [2, 2, 2], tilePixels: 1, tileC4: 1 },
    { N: 2, C: 5, CO: 10, size: [5, 3], kernel: [1, 2], tilePixels: 1, tileC4: 1, outSlice: [1, 1] },
  ];
  for (const [i, layer] of layers.entries())
    for (const cand of all) await check(device, layer, 3900 + i, cand, false, `${describe(layer)} candidate ${JSON.stringify(cand)}`);
  console.log(`  ${all.length} candidates x ${layers.length} layers checked`);
});

ConvT('the grid: x blocks cover N*D*H rows, rows cover channel blocks x depth taps', () => {
  // a smoke check of the dispatch math, worked by hand: N=2 D=3 H=4 W=5, TP=2 -> 3 x blocks per row,
  // 2*3*4*3 = 72 blocks in workgroups of 64 -> 2; cout 9 -> 3 vec4s, TC=2 -> 2 channel blocks, x kD 2 = 4 rows
  const spec: ConvTransposeStridedSpec = {
    N: 2,
    D: 3,
    H: 4,
    W: 5,
    kernel: [2, 2, 2],
    cin: 4,
    cin4: 1,
    cout: 9,
    input: viewOf(4),
    output: viewOf(9),
    tilePixels: 2,
    tileC4: 2,
    workgroupSize: 64,
  };
  assert.equal(convTransposeStridedWorkgroups(spec), [2, 4, 1]);
});

ConvT.run();

// ---

// f32: sums of at most 32 products in another order than float64; f16 storage: reported, bounded loosely
const FIXTURE_TOL = { f32: 1e-4, f16: 5e-2 };

const Torch = suite<{ device: GPUDevice }>('convTransposeStrided vs PyTorch (nd op fixtures)');
Torch.before(async (ctx) => {
  ctx.device = await testDevice();
});
Torch.after((ctx) => ctx.device.destroy());

const { st, cases: convtCases } = ndOpCases<{ op: string; kernel: number[]; bias: boolean }>('convt');
Torch('the fixtures hold convt cases, 2D and 3D', () => {
  assert.ok(convtCases.length >= 6, `${convtCases.length} convt cases in ${ND_OPS_PATH}: ${ND_OPS_HINT}`);
  assert.ok(convtCases.some(([, s]) => s.kernel.length === 2) && convtCases.some(([, s]) => s.kernel.length === 3));
});
for (const [name, spec] of convtCases)
  for (const f16 of [false, true]) {
    Torch(`${name} ${JSON.stringify(spec)} ${f16 ? 'f16' : 'f32'}`, async ({ device }) => {
      if (f16 && !device.features.has('shader-f16')) return skip(`${name} f16: the adapter has no shader-f16`);
      assert.is(spec.op, 'convTransposeStrided');
      const t = (k: string) => st.getF32(`${name}.${k}`);
      const shapeOf = (k: string) => st.tensors.get(`${name}.${k}`)!.shape as number[];
      const b = new GraphBuilder();
      const x = b.value('input', shapeOf('input')[1]);
      const p = { weight: t('weight'), shape: shapeOf('weight'), bias: spec.bias ? t('bias') : undefined };
      const g = b.finish(x, b.convTransposeStrided('convt', x, p));
      const got = await runGraph(device, g, t('input'), shapeOf('input') as Shape, f16);
      const precision = f16 ? 'f16' : 'f32';
      const worst = assertRelative(got, t('output'), FIXTURE_TOL[precision], `${name} ${precision}`);
      console.log(`  ${name} ${precision}: max |diff| / max(1, |ref|) ${worst.toExponential(2)}`);
    });
  }

Torch.run();
