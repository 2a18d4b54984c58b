// `unet predict` (nnUNetv2_predict's flags) and `unet segment --weights RESULTS_FOLDER` on folders of NIfTI
// cases: OUT/<case>.nii.gz reads back equal to the library's labels (and agrees with nnU-Net's, from
// test/fixtures/nnunet_predict), --save_probabilities / --probs write an .npz NumPy reads, and each bad input
// is one line with nothing written for that case.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { unzipSync } from 'fflate';
import { loadModel } from '../src/load.js';
import { readNifti, writeNifti } from '../src/io/nifti.js';
import { encodeNpy } from '../src/io/npz.js';
import type { NnunetSegmentResult } from '../src/nnunetSegment.js';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { ROOT, tempDirs, unet } from './cliRun.js';
import { testDevice } from './helpers.js';

const DIR = 'test/fixtures/nnunet_predict';
const W3 = `${DIR}/windows3d`;
const temp = tempDirs('unet-predict-');

/** Labels of a written .nii.gz, x fastest. */
const labelsOf = (path: string) => Array.from(readNifti(readFileSync(path)).data);

const Cli = suite('unet predict / unet segment with an nnU-Net results folder');
Cli.after(() => temp.cleanup());

Cli('predict -i -o -m -f --save_probabilities: labels equal the library, the .npz holds probabilities', async () => {
  const out = temp.dir();
  const r = unet('predict', '-i', W3, '-o', out, '-m', `${W3}/results`, '-f', '0', '--save_probabilities', '-npp', '2', '--verbose');
  assert.is(r.code, 0, r.stderr);
  assert.equal(readdirSync(out).sort(), ['windows3d.nii.gz', 'windows3d.npz']);
  const device = await testDevice();
  const model = await loadModel(device, `${W3}/results`, { nnunet: { folds: [0] } });
  try {
    const lib = (await model.segment([`${W3}/windows3d_0000.nii.gz`], { probabilities: true })) as NnunetSegmentResult;
    assert.equal(labelsOf(join(out, 'windows3d.nii.gz')), Array.from(lib.labels));
    // nnU-Net's own labels (float32 accumulation judge)
    const st = parseSafetensors(readFileSync(`${W3}/reference.safetensors`), 'tools/nnunet_predict.py');
    const t = st.tensors.get('segmentation_f32acc')!;
    const ref = new Int32Array(st.bytes.slice(t.byteOffset, t.byteOffset + t.byteLength).buffer);
    assert.equal(Array.from(ref), Array.from(lib.labels));
    // the .npz: one probabilities.npy, float32 [3, 16, 20, 20], equal to the library's bytes
    const npz = unzipSync(readFileSync(join(out, 'windows3d.npz')));
    assert.equal(Object.keys(npz), ['probabilities.npy']);
    assert.equal(Array.from(npz['probabilities.npy']), Array.from(encodeNpy({ data: lib.probabilities!, shape: [3, 16, 20, 20] })));
  } finally {
    model.dispose();
    device.destroy();
  }
  // NumPy reads it, where Python is here
  const py = spawnSync(
    '/usr/bin/python3',
    ['-c', `import numpy as n; p = n.load('${join(out, 'windows3d.npz')}')['probabilities']; print(p.dtype, p.shape, round(float(p.sum(0).mean()), 4))`],
    {
      encoding: 'utf8',
    },
  );
  if (py.status === 0) assert.is(py.stdout.trim(), 'float32 (3, 16, 20, 20) 1.0');
});

Cli('segment IN --weights RESULTS --out-dir --folds --no-mirroring --probs: the same files', () => {
  const out = temp.dir();
  const r = unet('segment', W3, '--weights', `${W3}/results`, '--out-dir', out, '--folds', '0', '--no-mirroring', '--step', '0.5', '--probs');
  assert.is(r.code, 0, r.stderr);
  assert.equal(readdirSync(out).sort(), ['windows3d.nii.gz', 'windows3d.npz']);
  const p = unet('predict', '-i', W3, '-o', temp.dir(), '-m', `${W3}/results`, '--disable_tta');
  assert.is(p.code, 0, p.stderr);
});

/** A failed case: exit 1, the case's line, the count, no stack, and nothing written. */
function assertCaseFails(r: ReturnType<typeof unet>, out: string, pattern: RegExp): void {
  const why = `exit ${r.code}, stderr:\n${r.stderr}`;
  assert.is(r.code, 1, why);
  const errors = r.lines.filter((l) => l.startsWith('unet: '));
  assert.is(errors.length, 2, why);
  assert.match(errors[0], pattern, why);
  assert.match(errors[1], /1 of 1 cases failed/, why);
  assert.not.match(r.stderr, /^\s+at /m, why);
  assert.equal(existsSync(out) ? readdirSync(out) : [], [], 'nothing written');
}

