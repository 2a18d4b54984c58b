// What the parts of the smp plug-in share: a model's settings (read from config.json or inferred from the
// tensors) and what a decoder is. The encoder's interface is encoders/types.ts.
import type { GraphBuilder, ValueId } from '../../ir/graph.js';
import type { TensorReader } from '../reader.js';
import type { OutputActivation } from '../types.js';

export interface SmpSettings {
  decoder: SmpDecoder;
  encoderName: string;
  depth: number;
  decoderChannels: number[];
  useNorm: boolean;
  attention: 'scse' | null;
  interpolation: 'nearest' | 'bilinear';
  inChannels: number;
  classes: number;
  activation: OutputActivation;
  /** settings read from the tensors rather than a config */
  inferred: string[];
}

/** An smp decoder: the model class it is, how its blocks are named, and how it turns the encoder's
 *  features into the tensor the segmentation head reads. */
export interface SmpDecoder {
  /** smp's class name, config.json's `_model_class`, e.g. 'Unet' */
  modelClass: string;
  /** model.info.architecture, e.g. 'smp-unet' */
  architecture: string;
  /** the smallest encoder_depth the decoder builds (5 is every encoder's greatest) */
  minDepth: number;
  /** matches the keys of the blocks that end each decoder level, capturing the level: a bare state_dict
   *  with such keys is this decoder's */
  levelKey: RegExp;
  /** the name of the block that ends decoder level `level` (its conv1 has decoder_channels[level] outputs) */
  block(level: number): string;
  /** H and W are padded to multiples of this (smp's own check: 1 where its decoder takes any size) */
  sizeMultiple(depth: number): number;
  /** the decoder's output from the encoder's features [x, f1, ..., f_depth] */
  build(b: GraphBuilder, r: TensorReader, features: readonly ValueId[], s: SmpSettings): ValueId;
}
