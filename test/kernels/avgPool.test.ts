// avg_pool with kernel = stride (2D and 3D): the kernel against the CPU reference on odd shapes (floor mode
// drops the ragged edge), channel slices of the input and the output, f16 storage; then every avgpool* case
// of the nd op fixtures (PyTorch's own avg_pool2d / 3d) as a one-node graph through the plan.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type AvgPoolSpec, avgPoolStep, avgPoolWorkgroups } from '../../src/kernels/avgPool.js';
import { type Nhwc4View, c4 } from '../../src/kernels/common.js';
import { avgPool } from '../../src/kernels/reference/avgPool.js';
import type { NdTensor } from '../../src/kernels/reference/convTransposeStrided.js';
import { nchwToNhwc4Step } from '../../src/kernels/layout.js';
import { createBuffer } from '../../src/gpu/buffers.js';
import { GraphBuilder, type Shape } from '../../src/ir/graph.js';
import { ND_OPS_HINT, ND_OPS_PATH, assertClose, assertRelative, ndOpCases, randArray, rng, runAndReadRaw, testDevice } from '../helpers.js';
import { runGraph } from '../ops/runGraph.js';
import { skip } from '../skip.js';

// f32: a mean of at most 12 values in [-1, 1]; f16 storage: one rounding of 2^-11 relative on input and output
const TOL = { f32: [1e-6, 1e-5], f16: [2e-3, 2e-3] } as const;

// a function: GPUBufferUsage exists once the platform's first device does
const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
const SENTINEL = 0x3f;

const viewOf = (channels: number, slice: [number, number] = [0, 0]): Nhwc4View => ({ c4Offset: slice[0], c4Stride: slice[0] + c4(channels) + slice[1] });

/**
 * Pools the NCHW / NCDHW tensor `x` on the GPU (an NCDHW array is NCHW with D*H rows, as NDHWC4 is NHWC4
 * with N*D images) and reads the result back as NCHW / NCDHW. The output buffer starts filled with SENTINEL
 * bytes: `outside` counts the bytes of vec4s outside the output's slice that changed.
 */
async function run(device: GPUDevice, x: NdTensor, kernel: number[], inView: Nhwc4View, outView: Nhwc4View, f16: boolean) {
  const [N, C, ...size] = x.shape;
  const [D, H, W] = size.length === 2 ? [1, ...size] : size;
  const k = (kernel.length === 2 ? [1, ...kernel] : kernel) as [number, number, number];
  const [OD, OH, OW] = [Math.floor(D / k[0]), Math.floor(H / k[1]), Math.floor(W / k[2])];
  const vec4Bytes = f16 ? 8 : 16;
  const src = createBuffer(device, 'test nchw', x.data.byteLength, STORAGE(), x.data);
  const input = createBuffer(device, 'test input', N * D * H * W * inView.c4Stride * vec4Bytes, STORAGE());
  const outBytes = N * OD * OH * OW * outView.c4Stride * vec4Bytes;
  const output = createBuffer(device, 'test output', outBytes, STORAGE(), new Uint8Array(outBytes).fill(SENTINEL));
  const spec: AvgPoolSpec = { N, D, H, W, c4: c4(C), kernel: k, input: inView, output: outView, workgroupSize: 64, f16 };
  const steps = [
    nchwToNhwc4Step(device, { N, C, H: D * H, W, view: inView, workgroupSize: 64, f16 }, { input: { buffer: src }, output: { buffer: input } }),
    avgPoolStep(device, spec, { input: { buffer: input }, output: { buffer: output } }),
  ];
  const { data, raw } = await runAndReadRaw(device, steps, output, [N, C, OD * OH, OW], outView, f16);
  for (const b of [src, input, output]) b.destroy();
  let outside = 0;
  for (let i = 0; i < raw.length; i++) {
    const c4i = (Math.floor(i / vec4Bytes) % outView.c4Stride) - outView.c4Offset;
    if ((c4i < 0 || c4i >= c4(C)) && raw[i] !== SENTINEL) outside++;
  }
  return { data, outside };
}

interface Case {
  N: number;
  C: number;
  size: number[];
  kernel: number[];
  inSlice?: [number, number];
  outSlice?: [number, number];
}

const cases: Case[] = [
  { N: 1, C: 5, size: [6, 8], kernel: [2, 2] },
  { N: 2, C: 3, size: [7, 9], kernel: [2, 2], outSlice: [1, 1] },
  { N: 1, C: 6, size: [5, 7], kernel: [1, 3], inSlice: [2, 0] },
  { N: 1, C: 4, size: [4, 6, 8], kernel: [2, 2, 2] },
  { N: 2, C: 9, size: [5, 7, 6], kernel: [2, 3, 2], inSlice: [1, 1], outSlice: [0, 2] },
  { N: 1, C: 1, size: [3, 5, 5], kernel: [1, 2, 2] },
  { N: 1, C: 2, size: [5, 4, 7], kernel: [3, 1, 2], outSlice: [1, 0] },
];

