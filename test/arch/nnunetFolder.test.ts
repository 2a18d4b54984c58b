// Finding an nnU-Net model's files (src/arch/nnunet/folder.ts) in a trainer folder, its Dataset parent, fold_all
// and an nnUNetv2_export_model_to_zip zip (in memory), through src/nnunetFiles.ts's Node accessor for folders.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { zipSync } from 'fflate';
import { InputError } from '../../src/errors.js';
import { LimitError } from '../../src/limits.js';
import { findNnunetModel, findNnunetStage, isNnunetListing, nnunetZipFiles, readNnunetModel } from '../../src/arch/nnunet/folder.js';
import { nnunetFiles } from '../../src/nnunetFiles.js';
import { extractStateDict } from '../../src/weights/checkpoint.js';

const CKPT = readFileSync('test/fixtures/checkpoints/nnunet_checkpoint_final.pth');
const T = 'Dataset999_Tiny/nnUNetTrainer__nnUNetPlans__3d_fullres';
const listing = (...paths: string[]) => ({ source: 'R', paths });

const Find = suite('nnU-Net results folder: finding the files');

Find('the trainer folder itself: every fold_N with the checkpoint, in number order; fold_all not among them', () => {
  const m = findNnunetModel(
    listing('plans.json', 'dataset.json', 'fold_1/checkpoint_final.pth', 'fold_0/checkpoint_final.pth', 'fold_2/progress.png', 'fold_all/checkpoint_final.pth'),
  );
  assert.is(m.folder, '');
  assert.equal(
    m.folds.map((f) => f.fold),
    [0, 1],
  );
  assert.is(m.folds[1].checkpoint, 'fold_1/checkpoint_final.pth');
});

Find('fold_all alone is used; asked-for folds are checked', () => {
  const m = findNnunetModel(listing('plans.json', 'dataset.json', 'fold_all/checkpoint_final.pth'));
  assert.equal(m.folds, [{ fold: 'all', checkpoint: 'fold_all/checkpoint_final.pth' }]);
  assert.throws(
    () => findNnunetModel(listing('plans.json', 'dataset.json', 'fold_0/checkpoint_final.pth'), { folds: [0, 3] }),
    (e: Error) => e instanceof InputError && e.message === 'R/fold_3/checkpoint_final.pth is missing (fold 3 was asked for)',
  );
  assert.throws(() => findNnunetModel(listing('plans.json', 'dataset.json', 'fold_0/checkpoint_best.pth')), /^R\/fold_0\/checkpoint_final\.pth is missing/);
  assert.is(findNnunetModel(listing('plans.json', 'dataset.json', 'fold_0/checkpoint_best.pth'), { checkpoint: 'checkpoint_best.pth' }).folds.length, 1);
});

Find('a Dataset folder with several trainer folders: picked by configuration, else one line listing them', () => {
  const paths = ['2d', '3d_fullres', '3d_lowres'].flatMap((c) => [
    `D/nnUNetTrainer__nnUNetPlans__${c}/plans.json`,
    `D/nnUNetTrainer__nnUNetPlans__${c}/dataset.json`,
    `D/nnUNetTrainer__nnUNetPlans__${c}/fold_0/checkpoint_final.pth`,
  ]);
  const m = findNnunetModel(listing(...paths), { configuration: '3d_lowres' });
  assert.is(m.folder, 'D/nnUNetTrainer__nnUNetPlans__3d_lowres');
  assert.equal([m.trainer, m.plansIdentifier, m.configuration], ['nnUNetTrainer', 'nnUNetPlans', '3d_lowres']);
  assert.throws(
    () => findNnunetModel(listing(...paths)),
    /^R: 3 trained models here \("D\/nnUNetTrainer__nnUNetPlans__2d", .*\): choose one by its configuration or give its folder$/,
  );
  assert.throws(() => findNnunetModel(listing(...paths), { configuration: '3d_cascade_fullres' }), /no trainer folder for configuration "3d_cascade_fullres"/);
  const prev = findNnunetStage(listing(...paths), findNnunetModel(listing(...paths), { configuration: '3d_fullres' }), '3d_lowres');
  assert.is(prev.folds[0].checkpoint, 'D/nnUNetTrainer__nnUNetPlans__3d_lowres/fold_0/checkpoint_final.pth');
  const noLowres = listing(...paths.slice(0, 6));
  assert.throws(
    () => findNnunetStage(noLowres, findNnunetModel(noLowres, { configuration: '3d_fullres' }), '3d_lowres'),
    /^R\/D\/nnUNetTrainer__nnUNetPlans__3d_lowres is missing: configuration 3d_fullres is a cascade stage/,
  );
});

