// `unet info --weights W --size HxW`: the way an input of that size runs and why (issue 21), the same answer
// model.runPath gives in the library; a bad --size is one usage line.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadModel } from '../../src/load.js';
import { testDevice } from '../helpers.js';
import { assertOneLineError, unet } from '../cliRun.js';

const test = suite('cli: info --size');
const DEMO = 'assets/demo/nuclei_unet.safetensors';

test('text and JSON name the path run() takes, as model.runPath does', async () => {
  const device = await testDevice();
  const model = await loadModel(device, DEMO);
  try {
    for (const size of ['64x64', '4096x4096']) {
      const [h, w] = size.split('x').map(Number);
      const want = model.runPath([1, model.info.inChannels, h, w]);
      const r = unet('info', '--weights', DEMO, '--size', size);
      assert.is(r.code, 0, r.stderr);
      const line = r.stdout.split('\n').find((l) => l.startsWith('run path at '));
      assert.is(line, `run path at [1,${model.info.inChannels},${h},${w}]: ${want.path} (${want.why})`);
      const j = JSON.parse(unet('info', '--weights', DEMO, '--size', size, '--json').stdout);
      assert.equal(j.runPath, { shape: [1, model.info.inChannels, h, w], path: want.path, why: want.why, gpuBytes: want.estimate.totalBytes });
    }
    // 64^2 fits any binding limit; 4096^2's 4-channel maps (268 MB) pass llvmpipe's 128 MiB and run in bands
    assert.is(model.runPath([1, 1, 64, 64]).path, 'one pass');
    if (device.limits.maxStorageBufferBindingSize < 2 ** 28) assert.is(model.runPath([1, 1, 4096, 4096]).path, 'bands');
  } finally {
    model.dispose();
  }
});

test('a bad --size, or --size without --weights, is one usage line', () => {
  assertOneLineError(unet('info', '--weights', DEMO, '--size', '64'), /^unet: info: --size is "64", expected HxW or DxHxW of positive integers/, 2);
  assertOneLineError(unet('info', '--size', '64x64'), /^unet: info: --size goes with --weights$/, 2);
});

test.run();
