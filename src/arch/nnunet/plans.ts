// nnU-Net v2's plans.json + dataset.json + a configuration name -> the network to build and what the
// predictor needs around it, read as nnU-Net reads them (nnunetv2/utilities/plans_handling/plans_handler.py,
// get_network_from_plans.py, label_handling/label_handling.py; dynamic_network_architectures' unet.py):
//  - `inherits_from` is resolved first (the parent's dict updated, one level deep, by the child's keys; a
//    cycle is an error), then plans written before `architecture` existed (UNet_class_name, conv_kernel_sizes,
//    pool_op_kernel_sizes, ...) are converted exactly as ConfigurationManager converts them;
//  - the architecture's dotted class names (`_kw_requires_import`) are matched by name, never imported: we run
//    PlainConvUNet and ResidualEncoderUNet with Conv2d/3d, InstanceNorm / BatchNorm, LeakyReLU / ReLU;
//  - ints are expanded to per-stage lists where dynamic_network_architectures accepts them; dropout is an
//    identity at inference and deep supervision is off (only the last seg layer runs).
// Pure data: no I/O, browser-safe. Errors name the file and what was expected, on one line.
import { InputError, UnsupportedError, WeightsError } from '../../errors.js';
import { shownValue } from '../../limits.js';

export type NnunetClass = 'PlainConvUNet' | 'ResidualEncoderUNet';
export const NNUNET_CLASSES: readonly NnunetClass[] = ['PlainConvUNet', 'ResidualEncoderUNet'];

export interface NnunetNetwork {
  className: NnunetClass;
  /** from conv_op: torch.nn.modules.conv.Conv2d / Conv3d */
  dims: 2 | 3;
  /** dataset.json's channel_names (or modality) count, plus the previous stage's foreground labels in a cascade */
  inputChannels: number;
  /** LabelManager.num_segmentation_heads: the labels (background included), or the foreground regions */
  numClasses: number;
  nStages: number;
  featuresPerStage: number[];
  /** per stage, one size per spatial axis */
  kernelSizes: number[][];
  strides: number[][];
  /** n_conv_per_stage (PlainConvUNet), or n_blocks_per_stage (ResidualEncoderUNet) */
  nConvPerStage: number[];
  /** n_stages - 1 entries, the deepest decoder stage first */
  nConvPerStageDecoder: number[];
  convBias: boolean;
  norm: { kind: 'instance' | 'batch'; eps: number; affine: boolean } | null;
  nonlin: { kind: 'leakyRelu'; slope: number } | { kind: 'relu' } | null;
  /** conv -> nonlin -> norm instead of conv -> norm -> nonlin (PlainConvUNet only) */
  nonlinFirst: boolean;
  /** ResidualEncoderUNet's block; PlainConvUNet has none and says BasicBlockD */
  block: 'BasicBlockD' | 'BottleneckD';
  /** BottleneckD's inner widths, per stage */
  bottleneckChannels?: number[];
  /** ResidualEncoderUNet's stem width (default features_per_stage[0]) */
  stemChannels?: number;
}

/** A dataset.json label: one value, or a region (a set of values) for region-based training. */
export type NnunetLabel = number | number[];

export interface NnunetResampling {
  /** e.g. 'resample_data_or_seg_to_shape' */
  fn: string;
  /** e.g. { is_seg: false, order: 3, order_z: 0, force_separate_z: null } */
  kwargs: Record<string, unknown>;
}

/** One channel's foreground intensity statistics (the CT normalization's clip range, mean and std). */
export interface NnunetIntensityProperties {
  mean: number;
  std: number;
  percentile_00_5: number;
  percentile_99_5: number;
  [key: string]: number;
}

