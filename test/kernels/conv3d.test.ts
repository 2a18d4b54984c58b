// conv3d: the kernel against the CPU reference (src/kernels/reference/conv3d.ts) on odd shapes, every tuning
// candidate, both weight modes, an output slice, a residual and an input with channel gaps; then every
// conv3d case of PyTorch's fixtures (tools/make_nd_op_fixtures.py) as a one-node graph through the passes
// (which must fuse the add and the activation into the conv) and compilePlan, in f32 and f16.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type Nhwc4View, c4 } from '../../src/kernels/common.js';
import type { Activation } from '../../src/ir/types.js';
import type { ConvNdParams } from '../../src/ir/params.js';
import { type Axes3, conv3dOutSize, conv3dStep, packConv3dWeights } from '../../src/kernels/conv3d.js';
import { type Tensor3d, conv3d } from '../../src/kernels/reference/conv3d.js';
import { adapterOf } from '../../src/gpu/device.js';
import { type ConvTile, candidates, fixedSubgroupSize, tuningFor } from '../../src/compiler/tuning.js';
import { GraphBuilder, type Graph, type Shape, type ValueId } from '../../src/ir/graph.js';
import { optimize } from '../../src/compiler/passes/index.js';
import { runGraph } from '../ops/runGraph.js';
import {
  ND_OPS_HINT,
  ND_OPS_PATH,
  assertClose,
  assertRelative,
  ndOpCases,
  nhwc4Buffer,
  randArray,
  rng,
  runAndRead,
  testDevice,
  upload,
  weightsBuffer,
} from '../helpers.js';
import { skip } from '../skip.js';

// Sums of up to 27 * 12 products of values in [-1, 1] with weights in +-1/sqrt(fan-in), in another order
// than the reference's float64: f32 rounding stays below 1e-5 of |ref| + 1e-5.
const ATOL = 2e-5;
const RTOL = 2e-5;
// f16 storage: as test/ops/torchOps.test.ts, one rounding of 2^-11 relative on each stored input, weight and output
const F16 = { atol: 1.5e-2, rtol: 4e-3 };

interface Case {
  N: number;
  C: number;
  CO: number;
  /** input D, H, W */
  size: Axes3;
  k: Axes3;
  stride: Axes3;
  pad: Axes3;
  act: Activation;
  tilePixels: number;
  tileC4: number;
  bias: boolean;
  residual?: boolean;
  /** write the output as a slice of a wider buffer: [vec4 offset, extra vec4s after] */
  slice?: [number, number];
  /** the input as a concat of two parts, the first of this many channels, each from a vec4 boundary */
  gap?: number;
}

const cases: Case[] = [
  { N: 1, C: 3, CO: 8, size: [5, 6, 7], k: [3, 3, 3], stride: [1, 1, 1], pad: [1, 1, 1], act: 'leakyRelu:0.01', tilePixels: 4, tileC4: 2, bias: true },
  { N: 2, C: 1, CO: 5, size: [4, 7, 5], k: [3, 3, 3], stride: [1, 1, 1], pad: [1, 1, 1], act: 'relu', tilePixels: 2, tileC4: 4, bias: false },
  { N: 1, C: 6, CO: 10, size: [3, 9, 8], k: [1, 3, 3], stride: [1, 2, 2], pad: [0, 1, 1], act: 'none', tilePixels: 4, tileC4: 2, bias: true, slice: [1, 2] },
  { N: 1, C: 4, CO: 7, size: [6, 5, 7], k: [3, 1, 3], stride: [2, 1, 2], pad: [1, 0, 1], act: 'sigmoid', tilePixels: 1, tileC4: 1, bias: true },
  { N: 2, C: 5, CO: 3, size: [3, 4, 5], k: [1, 1, 1], stride: [1, 1, 1], pad: [0, 0, 0], act: 'none', tilePixels: 8, tileC4: 1, bias: true },
  {
    N: 1,
    C: 8,
    CO: 8,
    size: [4, 5, 6],
    k: [3, 3, 3],
    stride: [1, 1, 1],
    pad: [1, 1, 1],
    act: 'leakyRelu:0.2',
    tilePixels: 4,
    tileC4: 2,
    bias: true,
    residual: true,
  },
  { N: 2, C: 5, CO: 4, size: [7, 5, 6], k: [3, 3, 3], stride: [2, 2, 2], pad: [1, 1, 1], act: 'relu', tilePixels: 2, tileC4: 1, bias: true },
  {
    N: 1,
    C: 8,
    CO: 6,
    size: [3, 5, 9],
    k: [3, 3, 3],
    stride: [1, 1, 1],
    pad: [1, 1, 1],
    act: 'none',
    tilePixels: 4,
    tileC4: 2,
    bias: true,
    gap: 3,
    slice: [2, 1],
  },
];

