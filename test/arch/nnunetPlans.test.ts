// plans.json + dataset.json -> the network nnU-Net builds (src/arch/nnunet/plans.ts), on plans shaped like the
// default and ResEnc planners' output (nnunetv2/experiment_planning) and like the old plans format.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { InputError, UnsupportedError, WeightsError } from '../../src/errors.js';
import { checkNnunetChannels, nnunetConfig, nnunetConfigurations, parseNnunetJson } from '../../src/arch/nnunet/plans.js';

const resampling = (order: number) => ({ is_seg: false, order, order_z: 0, force_separate_z: null });
const arch = (dims: 2 | 3, nStages: number, extra: Record<string, unknown> = {}, cls = 'unet.PlainConvUNet') => ({
  network_class_name: `dynamic_network_architectures.architectures.${cls}`,
  arch_kwargs: {
    n_stages: nStages,
    features_per_stage: Array.from({ length: nStages }, (_, i) => Math.min(32 * 2 ** i, dims === 3 ? 320 : 512)),
    conv_op: `torch.nn.modules.conv.Conv${dims}d`,
    kernel_sizes: Array.from({ length: nStages }, (_, i) => (dims === 3 && i < 2 ? [1, 3, 3] : new Array(dims).fill(3))),
    strides: Array.from({ length: nStages }, (_, i) => (i === 0 ? new Array(dims).fill(1) : dims === 3 && i < 3 ? [1, 2, 2] : new Array(dims).fill(2))),
    n_conv_per_stage: new Array(nStages).fill(2),
    n_conv_per_stage_decoder: new Array(nStages - 1).fill(2),
    conv_bias: true,
    norm_op: `torch.nn.modules.instancenorm.InstanceNorm${dims}d`,
    norm_op_kwargs: { eps: 1e-5, affine: true },
    dropout_op: null,
    dropout_op_kwargs: null,
    nonlin: 'torch.nn.LeakyReLU',
    nonlin_kwargs: { inplace: true },
    ...extra,
  },
  _kw_requires_import: ['conv_op', 'norm_op', 'dropout_op', 'nonlin'],
});
const config = (patch: number[], spacing: number[], architecture: object) => ({
  data_identifier: 'nnUNetPlans_x',
  preprocessor_name: 'DefaultPreprocessor',
  batch_size: 2,
  patch_size: patch,
  median_image_size_in_voxels: patch,
  spacing,
  normalization_schemes: ['CTNormalization', 'ZScoreNormalization'],
  use_mask_for_norm: [false, false],
  resampling_fn_data: 'resample_data_or_seg_to_shape',
  resampling_fn_seg: 'resample_data_or_seg_to_shape',
  resampling_fn_data_kwargs: resampling(3),
  resampling_fn_seg_kwargs: { ...resampling(1), is_seg: true },
  resampling_fn_probabilities: 'resample_data_or_seg_to_shape',
  resampling_fn_probabilities_kwargs: resampling(1),
  architecture,
  batch_dice: true,
});
const PLANS = {
  dataset_name: 'Dataset004_Hippocampus',
  plans_name: 'nnUNetPlans',
  original_median_spacing_after_transp: [3, 0.78, 0.78],
  original_median_shape_after_transp: [80, 512, 512],
  image_reader_writer: 'SimpleITKIO',
  transpose_forward: [0, 1, 2],
  transpose_backward: [0, 1, 2],
  configurations: {
    '2d': config([512, 512], [0.78, 0.78], arch(2, 8)),
    '3d_lowres': { ...config([64, 160, 160], [3, 1.6, 1.6], arch(3, 6)), next_stage: '3d_cascade_fullres' },
    '3d_fullres': config([40, 224, 224], [3, 0.78, 0.78], arch(3, 6)),
    '3d_cascade_fullres': { inherits_from: '3d_fullres', previous_stage: '3d_lowres' },
  },
  experiment_planner_used: 'ExperimentPlanner',
  label_manager: 'LabelManager',
  foreground_intensity_properties_per_channel: {
    '0': { max: 3000, mean: 100.5, median: 90, min: -1000, percentile_00_5: -500, percentile_99_5: 1200, std: 300 },
    '1': { max: 10, mean: 1, median: 1, min: 0, percentile_00_5: 0, percentile_99_5: 5, std: 1 },
  },
};
const DATASET = { channel_names: { '0': 'CT', '1': 'PET' }, labels: { background: 0, liver: 1, tumor: 2 }, numTraining: 10, file_ending: '.nii.gz' };
const clone = <T>(v: T): T => structuredClone(v);

