// Winograd F(2x2,3x3) convs (src/kernels/winograd.ts) against the CPU reference conv, run through the
// registry and compilePlan as a model runs them: odd sizes, batch 2, per-side padding, output channels
// that are not a multiple of 4, a fused residual, a concatenated input with vec4 gaps, several bands of
// tile rows, both ways of loading the GEMM's weights, and f16 storage. Also the filter transform itself
// against a direct 1-D check, and the scratch accounting of the memory plan.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GraphBuilder, type Shape } from '../../src/graph/ir.js';
import { optimize } from '../../src/graph/passes/index.js';
import { memoryPlanOf } from '../../src/graph/plan.js';
import { type ConvTile, type Tuning, fixedSubgroupSize, tuningFor } from '../../src/graph/tuning.js';
import { adapterOf } from '../../src/gpu/device.js';
import { conv2d } from '../../src/kernels/reference/conv2d.js';
import { concat } from '../../src/kernels/reference/concat.js';
import { add } from '../../src/kernels/reference/add.js';
import type { Tensor } from '../../src/kernels/reference/tensor.js';
import { WINOGRAD_SCRATCH_BYTES, winogradFilters, winogradLayout } from '../../src/kernels/winograd.js';
import type { ConvParams } from '../../src/params.js';
import { assertClose, randArray, randTensor, rng, testDevice } from '../helpers.js';
import { runGraph } from '../ops/runGraph.js';

const ATOL = 3e-5;
const RTOL = 3e-5;

const T = suite<{ device: GPUDevice; tunings: [string, Tuning][] }>('winograd conv');
T.before(async (ctx) => {
  ctx.device = await testDevice();
  const base = tuningFor(ctx.device, adapterOf(ctx.device));
  const win = (c: Partial<ConvTile>): Tuning => ({ ...base, conv2d: { tilePixels: 2, tileC4: 2, workgroupSize: 64, weights: 'load', ...c, algo: 'winograd' } });
  ctx.tunings = [['load 2x2', win({})], ['load 4x4', win({ tilePixels: 4, tileC4: 4 })]];
  const size = fixedSubgroupSize(ctx.device, adapterOf(ctx.device));
  if (size) ctx.tunings.push([`subgroup/${size} 2x4`, win({ tileC4: 4, weights: 'subgroup', subgroupSize: size })]);
});
T.after((ctx) => ctx.device.destroy());

const params = (rand: () => number, cout: number, cin: number, k = 3): ConvParams => ({
  weight: randArray(rand, cout * cin * k * k, -0.3, 0.3),
  shape: [cout, cin, k, k],
  bias: randArray(rand, cout),
});

/** Zero padding per side [top, bottom, left, right], for references of asymmetric padding. */
function pad(x: Tensor, [t, b, l, r]: readonly number[]): Tensor {
  const [N, C, H, W] = x.shape;
  const [HP, WP] = [H + t + b, W + l + r];
  const data = new Float32Array(N * C * HP * WP);
  for (let nc = 0; nc < N * C; nc++) for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) data[(nc * HP + y + t) * WP + xx + l] = x.data[(nc * H + y) * W + xx];
  return { data, shape: [N, C, HP, WP] };
}

const one = (C: number, build: (b: GraphBuilder, x: number) => number) => {
  const b = new GraphBuilder();
  const x = b.value('input', C);
  return b.finish(x, build(b, x));
};

T('filter transform: G g G^T matches its definition on a known filter', () => {
  // g = outer([1,2,3], [1,0,-1]); G [1,2,3] = [1, 3, 1, 3] and G [1,0,-1] = [1, 0, 0, -1]
  const w = new Float32Array([1, 0, -1, 2, 0, -2, 3, 0, -3]);
  const u = winogradFilters({ weight: w, shape: [1, 1, 3, 3] });
  const a = [1, 3, 1, 3];
  const b = [1, 0, 0, -1];
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) assert.is(u[4 * i + j], a[i] * b[j], `U[${i}][${j}]`);
});

for (const [shape, cout, padding, act] of [
  [[2, 20, 13, 11], 12, [1, 1, 1, 1], 'relu'],
  [[1, 9, 8, 8], 6, [1, 1, 1, 1], 'none'],
  [[1, 16, 10, 7], 16, [0, 2, 1, 0], 'sigmoid'],
  [[1, 12, 5, 9], 3, [0, 0, 0, 0], 'none'],
] as const) {
  T(`[${shape}] -> ${cout}, padding [${padding}], ${act}`, async ({ device, tunings }) => {
    const rand = rng(shape[1] * 7 + cout);
    const x = randTensor(rand, [...shape] as Shape as [number, number, number, number]);
    const p = params(rand, cout, shape[1]);
    const g = one(shape[1], (b, v) => {
      const y = b.conv2d('conv', v, p, { padding: [...padding] as [number, number, number, number] });
      return act === 'none' ? y : b.activation('act', y, act);
    });
    const want = conv2d(pad(x, padding), p, { activation: act });
    for (const [name, t] of tunings) assertClose(await runGraph(device, g, x.data, x.shape, false, t), want.data, ATOL, RTOL, name);
  });
}