const describe = (c: Case) =>
  `conv3d N=${c.N} C=${c.C}->${c.CO} ${c.size.join('x')} k${c.k.join('x')} s${c.stride.join('x')} p${c.pad.join('x')} ${c.act}${c.residual ? ' +residual' : ''}${c.gap ? ` input parts ${c.gap}+${c.C - c.gap} with a gap` : ''}${c.slice ? ' into slice' : ''}`;

/** Weights in +-1/sqrt(fan-in), so outputs stay near 1 whatever the kernel size. */
function randParams(rand: () => number, co: number, ci: number, k: Axes3, bias: boolean): ConvNdParams {
  const fan = ci * k[0] * k[1] * k[2];
  return { weight: randArray(rand, co * fan, -1 / Math.sqrt(fan), 1 / Math.sqrt(fan)), shape: [co, ci, ...k], bias: bias ? randArray(rand, co) : undefined };
}

const outShape = (c: Case): Shape => [c.N, c.CO, ...c.size.map((s, i) => conv3dOutSize(s, c.k[i], c.stride[i], c.pad[i]))];

/** NDHWC4 is NHWC4 with D * H rows: the test helpers' 2D layout kernels upload and read it. */
const as2d = (s: Shape): [number, number, number, number] => [s[0], s[1], s[2] * s[3], s[4]];

/**
 * Runs case `c` with `tile` through conv3dStep and compares with the reference. With `gap`, the input is
 * stored as a concat whose second part starts on the next vec4 boundary; the gap holds junk (finite) that
 * the packed weights must skip.
 */
async function runCase(device: GPUDevice, c: Case, tile: ConvTile, seed: number, what: string): Promise<number> {
  const rand = rng(seed);
  const x: Tensor3d = { data: randArray(rand, c.N * c.C * c.size[0] * c.size[1] * c.size[2]), shape: [c.N, c.C, ...c.size] };
  const p = randParams(rand, c.CO, c.C, c.k, c.bias);
  const oShape = outShape(c);
  const res: Tensor3d | undefined = c.residual
    ? {
        data: randArray(
          rand,
          oShape.reduce((a, b) => a * b, 1),
        ),
        shape: oShape,
      }
    : undefined;
  const want = conv3d(x, p, { stride: c.stride, padding: c.pad, activation: c.act, residual: res });

  // stored input: channel ci at pos(ci); with a gap, the second part starts at the next vec4
  const pos = (ci: number) => (c.gap && ci >= c.gap ? c4(c.gap) * 4 + ci - c.gap : ci);
  const cin4 = c.gap ? c4(c.gap) + c4(c.C - c.gap) : c4(c.C);
  const voxels = c.size[0] * c.size[1] * c.size[2];
  const stored = randArray(rand, c.N * cin4 * 4 * voxels, -100, 100);
  for (let n = 0; n < c.N; n++)
    for (let ci = 0; ci < c.C; ci++) stored.set(x.data.subarray((n * c.C + ci) * voxels, (n * c.C + ci + 1) * voxels), (n * cin4 * 4 + pos(ci)) * voxels);
  const input = upload(device, { data: stored, shape: as2d([c.N, cin4 * 4, ...c.size]) });

  const outView: Nhwc4View = c.slice ? { c4Offset: c.slice[0], c4Stride: c.slice[0] + c4(c.CO) + c.slice[1] } : { c4Offset: 0, c4Stride: c4(c.CO) };
  const out = nhwc4Buffer(device, as2d(oShape), outView.c4Stride);
  const residual = res ? upload(device, { data: res.data, shape: as2d(oShape) }) : undefined;
  const packed = packConv3dWeights(p, cin4, tile.tileC4, pos);
  const step = conv3dStep(
    device,
    {
      N: c.N,
      D: c.size[0],
      H: c.size[1],
      W: c.size[2],
      cin: c.C,
      cin4,
      cout: c.CO,
      kernel: c.k,
      stride: c.stride,
      padding: c.pad,
      residual: residual && { c4Offset: 0, c4Stride: c4(c.CO) },
      input: { c4Offset: 0, c4Stride: cin4 },
      output: outView,
      activation: c.act,
      ...tile,
    },
    {
      input: { buffer: input.buffer },
      weight: { buffer: weightsBuffer(device, packed.weight) },
      bias: { buffer: weightsBuffer(device, packed.bias) },
      output: { buffer: out },
      residual: residual && { buffer: residual.buffer },
    },
  );
  const got = await runAndRead(device, [...input.steps, ...(residual?.steps ?? []), step], out, as2d(oShape), outView);
  return assertClose(got, want.data, ATOL, RTOL, what);
}

