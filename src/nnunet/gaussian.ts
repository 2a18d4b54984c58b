// nnU-Net's Gaussian importance map (nnunetv2/inference/sliding_window_prediction.py compute_gaussian), exactly:
// scipy.ndimage.gaussian_filter (order 0, mode 'constant', truncate 4.0) of a delta at the patch centre, with
// sigma = patch * sigma_scale per axis, divided by max / value_scaling_factor, cast to the accumulator dtype,
// zeros replaced by the smallest non-zero value. The predictor calls it with sigma_scale 1/8, value_scaling_factor
// 10 and compute_gaussian's default dtype torch.float16 (bound when the function was defined), so the map it
// multiplies windows by holds float16 values; we return those values as float32 (every f16 is one).

/** scipy.ndimage _gaussian_kernel1d(sigma, 0, radius): exp(-x^2 / (2 sigma^2)) normalised to sum 1, float64. */
export function gaussianKernel1d(sigma: number, radius: number): Float64Array {
  const phi = new Float64Array(2 * radius + 1);
  const scale = -0.5 / (sigma * sigma);
  for (let i = 0; i < phi.length; i++) {
    const x = i - radius;
    phi[i] = Math.exp(scale * (x * x));
  }
  // numpy sums pairwise; a plain sum of at most a few hundred positive terms differs from it in the last bit only
  let sum = 0;
  for (const v of phi) sum += v;
  for (let i = 0; i < phi.length; i++) phi[i] /= sum;
  return phi;
}

/** Rounds a float64 to the nearest float16 value (ties to even), as torch's .to(torch.float16) does. */
export function toFloat16(v: number): number {
  if (v === 0 || !Number.isFinite(v)) return v;
  const a = Math.abs(v);
  if (a >= 65520) return Math.sign(v) * Infinity;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  // 10 fraction bits; below 2^-14 the spacing stays 2^-24 (subnormals)
  const quantum = 2 ** (Math.max(e, -14) - 10);
  const q = a / quantum;
  let r = Math.floor(q);
  const frac = q - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r++;
  return Math.sign(v) * r * quantum;
}

export interface GaussianOptions {
  /** default 1/8 */
  sigmaScale?: number;
  /** default 10, as the predictor calls it */
  valueScalingFactor?: number;
  /** the dtype the map is cast to: 'f16' as the predictor leaves it (default), or 'f64' (no cast) */
  dtype?: 'f16' | 'f64';
}

/**
 * compute_gaussian(patch, sigma_scale, value_scaling_factor, dtype) as a C-order array of prod(patch) values.
 * The filtered delta is separable: scipy filters axis after axis, so the value at i is
 * ((w0[i0] * w1[i1]) * w2[i2]) with w_a the 1D kernel centred at patch_a // 2 (0 past its radius), each axis
 * product rounded in that order as the passes round it (the other taps multiply zeros, adding nothing).
 */
export function computeGaussian(patch: readonly number[], options: GaussianOptions = {}): Float32Array | Float64Array {
  const sigmaScale = options.sigmaScale ?? 1 / 8;
  const scaling = options.valueScalingFactor ?? 10;
  const axes = patch.map((size) => {
    const sigma = size * sigmaScale;
    const w = new Float64Array(size);
    // scipy skips an axis whose sigma is ~0 (the delta passes through unchanged)
    if (sigma <= 1e-15) {
      w[Math.floor(size / 2)] = 1;
      return w;
    }
    const radius = Math.trunc(4.0 * sigma + 0.5);
    const k = gaussianKernel1d(sigma, radius);
    const centre = Math.floor(size / 2);
    for (let i = 0; i < size; i++) {
      const d = i - centre;
      if (Math.abs(d) <= radius) w[i] = k[d + radius];
    }
    return w;
  });
  const n = patch.reduce((a, b) => a * b, 1);
  const map = new Float64Array(n);
  const strides = patch.map((_, a) => patch.slice(a + 1).reduce((x, y) => x * y, 1));
  for (let i = 0; i < n; i++) {
    let v = 1;
    for (let a = 0; a < patch.length; a++) v = a === 0 ? axes[0][Math.floor(i / strides[0]) % patch[0]] : v * axes[a][Math.floor(i / strides[a]) % patch[a]];
    map[i] = v;
  }
  let max = 0;
  for (const v of map) if (v > max) max = v;
  const divisor = max / scaling;
  for (let i = 0; i < n; i++) map[i] /= divisor;
  if (options.dtype === 'f64') return replaceZeros(map);
  const half = new Float32Array(n);
  for (let i = 0; i < n; i++) half[i] = toFloat16(map[i]);
  return replaceZeros(half);
}

/** gaussian[gaussian == 0] = min(gaussian[gaussian != 0]): a zero weight would divide 0 by 0 at a patch corner. */
function replaceZeros<T extends Float32Array | Float64Array>(map: T): T {
  let min = Infinity;
  for (const v of map) if (v !== 0 && v < min) min = v;
  for (let i = 0; i < map.length; i++) if (map[i] === 0) map[i] = min;
  return map;
}