const Pool = suite<{ device: GPUDevice }>('avgPool');
Pool.before(async (ctx) => {
  ctx.device = await testDevice();
});
Pool.after((ctx) => ctx.device.destroy());

for (const [i, c] of cases.entries())
  for (const f16 of [false, true]) {
    const name = `avgPool N=${c.N} C=${c.C} ${c.size.join('x')} k${c.kernel.join('x')}${c.inSlice ? ' from slice' : ''}${c.outSlice ? ' into slice' : ''}${f16 ? ' f16' : ''}`;
    Pool(name, async ({ device }) => {
      if (f16 && !device.features.has('shader-f16')) return skip(`"${name}": the adapter has no shader-f16`);
      const rand = rng(4000 + i);
      const x = { data: randArray(rand, c.N * c.C * c.size.reduce((a, b) => a * b, 1)), shape: [c.N, c.C, ...c.size] };
      const want = avgPool(x, c.kernel);
      const got = await run(device, x, c.kernel, viewOf(c.C, c.inSlice), viewOf(c.C, c.outSlice), f16);
      assert.is(got.outside, 0, `${name}: bytes changed outside the output's channel slice`);
      const [atol, rtol] = TOL[f16 ? 'f16' : 'f32'];
      const diff = assertClose(got.data, want.data, atol, rtol, name);
      if (f16) console.log(`  ${name}: max |diff| ${diff.toExponential(2)}`);
    });
  }

Pool('reference: a hand-worked 2D and 3D pool', () => {
  // [[1, 2, 3], [4, 5, 6]] k2x2, floor mode: one window (1 + 2 + 4 + 5) / 4 = 3; the last column is dropped
  assert.equal([...avgPool({ data: Float32Array.of(1, 2, 3, 4, 5, 6), shape: [1, 1, 2, 3] }, [2, 2]).data], [3]);
  // depth 2 of [[1, 2]] and [[3, 4]] k2x1x2: (1 + 2 + 3 + 4) / 4 = 2.5
  const y = avgPool({ data: Float32Array.of(1, 2, 3, 4), shape: [1, 1, 2, 1, 2] }, [2, 1, 2]);
  assert.equal(y.shape, [1, 1, 1, 1, 1]);
  assert.equal([...y.data], [2.5]);
});

Pool('workgroups: one invocation per output vec4', () => {
  // N=2, 3x4x5 k1x2x2 -> 3x2x2 outputs, 2 vec4s: 2 * 12 * 2 = 48 invocations, one workgroup of 64
  const spec = { N: 2, D: 3, H: 4, W: 5, c4: 2, kernel: [1, 2, 2] as [number, number, number], input: viewOf(8), output: viewOf(8), workgroupSize: 64 };
  assert.equal(avgPoolWorkgroups(spec), [1, 1, 1]);
  assert.equal(avgPoolWorkgroups({ ...spec, workgroupSize: 16 }), [3, 1, 1]);
});

Pool.run();

// ---

// f32: max |diff| <= 1e-4 max(1, |ref|); f16 storage: reported, bounded loosely
const FIXTURE_TOL = { f32: 1e-4, f16: 5e-3 };

const Torch = suite<{ device: GPUDevice }>('avgPool vs PyTorch (nd op fixtures)');
Torch.before(async (ctx) => {
  ctx.device = await testDevice();
});
Torch.after((ctx) => ctx.device.destroy());

const { st, cases: poolCases } = ndOpCases<{ op: string; kernel: number[] }>('avgpool');
Torch('the fixtures hold avgpool cases, 2D and 3D', () => {
  assert.ok(poolCases.length >= 5, `${poolCases.length} avgpool cases in ${ND_OPS_PATH}: ${ND_OPS_HINT}`);
  assert.ok(poolCases.some(([, s]) => s.kernel.length === 2) && poolCases.some(([, s]) => s.kernel.length === 3));
});
for (const [name, spec] of poolCases)
  for (const f16 of [false, true]) {
    Torch(`${name} ${JSON.stringify(spec)} ${f16 ? 'f16' : 'f32'}`, async ({ device }) => {
      if (f16 && !device.features.has('shader-f16')) return skip(`${name} f16: the adapter has no shader-f16`);
      assert.is(spec.op, 'avgPool');
      const shape = st.tensors.get(`${name}.input`)!.shape as Shape;
      const b = new GraphBuilder();
      const x = b.value('input', shape[1]);
      const g = b.finish(x, b.avgPool('pool', x, spec.kernel));
      const got = await runGraph(device, g, st.getF32(`${name}.input`), shape, f16);
      const precision = f16 ? 'f16' : 'f32';
      const worst = assertRelative(got, st.getF32(`${name}.output`), FIXTURE_TOL[precision], `${name} ${precision}`);
      console.log(`  ${name} ${precision}: max |diff| / max(1, |ref|) ${worst.toExponential(2)}`);
    });
  }

Torch.run();
