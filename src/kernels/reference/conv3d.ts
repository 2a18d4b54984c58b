// CPU reference: PyTorch's conv3d (per-axis kernel, stride and symmetric padding, no dilation or groups),
// plus an optional residual added before the activation, as the plainest NCDHW loop nest. The spec the
// WGSL is tested against.
import type { ConvNdParams } from '../../ir/params.js';
import type { Activation } from '../../ir/types.js';
import { type Axes3, conv3dOutSize } from '../conv3d.js';
import { numElements } from './tensor.js';
import { applyActivation } from './unary.js';

/** An NCDHW tensor: shape [N, C, D, H, W], row-major. */
export interface Tensor3d {
  data: Float32Array;
  shape: number[];
}

export interface Conv3dOptions {
  stride?: Axes3;
  padding?: Axes3;
  activation?: Activation;
  /** added to the conv's output (same shape) before the activation */
  residual?: Tensor3d;
}

export function conv3d(x: Tensor3d, p: ConvNdParams, o: Conv3dOptions = {}): Tensor3d {
  const [sd, sh, sw] = o.stride ?? [1, 1, 1];
  const [pd, ph, pw] = o.padding ?? [0, 0, 0];
  const [N, C, D, H, W] = x.shape;
  const [CO, CI, KD, KH, KW] = p.shape;
  if (CI !== C) throw new Error(`conv3d reference: input has ${C} channels, weight expects ${CI}`);
  const [DO, HO, WO] = [conv3dOutSize(D, KD, sd, pd), conv3dOutSize(H, KH, sh, ph), conv3dOutSize(W, KW, sw, pw)];
  const shape = [N, CO, DO, HO, WO];
  const y = new Float32Array(numElements(shape));
  for (let n = 0; n < N; n++)
    for (let co = 0; co < CO; co++)
      for (let oz = 0; oz < DO; oz++)
        for (let oy = 0; oy < HO; oy++)
          for (let ox = 0; ox < WO; ox++) {
            let s = p.bias ? p.bias[co] : 0;
            for (let ci = 0; ci < CI; ci++)
              for (let kz = 0; kz < KD; kz++) {
                const iz = oz * sd - pd + kz;
                if (iz < 0 || iz >= D) continue;
                for (let ky = 0; ky < KH; ky++) {
                  const iy = oy * sh - ph + ky;
                  if (iy < 0 || iy >= H) continue;
                  for (let kx = 0; kx < KW; kx++) {
                    const ix = ox * sw - pw + kx;
                    if (ix < 0 || ix >= W) continue;
                    s += x.data[(((n * C + ci) * D + iz) * H + iy) * W + ix] * p.weight[(((co * CI + ci) * KD + kz) * KH + ky) * KW + kx];
                  }
                }
              }
            const i = (((n * CO + co) * DO + oz) * HO + oy) * WO + ox;
            if (o.residual) s += o.residual.data[i];
            y[i] = applyActivation(o.activation ?? 'none', s);
          }
  return { data: y, shape };
}
