// How the demo page sorts a drop for nnU-Net (web/volumeFiles.ts), in Node: the results folder or zip, the
// NIfTI volumes grouped into cases as nnUNetv2_predict groups them, and each incomplete case named with the
// file that is missing.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { PathFile } from '../../web/drop.js';
import { caseOf, groupCases, splitDrop } from '../../web/volumeFiles.js';

const f = (path: string): PathFile => ({ file: new File([], path.split('/').pop()!), path });
const paths = (files: PathFile[]) => files.map((x) => x.path);

const Split = suite('splitDrop');

Split('a results folder with its logs, two volumes and an image: the folder is the model, paths inside it', () => {
  const s = splitDrop([
    f('Dataset1/nnUNetTrainer__nnUNetPlans__3d_fullres/plans.json'),
    f('Dataset1/nnUNetTrainer__nnUNetPlans__3d_fullres/dataset.json'),
    f('Dataset1/nnUNetTrainer__nnUNetPlans__3d_fullres/fold_0/checkpoint_final.pth'),
    f('Dataset1/nnUNetTrainer__nnUNetPlans__3d_fullres/fold_0/progress.png'),
    f('case_0000.nii.gz'),
    f('case_0001.nii'),
    f('photo.png'),
  ]);
  assert.ok(s.model && 'files' in s.model);
  assert.is(s.model.source, 'Dataset1');
  assert.ok(
    s.model.files.every((x) => x.path.startsWith('nnUNetTrainer__nnUNetPlans__3d_fullres/')),
    'paths relative to the dropped folder',
  );
  assert.is(s.model.files.length, 4, 'its progress.png stays with the model, not an image to segment');
  assert.equal(paths(s.volumes), ['case_0000.nii.gz', 'case_0001.nii']);
  assert.equal(paths(s.rest), ['photo.png']);
});

Split('a zip is the model; an smp folder is not nnU-Net', () => {
  const z = splitDrop([f('model.zip'), f('a.nii.gz')]);
  assert.ok(z.model && 'zip' in z.model && z.model.source === 'model.zip');
  const smp = splitDrop([f('unet/config.json'), f('unet/model.safetensors')]);
  assert.is(smp.model, undefined);
  assert.equal(paths(smp.rest), ['unet/config.json', 'unet/model.safetensors']);
});

// ---

const Group = suite('groupCases');

Group('CASE_XXXX files group by case, in channel order, whatever the drop order', () => {
  assert.equal(caseOf('BraTS_001_0003.nii.gz'), { id: 'BraTS_001', channel: 3 });
  assert.equal(caseOf('scan.nii'), { id: 'scan', channel: 0 });
  const g = groupCases([f('b_0001.nii.gz'), f('a_0000.nii.gz'), f('b_0000.nii.gz'), f('a_0001.nii.gz')], ['T2', 'ADC']);
  assert.equal(g.problems, []);
  assert.equal(
    g.cases.map((c) => [c.id, paths(c.files)]),
    [
      ['b', ['b_0000.nii.gz', 'b_0001.nii.gz']],
      ['a', ['a_0000.nii.gz', 'a_0001.nii.gz']],
    ],
  );
  const one = groupCases([f('liver.nii.gz')], ['CT']);
  assert.equal(
    one.cases.map((c) => c.id),
    ['liver'],
    'a lone file is a one-channel case',
  );
});

Group('a missing, an extra and a repeated channel: one line each, naming the file', () => {
  const g = groupCases(
    [f('a_0000.nii.gz'), f('b_0000.nii.gz'), f('b_0001.nii.gz'), f('b_0002.nii.gz'), f('c.nii.gz'), f('x/d_0000.nii'), f('y/d_0000.nii')],
    ['T2', 'ADC'],
  );
  assert.equal(g.cases, []);
  const text = Object.fromEntries(g.problems.map((p) => [p.id, p.text]));
  assert.is(text.a, 'a_0001.nii.gz is missing: the model takes 2 channels (0000 T2, 0001 ADC)');
  assert.is(text.b, 'b_0002.nii.gz: channel 2, but the model takes 2 (0000 T2, 0001 ADC)');
  assert.is(text.c, 'c.nii.gz: the model takes 2 channels (0000 T2, 0001 ADC): name the files c_0000.nii.gz … c_0001.nii.gz');
  assert.is(text.d, 'y/d_0000.nii: channel 0 of case d given twice (also x/d_0000.nii)');
});

Split.run();
Group.run();
