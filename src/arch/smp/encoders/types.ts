// An smp encoder as the smp plug-in uses it: which encoder_names it serves, how to recognise one in a
// bare state_dict, and how to build its features [x, f1 (/2), ..., f_depth (/2^depth)] into a graph.
import type { GraphBuilder, ValueId } from '../../../ir/graph.js';
import type { Normalization } from '../../../io/preprocess.js';
import type { TensorReader } from '../../reader.js';

export interface SmpEncoder {
  /** encoder_name values it builds, e.g. 'resnet34' */
  names: readonly string[];
  /** the encoder_name of a bare state_dict's `encoder.*` tensors, or undefined when they are not this family's */
  infer(r: TensorReader, prefix: string): string | undefined;
  /** channels of [x, f1, ..., f5] */
  outChannels(name: string, inChannels: number): number[];
  /** greatest encoder_depth */
  maxDepth: number;
  /** the features [x, f1, ..., f_depth]; tensors are read from `${prefix}...`; tensors of stages past the
   *  depth (which smp keeps in the state_dict) are marked as read */
  build(b: GraphBuilder, r: TensorReader, x: ValueId, name: string, depth: number, prefix: string): ValueId[];
  /** the first conv's weight key after the prefix (its dim 1 is in_channels) */
  stemKey: string;
  /** the state_dict tensors this encoder accepts but never runs at `depth`, as key patterns with why */
  unused(name: string, depth: number, prefix: string): string[];
  /** what the pretrained weights expect */
  preprocessing: Normalization;
}
