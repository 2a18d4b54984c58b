// CPU reference: PyTorch's conv_transpose2d with kernel 2, stride 2, no padding; weight [CI, CO, 2, 2].
import type { ConvParams } from '../../ir/params.js';
import { type Tensor, zeros } from './tensor.js';

export function convTranspose2x2(x: Tensor, p: ConvParams): Tensor {
  const [N, C, H, W] = x.shape;
  const [CI, CO] = p.shape;
  if (CI !== C) throw new Error(`convTranspose2x2 reference: input has ${C} channels, weight expects ${CI}`);
  const y = zeros([N, CO, 2 * H, 2 * W]);
  for (let n = 0; n < N; n++)
    for (let co = 0; co < CO; co++)
      for (let oy = 0; oy < 2 * H; oy++)
        for (let ox = 0; ox < 2 * W; ox++) {
          // each output pixel has exactly one contributing input pixel: (oy >> 1, ox >> 1), tap (oy & 1, ox & 1)
          let s = p.bias ? p.bias[co] : 0;
          for (let ci = 0; ci < CI; ci++)
            s += x.data[((n * C + ci) * H + (oy >> 1)) * W + (ox >> 1)] * p.weight[((ci * CO + co) * 2 + (oy & 1)) * 2 + (ox & 1)];
          y.data[((n * CO + co) * 2 * H + oy) * 2 * W + ox] = s;
        }
  return y;
}
