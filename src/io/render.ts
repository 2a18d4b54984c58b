// What `unet segment` draws from the model's probabilities: binary masks, a 16-bit probability map, and
// an overlay of the masks (tinted, with a solid outline) on the input image.
import type { Image } from './image.js';

/** One color per output channel (the first is used for single-channel models). */
export const PALETTE: [number, number, number][] = [
  [255, 48, 48], [48, 220, 48], [64, 128, 255], [255, 200, 0], [230, 64, 230], [0, 220, 220],
];

/** Channel `c` of an NCHW [1, C, H, W] output as 0 / 255 (probability > threshold) and its foreground fraction. */
export function thresholdMask(probs: Float32Array, c: number, n: number, threshold: number): { mask: Uint8Array; foreground: number } {
  const mask = new Uint8Array(n);
  let on = 0;
  for (let i = 0; i < n; i++) {
    if (probs[c * n + i] > threshold) {
      mask[i] = 255;
      on++;
    }
  }
  return { mask, foreground: on / n };
}

/** Channel `c` as 16-bit values, 0..65535 for probabilities 0..1. */
export function probs16(probs: Float32Array, c: number, n: number): Uint16Array {
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(Math.min(1, Math.max(0, probs[c * n + i])) * 65535);
  return out;
}

/** The image as RGB with each mask tinted in its palette color (40%) and outlined in it. */
export function overlay(img: Image, masks: Uint8Array[]): Uint8Array {
  const { width: W, height: H } = img;
  const n = W * H;
  const out = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) out[3 * i + k] = img.data[img.channels === 1 ? i : 3 * i + k];
  }
  masks.forEach((m, c) => {
    const color = PALETTE[c % PALETTE.length];
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const i = y * W + x;
        if (!m[i]) continue;
        // an edge pixel: inside, with a 4-neighbour inside the image that is outside the mask
        const edge = (x > 0 && !m[i - 1]) || (x < W - 1 && !m[i + 1]) || (y > 0 && !m[i - W]) || (y < H - 1 && !m[i + W]);
        for (let k = 0; k < 3; k++) out[3 * i + k] = edge ? color[k] : Math.round(0.6 * out[3 * i + k] + 0.4 * color[k]);
      }
    }
  });
  return out;
}
