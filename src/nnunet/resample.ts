// nnU-Net's resampling (nnunetv2/preprocessing/resampling/default_resampling.py), with the arithmetic of the
// libraries it calls: skimage.transform.resize(order, mode='edge', anti_aliasing=False, clip=True) is
// scipy.ndimage.zoom(grid_mode=True, mode='nearest') and scipy.ndimage.map_coordinates(mode='nearest') is the
// separate-z step. Both are B-spline interpolation (ni_interpolation.c, ni_splines.c):
//   - order > 1: the input is edge-padded by 12 (_prepad_for_spline_filter) and spline-filtered in float64 along
//     every axis in turn (the mirror initialisation scipy uses for 'nearest'), then sampled at coordinate + 12;
//   - a coordinate's taps start at floor(cc) - order/2 (odd orders) or floor(cc + 0.5) - order/2 (even), taps past
//     the (padded) array clamp to its edge, and the weights are get_spline_interpolation_weights' polynomials.
// The coordinates nnU-Net asks for are a separable grid (zoom's per-axis factors, the mgrid of the separate-z
// step), so each axis is interpolated in its own pass: (order+1) taps per axis instead of (order+1)^3 per voxel.
// scipy sums the tensor product in one accumulator; the passes round differently only at float64's last bits.
// Everything runs in float64, as nnU-Net's data.astype(float) does, and the result is cast to float32 as its
// reshaped_final (the input's dtype) is.
// Browser-safe: no Node imports.
import { InputError, UnsupportedError } from '../errors.js';
import { shownValue } from '../limits.js';

/** nnunetv2.configuration.ANISO_THRESHOLD */
export const ANISO_THRESHOLD = 3;

/** scipy's _prepad_for_spline_filter: 'nearest' pads this many edge values before the spline filter. */
const SPLINE_PREPAD = 12;

/** resample_data_or_seg_to_shape's keyword arguments (the plans' resampling_fn_*_kwargs). */
export interface ResampleOptions {
  isSeg?: boolean;
  /** spline order in-plane (or everywhere without separate z); nnU-Net's default 3 */
  order?: number;
  /** spline order along the low-resolution axis when z is resampled separately; default 0 */
  orderZ?: number;
  /** true / false force the decision; null (the plans' None) lets the spacings decide; default false */
  forceSeparateZ?: boolean | null;
  separateZAnisotropyThreshold?: number;
}

/** The plans' resampling_fn_*_kwargs as ResampleOptions; an unknown function name or kwarg is refused. */
export function resamplingOptions(resampling: { fn: string; kwargs: Record<string, unknown> }, what: string): ResampleOptions {
  const fn = resampling.fn.split('.').pop();
  if (fn !== 'resample_data_or_seg_to_shape')
    throw new UnsupportedError(`${what}: resampling function ${JSON.stringify(resampling.fn)} is not supported (only resample_data_or_seg_to_shape)`);
  const out: ResampleOptions = {};
  for (const [key, v] of Object.entries(resampling.kwargs)) {
    if (key === 'is_seg' && typeof v === 'boolean') out.isSeg = v;
    else if ((key === 'order' || key === 'order_z') && Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 5)
      out[key === 'order' ? 'order' : 'orderZ'] = v as number;
    else if (key === 'force_separate_z' && (v === null || typeof v === 'boolean')) out.forceSeparateZ = v;
    else if (key === 'separate_z_anisotropy_threshold' && typeof v === 'number') out.separateZAnisotropyThreshold = v;
    else throw new UnsupportedError(`${what}: resampling kwarg ${key}=${shownValue(v)} is not supported`);
  }
  return out;
}

/** Python's round(): half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** compute_new_shape: int(round(old_spacing / new_spacing * old_shape)) per axis. */
export function computeNewShape(oldShape: readonly number[], oldSpacing: readonly number[], newSpacing: readonly number[]): number[] {
  if (oldShape.length !== oldSpacing.length || oldShape.length !== newSpacing.length)
    throw new InputError(
      `compute_new_shape: shape ${shownValue(oldShape)}, spacing ${shownValue(oldSpacing)} and new spacing ${shownValue(newSpacing)} differ in length`,
    );
  return oldShape.map((n, i) => roundHalfEven((oldSpacing[i] / newSpacing[i]) * n));
}