export interface NnunetConfig {
  configuration: string;
  network: NnunetNetwork;
  /** the configuration's dict, inheritance resolved (and old plans converted) */
  plans: Record<string, unknown>;
  /** the whole plans.json */
  plansFile: Record<string, unknown>;
  dataset: Record<string, unknown>;
  datasetName?: string;
  plansName?: string;
  /** dataset.json's channel names (or modalities) in key order */
  channelNames: string[];
  labels: Record<string, NnunetLabel>;
  /** all label values but the ignore label, sorted (LabelManager.all_labels) */
  allLabels: number[];
  foregroundLabels: number[];
  ignoreLabel?: number;
  /** foreground regions, in dataset.json order (region-based models only) */
  regions?: NnunetLabel[];
  regionsClassOrder?: number[];
  /** softmax over labels, or a sigmoid per region */
  outputActivation: 'softmax' | 'sigmoid';
  patchSize: number[];
  /** target spacing, in the transposed axis order */
  spacing: number[];
  previousStage?: string;
  nextStages?: string[];
  normalizationSchemes: string[];
  useMaskForNorm: boolean[];
  transposeForward: number[];
  transposeBackward: number[];
  resamplingData: NnunetResampling;
  resamplingSeg: NnunetResampling;
  resamplingProbabilities: NnunetResampling;
  /** by channel index as text ('0', '1', ...) */
  foregroundIntensityProperties: Record<string, NnunetIntensityProperties>;
  fileEnding?: string;
  imageReaderWriter?: string;
}

