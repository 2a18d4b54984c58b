// Pictures of a result: the probability heatmap and the mask overlay, as RGBA pixel arrays for putImageData.
import type { RgbaImage } from './preprocess.js';

/** Viridis at 9 evenly spaced stops (matplotlib's values, rounded): dark blue = 0, yellow = 1. */
export const VIRIDIS: readonly [number, number, number][] = [
  [68, 1, 84], [71, 45, 123], [59, 82, 139], [44, 114, 142], [33, 145, 140],
  [40, 174, 128], [94, 201, 98], [173, 220, 48], [253, 231, 37],
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

/** The mask's colour in the overlay. */
export const MASK_RGB: readonly [number, number, number] = [255, 40, 90];

/** The image with the mask's pixels blended towards MASK_RGB by `opacity` (0 = image only, 1 = solid mask). */
export function overlay(img: RgbaImage, mask: Uint8Array, opacity: number): RgbaImage {
  const n = img.width * img.height;
  const data = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) {
    const a = mask[i] ? opacity : 0;
    for (let c = 0; c < 3; c++) data[4 * i + c] = img.data[4 * i + c] * (1 - a) + MASK_RGB[c] * a;
    data[4 * i + 3] = 255;
  }
  return { data, width: img.width, height: img.height };
}

/** Interleaved RGB (3 bytes a pixel) as opaque RGBA. */
export function rgbToRgba(rgb: Uint8Array, width: number, height: number): RgbaImage {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    data.set(rgb.subarray(3 * i, 3 * i + 3), 4 * i);
    data[4 * i + 3] = 255;
  }
  return { data, width, height };
}
