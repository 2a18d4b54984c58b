// Image <-> tensor conversion for the demo page, shared with the browser tests (which run the same code in
// Node to get the expected result). Pure functions of pixel arrays: no DOM, no Node, no GPU.
import { type Normalization, normalize } from '../src/io/preprocess.js';

/** 8-bit RGBA pixels, row-major, as in ImageData. */
export interface RgbaImage {
  data: Uint8ClampedArray | Uint8Array;
  width: number;
  height: number;
}

export interface PreprocessOptions {
  /** the model's input channels: 3 takes R, G, B; any other count repeats the gray value (mean of R, G, B) */
  inChannels: number;
  /** how channel values are normalized: the model's info.preprocessing; default the brain U-Net's zscore */
  normalization?: Normalization;
}

/**
 * The model's input, NCHW [1, inChannels, height, width], normalized as src/io/preprocess.ts `normalize`
 * does for the CLI: by default the brain U-Net's per-image, per-channel z-score of the 0..255 values,
 * (v - mean_c) / std_c with the population std (tools/make_fixtures.py `mri_input`), in float64; smp models
 * take 'imagenet' (v / 255, then ImageNet's mean and std). Any size: model.run pads or runs as it is.
 */
export function imageToTensor(img: RgbaImage, options: PreprocessOptions): { data: Float32Array; shape: [number, number, number, number] } {
  const { width: W, height: H, data: px } = img;
  const C = options.inChannels;
  if (!(W > 0 && H > 0) || px.length < W * H * 4) throw new Error(`image: ${W}x${H} with ${px.length} bytes is not RGBA`);
  if (!(C > 0)) throw new Error(`preprocess: inChannels ${C} must be positive`);

  // Channel values before normalization. A 3-channel model takes RGB; otherwise the gray value (equal to
  // R = G = B for a grayscale image) in every channel.
  const n = W * H;
  const planes: Float64Array[] = [];
  if (C === 3) {
    for (let c = 0; c < 3; c++) {
      const p = new Float64Array(n);
      for (let i = 0; i < n; i++) p[i] = px[4 * i + c];
      planes.push(p);
    }
  } else {
    const gray = new Float64Array(n);
    for (let i = 0; i < n; i++) gray[i] = (px[4 * i] + px[4 * i + 1] + px[4 * i + 2]) / 3;
    for (let c = 0; c < C; c++) planes.push(gray);
  }

  const { data } = normalize(planes, H, W, options.normalization ?? { kind: 'zscore' });
  return { data, shape: [1, C, H, W] };
}

/** Output channel `c` of an NCHW [1, C, H, W] result (a view, no copy). */
export function channelOf(output: { data: Float32Array; shape: readonly number[] }, c: number): Float32Array {
  const [, C, H, W] = output.shape;
  if (!(c >= 0 && c < C)) throw new Error(`channel ${c} is outside the output [${output.shape}]`);
  return output.data.subarray(c * H * W, (c + 1) * H * W);
}

/** 1 where the probability is at or above the threshold. */
export function maskFromProbabilities(probs: Float32Array, threshold: number): Uint8Array {
  const mask = new Uint8Array(probs.length);
  for (let i = 0; i < probs.length; i++) mask[i] = probs[i] >= threshold ? 1 : 0;
  return mask;
}
