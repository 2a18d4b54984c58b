// Grids larger than maxComputeWorkgroupsPerDimension (65535 on every adapter here): foldGrid folds them
// into z, the kernels rebuild their position from it, and compilePlan refuses what still does not fit.
// Before the fold, a 25000-class head (its Winograd GEMM: 112500 channel blocks along y) was rejected by
// WebGPU and the run returned zeros.
import { suite } from 'uvu';
import { existsSync, readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import { MAX_WORKGROUPS_PER_DIM, type Step, c4, foldGrid, linearWorkgroups } from '../../src/kernels/common.js';
import { conv2dStep, packConv2dWeights } from '../../src/kernels/conv2d.js';
import { depthwiseConv2dStep, packDepthwiseConv2dWeights } from '../../src/kernels/depthwiseConv2d.js';
import { convTranspose2x2Step, packConvTranspose2x2Weights } from '../../src/kernels/convTranspose2x2.js';
import { conv2d } from '../../src/kernels/reference/conv2d.js';
import { convTranspose2x2 } from '../../src/kernels/reference/convTranspose2x2.js';
import type { Tensor } from '../../src/kernels/reference/tensor.js';
import { dispatchOverLimit } from '../../src/compiler/plan.js';
import { loadModel } from '../../src/load.js';
import { type TensorToWrite, parseSafetensors, writeSafetensors } from '../../src/weights/safetensors.js';
import { skip } from '../skip.js';
import { assertClose, nhwc4Buffer, randArray, randTensor, rng, runAndRead, testDevice, upload, weightsBuffer } from '../helpers.js';

const Fold = suite('foldGrid');

Fold('every grid up to 40 x 40 folded to 3 / 7 per dimension: within the limit, each position once (or refused)', () => {
  for (const max of [3, 7]) {
    for (let gx = 1; gx <= 40; gx++) {
      for (let gy = 1; gy <= 40; gy++) {
        if (Math.ceil(gx / max) * Math.ceil(gy / max) > max) {
          assert.throws(() => foldGrid(gx, gy, max), /even folded/, `${gx} x ${gy} (max ${max}) cannot fold`);
          continue;
        }
        const {
          workgroups: [x, y, z],
          zx,
        } = foldGrid(gx, gy, max);
        assert.ok(x <= max && y <= max && z <= max, `${gx} x ${gy} (max ${max}) -> [${x}, ${y}, ${z}]`);
        // the kernels' formulas (common.ts gridIndex), over the whole dispatch
        const seen = new Uint8Array(gx * gy);
        for (let wz = 0; wz < z; wz++)
          for (let wy = 0; wy < y; wy++)
            for (let wx = 0; wx < x; wx++) {
              const px = wx + (wz % zx) * x;
              const py = wy + Math.floor(wz / zx) * y;
              if (px < gx && py < gy) seen[py * gx + px]++;
            }
        const wrong = seen.findIndex((n) => n !== 1);
        assert.is(wrong, -1, `${gx} x ${gy} (max ${max}) -> [${x}, ${y}, ${z}] zx ${zx}: position ${wrong} covered ${seen[wrong]} times`);
      }
    }
  }
});

Fold('the 25000-class head: 112500 rows -> [x, 56250, 2]; a 1-D count keeps z for x alone, as before', () => {
  assert.equal(foldGrid(3, 112500).workgroups, [3, 56250, 2]);
  assert.equal(linearWorkgroups(100 * 64, 64), [100, 1, 1]);
  // 70000 groups of 64: x folded into z = 2 (kernels: wid.x + wid.z * WG_X)
  assert.equal(linearWorkgroups(70000 * 64, 64), [35000, 1, 2]);
  assert.throws(() => foldGrid(20, 20, 3), /does not fit 3 per dimension even folded/);
});

Fold('dispatchOverLimit names the step, the axis and the limit', () => {
  const step = (workgroups: [number, number, number]) => ({ label: 'conv2d head', detail: '[1,16,8,8] -> [1,25000,8,8]', workgroups }) as Step;
  assert.is(dispatchOverLimit([step([10, MAX_WORKGROUPS_PER_DIM, 1])], MAX_WORKGROUPS_PER_DIM), undefined);
  assert.is(
    dispatchOverLimit([step([1, 1, 1]), step([10, 112500, 1])], MAX_WORKGROUPS_PER_DIM),
    "conv2d head ([1,16,8,8] -> [1,25000,8,8]) needs 112500 workgroups along y, more than this device's maxComputeWorkgroupsPerDimension (65535)",
  );
});

Fold.run();

// ---

// 65537 output vec4s (262148 channels) with one vec4 per workgroup row: 65537 rows, past 65535. Tiny
// images keep it cheap: the weights are the large part (a 3x3 conv's: 38 MB).
const WIDE = 4 * (MAX_WORKGROUPS_PER_DIM + 2);
// sums of 27 (conv) or 4 (transpose) products of values in [-1, 1]: f32 rounding well below 1e-5
const ATOL = 1e-5;
const RTOL = 1e-5;

/** What a layer step binds: the uploaded input, its packed weight and bias, and the output buffer. */
function layerBuffers(device: GPUDevice, input: { buffer: GPUBuffer }, packed: { weight: Float32Array; bias: Float32Array }, out: GPUBuffer) {
  return {
    input: { buffer: input.buffer },
    weight: { buffer: weightsBuffer(device, packed.weight) },
    bias: { buffer: weightsBuffer(device, packed.bias) },
    output: { buffer: out },
  };
}

/** The step's grid fits the limit in every dimension, and the upload then the step give the CPU reference. */
async function expectFoldedReference(device: GPUDevice, input: { steps: Step[] }, step: Step, out: GPUBuffer, want: Tensor, what: string): Promise<void> {
  assert.ok(
    step.workgroups.every((n) => n <= MAX_WORKGROUPS_PER_DIM),
    `${what}: [${step.workgroups}]`,
  );
  const got = await runAndRead(device, [...input.steps, step], out, want.shape);
  assertClose(got, want.data, ATOL, RTOL, what);
}

const Wide = suite<{ device: GPUDevice }>('kernels with more than 65535 workgroup rows');
Wide.before(async (ctx) => {
  ctx.device = await testDevice();
});
Wide.after((ctx) => ctx.device.destroy());

Wide(`conv2d N=1 C=3->${WIDE} 2x3 k3 p1, tile 4px x 1c4: folded, equals the reference`, async ({ device }) => {
  const rand = rng(17);
  const x = randTensor(rand, [1, 3, 2, 3]);
  const p = { weight: randArray(rand, WIDE * 3 * 9, -0.5, 0.5), shape: [WIDE, 3, 3, 3] as [number, number, number, number], bias: randArray(rand, WIDE) };
  const want = conv2d(x, p, { padding: 1 });
  const packed = packConv2dWeights(p, 1, 1);
  const input = upload(device, x);
  const out = nhwc4Buffer(device, [1, WIDE, 2, 3]);
  const step = conv2dStep(
    device,
    {
      N: 1,
      H: 2,
      W: 3,
      cin: 3,
      cin4: 1,
      cout: WIDE,
      kH: 3,
      kW: 3,
      strideH: 1,
      strideW: 1,
      padH: 1,
      padW: 1,
      dilationH: 1,
      dilationW: 1,
      input: { c4Offset: 0, c4Stride: 1 },
      output: { c4Offset: 0, c4Stride: c4(WIDE) },
      activation: 'none',
      tilePixels: 4,
      tileC4: 1,
      workgroupSize: 64,
    },
    layerBuffers(device, input, packed, out),
  );
  // 2 rows of one 4-pixel block each: 2 invocations along x; 65537 channel rows -> 32769 x 2
  assert.equal(step.workgroups, [1, 32769, 2]);
  await expectFoldedReference(device, input, step, out, want, `conv2d 3->${WIDE}`);
});

Wide(`depthwiseConv2d N=1 C=${WIDE} 2x2 k3 p1: folded, equals the reference (groups = C)`, async ({ device }) => {
  const rand = rng(18);
  const x = randTensor(rand, [1, WIDE, 2, 2]);
  const p = { weight: randArray(rand, WIDE * 9, -0.5, 0.5), shape: [WIDE, 1, 3, 3] as [number, number, number, number], bias: randArray(rand, WIDE) };
  const want = conv2d(x, p, { padding: 1, groups: WIDE });
  const packed = packDepthwiseConv2dWeights(p);
  const input = upload(device, x);
  const out = nhwc4Buffer(device, [1, WIDE, 2, 2]);
  const step = depthwiseConv2dStep(
    device,
    {
      N: 1,
      H: 2,
      W: 2,
      channels: WIDE,
      kH: 3,
      kW: 3,
      strideH: 1,
      strideW: 1,
      padH: 1,
      padW: 1,
      input: { c4Offset: 0, c4Stride: c4(WIDE) },
      output: { c4Offset: 0, c4Stride: c4(WIDE) },
      activation: 'none',
      tilePixels: 2,
      workgroupSize: 64,
    },
    layerBuffers(device, input, packed, out),
  );
  await expectFoldedReference(device, input, step, out, want, `depthwise ${WIDE}`);
});

Wide(`convTranspose2x2 N=1 C=4->${WIDE} 1x2, tile 2px x 1c4: folded, equals the reference`, async ({ device }) => {
  const rand = rng(19);
  const x = randTensor(rand, [1, 4, 1, 2]);
  const p = { weight: randArray(rand, 4 * WIDE * 4, -0.5, 0.5), shape: [4, WIDE, 2, 2] as [number, number, number, number], bias: randArray(rand, WIDE) };
  const want = convTranspose2x2(x, p);
  const packed = packConvTranspose2x2Weights(p, 1, 1);
  const input = upload(device, x);
  const out = nhwc4Buffer(device, [1, WIDE, 2, 4]);
  const step = convTranspose2x2Step(
    device,
    {
      N: 1,
      H: 1,
      W: 2,
      cin: 4,
      cin4: 1,
      cout: WIDE,
      input: { c4Offset: 0, c4Stride: 1 },
      output: { c4Offset: 0, c4Stride: c4(WIDE) },
      tilePixels: 2,
      tileC4: 1,
      workgroupSize: 64,
    },
    layerBuffers(device, input, packed, out),
  );
  await expectFoldedReference(device, input, step, out, want, `convTranspose2x2 4->${WIDE}`);
});

Wide.run();

// ---

// End to end: a bare smp resnet18 state_dict whose head has 29200 classes. Its Winograd F(4x4) GEMM has
// 36 x 7300 / tileC4 channel blocks, 65700 with the default tile of 4 vec4s: past the limit, where WebGPU
// used to reject the submission and the run returned zeros. The head's classes are independent, so its
// first and last 4 classes must equal those of the same network with an 8-class head made of those rows.
const BARE = 'test/fixtures/smp/bare_r18_d4_scse.safetensors';
const CLASSES = 29200;

/** The bare state_dict with its head replaced by `rows` of a seeded CLASSES-class head. */
function withHead(rows: number[]): Uint8Array {
  const st = parseSafetensors(readFileSync(BARE), BARE);
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, t] of st.tensors)
    if (!name.startsWith('segmentation_head.0.') && t.dtype !== 'I64') tensors[name] = { shape: [...t.shape], data: st.getF32(name) };
  const cin = st.tensors.get('segmentation_head.0.weight')!.shape[1];
  const weight = new Float32Array(rows.length * cin * 9);
  const bias = new Float32Array(rows.length);
  rows.forEach((r, i) => {
    weight.set(randArray(rng(r + 1), cin * 9, -0.1, 0.1), i * cin * 9);
    bias[i] = randArray(rng(-r - 1), 1, -0.1, 0.1)[0];
  });
  tensors['segmentation_head.0.weight'] = { shape: [rows.length, cin, 3, 3], data: weight };
  tensors['segmentation_head.0.bias'] = { shape: [rows.length], data: bias };
  return writeSafetensors(tensors);
}

