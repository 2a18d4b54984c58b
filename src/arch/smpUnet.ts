// segmentation_models.pytorch's `Unet` (smp `decoders/unet/{model,decoder}.py`, `base/{modules,heads}.py`)
// as an architecture plug-in: an encoder from src/arch/encoders, smp's U-Net decoder and its segmentation
// head, named as smp's state_dict names them. Settings come from smp's config.json (save_pretrained) or,
// for a bare state_dict, are inferred from the tensors (model.info.inferred says which).
//
// Decoder (current smp): features [x, f1, ..., fd] -> head = fd; block i interpolates to the size of the
// next shallower feature (the input's for the last block, which has no skip), concatenates the skip,
// applies attention1, conv1, conv2 (Conv2dReLU: conv 3x3 pad 1, bias only without norm; norm; ReLU) and
// attention2. Head: conv 3x3 pad 1 with bias, then the activation.
import { GraphBuilder, type ValueId } from '../graph/ir.js';
import type { TensorReader } from './reader.js';
import { efficientnetEncoder } from './encoders/efficientnet.js';
import { resnetEncoder } from './encoders/resnet.js';
import type { SmpEncoder } from './encoders/types.js';
import { type Architecture, type ModelConfig, type OutputActivation } from './types.js';
import { UnsupportedError, WeightsError } from '../errors.js';
import { shownValue } from '../limits.js';

const ENCODERS: readonly SmpEncoder[] = [resnetEncoder, efficientnetEncoder];
const SUPPORTED_ENCODERS = ENCODERS.flatMap((e) => e.names);
/** The encoder family that builds `name` (a supported encoder_name). */
const encoderOf = (name: string): SmpEncoder => ENCODERS.find((e) => e.names.includes(name))!;
/** smp's `_model_class` values (config.json) this plug-in builds */
const MODEL_CLASSES = ['Unet'];
const BN_EPS = 1e-5;
/** smp's SCSEModule default */
const SCSE_REDUCTION = 16;

/** smp Activation names -> ours. A Map, so a config's "constructor" or "__proto__" finds nothing. */
const ACTIVATIONS: ReadonlyMap<string, OutputActivation> = new Map([
  ['identity', 'identity'], ['sigmoid', 'sigmoid'], ['softmax', 'softmax'], ['softmax2d', 'softmax'], ['logsoftmax', 'logsoftmax'], ['tanh', 'tanh'],
]);
/** Channel counts a config may declare (in_channels, classes, each decoder block's): far above any real
 *  model's, low enough that a tensor of [MAX, MAX, 3, 3] is still an array JavaScript can make. */
export const MAX_CONFIG_CHANNELS = 4096;

export interface SmpUnetSettings {
  encoderName: string;
  depth: number;
  decoderChannels: number[];
  useNorm: boolean;
  attention: 'scse' | null;
  interpolation: 'nearest' | 'bilinear';
  inChannels: number;
  classes: number;
  activation: OutputActivation;
  inferred: string[];
}

const unsupported = (source: string, what: string): Error => new UnsupportedError(`${source}: not supported: ${what}`);
/** A config value for a message, one short line (a value nested a million deep is only named). */
const json = (v: unknown): string => shownValue(v);

/**
 * Reads smp's config.json keys (both generations of the decoder keys), refusing what the engine cannot run.
 * Every value is type-checked: a JSON file can hold anything, and `["sigmoid"]` or "constructor" must be
 * refused, not looked up. `source` names the config (config.json), not the weights.
 */
function fromConfig(c: ModelConfig, source: string): Omit<SmpUnetSettings, 'inChannels' | 'classes' | 'inferred'> & { inChannels?: number; classes?: number } {
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
  const cls = get('_model_class');
  if (cls !== undefined && cls !== 'Unet') throw unsupported(source, `model class ${json(cls)} (supported: ${MODEL_CLASSES.join(', ')})`);
  const encoderName = str('encoder_name') ?? 'resnet34';
  if (!SUPPORTED_ENCODERS.includes(encoderName)) throw unsupported(source, `encoder ${json(encoderName)} (supported: ${SUPPORTED_ENCODERS.join(', ')})`);
  const depth = or('encoder_depth', 5);
  if (typeof depth !== 'number' || !Number.isInteger(depth)) throw bad('encoder_depth', depth, 'an integer');
  if (depth < 1 || depth > 5) throw unsupported(source, `encoder_depth ${json(depth)} (1 to 5)`);
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
    encoderName, depth, decoderChannels: dc as number[], useNorm: norm !== false, attention: att,
    interpolation: interp, activation, inChannels: count('in_channels'), classes: count('classes'),
  };
}

