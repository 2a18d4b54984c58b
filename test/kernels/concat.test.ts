import { suite } from 'uvu';
import { c4 } from '../../src/kernels/common.js';
import { concatStep } from '../../src/kernels/concat.js';
import { concat } from '../../src/kernels/reference/concat.js';
import { assertClose, nhwc4Buffer, randTensor, rng, runAndRead, testDevice, upload } from '../helpers.js';

// a copy: exact
const cases = [
  { N: 1, CA: 3, CB: 5, H: 5, W: 7 },
  { N: 2, CA: 1, CB: 1, H: 3, W: 9 },
  { N: 1, CA: 4, CB: 6, H: 6, W: 5 },
];

const Concat = suite<{ device: GPUDevice }>('concat');
Concat.before(async (ctx) => {
  ctx.device = await testDevice();
});
Concat.after((ctx) => ctx.device.destroy());

for (const [i, c] of cases.entries()) {
  const name = `concat N=${c.N} C=${c.CA}+${c.CB} ${c.H}x${c.W}`;
  Concat(name, async ({ device }) => {
    const rand = rng(6000 + i);
    const a = randTensor(rand, [c.N, c.CA, c.H, c.W]);
    const b = randTensor(rand, [c.N, c.CB, c.H, c.W]);
    const want = concat(a, b);
    const ua = upload(device, a);
    const ub = upload(device, b);
    const out = nhwc4Buffer(device, want.shape);
    const step = concatStep(
      device,
      {
        pixels: c.N * c.H * c.W,
        ca: c.CA,
        cb: c.CB,
        a: { c4Offset: 0, c4Stride: c4(c.CA) },
        b: { c4Offset: 0, c4Stride: c4(c.CB) },
        output: { c4Offset: 0, c4Stride: c4(c.CA + c.CB) },
        workgroupSize: 64,
      },
      { a: { buffer: ua.buffer }, b: { buffer: ub.buffer }, output: { buffer: out } },
    );
    assertClose(await runAndRead(device, [...ua.steps, ...ub.steps, step], out, want.shape), want.data, 0, 0, name);
  });
}

Concat.run();
