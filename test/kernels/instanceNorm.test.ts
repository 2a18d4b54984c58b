// instanceNorm: the three-pass kernel against the float64 CPU reference (odd channel counts, N = 2, 3D,
// channel slices, a 262144-voxel map with mean 1000, folded grids), the fuseNorm pass on graphs, and every
// inorm* case of PyTorch's fixtures (tools/make_nd_op_fixtures.py) as a graph through the passes and the
// plan, in f32 and f16.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { createBuffer, readBack } from '../../src/gpu/buffers.js';
import { type Nhwc4View, c4, dense } from '../../src/kernels/common.js';
import { type InstanceNormSpec, instanceNormScratch, instanceNormSteps, packInstanceNormParams } from '../../src/kernels/instanceNorm.js';
import { instanceNorm } from '../../src/kernels/reference/instanceNorm.js';
import { type Graph, GraphBuilder, type Shape, type ValueId, checkGraph } from '../../src/ir/graph.js';
import type { InstanceNormParams } from '../../src/ir/params.js';
import type { Activation } from '../../src/ir/types.js';
import { optimize } from '../../src/compiler/passes/index.js';
import { fuseNorm } from '../../src/compiler/passes/fuseNorm.js';
import { parseSafetensors, type Safetensors } from '../../src/weights/safetensors.js';
import { assertClose, randArray, rng, runAndRead, testDevice, upload, weightsBuffer } from '../helpers.js';
import { runGraph } from '../ops/runGraph.js';
import { skip } from '../skip.js';

// f32: the same sums as the float64 reference in another order, and a mean and variance rounded to f32:
// within a few ulp of the normalized value, times |weight| / sigma (at most ~10 here)
const ATOL = 1e-4;
const RTOL = 1e-4;
const USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

interface Case {
  N: number;
  C: number;
  /** spatial sizes: [H, W] or [D, H, W] */
  size: number[];
  activation?: Activation;
  residual?: boolean;
  /** input values lo + (hi - lo) * U(0, 1) */
  range?: [number, number];
  input?: Nhwc4View;
  output?: Nhwc4View;
  eps?: number;
}

const nameOf = (c: Case) =>
  `instanceNorm N=${c.N} C=${c.C} ${c.size.join('x')}${c.residual ? ' +residual' : ''}${c.activation && c.activation !== 'none' ? ` ${c.activation}` : ''}` +
  `${c.input ? ` in c4 ${c.input.c4Offset}/${c.input.c4Stride}` : ''}${c.output ? ` out c4 ${c.output.c4Offset}/${c.output.c4Stride}` : ''}`;

/** Affine far from identity, some weights negative, as a trained network has. */
function paramsFor(rand: () => number, C: number, eps = 1e-5): InstanceNormParams {
  return { weight: randArray(rand, C, -2, 2), bias: randArray(rand, C), eps };
}

/** Runs the kernel's three steps on `x` (NCHW or NCDHW); returns the output as NCHW and the raw output
 *  buffer (f32 NHWC4, pre-filled with 7 so lanes it must not touch show). */
