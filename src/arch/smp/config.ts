// An smp model's settings: from smp's config.json (save_pretrained; both generations of the decoder keys),
// or, for a bare state_dict, inferred from its keys and shapes (model.info.inferred says which). What the
// engine cannot run is refused here, naming the config and the key.
import type { TensorReader } from '../reader.js';
import type { BuildOptions, ModelConfig, OutputActivation } from '../types.js';
import type { SmpDecoder, SmpSettings } from './types.js';
import { DECODERS, MODEL_CLASSES } from './decoders/index.js';
import { ENCODERS, SUPPORTED_ENCODERS, encoderOf } from './encoders/index.js';
import { UnsupportedError, WeightsError } from '../../errors.js';
import { shownValue } from '../../limits.js';

/** smp Activation names -> ours. A Map, so a config's "constructor" or "__proto__" finds nothing. */
const ACTIVATIONS: ReadonlyMap<string, OutputActivation> = new Map([
  ['identity', 'identity'],
  ['sigmoid', 'sigmoid'],
  ['softmax', 'softmax'],
  ['softmax2d', 'softmax'],
  ['logsoftmax', 'logsoftmax'],
  ['tanh', 'tanh'],
]);
/** Channel counts a config may declare (in_channels, classes, each decoder block's): far above any real
 *  model's, low enough that a tensor of [MAX, MAX, 3, 3] is still an array JavaScript can make. */
export const MAX_CONFIG_CHANNELS = 4096;
/** every encoder's greatest encoder_depth */
const MAX_DEPTH = 5;

export const unsupported = (source: string, what: string): Error => new UnsupportedError(`${source}: not supported: ${what}`);
/** A config value for a message, one short line (a value nested a million deep is only named). */
const json = (v: unknown): string => shownValue(v);

type ConfigSettings = Omit<SmpSettings, 'inChannels' | 'classes' | 'inferred'> & { inChannels?: number; classes?: number };

/**
 * Reads smp's config.json keys, refusing what the engine cannot run. Every value is type-checked: a JSON
 * file can hold anything, and `["sigmoid"]` or "constructor" must be refused, not looked up. `source` names
 * the config (config.json), not the weights.
 */
function fromConfig(c: ModelConfig, source: string): ConfigSettings {
  // own keys only: a config's missing "constructor" must not find Object.prototype's
  const get = (key: string): unknown => (Object.hasOwn(c, key) ? c[key] : undefined);
  /** the value, or `dflt` when the key is absent (null is a value: refused where it is not smp's) */
  const or = (key: string, dflt: unknown): unknown => (Object.hasOwn(c, key) ? c[key] : dflt);
  const bad = (key: string, v: unknown, expected: string): Error => new WeightsError(`${source}: ${key} is ${json(v)}, expected ${expected}`);
  const str = (key: string): string | undefined => {
    const v = get(key);
    if (v !== undefined && typeof v !== 'string') throw bad(key, v, 'a string');
    return v;
  };
  const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_CONFIG_CHANNELS;
  const count = (key: string): number | undefined => {
    const v = get(key);
    if (v === undefined) return undefined;
    if (!isCount(v)) throw bad(key, v, `an integer from 1 to ${MAX_CONFIG_CHANNELS}`);
    return v;
  };
  // configs written before smp recorded the class are Unets
  const cls = or('_model_class', DECODERS[0].modelClass);
  const decoder = DECODERS.find((d) => d.modelClass === cls);
  if (!decoder) throw unsupported(source, `model class ${json(cls)} (supported: ${MODEL_CLASSES.join(', ')})`);
  const encoderName = str('encoder_name') ?? 'resnet34';
  if (!SUPPORTED_ENCODERS.includes(encoderName)) throw unsupported(source, `encoder ${json(encoderName)} (supported: ${SUPPORTED_ENCODERS.join(', ')})`);
  const depth = or('encoder_depth', 5);
  if (typeof depth !== 'number' || !Number.isInteger(depth)) throw bad('encoder_depth', depth, 'an integer');
  if (depth < decoder.minDepth || depth > MAX_DEPTH)
    throw unsupported(source, `encoder_depth ${json(depth)} (${decoder.minDepth > 1 ? `${decoder.modelClass}: ` : ''}${decoder.minDepth} to ${MAX_DEPTH})`);
  const dc = or('decoder_channels', [256, 128, 64, 32, 16]);
  if (!Array.isArray(dc) || dc.length !== depth || !dc.every(isCount)) {
    throw bad('decoder_channels', dc, `a list of ${depth} integers from 1 to ${MAX_CONFIG_CHANNELS} (one per decoder block, encoder_depth ${depth})`);
  }
  const norm = or('decoder_use_norm', or('decoder_use_batchnorm', 'batchnorm'));
  if (norm !== 'batchnorm' && norm !== true && norm !== false) throw unsupported(source, `decoder norm ${json(norm)} (batchnorm, true or false)`);
  const interp = str('decoder_interpolation') ?? str('decoder_interpolation_mode') ?? 'nearest';
  if (interp !== 'nearest' && interp !== 'bilinear') throw unsupported(source, `decoder interpolation ${json(interp)} (nearest or bilinear)`);
  const att = or('decoder_attention_type', null);
  if (att !== null && att !== 'scse') throw unsupported(source, `decoder_attention_type ${json(att)} (null or "scse")`);
  const aux = get('aux_params');
  if (aux !== undefined && aux !== null) {
    if (typeof aux !== 'object' || Array.isArray(aux)) throw bad('aux_params', aux, 'null or an object');
    throw unsupported(source, 'aux_params (the auxiliary classification head)');
  }
  const center = get('add_center_block');
  if (center !== undefined && typeof center !== 'boolean') throw bad('add_center_block', center, 'true or false');
  if (center === true) throw unsupported(source, 'a decoder center block');
  const act = or('activation', null); // null: smp's "no activation"
  if (act !== null && typeof act !== 'string') throw bad('activation', act, `null or a string (${[...ACTIVATIONS.keys()].join(', ')})`);
  const activation = act === null ? 'identity' : ACTIVATIONS.get(act);
  if (!activation) throw unsupported(source, `activation ${json(act)} (${['null', ...ACTIVATIONS.keys()].join(', ')})`);
  return {
    decoder,
    encoderName,
    depth,
    decoderChannels: dc as number[],
    useNorm: norm !== false,
    attention: att,
    interpolation: interp,
    activation,
    inChannels: count('in_channels'),
    classes: count('classes'),
  };
}

