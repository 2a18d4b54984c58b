// Winograd F(2x2,3x3) convs (src/kernels/winograd.ts) against the CPU reference conv, run through the
// registry and compilePlan as a model runs them: odd sizes, batch 2, per-side padding, output channels
// that are not a multiple of 4, a fused residual, a concatenated input with vec4 gaps, several bands of
// tile rows, both ways of loading the GEMM's weights, and f16 storage. Also the filter transform itself
// against a direct 1-D check, and the scratch accounting of the memory plan.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GraphBuilder, type Shape } from '../../src/ir/graph.js';
import { optimize } from '../../src/compiler/passes/index.js';
import { memoryPlanOf } from '../../src/compiler/plan.js';
import { type ConvAlgo, type ConvTile, type Tuning, fixedSubgroupSize, tuningFor } from '../../src/compiler/tuning.js';
import { adapterOf } from '../../src/gpu/device.js';
import { conv2d } from '../../src/kernels/reference/conv2d.js';
import { concat } from '../../src/kernels/reference/concat.js';
import { add } from '../../src/kernels/reference/add.js';
import type { Tensor } from '../../src/kernels/reference/tensor.js';
import { skip } from '../skip.js';
import { WINOGRAD_SCRATCH_BYTES, setWinogradScratchBytes, winogradFilters, winogradLayout } from '../../src/kernels/winograd.js';
import type { ConvParams } from '../../src/ir/params.js';
import { assertClose, randArray, randTensor, rng, testDevice } from '../helpers.js';
import { runGraph } from '../ops/runGraph.js';
import { WINOGRAD4_MAX_LAYERS, fitWinograd, winogradLayers } from '../../src/compiler/tune.js';

const ATOL = 3e-5;
const RTOL = 3e-5;

const T = suite<{ device: GPUDevice; tunings: [string, Tuning][] }>('winograd conv');
T.before(async (ctx) => {
  ctx.device = await testDevice();
  const base = tuningFor(ctx.device, adapterOf(ctx.device));
  const win = (algo: ConvAlgo, c: Partial<ConvTile>): Tuning => ({
    ...base,
    conv2d: { tilePixels: 2, tileC4: 2, workgroupSize: 64, weights: 'load', ...c, algo },
  });
  ctx.tunings = [];
  const size = fixedSubgroupSize(ctx.device, adapterOf(ctx.device));
  for (const algo of ['winograd2', 'winograd4'] as const) {
    ctx.tunings.push([`${algo} load 2x2`, win(algo, {})], [`${algo} load 4x4`, win(algo, { tilePixels: 4, tileC4: 4 })]);
    if (size) ctx.tunings.push([`${algo} subgroup/${size} 2x4`, win(algo, { tileC4: 4, weights: 'subgroup', subgroupSize: size })]);
  }
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
  for (let nc = 0; nc < N * C; nc++)
    for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) data[(nc * HP + y + t) * WP + xx + l] = x.data[(nc * H + y) * W + xx];
  return { data, shape: [N, C, HP, WP] };
}

const one = (C: number, build: (b: GraphBuilder, x: number) => number) => {
  const b = new GraphBuilder();
  const x = b.value('input', C);
  return b.finish(x, build(b, x));
};

T('filter transforms: G g G^T match their definition on a known filter', () => {
  // g = outer([1,2,3], [1,0,-1]); G [1,2,3] = [1, 3, 1, 3] and G [1,0,-1] = [1, 0, 0, -1]
  const w = new Float32Array([1, 0, -1, 2, 0, -2, 3, 0, -3]);
  const u = winogradFilters({ weight: w, shape: [1, 1, 3, 3] });
  const a = [1, 3, 1, 3];
  const b = [1, 0, 0, -1];
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) assert.is(u[4 * i + j], a[i] * b[j], `U[${i}][${j}]`);
  // F(4,3): G [1,2,3] = [1/4, -1, -1/3, 17/24, 3/8, 3] and G [1,0,-1] = [1/4, 0, 0, -1/8, -1/8, -1]
  const u4 = winogradFilters({ weight: w, shape: [1, 1, 3, 3] }, 4);
  const a4 = [1 / 4, -1, -1 / 3, 17 / 24, 3 / 8, 3];
  const b4 = [1 / 4, 0, 0, -1 / 8, -1 / 8, -1];
  for (let i = 0; i < 6; i++)
    for (let j = 0; j < 6; j++) assert.ok(Math.abs(u4[6 * i + j] - a4[i] * b4[j]) < 1e-12, `U4[${i}][${j}] ${u4[6 * i + j]} vs ${a4[i] * b4[j]}`);
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
  const old = setWinogradScratchBytes(4 * 2 ** 20);
  try {
    const shape: [number, number, number, number] = [1, 64, 96, 200];
    const L = winogradLayout({ m: 2, N: 1, H: 96, W: 200, cin4: 16, cout: 32, padding: [1, 1, 1, 1] }, 16);
    assert.ok(L.bands >= 3, `${L.bands} bands`);
    assert.ok(L.vBytes <= 4 * 2 ** 20 && L.mBytes <= 4 * 2 ** 20);
    const rand = rng(9);
    const x = randTensor(rand, shape);
    const p = params(rand, 32, 64);
    const g = one(64, (b, v) => b.conv2d('conv', v, p, { padding: 1 }));
    const want = conv2d(x, p, { padding: 1 });
    const [name, t] = tunings[0];
    assertClose(await runGraph(device, g, x.data, x.shape, false, t), want.data, 1e-4, 1e-4, name);
    const [name4, t4] = tunings[tunings.length - 1];
    assertClose(await runGraph(device, g, x.data, x.shape, false, t4), want.data, 1e-4, 1e-4, name4);
    // the plan's arena holds the scratch of one band: V and M regions after the activations
    const { memory } = memoryPlanOf(optimize(g), shape, 256, false, t);
    assert.ok(memory.scratchBytes >= L.vBytes + L.mBytes && memory.scratchBytes < L.vBytes + L.mBytes + 1024, `scratch ${memory.scratchBytes}`);
    const plain = memoryPlanOf(optimize(g), shape, 256, false);
    assert.is(plain.memory.scratchBytes, 0);
  } finally {
    setWinogradScratchBytes(old);
  }
  assert.is(winogradLayout({ m: 2, N: 1, H: 96, W: 200, cin4: 16, cout: 32, padding: [1, 1, 1, 1] }, 16).vBytes <= WINOGRAD_SCRATCH_BYTES, true);
});

