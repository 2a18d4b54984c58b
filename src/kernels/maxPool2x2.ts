// max_pool2d kernel 2 stride 2 (floor mode, as nn.MaxPool2d(2, 2)): an odd last row/column is dropped.
// The brain U-Net's pooling, as the general max_pool2d kernel with k = s = 2 and no padding.
import type { Band } from '../ir/graph.js';
import type { BufferRange, Nhwc4View, Step } from './common.js';
import { maxPool2dStep } from './maxPool2d.js';

export interface MaxPool2x2Spec {
  N: number;
  /** input spatial size; the output is floor(H/2) x floor(W/2) */
  H: number;
  W: number;
  /** vec4 groups to pool per pixel (padding channels are pooled too: they stay 0) */
  c4: number;
  /** the output rows (of N * floor(H/2)) this dispatch computes (default all): a band */
  band?: Band;
  input: Nhwc4View;
  output: Nhwc4View;
  workgroupSize: number;
  /** store activations as f16 (needs the shader-f16 feature); the max is taken in f32 */
  f16?: boolean;
}

export function maxPool2x2Step(device: GPUDevice, s: MaxPool2x2Spec, b: { input: BufferRange; output: BufferRange }, label = 'maxPool2x2'): Step {
  return maxPool2dStep(device, { ...s, kernel: 2, stride: 2, padding: 0 }, b, label);
}