Cli('a missing channel file: one line', () => {
  const input = temp.dir();
  copyFileSync(`${DIR}/aniso3d_sepz/aniso3d_sepz_0000.nii.gz`, join(input, 'case_0000.nii.gz'));
  const out = join(temp.dir(), 'out');
  const r = unet('predict', '-i', input, '-o', out, '-m', 'test/fixtures/nnunet/plain3d_aniso', '-f', '0');
  assertCaseFails(r, out, /case: missing channel file case_0001\.nii\.gz \(the model takes 2 channels/);
});

Cli('channels on different grids: one line naming them', () => {
  const input = temp.dir();
  copyFileSync(`${DIR}/aniso3d_sepz/aniso3d_sepz_0000.nii.gz`, join(input, 'case_0000.nii.gz'));
  copyFileSync(`${W3}/windows3d_0000.nii.gz`, join(input, 'case_0001.nii.gz'));
  const out = join(temp.dir(), 'out');
  const r = unet('predict', '-i', input, '-o', out, '-m', 'test/fixtures/nnunet/plain3d_aniso', '-f', '0');
  assertCaseFails(r, out, /case_0001\.nii\.gz: 20 x 20 x 16 voxels, .*case_0000\.nii\.gz has 24 x 20 x 8/);
});

Cli('a 4-D NIfTI where a channel file was expected: one line', () => {
  const input = temp.dir();
  const v = readNifti(readFileSync(`${W3}/windows3d_0000.nii.gz`));
  const raw = new Uint8Array(352 + 16);
  raw.set(v.header);
  const dv = new DataView(raw.buffer);
  const le = v.littleEndian;
  dv.setInt16(40, 4, le);
  for (const i of [0, 1, 2, 3]) dv.setInt16(42 + 2 * i, 2, le);
  dv.setInt16(70, 2, le);
  dv.setInt16(72, 8, le);
  dv.setFloat32(108, 352, le);
  writeFileSync(join(input, 'four_0000.nii.gz'), gzipSync(raw));
  const out = join(temp.dir(), 'out');
  const r = unet('predict', '-i', input, '-o', out, '-m', `${W3}/results`);
  assertCaseFails(r, out, /four_0000\.nii\.gz: is 4-D \(2 x 2 x 2 x 2\); nnU-Net takes one 3-D file per channel/);
});

Cli('NaN voxels: one line with the count', () => {
  const input = temp.dir();
  const v = readNifti(readFileSync(`${W3}/windows3d_0000.nii.gz`));
  const data = v.data.slice();
  data[5] = Number.NaN;
  data[6] = Number.NaN;
  data[7] = Number.NaN;
  writeFileSync(join(input, 'nan_0000.nii.gz'), writeNifti(v, data, true));
  const out = join(temp.dir(), 'out');
  const r = unet('predict', '-i', input, '-o', out, '-m', `${W3}/results`);
  assertCaseFails(r, out, /nan: volume: 3 NaN or Inf voxels \(the first in channel 0 at z 0, y 0, x 5\); nnU-Net does not clean them/);
});

Cli('nnUNetv2_predict flags we do not take are refused by name', () => {
  const r = unet('predict', '-i', W3, '-o', temp.dir(), '-m', `${W3}/results`, '-prev_stage_predictions', 'X');
  assert.is(r.code, 2, r.stderr);
  assert.match(r.lines[0], /predict: -prev_stage_predictions is not supported: cascades are not supported/);
  const d = unet('predict', '-i', W3, '-o', temp.dir(), '-d', '3', '-c', '3d_fullres');
  assert.is(d.code, 2, d.stderr);
  assert.match(d.lines[0], /-d is not supported: name the results folder with -m/);
  const s = unet('predict', '-i', W3, '-o', temp.dir(), '-m', `${W3}/results`, '-step_size', '2');
  assert.is(s.code, 2);
  assert.match(s.lines[0], /-step_size must be a number in \(0, 1\]/);
  const m = unet('segment', W3, '--weights', `${W3}/results`, '--out-dir', temp.dir(), '--tile', '256');
  assert.is(m.code, 2);
  assert.match(m.lines[0], /segment: --tile does not apply to an nnU-Net model/);
  const help = unet('predict', '--help');
  assert.is(help.code, 0);
  assert.match(help.stdout, /-step_size S/);
  void ROOT;
});

Cli.run();