T('bands that start and end inside an image of a batch of 3', async ({ device, tunings }) => {
  const old = setWinogradScratchBytes(2 ** 20);
  try {
    const shape: [number, number, number, number] = [3, 32, 40, 40];
    for (const m of [2, 4] as const) {
      const L = winogradLayout({ m, N: 3, H: 40, W: 40, cin4: 8, cout: 32, padding: [1, 1, 1, 1] }, 16);
      assert.ok(L.bands >= 2 && L.bandRows % L.TH !== 0, `F(${m}): ${L.bands} bands of ${L.bandRows} rows, ${L.TH} per image`);
    }
    const rand = rng(21);
    const x = randTensor(rand, shape);
    const p = params(rand, 32, 32);
    const g = one(32, (b, v) => b.relu('relu', b.conv2d('conv', v, p, { padding: 1 })));
    const want = conv2d(x, p, { padding: 1, activation: 'relu' });
    for (const [name, t] of tunings) assertClose(await runGraph(device, g, x.data, x.shape, false, t), want.data, ATOL, RTOL, name);
  } finally {
    setWinogradScratchBytes(old);
  }
});

T('f16 models run direct under a winograd tuning (f16 V and M would cost accuracy), with the direct error', async ({ device, tunings }) => {
  if (!device.features.has('shader-f16')) return skip('f16 under a winograd tuning: the adapter has no shader-f16');
  const rand = rng(13);
  const x = randTensor(rand, [1, 32, 17, 15]);
  const p = params(rand, 32, 32);
  const g = one(32, (b, v) => b.relu('relu', b.conv2d('conv', v, p, { padding: 1 })));
  const want = conv2d(x, p, { padding: 1, activation: 'relu' });
  const direct = await runGraph(device, g, x.data, x.shape, true, tuningFor(device, adapterOf(device)));
  assertClose(direct, want.data, 1e-2, 1e-2, 'f16 direct');
  for (const [name, t] of tunings) {
    const same = await runGraph(device, g, x.data, x.shape, true, { ...t, conv2d: { ...t.conv2d, algo: 'direct' } });
    assert.equal(await runGraph(device, g, x.data, x.shape, true, t), same, name);
    assert.is(memoryPlanOf(optimize(g), x.shape, 256, true, t).memory.scratchBytes, 0);
  }
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

T('F(4x4,3x3) gives way to F(2x2,3x3) in models with more than WINOGRAD4_MAX_LAYERS Winograd convs', ({ tunings }) => {
  const chain = (n: number) => {
    const b = new GraphBuilder();
    let v = b.value('input', 8);
    const p = params(rng(3), 8, 8);
    for (let i = 0; i < n; i++) v = b.conv2d(`c${i}`, v, p, { padding: 1 });
    // a strided conv and a 1x1 do not count
    return b.finish(0, b.conv2d('s', b.conv2d('one', v, params(rng(4), 8, 8, 1)), p, { stride: 2 }));
  };
  const t4 = tunings.find(([n]) => n.startsWith('winograd4'))![1];
  assert.is(winogradLayers(chain(WINOGRAD4_MAX_LAYERS)), WINOGRAD4_MAX_LAYERS);
  assert.is(fitWinograd(t4, chain(WINOGRAD4_MAX_LAYERS)), t4);
  const fitted = fitWinograd({ ...t4, layers: { k: t4.conv2d } }, chain(WINOGRAD4_MAX_LAYERS + 1));
  assert.is(fitted.conv2d.algo, 'winograd2');
  assert.is(fitted.layers!.k.algo, 'winograd2');
});

T.run();