/** get_lowres_axis: the axes whose spacing is the largest (max / s == 1). */
function lowresAxes(spacing: readonly number[]): number[] {
  const max = Math.max(...spacing);
  return spacing.flatMap((s, i) => (max / s === 1 ? [i] : []));
}

function doSeparateZ(spacing: readonly number[], threshold: number): boolean {
  return Math.max(...spacing) / Math.min(...spacing) > threshold;
}

/** determine_do_sep_z_and_axis: whether to resample the low-resolution axis on its own, and which axis it is
 *  (none when two or three axes share the largest spacing). */
export function separateZAxis(
  forceSeparateZ: boolean | null | undefined,
  currentSpacing: readonly number[],
  newSpacing: readonly number[],
  threshold = ANISO_THRESHOLD,
): number | null {
  let axes: number[] | null = null;
  if (forceSeparateZ !== null && forceSeparateZ !== undefined) {
    if (forceSeparateZ) axes = lowresAxes(currentSpacing);
  } else if (doSeparateZ(currentSpacing, threshold)) axes = lowresAxes(currentSpacing);
  else if (doSeparateZ(newSpacing, threshold)) axes = lowresAxes(newSpacing);
  return axes !== null && axes.length === 1 ? axes[0] : null;
}

// --- scipy.ndimage's B-spline machinery, float64 ---

/** get_filter_poles (ni_splines.c's 36-digit literals, as the doubles they round to) */
function filterPoles(order: number): number[] {
  switch (order) {
    case 2:
      return [-0.1715728752538099]; // sqrt(8) - 3
    case 3:
      return [-0.2679491924311227]; // sqrt(3) - 2
    case 4:
      return [-0.36134122590022016, -0.013725429297339121];
    case 5:
      return [-0.4305753470999738, -0.04309628820326465];
    default:
      throw new UnsupportedError(`spline order ${order} is not supported (0..5)`);
  }
}

/** spline_filter1d along the middle axis of a [outer, len, inner] array, in place: apply_filter with the
 *  mirror initialisation (what 'nearest' uses), all `inner` lines of one outer index stepped together so the
 *  walk stays contiguous. The per-element operation order is scipy's. */
function splineFilterAxis(c: Float64Array, outer: number, len: number, inner: number, order: number): void {
  if (len <= 1) return;
  const poles = filterPoles(order);
  let gain = 1;
  for (const z of poles) gain *= (1 - z) * (1 - 1 / z);
  const plane = len * inner;
  for (let o = 0; o < outer; o++) {
    const base = o * plane;
    for (let i = base; i < base + plane; i++) c[i] *= gain;
    for (const z of poles) {
      // _init_causal_mirror
      const zn1 = z ** (len - 1);
      const last = base + (len - 1) * inner;
      for (let j = 0; j < inner; j++) {
        let c0 = c[base + j] + zn1 * c[last + j];
        let zi = z;
        for (let i = 1; i < len - 1; i++) {
          c0 += zi * (c[base + i * inner + j] + zn1 * c[base + (len - 1 - i) * inner + j]);
          zi *= z;
        }
        c[base + j] = c0 / (1 - zn1 * zn1);
      }
      for (let i = 1; i < len; i++) {
        const row = base + i * inner;
        for (let j = 0; j < inner; j++) c[row + j] += z * c[row - inner + j];
      }
      // _init_anticausal_mirror
      const prev = last - inner;
      for (let j = 0; j < inner; j++) c[last + j] = ((z * c[prev + j] + c[last + j]) * z) / (z * z - 1);
      for (let i = len - 2; i >= 0; i--) {
        const row = base + i * inner;
        for (let j = 0; j < inner; j++) c[row + j] = z * (c[row + inner + j] - c[row + j]);
      }
    }
  }
}

