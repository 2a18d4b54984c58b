import { suite } from 'uvu';
import { c4 } from '../../src/kernels/common.js';
import { unary } from '../../src/kernels/reference/unary.js';
import { unaryStep } from '../../src/kernels/unary.js';
import { assertClose, nhwc4Buffer, randTensor, rng, runAndRead, testDevice, upload } from '../helpers.js';

// relu is exact; sigmoid goes through exp(), a few ulp of a value <= 1.
const TOL = { relu: [0, 0], sigmoid: [1e-6, 1e-5] } as const;

const cases = [
  { op: 'relu', N: 1, C: 3, H: 5, W: 7 },
  { op: 'relu', N: 2, C: 6, H: 4, W: 3 },
  { op: 'sigmoid', N: 1, C: 1, H: 9, W: 9 },
  { op: 'sigmoid', N: 2, C: 5, H: 3, W: 7 },
] as const;

const Unary = suite<{ device: GPUDevice }>('unary');
Unary.before(async (ctx) => { ctx.device = await testDevice(); });
Unary.after((ctx) => ctx.device.destroy());

for (const [i, c] of cases.entries()) {
  const name = `${c.op} N=${c.N} C=${c.C} ${c.H}x${c.W}`;
  Unary(name, async ({ device }) => {
    // wide range: sigmoid's tails (exp overflow) are exercised too
    const x = randTensor(rng(5000 + i), [c.N, c.C, c.H, c.W], -100, 100);
    const want = unary(c.op, x);
    const input = upload(device, x);
    const out = nhwc4Buffer(device, x.shape);
    const view = { c4Offset: 0, c4Stride: c4(c.C) };
    const step = unaryStep(device, { op: c.op, pixels: c.N * c.H * c.W, c4: c4(c.C), input: view, output: view, workgroupSize: 64 }, { input: { buffer: input.buffer }, output: { buffer: out } });
    assertClose(await runAndRead(device, [...input.steps, step], out, x.shape), want.data, TOL[c.op][0], TOL[c.op][1], name);
  });
}

Unary.run();
