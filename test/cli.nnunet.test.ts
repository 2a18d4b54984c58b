// `unet infer`, `unet convert` and `unet info` on nnU-Net results folders, as a user runs them: a 2D and a 3D
// fixture (test/fixtures/nnunet, written by tools/nnunet_networks.py) against their dynamic_network_architectures
// logits, two folds averaged, convert then infer equal to the folder bit for bit, the zip
// nnUNetv2_export_model_to_zip writes; and broken folders (copies of a fixture with their JSON edited in a temp
// dir) as one-line errors that write nothing.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unzipSync, zipSync } from 'fflate';
import { parseSafetensors, writeSafetensors } from '../src/weights/safetensors.js';
import { assertOneLineError, tempDirs, unet } from './cliRun.js';

const DIR = 'test/fixtures/nnunet';
const HINT = 'regenerate with tools/nnunet_networks.py (see test/fixtures/nnunet/README.md)';
const tmp = tempDirs('unet-nnunet-');

const io = (name: string) => parseSafetensors(readFileSync(`${DIR}/${name}.io.safetensors`), name);
const output = (path: string) => parseSafetensors(readFileSync(path));

/** max |got - want| / max(1, |want|), the bound test/arch/nnunet.test.ts holds the networks to */
function relMax(got: Float32Array, want: Float32Array): number {
  assert.is(got.length, want.length, 'output sizes');
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i])));
  return Number.isNaN(m) ? Number.POSITIVE_INFINITY : m;
}

/** `unet infer` of a fixture's input with these weights into a fresh dir; the output file's tensors and metadata. */
function infer(name: string, weights: string, ...extra: string[]) {
  const d = tmp.dir();
  const y = join(d, 'y.safetensors');
  const r = unet('infer', '--weights', weights, '--input', `${DIR}/${name}.io.safetensors`, '--out', y, ...extra);
  assert.is(r.code, 0, r.stderr);
  return output(y);
}

// ---

const Infer = suite('cli: unet infer / convert / info on nnU-Net results folders');
Infer.after(tmp.cleanup);

Infer('the fixtures are there', () => {
  for (const name of ['plain2d', 'plain3d_aniso', 'resenc3d_2folds'])
    assert.ok(existsSync(`${DIR}/${name}/plans.json`) && existsSync(`${DIR}/${name}.io.safetensors`), `${DIR}/${name} is missing: ${HINT}`);
});

for (const name of ['plain2d', 'plain3d_aniso']) {
  Infer(`infer --weights ${name} (fold 0) equals the dynamic_network_architectures logits (<= 1e-4 * max(1, |ref|))`, () => {
    const y = infer(name, `${DIR}/${name}`);
    const err = relMax(y.getF32('output'), io(name).getF32('output'));
    console.log(`  ${name}: max |Δ| / max(1, |ref|) = ${err.toExponential(2)}`);
    assert.ok(err <= 1e-4, `${name}: ${err}`);
    assert.equal(y.tensors.get('output')!.shape, io(name).tensors.get('output')!.shape);
    assert.is(y.metadata.nnunet_folds, '0');
    assert.is(y.metadata.nnunet_checkpoint, 'checkpoint_final.pth');
    assert.is(y.metadata.activation, 'identity');
  });
}

Infer('resenc3d_2folds: --folds 0 1, --folds 0,1 and the default all average both folds; --folds 1 is fold 1 alone', () => {
  const name = 'resenc3d_2folds';
  const a = io(name).getF32('output');
  const b = io(name).getF32('output.fold_1');
  const mean = a.map((v, i) => (v + b[i]) / 2);
  const outs = [infer(name, `${DIR}/${name}`, '--folds', '0', '1'), infer(name, `${DIR}/${name}`, '--folds', '0,1'), infer(name, `${DIR}/${name}`)];
  for (const y of outs) {
    const err = relMax(y.getF32('output'), mean);
    assert.ok(err <= 1e-4, `folds 0+1: ${err}`);
    assert.is(y.metadata.nnunet_folds, '0,1');
  }
  console.log(`  ${name} folds 0+1: max |Δ| / max(1, |ref|) = ${relMax(outs[0].getF32('output'), mean).toExponential(2)}`);
  const one = infer(name, `${DIR}/${name}`, '--folds', '1', '--checkpoint', 'checkpoint_final.pth');
  assert.ok(relMax(one.getF32('output'), b) <= 1e-4, 'fold 1 alone');
  assert.is(one.metadata.nnunet_folds, '1');
});

