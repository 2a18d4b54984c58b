// CPU reference: F.interpolate(x, size=(HO, WO), mode) for 'nearest' and 'bilinear' (align_corners=False),
// with PyTorch's source indices: scale = in / out rounded to f32; nearest: min(floor(dst * scale), in - 1)
// in f32; bilinear: src = max(scale * (dst + 0.5) - 0.5, 0), i0 = floor(src), i1 = min(i0 + 1, in - 1).
import { type Tensor, zeros } from './tensor.js';

export function resize(x: Tensor, HO: number, WO: number, mode: 'nearest' | 'bilinear'): Tensor {
  const [N, C, H, W] = x.shape;
  const f = Math.fround;
  const [sh, sw] = [f(H / HO), f(W / WO)];
  const y = zeros([N, C, HO, WO]);
  const at = (n: number, c: number, iy: number, ix: number) => x.data[((n * C + c) * H + iy) * W + ix];
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let oy = 0; oy < HO; oy++)
        for (let ox = 0; ox < WO; ox++) {
          let v: number;
          if (mode === 'nearest') {
            v = at(n, c, Math.min(Math.floor(f(oy * sh)), H - 1), Math.min(Math.floor(f(ox * sw)), W - 1));
          } else {
            const sy = Math.max(sh * (oy + 0.5) - 0.5, 0);
            const sx = Math.max(sw * (ox + 0.5) - 0.5, 0);
            const [y0, x0] = [Math.min(Math.floor(sy), H - 1), Math.min(Math.floor(sx), W - 1)];
            const [y1, x1] = [Math.min(y0 + 1, H - 1), Math.min(x0 + 1, W - 1)];
            const [ly, lx] = [sy - y0, sx - x0];
            v = (1 - ly) * ((1 - lx) * at(n, c, y0, x0) + lx * at(n, c, y0, x1)) + ly * ((1 - lx) * at(n, c, y1, x0) + lx * at(n, c, y1, x1));
          }
          y.data[((n * C + c) * HO + oy) * WO + ox] = v;
        }
  return y;
}
