// The playground's options: defaults, what each field may be given the others, the problems of a
// combination, and smp's config.json for it. The rules are the engine's and smp's own: smp's depth ranges
// per decoder, one decoder channel count per block, SCSE's reduction of 16, the brain U-Net's and nnU-Net's
// fixed parts.
import { MAX_CONFIG_CHANNELS } from '../smp/config.js';
import { DECODERS } from '../smp/decoders/index.js';
import { SUPPORTED_ENCODERS, encoderOf } from '../smp/encoders/index.js';
import { UnsupportedError } from '../../errors.js';
import { NNUNET_MAX_STAGES, NNUNET_MIN_STAGES, nnunetFeatures, nnunetFeaturesForDepth } from './nnunet.js';
import type { ModelOptions, OptionChoice, OptionProblem, PlaygroundArchitecture, SmpConfigOptions } from './types.js';

export const ARCHITECTURES: readonly PlaygroundArchitecture[] = ['Unet', 'UnetPlusPlus', 'brain-unet', 'nnunet-plain'];
const ACTIVATIONS: readonly ModelOptions['activation'][] = ['identity', 'sigmoid', 'softmax', 'logsoftmax', 'tanh'];
/** smp's default decoder_channels; a shallower decoder takes its first `depth` entries */
const SMP_DECODER_CHANNELS = [256, 128, 64, 32, 16];
/** smp's SCSEModule reduction: its squeeze conv has C // 16 channels, none below 16 */
export const SCSE_REDUCTION = 16;
/** the brain U-Net's levels: its widest level has init_features * 2^depth channels */
const BRAIN_MAX_DEPTH = 6;
const SMP_MAX_DEPTH = 5;
/** efficientnet encoders need a feature past the stem (smp refuses encoder_depth 1 for them) */
const EFFICIENTNET_MIN_DEPTH = 2;

export const isSmp = (o: Pick<ModelOptions, 'architecture'>): boolean => o.architecture === 'Unet' || o.architecture === 'UnetPlusPlus';
const decoderOf = (o: ModelOptions) => DECODERS.find((d) => d.modelClass === o.architecture)!;

export function defaultOptions(architecture: PlaygroundArchitecture = 'Unet'): ModelOptions {
  if (architecture === 'nnunet-plain') {
    // what nnU-Net plans for a 2D dataset of ~256² images, one channel, background + one label
    return {
      architecture,
      encoder: 'plain',
      depth: 6,
      decoderChannels: nnunetFeatures(6),
      attention: 'none',
      upsampling: 'nearest',
      decoderNorm: 'instancenorm',
      inChannels: 1,
      classes: 2,
      activation: 'identity',
    };
  }
  if (architecture === 'brain-unet') {
    return {
      architecture,
      encoder: 'unet',
      depth: 4,
      decoderChannels: [32],
      attention: 'none',
      upsampling: 'nearest',
      decoderNorm: 'batchnorm',
      inChannels: 3,
      classes: 1,
      activation: 'sigmoid',
    };
  }
  return {
    architecture,
    encoder: 'resnet34',
    depth: 5,
    decoderChannels: [...SMP_DECODER_CHANNELS],
    attention: 'none',
    upsampling: 'nearest',
    decoderNorm: 'batchnorm',
    inChannels: 3,
    classes: 1,
    activation: 'identity',
  };
}

/** decoder_channels for another depth: the current list cut or extended by halving (smp's default pattern). */
function channelsForDepth(channels: readonly number[], depth: number): number[] {
  const out = channels.slice(0, depth);
  if (out.length === 0) out.push(SMP_DECODER_CHANNELS[0]);
  while (out.length < depth) out.push(Math.max(1, Math.floor(out[out.length - 1] / 2)));
  return out;
}

/**
 * `o` with one field changed and the fields that depend on it brought along: a new depth resizes
 * decoder_channels (one per block); a new architecture starts from that architecture's defaults, keeping
 * what carries over (in_channels, classes; the smp encoder and its settings between Unet and UnetPlusPlus).
 */
