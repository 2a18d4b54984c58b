// The compiled-plan cache is bounded in bytes (LoadOptions.planCacheBytes): running one model at many
// input sizes used to keep every size's plan (2.4 GB for 30 images of 400^2 to 1096^2, still climbing).
// Least recently used plans are evicted and their buffers destroyed; the plan about to run is always kept.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { InputError } from '../../src/errors.js';
import { loadModel } from '../../src/load.js';
import { defaultPlanCacheBytes } from '../../src/model.js';
import { randomUNetSafetensors } from '../../src/arch/random.js';
import { rng, randArray, testDevice } from '../helpers.js';

const WEIGHTS = randomUNetSafetensors({ features: 4, depth: 2, seed: 3 });
// 12 sizes, none repeated, then the first ones again (compiled anew after their eviction)
const SIDES = [16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60, 16, 20];
const input = (side: number) => ({ data: randArray(rng(side), 3 * side * side), shape: [1, 3, side, side] });

const Cache = suite<{ device: GPUDevice; want: Map<number, Float32Array> }>('plan cache');
Cache.before(async (ctx) => {
  ctx.device = await testDevice();
  // reference outputs from a model with the default (large) bound
  const model = await loadModel(ctx.device, WEIGHTS);
  ctx.want = new Map();
  for (const side of new Set(SIDES)) ctx.want.set(side, (await model.run(input(side))).data);
  assert.is(model.gpuMemory().evictions, 0, 'nothing evicted under the default bound');
  model.dispose();
});
Cache.after((ctx) => ctx.device.destroy());

Cache(
  `${SIDES.length} runs at ${new Set(SIDES).size} sizes under a bound of about three plans: held bytes stay within it, outputs unchanged`,
  async ({ device, want }) => {
    const probe = await loadModel(device, WEIGHTS);
    const bound = 3 * probe.estimate([1, 3, 40, 40]).totalBytes;
    probe.dispose();
    const model = await loadModel(device, WEIGHTS, { planCacheBytes: bound });
    let drops = 0;
    let before = 0;
    for (const side of SIDES) {
      const y = await model.run(input(side));
      assert.equal(y.data, want.get(side), `${side}x${side}: same output as without a bound`);
      const m = model.gpuMemory();
      assert.ok(m.planBytes <= bound || m.plans === 1, `${side}x${side}: ${m.planBytes} bytes in ${m.plans} plans, bound ${bound}`);
      if (m.planBytes < before) drops++;
      before = m.planBytes;
    }
    const m = model.gpuMemory();
    assert.ok(m.evictions >= SIDES.length - 3, `${m.evictions} evictions`);
    assert.ok(drops > 0, 'planBytes dropped at least once');
    assert.equal(model.info.planCache, { maxBytes: bound, plans: m.plans, bytes: m.planBytes, evictions: m.evictions });
    assert.is(m.planCacheBytes, bound);
    model.dispose();
  },
);

Cache('a bound smaller than one plan keeps just the plan about to run', async ({ device, want }) => {
  const model = await loadModel(device, WEIGHTS, { planCacheBytes: 1 });
  for (const side of [24, 32, 24]) {
    assert.equal((await model.run(input(side))).data, want.get(side), `${side}x${side}`);
    assert.is(model.gpuMemory().plans, 1);
  }
  assert.is(model.gpuMemory().evictions, 2);
  model.dispose();
});

Cache('a plan from model.plan() is freed on eviction: using it then is a typed error', async ({ device }) => {
  const model = await loadModel(device, WEIGHTS, { planCacheBytes: 1 });
  const plan = model.plan([1, 3, 16, 16]);
  model.plan([1, 3, 20, 20]);
  assert.throws(
    () => plan.upload(new Float32Array(3 * 16 * 16)),
    (e: Error & { code?: string }) => e.code === 'DISPOSED' && /evicted from its plan cache/.test(e.message),
  );
  model.dispose();
});

Cache('default bound: 4 x maxStorageBufferBindingSize, at most maxBufferSize; a bad value is an InputError', async ({ device }) => {
  assert.is(defaultPlanCacheBytes({ maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 2 ** 32 - 1 }), 512 * 2 ** 20);
  assert.is(defaultPlanCacheBytes({ maxStorageBufferBindingSize: 2 ** 31, maxBufferSize: 2 ** 32 }), 2 ** 32);
  const model = await loadModel(device, WEIGHTS);
  assert.is(model.info.planCache?.maxBytes, defaultPlanCacheBytes(device.limits));
  model.dispose();
  for (const bad of [-1, Number.NaN, '1GB']) {
    try {
      await loadModel(device, WEIGHTS, { planCacheBytes: bad as number });
      assert.unreachable(`planCacheBytes ${String(bad)} accepted`);
    } catch (e) {
      assert.instance(e, InputError);
      assert.match((e as Error).message, /^planCacheBytes must be a number of bytes >= 0, found /);
    }
  }
});

Cache.run();
