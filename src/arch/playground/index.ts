// The playground's model builder (src/playground.ts is its public face): options -> a state_dict with smp's
// keys (random, seeded, or a pretrained encoder file) and smp's config, which the ordinary loader then
// builds like any saved smp model (nnU-Net Plain: dna's keys under fold_0. and generated plans / dataset
// json, which the nnU-Net plug-in builds like a results folder's); and a loaded model's info -> options.
import { type RawTensorToWrite, writeSafetensorsBytes } from '../../weights/safetensors.js';
import { InputError } from '../../errors.js';
import { shownValue } from '../../limits.js';
import type { ArchInfo, ModelConfig } from '../types.js';
import { initTensor } from './init.js';
import { checkOptions, isSmp, smpConfigOf } from './options.js';
import { NNUNET_CONFIGURATION, nnunetFilesOf } from './nnunet.js';
import { readPretrainedEncoder } from './pretrained.js';
import { countSpec, pretrainedEncoderSpec, stateDictSpec } from './spec.js';
import type { ModelOptions, ModelWeights } from './types.js';

export * from './types.js';
export { checkOptions, defaultOptions, optionChoices, smpConfigOf, smpConfigText, withOption } from './options.js';
export { describeOptions } from './describe.js';
export { ENCODER_FILE_PATTERNS } from './pretrained.js';

const checked = (o: ModelOptions): ModelOptions => {
  const problems = checkOptions(o);
  if (problems.length) throw new InputError(`model options: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`);
  return o;
};

/** The seed of ModelWeights, checked: a safe integer. */
function seedOf(weights: ModelWeights): number {
  const seed = 'random' in weights ? weights.random?.seed : weights.encoder?.seed;
  if (!Number.isSafeInteger(seed)) throw new InputError(`weights: the seed must be an integer, found ${shownValue(seed)}`);
  return seed as number;
}

/** The fold prefix of an nnU-Net model's tensors in what the nnU-Net plug-in loads (src/arch/nnunet) */
const NNUNET_FOLD = 'fold_0';

/** The model's state_dict as safetensors bytes, the loader's config (smp's; nnU-Net's plans and dataset;
 *  undefined for the brain U-Net) and a name. `forLoader`: nnU-Net's keys under `fold_0.`, as the nnU-Net
 *  plug-in takes them (without: dna's own state_dict keys). */
export function playgroundStateDict(o: ModelOptions, weights: ModelWeights, forLoader = false): { bytes: Uint8Array; config?: ModelConfig; name: string } {
  checked(o);
  if (typeof weights !== 'object' || weights === null || !('random' in weights || 'encoder' in weights))
    throw new InputError(`weights must be { random: { seed } } or { encoder: { bytes, name, seed } }, found ${shownValue(weights)}`);
  const seed = seedOf(weights);
  const spec = stateDictSpec(o);
  let pretrained: Map<string, Float32Array | Uint8Array> | undefined;
  let from = `random weights, seed ${seed}`;
  if ('encoder' in weights) {
    const { bytes, name } = weights.encoder;
    if (!isSmp(o))
      throw new InputError(`${o.architecture === 'brain-unet' ? 'the brain U-Net' : 'nnU-Net Plain'} has no pretrained encoder: choose random weights`);
    if (!(bytes instanceof Uint8Array)) throw new InputError(`weights.encoder.bytes must be a Uint8Array, found ${shownValue(bytes)}`);
    pretrained = readPretrainedEncoder(bytes, String(name), o.encoder, pretrainedEncoderSpec(o), o.inChannels).tensors;
    from = `encoder from ${name}, decoder seed ${seed}`;
  }
  const nnunet = o.architecture === 'nnunet-plain';
  const prefix = nnunet && forLoader ? `${NNUNET_FOLD}.` : '';
  const raw: RawTensorToWrite[] = spec.map((t) => {
    const given = pretrained?.get(t.key);
    const name = prefix + t.key;
    if (t.init === 'count') return { name, dtype: 'I64', shape: [], data: given instanceof Uint8Array ? given : new Uint8Array(8) };
    const data = given instanceof Float32Array ? given : initTensor(t, seed);
    return { name, dtype: 'F32', shape: t.shape, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  });
  const metadata: Record<string, string> = { format: 'pt', source: 'webgpu-unet playground', weights: from };
  const title = isSmp(o)
    ? `smp ${o.architecture} ${o.encoder}`
    : nnunet
      ? `nnU-Net PlainConvUNet 2D ${o.decoderChannels.join(',')}`
      : `brain U-Net init_features ${o.decoderChannels[0]}`;
  const config: ModelConfig | undefined = isSmp(o)
    ? smpConfigOf(o)
    : nnunet
      ? { nnunet: { ...nnunetFilesOf(o), configuration: NNUNET_CONFIGURATION, folds: [NNUNET_FOLD] } }
      : undefined;
  return { bytes: writeSafetensorsBytes(raw, metadata), config, name: `${title} (${from})` };
}

/** The options of a loaded model (undefined for architectures the playground does not build). */
export function optionsOfInfo(info: ArchInfo & { buffers: number }): ModelOptions | undefined {
  const common = { inChannels: info.inChannels, classes: info.classes, activation: info.activation, depth: info.depth };
  if (info.architecture === 'brain-unet' && info.features !== undefined)
    return {
      ...common,
      architecture: 'brain-unet',
      encoder: 'unet',
      decoderChannels: [info.features],
      attention: 'none',
      upsampling: 'nearest',
      decoderNorm: 'batchnorm',
      activation: 'sigmoid',
    };
  const architecture = info.architecture === 'smp-unet' ? 'Unet' : info.architecture === 'smp-unetplusplus' ? 'UnetPlusPlus' : undefined;
  if (!architecture) return undefined;
  const o: ModelOptions = {
    ...common,
    architecture,
    encoder: info.encoder,
    decoderChannels: [...info.decoderChannels],
    attention: info.attention === 'scse' ? 'scse' : 'none',
    upsampling: info.upsampling === 'bilinear' ? 'bilinear' : 'nearest',
    decoderNorm: 'batchnorm',
  };
  if (checkOptions(o).length) return undefined;
  // model.info does not say whether the decoder has BatchNorm: its buffers do (running stats per block)
  const withNorm = countSpec(stateDictSpec(o));
  if (withNorm.buffers !== info.buffers) o.decoderNorm = 'none';
  return o;
}