/** Infers the settings of a bare state_dict from its keys and shapes. */
function fromTensors(r: TensorReader): Omit<SmpUnetSettings, 'activation'> {
  // smp's UnetPlusPlus names its decoder blocks by grid position, x_{depth}_{layer}
  if (r.keys.some((k) => /^decoder\.blocks\.x_\d+_\d+\./.test(k))) throw unsupported(r.source, `an smp UnetPlusPlus state_dict (decoder.blocks.x_*_*; supported: ${MODEL_CLASSES.join(', ')})`);
  const encoderName = ENCODERS.map((e) => e.infer(r, 'encoder.')).find((n) => n !== undefined);
  if (!encoderName) throw new UnsupportedError(`${r.source}: the "encoder.*" tensors are not those of an encoder this engine runs (supported: ${SUPPORTED_ENCODERS.join(', ')})`);
  let depth = 0;
  for (const k of r.keys) {
    const m = /^decoder\.blocks\.(\d+)\./.exec(k);
    if (m) depth = Math.max(depth, Number(m[1]) + 1);
  }
  if (depth < 1 || depth > 5) throw new WeightsError(`${r.source}: found ${depth} decoder blocks, expected 1 to 5`);
  const decoderChannels = Array.from({ length: depth }, (_, i) => r.shape(`decoder.blocks.${i}.conv1.0.weight`)?.[0] ?? 0);
  if (decoderChannels.includes(0)) throw new WeightsError(`${r.source}: decoder block ${decoderChannels.indexOf(0)} has no conv1.0.weight, so decoder_channels cannot be inferred`);
  const head = r.shape('segmentation_head.0.weight');
  const stemKey = `encoder.${encoderOf(encoderName).stemKey}`;
  const first = r.shape(stemKey);
  if (!head || !first) throw new WeightsError(`${r.source}: no ${head ? `"${stemKey}"` : '"segmentation_head.0.weight"'}, so ${head ? 'in_channels' : 'classes'} cannot be inferred`);
  return {
    encoderName,
    depth,
    decoderChannels,
    useNorm: r.has('decoder.blocks.0.conv1.1.running_mean'),
    attention: r.has('decoder.blocks.0.attention2.attention.sSE.0.weight') ? 'scse' : null,
    interpolation: 'nearest',
    inChannels: first[1],
    classes: head[0],
    inferred: ['encoder', 'depth', 'decoder_channels', 'decoder_use_norm', 'decoder_attention_type', 'decoder_interpolation (nearest: not recorded in the weights)', 'in_channels', 'classes', 'activation'],
  };
}

function scse(b: GraphBuilder, r: TensorReader, x: ValueId, name: string): ValueId {
  const C = b.channels(x);
  const mid = Math.floor(C / SCSE_REDUCTION);
  if (mid < 1) throw new WeightsError(`${r.source}: ${name}: scse on ${C} channels (fewer than ${SCSE_REDUCTION}) has no squeeze channels`);
  const p = `${name}.attention`;
  let c = b.globalAvgPool(`${p}.cSE.0`, x);
  c = b.relu(`${p}.cSE.2`, b.conv2d(`${p}.cSE.1`, c, r.conv(`${p}.cSE.1`, [mid, C, 1, 1], true)));
  c = b.sigmoid(`${p}.cSE.4`, b.conv2d(`${p}.cSE.3`, c, r.conv(`${p}.cSE.3`, [C, mid, 1, 1], true)));
  const s = b.sigmoid(`${p}.sSE.1`, b.conv2d(`${p}.sSE.0`, x, r.conv(`${p}.sSE.0`, [1, C, 1, 1], true)));
  return b.scseGate(`${p}.scse`, x, c, s);
}

function conv2dReLU(b: GraphBuilder, r: TensorReader, x: ValueId, name: string, cout: number, useNorm: boolean): ValueId {
  let y = b.conv2d(`${name}.0`, x, r.conv(`${name}.0`, [cout, b.channels(x), 3, 3], !useNorm), { padding: 1 });
  if (useNorm) y = b.batchNorm(`${name}.1`, y, r.batchNorm(`${name}.1`, cout, BN_EPS));
  return b.relu(`${name}.2`, y);
}

