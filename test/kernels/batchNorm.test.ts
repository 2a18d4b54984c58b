import { suite } from 'uvu';
import { batchNormStep, packBatchNormParams } from '../../src/kernels/batchNorm.js';
import { c4 } from '../../src/kernels/common.js';
import { batchNorm } from '../../src/kernels/reference/batchNorm.js';
import { assertClose, nhwc4Buffer, randArray, randTensor, rng, runAndRead, testDevice, upload, weightsBuffer } from '../helpers.js';

// A handful of f32 operations per element; inverseSqrt may differ from 1/sqrt by a few ulp.
const ATOL = 1e-5;
const RTOL = 1e-5;

const cases = [
  { N: 1, C: 3, H: 7, W: 5 },
  { N: 2, C: 1, H: 9, W: 9 },
  { N: 2, C: 6, H: 3, W: 11 },
];

const BN = suite<{ device: GPUDevice }>('batchNorm');
BN.before(async (ctx) => {
  ctx.device = await testDevice();
});
BN.after((ctx) => ctx.device.destroy());

for (const [i, c] of cases.entries()) {
  const name = `batchNorm N=${c.N} C=${c.C} ${c.H}x${c.W}`;
  BN(name, async ({ device }) => {
    const rand = rng(4000 + i);
    const x = randTensor(rand, [c.N, c.C, c.H, c.W], -2, 2);
    // statistics far from identity, as a trained network has
    const p = {
      weight: randArray(rand, c.C, -1.5, 1.5),
      bias: randArray(rand, c.C),
      runningMean: randArray(rand, c.C),
      runningVar: randArray(rand, c.C, 0.1, 4),
      eps: 1e-5,
    };
    const want = batchNorm(x, p);
    const input = upload(device, x);
    const out = nhwc4Buffer(device, want.shape);
    const view = { c4Offset: 0, c4Stride: c4(c.C) };
    const step = batchNormStep(
      device,
      { N: c.N, H: c.H, W: c.W, c4: c4(c.C), eps: p.eps, input: view, output: view, workgroupSize: 64 },
      { input: { buffer: input.buffer }, params: { buffer: weightsBuffer(device, packBatchNormParams(p, c4(c.C))) }, output: { buffer: out } },
    );
    assertClose(await runAndRead(device, [...input.steps, step], out, want.shape), want.data, ATOL, RTOL, name);
  });
}

BN.run();
