// avgPool (kernel = stride, 2D and 3D) in bands (issue 21): banded == one pass, bit for bit, in f32 and f16.
// Batch 2 and odd sizes (floor mode leaves the ragged edge unread), so bands end mid-image and cross images.
import { type BandedCase, bandedSuite } from './bandedCase.js';

const CASES: BandedCase[] = [
  { name: 'avgPool 2x2', shape: [2, 6, 37, 13], build: (b, x) => b.avgPool('pool', x, [2, 2]), banded: ['pool'] },
  { name: 'avgPool 3x2', shape: [2, 5, 41, 11], build: (b, x) => b.avgPool('pool', x, [3, 2]), banded: ['pool'] },
  { name: 'avgPool 2x2x2, 3D', shape: [2, 5, 7, 9, 6], build: (b, x) => b.avgPool('pool', x, [2, 2, 2]), banded: ['pool'] },
  // nnU-Net pools in-plane only on anisotropic data
  { name: 'avgPool 1x2x2, 3D', shape: [2, 3, 5, 11, 7], build: (b, x) => b.avgPool('pool', x, [1, 2, 2]), banded: ['pool'] },
  // a band of one output row reads 3 depths: 2 H + 1 input rows
  { name: 'avgPool 3x1x2, 3D', shape: [2, 4, 7, 5, 9], build: (b, x) => b.avgPool('pool', x, [3, 1, 2]), banded: ['pool'], fraction: 1 / 2 },
  // the pools write their slices of a concatenation (4 + 4 channels, dense: a sigmoid cannot read gaps),
  // which the sigmoid reads, so the concatenation is placed, not copied
  {
    name: 'avgPool into concat slices',
    shape: [2, 4, 7, 9, 6],
    build: (b, x) => b.sigmoid('out', b.concat('cat', [b.avgPool('pool', x, [2, 2, 2]), b.avgPool('pool2', b.sigmoid('s', x), [2, 2, 2])])),
    banded: ['pool', 'pool2'],
  },
];

bandedSuite('bands: avgPool', CASES, 9300);