Infer('convert RESULTS_FOLDER -o OUTDIR, then infer --weights OUTDIR: the same output, bit for bit', () => {
  const name = 'resenc3d_2folds';
  const d = tmp.dir();
  const out = join(d, 'converted');
  const r = unet('convert', `${DIR}/${name}`, '-o', out);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /-> .*converted\/model\.safetensors \([\d,]+ bytes\) \+ config\.json \([\d,]+ bytes\): fold_0, fold_1/);
  assert.match(r.stderr, /nnU-Net ResidualEncoderUNet 3d_fullres, 6 stages .*2 folds, [\d,]+ parameters/);
  assert.equal(readdirSync(out).sort(), ['config.json', 'model.safetensors']);
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(Object.keys(config.nnunet).sort(), ['configuration', 'dataset', 'folds', 'mirroringAxes', 'plans', 'trainerName']);
  assert.equal([config.nnunet.configuration, config.nnunet.folds, config.nnunet.trainerName], ['3d_fullres', ['fold_0', 'fold_1'], 'nnUNetTrainer']);
  assert.equal(config.nnunet.plans, JSON.parse(readFileSync(`${DIR}/${name}/plans.json`, 'utf8')));
  const a = infer(name, out).getF32('output');
  const b = infer(name, `${DIR}/${name}`).getF32('output');
  assert.ok(Buffer.from(a.buffer).equals(Buffer.from(b.buffer)), 'converted and folder outputs differ');
  // converting again replaces both files (convert's rule for an existing output)
  assert.is(unet('convert', `${DIR}/${name}`, '--folds', '0', '-o', out).code, 0);
  assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).nnunet.folds, ['fold_0']);
  // a converted folder holds its folds: --folds no longer chooses
  assertOneLineError(
    unet('infer', '--weights', out, '--folds', '0', '--input', `${DIR}/${name}.io.safetensors`, '--out', join(d, 'z.safetensors')),
    /--folds, --checkpoint and --configuration choose from an nnU-Net results folder/,
    2,
  );
});

Infer('convert a lone checkpoint_final.pth (plans and dataset.json from init_args): infer equals the folder bit for bit', () => {
  const name = 'plain2d';
  const out = join(tmp.dir(), 'lone');
  const r = unet('convert', `${DIR}/${name}/fold_0/checkpoint_final.pth`, '-o', out);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /: fold_0\n {2}nnU-Net PlainConvUNet 2d/);
  const a = infer(name, out).getF32('output');
  const b = infer(name, `${DIR}/${name}`).getF32('output');
  assert.ok(Buffer.from(a.buffer).equals(Buffer.from(b.buffer)), 'converted checkpoint and folder outputs differ');
});

/** nnUNetv2_export_model_to_zip's layout: paths relative to nnUNet_results, deflated, with the files it adds. */
function exportZip(path: string, models: [dataset: string, trainerFolder: string, fixture: string][]): void {
  const entries: Record<string, Uint8Array> = {};
  for (const [dataset, trainer, fixture] of models) {
    const at = `${dataset}/${trainer}`;
    entries[`${at}/fold_0/checkpoint_final.pth`] = readFileSync(`${DIR}/${fixture}/fold_0/checkpoint_final.pth`);
    entries[`${at}/fold_0/progress.png`] = new Uint8Array([0x89, 0x50, 0x4e, 0x47]);
    entries[`${at}/fold_0/validation/summary.json`] = new TextEncoder().encode('{}');
    entries[`${at}/plans.json`] = readFileSync(`${DIR}/${fixture}/plans.json`);
    entries[`${at}/dataset_fingerprint.json`] = new TextEncoder().encode('{}');
    entries[`${at}/dataset.json`] = readFileSync(`${DIR}/${fixture}/dataset.json`);
  }
  writeFileSync(path, zipSync(entries, { level: 6 }));
}