export function withOption<K extends keyof ModelOptions>(o: ModelOptions, field: K, value: ModelOptions[K]): ModelOptions {
  const next: ModelOptions = { ...o, decoderChannels: [...o.decoderChannels], [field]: value };
  if (field === 'architecture' && value !== o.architecture) {
    const d = defaultOptions(value as PlaygroundArchitecture);
    if (isSmp(o) && isSmp(d))
      return {
        ...next,
        depth: Math.max(next.depth, decoderOf(next).minDepth),
        decoderChannels: channelsForDepth(o.decoderChannels, Math.max(next.depth, decoderOf(next).minDepth)),
      };
    return { ...d, inChannels: o.inChannels, classes: o.classes };
  }
  if (field === 'depth' && isSmp(o)) next.decoderChannels = channelsForDepth(o.decoderChannels, value as number);
  if (field === 'depth' && o.architecture === 'nnunet-plain') next.decoderChannels = nnunetFeaturesForDepth(o.decoderChannels, value as number);
  return next;
}

const isCount = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= max;

/** Channels of each SCSE module that runs, with where it sits: Unet block i's attention1 on the concat of
 *  its input and skip, attention2 on its output; UnetPlusPlus's blocks alike (smp.decoders). */
function scseChannels(o: ModelOptions): { block: string; which: string; channels: number }[] {
  const enc = encoderOf(o.encoder)
    .outChannels(o.encoder, o.inChannels)
    .slice(0, o.depth + 1);
  const dc = o.decoderChannels;
  const out: { block: string; which: string; channels: number }[] = [];
  if (o.architecture === 'Unet') {
    for (let i = 0; i < o.depth; i++) {
      const inC = i === 0 ? enc[o.depth] : dc[i - 1];
      if (i < o.depth - 1) out.push({ block: `decoder block ${i}`, which: 'attention1', channels: inC + enc[o.depth - 1 - i] });
      out.push({ block: `decoder block ${i}`, which: 'attention2', channels: dc[i] });
    }
    return out;
  }
  // UnetPlusPlus: f = the features without the input, deepest first
  const f = enc.slice(1).reverse();
  const last = o.depth - 1;
  const cout = (d: number, l: number) => (d === 0 ? dc[l] : f[l + 1]);
  for (let layer = 0; layer < last; layer++) {
    for (let d = 0; d < last - layer; d++) {
      const l = d + layer;
      const inC = layer === 0 ? f[d] : cout(d, l - 1);
      let cat = inC + f[l + 1];
      for (let i = 0; i < l - d; i++) cat += cout(d + 1 + i, l);
      out.push({ block: `x_${d}_${l}`, which: 'attention1', channels: cat }, { block: `x_${d}_${l}`, which: 'attention2', channels: cout(d, l) });
    }
  }
  out.push({ block: `x_0_${last}`, which: 'attention2', channels: dc[last] });
  return out;
}

