import { suite } from 'uvu';
import { c4 } from '../../src/kernels/common.js';
import { convTranspose2x2Step, packConvTranspose2x2Weights } from '../../src/kernels/convTranspose2x2.js';
import { convTranspose2x2 } from '../../src/kernels/reference/convTranspose2x2.js';
import { adapterOf } from '../../src/gpu/device.js';
import { candidates, tuningFor } from '../../src/compiler/tuning.js';
import { assertClose, nhwc4Buffer, randArray, randTensor, rng, runAndRead, testDevice, upload, weightsBuffer } from '../helpers.js';
import { skip } from '../skip.js';

// Each output is a sum of Cin (<= 13) products of values in [-1, 1] plus a bias.
const ATOL = 1e-5;
const RTOL = 1e-5;

const cases = [
  { N: 1, C: 3, CO: 5, H: 5, W: 7, tilePixels: 2, tileC4: 1 },
  { N: 2, C: 1, CO: 4, H: 3, W: 3, tilePixels: 4, tileC4: 2 },
  { N: 1, C: 13, CO: 6, H: 4, W: 9, tilePixels: 1, tileC4: 2, slice: [0, 2] as [number, number] },
  { N: 2, C: 8, CO: 8, H: 6, W: 5, tilePixels: 2, tileC4: 2, slice: [2, 0] as [number, number] },
];

const ConvT = suite<{ device: GPUDevice }>('convTranspose2x2');
ConvT.before(async (ctx) => {
  ctx.device = await testDevice();
});
ConvT.after((ctx) => ctx.device.destroy());

const variants = [{ weights: 'load' as const }, { weights: 'subgroup' as const }];
for (const [i, c] of cases.entries())
  for (const v of variants) {
    const name = `convTranspose2x2 N=${c.N} C=${c.C}->${c.CO} ${c.H}x${c.W} tile ${c.tilePixels}px x ${c.tileC4}c4${c.slice ? ' into slice' : ''} weights by ${v.weights}`;
    ConvT(name, async ({ device }) => {
      const subgroupSize = tuningFor(device, adapterOf(device)).convTranspose2x2.subgroupSize;
      if (v.weights === 'subgroup' && !subgroupSize) return skip(`"${name}": the adapter has no fixed subgroup size`);
      const rand = rng(2000 + i);
      const x = randTensor(rand, [c.N, c.C, c.H, c.W]);
      const p = { weight: randArray(rand, c.C * c.CO * 4), shape: [c.C, c.CO, 2, 2] as [number, number, number, number], bias: randArray(rand, c.CO) };
      const want = convTranspose2x2(x, p);
      const outView = c.slice ? { c4Offset: c.slice[0], c4Stride: c.slice[0] + c4(c.CO) + c.slice[1] } : { c4Offset: 0, c4Stride: c4(c.CO) };
      const input = upload(device, x);
      const packed = packConvTranspose2x2Weights(p, c4(c.C), c.tileC4);
      const out = nhwc4Buffer(device, want.shape, outView.c4Stride);
      const step = convTranspose2x2Step(
        device,
        {
          N: c.N,
          H: c.H,
          W: c.W,
          cin: c.C,
          cin4: c4(c.C),
          cout: c.CO,
          input: { c4Offset: 0, c4Stride: c4(c.C) },
          output: outView,
          tilePixels: c.tilePixels,
          tileC4: c.tileC4,
          workgroupSize: 64,
          weights: v.weights,
          subgroupSize,
        },
        {
          input: { buffer: input.buffer },
          weight: { buffer: weightsBuffer(device, packed.weight) },
          bias: { buffer: weightsBuffer(device, packed.bias) },
          output: { buffer: out },
        },
      );
      assertClose(await runAndRead(device, [...input.steps, step], out, want.shape, outView), want.data, ATOL, RTOL, name);
    });
  }

// Every configuration `unet tune` may pick, on a layer whose sizes are not multiples of any tile.
ConvT('every tuning candidate: convTranspose2x2 N=1 C=7->6 5x3', async ({ device }) => {
  const rand = rng(2900);
  const [C, CO, H, W] = [7, 6, 5, 3];
  const x = randTensor(rand, [1, C, H, W]);
  const p = { weight: randArray(rand, C * CO * 4), shape: [C, CO, 2, 2] as [number, number, number, number], bias: randArray(rand, CO) };
  const want = convTranspose2x2(x, p);
  const subgroupSize = tuningFor(device, adapterOf(device)).convTranspose2x2.subgroupSize;
  const all = candidates('convTranspose2x2', subgroupSize);
  for (const cand of all) {
    const input = upload(device, x);
    const packed = packConvTranspose2x2Weights(p, c4(C), cand.tileC4);
    const out = nhwc4Buffer(device, want.shape);
    const step = convTranspose2x2Step(
      device,
      { N: 1, H, W, cin: C, cin4: c4(C), cout: CO, input: { c4Offset: 0, c4Stride: c4(C) }, output: { c4Offset: 0, c4Stride: c4(CO) }, ...cand },
      {
        input: { buffer: input.buffer },
        weight: { buffer: weightsBuffer(device, packed.weight) },
        bias: { buffer: weightsBuffer(device, packed.bias) },
        output: { buffer: out },
      },
    );
    assertClose(await runAndRead(device, [...input.steps, step], out, want.shape), want.data, ATOL, RTOL, `candidate ${JSON.stringify(cand)}`);
  }
  console.log(`  ${all.length} convTranspose2x2 candidates checked`);
});

ConvT.run();