async function runKernel(
  device: GPUDevice,
  x: { data: Float32Array; shape: number[] },
  p: InstanceNormParams,
  c: Case,
  residual?: Float32Array,
): Promise<{ got: Float32Array; raw: Float32Array }> {
  const [N, C, ...spatial] = x.shape;
  const W = spatial[spatial.length - 1];
  const positions = spatial.reduce((a, b) => a * b, 1);
  // a 3D value is stored as a 2D one with D * H rows (NDHWC4)
  const shape4: [number, number, number, number] = [N, C, positions / W, W];
  const inView = c.input ?? dense(C);
  const outView = c.output ?? dense(C);
  const input = upload(device, { data: x.data, shape: shape4 }, inView);
  const res = residual ? upload(device, { data: residual, shape: shape4 }, dense(C)) : undefined;
  const outBytes = N * positions * outView.c4Stride * 16;
  const output = createBuffer(device, 'test output', outBytes, USAGE(), new Float32Array(outBytes / 4).fill(7));
  const spec: InstanceNormSpec = {
    N,
    positions,
    channels: C,
    eps: p.eps,
    activation: c.activation ?? 'none',
    input: inView,
    output: outView,
    residual: res ? dense(C) : undefined,
    workgroupSize: 64,
  };
  const [partialsBytes, statsBytes] = instanceNormScratch(spec);
  const partials = createBuffer(device, 'test partials', partialsBytes, USAGE());
  const stats = createBuffer(device, 'test stats', statsBytes, USAGE());
  const steps = instanceNormSteps(device, spec, {
    input: { buffer: input.buffer },
    params: { buffer: weightsBuffer(device, packInstanceNormParams(p)) },
    partials: { buffer: partials },
    stats: { buffer: stats },
    output: { buffer: output },
    residual: res ? { buffer: res.buffer } : undefined,
  });
  const got = await runAndRead(device, [...input.steps, ...(res?.steps ?? []), ...steps], output, shape4, outView);
  const raw = await readRaw(device, output);
  for (const b of [input.buffer, res?.buffer, output, partials, stats]) b?.destroy();
  return { got, raw };
}

async function readRaw(device: GPUDevice, buffer: GPUBuffer): Promise<Float32Array> {
  const read = createBuffer(device, 'test raw readback', buffer.size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buffer, 0, read, 0, buffer.size);
  device.queue.submit([enc.finish()]);
  const data = new Float32Array(await readBack(read, buffer.size));
  read.destroy();
  return data;
}

/** Standard normal values (Box-Muller) times `scale` plus `offset`. */
function normal(rand: () => number, n: number, offset: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = offset + scale * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return a;
}

// ---

const Kernel = suite<{ device: GPUDevice }>('instanceNorm kernel vs reference');
Kernel.before(async (ctx) => {
  ctx.device = await testDevice();
});
Kernel.after((ctx) => ctx.device.destroy());

const CASES: Case[] = [
  { N: 1, C: 5, size: [7, 9] },
  { N: 2, C: 1, size: [9, 11], activation: 'leakyRelu:0.01' },
  { N: 2, C: 6, size: [3, 5, 4], activation: 'relu', residual: true },
  { N: 1, C: 3, size: [4, 6, 5], activation: 'sigmoid', range: [40, 60] },
  // 33 vec4 groups: two blocks of 17 channel-group lanes, 15 position rows
  { N: 1, C: 130, size: [5, 7], activation: 'leakyRelu:0.2' },
  // many positions a slot: 5000 positions of 1 vec4 group (Welford per slot, slots combined by Chan's formula) with a mean of -30
  { N: 2, C: 3, size: [50, 100], range: [-33, -27], residual: true, activation: 'leakyRelu:0.01' },
  // input and output channel slices of wider buffers (a decoder's concat); sigmoid(0) = 0.5 must not leak
  // into the padding lanes
  { N: 2, C: 7, size: [5, 6], activation: 'sigmoid', input: { c4Stride: 5, c4Offset: 1 }, output: { c4Stride: 4, c4Offset: 2 } },
  { N: 1, C: 6, size: [2, 3, 7], residual: true, output: { c4Stride: 3, c4Offset: 1 }, eps: 1e-3 },
];

for (const [i, c] of CASES.entries()) {
  const name = nameOf(c);
  Kernel(name, async ({ device }) => {
    const rand = rng(7100 + i);
    const shape = [c.N, c.C, ...c.size];
    const count = shape.reduce((a, b) => a * b, 1);
    const [lo, hi] = c.range ?? [-2, 2];
    const x = { data: randArray(rand, count, lo, hi), shape };
    const p = paramsFor(rand, c.C, c.eps);
    const r = c.residual ? randArray(rand, count) : undefined;
    const want = instanceNorm(x, p, c.activation, r);
    const { got, raw } = await runKernel(device, x, p, c, r);
    assertClose(got, want.data, ATOL, RTOL, name);
    // outside the output slice: untouched; past C inside it: 0
    const out = c.output ?? dense(c.C);
    for (let v = 0; v < raw.length / 4; v++) {
      const slot = v % out.c4Stride;
      const inSlice = slot >= out.c4Offset && slot < out.c4Offset + c4(c.C);
      for (let lane = 0; lane < 4; lane++) {
        const ch = (slot - out.c4Offset) * 4 + lane;
        const expect = !inSlice ? 7 : ch >= c.C ? 0 : undefined;
        if (expect !== undefined && raw[v * 4 + lane] !== expect)
          assert.unreachable(`${name}: vec4 ${v} lane ${lane} (slot ${slot}) holds ${raw[v * 4 + lane]}, expected ${expect}`);
      }
    }
  });
}

