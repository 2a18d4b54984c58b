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

/**
 * The input sizes a model takes, in words: a 3D network (info.dims 3) takes D, H and W that are multiples of
 * info.sizeMultiples (the product of its strides per axis; other sizes are refused, not padded); a 2D one
 * pads H and W to multiples of info.sizeMultiple and crops the output back.
 */
export function describeSizes(i: Pick<ModelInfo, 'sizeMultiple' | 'dims' | 'sizeMultiples'>): string {
  if (i.dims === 3 && i.sizeMultiples) {
    return `D x H x W multiples of ${i.sizeMultiples.join(' x ')} (the product of the strides per axis; other sizes are refused)`;
  }
  return i.sizeMultiple === 1 ? '1 (any size)' : `${i.sizeMultiple} (other sizes are padded)`;
}

/** The model's input as shapes are written: [N, C, H, W], or [N, C, D, H, W] for a 3D model. */
export const inputLayout = (i: Pick<ModelInfo, 'dims'>): string => (i.dims === 3 ? '[N, C, D, H, W]' : '[N, C, H, W]');