const Plans = suite('nnU-Net plans -> network');

Plans('3d_fullres (default planner): PlainConvUNet 3D, 6 stages, 2 -> 3 classes, InstanceNorm eps 1e-5 affine, LeakyReLU 0.01', () => {
  const c = nnunetConfig(PLANS, DATASET, '3d_fullres');
  const n = c.network;
  assert.is(n.className, 'PlainConvUNet');
  assert.is(n.dims, 3);
  assert.is(n.inputChannels, 2);
  assert.is(n.numClasses, 3);
  assert.is(n.nStages, 6);
  assert.equal(n.featuresPerStage, [32, 64, 128, 256, 320, 320]); // min(32 * 2^i, 320)
  assert.equal(n.kernelSizes[0], [1, 3, 3]);
  assert.equal(n.strides.slice(0, 4), [
    [1, 1, 1],
    [1, 2, 2],
    [1, 2, 2],
    [2, 2, 2],
  ]);
  assert.equal(n.nConvPerStage, [2, 2, 2, 2, 2, 2]);
  assert.equal(n.nConvPerStageDecoder, [2, 2, 2, 2, 2]);
  assert.is(n.convBias, true);
  assert.equal(n.norm, { kind: 'instance', eps: 1e-5, affine: true });
  assert.equal(n.nonlin, { kind: 'leakyRelu', slope: 0.01 });
  assert.is(n.nonlinFirst, false);
  assert.is(c.outputActivation, 'softmax');
  assert.equal(c.patchSize, [40, 224, 224]);
  assert.equal(c.spacing, [3, 0.78, 0.78]);
  assert.equal(c.allLabels, [0, 1, 2]);
  assert.equal(c.foregroundLabels, [1, 2]);
  assert.equal(c.normalizationSchemes, ['CTNormalization', 'ZScoreNormalization']);
  assert.equal(c.resamplingData, { fn: 'resample_data_or_seg_to_shape', kwargs: resampling(3) });
  assert.is(c.foregroundIntensityProperties['0'].percentile_99_5, 1200);
  assert.equal(c.transposeBackward, [0, 1, 2]);
  assert.is(c.previousStage, undefined);
  assert.equal(nnunetConfigurations(PLANS), ['2d', '3d_lowres', '3d_fullres', '3d_cascade_fullres']);
});

Plans('2d: Conv2d, 8 stages, features capped at 512', () => {
  const n = nnunetConfig(PLANS, DATASET, '2d').network;
  assert.is(n.dims, 2);
  assert.equal(n.featuresPerStage, [32, 64, 128, 256, 512, 512, 512, 512]);
  assert.equal(n.kernelSizes[7], [3, 3]);
});

Plans('3d_cascade_fullres inherits 3d_fullres; input channels + the foreground labels of 3d_lowres', () => {
  const c = nnunetConfig(PLANS, DATASET, '3d_cascade_fullres');
  assert.is(c.previousStage, '3d_lowres');
  assert.is(c.network.inputChannels, 4); // 2 channels + labels 1, 2 one-hot
  assert.equal(c.patchSize, [40, 224, 224]);
  assert.equal(nnunetConfig(PLANS, DATASET, '3d_lowres').nextStages, ['3d_cascade_fullres']);
  const missing = clone(PLANS) as { configurations: Record<string, unknown> };
  delete missing.configurations['3d_lowres'];
  assert.throws(
    () => nnunetConfig(missing, DATASET, '3d_cascade_fullres', { plansFile: 'm/plans.json' }),
    (e: Error) =>
      e instanceof WeightsError &&
      /^m\/plans\.json: configuration "3d_cascade_fullres" is a cascade stage whose previous stage "3d_lowres" is not in the plans/.test(e.message),
  );
});

Plans('inheritance: a child overrides its parent one level deep, through two levels; a cycle is an error', () => {
  const p = clone(PLANS) as typeof PLANS & { configurations: Record<string, object> };
  p.configurations.a = { inherits_from: '3d_fullres', batch_size: 4, patch_size: [32, 32, 32] };
  p.configurations.b = { inherits_from: 'a', spacing: [1, 1, 1] };
  const c = nnunetConfig(p, DATASET, 'b');
  assert.equal(c.patchSize, [32, 32, 32]);
  assert.equal(c.spacing, [1, 1, 1]);
  assert.is(c.plans.batch_size, 4);
  assert.is(c.network.nStages, 6);
  p.configurations.x = { inherits_from: 'y' };
  p.configurations.y = { inherits_from: 'x' };
  assert.throws(() => nnunetConfig(p, DATASET, 'x'), /plans\.json: configurations inherit in a circle: x -> y -> x/);
});