/** Every problem of a combination ([] when it builds), the field to change first. */
export function checkOptions(o: ModelOptions): OptionProblem[] {
  const p: OptionProblem[] = [];
  const add = (field: keyof ModelOptions, message: string) => p.push({ field, message });
  if (typeof o !== 'object' || o === null) return [{ field: 'architecture', message: 'options must be an object' }];
  if (!ARCHITECTURES.includes(o.architecture)) {
    add('architecture', `${JSON.stringify(o.architecture)} is not one of ${ARCHITECTURES.join(', ')}`);
    return p;
  }
  const smp = isSmp(o);
  if (!isCount(o.inChannels, MAX_CONFIG_CHANNELS)) add('inChannels', `must be an integer from 1 to ${MAX_CONFIG_CHANNELS}`);
  if (!isCount(o.classes, MAX_CONFIG_CHANNELS)) add('classes', `must be an integer from 1 to ${MAX_CONFIG_CHANNELS}`);
  if (!ACTIVATIONS.includes(o.activation)) add('activation', `must be one of ${ACTIVATIONS.join(', ')}`);
  if (o.upsampling !== 'nearest' && o.upsampling !== 'bilinear') add('upsampling', 'must be nearest or bilinear');
  if (o.attention !== 'none' && o.attention !== 'scse') add('attention', 'must be none or scse');
  if (o.architecture !== 'nnunet-plain' && o.decoderNorm !== 'batchnorm' && o.decoderNorm !== 'none') add('decoderNorm', 'must be batchnorm or none');
  if (!Array.isArray(o.decoderChannels)) {
    add('decoderChannels', 'must be a list of channel counts');
    return p;
  }
  if (o.architecture === 'nnunet-plain') {
    if (o.encoder !== 'plain') add('encoder', "nnU-Net Plain's encoder is its own PlainConvEncoder: 'plain'");
    if (!isCount(o.depth, NNUNET_MAX_STAGES) || o.depth < NNUNET_MIN_STAGES)
      add('depth', `nnU-Net Plain takes ${NNUNET_MIN_STAGES} to ${NNUNET_MAX_STAGES} stages`);
    else if (o.decoderChannels.length !== o.depth) add('decoderChannels', `needs ${o.depth} values, features per stage (n_stages ${o.depth})`);
    else if (!o.decoderChannels.every((c) => isCount(c, MAX_CONFIG_CHANNELS)))
      add('decoderChannels', `each must be an integer from 1 to ${MAX_CONFIG_CHANNELS}`);
    if (o.attention !== 'none') add('attention', 'nnU-Net Plain has no attention modules');
    if (o.upsampling !== 'nearest') add('upsampling', 'nnU-Net up-samples by transposed convolution (kernel = stride): leave nearest');
    if (o.decoderNorm !== 'instancenorm' && o.decoderNorm !== 'batchnorm')
      add('decoderNorm', 'nnU-Net Plain always normalises: instancenorm (its default) or batchnorm (nnUNetTrainerBN)');
    if (o.activation !== 'identity') add('activation', 'nnU-Net outputs logits (its softmax / sigmoid come after resampling): identity');
    return p;
  }
  if (!smp) {
    if (!isCount(o.depth, BRAIN_MAX_DEPTH)) add('depth', `the brain U-Net takes depth 1 to ${BRAIN_MAX_DEPTH}`);
    else if (o.decoderChannels.length !== 1 || !isCount(o.decoderChannels[0], MAX_CONFIG_CHANNELS))
      add('decoderChannels', 'the brain U-Net takes one value: init_features');
    else if (o.decoderChannels[0] * 2 ** o.depth > MAX_CONFIG_CHANNELS)
      add('decoderChannels', `init_features ${o.decoderChannels[0]} x 2^${o.depth} is more than ${MAX_CONFIG_CHANNELS} channels at the bottleneck`);
    if (o.attention !== 'none') add('attention', 'the brain U-Net has no attention modules');
    if (o.decoderNorm !== 'batchnorm') add('decoderNorm', 'the brain U-Net always has BatchNorm');
    if (o.upsampling !== 'nearest') add('upsampling', 'the brain U-Net up-samples by transposed convolution (leave nearest)');
    if (o.activation !== 'sigmoid') add('activation', 'the brain U-Net ends in a sigmoid');
    return p;
  }
  if (!SUPPORTED_ENCODERS.includes(o.encoder)) {
    add('encoder', `${JSON.stringify(o.encoder)} is not one of ${SUPPORTED_ENCODERS.join(', ')}`);
    return p;
  }
  const minDepth = Math.max(decoderOf(o).minDepth, o.encoder.startsWith('efficientnet') ? EFFICIENTNET_MIN_DEPTH : 1);
  if (!isCount(o.depth, SMP_MAX_DEPTH) || o.depth < minDepth) {
    const who = o.encoder.startsWith('efficientnet') && minDepth === EFFICIENTNET_MIN_DEPTH ? `${o.encoder}` : o.architecture;
    add('depth', `${who} takes depth ${minDepth} to ${SMP_MAX_DEPTH}`);
    return p;
  }
  if (o.decoderChannels.length !== o.depth) add('decoderChannels', `needs ${o.depth} values, one per decoder block (depth ${o.depth})`);
  else if (!o.decoderChannels.every((c) => isCount(c, MAX_CONFIG_CHANNELS))) add('decoderChannels', `each must be an integer from 1 to ${MAX_CONFIG_CHANNELS}`);
  else if (o.attention === 'scse' && isCount(o.inChannels, MAX_CONFIG_CHANNELS)) {
    const small = scseChannels(o).find((s) => Math.floor(s.channels / SCSE_REDUCTION) < 1);
    if (small)
      add(
        'attention',
        `scse needs >= ${SCSE_REDUCTION} channels: ${small.block}'s ${small.which} has ${small.channels} (smp's reduction ${SCSE_REDUCTION} leaves 0 squeeze channels)`,
      );
  }
  return p;
}

