// `unet tune`'s machinery: measuring candidates per layer, the cache round trip, and loadModel picking
// the measured tuning up, with results still equal to PyTorch's.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adapterOf } from '../../src/gpu/device.js';
import { cachedTuning, storeTuning, tuneGraph } from '../../src/compiler/tune.js';
import { type ConvTile, type TunedKernel, candidates, describeTile, tuningFor } from '../../src/compiler/tuning.js';
import { architectureKey, loadModel } from '../../src/load.js';
import { parseSafetensors } from '../../src/weights/safetensors.js';
import { testDevice } from '../helpers.js';

const Tune = suite<{ device: GPUDevice; dir: string }>('tune');
Tune.before(async (ctx) => {
  ctx.device = await testDevice();
  ctx.dir = mkdtempSync(join(tmpdir(), 'unet-tune-'));
  process.env.WEBGPU_UNET_CACHE = ctx.dir;
});
Tune.after((ctx) => {
  ctx.device.destroy();
  rmSync(ctx.dir, { recursive: true, force: true });
  delete process.env.WEBGPU_UNET_CACHE;
});

Tune('tuneGraph times each candidate per layer, stores the result, and loadModel uses it (b2_rgb, 32x32)', async ({ device }) => {
  const weights = 'test/fixtures/b2_rgb.weights.safetensors';
  const adapter = adapterOf(device);
  const base = tuningFor(device, adapter);
  const model = await loadModel(device, weights, { tuning: base });
  // two candidates per kernel keep this quick; tests/kernels run every candidate for correctness
  const few = (kernel: TunedKernel, s?: number): ConvTile[] => candidates(kernel, s).slice(0, 2);
  const r = await tuneGraph(device, adapter, model.graph, [1, 3, 32, 32], base, 1, undefined, few);
  // b2_rgb (init_features 4): 15 distinct conv2d layer keys and 4 conv_transpose2d ones
  assert.is(r.layers.filter((l) => l.kernel === 'conv2d').length, 15);
  assert.is(r.layers.filter((l) => l.kernel === 'convTranspose2x2').length, 4);
  for (const l of r.layers) {
    assert.is(l.ms.length, 2, l.key);
    assert.ok(
      l.ms.every((ms) => ms > 0),
      `${l.key}: times ${l.ms}`,
    );
    assert.is(l.bestMs, Math.min(...l.ms));
    // what the layer runs as with its best candidate (src/ops/convVariant.ts): the two candidates here are
    // tiled ones (8 x 32 and 8 x 16 vec4s), their tiles cut to the layers (b2_rgb has at most 64 output channels)
    if (l.kernel === 'conv2d') assert.match(l.variant, /^tiled load 8px x (1|2|4|8|16)c4 wg64$/, `${l.key}: ${l.variant}`);
    else assert.is(l.variant, describeTile(l.best), l.key);
  }
  const arch = architectureKey(model.info);
  const where = await storeTuning(adapter, arch, r.tuning);
  assert.ok(where?.startsWith(process.env.WEBGPU_UNET_CACHE!), `stored in ${where}`);
  assert.equal(await cachedTuning(adapter, arch), r.tuning);
  assert.is(await cachedTuning(adapter, 'unet in1 out1 f4 d4'), undefined, 'another architecture has no entry');
  model.dispose();

  const tuned = await loadModel(device, weights);
  assert.is(tuned.info.tuning, 'measured');
  const io = parseSafetensors(readFileSync('test/fixtures/b2_rgb.io.safetensors'));
  const y = await tuned.run({ data: io.getF32('input'), shape: io.tensors.get('input')!.shape });
  const want = io.getF32('output');
  const maxAbs = y.data.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0);
  assert.ok(maxAbs <= 2e-5, `tuned model: max |diff| ${maxAbs}`);
  tuned.dispose();
  // f16 models are tuned in f16 (`unet tune --precision f16`): an f32 tuning is not theirs
  if (device.features.has('shader-f16')) {
    const half = await loadModel(device, weights, { precision: 'f16' });
    assert.is(half.info.tuning, 'default');
    half.dispose();
  }
});

Tune.run();