const Conv3d = suite<{ device: GPUDevice; subgroupSize?: number }>('conv3d');
Conv3d.before(async (ctx) => {
  ctx.device = await testDevice();
  ctx.subgroupSize = fixedSubgroupSize(ctx.device, adapterOf(ctx.device));
});
Conv3d.after((ctx) => ctx.device.destroy());

// Both ways of getting weights to the lanes; the subgroup one on adapters with one fixed subgroup size.
for (const [i, c] of cases.entries())
  for (const weights of ['load', 'subgroup'] as const) {
    const name = `${describe(c)} tile ${c.tilePixels}px x ${c.tileC4}c4 weights by ${weights}`;
    Conv3d(name, async ({ device, subgroupSize }) => {
      if (weights === 'subgroup' && !subgroupSize) return skip(`"${name}": the adapter has no fixed subgroup size`);
      const tile: ConvTile = {
        tilePixels: c.tilePixels,
        tileC4: c.tileC4,
        workgroupSize: 64,
        weights,
        subgroupSize: weights === 'subgroup' ? subgroupSize : undefined,
      };
      await runCase(device, c, tile, 3000 + i, name);
    });
  }

// Every configuration `unet tune` may pick must be correct on every layer: each runs layers whose channel
// counts and sizes are not multiples of any tile (the 10 -> 10 with a residual into a slice, and the strided
// one with input gaps).
Conv3d('every tuning candidate: conv3d 10->10 k3x3x3 +residual into slice, and 8->6 s2x2x2 with input gaps', async ({ device, subgroupSize }) => {
  const all = candidates('conv3d', subgroupSize);
  const layers: Omit<Case, 'tilePixels' | 'tileC4'>[] = [
    { N: 1, C: 10, CO: 10, size: [3, 5, 7], k: [3, 3, 3], stride: [1, 1, 1], pad: [1, 1, 1], act: 'leakyRelu:0.01', bias: true, residual: true, slice: [1, 1] },
    { N: 1, C: 8, CO: 6, size: [5, 6, 9], k: [3, 3, 3], stride: [2, 2, 2], pad: [1, 1, 1], act: 'relu', bias: true, gap: 5 },
  ];
  for (const [i, layer] of layers.entries())
    for (const tile of all)
      await runCase(device, { ...layer, tilePixels: tile.tilePixels, tileC4: tile.tileC4 }, tile, 3100 + i, `candidate ${JSON.stringify(tile)}`);
  assert.ok(all.length >= 10 && all.every((t) => (t.algo ?? 'direct') === 'direct'));
  console.log(`  ${all.length} conv3d candidates checked on ${layers.length} layers`);
});