/** The values offered for each field, each allowed or not (with why) given the other fields as they are. */
export function optionChoices(o: ModelOptions): { [K in keyof ModelOptions]?: OptionChoice[] } {
  const base = new Set(checkOptions(o).map((p) => `${p.field}: ${p.message}`));
  const choices = <K extends keyof ModelOptions>(field: K, values: readonly ModelOptions[K][]): OptionChoice[] =>
    values.map((value) => {
      const fresh = checkOptions(withOption(o, field, value)).filter((p) => !base.has(`${p.field}: ${p.message}`) || p.field === field);
      return fresh.length ? { value, allowed: false, why: fresh[0].message } : { value, allowed: true };
    });
  const smp = isSmp(o);
  const dc = o.decoderChannels;
  const halve = (s: number) => dc.map((c) => Math.max(1, Math.floor(c / s)));
  const nnunet = o.architecture === 'nnunet-plain';
  const channelSets = smp
    ? [channelsForDepth(SMP_DECODER_CHANNELS, o.depth), dc, halve(2), halve(4), dc.map((c) => c * 2)]
    : nnunet
      ? [nnunetFeatures(o.depth), dc, halve(2), halve(4)]
      : [[16], [32], [64]];
  const unique = [...new Map(channelSets.map((c) => [c.join(','), c])).values()];
  return {
    architecture: choices('architecture', ARCHITECTURES),
    encoder: smp ? choices('encoder', SUPPORTED_ENCODERS) : [{ value: nnunet ? 'plain' : 'unet', allowed: true }],
    depth: choices('depth', smp ? [1, 2, 3, 4, 5] : nnunet ? [2, 3, 4, 5, 6, 7, 8] : [1, 2, 3, 4, 5, 6]),
    decoderChannels: choices('decoderChannels', unique),
    attention: choices('attention', ['none', 'scse']),
    upsampling: choices('upsampling', ['nearest', 'bilinear']),
    decoderNorm: choices('decoderNorm', nnunet ? ['instancenorm', 'batchnorm', 'none'] : ['batchnorm', 'none']),
    inChannels: choices('inChannels', [1, 2, 3, 4]),
    classes: choices('classes', [1, 2, 3, 4, 5, 8, 10]),
    activation: choices('activation', ACTIVATIONS),
  };
}

/** smp's init arguments for the options, as `Unet(**config)` takes them, with `_model_class`. */
export function smpConfigOf(o: ModelOptions, options: SmpConfigOptions = {}): Record<string, unknown> {
  if (!isSmp(o)) throw new UnsupportedError(`${o.architecture}: not an smp model; smp's config.json exists only for Unet and UnetPlusPlus`);
  const config: Record<string, unknown> = {
    _model_class: o.architecture,
    activation: o.activation === 'identity' ? null : o.activation,
    aux_params: null,
    classes: o.classes,
    decoder_attention_type: o.attention === 'scse' ? 'scse' : null,
    decoder_channels: [...o.decoderChannels],
    decoder_interpolation: o.upsampling,
    decoder_use_norm: o.decoderNorm === 'batchnorm' ? 'batchnorm' : false,
    encoder_depth: o.depth,
    encoder_name: o.encoder,
    encoder_weights: options.encoderWeights ?? null,
    in_channels: o.inChannels,
  };
  // save_pretrained writes json.dumps(config, sort_keys=True): the literal above is in that order
  return config;
}

/** Python's json.dumps(v, sort_keys=True, indent=2) for the JSON values a config holds. */
function pythonJson(v: unknown, indent: string): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  const inner = `${indent}  `;
  if (Array.isArray(v)) return v.length ? `[\n${v.map((x) => inner + pythonJson(x, inner)).join(',\n')}\n${indent}]` : '[]';
  const keys = Object.keys(v as object).sort();
  return keys.length
    ? `{\n${keys.map((k) => `${inner}${pythonJson(k, inner)}: ${pythonJson((v as Record<string, unknown>)[k], inner)}`).join(',\n')}\n${indent}}`
    : '{}';
}

/** config.json's text exactly as save_pretrained writes it (no newline at the end, as json.dumps). */
export function smpConfigText(o: ModelOptions, options: SmpConfigOptions = {}): string {
  return pythonJson(smpConfigOf(o, options), '');
}