/** get_spline_interpolation_weights(x, order) into w[off .. off+order]. */
function splineWeights(x: number, order: number, w: Float64Array, off: number): void {
  x -= Math.floor(order & 1 ? x : x + 0.5);
  let y = x;
  let z = 1 - x;
  let t: number;
  switch (order) {
    case 1:
      w[off] = 1 - x;
      break;
    case 2:
      w[off + 1] = 0.75 - x * x;
      y = 0.5 - x;
      w[off] = 0.5 * y * y;
      break;
    case 3:
      w[off + 1] = (y * y * (y - 2) * 3 + 4) / 6;
      w[off + 2] = (z * z * (z - 2) * 3 + 4) / 6;
      w[off] = (z * z * z) / 6;
      break;
    case 4:
      t = x * x;
      w[off + 2] = t * (t * 0.25 - 0.625) + 115 / 192;
      y = 1 + x;
      w[off + 1] = y * (y * ((y * (5 - y)) / 6 - 1.25) + 5 / 24) + 55 / 96;
      w[off + 3] = z * (z * ((z * (5 - z)) / 6 - 1.25) + 5 / 24) + 55 / 96;
      y = 0.5 - x;
      t = y * y;
      w[off] = (t * t) / 24;
      break;
    case 5:
      t = y * y;
      w[off + 2] = t * (t * (0.25 - y / 12) - 0.5) + 0.55;
      t = z * z;
      w[off + 3] = t * (t * (0.25 - z / 12) - 0.5) + 0.55;
      y += 1;
      w[off + 1] = y * (y * (y * (y * (y / 24 - 0.375) + 1.25) - 1.75) + 0.625) + 0.425;
      z += 1;
      w[off + 4] = z * (z * (z * (z * (z / 24 - 0.375) + 1.25) - 1.75) + 0.625) + 0.425;
      y = 1 - x;
      t = y * y;
      w[off] = (y * t * t) / 120;
      break;
  }
  w[off + order] = 1;
  for (let i = 0; i < order; i++) w[off + order] -= w[off + i];
}

/** One axis of a separable spline evaluation: out[.., k, ..] = sum_h w[k][h] * c[.., tap[k][h], ..] over a
 *  [outer, len, inner] array, taps clamped to the axis ('nearest'). `coords` are in the array's index space. */
function interpolateAxis(c: Float64Array, outer: number, len: number, inner: number, coords: Float64Array, order: number): Float64Array {
  const nOut = coords.length;
  const taps = order + 1;
  const tap = new Int32Array(nOut * taps);
  const w = new Float64Array(nOut * taps);
  for (let k = 0; k < nOut; k++) {
    const cc = coords[k];
    const start = (order & 1 ? Math.floor(cc) : Math.floor(cc + 0.5)) - (order >> 1);
    for (let h = 0; h < taps; h++) tap[k * taps + h] = Math.min(len - 1, Math.max(0, start + h));
    if (order > 0) splineWeights(cc, order, w, k * taps);
    else w[k] = 1;
  }
  const out = new Float64Array(outer * nOut * inner);
  for (let o = 0; o < outer; o++) {
    const src = o * len * inner;
    for (let k = 0; k < nOut; k++) {
      const dst = (o * nOut + k) * inner;
      for (let h = 0; h < taps; h++) {
        const wk = w[k * taps + h];
        const row = src + tap[k * taps + h] * inner;
        if (h === 0) for (let j = 0; j < inner; j++) out[dst + j] = wk * c[row + j];
        else for (let j = 0; j < inner; j++) out[dst + j] += wk * c[row + j];
      }
    }
  }
  return out;
}

/** numpy.pad(mode='edge') by `pad` on every axis. */
function padEdge(data: Float64Array, shape: readonly number[], pad: number): { data: Float64Array; shape: number[] } {
  const outShape = shape.map((n) => n + 2 * pad);
  const out = new Float64Array(outShape.reduce((a, b) => a * b, 1));
  const rank = shape.length;
  const inStrides = strides(shape);
  const idx = new Array<number>(rank).fill(0);
  const lastOut = outShape[rank - 1];
  const lastIn = shape[rank - 1];
  // walk every output row (all axes but the last), copying the clamped input row with its edge values
  const rows = out.length / lastOut;
  for (let r = 0; r < rows; r++) {
    let srcRow = 0;
    for (let a = 0; a < rank - 1; a++) srcRow += Math.min(shape[a] - 1, Math.max(0, idx[a] - pad)) * inStrides[a];
    const dst = r * lastOut;
    const first = data[srcRow];
    const lastV = data[srcRow + lastIn - 1];
    for (let x = 0; x < pad; x++) out[dst + x] = first;
    out.set(data.subarray(srcRow, srcRow + lastIn), dst + pad);
    for (let x = pad + lastIn; x < lastOut; x++) out[dst + x] = lastV;
    for (let a = rank - 2; a >= 0; a--) {
      if (++idx[a] < outShape[a]) break;
      idx[a] = 0;
    }
  }
  return { data: out, shape: outShape };
}

