// model.segment(volume) for nnU-Net models against nnU-Net's own predictor (fixtures: tools/nnunet_predict.py,
// test/fixtures/nnunet_predict): the case's NIfTI channels in, labels and probabilities at the original geometry
// out. We accumulate windows in float32: labels must agree with the float32-accumulation judge on >= 99.9% of
// voxels and probabilities within 2e-3; against nnU-Net's own torch.half accumulation both are reported (and
// loosely bounded). Then the one-line refusals: NaN voxels, channels on other grids, a 4-D channel file, a
// cascade stage, maxVoxels; and a volume smaller than the patch, which is padded, not refused.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { loadModel } from '../../src/load.js';
import type { Model } from '../../src/model.js';
import type { NnunetSegmentResult } from '../../src/nnunetSegment.js';
import { readNifti } from '../../src/io/nifti.js';
import { checkNnunetCase } from '../../src/nnunet/predictor.js';
import { nnunetOfModel } from '../../src/nnunetSegment.js';
import { resolveLimits } from '../../src/limits.js';
import { testDevice } from '../helpers.js';
import { agreement, fixtureCases, maxAbs } from './judge.js';

const DIR = 'test/fixtures/nnunet_predict';
const HINT = 'regenerate with tools/nnunet_predict.py';

const { caseJson, reference, int32 } = fixtureCases(DIR, HINT);

const Predict = suite<{ device: GPUDevice }>('nnU-Net model.segment vs nnUNetv2_predict');
Predict.before(async (ctx) => {
  ctx.device = await testDevice();
});
Predict.after((ctx) => ctx.device.destroy());

const CASES = ['windows3d', 'ct2d_windows', 'regions2d', 'resenc3d_ct_2folds', 'aniso3d_sepz'];

/** max |Δp| allowed vs the float32-accumulation judge (the same float16 Gaussian, float32 accumulators): the
 *  issue's 2e-3 for every case. */
const PROB_TOL: Record<string, number> = {};

for (const name of CASES) {
  Predict(`${name}: labels and probabilities at the original geometry`, async ({ device }) => {
    const c = caseJson(name);
    const st = reference(name);
    const model = await loadModel(device, `${DIR}/${name}/${c.results}`, { nnunet: { folds: c.folds, checkpoint: c.checkpoint } });
    try {
      let done = 0;
      const started = performance.now();
      const r = (await model.segment(
        c.channels.map((f) => `${DIR}/${name}/${f}`),
        { mirroring: c.use_mirroring, stepSize: c.tile_step_size, probabilities: true, onProgress: (p) => (done = p.done / p.total) },
      )) as NnunetSegmentResult;
      const ms = performance.now() - started;
      assert.is(done, 1);
      const seg32 = int32(st, 'segmentation_f32acc');
      const seg16 = int32(st, 'segmentation');
      assert.equal(r.shape, st.tensors.get('segmentation')!.shape);
      const [a32, a16] = [agreement(r.labels, seg32), agreement(r.labels, seg16)];
      const p32 = st.getF32('probabilities_f32acc');
      const p16 = st.getF32('probabilities');
      const [d32, d16] = [maxAbs(r.probabilities!, p32), maxAbs(r.probabilities!, p16)];
      const t = r.timings;
      console.log(
        `  ${name}: labels agree ${(100 * a32).toFixed(3)}% (f32-acc judge) / ${(100 * a16).toFixed(3)}% (half); max |Δp| ${d32.toExponential(2)} / ${d16.toExponential(2)}; ` +
          `${r.windows.batches} batches of ${r.windows.batchSize}; ${ms.toFixed(0)} ms (preprocess ${t.preprocessMs.toFixed(0)}, windows ${t.windowsMs.toFixed(0)}, export ${t.exportMs.toFixed(0)})`,
      );
      assert.ok(a32 >= 0.999, `${name}: labels agree with nnU-Net (float32 accumulation) on ${a32} of voxels`);
      // the probabilities are stored as float16 (rounding <= 2.5e-4)
      assert.ok(d32 <= (PROB_TOL[name] ?? 2e-3), `${name}: probabilities differ from nnU-Net's (float32 accumulation) by ${d32}`);
      // nnU-Net's own torch.half accumulation: reported; loosely bounded
      assert.ok(a16 >= 0.99, `${name}: labels agree with nnU-Net (half accumulation) on ${a16} of voxels`);
      // the written .nii.gz reads back as the labels on the input's grid and header
      const back = readNifti(r.nifti());
      const input = readNifti(readFileSync(`${DIR}/${name}/${c.channels[0]}`));
      assert.equal(back.dims, input.dims);
      assert.equal(Array.from(back.data), Array.from(r.labels));
      assert.equal(Array.from(back.header.subarray(76, 92)), Array.from(input.header.subarray(76, 92)), 'pixdim kept');
      assert.equal(Array.from(back.header.subarray(252, 344)), Array.from(input.header.subarray(252, 344)), 'qform / sform kept');
    } finally {
      model.dispose();
    }
  });
}

Predict.run();

// ---

