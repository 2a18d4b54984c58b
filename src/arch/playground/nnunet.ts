// nnU-Net's 2D PlainConvUNet as the playground builds it: the options become the plans.json and dataset.json
// nnU-Net's default planner would write for such a network (nnunetv2 experiment_planners/
// default_experiment_planner.py: 3x3 kernels, strides [1,1] then [2,2], 2 convs per stage in the encoder and
// the decoder, conv bias, InstanceNorm2d(eps 1e-5, affine), LeakyReLU (its default slope 0.01), no dropout),
// which the ordinary nnU-Net plug-in (src/arch/nnunet) then reads like any results folder's.
import { type NnunetNetwork, defaultArchKwargs, nnunetConfig } from '../nnunet/plans.js';
import type { ModelOptions } from './types.js';

/** the planner's UNet_base_num_features and UNet_max_features_2d: stage s has min(512, 32 * 2^s) features */
export const NNUNET_BASE_FEATURES = 32;
export const NNUNET_MAX_FEATURES_2D = 512;
/** n_stages offered: one stage has no decoder (dna builds no seg layer); 2D plans at 2048² reach 8 */
export const NNUNET_MIN_STAGES = 2;
export const NNUNET_MAX_STAGES = 8;
/** the configuration the generated plans hold */
export const NNUNET_CONFIGURATION = '2d';

/** features_per_stage as the planner sets them for n stages. */
export function nnunetFeatures(stages: number): number[] {
  return Array.from({ length: stages }, (_, s) => Math.min(NNUNET_MAX_FEATURES_2D, NNUNET_BASE_FEATURES * 2 ** s));
}

/** features_per_stage for another n_stages: the list cut, or extended by doubling up to the planner's cap
 *  (a list already past the cap keeps its last width). */
export function nnunetFeaturesForDepth(features: readonly number[], stages: number): number[] {
  const out = features.slice(0, stages);
  if (out.length === 0) out.push(NNUNET_BASE_FEATURES);
  while (out.length < stages) {
    const last = out[out.length - 1];
    out.push(Math.max(last, Math.min(NNUNET_MAX_FEATURES_2D, last * 2)));
  }
  return out;
}

/** plans.json and dataset.json for the options (configuration '2d'): the input channels are dataset.json's
 *  channel_names, the classes its labels (background included, as nnU-Net counts its segmentation heads). */
export function nnunetFilesOf(o: ModelOptions): { plans: Record<string, unknown>; dataset: Record<string, unknown> } {
  const n = o.depth;
  // the patch the planner would need at least: 4 pixels a side at the bottleneck (UNet_featuremap_min_edge_length)
  const side = Math.max(64, 4 * 2 ** (n - 1));
  const perStage = <T>(f: (s: number) => T) => Array.from({ length: n }, (_, s) => f(s));
  const norm = o.decoderNorm === 'batchnorm' ? 'torch.nn.modules.batchnorm.BatchNorm2d' : 'torch.nn.modules.instancenorm.InstanceNorm2d';
  const resampling = (isSeg: boolean, order: number) => ({ is_seg: isSeg, order, order_z: 0, force_separate_z: null });
  const plans = {
    dataset_name: 'Dataset999_playground',
    plans_name: 'nnUNetPlans',
    original_median_spacing_after_transp: [999.0, 1.0, 1.0],
    original_median_shape_after_transp: [1, side, side],
    image_reader_writer: 'NaturalImage2DIO',
    transpose_forward: [0, 1, 2],
    transpose_backward: [0, 1, 2],
    configurations: {
      [NNUNET_CONFIGURATION]: {
        data_identifier: 'nnUNetPlans_2d',
        preprocessor_name: 'DefaultPreprocessor',
        batch_size: 2,
        patch_size: [side, side],
        median_image_size_in_voxels: [side, side],
        spacing: [1.0, 1.0],
        normalization_schemes: Array(o.inChannels).fill('ZScoreNormalization'),
        use_mask_for_norm: Array(o.inChannels).fill(false),
        resampling_fn_data: 'resample_data_or_seg_to_shape',
        resampling_fn_seg: 'resample_data_or_seg_to_shape',
        resampling_fn_data_kwargs: resampling(false, 3),
        resampling_fn_seg_kwargs: resampling(true, 1),
        resampling_fn_probabilities: 'resample_data_or_seg_to_shape',
        resampling_fn_probabilities_kwargs: resampling(false, 1),
        architecture: {
          network_class_name: 'dynamic_network_architectures.architectures.unet.PlainConvUNet',
          arch_kwargs: {
            n_stages: n,
            features_per_stage: [...o.decoderChannels],
            conv_op: 'torch.nn.modules.conv.Conv2d',
            kernel_sizes: perStage(() => [3, 3]),
            strides: perStage((s) => (s === 0 ? [1, 1] : [2, 2])),
            n_conv_per_stage: perStage(() => 2),
            n_conv_per_stage_decoder: perStage(() => 2).slice(1),
            ...defaultArchKwargs(norm),
          },
          _kw_requires_import: ['conv_op', 'norm_op', 'dropout_op', 'nonlin'],
        },
        batch_dice: true,
      },
    },
    experiment_planner_used: 'ExperimentPlanner',
    label_manager: 'LabelManager',
    foreground_intensity_properties_per_channel: Object.fromEntries(
      Array.from({ length: o.inChannels }, (_, c) => [String(c), { max: 1, mean: 0, median: 0, min: -1, percentile_00_5: -1, percentile_99_5: 1, std: 1 }]),
    ),
  };
  const dataset = {
    channel_names: Object.fromEntries(Array.from({ length: o.inChannels }, (_, c) => [String(c), `channel ${c}`])),
    labels: Object.fromEntries(Array.from({ length: o.classes }, (_, k) => [k === 0 ? 'background' : `class ${k}`, k])),
    numTraining: 0,
    file_ending: '.png',
    name: 'playground',
    description: 'generated by the webgpu-unet playground (random weights)',
  };
  return { plans, dataset };
}

/** The network the nnU-Net plug-in builds from those files. */
export function nnunetNetworkOf(o: ModelOptions): NnunetNetwork {
  const { plans, dataset } = nnunetFilesOf(o);
  return nnunetConfig(plans, dataset, NNUNET_CONFIGURATION, { plansFile: 'playground plans.json', datasetFile: 'playground dataset.json' }).network;
}
