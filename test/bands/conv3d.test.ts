// conv3d in bands (issue 21): banded == one pass, bit for bit, in f32 and f16, for nnU-Net's convs (3x3x3
// stride 1 and 2, anisotropic 1x3x3 and 3x1x3, 1x1x1), a residual + activation epilogue, writing a concat
// slice and reading a gapped concatenation. Batch 2, odd D and H: bands start mid-plane and cross images.
import type { GraphBuilder, ValueId } from '../../src/ir/graph.js';
import { type BandedCase, bandedSuite, convParams } from './bandedCase.js';

/** A conv3d of `cout` channels with kernel k on x (seeded by the node's name). */
const conv = (b: GraphBuilder, name: string, x: ValueId, cout: number, k: number[], o: { stride?: number[]; padding?: number[] } = {}) =>
  b.conv3d(name, x, convParams(name.length * 131 + cout, [cout, b.channels(x), ...k], cout), o);

const CASES: BandedCase[] = [
  { name: '3x3x3 p1', shape: [2, 5, 7, 9, 6], build: (b, x) => conv(b, 'conv', x, 6, [3, 3, 3], { padding: [1, 1, 1] }), banded: ['conv'] },
  {
    name: '3x3x3 s2 p1',
    shape: [2, 4, 9, 11, 7],
    build: (b, x) => conv(b, 'conv', x, 8, [3, 3, 3], { stride: [2, 2, 2], padding: [1, 1, 1] }),
    banded: ['conv'],
    fraction: 1 / 3,
  },
  // nnU-Net's anisotropic stages: in-plane kernels first, strides only in-plane
  {
    name: '1x3x3 s1x2x2 p0x1x1',
    shape: [2, 3, 5, 13, 9],
    build: (b, x) => conv(b, 'conv', x, 5, [1, 3, 3], { stride: [1, 2, 2], padding: [0, 1, 1] }),
    banded: ['conv'],
  },
  { name: '3x1x3 p1x0x1', shape: [2, 4, 7, 5, 8], build: (b, x) => conv(b, 'conv', x, 4, [3, 1, 3], { padding: [1, 0, 1] }), banded: ['conv'] },
  { name: '1x1x1', shape: [2, 7, 5, 9, 6], build: (b, x) => conv(b, 'conv', x, 3, [1, 1, 1]), banded: ['conv'] },
  // fuseResidual and fuseActivation: the add and the activation run in the conv's epilogue, the residual
  // (not the conv's own input: both are writable bindings) read in bands too
  {
    name: '3x3x3 p1 + residual + leakyRelu',
    shape: [2, 4, 7, 9, 7],
    build: (b, x) => {
      // computed before the conv, as fuseResidual needs
      const s = b.sigmoid('s', x);
      return b.activation('act', b.add2('add', conv(b, 'conv', x, 4, [3, 3, 3], { padding: [1, 1, 1] }), s), 'leakyRelu:0.01');
    },
    banded: ['conv+add+leakyRelu:0.01'],
    fraction: 1 / 3,
  },
  // two convs write their slices of a concatenation with a vec4 gap (3 + 5 channels in 1 + 2 vec4s), which
  // a third conv reads through its segments
  {
    name: 'concat slices, gapped input',
    shape: [2, 4, 7, 9, 6],
    build: (b, x) => {
      const cat = b.concat('cat', [conv(b, 'a', x, 3, [3, 3, 3], { padding: [1, 1, 1] }), conv(b, 'b', x, 5, [1, 1, 1])]);
      return conv(b, 'c', cat, 6, [3, 3, 3], { padding: [1, 1, 1] });
    },
    banded: ['a', 'b', 'c'],
    fraction: 1 / 3,
  },
];

bandedSuite('bands: conv3d', CASES, 9400);