Plans('ResEnc planner: ResidualEncoderUNet, n_blocks_per_stage, BasicBlockD, stem = features[0]; BottleneckD with bottleneck_channels', () => {
  const p = clone(PLANS);
  const a = arch(3, 6, {}, 'unet.ResidualEncoderUNet') as { arch_kwargs: Record<string, unknown> };
  delete a.arch_kwargs.n_conv_per_stage;
  a.arch_kwargs.n_blocks_per_stage = [1, 3, 4, 6, 6, 6];
  a.arch_kwargs.n_conv_per_stage_decoder = [1, 1, 1, 1, 1];
  (p.configurations as Record<string, unknown>)['3d_fullres'] = config([40, 224, 224], [3, 0.78, 0.78], a);
  const n = nnunetConfig(p, DATASET, '3d_fullres').network;
  assert.is(n.className, 'ResidualEncoderUNet');
  assert.equal(n.nConvPerStage, [1, 3, 4, 6, 6, 6]);
  assert.equal(n.nConvPerStageDecoder, [1, 1, 1, 1, 1]);
  assert.is(n.block, 'BasicBlockD');
  assert.is(n.stemChannels, 32);
  a.arch_kwargs.block = 'dynamic_network_architectures.building_blocks.residual.BottleneckD';
  a.arch_kwargs.bottleneck_channels = 8;
  a.arch_kwargs.stem_channels = 16;
  const b = nnunetConfig(p, DATASET, '3d_fullres').network;
  assert.is(b.block, 'BottleneckD');
  assert.equal(b.bottleneckChannels, [8, 8, 8, 8, 8, 8]);
  assert.is(b.stemChannels, 16);
  a.arch_kwargs.nonlin_first = true; // not a ResidualEncoderUNet argument: a TypeError in Python
  assert.throws(() => nnunetConfig(p, DATASET, '3d_fullres'), /arch_kwargs\.nonlin_first is not an argument of ResidualEncoderUNet/);
});

Plans('ints expanded as dynamic_network_architectures expands them; ReLU, BatchNorm, no norm, nonlin_first', () => {
  const p = clone(PLANS);
  const a = arch(2, 3, {
    features_per_stage: 16,
    kernel_sizes: 3,
    strides: [1, 2, [2, 1]],
    n_conv_per_stage: 1,
    n_conv_per_stage_decoder: 2,
    nonlin: 'torch.nn.ReLU',
    norm_op: 'torch.nn.BatchNorm2d',
    norm_op_kwargs: { eps: 1e-3 },
    nonlin_first: true,
    dropout_op: 'torch.nn.modules.dropout.Dropout2d',
    dropout_op_kwargs: { p: 0.2 },
  });
  (p.configurations as Record<string, unknown>)['2d'] = config([64, 64], [1, 1], a);
  const n = nnunetConfig(p, DATASET, '2d').network;
  assert.equal(n.featuresPerStage, [16, 16, 16]);
  assert.equal(n.kernelSizes, [
    [3, 3],
    [3, 3],
    [3, 3],
  ]);
  assert.equal(n.strides, [
    [1, 1],
    [2, 2],
    [2, 1],
  ]);
  assert.equal(n.nConvPerStage, [1, 1, 1]);
  assert.equal(n.nConvPerStageDecoder, [2, 2]);
  assert.equal(n.nonlin, { kind: 'relu' });
  assert.equal(n.norm, { kind: 'batch', eps: 1e-3, affine: true }); // BatchNorm's default affine
  assert.is(n.nonlinFirst, true);
  (a.arch_kwargs as Record<string, unknown>).norm_op = null;
  (a.arch_kwargs as Record<string, unknown>).nonlin_kwargs = { negative_slope: 0.2 };
  (a.arch_kwargs as Record<string, unknown>).nonlin = 'torch.nn.modules.activation.LeakyReLU';
  const m = nnunetConfig(p, DATASET, '2d').network;
  assert.is(m.norm, null);
  assert.equal(m.nonlin, { kind: 'leakyRelu', slope: 0.2 });
});