function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let a = shape.length - 1; a >= 0; a--) {
    s[a] = acc;
    acc *= shape[a];
  }
  return s;
}

/** Whether sampling `coords` with `order` <= 1 reproduces the axis exactly (coordinate k at every k). */
function isIdentity(coords: Float64Array, len: number, order: number): boolean {
  if (order > 1 || coords.length !== len) return false;
  for (let k = 0; k < len; k++) if (coords[k] !== k) return false;
  return true;
}

/** scipy.ndimage.map_coordinates(input, grid, order, mode='nearest') for a separable grid: the value at
 *  (coords[0][i], coords[1][j], ...) for every index tuple. With order > 1 the input is prefiltered as scipy
 *  does (12 edge values of padding, spline_filter per axis). */
export function sampleGrid(data: Float64Array, shape: readonly number[], coords: readonly Float64Array[], order: number): Float64Array {
  let c = data;
  let cur = [...shape];
  let offset = 0;
  if (order > 1) {
    const padded = padEdge(data, shape, SPLINE_PREPAD);
    c = padded.data;
    cur = padded.shape;
    for (let a = 0; a < cur.length; a++) splineFilterAxis(c, prod(cur, 0, a), cur[a], prod(cur, a + 1, cur.length), order);
    offset = SPLINE_PREPAD;
  }
  for (let a = 0; a < cur.length; a++) {
    if (offset === 0 && isIdentity(coords[a], cur[a], order)) continue;
    const shifted = offset === 0 ? coords[a] : coords[a].map((v) => v + offset);
    c = interpolateAxis(c, prod(cur, 0, a), cur[a], prod(cur, a + 1, cur.length), shifted, order);
    cur[a] = coords[a].length;
  }
  return c === data ? data.slice() : c;
}

function prod(shape: readonly number[], from: number, to: number): number {
  let p = 1;
  for (let a = from; a < to; a++) p *= shape[a];
  return p;
}

/** Input coordinates of a grid-mode zoom from n to m samples: (k + 0.5) * (n / m) - 0.5, as ni_interpolation's
 *  NI_ZoomShift computes them (and nnU-Net's separate-z mgrid, with float(orig) / new). */
function gridCoords(n: number, m: number): Float64Array {
  const zoom = n / m;
  const out = new Float64Array(m);
  for (let k = 0; k < m; k++) out[k] = (k + 0.5) * zoom - 0.5;
  return out;
}

/** skimage.transform.resize(image, outShape, order, mode='edge', anti_aliasing=False) of a float64 image:
 *  ndi.zoom(grid_mode=True, mode='nearest'), then clipped to the input's range (NaN-safe, as _clip_warp_output). */
export function resize(image: Float64Array, shape: readonly number[], outShape: readonly number[], order: number): Float64Array {
  const out = sampleGrid(
    image,
    shape,
    shape.map((n, a) => gridCoords(n, outShape[a])),
    order,
  );
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < image.length; i++) {
    const v = image[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo > hi) return out; // empty or all NaN: numpy's clip to NaN bounds leaves NaN everywhere; keep it simple
  for (let i = 0; i < out.length; i++) {
    const v = out[i];
    if (v < lo) out[i] = lo;
    else if (v > hi) out[i] = hi;
  }
  return out;
}

/** The sorted distinct values (pd.unique then np.sort). */
function uniqueSorted(a: Float64Array): number[] {
  return [...new Set(a)].sort((x, y) => x - y);
}

/** batchgenerators' resize_segmentation of a float64 map: order 0 is a plain resize; otherwise each label's mask
 *  is resized and the label written where it reaches 0.5, labels in ascending order (later ones win). */
export function resizeSegmentation(seg: Float64Array, shape: readonly number[], outShape: readonly number[], order: number): Float64Array {
  if (order === 0) return resize(seg, shape, outShape, 0);
  const out = new Float64Array(prod(outShape, 0, outShape.length));
  const mask = new Float64Array(seg.length);
  for (const label of uniqueSorted(seg)) {
    for (let i = 0; i < seg.length; i++) mask[i] = seg[i] === label ? 1 : 0;
    const r = resize(mask, shape, outShape, order);
    for (let i = 0; i < r.length; i++) if (r[i] >= 0.5) out[i] = label;
  }
  return out;
}