export const smpUnet: Architecture = {
  name: 'smp-unet',
  detect: (keys, config) => (config !== undefined && (Object.hasOwn(config, '_model_class') || Object.hasOwn(config, 'encoder_name'))) || keys.some((k) => k.startsWith('segmentation_head.')),

  build(r, config, options) {
    const s: SmpUnetSettings = config
      ? (() => {
          const c = fromConfig(config, options.configSource ?? `${r.source} config`);
          const first = r.shape(`encoder.${encoderOf(c.encoderName).stemKey}`);
          const head = r.shape('segmentation_head.0.weight');
          const inferred: string[] = [];
          if (c.inChannels === undefined) inferred.push('in_channels');
          if (c.classes === undefined) inferred.push('classes');
          return { ...c, inChannels: c.inChannels ?? first?.[1] ?? 3, classes: c.classes ?? head?.[0] ?? 1, inferred };
        })()
      : { ...fromTensors(r), activation: 'identity' };
    if (options.activation) s.activation = options.activation;
    if (r.keys.some((k) => k.startsWith('classification_head.'))) throw unsupported(r.source, 'the auxiliary classification head (classification_head.*)');
    if (r.keys.some((k) => k.startsWith('decoder.center.'))) throw unsupported(r.source, 'a decoder center block (decoder.center.*)');

    const encoder = encoderOf(s.encoderName);
    const b = new GraphBuilder();
    const input = b.value('input', s.inChannels);
    const features = encoder.build(b, r, input, s.encoderName, s.depth, 'encoder.');
    const encChannels = encoder.outChannels(s.encoderName, s.inChannels).slice(0, s.depth + 1);
    features.forEach((f, i) => {
      if (b.channels(f) !== encChannels[i]) throw new Error(`internal: ${s.encoderName} feature ${i} has ${b.channels(f)} channels, expected ${encChannels[i]}`);
    });

    // decoder.center is Identity for ResNet encoders
    let x = features[s.depth];
    for (let i = 0; i < s.depth; i++) {
      const name = `decoder.blocks.${i}`;
      const target = features[s.depth - 1 - i];
      x = b.resize(`${name}.interpolate`, x, target, s.interpolation);
      if (i < s.depth - 1) {
        x = b.concat(`${name}.cat`, [x, target]);
        if (s.attention) x = scse(b, r, x, `${name}.attention1`);
      } else {
        // smp builds attention1 for the last block too, but applies it only after a skip concat
        r.skip((k) => k.startsWith(`${name}.attention1.`));
      }
      x = conv2dReLU(b, r, x, `${name}.conv1`, s.decoderChannels[i], s.useNorm);
      x = conv2dReLU(b, r, x, `${name}.conv2`, s.decoderChannels[i], s.useNorm);
      if (s.attention) x = scse(b, r, x, `${name}.attention2`);
    }
    let y = b.conv2d('segmentation_head.0', x, r.conv('segmentation_head.0', [s.classes, b.channels(x), 3, 3], true), { padding: 1 });
    if (s.activation === 'sigmoid' || s.activation === 'tanh') y = b.activation(`segmentation_head.2.${s.activation}`, y, s.activation);
    else if (s.activation === 'softmax' || s.activation === 'logsoftmax') y = b.softmax(`segmentation_head.2.${s.activation}`, y, s.activation === 'logsoftmax');
    r.finish(`not an smp Unet (${s.encoderName}, depth ${s.depth}) state_dict`);
    const variant = `${s.encoderName}, decoder ${s.decoderChannels.join(',')}${s.attention ? ` ${s.attention}` : ''}`;

    return {
      graph: b.finish(input, y),
      info: {
        architecture: 'smp-unet',
        family: 'smp',
        name: 'smp Unet',
        variant,
        title: `smp Unet ${variant}`,
        reference: { option: '--smp', config: true },
        encoder: s.encoderName,
        depth: s.depth,
        decoderChannels: s.decoderChannels,
        attention: s.attention,
        upsampling: s.interpolation,
        inChannels: s.inChannels,
        classes: s.classes,
        activation: s.activation,
        preprocessing: encoder.preprocessing,
        sizeMultiple: 1,
        inferred: options.activation ? s.inferred.filter((f) => f !== 'activation') : s.inferred,
        unused: encoder.unused(s.encoderName, s.depth, 'encoder.'),
      },
    };
  },
};
