// conv2d in bands (issue 21): each graph is compiled once as one pass and once under a binding limit small
// enough that its convs run as several bands of output rows, and the two outputs must match bit for bit, in
// f32 and f16, for every non-Winograd kernel a layer can run on: the direct implicit GEMM (weights by load,
// and by subgroup broadcast where the adapter has a fixed subgroup size), the workgroup-tiled GEMM and the
// depthwise kernel. Batch 2 and odd heights, so bands end mid-image, cross image boundaries and have odd row
// counts. (Winograd's bands: test/bands/winograd.test.ts.)
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { GraphBuilder, Shape, ValueId } from '../../src/ir/graph.js';
import type { ConvParams } from '../../src/ir/params.js';
import { optimize } from '../../src/compiler/passes/index.js';
import { memoryPlanOf } from '../../src/compiler/plan.js';
import { type Tuning, candidates, tuningFor } from '../../src/compiler/tuning.js';
import { convVariantOf } from '../../src/ops/convVariant.js';
import { adapterOf } from '../../src/gpu/device.js';
import { randArray, rng, testDevice } from '../helpers.js';
import { skip } from '../skip.js';
import { assertSameBits, convParams, graphOf, largestValueBytes, numel } from './bandedCase.js';
import { bandedVsWhole } from './run.js';

/** Conv weights [cout, cin / groups, k, k] scaled so sums of many taps stay near 1, and a bias. */
const conv2dParams = (seed: number, cout: number, cinPerGroup: number, k: number) => convParams(seed, [cout, cinPerGroup, k, k], cout) as ConvParams;

/** Binding limits tried, as fractions of the largest value's bytes (see the test). */
const FRACTIONS = [1 / 5, 1 / 4, 1 / 6, 1 / 3, 1 / 7, 2 / 9, 2 / 7, 1 / 8];

type Kernel = 'direct' | 'direct subgroup' | 'tiled' | 'depthwise';

interface Case {
  name: string;
  shape: Shape;
  build(b: GraphBuilder, x: ValueId): ValueId;
  /** the kernels to run its convs on ('depthwise': the graph's own choice) */
  kernels: Kernel[];
}

const conv = (
  b: GraphBuilder,
  name: string,
  x: ValueId,
  cout: number,
  k: number,
  o: { stride?: number; padding?: number; dilation?: number; groups?: number } = {},
) => b.conv2d(name, x, conv2dParams(name.length * 7919 + cout * 31 + k, cout, b.channels(x) / (o.groups ?? 1), k), o);

const GEMMS: Kernel[] = ['direct', 'direct subgroup', 'tiled'];

