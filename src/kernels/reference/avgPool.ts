// CPU reference: F.avg_pool2d / F.avg_pool3d(x, kernel, stride = kernel) on NCHW or NCDHW arrays: floor
// mode, no padding, so every window lies inside the input and is divided by its full size.
import type { NdTensor } from './convTransposeStrided.js';
import { numElements } from './tensor.js';

export function avgPool(x: NdTensor, kernel: number[]): NdTensor {
  const [N, C, ...spatial] = x.shape;
  if (kernel.length !== spatial.length) throw new Error(`avgPool reference: kernel [${kernel}] for input [${x.shape}]`);
  const [D, H, W] = spatial.length === 2 ? [1, ...spatial] : spatial;
  const [KD, KH, KW] = kernel.length === 2 ? [1, ...kernel] : kernel;
  const [OD, OH, OW] = [Math.floor(D / KD), Math.floor(H / KH), Math.floor(W / KW)];
  const shape = [N, C, ...spatial.map((s, i) => Math.floor(s / kernel[i]))];
  const data = new Float32Array(numElements(shape));
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let oz = 0; oz < OD; oz++)
        for (let oy = 0; oy < OH; oy++)
          for (let ox = 0; ox < OW; ox++) {
            let s = 0;
            for (let kz = 0; kz < KD; kz++)
              for (let ky = 0; ky < KH; ky++)
                for (let kx = 0; kx < KW; kx++) s += x.data[(((n * C + c) * D + oz * KD + kz) * H + oy * KH + ky) * W + ox * KW + kx];
            data[(((n * C + c) * OD + oz) * OH + oy) * OW + ox] = s / (KD * KH * KW);
          }
  return { data, shape };
}
