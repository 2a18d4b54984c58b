// Words for model.info that the CLI (`unet info`, `unet bench`) and the page's model panel share, so both say
// the same thing the same way. Browser-safe and engine-free: the page's own bundle imports it.
import type { ModelInfo } from './model.js';

export const WEIGHTS_LABEL = 'weights on the GPU';

/**
 * info.weightBytes in words: the packed weights the model holds on the GPU, in MB of 10^6 bytes. They depend
 * on the device's kernels (a Winograd F(4x4) conv holds its 3x3 weights as 6x6 tiles, 4x the tensor;
 * BatchNorm is folded in; channels are padded to vec4), so the same file takes more on lavapipe (Winograd by
 * default) than on a GPU; the parameters as plain tensors, the same everywhere, follow for comparison.
 */
export function describeWeightBytes(i: Pick<ModelInfo, 'weightBytes' | 'parameters' | 'precision'>): string {
  const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
  return `${mb(i.weightBytes)} packed for this device's kernels (the parameters as ${i.precision} tensors: ${mb(i.parameters * (i.precision === 'f16' ? 2 : 4))})`;
}
