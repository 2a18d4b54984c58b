// Sliding-window inference: the input is cut into windows (see windows.ts for where they go and how
// they are weighed), the windows go through the network `batch` at a time (one forward per batch, of
// shape [batch, C, roiH, roiW], so the GPU only ever holds one window batch), and the outputs are
// stitched on the CPU into the N x outC x H x W result. CPU memory beyond the result: one window batch
// in and out, the importance map, and one row of summed weights (the weights' sum is recomputed row by
// row from the window grid instead of being stored for the whole image).
// Browser-safe: no Node imports.
import { type Blend, importanceMap, windowStarts } from './windows.js';

export interface WindowGeometry {
  /** window size actually used: the requested roi, clamped to the image */
  roi: [number, number];
  /** window starts along H and along W; the windows are every (y, x) pair of them, per image */
  starts: [number[], number[]];
}

export interface SlidingWindowSettings {
  roi: [number, number];
  overlap: number;
  blend: Blend;
  sigmaScale: number;
  batch: number;
}

export interface Progress {
  /** windows done (0..total) */
  done: number;
  total: number;
}

/** Runs one batch of windows, NCHW [batch, C, roiH, roiW] -> NCHW [batch, outC, roiH, roiW]. */
export type WindowRunner = (x: { data: Float32Array; shape: [number, number, number, number] }) => Promise<Float32Array>;

export function windowGeometry(H: number, W: number, roi: [number, number], overlap: number): WindowGeometry {
  const r: [number, number] = [Math.min(roi[0], H), Math.min(roi[1], W)];
  return { roi: r, starts: [windowStarts(H, r[0], overlap), windowStarts(W, r[1], overlap)] };
}

export interface TiledResult {
  data: Float32Array;
  shape: [number, number, number, number];
  windows: number;
  batches: number;
  roi: [number, number];
}

export async function slidingWindow(
  input: { data: Float32Array; shape: readonly number[] },
  outChannels: number,
  s: SlidingWindowSettings,
  run: WindowRunner,
  onProgress?: (p: Progress) => void,
): Promise<TiledResult> {
  const [N, C, H, W] = input.shape;
  const OC = outChannels;
  const { roi, starts } = windowGeometry(H, W, s.roi, s.overlap);
  const [rh, rw] = roi;
  const [ys, xs] = starts;
  const perImage = ys.length * xs.length;
  const total = N * perImage;
  const B = Math.max(1, Math.min(s.batch, total));
  const weights = importanceMap(rh, rw, s.blend, s.sigmaScale);
  const constant = s.blend === 'constant';

  const out = new Float32Array(N * OC * H * W);
  const xb = new Float32Array(B * C * rh * rw);
  const win = rh * rw;
  const windowAt = (k: number) => {
    const n = Math.floor(k / perImage);
    const j = k % perImage;
    return { n, y0: ys[Math.floor(j / xs.length)], x0: xs[j % xs.length] };
  };

  let batches = 0;
  for (let first = 0; first < total; first += B) {
    const count = Math.min(B, total - first);
    // gather: window rows copied out of the input planes
    for (let b = 0; b < count; b++) {
      const { n, y0, x0 } = windowAt(first + b);
      for (let c = 0; c < C; c++) {
        const src = (n * C + c) * H * W;
        const dst = (b * C + c) * win;
        for (let y = 0; y < rh; y++) {
          const o = src + (y0 + y) * W + x0;
          xb.set(input.data.subarray(o, o + rw), dst + y * rw);
        }
      }
    }
    // a last, partial batch is filled with zeros so every batch has one shape (one compiled plan)
    if (count < B) xb.fill(0, count * C * win);
    const yb = await run({ data: xb, shape: [B, C, rh, rw] });
    if (yb.length !== B * OC * win) throw new Error(`sliding window: a batch returned ${yb.length} values, expected ${B * OC * win}`);
    // scatter: weighted outputs summed into the result
    for (let b = 0; b < count; b++) {
      const { n, y0, x0 } = windowAt(first + b);
      for (let c = 0; c < OC; c++) {
        const src = (b * OC + c) * win;
        const dst = (n * OC + c) * H * W;
        for (let y = 0; y < rh; y++) {
          const o = dst + (y0 + y) * W + x0;
          const i = src + y * rw;
          if (constant) for (let x = 0; x < rw; x++) out[o + x] += yb[i + x];
          else {
            const w = y * rw;
            for (let x = 0; x < rw; x++) out[o + x] += weights[w + x] * yb[i + x];
          }
        }
      }
    }
    batches++;
    onProgress?.({ done: first + count, total });
  }

  // divide by the summed weights, one image row at a time
  const wsum = new Float32Array(W);
  for (let y = 0; y < H; y++) {
    wsum.fill(0);
    for (const y0 of ys) {
      if (y < y0 || y >= y0 + rh) continue;
      const w = (y - y0) * rw;
      for (const x0 of xs) for (let x = 0; x < rw; x++) wsum[x0 + x] += weights[w + x];
    }
    for (let p = 0; p < N * OC; p++) {
      const o = (p * H + y) * W;
      for (let x = 0; x < W; x++) out[o + x] /= wsum[x];
    }
  }
  return { data: out, shape: [N, OC, H, W], windows: total, batches, roi };
}