// 262144 voxels per channel at mean 1000, sigma 1: a sum of squares in f32 (E[x^2] - E[x]^2 with x^2 ~ 1e6,
// sums ~ 2.6e11) loses the variance entirely; Welford / Chan keep it. The f32 mean itself is only good to
// half an ulp of 1000 (3e-5) and x - mean inherits that, times |weight| / sigma <= 2: hence 2e-4.
Kernel('instanceNorm N=1 C=4 64x64x64 values 1000 + N(0,1) (numerically stable variance)', async ({ device }) => {
  const rand = rng(7200);
  const shape = [1, 4, 64, 64, 64];
  const x = { data: normal(rand, 4 * 64 ** 3, 1000, 1), shape };
  const p = paramsFor(rand, 4);
  const want = instanceNorm(x, p, 'leakyRelu:0.01');
  const { got } = await runKernel(device, x, p, { N: 1, C: 4, size: [64, 64, 64], activation: 'leakyRelu:0.01' });
  const diff = assertClose(got, want.data, 2e-4, 1e-4, 'instanceNorm 1x4x64x64x64 mean 1000');
  console.log(`\n  instanceNorm 1x4x64^3, 1000 + N(0,1): max |gpu - float64| ${diff.toExponential(2)}`);
});

// 65537 instances of 1 channel: the partials grid has 65537 rows and the stats pass 65537 workgroups, both
// past the 65535 a dimension allows, so both are folded into z (foldGrid)
Kernel('instanceNorm N=65537 C=1 1x2 (folded grids)', async ({ device }) => {
  const rand = rng(7300);
  const shape = [65537, 1, 1, 2];
  const x = { data: randArray(rand, 65537 * 2), shape };
  const p = paramsFor(rand, 1, 1e-2);
  const want = instanceNorm(x, p, 'relu');
  const { got } = await runKernel(device, x, p, { N: 65537, C: 1, size: [1, 2], activation: 'relu' });
  assertClose(got, want.data, ATOL, RTOL, 'instanceNorm N=65537');
});

Kernel.run();

// ---

const Fuse = suite('fuseNorm');

const P = (C: number): InstanceNormParams => ({ weight: new Float32Array(C).fill(1), bias: new Float32Array(C), eps: 1e-5 });
const kinds = (g: Graph) => g.nodes.map((n) => (n.op.kind === 'instanceNorm' ? `norm${n.op.residual ? '+r' : ''}:${n.op.activation}` : n.op.kind));

Fuse('norm -> leakyRelu: one node', () => {
  const b = new GraphBuilder();
  const x = b.value('input', 4);
  const y = b.activation('act', b.instanceNorm('norm', x, P(4)), 'leakyRelu:0.01');
  const g = fuseNorm(b.finish(x, y));
  assert.equal(kinds(g), ['norm:leakyRelu:0.01']);
  assert.is(g.nodes[0].output, y);
});

Fuse('norm -> add(skip) -> leakyRelu, the skip built after the norm: one node where the activation ran', () => {
  const b = new GraphBuilder();
  const x = b.value('input', 4);
  const n = b.instanceNorm('norm2', b.conv2d('conv2', x, { weight: new Float32Array(16), shape: [4, 4, 1, 1] }), P(4));
  const skip = b.instanceNorm('skip.norm', b.conv2d('skip.conv', x, { weight: new Float32Array(16), shape: [4, 4, 1, 1] }), P(4));
  const y = b.activation('nonlin2', b.add2('add', n, skip), 'leakyRelu:0.01');
  const g = optimize(b.finish(x, y));
  checkGraph(g);
  assert.equal(kinds(g), ['conv2d', 'conv2d', 'norm:none', 'norm+r:leakyRelu:0.01']);
  const fused = g.nodes[3];
  assert.equal(fused.inputs, [g.nodes[0].output, skip]);
  assert.is(fused.output, y);
});

