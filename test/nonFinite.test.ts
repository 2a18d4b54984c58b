// The input check of model.run: where it finds a NaN or Inf, and that skipping it (nonFinite:
// 'propagate') changes nothing for a finite input.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadModel } from '../src/load.js';
import { firstNonFinite } from '../src/model.js';
import { testDevice } from './helpers.js';

const Scan = suite('firstNonFinite');

// blocks of 4096 values summed four at a time: the edges are the first value, a lane, a block's last
// value, the next block's first, and a tail shorter than four
const LENGTH = 4096 * 2 + 3;
for (const at of [0, 3, 4095, 4096, LENGTH - 1]) {
  for (const bad of [NaN, Infinity, -Infinity]) {
    Scan(`${bad} at ${at} of ${LENGTH}`, () => {
      const x = new Float32Array(LENGTH).fill(1.5);
      x[at] = bad;
      if (at + 7 < LENGTH) x[at + 7] = NaN; // a later one is not the answer
      assert.is(firstNonFinite(x), at);
    });
  }
}

Scan('finite extremes are finite: ±3.4e38, -0, the smallest subnormal', () => {
  const x = new Float32Array([3.4e38, -3.4e38, -0, 1.4e-45, ...new Array(5000).fill(3.4e38)]);
  assert.is(firstNonFinite(x), -1);
  assert.is(firstNonFinite(new Float32Array(0)), -1);
});

Scan.run();

// ---

const Skip = suite<{ device: GPUDevice }>('model.run nonFinite');
Skip.before(async (ctx) => {
  ctx.device = await testDevice();
});
Skip.after((ctx) => ctx.device.destroy());

Skip("nonFinite: 'propagate' (no check) gives the same output as the checked run, gray fixture 2x1x40x24", async ({ device }) => {
  const model = await loadModel(device, 'test/fixtures/gray.weights.safetensors');
  const shape = [2, 1, 40, 24];
  const data = Float32Array.from({ length: 2 * 40 * 24 }, (_, i) => Math.sin(i * 0.37) * 2);
  const checked = await model.run({ data, shape });
  const unchecked = await model.run({ data, shape }, { nonFinite: 'propagate' });
  assert.equal(unchecked.shape, checked.shape);
  assert.ok(
    unchecked.data.every((v, i) => Object.is(v, checked.data[i])),
    'bit-identical outputs',
  );
  model.dispose();
});

Skip.run();
