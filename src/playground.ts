// The model playground's library side: build any supported U-Net from its options (issue 22), describe it
// without a device (parameters, buffers, GFLOP, GPU memory, the diagram), and export what smp would save.
//
// API (exported from src/index.ts):
//   type PlaygroundArchitecture = 'Unet' | 'UnetPlusPlus' | 'brain-unet' | 'nnunet-plain'
//   interface ModelOptions { architecture, encoder, depth, decoderChannels, attention, upsampling, decoderNorm,
//                            inChannels, classes, activation }
//   defaultModelOptions(architecture?)            -> ModelOptions (smp's defaults; the brain U-Net's)
//   modelOptionChoices(o)                         -> per field: { value, allowed, why? }[]
//   setModelOption(o, field, value)              -> o with one field changed and what depends on it brought along
//                                                   (a new depth resizes decoderChannels; a new architecture
//                                                   starts from its defaults)
//   checkModelOptions(o)                          -> { field, message }[] ([] when buildable)
//   describeModel(o, [H, W], context?)            -> ModelDescription (no device needed; context { device } or
//                                                   { tuning, alignment, ... } gives that device's plan figures)
//   smpConfig(o, { encoderWeights? })             -> config.json object as smp's save_pretrained writes it
//   smpConfigJson(o, { encoderWeights? })         -> that file's text (json.dumps(sort_keys=True, indent=2))
//   modelSafetensors(o, weights?)                 -> Uint8Array: the full state_dict, smp's keys
//   type ModelWeights = { random: { seed } } | { encoder: { bytes, name, seed } }
//   buildModel(device, o, { weights?, precision?, tuning? }) -> Promise<Model>
//   optionsOfModel(model)                         -> ModelOptions | undefined
//   ENCODER_FILE_PATTERNS: which pretrained files each encoder family takes (for a file picker's hint)
// The library-internal graph builder of src/arch is `buildModel(st, config)` there; this one is the public one.
//
// 'nnunet-plain' is nnU-Net's 2D PlainConvUNet (dynamic_network_architectures) as nnU-Net's default planner
// builds it, with the options read as:
//   depth            n_stages (2 to 8)
//   decoderChannels  features_per_stage, one per stage, the first stage first: the planner's 32 doubling per
//                    stage, capped at 512 in 2D (UNet_max_features_2d; 320 is its 3D cap), e.g.
//                    [32, 64, 128, 256, 512, 512]; setModelOption('depth') cuts or extends it that way
//   decoderNorm      'instancenorm' (the default: InstanceNorm2d eps 1e-5, affine) or 'batchnorm' (BatchNorm2d,
//                    as nnUNetTrainerBN); 'none' is offered but not allowed (nnU-Net always normalises)
//   inChannels       dataset.json's channels; classes: its labels, background included (segmentation heads)
//   fixed            encoder 'plain', activation 'identity' (logits), attention 'none', upsampling 'nearest'
//                    (it up-samples by transposed convs: the choices say why), 3x3 kernels, strides [1,1] then
//                    [2,2], 2 convs per stage, conv bias, LeakyReLU(0.01), no dropout
//   weights          random only: nnU-Net's InitWeights_He(1e-2) (kaiming_normal_ a=0.01, fan_in; biases 0),
//                    seeded by our generator
//   counts           every parameter dna builds, the deep-supervision seg_layers[0..n-3] included (never run)
//   modelSafetensors dna's state_dict keys without the repeated all_modules.* / decoder.encoder.* names;
//                    buildModel loads it through the nnU-Net plug-in with generated plans.json / dataset.json
//   smpConfig        throws (not an smp model)
import type { Model } from './model.js';
import { loadModel } from './load.js';
import type { Tuning } from './compiler/tuning.js';
import {
  type DescribeContext,
  type ModelDescription,
  type ModelOptions,
  type ModelWeights,
  type OptionChoice,
  type OptionProblem,
  type PlaygroundArchitecture,
  type SmpConfigOptions,
  checkOptions,
  defaultOptions,
  describeOptions,
  ENCODER_FILE_PATTERNS,
  optionChoices,
  optionsOfInfo,
  playgroundStateDict,
  smpConfigOf,
  smpConfigText,
  withOption,
} from './arch/playground/index.js';
import { InputError } from './errors.js';

