// CPU reference: torch.softmax(x, 1) or torch.log_softmax(x, 1), in f64 with the max subtracted.
import { type Tensor, zeros } from './tensor.js';

export function channelSoftmax(x: Tensor, log: boolean): Tensor {
  const [N, C, H, W] = x.shape;
  const y = zeros(x.shape);
  const P = H * W;
  for (let n = 0; n < N; n++)
    for (let p = 0; p < P; p++) {
      const i = (c: number) => (n * C + c) * P + p;
      let m = -Infinity;
      for (let c = 0; c < C; c++) m = Math.max(m, x.data[i(c)]);
      let s = 0;
      for (let c = 0; c < C; c++) s += Math.exp(x.data[i(c)] - m);
      for (let c = 0; c < C; c++) y.data[i(c)] = log ? x.data[i(c)] - m - Math.log(s) : Math.exp(x.data[i(c)] - m) / s;
    }
  return y;
}
