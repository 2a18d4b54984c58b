// CPU reference: PyTorch's conv2d (any groups), plus an optional residual added before the activation, as
// the plainest NCHW loop nest. The spec the WGSL is tested against.
import type { ConvParams } from '../../ir/params.js';
import type { Activation } from '../../ir/types.js';
import { conv2dOutSize } from '../conv2d.js';
import { type Tensor, zeros } from './tensor.js';
import { applyActivation } from './unary.js';

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
  dilation?: number;
  activation?: Activation;
  groups?: number;
  /** added to the conv's output (same shape) before the activation */
  residual?: Tensor;
}

export function conv2d(x: Tensor, p: ConvParams, o: Conv2dOptions = {}): Tensor {
  const [stride, pad, dil] = [o.stride ?? 1, o.padding ?? 0, o.dilation ?? 1];
  const [N, C, H, W] = x.shape;
  const [CO, CI, KH, KW] = p.shape;
  const groups = o.groups ?? 1;
  if (CI * groups !== C) throw new Error(`conv2d reference: input has ${C} channels, weight expects ${CI} x ${groups} groups`);
  const COG = CO / groups;
  const HO = conv2dOutSize(H, KH, stride, pad, dil);
  const WO = conv2dOutSize(W, KW, stride, pad, dil);
  const y = zeros([N, CO, HO, WO]);
  for (let n = 0; n < N; n++)
    for (let co = 0; co < CO; co++)
      for (let oy = 0; oy < HO; oy++)
        for (let ox = 0; ox < WO; ox++) {
          let s = p.bias ? p.bias[co] : 0;
          const g = Math.floor(co / COG);
          for (let ci = 0; ci < CI; ci++)
            for (let ky = 0; ky < KH; ky++) {
              const iy = oy * stride - pad + ky * dil;
              if (iy < 0 || iy >= H) continue;
              for (let kx = 0; kx < KW; kx++) {
                const ix = ox * stride - pad + kx * dil;
                if (ix < 0 || ix >= W) continue;
                s += x.data[((n * C + g * CI + ci) * H + iy) * W + ix] * p.weight[((co * CI + ci) * KH + ky) * KW + kx];
              }
            }
          const i = ((n * CO + co) * HO + oy) * WO + ox;
          if (o.residual) s += o.residual.data[i];
          y.data[i] = applyActivation(o.activation ?? 'none', s);
        }
  return y;
}
