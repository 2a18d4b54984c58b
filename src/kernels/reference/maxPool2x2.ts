// CPU reference: nn.MaxPool2d(kernel_size=2, stride=2), floor mode (an odd last row/column is dropped).
import { type Tensor, zeros } from './tensor.js';

export function maxPool2x2(x: Tensor): Tensor {
  const [N, C, H, W] = x.shape;
  const [HO, WO] = [H >> 1, W >> 1];
  const y = zeros([N, C, HO, WO]);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let oy = 0; oy < HO; oy++)
        for (let ox = 0; ox < WO; ox++) {
          let m = -Infinity;
          for (let dy = 0; dy < 2; dy++)
            for (let dx = 0; dx < 2; dx++) m = Math.max(m, x.data[((n * C + c) * H + 2 * oy + dy) * W + 2 * ox + dx]);
          y.data[((n * C + c) * HO + oy) * WO + ox] = m;
        }
  return y;
}