Infer('the zip nnUNetv2_export_model_to_zip writes loads; with two configurations --configuration picks one', () => {
  const d = tmp.dir();
  const zip = join(d, 'model.zip');
  exportZip(zip, [['Dataset901_plain2d', 'nnUNetTrainer__nnUNetPlans__2d', 'plain2d']]);
  const err = relMax(infer('plain2d', zip).getF32('output'), io('plain2d').getF32('output'));
  assert.ok(err <= 1e-4, `zip: ${err}`);
  const two = join(d, 'two.zip');
  exportZip(two, [
    ['Dataset901_X', 'nnUNetTrainer__nnUNetPlans__2d', 'plain2d'],
    ['Dataset901_X', 'nnUNetTrainer__nnUNetPlans__3d_fullres', 'plain3d_aniso'],
  ]);
  assertOneLineError(
    unet('infer', '--weights', two, '--input', `${DIR}/plain3d_aniso.io.safetensors`, '--out', join(d, 'y.safetensors')),
    /two\.zip: 2 trained models here \(.*\): choose one by its configuration or give its folder$/,
  );
  const y = infer('plain3d_aniso', two, '--configuration', '3d_fullres');
  assert.ok(relMax(y.getF32('output'), io('plain3d_aniso').getF32('output')) <= 1e-4);
  assert.is(y.metadata.nnunet_configuration, '3d_fullres');
  // and convert takes the zip too
  assert.is(unet('convert', two, '--configuration', '2d', '-o', join(d, 'out')).code, 0);
  assert.equal(readdirSync(join(d, 'out')).sort(), ['config.json', 'model.safetensors']);
});

