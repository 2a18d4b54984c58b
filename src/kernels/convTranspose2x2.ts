// conv_transpose2d with kernel 2, stride 2 (the U-Net's up-sampling), NHWC4, with bias: convTransposeStrided
// (src/kernels/convTransposeStrided.ts) with kernel [1, 2, 2] and depth 1, whose code for it is this op's
// former kernel (the 2 x 2 taps unrolled, the same tiles), under the names the convTranspose2x2 op uses.
import type { ConvParams } from '../ir/params.js';
import type { BufferRange, Step } from './common.js';
import {
  type ConvTransposeStridedSpec,
  convTransposeStridedStep,
  convTransposeStridedWgsl,
  convTransposeStridedWorkgroups,
  packConvTransposeStridedWeights,
} from './convTransposeStrided.js';

/** convTransposeStrided's spec without depth and kernel: N, H, W (the output is 2H x 2W), channels, views, tile. */
export type ConvTranspose2x2Spec = Omit<ConvTransposeStridedSpec, 'D' | 'kernel'>;

const strided = (s: ConvTranspose2x2Spec): ConvTransposeStridedSpec => ({ ...s, D: 1, kernel: [1, 2, 2] });

export const convTranspose2x2Workgroups = (s: ConvTranspose2x2Spec): [number, number, number] => convTransposeStridedWorkgroups(strided(s));

export const convTranspose2x2Wgsl = (s: ConvTranspose2x2Spec): string => convTransposeStridedWgsl(strided(s));

/** Packs a PyTorch ConvTranspose2d weight [cin, cout, 2, 2] (and bias) into the kernel's layout. */
export function packConvTranspose2x2Weights(
  p: ConvParams,
  cin4: number,
  tileC4: number,
  channelPos?: (ci: number) => number,
): { weight: Float32Array; bias: Float32Array } {
  const [, , kH, kW] = p.shape;
  if (kH !== 2 || kW !== 2) throw new Error(`convTranspose2x2: weight shape [${p.shape}] is not [cin, cout, 2, 2]`);
  return packConvTransposeStridedWeights(p, cin4, tileC4, channelPos);
}

export function convTranspose2x2Step(
  device: GPUDevice,
  s: ConvTranspose2x2Spec,
  b: { input: BufferRange; weight: BufferRange; bias: BufferRange; output: BufferRange },
  label = 'convTranspose2x2',
): Step {
  return convTransposeStridedStep(device, strided(s), b, label);
}
