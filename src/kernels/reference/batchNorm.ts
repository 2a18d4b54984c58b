// CPU reference: BatchNorm2d in eval mode.
import type { BatchNormParams } from '../../ir/params.js';
import { type Tensor, zeros } from './tensor.js';

export function batchNorm(x: Tensor, p: BatchNormParams): Tensor {
  const [N, C, H, W] = x.shape;
  const y = zeros(x.shape);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < H * W; i++) {
        const k = (n * C + c) * H * W + i;
        y.data[k] = ((x.data[k] - p.runningMean[c]) / Math.sqrt(p.runningVar[c] + p.eps)) * p.weight[c] + p.bias[c];
      }
  return y;
}
