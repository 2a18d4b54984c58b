// The elementwise, pooling, resize, concat, softmax and gate ops in bands (issue 21): each graph is
// compiled once as one pass and once under a binding limit small enough that its nodes run as several
// bands of rows, and the two outputs must match bit for bit (f32, and f16 where the op has an f16 kernel).
// Shapes have odd heights and batch 2, so bands end mid-image and cross image boundaries.
import type { GraphBuilder, ValueId } from '../../src/ir/graph.js';
import type { Activation } from '../../src/ir/types.js';
import { randArray, rng } from '../helpers.js';
import { type BandedCase, bandedSuite } from './bandedCase.js';

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

const CASES: BandedCase[] = [
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
    (fn): BandedCase => ({ name: fn, shape: [2, 7, 37, 11], build: (b, x) => b.activation('act', x, fn), banded: ['act'], f16: true, range: [-12, 12] }),
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
  ...(['nearest', 'bilinear'] as const).flatMap((mode): BandedCase[] => [
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

// inputs in [-4, 4] where a case names no range; the limit under the NCHW input and output too, so the plan
// converts those in rows order (these tests are about the ops; layout.test.ts has the layout steps' own tests)
bandedSuite('bands: elementwise, pooling, resize, concat, softmax, gates', CASES, 9100, { range: [-4, 4], underIo: true });
