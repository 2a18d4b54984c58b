import { suite } from 'uvu';
import { c4 } from '../../src/kernels/common.js';
import { maxPool2x2Step } from '../../src/kernels/maxPool2x2.js';
import { maxPool2x2 } from '../../src/kernels/reference/maxPool2x2.js';
import { assertClose, nhwc4Buffer, randTensor, rng, runAndRead, testDevice, upload } from '../helpers.js';

// max selects one of its inputs: the result is exact.
const ATOL = 0;
const RTOL = 0;

const cases = [
  { N: 1, C: 3, H: 8, W: 6 },
  { N: 2, C: 1, H: 7, W: 9 }, // odd sizes: last row and column dropped (floor mode)
  { N: 1, C: 10, H: 5, W: 4 },
];

const Pool = suite<{ device: GPUDevice }>('maxPool2x2');
Pool.before(async (ctx) => {
  ctx.device = await testDevice();
});
Pool.after((ctx) => ctx.device.destroy());

for (const [i, c] of cases.entries()) {
  const name = `maxPool2x2 N=${c.N} C=${c.C} ${c.H}x${c.W}`;
  Pool(name, async ({ device }) => {
    const x = randTensor(rng(3000 + i), [c.N, c.C, c.H, c.W], -3, 1); // mostly negative: a max over zeros would show
    const want = maxPool2x2(x);
    const input = upload(device, x);
    const out = nhwc4Buffer(device, want.shape);
    const view = { c4Offset: 0, c4Stride: c4(c.C) };
    const step = maxPool2x2Step(
      device,
      { N: c.N, H: c.H, W: c.W, c4: c4(c.C), input: view, output: view, workgroupSize: 64 },
      { input: { buffer: input.buffer }, output: { buffer: out } },
    );
    assertClose(await runAndRead(device, [...input.steps, step], out, want.shape), want.data, ATOL, RTOL, name);
  });
}

Pool.run();
