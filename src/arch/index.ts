// The architectures the engine runs. Detection tries them in order; the first whose detect() accepts the
// state_dict (and config) builds the model.
import { brainUnet } from './brainUnet.js';
import { TensorReader } from './reader.js';
import { smpUnet } from './smpUnet.js';
import type { Architecture, ArchInfo, BuildOptions, ModelConfig } from './types.js';
import type { Graph } from '../graph/ir.js';
import type { Safetensors } from '../weights/safetensors.js';
import { UnsupportedError } from '../errors.js';

export const ARCHITECTURES: readonly Architecture[] = [smpUnet, brainUnet];

export interface BuiltModel {
  graph: Graph;
  info: ArchInfo;
  /** NaN / Inf found in the tensors read, as one line */
  warning?: string;
}

/** Picks the architecture of a state_dict (and optional config) and builds its graph. */
export function buildModel(st: Safetensors, config: ModelConfig | undefined, options: BuildOptions = {}): BuiltModel {
  const reader = new TensorReader(st);
  const arch = ARCHITECTURES.find((a) => a.detect(reader.keys, config));
  if (!arch) {
    const sample = reader.keys.slice(0, 3).map((k) => JSON.stringify(k)).join(', ');
    // the brain U-Net's reader explains what it misses best
    if (!config) return { ...brainUnet.build(reader, config, options), warning: reader.nonFiniteWarning() };
    throw new UnsupportedError(`${st.source}: not a model this engine runs (keys ${sample}…; supported: ${ARCHITECTURES.map((a) => a.name).join(', ')})`);
  }
  const built = arch.build(reader, config, options);
  return { ...built, warning: reader.nonFiniteWarning() };
}

export type { Architecture, ArchInfo, BuildOptions, ModelConfig, OutputActivation } from './types.js';
export { OUTPUT_ACTIVATIONS } from './types.js';