T('fused residual + relu, and an input that is a concat with vec4 gaps', async ({ device, tunings }) => {
  const rand = rng(5);
  const x = randTensor(rand, [2, 8, 9, 12]);
  const pa = params(rand, 6, 8, 1);
  const pb = params(rand, 10, 8, 1);
  const pc = params(rand, 16, 16);
  const pr = params(rand, 16, 16);
  const g = one(8, (b, v) => {
    const cat = b.concat('cat', [b.conv2d('a', v, pa), b.conv2d('b', v, pb)]);
    const c = b.conv2d('c', cat, pc, { padding: 1 });
    return b.add2('res', b.conv2d('r', c, pr, { padding: 1 }), c, 'relu');
  });
  const cat = concat(conv2d(x, pa), conv2d(x, pb));
  const c = conv2d(cat, pc, { padding: 1 });
  const want = add(conv2d(c, pr, { padding: 1 }), c, 'relu');
  for (const [name, t] of tunings) assertClose(await runGraph(device, g, x.data, x.shape, false, t), want.data, ATOL, RTOL, name);
});

T('several bands of tile rows', async ({ device, tunings }) => {
  const shape: [number, number, number, number] = [1, 64, 96, 200];
  const L = winogradLayout({ N: 1, H: 96, W: 200, cin4: 16, cout: 32, padding: [1, 1, 1, 1] }, 16);
  assert.ok(L.bands >= 3, `${L.bands} bands`);
  assert.ok(L.vBytes <= WINOGRAD_SCRATCH_BYTES && L.mBytes <= WINOGRAD_SCRATCH_BYTES);
  const rand = rng(9);
  const x = randTensor(rand, shape);
  const p = params(rand, 32, 64);
  const g = one(64, (b, v) => b.conv2d('conv', v, p, { padding: 1 }));
  const want = conv2d(x, p, { padding: 1 });
  const [name, t] = tunings[tunings.length - 1];
  assertClose(await runGraph(device, g, x.data, x.shape, false, t), want.data, 1e-4, 1e-4, name);
  // the plan's arena holds the scratch of one band: V and M regions after the activations
  const { memory } = memoryPlanOf(optimize(g), shape, 256, false, t);
  assert.ok(memory.scratchBytes >= L.vBytes + L.mBytes && memory.scratchBytes < L.vBytes + L.mBytes + 1024, `scratch ${memory.scratchBytes}`);
  const plain = memoryPlanOf(optimize(g), shape, 256, false);
  assert.is(plain.memory.scratchBytes, 0);
});

T('f16 storage', async ({ device, tunings }) => {
  if (!device.features.has('shader-f16')) return;
  const rand = rng(13);
  const x = randTensor(rand, [1, 32, 17, 15]);
  const p = params(rand, 32, 32);
  const g = one(32, (b, v) => b.relu('relu', b.conv2d('conv', v, p, { padding: 1 })));
  const want = conv2d(x, p, { padding: 1, activation: 'relu' });
  // f16 activations, weights and transforms: values here are O(1), so ~2^-11 relative per rounding
  for (const [name, t] of tunings) assertClose(await runGraph(device, g, x.data, x.shape, true, t), want.data, 2e-2, 1e-2, `f16 ${name}`);
});

T('convs Winograd does not apply to (strided, 1x1, grouped, few input channels) run direct under a winograd tuning', async ({ device, tunings }) => {
  const rand = rng(17);
  const x = randTensor(rand, [1, 4, 11, 10]);
  const p1 = params(rand, 16, 4);
  const p2 = params(rand, 16, 16);
  const p3 = params(rand, 8, 16, 1);
  const g = one(4, (b, v) => b.conv2d('c3', b.conv2d('c2', b.conv2d('c1', v, p1, { padding: 1 }), p2, { padding: 1, stride: 2 }), p3));
  const want = conv2d(conv2d(conv2d(x, p1, { padding: 1 }), p2, { padding: 1, stride: 2 }), p3);
  for (const [name, t] of tunings) assertClose(await runGraph(device, g, x.data, x.shape, false, t), want.data, ATOL, RTOL, name);
  assert.is(memoryPlanOf(optimize(g), x.shape, 256, false, tunings[0][1]).memory.scratchBytes, 0);
});

T.run();
