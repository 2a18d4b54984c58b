// globalAvgPool and instanceNorm in bands (issue 21): 'reduce' ops, whose output depends on every row of an
// image, get every band of input rows in one compile() call and must give the bits one pass gives for ANY
// split. Each graph is compiled once as one pass and once under several binding limits that split the
// reduced value into different numbers of bands (odd heights, batch 2: bands end mid-image and cross
// images), and every output must match the one-pass output bit for bit, in f32 and f16.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { GraphBuilder, Shape, ValueId } from '../../src/ir/graph.js';
import type { ConvNdParams, ConvParams, InstanceNormParams } from '../../src/ir/params.js';
import { optimize } from '../../src/compiler/passes/index.js';
import { memoryPlanOf } from '../../src/compiler/plan.js';
import { tuningFor } from '../../src/compiler/tuning.js';
import { adapterOf } from '../../src/gpu/device.js';
import { randArray, rng, testDevice } from '../helpers.js';
import { skip } from '../skip.js';
import { assertSameBits, graphOf, numel } from './bandedCase.js';
import { bandedVsWhole } from './run.js';

interface Case {
  name: string;
  /** the input shape, [N, C, H, W] or [N, C, D, H, W] */
  shape: Shape;
  build(b: GraphBuilder, x: ValueId): ValueId;
  /** the op whose every node must run in bands */
  kind: 'globalAvgPool' | 'instanceNorm';
  /** the band counts to aim the limits at (the planner's greedy bands may differ by one) */
  splits: number[];
  /** input range (default [-2, 2]) */
  range?: [number, number];
}

const norm = (C: number, seed: number): InstanceNormParams => {
  const r = rng(seed);
  return { weight: randArray(r, C, -2, 2), bias: randArray(r, C, -1, 1), eps: 1e-5 };
};

/** Random 1x1 conv weights [out, in, 1, 1] with a bias; `pointwise3d`: [out, in, 1, 1, 1]. */
const pointwise = (cout: number, cin: number, seed: number): ConvParams => {
  const r = rng(seed);
  const s = 1 / Math.sqrt(cin);
  return { weight: randArray(r, cout * cin, -s, s), shape: [cout, cin, 1, 1], bias: randArray(r, cout, -0.5, 0.5) };
};
const pointwise3d = (cout: number, cin: number, seed: number): ConvNdParams => {
  const p = pointwise(cout, cin, seed);
  return { ...p, shape: [...p.shape, 1] };
};

const CASES: Case[] = [
  { name: 'globalAvgPool', shape: [2, 7, 33, 17], build: (b, x) => b.globalAvgPool('gap', x), kind: 'globalAvgPool', splits: [2, 3, 5, 9] },
  {
    // squeeze and excitation: the pooled [N, C, 1, 1] through two 1x1 convs gates the input
    name: 'globalAvgPool, SE block',
    shape: [2, 12, 29, 19],
    build: (b, x) => {
      const squeeze = b.relu('se.relu', b.conv2d('se.reduce', b.globalAvgPool('se.pool', x), pointwise(4, 12, 11)));
      return b.channelScale('se.scale', x, b.sigmoid('se.sigmoid', b.conv2d('se.expand', squeeze, pointwise(12, 4, 12))));
    },
    kind: 'globalAvgPool',
    splits: [2, 7],
  },
  {
    // both pools write their slice of one [N, 16, 1, 1] value (placed concat), the second at c4 offset 2
    name: 'globalAvgPool into concat slices',
    shape: [2, 8, 23, 13],
    build: (b, x) => b.conv2d('mix', b.concat('cat', [b.globalAvgPool('gap', x), b.globalAvgPool('gap2', b.sigmoid('s', x))]), pointwise(5, 16, 13)),
    kind: 'globalAvgPool',
    splits: [2, 4],
  },
  {
    name: 'instanceNorm + leakyRelu',
    shape: [2, 6, 29, 31],
    build: (b, x) => b.activation('act', b.instanceNorm('norm', x, norm(6, 21)), 'leakyRelu:0.01'),
    kind: 'instanceNorm',
    splits: [2, 3, 5, 11],
  },
  {
    // nnU-Net's BasicBlockD tail: norm2 -> += skip -> nonlin2, fused into one norm with a residual
    name: 'instanceNorm + residual + leakyRelu',
    shape: [2, 5, 27, 21],
    build: (b, x) => b.activation('act', b.add2('add', b.instanceNorm('norm', b.conv2d('conv', x, pointwise(5, 5, 22)), norm(5, 23)), x), 'leakyRelu:0.01'),
    kind: 'instanceNorm',
    splits: [2, 4, 7],
  },
  // values far from zero mean: the slots' Welford runs carry real M2 from band to band
  {
    name: 'instanceNorm, mean 300',
    shape: [2, 3, 41, 37],
    build: (b, x) => b.instanceNorm('norm', x, norm(3, 24)),
    kind: 'instanceNorm',
    splits: [3, 6],
    range: [297, 303],
  },
  // 130 channels: two blocks of 17 channel-group lanes, and 63 positions: one slot, one Welford run per
  // (instance, group) across every band
  {
    name: 'instanceNorm, 130 channels',
    shape: [2, 130, 7, 9],
    build: (b, x) => b.instanceNorm('norm', x, norm(130, 25)),
    kind: 'instanceNorm',
    splits: [2, 5],
  },
  {
    // the norm reads b where it lives: the second slice of a concatenation [a, b] (c4 offset 2 of 4), and
    // the 1x1 conv of the concatenation is its fused residual
    name: 'instanceNorm of a concat slice',
    shape: [2, 8, 19, 15],
    build: (b, x) => {
      const right = b.relu('b', x);
      const cat = b.concat('cat', [b.sigmoid('a', x), right]);
      return b.add2('sum', b.conv2d('mix', cat, pointwise(8, 16, 31)), b.instanceNorm('norm', right, norm(8, 32)));
    },
    kind: 'instanceNorm',
    splits: [2, 5],
  },
  {
    name: 'instanceNorm + relu, 3D',
    shape: [2, 5, 7, 9, 11],
    build: (b, x) => b.activation('act', b.instanceNorm('norm', x, norm(5, 26)), 'relu'),
    kind: 'instanceNorm',
    splits: [2, 3, 8, 13],
  },
  {
    name: 'instanceNorm + residual + leakyRelu, 3D',
    shape: [2, 4, 5, 7, 9],
    build: (b, x) => b.activation('act', b.add2('add', b.instanceNorm('norm', b.conv3d('conv', x, pointwise3d(4, 4, 27)), norm(4, 28)), x), 'leakyRelu:0.01'),
    kind: 'instanceNorm',
    splits: [2, 5],
  },
  {
    // two norms write their slices of one value (a decoder's concat), read by a sigmoid
    name: 'instanceNorm into concat slices, 3D',
    shape: [2, 8, 5, 9, 7],
    build: (b, x) => b.sigmoid('out', b.concat('cat', [b.instanceNorm('norm', x, norm(8, 29)), b.instanceNorm('norm2', b.sigmoid('s', x), norm(8, 30))])),
    kind: 'instanceNorm',
    splits: [3, 4],
  },
];