/** Infers the settings of a bare state_dict from its keys and shapes. */
function fromTensors(r: TensorReader): Omit<SmpSettings, 'activation'> {
  const encoderName = ENCODERS.map((e) => e.infer(r, 'encoder.')).find((n) => n !== undefined);
  if (!encoderName)
    throw new UnsupportedError(
      `${r.source}: the "encoder.*" tensors are not those of an encoder this engine runs (supported: ${SUPPORTED_ENCODERS.join(', ')})`,
    );
  // the decoder whose blocks the keys name; without any, the Unet's error below says what is missing
  const decoder: SmpDecoder = DECODERS.find((d) => r.keys.some((k) => d.levelKey.test(k))) ?? DECODERS[0];
  let depth = 0;
  for (const k of r.keys) {
    const m = decoder.levelKey.exec(k);
    if (m) depth = Math.max(depth, Number(m[1]) + 1);
  }
  if (depth < decoder.minDepth || depth > MAX_DEPTH)
    throw new WeightsError(`${r.source}: found ${depth} decoder blocks, expected ${decoder.minDepth} to ${MAX_DEPTH}`);
  const decoderChannels = Array.from({ length: depth }, (_, i) => r.shape(`${decoder.block(i)}.conv1.0.weight`)?.[0] ?? 0);
  if (decoderChannels.includes(0))
    throw new WeightsError(`${r.source}: decoder block ${decoderChannels.indexOf(0)} has no conv1.0.weight, so decoder_channels cannot be inferred`);
  const head = r.shape('segmentation_head.0.weight');
  const stemKey = `encoder.${encoderOf(encoderName).stemKey}`;
  const first = r.shape(stemKey);
  if (!head || !first)
    throw new WeightsError(
      `${r.source}: no ${head ? `"${stemKey}"` : '"segmentation_head.0.weight"'}, so ${head ? 'in_channels' : 'classes'} cannot be inferred`,
    );
  return {
    decoder,
    encoderName,
    depth,
    decoderChannels,
    useNorm: r.has(`${decoder.block(0)}.conv1.1.running_mean`),
    attention: r.has(`${decoder.block(0)}.attention2.attention.sSE.0.weight`) ? 'scse' : null,
    interpolation: 'nearest',
    inChannels: first[1],
    classes: head[0],
    inferred: [
      'encoder',
      'depth',
      'decoder_channels',
      'decoder_use_norm',
      'decoder_attention_type',
      'decoder_interpolation (nearest: not recorded in the weights)',
      'in_channels',
      'classes',
      'activation',
    ],
  };
}

/** The settings of an smp model: its config's, with in_channels and classes read from the tensors where the
 *  config has none; or, without a config, all inferred (activation identity). `options.activation` wins. */
export function smpSettings(r: TensorReader, config: ModelConfig | undefined, options: BuildOptions): SmpSettings {
  let s: SmpSettings;
  if (config) {
    const c = fromConfig(config, options.configSource ?? `${r.source} config`);
    const first = r.shape(`encoder.${encoderOf(c.encoderName).stemKey}`);
    const head = r.shape('segmentation_head.0.weight');
    const inferred: string[] = [];
    if (c.inChannels === undefined) inferred.push('in_channels');
    if (c.classes === undefined) inferred.push('classes');
    s = { ...c, inChannels: c.inChannels ?? first?.[1] ?? 3, classes: c.classes ?? head?.[0] ?? 1, inferred };
  } else {
    s = { ...fromTensors(r), activation: 'identity' };
  }
  if (options.activation) {
    s.activation = options.activation;
    s.inferred = s.inferred.filter((f) => f !== 'activation');
  }
  return s;
}
