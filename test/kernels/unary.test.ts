import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { c4 } from '../../src/kernels/common.js';
import { unary } from '../../src/kernels/reference/unary.js';
import { unaryStep } from '../../src/kernels/unary.js';
import { assertClose, nhwc4Buffer, randTensor, rng, runAndRead, testDevice, upload } from '../helpers.js';

// relu and relu6 are exact; sigmoid goes through exp(), a few ulp of a value <= 1.
const TOL = { relu: [0, 0], relu6: [0, 0], sigmoid: [1e-6, 1e-5] } as const;

const cases = [
  { op: 'relu', N: 1, C: 3, H: 5, W: 7 },
  { op: 'relu', N: 2, C: 6, H: 4, W: 3 },
  { op: 'relu6', N: 1, C: 7, H: 5, W: 3 },
  { op: 'sigmoid', N: 1, C: 1, H: 9, W: 9 },
  { op: 'sigmoid', N: 2, C: 5, H: 3, W: 7 },
] as const;

const Unary = suite<{ device: GPUDevice }>('unary');
Unary.before(async (ctx) => {
  ctx.device = await testDevice();
});
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
    const step = unaryStep(
      device,
      { op: c.op, pixels: c.N * c.H * c.W, c4: c4(c.C), input: view, output: view, workgroupSize: 64 },
      { input: { buffer: input.buffer }, output: { buffer: out } },
    );
    assertClose(await runAndRead(device, [...input.steps, step], out, x.shape), want.data, TOL[c.op][0], TOL[c.op][1], name);
  });
}

Unary('relu and relu6 keep NaN and clamp infinities, as torch.relu / nn.ReLU6', async ({ device }) => {
  const x = { data: new Float32Array([NaN, -Infinity, -1, -0, 0.5, 6, 6.5, Infinity]), shape: [1, 8, 1, 1] as [number, number, number, number] };
  // F.relu6(torch.tensor([nan, -inf, -1, -0., .5, 6, 6.5, inf])) = [nan, 0, 0, -0, .5, 6, 6, 6]
  const want = { relu: [NaN, 0, 0, 0, 0.5, 6, 6.5, Infinity], relu6: [NaN, 0, 0, 0, 0.5, 6, 6, 6] };
  for (const op of ['relu', 'relu6'] as const) {
    const input = upload(device, x);
    const out = nhwc4Buffer(device, x.shape);
    const view = { c4Offset: 0, c4Stride: c4(8) };
    const step = unaryStep(
      device,
      { op, pixels: 1, c4: c4(8), input: view, output: view, workgroupSize: 64 },
      { input: { buffer: input.buffer }, output: { buffer: out } },
    );
    const got = Array.from(await runAndRead(device, [...input.steps, step], out, x.shape));
    // -0 and 0 are both allowed (max(-0, 0) may be either); NaN must be NaN
    assert.equal(
      got.map((v) => (v === 0 ? 0 : v)),
      want[op],
      op,
    );
    assert.equal(
      Array.from(unary(op, x).data, (v) => (v === 0 ? 0 : v)),
      want[op],
      `${op} reference`,
    );
  }
});

Unary.run();
