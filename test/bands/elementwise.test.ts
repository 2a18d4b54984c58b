// The elementwise, pooling, resize, concat, softmax and gate ops in bands (issue 21): each graph is
// compiled once as one pass and once under a binding limit small enough that its nodes run as several
// bands of rows, and the two outputs must match bit for bit (f32, and f16 where the op has an f16 kernel).
// Shapes have odd heights and batch 2, so bands end mid-image and cross image boundaries.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GraphBuilder, type Graph, type Shape, type ValueId } from '../../src/ir/graph.js';
import type { Activation } from '../../src/ir/types.js';
import { optimize } from '../../src/compiler/passes/index.js';
import { memoryPlanOf } from '../../src/compiler/plan.js';
import { tuningFor } from '../../src/compiler/tuning.js';
import { adapterOf } from '../../src/gpu/device.js';
import { randArray, rng, testDevice } from '../helpers.js';
import { skip } from '../skip.js';
import { bandedVsWhole, firstBitDifference } from './run.js';

const numel = (s: Shape) => s.reduce((a, b) => a * b, 1);

interface Case {
  name: string;
  shape: Shape;
  build(b: GraphBuilder, x: ValueId): ValueId;
  /** nodes of the optimized graph that must run in more than one band */
  banded: string[];
  /** f16 too (every node of the optimized graph has an f16 kernel) */
  f16: boolean;
  /** the binding limit as a fraction of the largest value's bytes (default 1/5) */
  fraction?: number;
  /** input range (default [-4, 4]) */
  range?: [number, number];
}

function graphOf(c: Case): Graph {
  const b = new GraphBuilder();
  const x = b.value('input', c.shape[1]);
  return b.finish(x, c.build(b, x));
}

const bn = (C: number, seed: number) => {
  const r = rng(seed);
  return {
    weight: randArray(r, C, 0.5, 2),
    bias: randArray(r, C, -1, 1),
    runningMean: randArray(r, C, -1, 1),
    runningVar: randArray(r, C, 0.25, 3),
    eps: 1e-5,
  };
};

// a channel gate [N, C, 1, 1] without a conv: the sigmoid of x resized to 1 x 1
const gate = (b: GraphBuilder, x: ValueId, name = 'gate') => b.sigmoid(`${name}.sigmoid`, b.resize(`${name}.squeeze`, x, [1, 1], 'bilinear'));

const ACTIVATIONS: Activation[] = ['relu', 'relu6', 'sigmoid', 'tanh', 'silu', 'leakyRelu:0.1'];

const CASES: Case[] = [
  { name: 'add', shape: [2, 6, 37, 13], build: (b, x) => b.add2('add', x, b.sigmoid('s', x)), banded: ['s', 'add'], f16: true },
  { name: 'add + relu', shape: [2, 6, 37, 13], build: (b, x) => b.add2('add', x, b.activation('t', x, 'tanh'), 'relu'), banded: ['t', 'add'], f16: true },
  {
    name: 'add + leakyRelu, 3D',
    shape: [2, 5, 5, 7, 9],
    build: (b, x) => b.add2('add', x, b.sigmoid('s', x), 'leakyRelu:0.01'),
    banded: ['s', 'add'],
    f16: true,
  },
  { name: 'batchNorm', shape: [2, 6, 37, 13], build: (b, x) => b.batchNorm('bn', x, bn(6, 7)), banded: ['bn'], f16: true },
  { name: 'batchNorm, 3D', shape: [2, 3, 5, 7, 9], build: (b, x) => b.batchNorm('bn', x, bn(3, 8)), banded: ['bn'], f16: true },
  ...ACTIVATIONS.map(
    (fn): Case => ({ name: fn, shape: [2, 7, 37, 11], build: (b, x) => b.activation('act', x, fn), banded: ['act'], f16: true, range: [-12, 12] }),
  ),
  { name: 'silu, 3D', shape: [2, 5, 3, 9, 7], build: (b, x) => b.activation('act', x, 'silu'), banded: ['act'], f16: true },
  // the graph input cannot be placed in a slice: the concat kernel copies both parts
  { name: 'concat (kernel)', shape: [2, 3, 37, 13], build: (b, x) => b.concat('cat', [x, b.sigmoid('s', x)]), banded: ['s', 'cat'], f16: false },
  // producers write their slices of a gapped concatenation (3 + 3 channels in 2 vec4s), read through its segments
  {
    name: 'concat placed, gaps read by maxPool2d',
    shape: [2, 3, 37, 13],
    build: (b, x) => b.maxPool2d('pool', b.concat('cat', [b.relu('r', x), b.activation('t', x, 'tanh')]), 3, 2, 1),
    banded: ['r', 't', 'pool'],
    f16: true,
  },
  {
    name: 'concat placed, gaps read by resize',
    shape: [2, 3, 37, 13],
    build: (b, x) => b.resize('up', b.concat('cat', [b.relu('r', x), b.sigmoid('s', x)]), [75, 27], 'bilinear'),
    banded: ['r', 's', 'up'],
    f16: true,
  },
  ...(['nearest', 'bilinear'] as const).flatMap((mode): Case[] => [
    { name: `resize ${mode} 2x`, shape: [2, 5, 19, 11], build: (b, x) => b.resize('up', x, [38, 22], mode), banded: ['up'], f16: true },
    { name: `resize ${mode} 37 -> 75`, shape: [2, 5, 37, 13], build: (b, x) => b.resize('up', x, [75, 29], mode), banded: ['up'], f16: true },
    { name: `resize ${mode} 75 -> 37`, shape: [2, 5, 75, 29], build: (b, x) => b.resize('down', x, [37, 13], mode), banded: ['down'], f16: true },
    { name: `resize ${mode} 23 -> 61`, shape: [1, 4, 23, 9], build: (b, x) => b.resize('up', x, [61, 9], mode), banded: ['up'], f16: true },
  ]),
  { name: 'maxPool 2x2', shape: [2, 6, 37, 13], build: (b, x) => b.maxPool2d('pool', x, 2), banded: ['pool'], f16: true },
  { name: 'maxPool 3x3 s2 p1', shape: [2, 6, 37, 13], build: (b, x) => b.maxPool2d('pool', x, 3, 2, 1), banded: ['pool'], f16: true },
  { name: 'maxPool 3x3 s1 p1', shape: [2, 5, 21, 9], build: (b, x) => b.maxPool2d('pool', x, 3, 1, 1), banded: ['pool'], f16: true },
  { name: 'softmax', shape: [2, 7, 37, 13], build: (b, x) => b.softmax('sm', x), banded: ['sm'], f16: true, range: [-20, 20] },
  { name: 'logsoftmax', shape: [2, 7, 37, 13], build: (b, x) => b.softmax('sm', x, true), banded: ['sm'], f16: true, range: [-20, 20] },
  { name: 'softmax, 3D', shape: [2, 5, 3, 9, 7], build: (b, x) => b.softmax('sm', x), banded: ['sm'], f16: true },
  { name: 'channelScale', shape: [2, 6, 37, 13], build: (b, x) => b.channelScale('scale', x, gate(b, x)), banded: ['scale'], f16: true },
  {
    name: 'scseGate, one channel',
    shape: [2, 1, 37, 13],
    build: (b, x) => b.scseGate('scse', x, gate(b, x, 'cse'), b.sigmoid('sse', x)),
    banded: ['scse', 'sse'],
    f16: true,
    fraction: 1 / 3,
  },
  {
    // three channels from one: concat kernels (the input and a concat cannot be placed); no f16 concat kernel
    name: 'scseGate, three channels',
    shape: [2, 1, 37, 13],
    build: (b, x) => {
      const x3 = b.concat('cat3', [b.concat('cat2', [x, b.sigmoid('s', x)]), b.activation('t', x, 'tanh')]);
      return b.scseGate('scse', x3, gate(b, x3, 'cse'), b.sigmoid('sse', x));
    },
    banded: ['scse'],
    f16: false,
  },
];

