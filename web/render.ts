// The probability heatmap of the demo page's cards (the overlays are the library's renderOverlay).
import type { RgbaImage } from '../src/io/render.js';

/** Viridis at 9 evenly spaced stops (matplotlib's values, rounded): dark blue = 0, yellow = 1. */
export const VIRIDIS: readonly [number, number, number][] = [
  [68, 1, 84],
  [71, 45, 123],
  [59, 82, 139],
  [44, 114, 142],
  [33, 145, 140],
  [40, 174, 128],
  [94, 201, 98],
  [173, 220, 48],
  [253, 231, 37],
];

/** The same scale as a CSS gradient, for the legend under the heatmap. */
export const VIRIDIS_CSS = `linear-gradient(to right, ${VIRIDIS.map(([r, g, b]) => `rgb(${r},${g},${b})`).join(', ')})`;

/** Probabilities in [0, 1] coloured by VIRIDIS (linear between stops). */
export function heatmap(probs: Float32Array, width: number, height: number): RgbaImage {
  const data = new Uint8ClampedArray(width * height * 4);
  const last = VIRIDIS.length - 1;
  for (let i = 0; i < width * height; i++) {
    const t = Math.min(1, Math.max(0, probs[i] || 0)) * last;
    const k = Math.min(last - 1, Math.floor(t));
    const f = t - k;
    const a = VIRIDIS[k];
    const b = VIRIDIS[k + 1];
    data[4 * i] = a[0] + (b[0] - a[0]) * f;
    data[4 * i + 1] = a[1] + (b[1] - a[1]) * f;
    data[4 * i + 2] = a[2] + (b[2] - a[2]) * f;
    data[4 * i + 3] = 255;
  }
  return { data, width, height };
}