const Bands = suite<{ device: GPUDevice; counts: string[] }>('bands: globalAvgPool and instanceNorm (reduce)');
Bands.before(async (ctx) => {
  ctx.device = await testDevice();
  ctx.counts = [];
});
Bands.after((ctx) => {
  console.log(`\n  band counts of the reduced nodes, per limit: ${ctx.counts.join('; ')}`);
  ctx.device.destroy();
});

for (const [i, c] of CASES.entries()) {
  for (const f16 of [false, true]) {
    const name = `${c.name} [${c.shape}]${f16 ? ' f16' : ''}`;
    Bands(name, async ({ device, counts }) => {
      if (f16 && !device.features.has('shader-f16')) return skip(`${name}: the adapter has no shader-f16`);
      const g = graphOf(c);
      const opt = optimize(g);
      const reduced = opt.nodes.filter((n) => n.op.kind === c.kind).map((n) => n.name);
      assert.ok(reduced.length > 0, `${name}: no ${c.kind} node in the optimized graph`);
      const tuning = tuningFor(device, adapterOf(device));
      const alignment = device.limits.minStorageBufferOffsetAlignment;
      // a row of the reduced input: W pixels of C4 vec4s
      const vec4Bytes = f16 ? 8 : 16;
      const W = c.shape[c.shape.length - 1];
      const rowBytes = W * Math.ceil(c.shape[1] / 4) * vec4Bytes;
      const rows = numel(c.shape) / c.shape[1] / W;
      const [lo, hi] = c.range ?? [-2, 2];
      const input = randArray(rng(9500 + i), numel(c.shape), lo, hi);
      const seen = new Set<string>();
      // the reduced nodes' running sums are one region each, bound whole: no limit may be below them (in f16
      // the values halve but the f32 sums do not)
      const sums = [...memoryPlanOf(opt, c.shape, alignment, f16, tuning).memory.scratch].filter(([n]) => reduced.includes(n));
      const sumsBytes = Math.max(0, ...sums.flatMap(([, regions]) => regions.map((r) => r.size)));
      for (const split of c.splits) {
        // bands of ceil(rows / split) rows, with room for a window's start aligned down
        const bindingLimit = Math.max(Math.ceil(rows / split) * rowBytes + alignment, sumsBytes);
        const { bands } = memoryPlanOf(opt, c.shape, alignment, f16, tuning, bindingLimit);
        const per = reduced.map((n) => bands.get(n)?.length ?? 1);
        for (const [k, n] of reduced.entries()) assert.ok(per[k] > 1, `${name}, limit ${bindingLimit}: ${n} runs in bands (banded: ${[...bands.keys()]})`);
        seen.add(per.join('+'));
        counts.push(`${c.name}${f16 ? ' f16' : ''} ${per.join('+')}`);
        const r = await bandedVsWhole(device, g, input, c.shape, { bindingLimit, f16, tuning });
        assert.ok(r.bands > 0, `${name}: some node runs in bands`);
        assertSameBits(`${name}, limit ${bindingLimit} (${per} bands)`, r);
      }
      assert.ok(seen.size > 1, `${name}: the limits gave the same band counts (${[...seen]})`);
    });
  }
}

Bands.run();
