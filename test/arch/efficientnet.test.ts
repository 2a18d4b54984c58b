// EfficientNet's traps, each checked on its own: TensorFlow "same" padding computed from the variant's
// nominal image size (asymmetric, more at the bottom / right), and fixed whatever the real input size.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { staticSamePadding } from '../../src/arch/smp/encoders/efficientnet.js';

const Pad = suite('efficientnet: Conv2dStaticSamePadding');

Pad('from the nominal size: pad = max((ceil(i/s) - 1) * s + k - i, 0), split (pad // 2, pad - pad // 2)', () => {
  // b0's stem at 224: out 112, pad (112 - 1) * 2 + 3 - 224 = 1 -> 0 top / left, 1 bottom / right
  assert.equal(staticSamePadding(224, 3, 2), [0, 1, 0, 1]);
  // b3's stem at 300: out 150, pad 149 * 2 + 3 - 300 = 1
  assert.equal(staticSamePadding(300, 3, 2), [0, 1, 0, 1]);
  // a 5x5 stride-2 depthwise at 56 (even): out 28, pad 27 * 2 + 5 - 56 = 3 -> 1 / 2
  assert.equal(staticSamePadding(56, 5, 2), [1, 2, 1, 2]);
  // at 75 (odd, b3's 300 after two strides): out 38, pad 37 * 2 + 5 - 75 = 4 -> 2 / 2
  assert.equal(staticSamePadding(75, 5, 2), [2, 2, 2, 2]);
  // stride 1 is symmetric: k - 1
  assert.equal(staticSamePadding(28, 5, 1), [2, 2, 2, 2]);
  assert.equal(staticSamePadding(14, 3, 1), [1, 1, 1, 1]);
  // 1x1 convs pad nothing
  assert.equal(staticSamePadding(7, 1, 1), [0, 0, 0, 0]);
});

Pad('the stride-2 convs of each variant at its nominal size (sizes tracked with ceil(size / 2) from the stem)', () => {
  // [nominal size, kernel of the stride-2 stages after the stem (k3, k5, k3, k5)], and the expected
  // [top, bottom] of the stem and of those four stages, from smp's Conv2dStaticSamePadding
  const table: [string, number, [number, number][]][] = [
    [
      'b0',
      224,
      [
        [0, 1],
        [0, 1],
        [1, 2],
        [0, 1],
        [1, 2],
      ],
    ],
    [
      'b2',
      260,
      [
        [0, 1],
        [0, 1],
        [2, 2],
        [1, 1],
        [2, 2],
      ],
    ],
    [
      'b4',
      380,
      [
        [0, 1],
        [0, 1],
        [2, 2],
        [0, 1],
        [1, 2],
      ],
    ],
    [
      'b5',
      456,
      [
        [0, 1],
        [0, 1],
        [1, 2],
        [1, 1],
        [2, 2],
      ],
    ],
    [
      'b7',
      600,
      [
        [0, 1],
        [0, 1],
        [1, 2],
        [1, 1],
        [1, 2],
      ],
    ],
  ];
  for (const [variant, nominal, want] of table) {
    let size = nominal;
    const got: [number, number][] = [];
    for (const k of [3, 3, 5, 3, 5]) {
      const [top, bottom] = staticSamePadding(size, k, 2);
      got.push([top, bottom]);
      size = Math.ceil(size / 2);
    }
    assert.equal(got, want, variant);
  }
});

Pad.run();