Plans('old plans (UNet_class_name, conv_kernel_sizes, ...) converted as ConfigurationManager does', () => {
  const old = {
    ...config([48, 160, 128], [2, 0.8, 0.8], undefined as unknown as object),
    UNet_class_name: 'PlainConvUNet',
    UNet_base_num_features: 32,
    unet_max_num_features: 320,
    n_conv_per_stage_encoder: [2, 2, 2, 2, 2, 2],
    n_conv_per_stage_decoder: [2, 2, 2, 2, 2],
    num_pool_per_axis: [3, 5, 5],
    pool_op_kernel_sizes: [
      [1, 1, 1],
      [1, 2, 2],
      [2, 2, 2],
      [2, 2, 2],
      [1, 2, 2],
      [1, 2, 2],
    ],
    conv_kernel_sizes: [
      [1, 3, 3],
      [3, 3, 3],
      [3, 3, 3],
      [3, 3, 3],
      [3, 3, 3],
      [3, 3, 3],
    ],
  } as Record<string, unknown>;
  delete old.architecture;
  const p = { ...clone(PLANS), configurations: { '3d_fullres': old } };
  const n = nnunetConfig(p, DATASET, '3d_fullres').network;
  assert.is(n.className, 'PlainConvUNet');
  assert.is(n.dims, 3);
  assert.equal(n.featuresPerStage, [32, 64, 128, 256, 320, 320]);
  assert.equal(n.strides[4], [1, 2, 2]);
  assert.equal(n.kernelSizes[0], [1, 3, 3]);
  assert.equal(n.norm, { kind: 'instance', eps: 1e-5, affine: true });
  assert.equal(n.nonlin, { kind: 'leakyRelu', slope: 0.01 });
  old.UNet_class_name = 'ResidualEncoderUNet'; // old plans' path architectures.residual_unet: found by its last name
  const r = nnunetConfig(p, DATASET, '3d_fullres').network;
  assert.is(r.className, 'ResidualEncoderUNet');
  assert.equal(r.nConvPerStage, [2, 2, 2, 2, 2, 2]);
  old.UNet_class_name = 'GenericUNet';
  assert.throws(
    () => nnunetConfig(p, DATASET, '3d_fullres'),
    (e: Error) => e instanceof UnsupportedError && /UNet_class_name "GenericUNet"/.test(e.message),
  );
});

Plans('regions (BraTS-style): sigmoid outputs, one per foreground region, regions_class_order kept', () => {
  const ds = {
    channel_names: { '0': 'T1', '1': 'T1ce', '2': 'T2', '3': 'FLAIR' },
    labels: { background: 0, whole: [1, 2, 3], core: [2, 3], enh: 3 },
    regions_class_order: [1, 2, 3],
  };
  const p = clone(PLANS);
  for (const c of Object.values(p.configurations) as Record<string, unknown>[]) {
    if ('normalization_schemes' in c) [c.normalization_schemes, c.use_mask_for_norm] = [new Array(4).fill('ZScoreNormalization'), new Array(4).fill(true)];
  }
  const c = nnunetConfig(p, ds, '3d_fullres');
  assert.is(c.outputActivation, 'sigmoid');
  assert.equal(c.regions, [[1, 2, 3], [2, 3], 3]);
  assert.equal(c.regionsClassOrder, [1, 2, 3]);
  assert.is(c.network.numClasses, 3);
  assert.is(c.network.inputChannels, 4);
  assert.throws(
    () => nnunetConfig(p, { ...ds, regions_class_order: [1, 2] }, '3d_fullres'),
    /dataset\.json: regions_class_order has 2 entries, the labels 3 regions/,
  );
});

Plans('an ignore label is no output; it must be the highest label', () => {
  const c = nnunetConfig(PLANS, { ...DATASET, labels: { background: 0, a: 1, ignore: 2 } }, '3d_fullres');
  assert.is(c.network.numClasses, 2);
  assert.is(c.ignoreLabel, 2);
  assert.throws(
    () => nnunetConfig(PLANS, { ...DATASET, labels: { background: 0, a: 1, ignore: 5 } }, '3d_fullres'),
    /ignore label must be the highest label value \(2\), found 5/,
  );
});

const Bad = suite('nnU-Net plans: refused in one line');

