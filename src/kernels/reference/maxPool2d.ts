// CPU reference: F.max_pool2d(x, kernel, stride, padding), floor mode, padding counting as -inf.
import { type Tensor, zeros } from './tensor.js';

export function maxPool2d(x: Tensor, kernel: number, stride: number, padding: number): Tensor {
  const [N, C, H, W] = x.shape;
  const HO = Math.floor((H + 2 * padding - kernel) / stride) + 1;
  const WO = Math.floor((W + 2 * padding - kernel) / stride) + 1;
  const y = zeros([N, C, HO, WO]);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let oy = 0; oy < HO; oy++)
        for (let ox = 0; ox < WO; ox++) {
          let m = -Infinity;
          for (let ky = 0; ky < kernel; ky++)
            for (let kx = 0; kx < kernel; kx++) {
              const [iy, ix] = [oy * stride - padding + ky, ox * stride - padding + kx];
              if (iy >= 0 && iy < H && ix >= 0 && ix < W) m = Math.max(m, x.data[((n * C + c) * H + iy) * W + ix]);
            }
          y.data[((n * C + c) * HO + oy) * WO + ox] = m;
        }
  return y;
}
