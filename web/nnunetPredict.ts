// The one call the page's worker makes to segment a case with an nnU-Net model, and the reading of a case's
// first channel for the viewer. Prediction is the library's model.segment(volume) for nnU-Net models
// (src/nnunetSegment.ts: NibabelIO's axis order, preprocessing, Gaussian sliding windows with mirroring on the
// GPU, export); a change of its contract changes this file only. Browser-safe: runs in the worker, and in Node
// for the tests' reference.
import { type Volume, niftiSpacing, readNifti } from '../src/io/nifti.js';
import type { Model } from '../src/model.js';
import type { NnunetSegmentResult } from '../src/nnunetSegment.js';
import type { CaseImage } from './protocol.js';

export interface CaseOptions {
  /** nnUNetv2_predict -step_size (default 0.5) */
  stepSize?: number;
  /** test-time mirroring (default true; --disable_tta is false) */
  mirroring?: boolean;
  onProgress?: (p: { done: number; total: number }) => void;
  signal?: AbortSignal;
}

/** nnUNetv2_predict on one case: one NIfTI's bytes per channel, in channel order. */
export function segmentCase(model: Model, channels: readonly Uint8Array[], options: CaseOptions = {}): Promise<NnunetSegmentResult> {
  return model.segment(channels, {
    stepSize: options.stepSize ?? 0.5,
    mirroring: options.mirroring ?? true,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

/** The first channel of a case, for display: gray levels windowed to its 0.5 / 99.5 percentiles. */
export function caseImage(bytes: Uint8Array): { image: CaseImage; volume: Volume } {
  const volume = readNifti(bytes);
  const { data } = volume;
  const [lo, hi] = percentiles(data, 0.005, 0.995);
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  const gray = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = (data[i] - lo) * scale;
    gray[i] = v > 255 ? 255 : v > 0 ? v : 0; // NaN reads 0
  }
  return { image: { dims: volume.dims, spacing: niftiSpacing(volume), gray }, volume };
}

/** Two quantiles of the finite values, from a sample of at most 2^18 of them (display only). */
function percentiles(data: Float32Array, a: number, b: number): [number, number] {
  const step = Math.max(1, Math.floor(data.length / 2 ** 18));
  const sample: number[] = [];
  for (let i = 0; i < data.length; i += step) if (Number.isFinite(data[i])) sample.push(data[i]);
  if (!sample.length) return [0, 0];
  sample.sort((x, y) => x - y);
  const at = (q: number) => sample[Math.min(sample.length - 1, Math.floor(q * sample.length))];
  return [at(a), at(b)];
}