Bad('a configuration not in the plans lists those there', () => {
  assert.throws(
    () => nnunetConfig(PLANS, DATASET, '3d_highres', { plansFile: 'D/plans.json' }),
    (e: Error) =>
      e instanceof InputError && e.message === 'D/plans.json: no configuration "3d_highres" (the plans have 2d, 3d_lowres, 3d_fullres, 3d_cascade_fullres)',
  );
});

Bad('a network class we do not run names the ones we do', () => {
  const p = clone(PLANS);
  (p.configurations['3d_fullres'].architecture as { network_class_name: string }).network_class_name =
    'dynamic_network_architectures.architectures.primus.Primus';
  assert.throws(
    () => nnunetConfig(p, DATASET, '3d_fullres'),
    (e: Error) =>
      e instanceof UnsupportedError &&
      /network class dynamic_network_architectures\.architectures\.primus\.Primus is not one we run \(we run dynamic_network_architectures' PlainConvUNet and ResidualEncoderUNet\)$/.test(
        e.message,
      ),
  );
  (p.configurations['3d_fullres'].architecture as { network_class_name: string }).network_class_name = 'mypackage.PlainConvUNet';
  assert.throws(() => nnunetConfig(p, DATASET, '3d_fullres'), /network class mypackage\.PlainConvUNet is not one we run/);
});

Bad('a trainer with its own architecture is refused; nnUNetTrainerBN runs with batch norm', () => {
  assert.throws(
    () => nnunetConfig(PLANS, DATASET, '3d_fullres', { trainerName: 'nnUNet_Primus_M_Trainer' }),
    (e: Error) => e instanceof UnsupportedError && /trainer nnUNet_Primus_M_Trainer builds its own network/.test(e.message),
  );
  assert.equal(nnunetConfig(PLANS, DATASET, '3d_fullres', { trainerName: 'nnUNetTrainerBN' }).network.norm, { kind: 'batch', eps: 1e-5, affine: true });
  assert.equal(nnunetConfig(PLANS, DATASET, '3d_fullres', { trainerName: 'nnUNetTrainer_250epochs' }).network.norm?.kind, 'instance');
});

Bad('bad kwargs, dataset.json and JSON name the file and the field', () => {
  const p = clone(PLANS);
  const kwargs = (p.configurations['2d'].architecture as { arch_kwargs: Record<string, unknown> }).arch_kwargs;
  kwargs.kernel_sizes = [[3, 3]];
  assert.throws(() => nnunetConfig(p, DATASET, '2d'), /plans\.json: configuration "2d": arch_kwargs\.kernel_sizes must have 8 entries \(n_stages\)/);
  kwargs.conv_op = 'torch.nn.Conv1d';
  assert.throws(() => nnunetConfig(p, DATASET, '2d'), /1D networks are not supported/);
  assert.throws(
    () => nnunetConfig(PLANS, { ...DATASET, labels: { tumor: 1 } }, '2d', { datasetFile: 'x/dataset.json' }),
    /^x\/dataset\.json: labels must declare "background": 0$/,
  );
  assert.throws(() => nnunetConfig(PLANS, { labels: DATASET.labels }, '2d'), /dataset\.json: expected a non-empty "channel_names" object/);
  assert.throws(
    () => parseNnunetJson('{"a": ', 'f/plans.json'),
    (e: Error) => e instanceof WeightsError && /^f\/plans\.json: not valid JSON/.test(e.message),
  );
  assert.throws(() => parseNnunetJson('[1]', 'f/plans.json'), /f\/plans\.json: expected a JSON object, found \[1\]/);
});

Bad("the weights disagree with the plans: the builder's channel check says why", () => {
  const c = nnunetConfig(PLANS, DATASET, '3d_cascade_fullres');
  checkNnunetChannels(c, 'input', 4, 'encoder.stages.0.0.convs.0.conv.weight');
  assert.throws(
    () => checkNnunetChannels(c, 'input', 2, 'encoder.stages.0.0.convs.0.conv.weight'),
    (e: Error) =>
      e instanceof WeightsError &&
      e.message ===
        'encoder.stages.0.0.convs.0.conv.weight has 2 input channels, but configuration "3d_cascade_fullres" expects 4 (2 channel_names in dataset.json + 2 foreground labels of 3d_lowres)',
  );
  assert.throws(() => checkNnunetChannels(c, 'output', 2, 'decoder.seg_layers.4.weight'), /expects 3 \(3 labels in dataset\.json\)/);
});

Plans.run();
Bad.run();
