// CPU reference: smp's SCSE combination x * cse + x * sse, cse [N, C, 1, 1], sse [N, 1, H, W].
import { type Tensor, zeros } from './tensor.js';

export function scseGate(x: Tensor, cse: Tensor, sse: Tensor): Tensor {
  const [N, C, H, W] = x.shape;
  const y = zeros(x.shape);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let p = 0; p < H * W; p++) {
        const v = x.data[(n * C + c) * H * W + p];
        y.data[(n * C + c) * H * W + p] = v * cse.data[n * C + c] + v * sse.data[n * H * W + p];
      }
  return y;
}