Fuse('norm -> add(conv(skip)): the norm takes the residual, not the skip conv (fuseNorm runs before fuseResidual)', () => {
  const b = new GraphBuilder();
  const x = b.value('input', 4);
  const conv = (name: string) => b.conv2d(name, x, { weight: new Float32Array(16), shape: [4, 4, 1, 1] });
  const n = b.instanceNorm('norm', conv('conv'), P(4));
  const y = b.activation('act', b.add2('add', n, conv('skip.conv')), 'leakyRelu:0.01');
  const g = optimize(b.finish(x, y));
  checkGraph(g);
  assert.equal(kinds(g), ['conv2d', 'conv2d', 'norm+r:leakyRelu:0.01']);
});

Fuse('add2 with its own activation; add(norm_a, norm_b) fuses once', () => {
  const b = new GraphBuilder();
  const x = b.value('input', 4);
  const y = b.add2('add', b.instanceNorm('a', x, P(4)), b.instanceNorm('b', x, P(4)), 'relu');
  const g = fuseNorm(b.finish(x, y));
  checkGraph(g);
  assert.equal(kinds(g), ['norm:none', 'norm+r:relu']);
});

Fuse('not fused: a norm read twice, a norm that is the graph output, an add whose sum is read twice', () => {
  const b = new GraphBuilder();
  const x = b.value('input', 4);
  const n = b.instanceNorm('read-twice', x, P(4));
  const a = b.add2('add', b.relu('act', n), n);
  const s = b.add2('sum', b.instanceNorm('n2', a, P(4)), x);
  const y = b.add2('twice', b.relu('r2', s), s);
  const last = b.instanceNorm('out', y, P(4));
  assert.equal(kinds(fuseNorm(b.finish(x, last))), ['norm:none', 'activation', 'add', 'norm+r:none', 'activation', 'add', 'norm:none']);
});

Fuse.run();

// ---

const FIXTURES = 'test/fixtures/ops/nd_ops.safetensors';
const HINT = 'run `/usr/bin/python3 tools/make_nd_op_fixtures.py`';
type Spec = { op: string; eps: number; activation: Activation; residual: boolean };

function loadFixtures(): { st: Safetensors; cases: [string, Spec][] } {
  if (!existsSync(FIXTURES)) throw new Error(`${FIXTURES} is missing: ${HINT}`);
  const st = parseSafetensors(readFileSync(FIXTURES), FIXTURES);
  const all = JSON.parse(st.metadata.cases) as Record<string, Spec>;
  const cases = Object.entries(all).filter(([name]) => name.startsWith('inorm'));
  if (!cases.length) throw new Error(`${FIXTURES} holds no inorm* case: ${HINT}`);
  return { st, cases };
}

/**
 * The graph of one case: instanceNorm, then add2 with the residual, then the activation, as nnU-Net builds
 * them. The residual travels in the input's extra channels, picked apart by identity 1x1 convs: a 3D case
 * with a residual then runs as [N, C, D * H, W], which is the same storage and the same statistics.
 */
