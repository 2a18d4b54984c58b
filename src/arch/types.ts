// What an architecture plug-in is: it recognises its state_dict (and config), reads its tensors through a
// TensorReader and builds the graph. Adding an architecture is adding one such file to src/arch/index.ts;
// no executor code changes.
import type { Graph } from '../ir/graph.js';
import type { Normalization } from '../io/preprocess.js';
import type { TensorReader } from './reader.js';
import type { OutputActivation } from '../ir/types.js';

export type { OutputActivation };

export const OUTPUT_ACTIVATIONS: readonly OutputActivation[] = ['identity', 'sigmoid', 'softmax', 'logsoftmax', 'tanh'];

/** A model's config: smp's config.json, or none (then everything is inferred from the tensors). */
export type ModelConfig = Record<string, unknown>;

export interface BuildOptions {
  /** overrides the config's (or the architecture's default) output activation */
  activation?: OutputActivation;
  /** the config's name for messages (a folder's config.json); default: the weights' name + ' config' */
  configSource?: string;
}

/** Families of architectures: one family shares its loader (smp: config.json, the encoder table) and how
 *  PyTorch rebuilds it. */
export type ArchFamily = 'smp' | 'brain-unet' | 'nnunet';

/**
 * How tools/torch_bench.py rebuilds the model in PyTorch (the bench's reference): the option that names
 * the model, and whether that option reads a save_pretrained folder, so config.json goes beside the weights.
 */
export interface TorchReference {
  /** '--weights': a brain U-Net state_dict (tools/unet_model.py); '--smp': an smp model (tools/smp_unet.py) */
  option: '--weights' | '--smp' | '--nnunet';
  /** the option takes a folder (config.json + model.safetensors) when the model came with a config */
  config: boolean;
}

/** The architecture's description of the model it built (model.info is made from it). Everything that
 *  names the model (the CLI, the bench, the page) reads these fields rather than branching on the
 *  architecture. */
export interface ArchInfo {
  /** e.g. 'brain-unet', 'smp-unet' */
  architecture: string;
  family: ArchFamily;
  /** the model's kind as people name it, e.g. 'brain U-Net', 'smp Unet' */
  name: string;
  /** its sizes in a few words, e.g. 'init_features 32', 'resnet34, decoder 256,128,64,32,16 scse' */
  variant: string;
  /** `${name} ${variant}`: one line naming the model, e.g. 'smp Unet resnet34, decoder 256,128,64,32,16 scse' */
  title: string;
  /** how the bench rebuilds it in PyTorch */
  reference: TorchReference;
  /** the encoder (smp: its encoder_name); the brain U-Net's own encoder is 'unet' */
  encoder: string;
  depth: number;
  /** output channels of each decoder level, deepest first */
  decoderChannels: number[];
  /** decoder attention ('scse') or none */
  attention: string | null;
  /** how decoder blocks up-sample: 'nearest', 'bilinear', or 'transposed-conv' */
  upsampling: string;
  inChannels: number;
  classes: number;
  activation: OutputActivation;
  /** the input normalization the model was trained with (the CLI's and the web page's default) */
  preprocessing: Normalization;
  /** H and W are padded to multiples of this (1: any size runs as it is) */
  sizeMultiple: number;
  /** spatial axes of the model's input: 2 ([N, C, H, W], the default) or 3 ([N, C, D, H, W]) */
  dims?: 2 | 3;
  /** 3D models: each spatial size (D, H, W) must be a multiple of these (the product of the strides per axis) */
  sizeMultiples?: number[];
  /** settings read from the tensors rather than a config, e.g. ['encoder', 'depth', 'classes'] */
  inferred: string[];
  /** tensors in the state_dict that are accepted but never run, as key patterns with why, e.g.
   *  'encoder._conv_head.*, encoder._bn1.* (smp keeps them; its encoder never runs them)' */
  unused: string[];
  /** the brain U-Net's init_features */
  features?: number;
  /** nnU-Net models: the config's `nnunet` entry (plans, dataset.json, configuration, mirroring axes, folds)
   *  that the predictor reads (src/arch/nnunet/index.ts nnunetSettings); not enumerable on model.info */
  nnunet?: Record<string, unknown>;
}

export interface Architecture {
  name: string;
  /** True when the state_dict keys (prefix stripped) and config are this architecture's. */
  detect(keys: readonly string[], config: ModelConfig | undefined): boolean;
  build(reader: TensorReader, config: ModelConfig | undefined, options: BuildOptions): { graph: Graph; info: ArchInfo };
  /** keys whose tensors are another key's, registered twice in the module (PyTorch counts them once) */
  repeatedKey?(key: string): boolean;
}