export type { ModelDescription, ModelOptions, ModelWeights, OptionChoice, OptionProblem, PlaygroundArchitecture, SmpConfigOptions };
export type { DescribedStage, DescribeContext } from './arch/playground/index.js';
export { ENCODER_FILE_PATTERNS };

/** smp's defaults for an architecture (Unet, resnet34, depth 5, decoder 256..16, 3 -> 1 channels); the brain
 *  U-Net's (init_features 32, depth 4, 3 -> 1, sigmoid). */
export function defaultModelOptions(architecture: PlaygroundArchitecture = 'Unet'): ModelOptions {
  return defaultOptions(architecture);
}

/** Every field's allowed values for the other fields' current values, with the reason a value is not allowed. */
export function modelOptionChoices(o: ModelOptions): { [K in keyof ModelOptions]?: OptionChoice[] } {
  return optionChoices(o);
}

/** `o` with one field changed and the fields that depend on it brought along (a new depth resizes
 *  decoderChannels; another architecture starts from its defaults, keeping in / out channels). */
export function setModelOption<K extends keyof ModelOptions>(o: ModelOptions, field: K, value: ModelOptions[K]): ModelOptions {
  return withOption(o, field, value);
}

/** Problems of a combination, [] when it builds: {field, message}. */
export function checkModelOptions(o: ModelOptions): OptionProblem[] {
  return checkOptions(o);
}

/** Without a device: exact parameter / buffer counts (as PyTorch counts them), GFLOP and one-pass GPU memory
 *  at an input size, and the diagram's stages with their feature-map shapes. */
export function describeModel(o: ModelOptions, input: [number, number], context?: DescribeContext): ModelDescription {
  return describeOptions(o, input, context);
}

/** smp's config.json for these options, as an object in the file's key order (save_pretrained sorts keys). */
export function smpConfig(o: ModelOptions, options: SmpConfigOptions = {}): Record<string, unknown> {
  return smpConfigOf(o, options);
}

/** smp's config.json text, byte for byte as save_pretrained writes it (json.dumps(sort_keys=True, indent=2)). */
export function smpConfigJson(o: ModelOptions, options: SmpConfigOptions = {}): string {
  return smpConfigText(o, options);
}

/** The full state_dict (smp's key names, every tensor smp has, num_batches_tracked as I64) as safetensors
 *  bytes: random (seeded) or with a pretrained encoder file's tensors. The same arguments give the same bytes. */
export function modelSafetensors(o: ModelOptions, weights: ModelWeights = { random: { seed: 0 } }): Uint8Array {
  return playgroundStateDict(o, weights).bytes;
}

export interface BuildModelOptions {
  /** default: random, seed 0 */
  weights?: ModelWeights;
  precision?: 'f32' | 'f16';
  tuning?: Tuning;
}

/** The model, ready to run (a Model as loadModel returns), with random (seeded, smp's / PyTorch's init) or
 *  pretrained-encoder weights (the decoder and head random, seeded). */
export async function buildModel(device: GPUDevice, o: ModelOptions, options: BuildModelOptions = {}): Promise<Model> {
  const problems = checkOptions(o);
  if (problems.length) throw new InputError(`model options: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`);
  const { bytes, config, name } = playgroundStateDict(o, options.weights ?? { random: { seed: 0 } }, true);
  return loadModel(device, { weights: bytes, config, name, configName: `${name} config` }, { precision: options.precision, tuning: options.tuning });
}

/** A loaded model's options (what fills the form for a trained model); undefined for one the playground
 *  cannot build (nnU-Net). */
export function optionsOfModel(model: Model): ModelOptions | undefined {
  return optionsOfInfo(model.info);
}
