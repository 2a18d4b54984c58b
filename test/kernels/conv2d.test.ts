import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { c4 } from '../../src/kernels/common.js';
import type { Activation } from '../../src/ir/types.js';
import { conv2dOutSize, conv2dStep, packConv2dWeights } from '../../src/kernels/conv2d.js';
import { conv2d } from '../../src/kernels/reference/conv2d.js';
import { adapterOf } from '../../src/gpu/device.js';
import { candidates, fixedSubgroupSize, tuningFor } from '../../src/compiler/tuning.js';
import { GraphBuilder } from '../../src/ir/graph.js';
import { runGraph } from '../ops/runGraph.js';
import { concat } from '../../src/kernels/reference/concat.js';
import { add } from '../../src/kernels/reference/add.js';
import { assertClose, nhwc4Buffer, randArray, randTensor, rng, runAndRead, testDevice, upload, weightsBuffer } from '../helpers.js';
import { skip } from '../skip.js';

// Sums of up to ~3*3*12 products of values in [-1, 1] in a different order than the reference:
// f32 rounding stays well below 1e-5 absolute.
const ATOL = 1e-5;
const RTOL = 1e-5;

interface Case {
  N: number;
  C: number;
  CO: number;
  H: number;
  W: number;
  k: number;
  stride: number;
  pad: number;
  dilation: number;
  act: Activation;
  tilePixels: number;
  tileC4: number;
  bias: boolean;
  /** write the output as a slice of a wider buffer: [vec4 offset, extra vec4s after] */
  slice?: [number, number];
}

const cases: Case[] = [
  { N: 1, C: 3, CO: 8, H: 7, W: 9, k: 3, stride: 1, pad: 1, dilation: 1, act: 'none', tilePixels: 4, tileC4: 2, bias: false },
  { N: 2, C: 1, CO: 5, H: 9, W: 7, k: 3, stride: 1, pad: 1, dilation: 1, act: 'relu', tilePixels: 2, tileC4: 4, bias: true },
  { N: 1, C: 6, CO: 10, H: 11, W: 5, k: 3, stride: 1, pad: 1, dilation: 1, act: 'relu', tilePixels: 4, tileC4: 2, bias: true, slice: [1, 2] },
  { N: 2, C: 5, CO: 3, H: 5, W: 13, k: 1, stride: 1, pad: 0, dilation: 1, act: 'sigmoid', tilePixels: 4, tileC4: 1, bias: true },
  { N: 1, C: 4, CO: 7, H: 13, W: 11, k: 3, stride: 2, pad: 1, dilation: 1, act: 'none', tilePixels: 1, tileC4: 1, bias: true },
  { N: 1, C: 3, CO: 9, H: 17, W: 15, k: 7, stride: 2, pad: 3, dilation: 1, act: 'relu', tilePixels: 2, tileC4: 2, bias: false },
  { N: 1, C: 2, CO: 4, H: 9, W: 10, k: 3, stride: 1, pad: 2, dilation: 2, act: 'none', tilePixels: 4, tileC4: 1, bias: true },
  { N: 2, C: 12, CO: 16, H: 8, W: 8, k: 3, stride: 1, pad: 1, dilation: 1, act: 'relu', tilePixels: 4, tileC4: 4, bias: true },
];

const Conv2d = suite<{ device: GPUDevice }>('conv2d');
Conv2d.before(async (ctx) => {
  ctx.device = await testDevice();
});
Conv2d.after((ctx) => ctx.device.destroy());

// Both ways of getting weights to the lanes; the subgroup one on adapters with one fixed subgroup size.
const variants = [{ weights: 'load' as const }, { weights: 'subgroup' as const }];
for (const [i, c] of cases.entries())
  for (const v of variants) {
    const name = `conv2d N=${c.N} C=${c.C}->${c.CO} ${c.H}x${c.W} k${c.k} s${c.stride} p${c.pad} d${c.dilation} ${c.act} tile ${c.tilePixels}px x ${c.tileC4}c4${c.slice ? ' into slice' : ''} weights by ${v.weights}`;
    Conv2d(name, async ({ device }) => {
      const subgroupSize = tuningFor(device, adapterOf(device)).conv2d.subgroupSize;
      if (v.weights === 'subgroup' && !subgroupSize) return skip(`"${name}": the adapter has no fixed subgroup size`);
      const rand = rng(1000 + i);
      const x = randTensor(rand, [c.N, c.C, c.H, c.W]);
      const p = {
        weight: randArray(rand, c.CO * c.C * c.k * c.k, -0.5, 0.5),
        shape: [c.CO, c.C, c.k, c.k] as [number, number, number, number],
        bias: c.bias ? randArray(rand, c.CO) : undefined,
      };
      const want = conv2d(x, p, { stride: c.stride, padding: c.pad, dilation: c.dilation, activation: c.act });

      const HO = conv2dOutSize(c.H, c.k, c.stride, c.pad, c.dilation);
      const WO = conv2dOutSize(c.W, c.k, c.stride, c.pad, c.dilation);
      const outView = c.slice ? { c4Offset: c.slice[0], c4Stride: c.slice[0] + c4(c.CO) + c.slice[1] } : { c4Offset: 0, c4Stride: c4(c.CO) };
      const input = upload(device, x);
      const packed = packConv2dWeights(p, c4(c.C), c.tileC4);
      const out = nhwc4Buffer(device, [c.N, c.CO, HO, WO], outView.c4Stride);
      const step = conv2dStep(
        device,
        {
          N: c.N,
          H: c.H,
          W: c.W,
          cin: c.C,
          cin4: c4(c.C),
          cout: c.CO,
          kH: c.k,
          kW: c.k,
          strideH: c.stride,
          strideW: c.stride,
          padH: c.pad,
          padW: c.pad,
          dilationH: c.dilation,
          dilationW: c.dilation,
          input: { c4Offset: 0, c4Stride: c4(c.C) },
          output: outView,
          activation: c.act,
          tilePixels: c.tilePixels,
          tileC4: c.tileC4,
          workgroupSize: 64,
          weights: v.weights,
          subgroupSize,
        },
        {
          input: { buffer: input.buffer },
          weight: { buffer: weightsBuffer(device, packed.weight) },
          bias: { buffer: weightsBuffer(device, packed.bias) },
          output: { buffer: out },
        },
      );
      const got = await runAndRead(device, [...input.steps, step], out, want.shape, outView);
      assertClose(got, want.data, ATOL, RTOL, name);
    });
  }