/** resample_data_or_seg_to_shape for [C, Z, Y, X] float32 data: to `newShape` ([Z, Y, X]) with the separate-z
 *  decision from the spacings and options. Returns the input itself when the shape does not change (as nnU-Net
 *  returns `data`), else a new float32 array (nnU-Net's reshaped_final has the input's dtype). */
export function resampleDataOrSegToShape(
  data: Float32Array,
  shape: readonly number[],
  newShape: readonly number[],
  currentSpacing: readonly number[],
  newSpacing: readonly number[],
  options: ResampleOptions = {},
): Float32Array {
  const { isSeg = false, order = 3, orderZ = 0, forceSeparateZ = false, separateZAnisotropyThreshold = ANISO_THRESHOLD } = options;
  if (shape.length !== 4) throw new InputError(`resample: data shape ${shownValue(shape)} must be [C, Z, Y, X]`);
  if (newShape.length !== 3 || !newShape.every((n) => Number.isInteger(n) && n > 0))
    throw new InputError(`resample: new shape ${shownValue(newShape)} must be 3 positive integers`);
  const [C, ...spatial] = shape;
  const voxels = prod(spatial, 0, 3);
  if (data.length !== C * voxels) throw new InputError(`resample: data has ${data.length} values, shape ${shownValue(shape)} needs ${C * voxels}`);
  if (spatial.every((n, a) => n === newShape[a])) return data;
  const axis = separateZAxis(forceSeparateZ, currentSpacing, newSpacing, separateZAnisotropyThreshold);
  const outVoxels = prod(newShape, 0, 3);
  const out = new Float32Array(C * outVoxels);
  const resizeFn = isSeg ? resizeSegmentation : resize;
  for (let c = 0; c < C; c++) {
    const channel = Float64Array.from(data.subarray(c * voxels, (c + 1) * voxels));
    if (axis === null) {
      out.set(resizeFn(channel, spatial, newShape, order), c * outVoxels);
      continue;
    }
    // in-plane: every slice along `axis` resized in 2D (its own clip range), into reshaped_here
    const hereShape = newShape.map((n, a) => (a === axis ? spatial[a] : n));
    const here = new Float64Array(prod(hereShape, 0, 3));
    const inPlane = spatial.filter((_, a) => a !== axis);
    const outPlane = newShape.filter((_, a) => a !== axis);
    const slice = new Float64Array(inPlane[0] * inPlane[1]);
    const inS = strides(spatial);
    const hereS = strides(hereShape);
    const [p, q] = [0, 1, 2].filter((a) => a !== axis);
    for (let s = 0; s < spatial[axis]; s++) {
      for (let i = 0; i < inPlane[0]; i++) for (let j = 0; j < inPlane[1]; j++) slice[i * inPlane[1] + j] = channel[s * inS[axis] + i * inS[p] + j * inS[q]];
      const r = resizeFn(slice, inPlane, outPlane, order);
      for (let i = 0; i < outPlane[0]; i++) for (let j = 0; j < outPlane[1]; j++) here[s * hereS[axis] + i * hereS[p] + j * hereS[q]] = r[i * outPlane[1] + j];
    }
    if (spatial[axis] === newShape[axis]) {
      out.set(here, c * outVoxels);
      continue;
    }
    // along `axis`: map_coordinates over the mgrid nnU-Net builds (scale 1 in-plane, orig / new along z)
    const coords = hereShape.map((n, a) => gridCoords(n, newShape[a]));
    if (!isSeg || orderZ === 0) {
      out.set(sampleGrid(here, hereShape, coords, orderZ), c * outVoxels);
      continue;
    }
    // a segmentation with order_z > 0: each label's mask sampled, written where round(value) > 0.5 (value > 0.5)
    const dst = out.subarray(c * outVoxels, (c + 1) * outVoxels);
    const mask = new Float64Array(here.length);
    for (const label of uniqueSorted(here)) {
      for (let i = 0; i < here.length; i++) mask[i] = here[i] === label ? 1 : 0;
      const r = sampleGrid(mask, hereShape, coords, orderZ);
      for (let i = 0; i < r.length; i++) if (roundHalfEven(r[i]) > 0.5) dst[i] = label;
    }
  }
  return out;
}