const Bad = suite<{ device: GPUDevice; model: Model }>('nnU-Net model.segment: bad input, one line each');
Bad.before(async (ctx) => {
  ctx.device = await testDevice();
  ctx.model = await loadModel(ctx.device, `${DIR}/windows3d/results`, { nnunet: { folds: [0] } });
});
Bad.after((ctx) => {
  ctx.model.dispose();
  ctx.device.destroy();
});

const oneLine = async (p: Promise<unknown>, pattern: RegExp, name = 'InputError') => {
  try {
    await p;
  } catch (e) {
    const err = e as Error;
    assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
    assert.match(err.message, pattern);
    assert.ok(err.name === name || err.name.endsWith('Error'), err.name);
    return err;
  }
  assert.unreachable(`expected ${pattern}`);
};

const volume = (shape: number[], f = (i: number) => 100 + ((i * 37) % 200)) => {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = f(i);
  return { data, shape, spacing: [1, 1, 1] };
};

Bad('NaN voxels: refused, counted', async ({ model }) => {
  const v = volume([1, 6, 6, 6]);
  v.data[7] = Number.NaN;
  v.data[100] = Number.NaN;
  await oneLine(model.segment(v), /2 NaN or Inf voxels \(the first in channel 0 at z 0, y 1, x 1\)/);
});

Bad('a volume smaller than the patch is padded, not refused', async ({ model }) => {
  const r = (await model.segment(volume([1, 3, 5, 4]), { mirroring: false })) as NnunetSegmentResult;
  assert.equal(r.shape, [3, 5, 4]);
  assert.is(r.labels.length, 60);
  assert.is(r.windows.batches, 1);
});

Bad('channels: count, shape, spacing, affine, a 4-D file', async ({ model }) => {
  const f = `${DIR}/windows3d/windows3d_0000.nii.gz`;
  await oneLine(model.segment([f, f]), /2 channels, the model takes 1/);
  const two = `${DIR}/aniso3d_sepz/aniso3d_sepz_0000.nii.gz`;
  const ct = (await import('../../src/nnunetSegment.js')).stackChannels;
  const a = readNifti(readFileSync(f));
  const b = readNifti(readFileSync(two));
  assert.throws(() => ct([a, b], ['a.nii.gz', 'b.nii.gz']), /b\.nii\.gz: 24 x 20 x 8 voxels, a\.nii\.gz has 20 x 20 x 16/);
  const spaced = { ...a, header: a.header.slice() };
  new DataView(spaced.header.buffer).setFloat32(84, 2, a.littleEndian);
  assert.throws(() => ct([a, spaced], ['a', 'b']), /b: spacing 1 x 2 x 1, a has 1 x 1 x 1/);
  const moved = { ...a, header: a.header.slice() };
  new DataView(moved.header.buffer).setFloat32(280 + 12, 5, a.littleEndian);
  assert.throws(() => ct([a, moved], ['a', 'b']), /b: its affine \(qform \/ sform\) differs from a's/);
  // a 4-D NIfTI: dim[0] 4, dim[4] 2
  const raw = new Uint8Array(352 + 2 * 8);
  raw.set(a.header);
  const dv = new DataView(raw.buffer);
  const le = a.littleEndian;
  dv.setInt16(40, 4, le);
  for (const [i, d] of [2, 2, 2, 2].entries()) dv.setInt16(42 + 2 * i, d, le);
  dv.setInt16(70, 2, le);
  dv.setInt16(72, 8, le);
  dv.setFloat32(108, 352, le);
  await oneLine(model.segment([raw]), /channel 0: is 4-D \(2 x 2 x 2 x 2\); nnU-Net takes one 3-D file per channel/);
});

Bad('maxVoxels, before and after resampling', async ({ model }) => {
  await oneLine(model.segment(volume([1, 6, 6, 6]), { limits: { maxVoxels: 100 } }), /6,6,6\] = 216 voxels exceeds maxVoxels 100/);
  const v = { ...volume([1, 4, 4, 4]), spacing: [4, 4, 4] };
  await oneLine(model.segment(v, { limits: { maxVoxels: 100 } }), /resampled to spacing \[1,1,1\] = \[16,16,16\] = 4096 voxels exceeds maxVoxels 100/);
});

Bad('a cascade stage without its previous stage: refused', ({ model }) => {
  const { config } = nnunetOfModel(model);
  const cascade = { ...config, configuration: '3d_cascade_fullres', previousStage: '3d_lowres' };
  assert.throws(
    () => checkNnunetCase(volume([1, 4, 4, 4]), cascade, resolveLimits()),
    /3d_cascade_fullres is a cascade stage: it needs the 3d_lowres prediction as input/,
  );
});

Bad('an aborted signal rejects before anything runs; the model stays usable', async ({ model }) => {
  const c = new AbortController();
  c.abort();
  await oneLine(model.segment(volume([1, 4, 4, 4]), { signal: c.signal }), /aborted/, 'AbortError');
  const r = (await model.segment(volume([1, 4, 4, 4]), { mirroring: false })) as NnunetSegmentResult;
  assert.is(r.labels.length, 64);
});

Bad.run();
