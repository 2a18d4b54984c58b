// AbortSignal on model.run, model.segment and loadModel: an aborted call rejects at once with an
// AbortError (code 'ABORT'), the work behind it stops at its next check, and the model runs the next
// call as if nothing happened.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AbortError, getDevice, loadModel, type Model } from '../src/node.js';
import { randArray, rejectsWith, rng } from './helpers.js';

const DEMO = 'assets/demo/nuclei_unet.safetensors'; // 1 -> 1, sigmoid
const SAMPLE = 'assets/demo/samples/nuclei_01.png';

const isAbort = (e: Error & { code?: string }) => e instanceof AbortError && e.name === 'AbortError' && e.code === 'ABORT';

const Abort = suite<{ device: GPUDevice; model: Model }>('abort: run, segment, loadModel');
Abort.before(async (ctx) => {
  ctx.device = await getDevice();
  ctx.model = await loadModel(ctx.device, DEMO);
});
Abort.after((ctx) => {
  ctx.model.dispose();
  ctx.device.destroy();
});

Abort('an already-aborted signal rejects run, segment and loadModel at once, without running', async ({ device, model }) => {
  const signal = AbortSignal.abort();
  let progressed = false;
  const x = { data: randArray(rng(1), 32 * 32), shape: [1, 1, 32, 32] };
  const e = await rejectsWith(model.run(x, { signal, onProgress: () => (progressed = true) }), isAbort, 'run');
  assert.is(e.message, 'the run was aborted');
  assert.not.ok(progressed, 'nothing ran');
  await rejectsWith(model.segment(SAMPLE, { signal }), isAbort, 'segment');
  await rejectsWith(loadModel(device, DEMO, { signal }), isAbort, 'loadModel');
  const why = await rejectsWith(model.run(x, { signal: AbortSignal.abort(new Error('the user closed the page')) }), isAbort, 'run with a reason');
  assert.is(why.message, 'the run was aborted: the user closed the page');
});

Abort(
  'abort mid tiled run 1x1x128x128 (windows of 32, batch 1): rejects, stops after the batch it was in, then the same run gives the same output',
  async ({ model }) => {
    const x = { data: randArray(rng(2), 128 * 128, 0, 3), shape: [1, 1, 128, 128] };
    const tile = { roi: 32, overlap: 0.25, batch: 1 };
    const before = await model.run(x, { tile });
    const total = before.tiling!.windows;
    assert.ok(total >= 9, `${total} windows`);
    const ac = new AbortController();
    const seen: number[] = [];
    const aborted = model.run(x, { tile, signal: ac.signal, onProgress: (p) => (seen.push(p.done), p.done === 2 && ac.abort()) });
    await rejectsWith(aborted, isAbort, 'aborted run');
    const after = await model.run(x, { tile });
    assert.equal(seen, [1, 2], `stopped after the second batch of ${total}`);
    assert.ok(
      after.data.every((v, i) => v === before.data[i]),
      'the next run equals the run before the abort',
    );
    const one = await model.run(x, { tile: false });
    assert.equal(one.shape, [1, 1, 128, 128], 'a one-pass run works too');
  },
);

Abort('a queued run aborted while another runs rejects before that one finishes; segment aborted mid-run too', async ({ model }) => {
  const big = { data: randArray(rng(3), 128 * 128), shape: [1, 1, 128, 128] };
  const first = model.run(big, { tile: { roi: 32, batch: 1 } });
  let firstDone = false;
  void first.then(() => (firstDone = true));
  const ac = new AbortController();
  const queued = model.run({ data: randArray(rng(4), 32 * 32), shape: [1, 1, 32, 32] }, { signal: ac.signal });
  setTimeout(() => ac.abort(), 5);
  await rejectsWith(queued, isAbort, 'queued run');
  assert.not.ok(firstDone, 'rejected while the first run was still going');
  assert.equal((await first).shape, [1, 1, 128, 128]);

  const sc = new AbortController();
  await rejectsWith(model.segment(SAMPLE, { tile: { roi: 48, batch: 1 }, signal: sc.signal, onProgress: () => sc.abort() }), isAbort, 'segment');
  const r = await model.segment(SAMPLE);
  assert.is(r.width, 128);
});

Abort.run();