// A concat of two conv3d outputs (3 and 5 channels: the second part starts on a vec4, leaving a gap) read by
// a conv3d with a residual and LeakyReLU, as nnU-Net's decoder reads its skip concat: placeConcat makes the
// producers write their slices (writesSlice) and the reader's weights skip the gap (readsSegments). With the
// concat itself as the residual the add stays a node of its own: the conv cannot bind one range as both its
// input and its residual (fuseResidual's sharesStorage).
for (const residualIsInput of [false, true])
  Conv3d(
    `graph: conv3d parts 3+5 into a gapped concat, then conv3d + ${residualIsInput ? 'the concat (not fused), f32' : 'a residual'} + leakyRelu${residualIsInput ? '' : ', f32 and f16'}`,
    async ({ device }) => {
      const rand = rng(3200);
      const shape: Shape = [1, 4, 3, 5, 6];
      const x: Tensor3d = {
        data: randArray(
          rand,
          shape.reduce((a, b) => a * b, 1),
        ),
        shape,
      };
      const [pa, pb, pc, pr] = [3, 5, 8, 8].map((co, i) => randParams(rand, co, i === 2 ? 8 : 4, i === 1 || i === 3 ? [1, 1, 1] : [3, 3, 3], true));
      const b = new GraphBuilder();
      const v = b.value('input', 4);
      const cat = b.concat('cat', [b.conv3d('a', v, pa, { padding: [1, 1, 1] }), b.conv3d('b', v, pb)]);
      const r = residualIsInput ? cat : b.conv3d('r', v, pr);
      const g = b.finish(v, b.activation('act', b.add2('add', b.conv3d('c', cat, pc, { padding: [1, 1, 1] }), r), 'leakyRelu:0.01'));
      const opt = optimize(g);
      const kinds = opt.nodes.map((n) => `${n.name} (${n.op.kind})`).join(', ');
      assert.ok(
        opt.nodes.filter((n) => n.op.kind === 'add').length === (residualIsInput ? 1 : 0),
        `the add fuses unless it adds the conv's own input: ${kinds}`,
      );
      assert.ok(
        opt.nodes.every((n) => n.op.kind !== 'activation'),
        `the activation fuses (into the conv, or the add where that stays): ${kinds}`,
      );
      // an add cannot read a gapped concat (readsSegments), so there the concat is a copy
      if (!residualIsInput) {
        const cat = opt.nodes.find((n) => n.op.kind === 'concat')!;
        assert.ok(cat.op.kind === 'concat' && cat.op.elided && opt.values[cat.output].segments, `the concat is elided and keeps its gap: ${kinds}`);
      }
      const catRef: Tensor3d = { data: new Float32Array([...conv3d(x, pa, { padding: [1, 1, 1] }).data, ...conv3d(x, pb).data]), shape: [1, 8, 3, 5, 6] };
      const want = conv3d(catRef, pc, { padding: [1, 1, 1], residual: residualIsInput ? catRef : conv3d(x, pr), activation: 'leakyRelu:0.01' });
      assertClose(await runGraph(device, g, x.data, shape), want.data, ATOL, RTOL, 'f32');
      // (a concat that runs as a copy has no f16 kernel)
      if (device.features.has('shader-f16') && !residualIsInput)
        assertClose(await runGraph(device, g, x.data, shape, true), want.data, F16.atol, F16.rtol, 'f16');
    },
  );

// ---

// f32: 1e-4 of max(1, |ref|) (the fixtures are float64 outputs cast to f32); f16: F16 above
const F32_TOL = 1e-4;

type Spec = { op: string; kernel: Axes3; stride: Axes3; padding: Axes3; activation: Activation; residual: boolean; bias: boolean };

/** One fixture case as a graph: conv3d, then add (residual cases) and the activation as nodes of their own,
 *  for the passes to fuse. The residual travels in the input's extra channels, picked by identity 1x1x1 convs. */
