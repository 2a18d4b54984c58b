// The plan's edges in bands (issue 21): an input or output past the binding limit is held in rows order and
// converted to and from NHWC4 in bands of rows, padding (zero and reflect) and cropping included; and an
// arena past the buffer limit is held in several buffers. Each plan is compared bit for bit with one pass.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GraphBuilder, type Shape } from '../../src/ir/graph.js';
import { uploadParams } from '../../src/compiler/params.js';
import { optimize } from '../../src/compiler/passes/index.js';
import { compilePlan } from '../../src/compiler/plan.js';
import { tuningFor } from '../../src/compiler/tuning.js';
import { adapterOf } from '../../src/gpu/device.js';
import { randArray, rng, testDevice } from '../helpers.js';
import { bandedVsWhole, firstBitDifference } from './run.js';

const test = suite('bands: input and output layout');
const numel = (s: Shape) => s.reduce((a, b) => a * b, 1);

// relu then sigmoid: two elementwise nodes, so values live in the arena between the edges
function graph(C: number) {
  const b = new GraphBuilder();
  const x = b.value('input', C);
  return b.finish(x, b.sigmoid('s', b.activation('r', x, 'relu')));
}

for (const shape of [
  [1, 3, 61, 17],
  [2, 5, 33, 9],
  [2, 3, 5, 7, 11],
] as Shape[]) {
  test(`[${shape}]: banded input and output equal one pass bit for bit`, async () => {
    const device = await testDevice();
    const input = randArray(rng(7), numel(shape), -3, 3);
    // a limit below the NCHW input's bytes: the edges run in rows order, in bands
    const limit = Math.max(256, Math.floor((numel(shape) * 4) / 5 / 16) * 16);
    const r = await bandedVsWhole(device, graph(shape[1]), input, shape, { bindingLimit: limit });
    assert.ok(r.layoutBands > 0, 'the edges ran in bands');
    assert.ok(r.bands > 0, 'the nodes ran in bands');
    assert.is(firstBitDifference(r.whole, r.banded), -1);
  });
}

test('padding and cropping in bands (reflect and zero): equal to one pass', async () => {
  const device = await testDevice();
  const tuning = tuningFor(device, adapterOf(device));
  const g = optimize(graph(3));
  const params = uploadParams(device, g, tuning, false);
  const shape = [2, 3, 29, 13];
  const input = randArray(rng(3), numel(shape), -2, 2);
  try {
    for (const mode of ['reflect', 'zero'] as const) {
      const padding = { H: 40, W: 16, top: 6, left: 2, mode };
      const whole = compilePlan(device, g, params, tuning, shape, padding);
      const banded = compilePlan(device, g, params, tuning, shape, padding, false, { bindingLimit: 1024 });
      try {
        assert.ok(banded.steps.filter((s) => s.label === 'input').length > 1, 'the input ran in bands');
        assert.ok(banded.steps.filter((s) => s.label === 'output').length > 1, 'the output ran in bands');
        assert.is(firstBitDifference(await whole.run(input), await banded.run(input)), -1, mode);
      } finally {
        whole.dispose();
        banded.dispose();
      }
    }
  } finally {
    params.destroy();
  }
});

test('an arena past the buffer limit is held in several buffers, with the same result', async () => {
  const device = await testDevice();
  const shape = [2, 8, 40, 24];
  const input = randArray(rng(11), numel(shape), -2, 2);
  // each value is 2 x 40 x 24 x 2 vec4s = 61440 bytes; two are alive at once
  const r = await bandedVsWhole(device, graph(8), input, shape, { bindingLimit: 8192, bufferLimit: 65536 });
  assert.ok(r.arenaBuffers > 1, `the arena took ${r.arenaBuffers} buffers`);
  assert.is(firstBitDifference(r.whole, r.banded), -1);
});

test.run();