export interface NnunetConfigOptions {
  /** names plans.json in messages (a path in a results folder or zip); default 'plans.json' */
  plansFile?: string;
  /** names dataset.json in messages; default 'dataset.json' */
  datasetFile?: string;
  /** the checkpoint's trainer_name: a trainer that builds its own network is refused, nnUNetTrainerBN's
   *  batch norm applied */
  trainerName?: string;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const own = (o: Json, k: string): unknown => (Object.hasOwn(o, k) ? o[k] : undefined);

/** Parses plans.json / dataset.json text (or bytes) into an object; anything else is a WeightsError naming the file. */
export function parseNnunetJson(data: string | Uint8Array, file: string): Json {
  let v: unknown;
  try {
    v = JSON.parse(typeof data === 'string' ? data : new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch (e) {
    throw new WeightsError(`${file}: not valid JSON (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
  }
  if (!isObject(v)) throw new WeightsError(`${file}: expected a JSON object, found ${shownValue(v)}`);
  return v;
}

/**
 * The configuration `configuration` of these plans, resolved and read. Throws InputError for a configuration
 * the plans do not have, UnsupportedError for a network or trainer we do not run, WeightsError for plans or
 * a dataset.json that nnU-Net itself could not have built a network from.
 */
export function nnunetConfig(plans: unknown, dataset: unknown, configuration: string, options: NnunetConfigOptions = {}): NnunetConfig {
  const pf = options.plansFile ?? 'plans.json';
  const df = options.datasetFile ?? 'dataset.json';
  if (!isObject(plans)) throw new WeightsError(`${pf}: expected a JSON object, found ${shownValue(plans)}`);
  if (!isObject(dataset)) throw new WeightsError(`${df}: expected a JSON object, found ${shownValue(dataset)}`);
  const cfg = resolveConfiguration(plans, configuration, pf);
  const at = `${pf}: configuration ${JSON.stringify(configuration)}`;
  const arch = architectureOf(cfg, at);
  const labels = readLabels(plans, dataset, df, pf);
  const channelNames = readChannels(dataset, df);

  const previousStage = optionalString(cfg, 'previous_stage', at);
  if (previousStage !== undefined) {
    const configs = plans.configurations as Json;
    if (!Object.hasOwn(configs, previousStage)) {
      throw new WeightsError(
        `${at} is a cascade stage whose previous stage ${JSON.stringify(previousStage)} is not in the plans (they have ${Object.keys(configs).join(', ')})`,
      );
    }
  }
  // determine_num_input_channels: a cascade stage also takes the previous stage's one-hot foreground labels
  const inputChannels = channelNames.length + (previousStage !== undefined ? labels.foregroundLabels.length : 0);
  const numClasses = labels.regions ? labels.regions.length : labels.allLabels.length;
  const network = buildNetwork(arch, inputChannels, numClasses, at);
  if (options.trainerName !== undefined) applyTrainer(network, arch, options.trainerName, pf);

  const nextStage = own(cfg, 'next_stage');
  const dims = network.dims;
  return {
    configuration,
    network,
    plans: cfg,
    plansFile: plans,
    dataset,
    datasetName: typeof plans.dataset_name === 'string' ? plans.dataset_name : undefined,
    plansName: typeof plans.plans_name === 'string' ? plans.plans_name : undefined,
    channelNames,
    ...labels,
    outputActivation: labels.regions ? 'sigmoid' : 'softmax',
    patchSize: numbers(own(cfg, 'patch_size'), `${at}: patch_size`, dims, true),
    spacing: numbers(own(cfg, 'spacing'), `${at}: spacing`, dims, false),
    previousStage,
    nextStages: typeof nextStage === 'string' ? [nextStage] : Array.isArray(nextStage) ? nextStage.map(String) : undefined,
    normalizationSchemes: stringList(own(cfg, 'normalization_schemes'), `${at}: normalization_schemes`, channelNames.length),
    useMaskForNorm: boolList(own(cfg, 'use_mask_for_norm'), `${at}: use_mask_for_norm`, channelNames.length),
    transposeForward: permutation(own(plans, 'transpose_forward'), `${pf}: transpose_forward`),
    transposeBackward: permutation(own(plans, 'transpose_backward'), `${pf}: transpose_backward`),
    resamplingData: resampling(cfg, 'resampling_fn_data', at),
    resamplingSeg: resampling(cfg, 'resampling_fn_seg', at),
    resamplingProbabilities: resampling(cfg, 'resampling_fn_probabilities', at),
    foregroundIntensityProperties: intensityProperties(plans, pf),
    fileEnding: typeof dataset.file_ending === 'string' ? dataset.file_ending : undefined,
    imageReaderWriter: typeof plans.image_reader_writer === 'string' ? plans.image_reader_writer : undefined,
  };
}

/** The configurations a plans.json declares, in its order. */
export function nnunetConfigurations(plans: unknown, plansFile = 'plans.json'): string[] {
  if (!isObject(plans) || !isObject(plans.configurations)) throw new WeightsError(`${plansFile}: no "configurations" object: not an nnU-Net v2 plans file`);
  return Object.keys(plans.configurations);
}

/**
 * The builder's check of the weights against the plans: `found` channels in `tensor` where the plans and
 * dataset.json say `config.network.inputChannels` (side 'input') or numClasses ('output').
 */
export function checkNnunetChannels(config: NnunetConfig, side: 'input' | 'output', found: number, tensor: string): void {
  const n = config.network;
  const want = side === 'input' ? n.inputChannels : n.numClasses;
  if (found === want) return;
  let why: string;
  if (side === 'input') {
    const cascade = config.previousStage !== undefined ? ` + ${config.foregroundLabels.length} foreground labels of ${config.previousStage}` : '';
    why = `${config.channelNames.length} channel_names in dataset.json${cascade}`;
  } else why = config.regions ? `${config.regions.length} regions in dataset.json labels` : `${config.allLabels.length} labels in dataset.json`;
  throw new WeightsError(`${tensor} has ${found} ${side} channels, but configuration ${JSON.stringify(config.configuration)} expects ${want} (${why})`);
}

// --- plans ---

/** PlansManager._internal_resolve_configuration_inheritance: the parent's keys, updated by the child's. */
function resolveConfiguration(plans: Json, name: string, pf: string): Json {
  const configs = own(plans, 'configurations');
  if (!isObject(configs)) throw new WeightsError(`${pf}: no "configurations" object: not an nnU-Net v2 plans file`);
  if (!Object.hasOwn(configs, name)) {
    throw new InputError(`${pf}: no configuration ${JSON.stringify(name)} (the plans have ${Object.keys(configs).join(', ') || 'none'})`);
  }
  const chain: string[] = [];
  let current: string | undefined = name;
  while (current !== undefined) {
    if (chain.includes(current)) throw new WeightsError(`${pf}: configurations inherit in a circle: ${[...chain, current].join(' -> ')}`);
    if (!Object.hasOwn(configs, current)) {
      throw new WeightsError(
        `${pf}: configuration ${JSON.stringify(chain[chain.length - 1])} inherits from ${JSON.stringify(current)}, which the plans do not have (they have ${Object.keys(configs).join(', ')})`,
      );
    }
    const c = configs[current];
    if (!isObject(c)) throw new WeightsError(`${pf}: configuration ${JSON.stringify(current)} is ${shownValue(c)}, not an object`);
    chain.push(current);
    const parent = own(c, 'inherits_from');
    if (parent !== undefined && typeof parent !== 'string')
      throw new WeightsError(`${pf}: ${current}.inherits_from must be a configuration name, found ${shownValue(parent)}`);
    current = parent;
  }
  // deepcopy through JSON: the plans came from JSON (or a checkpoint's init_args, plain values)
  let out: Json = {};
  for (const c of chain.reverse()) out = { ...out, ...(structuredClone(configs[c]) as Json) };
  return out;
}

interface Architecture {
  /** the dotted class name as written */
  classPath: string;
  className: NnunetClass;
  kwargs: Json;
}

/** The architecture dict, converting plans from before it existed (ConfigurationManager.__init__). */
function architectureOf(cfg: Json, at: string): Architecture {
  let arch = own(cfg, 'architecture');
  if (arch === undefined) arch = convertOldPlans(cfg, at);
  if (!isObject(arch)) throw new WeightsError(`${at}: "architecture" must be an object, found ${shownValue(arch)}`);
  const classPath = own(arch, 'network_class_name');
  if (typeof classPath !== 'string')
    throw new WeightsError(`${at}: architecture.network_class_name must be a dotted class name, found ${shownValue(classPath)}`);
  const kwargs = own(arch, 'arch_kwargs');
  if (!isObject(kwargs)) throw new WeightsError(`${at}: architecture.arch_kwargs must be an object, found ${shownValue(kwargs)}`);
  // get_network_from_plans falls back to finding the class by its last name inside dynamic_network_architectures
  // (classes moved: old plans say architectures.residual_unet.ResidualEncoderUNet); another package's class of
  // the same name is not ours
  const name = classPath.split('.').pop() ?? '';
  if (!classPath.startsWith('dynamic_network_architectures.') || !(NNUNET_CLASSES as readonly string[]).includes(name)) {
    throw new UnsupportedError(`${at}: network class ${classPath} is not one we run (we run dynamic_network_architectures' ${NNUNET_CLASSES.join(' and ')})`);
  }
  return { classPath, className: name as NnunetClass, kwargs };
}

function convertOldPlans(cfg: Json, at: string): Json {
  const className = own(cfg, 'UNet_class_name');
  if (className === undefined) throw new WeightsError(`${at}: neither "architecture" nor the old plans' "UNet_class_name": not an nnU-Net v2 configuration`);
  if (className !== 'PlainConvUNet' && className !== 'ResidualEncoderUNet') {
    throw new UnsupportedError(
      `${at}: old plans with UNet_class_name ${shownValue(className)}: the conversion (as nnU-Net's) knows PlainConvUNet and ResidualEncoderUNet`,
    );
  }
  const need = (k: string): unknown => {
    if (!Object.hasOwn(cfg, k)) throw new WeightsError(`${at}: old plans without "${k}"`);
    return cfg[k];
  };
  const encoder = need('n_conv_per_stage_encoder');
  if (!Array.isArray(encoder)) throw new WeightsError(`${at}: n_conv_per_stage_encoder must be a list, found ${shownValue(encoder)}`);
  const nStages = encoder.length;
  const patch = need('patch_size');
  const dim = Array.isArray(patch) ? patch.length : 0;
  if (dim !== 2 && dim !== 3) throw new WeightsError(`${at}: patch_size must have 2 or 3 sizes, found ${shownValue(patch)}`);
  const base = need('UNet_base_num_features');
  const max = need('unet_max_num_features');
  if (!isInt(base) || !isInt(max)) throw new WeightsError(`${at}: UNet_base_num_features and unet_max_num_features must be integers`);
  const blocks = className === 'PlainConvUNet' ? 'n_conv_per_stage' : 'n_blocks_per_stage';
  return {
    network_class_name:
      className === 'PlainConvUNet'
        ? 'dynamic_network_architectures.architectures.unet.PlainConvUNet'
        : 'dynamic_network_architectures.architectures.residual_unet.ResidualEncoderUNet',
    arch_kwargs: {
      n_stages: nStages,
      features_per_stage: Array.from({ length: nStages }, (_, i) => Math.min(base * 2 ** i, max)),
      conv_op: `torch.nn.modules.conv.Conv${dim}d`,
      kernel_sizes: structuredClone(need('conv_kernel_sizes')),
      strides: structuredClone(need('pool_op_kernel_sizes')),
      [blocks]: structuredClone(encoder),
      n_conv_per_stage_decoder: structuredClone(need('n_conv_per_stage_decoder')),
      ...defaultArchKwargs(`torch.nn.modules.instancenorm.InstanceNorm${dim}d`),
    },
    _kw_requires_import: ['conv_op', 'norm_op', 'dropout_op', 'nonlin'],
  };
}

/** The arch_kwargs nnU-Net's planners write the same for every network (conv bias, the norm with eps 1e-5 and
 *  affine, no dropout, in-place LeakyReLU at its default slope), with `normOp` as the norm. */
export function defaultArchKwargs(normOp: string): Record<string, unknown> {
  return {
    conv_bias: true,
    norm_op: normOp,
    norm_op_kwargs: { eps: 1e-5, affine: true },
    dropout_op: null,
    dropout_op_kwargs: null,
    nonlin: 'torch.nn.LeakyReLU',
    nonlin_kwargs: { inplace: true },
  };
}

// Each class's keyword arguments (dynamic_network_architectures/architectures/unet.py): another is a
// TypeError in Python, so plans holding one never trained a network
const COMMON_KWARGS = [
  'n_stages',
  'features_per_stage',
  'conv_op',
  'kernel_sizes',
  'strides',
  'n_conv_per_stage_decoder',
  'conv_bias',
  'norm_op',
  'norm_op_kwargs',
  'dropout_op',
  'dropout_op_kwargs',
  'nonlin',
  'nonlin_kwargs',
  'deep_supervision',
];
const KWARGS: Record<NnunetClass, string[]> = {
  PlainConvUNet: [...COMMON_KWARGS, 'n_conv_per_stage', 'nonlin_first'],
  ResidualEncoderUNet: [...COMMON_KWARGS, 'n_blocks_per_stage', 'block', 'bottleneck_channels', 'stem_channels'],
};

function buildNetwork(arch: Architecture, inputChannels: number, numClasses: number, at: string): NnunetNetwork {
  const k = arch.kwargs;
  const where = `${at}: arch_kwargs`;
  for (const key of Object.keys(k)) {
    if (!KWARGS[arch.className].includes(key))
      throw new WeightsError(`${where}.${key} is not an argument of ${arch.className} (it takes ${KWARGS[arch.className].join(', ')})`);
  }
  const blocksKey = arch.className === 'PlainConvUNet' ? 'n_conv_per_stage' : 'n_blocks_per_stage';
  for (const key of ['n_stages', 'features_per_stage', 'conv_op', 'kernel_sizes', 'strides', blocksKey, 'n_conv_per_stage_decoder']) {
    if (!Object.hasOwn(k, key)) throw new WeightsError(`${where} lacks ${key}, which ${arch.className} requires`);
  }
  const nStages = k.n_stages;
  if (!isInt(nStages) || nStages < 1) throw new WeightsError(`${where}.n_stages must be an integer >= 1, found ${shownValue(nStages)}`);
  const dims = convDims(k.conv_op, `${where}.conv_op`);
  const perStage = (key: string, n = nStages) => expandInts(k[key], n, `${where}.${key}`);
  const perAxis = (key: string) => {
    const v = k[key];
    const list = isInt(v) ? new Array<unknown>(nStages).fill(v) : v;
    if (!Array.isArray(list) || list.length !== nStages)
      throw new WeightsError(`${where}.${key} must have ${nStages} entries (n_stages), found ${shownValue(v)}`);
    return list.map((e, i) => expandInts(e, dims, `${where}.${key}[${i}]`));
  };
  const network: NnunetNetwork = {
    className: arch.className,
    dims,
    inputChannels,
    numClasses,
    nStages,
    featuresPerStage: perStage('features_per_stage'),
    kernelSizes: perAxis('kernel_sizes'),
    strides: perAxis('strides'),
    nConvPerStage: perStage(blocksKey),
    nConvPerStageDecoder: perStage('n_conv_per_stage_decoder', nStages - 1),
    convBias: bool(k.conv_bias, false, `${where}.conv_bias`),
    norm: norm(k.norm_op, k.norm_op_kwargs, dims, `${where}.norm_op`),
    nonlin: nonlin(k.nonlin, k.nonlin_kwargs, `${where}.nonlin`),
    nonlinFirst: bool(k.nonlin_first, false, `${where}.nonlin_first`),
    block: 'BasicBlockD',
  };
  if (arch.className === 'ResidualEncoderUNet') {
    const block = k.block ?? 'BasicBlockD';
    const blockName = typeof block === 'string' ? block.split('.').pop() : undefined;
    if (blockName !== 'BasicBlockD' && blockName !== 'BottleneckD') {
      throw new UnsupportedError(`${where}.block ${shownValue(block)} is not one we run (BasicBlockD or BottleneckD)`);
    }
    network.block = blockName;
    if (blockName === 'BottleneckD') {
      if (k.bottleneck_channels === undefined || k.bottleneck_channels === null) throw new WeightsError(`${where}: BottleneckD needs bottleneck_channels`);
      network.bottleneckChannels = perStage('bottleneck_channels');
    }
    const stem = k.stem_channels ?? null;
    if (stem !== null && !(isInt(stem) && stem > 0))
      throw new WeightsError(`${where}.stem_channels must be a positive integer or null, found ${shownValue(stem)}`);
    network.stemChannels = stem ?? network.featuresPerStage[0];
  }
  for (const [key, list] of [
    ['features_per_stage', network.featuresPerStage],
    [blocksKey, network.nConvPerStage],
    ['n_conv_per_stage_decoder', network.nConvPerStageDecoder],
  ] as const) {
    if (list.some((v) => v < 1)) throw new WeightsError(`${where}.${key} must be positive, found ${shownValue(list)}`);
  }
  if (network.kernelSizes.some((ks) => ks.some((v) => v < 1)) || network.strides.some((s) => s.some((v) => v < 1))) {
    throw new WeightsError(`${where}: kernel_sizes and strides must be positive`);
  }
  return network;
}

/** nnUNetTrainerBN swaps InstanceNorm for BatchNorm (eps 1e-5, affine); trainers that build another network are refused. */
function applyTrainer(network: NnunetNetwork, arch: Architecture, trainer: string, pf: string): void {
  if (/Primus|^(Dynamic)?PretrainedTrainer|^AbstractPrimus/.test(trainer)) {
    throw new UnsupportedError(
      `${pf}: trainer ${trainer} builds its own network (build_network_architecture), not the plans' ${arch.className}; we run nnUNetTrainer and its variants that keep the plans' network (nnUNetTrainerBN included)`,
    );
  }
  if (trainer === 'nnUNetTrainerBN') {
    if (!Object.hasOwn(arch.kwargs, 'norm_op')) throw new WeightsError(`${pf}: trainer nnUNetTrainerBN needs arch_kwargs.norm_op to replace`);
    network.norm = { kind: 'batch', eps: 1e-5, affine: true };
  }
}

function convDims(v: unknown, what: string): 2 | 3 {
  const m = typeof v === 'string' ? /^torch\.nn\.(?:modules\.conv\.)?Conv([123])d$/.exec(v) : null;
  if (!m) throw new UnsupportedError(`${what} ${shownValue(v)} is not one we run (torch.nn.modules.conv.Conv2d or Conv3d)`);
  if (m[1] === '1') throw new UnsupportedError(`${what} ${v}: 1D networks are not supported (Conv2d or Conv3d)`);
  return Number(m[1]) as 2 | 3;
}

function norm(op: unknown, kwargs: unknown, dims: 2 | 3, what: string): NnunetNetwork['norm'] {
  if (op === null || op === undefined) return null;
  const m = typeof op === 'string' ? /^torch\.nn\.(?:modules\.(?:instancenorm|batchnorm)\.)?(InstanceNorm|BatchNorm)([123])d$/.exec(op) : null;
  if (!m) throw new UnsupportedError(`${what} ${shownValue(op)} is not one we run (InstanceNorm${dims}d, BatchNorm${dims}d or none)`);
  if (Number(m[2]) !== dims) throw new WeightsError(`${what} ${op} does not match the ${dims}D conv_op`);
  if (kwargs !== undefined && kwargs !== null && !isObject(kwargs)) throw new WeightsError(`${what}_kwargs must be an object, found ${shownValue(kwargs)}`);
  const kw = kwargs ?? {};
  const kind = m[1] === 'InstanceNorm' ? 'instance' : 'batch';
  const eps = own(kw, 'eps') ?? 1e-5;
  if (typeof eps !== 'number' || !(eps >= 0)) throw new WeightsError(`${what}_kwargs.eps must be a number >= 0, found ${shownValue(eps)}`);
  // torch's defaults: InstanceNorm is not affine and keeps no running statistics, BatchNorm is and does
  const affine = bool(own(kw, 'affine'), kind === 'batch', `${what}_kwargs.affine`);
  const running = bool(own(kw, 'track_running_stats'), kind === 'batch', `${what}_kwargs.track_running_stats`);
  if (running !== (kind === 'batch')) {
    throw new UnsupportedError(
      `${what}: ${m[1]} with track_running_stats ${running ? 'True' : 'False'} is not supported (the default, ${kind === 'batch' ? 'True' : 'False'}, is)`,
    );
  }
  return { kind, eps, affine };
}

function nonlin(op: unknown, kwargs: unknown, what: string): NnunetNetwork['nonlin'] {
  if (op === null || op === undefined) return null;
  const m = typeof op === 'string' ? /^torch\.nn\.(?:modules\.activation\.)?(LeakyReLU|ReLU)$/.exec(op) : null;
  if (!m) throw new UnsupportedError(`${what} ${shownValue(op)} is not one we run (torch.nn.LeakyReLU, torch.nn.ReLU or none)`);
  if (m[1] === 'ReLU') return { kind: 'relu' };
  if (kwargs !== undefined && kwargs !== null && !isObject(kwargs)) throw new WeightsError(`${what}_kwargs must be an object, found ${shownValue(kwargs)}`);
  const slope = own(kwargs ?? {}, 'negative_slope') ?? 0.01; // torch.nn.LeakyReLU's default
  if (typeof slope !== 'number' || !Number.isFinite(slope))
    throw new WeightsError(`${what}_kwargs.negative_slope must be a number, found ${shownValue(slope)}`);
  return { kind: 'leakyRelu', slope };
}

// --- dataset.json ---

function readChannels(dataset: Json, df: string): string[] {
  // determine_num_input_channels reads 'modality' first (the older name), then 'channel_names'
  const key = Object.hasOwn(dataset, 'modality') ? 'modality' : 'channel_names';
  const ch = own(dataset, key);
  if (!isObject(ch) || Object.keys(ch).length === 0)
    throw new WeightsError(`${df}: expected a non-empty "channel_names" object (e.g. {"0": "CT"}), found ${shownValue(ch)}`);
  return Object.values(ch).map(String);
}

type Labels = Pick<NnunetConfig, 'labels' | 'allLabels' | 'foregroundLabels' | 'ignoreLabel' | 'regions' | 'regionsClassOrder'>;

/** LabelManager: labels, the ignore label, and regions when a label is a list of several values. */
function readLabels(plans: Json, dataset: Json, df: string, pf: string): Labels {
  const manager = own(plans, 'label_manager');
  if (manager !== undefined && manager !== 'LabelManager')
    throw new UnsupportedError(`${pf}: label_manager ${shownValue(manager)} is not one we run (LabelManager)`);
  const raw = own(dataset, 'labels');
  if (!isObject(raw)) throw new WeightsError(`${df}: expected a "labels" object (e.g. {"background": 0, "tumor": 1}), found ${shownValue(raw)}`);
  const labels: Record<string, NnunetLabel> = {};
  for (const [name, v] of Object.entries(raw)) {
    if (isInt(v)) labels[name] = v;
    else if (Array.isArray(v) && v.length > 0 && v.every(isInt)) labels[name] = [...v];
    else throw new WeightsError(`${df}: label ${JSON.stringify(name)} must be an integer or a list of integers, found ${shownValue(v)}`);
  }
  if (!Object.hasOwn(labels, 'background')) throw new WeightsError(`${df}: labels must declare "background": 0`);
  if (labels.background !== 0) throw new WeightsError(`${df}: the background label must be 0, found ${shownValue(labels.background)}`);
  const ignore = own(labels, 'ignore');
  if (ignore !== undefined && !isInt(ignore)) throw new WeightsError(`${df}: the ignore label must be one integer, not a region`);
  const values = new Set<number>();
  for (const [name, v] of Object.entries(labels)) if (name !== 'ignore') for (const x of Array.isArray(v) ? v : [v]) values.add(x);
  const allLabels = [...values].sort((a, b) => a - b);
  if (ignore !== undefined && ignore !== allLabels[allLabels.length - 1] + 1) {
    throw new WeightsError(`${df}: the ignore label must be the highest label value (${allLabels[allLabels.length - 1] + 1}), found ${ignore}`);
  }
  const out: Labels = { labels, allLabels, foregroundLabels: allLabels.filter((l) => l !== 0), ignoreLabel: ignore as number | undefined };
  const hasRegions = Object.values(labels).some((v) => Array.isArray(v) && v.length > 1);
  if (!hasRegions) return out;
  const regions = Object.entries(labels)
    .filter(([name, v]) => name !== 'ignore' && !(Array.isArray(v) ? v.every((x) => x === 0) : v === 0))
    .map(([, v]) => v);
  const order = own(dataset, 'regions_class_order');
  if (!Array.isArray(order) || !order.every(isInt))
    throw new WeightsError(`${df}: region-based labels need "regions_class_order", a list of integers, found ${shownValue(order)}`);
  if (order.length !== regions.length) throw new WeightsError(`${df}: regions_class_order has ${order.length} entries, the labels ${regions.length} regions`);
  return { ...out, regions, regionsClassOrder: [...order] };
}

// --- small readers ---

function expandInts(v: unknown, n: number, what: string): number[] {
  if (isInt(v)) return new Array<number>(n).fill(v);
  if (Array.isArray(v) && v.length === n && v.every(isInt)) return [...v];
  throw new WeightsError(`${what} must be an integer or ${n} integers, found ${shownValue(v)}`);
}

function numbers(v: unknown, what: string, n: number, integers: boolean): number[] {
  if (Array.isArray(v) && v.length === n && v.every((x) => (integers ? isInt(x) && x > 0 : typeof x === 'number' && x > 0))) return [...v];
  throw new WeightsError(`${what} must be ${n} positive ${integers ? 'integers' : 'numbers'}, found ${shownValue(v)}`);
}

function stringList(v: unknown, what: string, n: number): string[] {
  if (Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'string')) return [...v];
  throw new WeightsError(`${what} must be ${n} names (one per channel), found ${shownValue(v)}`);
}

function boolList(v: unknown, what: string, n: number): boolean[] {
  if (Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'boolean')) return [...v];
  throw new WeightsError(`${what} must be ${n} booleans (one per channel), found ${shownValue(v)}`);
}

function bool(v: unknown, fallback: boolean, what: string): boolean {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw new WeightsError(`${what} must be true or false, found ${shownValue(v)}`);
  return v;
}

function optionalString(o: Json, key: string, at: string): string | undefined {
  const v = own(o, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new WeightsError(`${at}: ${key} must be a configuration name, found ${shownValue(v)}`);
  return v;
}

function permutation(v: unknown, what: string): number[] {
  if (Array.isArray(v) && v.every(isInt) && [...v].sort().every((x, i) => x === i)) return [...v];
  throw new WeightsError(`${what} must be a permutation of 0..n-1, found ${shownValue(v)}`);
}

function resampling(cfg: Json, key: string, at: string): NnunetResampling {
  const fn = own(cfg, key);
  const kwargs = own(cfg, `${key}_kwargs`) ?? {};
  if (typeof fn !== 'string') throw new WeightsError(`${at}: ${key} must be a function name, found ${shownValue(fn)}`);
  if (!isObject(kwargs)) throw new WeightsError(`${at}: ${key}_kwargs must be an object, found ${shownValue(kwargs)}`);
  return { fn, kwargs };
}

function intensityProperties(plans: Json, pf: string): Record<string, NnunetIntensityProperties> {
  // PlansManager: the older key 'foreground_intensity_properties_by_modality' when the new one is absent
  const key = Object.hasOwn(plans, 'foreground_intensity_properties_per_channel')
    ? 'foreground_intensity_properties_per_channel'
    : 'foreground_intensity_properties_by_modality';
  const v = own(plans, key);
  if (v === undefined) return {};
  if (!isObject(v) || !Object.values(v).every(isObject))
    throw new WeightsError(`${pf}: ${key} must map channels to objects of statistics, found ${shownValue(v)}`);
  return v as Record<string, NnunetIntensityProperties>;
}