Find('missing plans.json / dataset.json name the path expected', () => {
  assert.throws(() => findNnunetModel(listing('T/dataset.json', 'T/fold_0/checkpoint_final.pth')), /^R\/T\/plans\.json is missing/);
  assert.throws(() => findNnunetModel(listing('T/plans.json', 'T/fold_0/checkpoint_final.pth')), /^R\/T\/dataset\.json is missing/);
  assert.throws(() => findNnunetModel(listing('a.txt')), /^R: no nnU-Net model here/);
});

/** A results tree with the fixture checkpoint in folds 0 and 1 and the plans its init_args hold. */
async function tree(): Promise<Record<string, Uint8Array>> {
  const { readCheckpoint } = await import('../../src/weights/checkpoint.js');
  const { toPlain } = await import('../../src/weights/pickle.js');
  const root = toPlain(readCheckpoint(CKPT, 'fixture').root) as { init_args: { plans: object; dataset_json: object } };
  const enc = (o: object) => new TextEncoder().encode(JSON.stringify(o));
  return {
    [`${T}/plans.json`]: enc(root.init_args.plans),
    [`${T}/dataset.json`]: enc(root.init_args.dataset_json),
    [`${T}/dataset_fingerprint.json`]: enc({}),
    [`${T}/fold_0/checkpoint_final.pth`]: CKPT,
    [`${T}/fold_1/checkpoint_final.pth`]: CKPT,
    [`${T}/fold_0/validation/summary.json`]: enc({}),
  };
}

const Read = suite('nnU-Net results folder: reading the model');

Read("a Dataset folder on disk (Node accessor): plans for the checkpoint's configuration, both folds, mirroring axes", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nnunet-'));
  try {
    for (const [p, data] of Object.entries(await tree())) {
      mkdirSync(dirname(join(dir, p)), { recursive: true });
      writeFileSync(join(dir, p), data);
    }
    for (const at of [join(dir, 'Dataset999_Tiny'), join(dir, T)]) {
      const model = await readNnunetModel(await nnunetFiles(at));
      assert.is(model.config.configuration, '3d_fullres');
      assert.is(model.trainerName, 'nnUNetTrainer');
      assert.equal(model.mirroringAxes, [0, 1, 2]);
      assert.equal(
        model.folds.map((f) => f.fold),
        [0, 1],
      );
      assert.is(model.config.network.featuresPerStage.join(), '2,4');
      assert.is(extractStateDict(model.folds[1].checkpoint, model.folds[1].path).tensors.length, 28);
    }
    let err: unknown;
    try {
      await nnunetFiles(join(dir, 'nope'));
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof InputError && /nope: no such file or folder/.test(err.message), String(err));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

Read('the export zip, in memory: Dataset/<trainer folder>/..., fold 1 only', async () => {
  const zip = zipSync(await tree());
  const files = nnunetZipFiles(zip, 'model.zip');
  assert.ok(files.paths.includes(`${T}/fold_0/checkpoint_final.pth`));
  const model = await readNnunetModel(files, { folds: [1] });
  assert.equal(model.files.folds, [{ fold: 1, checkpoint: `${T}/fold_1/checkpoint_final.pth` }]);
  assert.is(model.folds[0].path, `model.zip/${T}/fold_1/checkpoint_final.pth`);
  assert.is(model.config.network.className, 'PlainConvUNet');
  let err: unknown;
  try {
    await nnunetZipFiles(zip, 'model.zip', { maxWeightsBytes: 1000 }).read(`${T}/fold_0/checkpoint_final.pth`);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof LimitError && /maxWeightsBytes/.test(err.message), String(err));
  assert.throws(() => nnunetZipFiles(new Uint8Array([1, 2, 3]), 'bad.zip'), /^bad\.zip: not a readable zip archive/);
});

Find('isNnunetListing: plans.json, dataset.json or fold_K within two levels, and no config.json at the top', () => {
  assert.ok(isNnunetListing(['plans.json', 'dataset.json', 'fold_0/checkpoint_final.pth']));
  assert.ok(isNnunetListing(['dataset.json', 'fold_0/checkpoint_final.pth']), 'a folder missing plans.json still counts (its error names it)');
  assert.ok(isNnunetListing(['Dataset004_Hippocampus/nnUNetTrainer__nnUNetPlans__3d_fullres/plans.json']));
  assert.ok(isNnunetListing(['a/b/fold_1/']), 'a fold folder listed as a folder');
  assert.not.ok(isNnunetListing(['config.json', 'model.safetensors', 'plans.json']), 'a converted or smp model folder');
  assert.not.ok(isNnunetListing(['a/b/c/plans.json']), 'deeper than a Dataset folder above a trainer folder');
  assert.not.ok(isNnunetListing(['model.safetensors', 'notes/fold_x.txt']));
});

Find.run();
Read.run();