const Wide2 = suite<{ device: GPUDevice }>('a model whose head needs more than 65535 workgroup rows');
Wide2.before(async (ctx) => {
  ctx.device = await testDevice();
});
Wide2.after((ctx) => ctx.device.destroy());

Wide2(`bare smp resnet18, ${CLASSES} classes, [1,2,16,16]: runs, and its first / last 4 classes equal an 8-class head's`, async ({ device }) => {
  if (!existsSync(BARE)) return skip(`${BARE} is missing: run \`bash scripts/smp-weights.sh\``);
  const x = { data: randArray(rng(5), 2 * 16 * 16), shape: [1, 2, 16, 16] };
  const wide = await loadModel(device, withHead(Array.from({ length: CLASSES }, (_, i) => i)));
  const folded = wide.plan(x.shape).steps.filter((s) => s.workgroups[2] > 1 && s.workgroups[1] > 1);
  if (!folded.length) {
    wide.dispose();
    return skip(`this adapter's tuning gives the ${CLASSES}-class head no grid past ${MAX_WORKGROUPS_PER_DIM} rows`);
  }
  const y = await wide.run(x);
  wide.dispose();
  const ends = [0, 1, 2, 3, CLASSES - 4, CLASSES - 3, CLASSES - 2, CLASSES - 1];
  const narrow = await loadModel(device, withHead(ends));
  const want = (await narrow.run(x)).data;
  narrow.dispose();
  const got = new Float32Array(want.length);
  ends.forEach((c, i) => got.set(y.data.subarray(c * 256, (c + 1) * 256), i * 256));
  // the same sums, possibly by another kernel (the narrow head may not use Winograd F(4x4)): f32 rounding
  assertClose(got, want, 1e-4, 1e-4, `${folded[0].label} [${folded[0].workgroups}]`);
});

Wide2.run();