// Every configuration `unet tune` may pick must be correct on every layer: each runs a layer whose
// channel counts and size are not multiples of any tile, through the registry and a compiled plan as a
// model runs it (so the Winograd candidates run as Winograd: 10 input channels are enough for it).
Conv2d('every tuning candidate: conv2d N=1 C=10->10 9x7 k3 s1 p1 relu', async ({ device }) => {
  const rand = rng(1900);
  const [C, CO, H, W] = [10, 10, 9, 7];
  const x = randTensor(rand, [1, C, H, W]);
  const p = { weight: randArray(rand, CO * C * 9, -0.5, 0.5), shape: [CO, C, 3, 3] as [number, number, number, number], bias: randArray(rand, CO) };
  const want = conv2d(x, p, { padding: 1, activation: 'relu' });
  const base = tuningFor(device, adapterOf(device));
  const all = candidates('conv2d', fixedSubgroupSize(device, adapterOf(device)));
  const b = new GraphBuilder();
  const g = b.finish(b.value('input', C), b.relu('relu', b.conv2d('conv', 0, p, { padding: 1 })));
  for (const cand of all) {
    const got = await runGraph(device, g, x.data, x.shape, false, { ...base, conv2d: cand });
    assertClose(got, want.data, ATOL, RTOL, `candidate ${JSON.stringify(cand)}`);
  }
  assert.ok(all.some((c) => c.algo === 'winograd4') && all.some((c) => c.algo === 'winograd2') && all.some((c) => c.algo === 'tiled'));
  console.log(`  ${all.length} conv2d candidates checked`);
});

// The workgroup-tiled GEMM (offered on hardware adapters) on what models give it: a concat with vec4 gaps
// as input, a fused residual, stride 2 with a 7x7 kernel, batch 2, and a 1-channel head.
Conv2d('tiled GEMM: concat input, residual, 7x7 stride 2, 1-channel head', async ({ device }) => {
  const rand = rng(1950);
  const x = randTensor(rand, [2, 8, 19, 13]);
  const P = (co: number, ci: number, k: number) => ({
    weight: randArray(rand, co * ci * k * k, -0.3, 0.3),
    shape: [co, ci, k, k] as [number, number, number, number],
    bias: randArray(rand, co),
  });
  const [pa, pb, pc, pr, ph] = [P(6, 8, 1), P(10, 8, 1), P(20, 16, 7), P(20, 20, 3), P(1, 20, 3)];
  const b = new GraphBuilder();
  const v = b.value('input', 8);
  const cat = b.concat('cat', [b.conv2d('a', v, pa), b.conv2d('b', v, pb)]);
  const c = b.conv2d('c', cat, pc, { padding: 3, stride: 2 });
  const res = b.add2('res', b.conv2d('r', c, pr, { padding: 1 }), c, 'relu');
  const g = b.finish(v, b.conv2d('head', res, ph, { padding: 1 }));
  const cref = conv2d(concat(conv2d(x, pa), conv2d(x, pb)), pc, { padding: 3, stride: 2 });
  const want = conv2d(add(conv2d(cref, pr, { padding: 1 }), cref, 'relu'), ph, { padding: 1 });
  const base = tuningFor(device, adapterOf(device));
  for (const cand of candidates('conv2d', undefined, false).filter((c) => c.algo === 'tiled')) {
    assertClose(await runGraph(device, g, x.data, x.shape, false, { ...base, conv2d: cand }), want.data, ATOL, RTOL, `tiled ${cand.tilePixels}x${cand.tileC4}`);
    if (device.features.has('shader-f16'))
      assertClose(
        await runGraph(device, g, x.data, x.shape, true, { ...base, conv2d: cand }),
        want.data,
        2e-2,
        2e-2,
        `tiled f16 ${cand.tilePixels}x${cand.tileC4}`,
      );
  }
});

Conv2d.run();
