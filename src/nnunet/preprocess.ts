// nnU-Net's preprocessing of one case (DefaultPreprocessor.run_case_npy, nnunetv2/preprocessing/preprocessors/
// default_preprocessor.py), in its order: cast to float32, transpose_forward (data and spacing), crop to the
// nonzero box, normalize per channel (before resampling, with the crop's mask), resample to the configuration's
// spacing. It returns the properties export needs to undo it. CPU, float32 / float64 arrays in and out.
// Browser-safe: no Node imports.
import { InputError } from '../errors.js';
import { shownValue } from '../limits.js';
import type { NnunetConfig } from '../arch/nnunet/plans.js';
import { type BBox, cropToNonzero } from './crop.js';
import { normalize } from './normalize.js';
import { computeNewShape, resampleDataOrSegToShape, resamplingOptions } from './resample.js';

/** What of a configuration preprocessing reads (NnunetConfig has it all). */
export type PreprocessConfig = Pick<
  NnunetConfig,
  'spacing' | 'transposeForward' | 'normalizationSchemes' | 'useMaskForNorm' | 'foregroundIntensityProperties' | 'resamplingData' | 'resamplingSeg'
>;

/** The properties nnU-Net's preprocessor adds for export (names as its properties dict's keys). */
export interface PreprocessProperties {
  /** the input's spacing, input axis order (properties['spacing']) */
  spacing: number[];
  /** after transpose_forward, before cropping: [Z, Y, X] */
  shapeBeforeCropping: number[];
  bboxUsedForCropping: BBox;
  shapeAfterCroppingAndBeforeResampling: number[];
  /** the spacing resampled to (transposed; for a 2d configuration the first axis keeps its own) */
  targetSpacing: number[];
}

export interface Preprocessed {
  /** [C, ...shape] float32 */
  data: Float32Array;
  /** [C, Z, Y, X] */
  shape: number[];
  /** the crop's segmentation (-1 outside the nonzero mask), resampled like nnU-Net's; only with `withSeg` */
  seg?: Float32Array;
  properties: PreprocessProperties;
}

export interface PreprocessOptions {
  /** also resample the seg (resampling_fn_seg), which prediction does not use; default false */
  withSeg?: boolean;
}

/** data.transpose([0, *[i + 1 for i in order]]) of a [C, ...spatial] array. */
export function transposeSpatial(data: Float32Array, shape: readonly number[], order: readonly number[]): { data: Float32Array; shape: number[] } {
  const [C, ...spatial] = shape;
  if (order.length !== spatial.length) throw new InputError(`transpose: order ${shownValue(order)} for spatial shape ${shownValue(spatial)}`);
  if (order.every((a, i) => a === i)) return { data, shape: [...shape] };
  const outSpatial = order.map((a) => spatial[a]);
  const inStrides = [spatial[1] * spatial[2], spatial[2], 1];
  const [s0, s1, s2] = order.map((a) => inStrides[a]);
  const n = spatial[0] * spatial[1] * spatial[2];
  const out = new Float32Array(data.length);
  const [A, B, D] = outSpatial;
  for (let c = 0; c < C; c++) {
    let o = c * n;
    for (let i = 0; i < A; i++)
      for (let j = 0; j < B; j++) {
        const row = c * n + i * s0 + j * s1;
        for (let k = 0; k < D; k++) out[o++] = data[row + k * s2];
      }
  }
  return { data: out, shape: [C, ...outSpatial] };
}

/** run_case_npy for one case with no segmentation: `data` is [C, Z, Y, X] (a 2D image [C, 1, Y, X]) with its
 *  `spacing` (3 values, the data's axis order). */
export function preprocessCase(
  data: Float32Array | Float64Array,
  shape: readonly number[],
  spacing: readonly number[],
  config: PreprocessConfig,
  options: PreprocessOptions = {},
): Preprocessed {
  if (shape.length !== 4) throw new InputError(`preprocess: shape ${shownValue(shape)} must be [C, Z, Y, X]`);
  if (spacing.length !== 3 || !spacing.every((s) => s > 0 && Number.isFinite(s)))
    throw new InputError(`preprocess: spacing ${shownValue(spacing)} must be 3 positive numbers`);
  const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
  const t = transposeSpatial(f32, shape, config.transposeForward);
  const originalSpacing = config.transposeForward.map((a) => spacing[a]);
  const shapeBeforeCropping = t.shape.slice(1);
  // crop_to_nonzero copies (the caller's array is never normalized in place)
  const cropped = cropToNonzero(t.data, t.shape);
  const cropShape = cropped.shape;
  // a 2d configuration's spacing has 2 entries: the slice axis keeps its own
  const targetSpacing = config.spacing.length < 3 ? [originalSpacing[0], ...config.spacing] : [...config.spacing];
  const newShape = computeNewShape(cropShape.slice(1), originalSpacing, targetSpacing);
  const cropData = cropped.data;
  normalize(cropData, cropShape[0], cropped.seg, config.normalizationSchemes, config.useMaskForNorm, config.foregroundIntensityProperties);
  const out = resampleDataOrSegToShape(
    cropData,
    cropShape,
    newShape,
    originalSpacing,
    targetSpacing,
    resamplingOptions(config.resamplingData, 'resampling_fn_data'),
  );
  const result: Preprocessed = {
    data: out,
    shape: [cropShape[0], ...newShape],
    properties: {
      spacing: [...spacing],
      shapeBeforeCropping,
      bboxUsedForCropping: cropped.bbox,
      shapeAfterCroppingAndBeforeResampling: cropShape.slice(1),
      targetSpacing,
    },
  };
  if (options.withSeg)
    result.seg = resampleDataOrSegToShape(
      cropped.seg,
      [1, ...cropShape.slice(1)],
      newShape,
      originalSpacing,
      targetSpacing,
      resamplingOptions(config.resamplingSeg, 'resampling_fn_seg'),
    );
  return result;
}
