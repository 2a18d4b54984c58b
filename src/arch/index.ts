// The architectures the engine runs. Detection tries them in order; the first whose detect() accepts the
// state_dict (and config) builds the model.
import { brainUnet } from './brainUnet.js';
import { TensorReader } from './reader.js';
import { smp } from './smp/index.js';
import { nnunet } from './nnunet/index.js';
import type { Architecture, ArchInfo, BuildOptions, ModelConfig } from './types.js';
import type { Graph } from '../ir/graph.js';
import type { Safetensors } from '../weights/safetensors.js';
import { UnsupportedError } from '../errors.js';

export const ARCHITECTURES: readonly Architecture[] = [nnunet, smp, brainUnet];

export interface BuiltModel {
  graph: Graph;
  info: ArchInfo & ParameterCounts;
  /** NaN / Inf found in the tensors read, as one line */
  warning?: string;
}

export interface ParameterCounts {
  /** elements of the model's parameters, as PyTorch counts them: sum(p.numel() for p in model.parameters()) */
  parameters: number;
  /** elements of its buffers, as sum(b.numel() for b in model.buffers()): BatchNorm's running_mean and
   *  running_var, and one num_batches_tracked each (counted whether or not the file saved it, as PyTorch has it) */
  buffers: number;
}

/**
 * Parameters and buffers of the PyTorch model a state_dict was saved from, by its key kinds: a
 * state_dict is the parameters and the persistent buffers, so tensors the engine accepts but never runs
 * (smp's encoder._conv_head, say) count too, as they do in PyTorch. Run after the architecture accepted
 * every key.
 */
export function countStateDict(st: Safetensors, repeated: (key: string) => boolean = () => false): ParameterCounts {
  let parameters = 0;
  let buffers = 0;
  for (const [key, t] of st.tensors) {
    if (repeated(key)) continue;
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (key.endsWith('.num_batches_tracked')) continue;
    if (key.endsWith('.running_mean')) buffers += n;
    else if (key.endsWith('.running_var'))
      buffers += n + 1; // and its BatchNorm's num_batches_tracked
    else parameters += n;
  }
  return { parameters, buffers };
}

/** Picks the architecture of a state_dict (and optional config) and builds its graph. */
export function buildModel(st: Safetensors, config: ModelConfig | undefined, options: BuildOptions = {}): BuiltModel {
  const reader = new TensorReader(st);
  const arch = ARCHITECTURES.find((a) => a.detect(reader.keys, config));
  if (!arch) {
    const sample = reader.keys
      .slice(0, 3)
      .map((k) => JSON.stringify(k))
      .join(', ');
    // the brain U-Net's reader explains what it misses best
    if (!config) return built(brainUnet, brainUnet.build(reader, config, options), st, reader);
    throw new UnsupportedError(`${st.source}: not a model this engine runs (keys ${sample}…; supported: ${ARCHITECTURES.map((a) => a.name).join(', ')})`);
  }
  return built(arch, arch.build(reader, config, options), st, reader);
}

function built(arch: Architecture, b: { graph: Graph; info: ArchInfo }, st: Safetensors, reader: TensorReader): BuiltModel {
  return { graph: b.graph, info: { ...b.info, ...countStateDict(st, arch.repeatedKey) }, warning: reader.nonFiniteWarning() };
}

export type { Architecture, ArchInfo, BuildOptions, ModelConfig, OutputActivation } from './types.js';
export { OUTPUT_ACTIVATIONS } from './types.js';
