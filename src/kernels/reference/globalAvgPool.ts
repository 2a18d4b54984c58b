// CPU reference: F.adaptive_avg_pool2d(x, 1), summed in f64.
import { type Tensor, zeros } from './tensor.js';

export function globalAvgPool(x: Tensor): Tensor {
  const [N, C, H, W] = x.shape;
  const y = zeros([N, C, 1, 1]);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let i = 0; i < H * W; i++) s += x.data[(n * C + c) * H * W + i];
      y.data[n * C + c] = s / (H * W);
    }
  return y;
}
