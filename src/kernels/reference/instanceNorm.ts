// CPU reference: InstanceNorm2d / 3d (affine) in eval mode, then + residual, then the activation, on NCHW or
// NCDHW data in float64: mean and biased variance per (n, c) over every spatial position, the variance
// as the mean of squared deviations from the mean (two passes), so no cancellation whatever the mean.
import type { InstanceNormParams } from '../../ir/params.js';
import type { Activation } from '../../ir/types.js';
import { applyActivation } from './unary.js';

/** `shape` is [N, C, ...spatial]; `residual`, when given, has the same shape. */
export function instanceNorm(
  x: { data: Float32Array; shape: readonly number[] },
  p: InstanceNormParams,
  activation: Activation = 'none',
  residual?: Float32Array,
): { data: Float32Array; shape: number[] } {
  const [N, C, ...spatial] = x.shape;
  const P = spatial.reduce((a, b) => a * b, 1);
  const y = new Float32Array(x.data.length);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      const base = (n * C + c) * P;
      let sum = 0;
      for (let i = 0; i < P; i++) sum += x.data[base + i];
      const mean = sum / P;
      let squares = 0;
      for (let i = 0; i < P; i++) squares += (x.data[base + i] - mean) ** 2;
      const scale = p.weight[c] / Math.sqrt(squares / P + p.eps);
      for (let i = 0; i < P; i++) {
        const v = (x.data[base + i] - mean) * scale + p.bias[c] + (residual ? residual[base + i] : 0);
        y[base + i] = applyActivation(activation, v);
      }
    }
  return { data: y, shape: [...x.shape] };
}
