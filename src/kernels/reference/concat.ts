// CPU reference: torch.cat((a, b), dim=1).
import { type Tensor, zeros } from './tensor.js';

export function concat(a: Tensor, b: Tensor): Tensor {
  const [N, CA, H, W] = a.shape;
  const CB = b.shape[1];
  const y = zeros([N, CA + CB, H, W]);
  const hw = H * W;
  for (let n = 0; n < N; n++) {
    y.data.set(a.data.subarray(n * CA * hw, (n + 1) * CA * hw), n * (CA + CB) * hw);
    y.data.set(b.data.subarray(n * CB * hw, (n + 1) * CB * hw), (n * (CA + CB) + CA) * hw);
  }
  return y;
}
