// Typed errors: every refusal is a UnetError whose `code` an app can switch on (INPUT, WEIGHTS,
// UNSUPPORTED, DEVICE_LOST, ABORT); the older classes are subclasses, and their messages did not change.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  AbortError,
  DeviceLostError,
  ImageError,
  InputError,
  LimitError,
  NoAdapterError,
  SafetensorsError,
  UnetError,
  UnsupportedError,
  WeightsError,
  getDevice,
  loadModel,
} from '../src/node.js';
import { ChannelError } from '../src/io/preprocess.js';
import { NiftiError } from '../src/io/nifti.js';
import { CheckpointError } from '../src/weights/checkpoint.js';
import { PickleError } from '../src/weights/pickle.js';
import { closest } from '../src/errors.js';
import { rejectsWith } from './helpers.js';

const DEMO = 'assets/demo/nuclei_unet.safetensors';

const Classes = suite('errors: classes and codes');

Classes('each class has its code and name, and the older classes are their subclasses', () => {
  const cases: [Error & { code: string }, string, string, new (...a: never[]) => UnetError][] = [
    [new InputError('x'), 'INPUT', 'InputError', InputError],
    [new WeightsError('x'), 'WEIGHTS', 'WeightsError', WeightsError],
    [new UnsupportedError('x'), 'UNSUPPORTED', 'UnsupportedError', UnsupportedError],
    [new DeviceLostError('x'), 'DEVICE_LOST', 'DeviceLostError', DeviceLostError],
    [new AbortError(), 'ABORT', 'AbortError', AbortError],
    [new ImageError('x'), 'INPUT', 'ImageError', InputError],
    [new ChannelError('x'), 'INPUT', 'ChannelError', InputError],
    [new NiftiError('x'), 'INPUT', 'NiftiError', InputError],
    [new LimitError('x', 'maxPixels'), 'INPUT', 'LimitError', InputError],
    [new SafetensorsError('x'), 'WEIGHTS', 'SafetensorsError', WeightsError],
    [new PickleError('x'), 'WEIGHTS', 'PickleError', WeightsError],
    [new CheckpointError('x'), 'WEIGHTS', 'CheckpointError', WeightsError],
    [new NoAdapterError('x'), 'UNSUPPORTED', 'NoAdapterError', UnsupportedError],
  ];
  for (const [e, code, name, base] of cases) {
    assert.ok(e instanceof UnetError && e instanceof base && e instanceof Error, name);
    assert.is(e.code, code, name);
    assert.is(e.name, name);
    assert.is(e.message, name === 'AbortError' ? 'aborted' : 'x');
  }
  assert.is(closest('precison', ['precision', 'pad']), 'precision');
});

Classes.run();

// ---

const Load = suite<{ device: GPUDevice }>('errors: from loadModel and run');
Load.before(async (ctx) => {
  ctx.device = await getDevice();
});
Load.after((ctx) => ctx.device.destroy());

Load('unknown loadModel options are refused (UNSUPPORTED), naming the option and the nearest known one', async ({ device }) => {
  await rejectsWith(
    loadModel(device, DEMO, { precison: 'f16' } as object),
    (e) =>
      e instanceof UnsupportedError &&
      e.message ===
        'loadModel: unknown option "precison"; did you mean precision? (known: tuning, pad, precision, activation, limits, signal, onProgress, planCacheBytes, maxBindingBytes, nnunet)',
    'precison',
  );
  await rejectsWith(
    loadModel(device, DEMO, { xyz: 1 } as object),
    (e) => e.code === 'UNSUPPORTED' && /^loadModel: unknown option "xyz" \(known:/.test(e.message),
    'xyz',
  );
  await rejectsWith(
    loadModel(device, DEMO, 'f16' as unknown as object),
    (e) => e.code === 'INPUT' && /options must be an object, found string/.test(e.message),
    'a string',
  );
  await rejectsWith(
    loadModel(device, DEMO, { precision: 'f8' as 'f16' }),
    (e) => e.code === 'INPUT' && /precision must be 'f32' or 'f16', found "f8"/.test(e.message),
    'f8',
  );
  await rejectsWith(loadModel(device, DEMO, { pad: 'edge' as 'zero' }), (e) => e.code === 'INPUT' && /pad must be 'reflect' or 'zero'/.test(e.message), 'pad');
});

Load('bad weights are WEIGHTS (the file named), unsupported models UNSUPPORTED, the messages as before', async ({ device }) => {
  await rejectsWith(
    loadModel(device, new Uint8Array([1, 2, 3])),
    (e) => e instanceof SafetensorsError && e.code === 'WEIGHTS' && /^<bytes>: /.test(e.message),
    'garbage bytes',
  );
  await rejectsWith(
    loadModel(device, 'test/fixtures/none.safetensors'),
    (e) => e instanceof WeightsError && e.message === 'test/fixtures/none.safetensors: cannot read (ENOENT)',
    'missing file',
  );
  await rejectsWith(
    loadModel(device, { weights: new Uint8Array(0), config: '{not json' }),
    (e) => e.code === 'WEIGHTS' && /config: not valid JSON/.test(e.message),
    'bad config',
  );
  const weights = new Uint8Array(await (await import('node:fs/promises')).readFile(DEMO));
  await rejectsWith(
    loadModel(device, { weights, config: { _model_class: 'FPN' } }),
    (e) => e instanceof UnsupportedError && /not (supported|a model this engine runs)/.test(e.message),
    'another smp class',
  );
  await rejectsWith(
    loadModel(device, weights, { activation: 'softmax' }),
    (e) => e.code === 'UNSUPPORTED' && /ends in a sigmoid; activation "softmax" is not supported/.test(e.message),
    'brain U-Net softmax',
  );
});

Load('a lost device: DEVICE_LOST for runs after the loss, message as before', async () => {
  const device = await getDevice();
  const model = await loadModel(device, DEMO);
  device.destroy();
  await rejectsWith(
    model.run({ data: new Float32Array(16 * 16), shape: [1, 1, 16, 16] }),
    (e) =>
      e instanceof DeviceLostError &&
      e.code === 'DEVICE_LOST' &&
      /^the GPU device was lost \(destroyed.*\): get a new device with getDevice\(\) and load the model again$/.test(e.message),
    'run after destroy',
  );
});

Load.run();