function fixtureGraph(name: string, spec: Spec, st: Safetensors): { g: Graph; input: Float32Array; shape: Shape } {
  const t = (k: string) => st.getF32(`${name}.${k}`);
  const shape = st.tensors.get(`${name}.input`)!.shape as number[];
  const p = { weight: t('weight'), bias: t('bias'), eps: spec.eps };
  const [N, C] = shape;
  const b = new GraphBuilder();
  let input = t('input');
  let runShape = shape;
  let x: ValueId;
  let y: ValueId;
  if (spec.residual) {
    const positions = input.length / (N * C);
    const W = shape[shape.length - 1];
    const r = t('residual');
    const both = new Float32Array(2 * input.length);
    for (let n = 0; n < N; n++) {
      both.set(input.subarray(n * C * positions, (n + 1) * C * positions), 2 * n * C * positions);
      both.set(r.subarray(n * C * positions, (n + 1) * C * positions), (2 * n + 1) * C * positions);
    }
    input = both;
    runShape = [N, 2 * C, positions / W, W];
    x = b.value('input', 2 * C);
    const pick = (from: number, label: string) => {
      const w = new Float32Array(C * 2 * C);
      for (let i = 0; i < C; i++) w[i * 2 * C + from + i] = 1;
      return b.conv2d(label, x, { weight: w, shape: [C, 2 * C, 1, 1] });
    };
    y = b.add2('add', b.instanceNorm('norm', pick(0, 'pick.input'), p), pick(C, 'pick.residual'));
  } else {
    x = b.value('input', C);
    y = b.instanceNorm('norm', x, p);
  }
  if (spec.activation !== 'none') y = b.activation('act', y, spec.activation);
  return { g: b.finish(x, y), input, shape: runShape };
}

const Torch = suite<{ device: GPUDevice; f16: string[] }>('instanceNorm vs PyTorch (nd_ops fixtures)');
Torch.before(async (ctx) => {
  ctx.device = await testDevice();
  ctx.f16 = [];
});
Torch.after((ctx) => {
  if (ctx.f16.length) console.log(`\n  instanceNorm f16 storage, max |gpu - torch|: ${ctx.f16.join(', ')}`);
  ctx.device.destroy();
});

const { st, cases } = loadFixtures();
for (const [name, spec] of cases) {
  for (const precision of ['f32', 'f16'] as const) {
    Torch(`${name} ${JSON.stringify(spec)} ${precision}`, async ({ device, f16 }) => {
      if (precision === 'f16' && !device.features.has('shader-f16')) return skip(`${name} f16: the adapter has no shader-f16`);
      const { g, input, shape } = fixtureGraph(name, spec, st);
      const fused = optimize(g).nodes.filter((n) => !n.name.startsWith('pick.'));
      assert.equal(
        fused.map((n) => n.op.kind),
        ['instanceNorm'],
        `${name}: the add and activation not fused into the norm: ${fused.map((n) => n.name)}`,
      );
      const want = st.getF32(`${name}.output`);
      const got = await runGraph(device, g, input, shape, precision === 'f16');
      if (precision === 'f32') {
        assertClose(got, want, ATOL, RTOL, name);
        return;
      }
      // f16 storage rounds each stored input and the output by 2^-11 of itself: x's rounding reaches the
      // output times |weight| / sigma, the residual's as is; 2^-10 leaves room for both roundings
      const x = st.getF32(`${name}.input`);
      const bound = maxNormGain(x, st.tensors.get(`${name}.input`)!.shape as number[], st.getF32(`${name}.weight`), spec.eps);
      const r = spec.residual ? st.getF32(`${name}.residual`).reduce((m, v) => Math.max(m, Math.abs(v)), 0) : 0;
      const diff = assertClose(got, want, 2 ** -10 * (bound + r), 2 ** -10, `${name} f16`);
      f16.push(`${name} ${diff.toExponential(1)}`);
    });
  }
}

/** max over (n, c) of max|x| * |weight| / sigma: how far an input's rounding can move the normalized output. */
function maxNormGain(x: Float32Array, shape: number[], weight: Float32Array, eps: number): number {
  const [N, C] = shape;
  const P = x.length / (N * C);
  let gain = 0;
  for (let i = 0; i < N * C; i++) {
    const v = x.subarray(i * P, (i + 1) * P);
    const mean = v.reduce((s, a) => s + a, 0) / P;
    const variance = v.reduce((s, a) => s + (a - mean) ** 2, 0) / P;
    const big = v.reduce((m, a) => Math.max(m, Math.abs(a)), 0);
    gain = Math.max(gain, (big * Math.abs(weight[i % C])) / Math.sqrt(variance + eps));
  }
  return gain;
}

Torch.run();
