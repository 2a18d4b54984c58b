// Sliding-window geometry and blending weights, as MONAI's sliding_window_inference places and weighs
// its windows (monai/inferers/utils.py, monai/data/utils.py: _get_scan_interval, dense_patch_slices,
// compute_importance_map):
//  - along each axis the scan interval is floor(roi * (1 - overlap)) (at least 1), or the roi itself when
//    the roi covers the whole axis; windows start at 0, interval, 2 * interval, ... and the last one is
//    moved back so it ends flush with the border;
//  - 'constant' weighs every pixel of a window 1 (overlaps are plain averages); 'gaussian' weighs pixel
//    (y, x) by exp(-dy^2 / 2 sy^2) * exp(-dx^2 / 2 sx^2), with d measured from the window's centre
//    ((roi - 1) / 2) and sigma = sigmaScale * roi (0.125 by default), clamped below at
//    max(min weight, 1e-3) so border pixels still count where no other window covers them;
//  - the stitched output is sum(weight * prediction) / sum(weight) over the windows covering a pixel.
// Browser-safe: no Node imports.

export type Blend = 'constant' | 'gaussian';

/** floor(roi * (1 - overlap)), at least 1; the whole roi when it covers the axis (one window). */
export function scanInterval(size: number, roi: number, overlap: number): number {
  if (roi >= size) return roi;
  return Math.max(1, Math.floor(roi * (1 - overlap)));
}

/** Window starts along one axis of `size` pixels: a grid of `interval`, the last flush with the end. */
export function windowStarts(size: number, roi: number, overlap: number): number[] {
  const r = Math.min(roi, size);
  const interval = scanInterval(size, r, overlap);
  const starts: number[] = [];
  for (let i = 0; ; i++) {
    const s = i * interval;
    if (s + r >= size) {
      starts.push(Math.max(0, size - r));
      break;
    }
    starts.push(s);
  }
  return starts;
}

/** The 1-D gaussian factor of the importance map along an axis of `roi` pixels (peak near 1). */
function gaussian1d(roi: number, sigmaScale: number): Float64Array {
  const sigma = roi * sigmaScale;
  const g = new Float64Array(roi);
  for (let i = 0; i < roi; i++) {
    const d = i - (roi - 1) / 2;
    g[i] = Math.exp((d * d) / (-2 * sigma * sigma));
  }
  return g;
}

/** Weights of one window's pixels (roiH x roiW, row-major), as f32 like MONAI's map. */
export function importanceMap(roiH: number, roiW: number, blend: Blend, sigmaScale = 0.125): Float32Array {
  const map = new Float32Array(roiH * roiW);
  if (blend === 'constant') return map.fill(1);
  const gy = gaussian1d(roiH, sigmaScale);
  const gx = gaussian1d(roiW, sigmaScale);
  for (let y = 0; y < roiH; y++) for (let x = 0; x < roiW; x++) map[y * roiW + x] = gy[y] * gx[x];
  let min = Infinity;
  for (const v of map) min = Math.min(min, v);
  const floor = Math.fround(Math.max(min, 1e-3));
  for (let i = 0; i < map.length; i++) if (map[i] < floor) map[i] = floor;
  return map;
}