Infer('info --weights RESULTS_FOLDER: class, 3D, configuration, stages, features, folds, patch size, size multiples per axis, parameters', () => {
  const r = unet('info', '--weights', `${DIR}/resenc3d_2folds`);
  assert.is(r.code, 0, r.stderr);
  for (const line of [
    /^architecture: +nnunet-ResidualEncoderUNet$/m,
    /^input: +\[N, C, D, H, W\] \(3D\)$/m,
    /^size multiple: +D x H x W multiples of 2 x 32 x 32 \(/m,
    /^configuration: +3d_fullres$/m,
    /^folds: +fold_0, fold_1 \(their logits averaged\), from checkpoint_final\.pth$/m,
    /^stages: +6: features /m,
    /^patch size: +\d+ x \d+ x \d+$/m,
    /^parameters: +[\d,]+$/m,
    /^GFLOP: +[\d.]+ at 1x1x64x64x64$/m,
  ])
    assert.match(r.stdout, line);
  const j = JSON.parse(unet('info', '--weights', `${DIR}/resenc3d_2folds`, '--folds', '1', '--json').stdout);
  assert.equal(
    [j.dims, j.sizeMultiples, j.nnunet.configuration, j.nnunet.folds, j.nnunet.featuresPerStage.length],
    [3, [2, 32, 32], '3d_fullres', ['fold_1'], 6],
  );
  assert.equal(j.nnunet.patchSize.length, 3);
  const two = JSON.parse(unet('info', '--weights', `${DIR}/plain2d`, '--json').stdout);
  assert.equal([two.dims, two.sizeMultiple, two.nnunet.configuration], [2, 16, '2d']);
});

// ---

const Bad = suite('cli: broken nnU-Net results folders are one line each, nothing written');
Bad.after(tmp.cleanup);

/** A copy of a fixture folder in a temp dir, `edit` applied to it; the copy's path. */
function broken(fixture: string, edit: (dir: string) => void): string {
  const d = join(tmp.dir(), fixture);
  cpSync(`${DIR}/${fixture}`, d, { recursive: true });
  edit(d);
  return d;
}
/** The parts of plans.json and dataset.json the tests edit. */
interface Plans {
  configurations: Record<
    string,
    { architecture: { network_class_name: string }; previous_stage?: string; normalization_schemes: string[]; use_mask_for_norm: boolean[] }
  >;
  foreground_intensity_properties_per_channel: Record<string, unknown>;
}
interface Dataset {
  labels: Record<string, number>;
  channel_names: Record<string, string>;
}
const editJson = <T>(path: string, change: (j: T) => void) => {
  const j = JSON.parse(readFileSync(path, 'utf8')) as T;
  change(j);
  writeFileSync(path, JSON.stringify(j, null, 4));
};

/** infer and convert of `weights` both fail with `pattern` (one line, exit 1) and leave their output dir empty. */
function refused(weights: string, pattern: RegExp, input = `${DIR}/plain2d.io.safetensors`, ...extra: string[]): void {
  const d = tmp.dir();
  assertOneLineError(unet('infer', '--weights', weights, '--input', input, '--out', join(d, 'y.safetensors'), ...extra), pattern);
  assertOneLineError(unet('convert', weights, '-o', join(d, 'out'), ...extra), pattern);
  assert.equal(readdirSync(d), [], 'nothing written');
}

Bad('a missing plans.json, dataset.json, fold (--folds 3), checkpoint (--checkpoint checkpoint_best.pth)', () => {
  refused(
    broken('plain2d', (d) => rmSync(join(d, 'plans.json'))),
    /plain2d\/plans\.json is missing \(an nnU-Net trainer folder holds plans\.json and dataset\.json\)$/,
  );
  refused(
    broken('plain2d', (d) => rmSync(join(d, 'dataset.json'))),
    /plain2d\/dataset\.json is missing \(an nnU-Net trainer folder holds plans\.json and dataset\.json\)$/,
  );
  refused(`${DIR}/plain2d`, /plain2d\/fold_3\/checkpoint_final\.pth is missing \(fold 3 was asked for\)$/, undefined, '--folds', '3');
  refused(
    `${DIR}/plain2d`,
    /plain2d\/fold_0\/checkpoint_best\.pth is missing \(no fold_N\/checkpoint_best\.pth in .*plain2d\)$/,
    undefined,
    '--checkpoint',
    'checkpoint_best.pth',
  );
});

Bad('a network_class_name we do not run names the ones we do', () => {
  const d = broken('plain2d', (dir) =>
    editJson<Plans>(join(dir, 'plans.json'), (p) => {
      p.configurations['2d'].architecture.network_class_name = 'dynamic_network_architectures.architectures.unet.ResidualUNet';
    }),
  );
  refused(
    d,
    /network class dynamic_network_architectures\.architectures\.unet\.ResidualUNet is not one we run \(we run dynamic_network_architectures' PlainConvUNet and ResidualEncoderUNet\)$/,
  );
});

Bad('a trainer that builds its own network (a Primus trainer) is refused', () => {
  const d = broken('plain2d', (dir) => {
    // the checkpoint's trainer_name, a BINUNICODE string in data.pkl, renamed (length prefix included)
    const path = join(dir, 'fold_0/checkpoint_final.pth');
    const entries = unzipSync(readFileSync(path));
    const pkl = Object.keys(entries).find((k) => k.endsWith('/data.pkl'))!;
    const from = Buffer.from('X\x0d\x00\x00\x00nnUNetTrainer', 'latin1');
    const to = Buffer.from('X\x17\x00\x00\x00nnUNet_Primus_M_Trainer', 'latin1');
    const bytes = Buffer.from(entries[pkl]);
    const at = bytes.indexOf(from);
    assert.ok(at >= 0, 'trainer_name in data.pkl');
    entries[pkl] = Buffer.concat([bytes.subarray(0, at), to, bytes.subarray(at + from.length)]);
    writeFileSync(path, zipSync(entries, { level: 0 }));
  });
  refused(d, /trainer nnUNet_Primus_M_Trainer builds its own network \(build_network_architecture\), not the plans' PlainConvUNet/);
});

Bad('a cascade configuration whose previous stage is missing', () => {
  const d = broken('plain3d_aniso', (dir) =>
    editJson<Plans>(join(dir, 'plans.json'), (p) => {
      p.configurations['3d_fullres'].previous_stage = '3d_lowres';
    }),
  );
  refused(
    d,
    /configuration "3d_fullres" is a cascade stage whose previous stage "3d_lowres" is not in the plans \(they have 2d, 3d_fullres\)$/,
    `${DIR}/plain3d_aniso.io.safetensors`,
  );
});

Bad('channel counts that disagree between dataset.json and the weights (labels; input channels)', () => {
  const labels = broken('plain2d', (dir) =>
    editJson<Dataset>(join(dir, 'dataset.json'), (j) => {
      j.labels.nucleus = 2;
    }),
  );
  refused(labels, /fold_0\.decoder\.seg_layers\.3\.weight has 2 output channels, but configuration "2d" expects 3 \(3 labels in dataset\.json\)/);
  const inputs = broken('plain2d', (dir) => {
    editJson<Dataset>(join(dir, 'dataset.json'), (j) => {
      j.channel_names['1'] = 'G';
    });
    editJson<Plans>(join(dir, 'plans.json'), (p) => {
      const c = p.configurations['2d'];
      c.normalization_schemes = [...c.normalization_schemes, ...c.normalization_schemes];
      c.use_mask_for_norm = [...c.use_mask_for_norm, ...c.use_mask_for_norm];
      p.foreground_intensity_properties_per_channel['1'] = p.foreground_intensity_properties_per_channel['0'];
    });
  });
  refused(
    inputs,
    /fold_0\.encoder\.stages\.0\.0\.convs\.0\.conv\.weight has 1 input channels, but configuration "2d" expects 2 \(2 channel_names in dataset\.json\)/,
  );
});

Bad('a 3D input whose D/H/W is not a multiple of the strides; a 4D input for a 3D model', () => {
  const d = tmp.dir();
  const write = (file: string, shape: number[]) => {
    const p = join(d, file);
    writeFileSync(p, writeSafetensors({ input: { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) } }));
    return p;
  };
  const odd = write('odd.safetensors', [1, 2, 8, 16, 24]);
  const flat = write('flat.safetensors', [1, 2, 16, 32]);
  const w = `${DIR}/plain3d_aniso`;
  assertOneLineError(
    unet('infer', '--weights', w, '--input', odd, '--out', join(d, 'y.safetensors')),
    /odd\.safetensors: tensor "input": shape \[1,2,8,16,24\]: W 24 is not a multiple of 16; this 3D network takes sizes that are multiples of \[4,16,16\] \(its strides\)$/,
  );
  assertOneLineError(
    unet('infer', '--weights', w, '--input', flat, '--out', join(d, 'y.safetensors')),
    /flat\.safetensors: tensor "input" has shape \[1, 2, 16, 32\], expected 5 dimensions \[N, C, D, H, W\] \(a 3D model\)$/,
  );
  assert.equal(readdirSync(d).sort(), ['flat.safetensors', 'odd.safetensors']);
});

Bad('command-line mistakes: --folds without a value or with a bad one, --folds on a state_dict (exit 2)', () => {
  const d = tmp.dir();
  const args = ['--input', `${DIR}/plain2d.io.safetensors`, '--out', join(d, 'y.safetensors')];
  assertOneLineError(unet('infer', '--weights', `${DIR}/plain2d`, ...args, '--folds'), /^unet: infer: --folds needs a value$/, 2);
  assertOneLineError(
    unet('infer', '--weights', `${DIR}/plain2d`, '--folds', 'x', ...args),
    /^unet: infer: --folds takes fold numbers \(0 1 2 or 0,1,2\) or all, found "x"$/,
    2,
  );
  assertOneLineError(unet('infer', '--weights', `${DIR}/plain2d`, '--folds', '0', '0', ...args), /^unet: infer: --folds names fold 0 twice$/, 2);
  assertOneLineError(
    unet('infer', '--weights', 'assets/demo/nuclei_unet.safetensors', '--folds', '0', ...args),
    /^unet: infer: --folds, --checkpoint and --configuration choose from an nnU-Net results folder or its \.zip; .*nuclei_unet\.safetensors is not one/,
    2,
  );
  assertOneLineError(
    unet('convert', `${DIR}/plain2d`, '-o', join(d, 'm.safetensors')),
    /^unet: convert: -o .*m\.safetensors names a file; an nnU-Net model converts to a folder/,
    2,
  );
  assertOneLineError(
    unet('convert', `${DIR}/plain2d`, '-o', `${DIR}/plain2d`),
    /^unet: convert: --out .* is the same file as the checkpoint|is the results folder itself/,
    2,
  );
  assert.equal(readdirSync(d), []);
});

Infer.run();
Bad.run();
