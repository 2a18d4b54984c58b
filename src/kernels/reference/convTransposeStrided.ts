// CPU reference: PyTorch's conv_transpose2d / conv_transpose3d with stride = kernel, no padding, on NCHW or
// NCDHW arrays; weight [CI, CO, ...kernel].
import type { ConvNdParams } from '../../ir/params.js';
import { numElements } from './tensor.js';

/** An NCHW or NCDHW array. */
export interface NdTensor {
  data: Float32Array;
  shape: number[];
}

export function convTransposeStrided(x: NdTensor, p: ConvNdParams): NdTensor {
  const [N, C, ...spatial] = x.shape;
  const [CI, CO, ...kernel] = p.shape;
  if (CI !== C) throw new Error(`convTransposeStrided reference: input has ${C} channels, weight expects ${CI}`);
  if (kernel.length !== spatial.length) throw new Error(`convTransposeStrided reference: kernel [${kernel}] for input [${x.shape}]`);
  // 2D as 3D with depth 1
  const [D, H, W] = spatial.length === 2 ? [1, ...spatial] : spatial;
  const [KD, KH, KW] = kernel.length === 2 ? [1, ...kernel] : kernel;
  const [OD, OH, OW] = [D * KD, H * KH, W * KW];
  const shape = [N, CO, ...spatial.map((s, i) => s * kernel[i])];
  const data = new Float32Array(numElements(shape));
  for (let n = 0; n < N; n++)
    for (let co = 0; co < CO; co++)
      for (let oz = 0; oz < OD; oz++)
        for (let oy = 0; oy < OH; oy++)
          for (let ox = 0; ox < OW; ox++) {
            // each output position has exactly one contributing input position and tap
            const [z, y, xx] = [Math.floor(oz / KD), Math.floor(oy / KH), Math.floor(ox / KW)];
            const tap = ((oz % KD) * KH + (oy % KH)) * KW + (ox % KW);
            let s = p.bias ? p.bias[co] : 0;
            for (let ci = 0; ci < CI; ci++) s += x.data[(((n * C + ci) * D + z) * H + y) * W + xx] * p.weight[(ci * CO + co) * KD * KH * KW + tap];
            data[(((n * CO + co) * OD + oz) * OH + oy) * OW + ox] = s;
          }
  return { data, shape };
}