function graphOf(spec: Spec, get: (k: string) => { data: Float32Array; shape: number[] } | undefined) {
  const x = get('input')!;
  const w = get('weight')!;
  const p: ConvNdParams = { weight: w.data, shape: w.shape, bias: get('bias')?.data };
  const b = new GraphBuilder();
  const o = { stride: spec.stride, padding: spec.padding };
  let input = x.data;
  let shape = x.shape;
  let v: ValueId;
  let y: ValueId;
  if (spec.residual) {
    const r = get('residual')!;
    const [N, C] = x.shape;
    const C2 = r.shape[1];
    const voxels = x.data.length / N / C;
    input = new Float32Array(x.data.length + r.data.length);
    for (let n = 0; n < N; n++) {
      input.set(x.data.subarray(n * C * voxels, (n + 1) * C * voxels), n * (C + C2) * voxels);
      input.set(r.data.subarray(n * C2 * voxels, (n + 1) * C2 * voxels), (n * (C + C2) + C) * voxels);
    }
    shape = [N, C + C2, ...x.shape.slice(2)];
    v = b.value('input', C + C2);
    const pick = (from: number, count: number, label: string) => {
      const id = new Float32Array(count * (C + C2));
      for (let i = 0; i < count; i++) id[i * (C + C2) + from + i] = 1;
      return b.conv3d(label, v, { weight: id, shape: [count, C + C2, 1, 1, 1] });
    };
    y = b.add2('add', b.conv3d('conv', pick(0, C, 'pick.input'), p, o), pick(C, C2, 'pick.residual'));
  } else {
    v = b.value('input', x.shape[1]);
    y = b.conv3d('conv', v, p, o);
  }
  if (spec.activation !== 'none') y = b.activation('act', y, spec.activation);
  return { g: b.finish(v, y) as Graph, input, shape };
}

const Torch = suite<{ device: GPUDevice }>('conv3d vs PyTorch');
Torch.before(async (ctx) => {
  ctx.device = await testDevice();
});
Torch.after((ctx) => ctx.device.destroy());

const { st, cases: fixtureCases } = ndOpCases<Spec>('conv3d_');
Torch('the fixture holds conv3d cases', () => {
  assert.ok(fixtureCases.length >= 8, `${ND_OPS_PATH} has ${fixtureCases.length} conv3d cases: ${ND_OPS_HINT}`);
});
for (const [name, spec] of fixtureCases)
  for (const precision of ['f32', 'f16'] as const) {
    Torch(`${name} ${JSON.stringify(spec)} ${precision}`, async ({ device }) => {
      if (precision === 'f16' && !device.features.has('shader-f16')) return skip(`${name} f16: the adapter has no shader-f16`);
      const get = (k: string) => {
        const t = st.tensors.get(`${name}.${k}`);
        return t && { data: st.getF32(`${name}.${k}`), shape: t.shape as number[] };
      };
      const { g, input, shape } = graphOf(spec, get);
      const left = optimize(g).nodes.filter((n) => n.op.kind !== 'conv3d');
      assert.is(left.length, 0, `${name}: not fused into the conv: ${left.map((n) => `${n.name} (${n.op.kind})`)}`);
      const want = get('output')!.data;
      const got = await runGraph(device, g, input, shape, precision === 'f16', tuningFor(device, adapterOf(device)));
      if (precision === 'f32') {
        const worst = assertRelative(got, want, F32_TOL, `${name} f32`);
        console.log(`  ${name} f32: max |gpu - torch| / max(1, |torch|) ${worst.toExponential(2)}`);
      } else {
        // the stored input is rounded to f16 too: as torchOps.test.ts, 2^-10 of the largest input more
        const inputScale = input.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        const worst = assertClose(got, want, F16.atol + 2 ** -10 * inputScale, F16.rtol, `${name} f16`);
        console.log(`  ${name} f16: max |gpu - torch| ${worst.toExponential(2)}`);
      }
    });
  }

Conv3d.run();
Torch.run();