const Bands = suite<{ device: GPUDevice }>('bands: elementwise, pooling, resize, concat, softmax, gates');
Bands.before(async (ctx) => {
  ctx.device = await testDevice();
});
Bands.after((ctx) => ctx.device.destroy());

for (const [i, c] of CASES.entries()) {
  for (const f16 of c.f16 ? [false, true] : [false]) {
    const name = `${c.name} [${c.shape}]${f16 ? ' f16' : ''}`;
    Bands(name, async ({ device }) => {
      if (f16 && !device.features.has('shader-f16')) return skip(`${name}: the adapter has no shader-f16`);
      const g = graphOf(c);
      const tuning = tuningFor(device, adapterOf(device));
      const alignment = device.limits.minStorageBufferOffsetAlignment;
      // the limit: a fraction of the largest value, so every node of these graphs runs in several bands
      const opt = optimize(g);
      const { shapes } = memoryPlanOf(opt, c.shape, alignment, f16, tuning);
      const vec4Bytes = f16 ? 8 : 16;
      const largest = Math.max(...[...shapes.values()].map((s) => (numel(s) / s[1]) * Math.ceil(s[1] / 4) * vec4Bytes));
      // and under the NCHW input and output too, so the plan converts those in rows order (these tests are
      // about the ops; test/bands has the layout steps' own tests)
      const io = Math.min(numel(c.shape), numel(shapes.get(opt.output)!)) * 4;
      const bindingLimit = Math.max(256, Math.floor(Math.min(largest * (c.fraction ?? 1 / 5), io * 0.9)));
      const { bands } = memoryPlanOf(opt, c.shape, alignment, f16, tuning, bindingLimit);
      for (const n of c.banded) assert.ok((bands.get(n)?.length ?? 0) > 1, `${name}: ${n} runs in bands (banded: ${[...bands.keys()].join(', ')})`);

      const [lo, hi] = c.range ?? [-4, 4];
      const input = randArray(rng(9100 + i), numel(c.shape), lo, hi);
      const r = await bandedVsWhole(device, g, input, c.shape, { bindingLimit, f16, tuning });
      assert.is(r.bands, bands.size, `${name}: banded nodes`);
      assert.ok(
        r.whole.some((v) => v !== 0),
        `${name}: the one-pass output is not all zeros`,
      );
      const k = firstBitDifference(r.whole, r.banded);
      assert.is(k, -1, `${name}: banded differs from one pass at element ${k} of ${r.whole.length}: ${r.banded[k]} vs ${r.whole[k]}`);
    });
  }
}

Bands.run();