const CASES: Case[] = [
  // 6 input channels: too few for Winograd, so bands may start at any row (conv2d.bandStart)
  { name: '3x3 pad 1', shape: [2, 6, 37, 13], build: (b, x) => conv(b, 'conv', x, 10, 3, { padding: 1 }), kernels: GEMMS },
  // Winograd-capable (12 channels, 3x3, stride 1) run direct: bands start on rows divisible by 4 of an image
  { name: '3x3 pad 1, Winograd-capable, run direct', shape: [2, 12, 37, 11], build: (b, x) => conv(b, 'conv', x, 8, 3, { padding: 1 }), kernels: GEMMS },
  { name: '3x3 stride 2', shape: [2, 5, 37, 13], build: (b, x) => conv(b, 'conv', x, 12, 3, { stride: 2, padding: 1 }), kernels: GEMMS },
  {
    name: '7x7 stride 2 pad 3 (ResNet stem) + relu',
    shape: [2, 3, 45, 17],
    build: (b, x) => b.relu('relu', conv(b, 'stem', x, 16, 7, { stride: 2, padding: 3 })),
    kernels: GEMMS,
  },
  { name: '1x1', shape: [2, 7, 37, 13], build: (b, x) => conv(b, 'conv', x, 9, 1), kernels: GEMMS },
  { name: '3x3 dilation 2 pad 2', shape: [2, 6, 37, 13], build: (b, x) => conv(b, 'conv', x, 8, 3, { padding: 2, dilation: 2 }), kernels: GEMMS },
  { name: '5x5 no padding', shape: [2, 4, 37, 15], build: (b, x) => conv(b, 'conv', x, 8, 5), kernels: GEMMS },
  // groups: the direct kernel only (the tiled one takes no groups)
  {
    name: '3x3 grouped (2 groups of 8)',
    shape: [2, 16, 37, 11],
    build: (b, x) => conv(b, 'conv', x, 16, 3, { padding: 1, groups: 2 }),
    kernels: ['direct', 'direct subgroup'],
  },
  {
    name: 'depthwise 3x3 pad 1 + relu6',
    shape: [2, 12, 37, 13],
    build: (b, x) => b.activation('act', conv(b, 'dw', x, 12, 3, { padding: 1, groups: 12 }), 'relu6'),
    kernels: ['depthwise'],
  },
  {
    name: 'depthwise 5x5 stride 2 pad 2 (EfficientNet)',
    shape: [2, 8, 37, 15],
    build: (b, x) => conv(b, 'dw', x, 8, 5, { stride: 2, padding: 2, groups: 8 }),
    kernels: ['depthwise'],
  },
  {
    name: 'residual + relu epilogue',
    shape: [2, 5, 37, 13],
    build: (b, x) => {
      const y = conv(b, 'a', x, 6, 3, { padding: 1 });
      return b.add2('res', conv(b, 'b', y, 6, 3, { padding: 1 }), y, 'relu');
    },
    kernels: GEMMS,
  },
  {
    // EfficientNet's squeeze-excite: the gate [N, C, 1, 1] (here a 1x1 conv with a stride past the image, so
    // it reads one pixel per image) scales the project conv's input as it loads it (fuseChannelScale)
    name: 'input scale (SE gate) 1x1 project',
    shape: [2, 6, 37, 13],
    build: (b, x) => {
      const y = b.activation('expand.act', conv(b, 'expand', x, 16, 1), 'silu');
      const gate = b.sigmoid('gate.sigmoid', conv(b, 'gate', y, 16, 1, { stride: 64 }));
      return conv(b, 'project', b.channelScale('se.scale', y, gate), 6, 1);
    },
    kernels: ['direct', 'direct subgroup'],
  },
  {
    // the convs write channel slices of the concat (c4Offset > 0 in a window), the last reads its gaps
    name: 'convs into a concat, read by a conv',
    shape: [2, 5, 37, 13],
    build: (b, x) => {
      const cat = b.concat('cat', [conv(b, 'left', x, 6, 3, { padding: 1 }), conv(b, 'right', x, 5, 1)]);
      return conv(b, 'after', cat, 7, 3, { padding: 1 });
    },
    kernels: GEMMS,
  },
];

/** The tuning that runs the case's convs on `kernel` (depthwise convs always run on their own kernel). */
function tuningOf(device: GPUDevice, kernel: Kernel): Tuning | undefined {
  const base = tuningFor(device, adapterOf(device));
  const direct = { ...base.conv2d, algo: undefined };
  switch (kernel) {
    case 'depthwise':
      return base;
    case 'direct':
      return { ...base, conv2d: { ...direct, weights: 'load', subgroupSize: undefined } };
    case 'direct subgroup':
      return base.conv2d.subgroupSize ? { ...base, conv2d: { ...direct, weights: 'subgroup' } } : undefined;
    case 'tiled':
      return { ...base, conv2d: candidates('conv2d', undefined, false).find((t) => t.algo === 'tiled' && t.tilePixels === 4)! };
  }
}

const Bands = suite<{ device: GPUDevice }>('bands: conv2d (direct, tiled, grouped, depthwise)');
Bands.before(async (ctx) => {
  ctx.device = await testDevice();
});
Bands.after((ctx) => ctx.device.destroy());

