// A volume in, masks out, slice by slice: what `unet segment` does with a NIfTI volume. Each slice along
// the axis is one image for the model, normalized as model.segment normalizes an image (zscore per slice
// of the raw values; the other modes expect 0..255, so the volume's min..max is first mapped onto it),
// and its output read as model.segment reads an image's (readOutput), into arrays over the volume's
// voxels in its own order. Node only: src/io/nifti.ts writes .nii.gz with node:zlib.
import { classCounts, isMultiClass } from './io/classes.js';
import { NiftiError, forEachSliceVoxel, sliceGeometry, type Axis, type Volume } from './io/nifti.js';
import { type Normalization, checkNormalization, normalize } from './io/preprocess.js';
import { firstNonFinite, type Model, type RunOptions, type RunResult, type TensorData } from './model.js';
import { readOutput, type SegmentResult } from './segment.js';

export interface VolumeSegmentOptions {
  /** slice along this axis of the volume's (x, y, z): 2 (axial, the default), 1 (coronal), 0 (sagittal) */
  axis?: Axis;
  /** how each slice is normalized (see above) */
  normalization: Normalization;
  /** mask models: a voxel is foreground when its probability is > threshold (default 0.5) */
  threshold?: number;
  /** model.run's options for each slice */
  run?: RunOptions;
  /** called after each slice with the run's raw result (slice `k` of `count`) */
  onSlice?: (k: number, count: number, output: RunResult) => void;
}

/** As SegmentResult, over the volume's voxels (x fastest): probabilities [classes, voxels], mask [voxels]. */
export interface VolumeSegmentResult extends Pick<SegmentResult, 'classes' | 'kind' | 'probabilities' | 'mask' | 'masks' | 'foreground' | 'notes'> {
  dims: [number, number, number];
}

/** NaN or Inf voxels are refused (a NiftiError naming how many and the first), before anything runs. */
export function checkFiniteVolume(vol: Volume): void {
  const first = firstNonFinite(vol.data);
  if (first < 0) return;
  let bad = 0;
  for (let i = first; i < vol.data.length; i++) if (vol.data[i] - vol.data[i] !== 0) bad++;
  const [nx, ny] = vol.dims;
  const at = `x ${first % nx}, y ${Math.floor(first / nx) % ny}, z ${Math.floor(first / (nx * ny))}`;
  throw new NiftiError(`holds ${bad} NaN or Inf voxel${bad === 1 ? '' : 's'} (the first at ${at}); replace them (with 0, say) before segmenting`);
}

/**
 * The model inputs of a volume's slices, NCHW [1, inChannels, height, width] each: slice `k` read along
 * `axis`, repeated into every input channel, then normalized. zscore is scale-free and reads the raw
 * values; the other modes expect 0..255, so the volume's min..max is mapped onto that range first.
 */
export function volumeSlices(
  vol: Volume,
  axis: Axis,
  inChannels: number,
  normalization: Normalization,
): { width: number; height: number; count: number; input: (k: number) => TensorData } {
  const norm = checkNormalization(normalization, 'volumeSlices: normalization');
  const { width, height, count } = sliceGeometry(vol.dims, axis);
  let [lo, hi] = [Infinity, -Infinity];
  if (norm.kind !== 'zscore') for (const x of vol.data) [lo, hi] = [Math.min(lo, x), Math.max(hi, x)];
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  const input = (k: number) => {
    const plane = new Float64Array(width * height);
    forEachSliceVoxel(vol.dims, axis, k, (p, v) => (plane[p] = norm.kind === 'zscore' ? vol.data[v] : (vol.data[v] - lo) * scale));
    return normalize(
      Array.from({ length: inChannels }, () => plane),
      height,
      width,
      norm,
    );
  };
  return { width, height, count, input };
}

/** Segments a volume slice by slice (see above); refuses NaN / Inf voxels first (checkFiniteVolume). */
export async function segmentVolume(model: Pick<Model, 'info' | 'run'>, vol: Volume, options: VolumeSegmentOptions): Promise<VolumeSegmentResult> {
  checkFiniteVolume(vol);
  const axis = options.axis ?? 2;
  const { inChannels, classes: C } = model.info;
  const slices = volumeSlices(vol, axis, inChannels, options.normalization);
  const voxels = vol.data.length;
  const probabilities = new Float32Array(C * voxels);
  // as readOutput: class indices for a multi-class model, else a 0 / 1 mask per channel (mask = masks[0])
  const kind = isMultiClass(model.info) ? 'classes' : 'mask';
  const masks = kind === 'mask' ? Array.from({ length: C }, () => new Uint8Array(voxels)) : undefined;
  const mask = masks ? masks[0] : new Uint8Array(voxels);
  for (let k = 0; k < slices.count; k++) {
    const output = await model.run(slices.input(k), options.run);
    const r = readOutput(output.data, slices.width, slices.height, model.info, options.threshold);
    // the slice's pixel p is voxel v of the volume; channel c of it at c * n + p, of the volume at c * voxels + v
    const n = slices.width * slices.height;
    forEachSliceVoxel(vol.dims, axis, k, (p, v) => {
      for (let c = 0; c < C; c++) probabilities[c * voxels + v] = r.probabilities[c * n + p];
      if (masks) for (let c = 0; c < C; c++) masks[c][v] = r.masks![c][p];
      else mask[v] = r.mask[p];
    });
    options.onSlice?.(k, slices.count, output);
  }
  const foreground = masks ? masks.map((m) => m.reduce((a, v) => a + v, 0) / voxels) : classCounts(mask, C).map((m) => m / voxels);
  const notes = inChannels > 1 ? [`each slice repeated into ${inChannels} channels`] : [];
  return { dims: [...vol.dims], classes: C, kind, probabilities, mask, ...(masks ? { masks } : {}), foreground, notes };
}
