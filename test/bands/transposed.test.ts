// Transposed convs with kernel = stride (convTranspose2x2, convTransposeStrided 2D and 3D) in bands (issue 21):
// banded == one pass, bit for bit, in f32 and f16. The kernel works per input row and writes its k output
// rows, storing only those inside the band, so bands may start at any output row: the limits here give
// bands of odd row counts, starting between the output rows of one input row and across images (batch 2).
import type { GraphBuilder, ValueId } from '../../src/ir/graph.js';
import type { ConvParams } from '../../src/ir/params.js';
import { type BandedCase, bandedSuite, convParams } from './bandedCase.js';

/** A kernel = stride transposed conv of `cout` channels on x (seeded by the node's name). */
const up = (b: GraphBuilder, name: string, x: ValueId, cout: number, k: number[]) =>
  b.convTransposeStrided(name, x, convParams(name.length * 137 + cout, [b.channels(x), cout, ...k], cout));

const CASES: BandedCase[] = [
  {
    name: 'convTranspose2x2',
    shape: [2, 6, 19, 13],
    build: (b, x) => b.convTranspose2x2('up', x, convParams(31, [6, 5, 2, 2], 5) as ConvParams),
    banded: ['up'],
  },
  { name: 'k2 s2, 2D', shape: [2, 5, 17, 11], build: (b, x) => up(b, 'up', x, 7, [2, 2]), banded: ['up'] },
  { name: 'k3x2 s3x2, 2D', shape: [2, 4, 13, 9], build: (b, x) => up(b, 'up', x, 4, [3, 2]), banded: ['up'] },
  { name: 'k2x2x2 s2, 3D', shape: [2, 6, 5, 7, 6], build: (b, x) => up(b, 'up', x, 5, [2, 2, 2]), banded: ['up'] },
  // nnU-Net's anisotropic up-sampling: in-plane only
  { name: 'k1x2x2 s1x2x2, 3D', shape: [2, 4, 5, 9, 7], build: (b, x) => up(b, 'up', x, 3, [1, 2, 2]), banded: ['up'] },
  { name: 'k3x1x2 s3x1x2, 3D', shape: [2, 3, 3, 7, 5], build: (b, x) => up(b, 'up', x, 4, [3, 1, 2]), banded: ['up'] },
  // two up-samplings write their slices of a concatenation with a vec4 gap (3 + 6 channels in 1 + 2 vec4s),
  // which a 1x1x1 conv reads through its segments; then one up-sampling of it reads the gapped storage
  {
    name: 'concat slices, gapped input, 3D',
    shape: [2, 4, 5, 7, 6],
    build: (b, x) => {
      const cat = b.concat('cat', [up(b, 'a', x, 3, [2, 2, 2]), up(b, 'b', x, 6, [2, 2, 2])]);
      return b.conv3d('c', cat, convParams(41, [4, 9, 1, 1, 1], 4));
    },
    banded: ['a', 'b', 'c'],
  },
  {
    name: 'gapped input, 2D',
    shape: [2, 3, 17, 11],
    build: (b, x) => {
      const cat = b.concat('cat', [up(b, 'a', x, 3, [1, 1]), up(b, 'b', x, 5, [1, 1])]);
      return up(b, 'c', cat, 4, [2, 2]);
    },
    banded: ['c'],
  },
];

bandedSuite('bands: transposed convs', CASES, 9500);