for (const [i, c] of CASES.entries())
  for (const kernel of c.kernels)
    for (const f16 of [false, true]) {
      const name = `${c.name} [${c.shape}] ${kernel}${f16 ? ' f16' : ''}`;
      Bands(name, async ({ device }) => {
        if (f16 && !device.features.has('shader-f16')) return skip(`${name}: the adapter has no shader-f16`);
        const tuning = tuningOf(device, kernel);
        if (!tuning) return skip(`${name}: the adapter has no fixed subgroup size`);
        const g = graphOf(c);
        const opt = optimize(g);
        const convs = opt.nodes.filter((n) => n.op.kind === 'conv2d');
        // every conv runs on the kernel under test
        const want = kernel === 'direct subgroup' ? 'direct' : kernel;
        for (const n of convs) assert.is(convVariantOf(opt, n, tuning, f16).kind, want, `${name}: ${n.name}'s kernel`);

        // the limit: the first of a few fractions of the largest value (NHWC4 storage) under which every conv
        // with more than one output row runs in several bands, some band of them has an odd number of rows
        // and some starts inside an image (batch 2: bands cross images)
        const alignment = device.limits.minStorageBufferOffsetAlignment;
        const { shapes } = memoryPlanOf(opt, c.shape, alignment, f16, tuning);
        const largest = largestValueBytes(shapes.values(), f16);
        const spatial = convs.filter((n) => shapes.get(n.output)![2] > 1);
        const planned = FRACTIONS.map((f) => {
          const bindingLimit = Math.max(256, Math.floor(largest * f));
          return { bindingLimit, bands: memoryPlanOf(opt, c.shape, alignment, f16, tuning, bindingLimit).bands };
        });
        const fits = planned.find(({ bands }) => {
          const of = spatial.map((n) => ({ list: bands.get(n.name) ?? [], h: shapes.get(n.output)![2] }));
          const each = of.flatMap(({ list, h }) => list.map((band) => ({ ...band, h })));
          return of.every(({ list }) => list.length > 1) && each.some((b) => b.rows % 2 === 1) && each.some((b) => b.row0 % b.h !== 0);
        });
        const described = planned.map(
          ({ bindingLimit, bands }) => `${bindingLimit}: ${spatial.map((n) => `${n.name} ${JSON.stringify(bands.get(n.name) ?? [])}`).join('; ')}`,
        );
        assert.ok(fits, `${name}: no limit gives every conv odd bands crossing images:\n${described.join('\n')}`);
        const { bindingLimit } = fits!;

        const input = randArray(rng(2100 + i), numel(c.shape), -2, 2);
        const r = await bandedVsWhole(device, g, input, c.shape, { bindingLimit, f16, tuning });
        assert.ok(r.bands >= spatial.length, `${name}: ${r.bands} nodes ran in bands`);
        assertSameBits(name, r);
      });
    }

// Winograd-capable layers start their bands only where Winograd's tiles start, whatever kernel they run on.
Bands('bandStart: rows divisible by 4 of an image for Winograd-capable convs, any row otherwise', async () => {
  const { conv2d } = await import('../../src/ops/conv2d.js');
  const op = (k: number, cin: number, stride = 1, groups = 1) => ({
    kind: 'conv2d' as const,
    params: conv2dParams(1, 8, cin / groups, k),
    stride: [stride, stride] as [number, number],
    padding: [1, 1, 1, 1] as [number, number, number, number],
    dilation: [1, 1] as [number, number],
    groups,
    activation: 'none' as const,
  });
  const starts = (o: ReturnType<typeof op>, h: number) => {
    const ok = conv2d.bandStart!(o, [2, 8, h, 9]);
    return Array.from({ length: 2 * h }, (_, r) => r).filter(ok);
  };
  assert.equal(starts(op(3, 8), 10), [0, 4, 8, 10, 14, 18]);
  assert.equal(starts(op(3, 4), 3), [0, 1, 2, 3, 4, 5]);
  assert.equal(starts(op(3, 8, 2), 3), [0, 1, 2, 3, 4, 5]);
  assert.equal(starts(op(1, 8), 3), [0, 1, 2, 3, 4, 5]);
  assert.equal(starts(op(3, 16, 1, 2), 3), [0, 1, 2, 3, 4, 5]);
  // what each output row reads: rows o * stride - pad .. + (k - 1) * dilation
  const reach = conv2d.reach!({ ...op(7, 8, 2), padding: [3, 3, 3, 3] }, 0, { input: [1, 8, 45, 9], output: [1, 8, 23, 5] });
  assert.ok(reach !== 'all');
  assert.equal(reach(0, 0), [-3, 3]);
  assert.equal(reach(0, 22), [41, 47]);
});

Bands.run();
