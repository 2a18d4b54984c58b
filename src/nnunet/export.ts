// nnU-Net's export of a prediction (nnunetv2/inference/export_prediction.py
// convert_predicted_logits_to_segmentation_with_correct_shape): logits at the configuration's spacing ->
// resampled to the cropped original shape (resampling_fn_probabilities) -> softmax, or a sigmoid per region ->
// labels (argmax, or regions_class_order with 0.5) -> cropping reverted (background outside the box;
// probabilities outside are background 1 for softmax models, 0 for regions: LabelManager
// revert_cropping_on_probabilities) -> transpose_backward.
import type { NnunetConfig } from '../arch/nnunet/plans.js';
import { InputError, UnsupportedError } from '../errors.js';
import { resampleDataOrSegToShape } from './resample.js';

/** The preprocessing's record of one case (nnU-Net's properties dict), axes as the file has them. */
export interface ExportProperties {
  /** the image's spacing, untransposed */
  spacing: readonly number[];
  /** shape_after_cropping_and_before_resampling (transposed axes) */
  shapeAfterCropping: readonly number[];
  /** shape_before_cropping (transposed axes) */
  shapeBeforeCropping: readonly number[];
  /** bbox_used_for_cropping: [start, end) per transposed axis */
  bbox: readonly (readonly [number, number])[];
}

export type ExportConfig = Pick<
  NnunetConfig,
  'spacing' | 'transposeForward' | 'transposeBackward' | 'resamplingProbabilities' | 'outputActivation' | 'regionsClassOrder' | 'foregroundLabels'
>;

export interface Exported {
  /** labels [Z, Y, X] at the original geometry (uint8 below 255 foreground labels, as nnU-Net writes them) */
  segmentation: Uint8Array | Uint16Array;
  shape: number[];
  /** [K, Z, Y, X] at the original geometry, when asked for */
  probabilities?: Float32Array;
}

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Logits [K, z, y, x] (the sliding window's, padding removed) to labels and probabilities at the original geometry. */
export function exportPrediction(
  logits: { data: Float32Array; shape: readonly number[] },
  config: ExportConfig,
  props: ExportProperties,
  options: { probabilities?: boolean } = {},
): Exported {
  if (logits.shape.length !== 4) throw new InputError(`logits [${logits.shape}]: expected [K, Z, Y, X]`);
  const [K] = logits.shape;
  const spacingT = config.transposeForward.map((a) => props.spacing[a]);
  const currentSpacing = config.spacing.length === props.shapeAfterCropping.length ? config.spacing : [spacingT[0], ...config.spacing];
  let data = logits.data;
  if (logits.shape.slice(1).join() !== props.shapeAfterCropping.join()) {
    const r = config.resamplingProbabilities;
    if (r.fn !== 'resample_data_or_seg_to_shape')
      throw new UnsupportedError(`resampling_fn_probabilities ${r.fn}: only resample_data_or_seg_to_shape is supported`);
    const k = r.kwargs;
    data = resampleDataOrSegToShape(data, logits.shape, props.shapeAfterCropping, currentSpacing, spacingT, {
      isSeg: k.is_seg === true,
      order: typeof k.order === 'number' ? k.order : 3,
      orderZ: typeof k.order_z === 'number' ? k.order_z : 0,
      forceSeparateZ: typeof k.force_separate_z === 'boolean' ? k.force_separate_z : null,
    });
  }
  const V = prod(props.shapeAfterCropping);
  const sigmoid = config.outputActivation === 'sigmoid';
  // apply_inference_nonlin: float32 softmax over classes (max subtracted), or a sigmoid per region
  const probs = new Float32Array(K * V);
  for (let v = 0; v < V; v++) {
    if (sigmoid) {
      for (let k = 0; k < K; k++) probs[k * V + v] = 1 / (1 + Math.exp(-data[k * V + v]));
      continue;
    }
    let max = -Infinity;
    for (let k = 0; k < K; k++) max = Math.max(max, data[k * V + v]);
    let sum = 0;
    for (let k = 0; k < K; k++) sum += Math.exp(data[k * V + v] - max);
    for (let k = 0; k < K; k++) probs[k * V + v] = Math.exp(data[k * V + v] - max) / sum;
  }
  // convert_probabilities_to_segmentation: regions in regions_class_order, later ones winning; else argmax
  // (the first largest)
  const seg = new Uint16Array(V);
  for (let v = 0; v < V; v++) {
    if (sigmoid) {
      const order = config.regionsClassOrder ?? [];
      for (const [i, c] of order.entries()) if (probs[i * V + v] > 0.5) seg[v] = c;
    } else {
      let best = 0;
      for (let k = 1; k < K; k++) if (probs[k * V + v] > probs[best * V + v]) best = k;
      seg[v] = best;
    }
  }
  // insert_crop_into_image, then transpose_backward
  const before = props.shapeBeforeCropping;
  const B = prod(before);
  const [cz, cy, cx] = props.shapeAfterCropping;
  const [z0, y0, x0] = props.bbox.map((b) => b[0]);
  const inside = (z: number, y: number, x: number) => z + z0 < before[0] && y + y0 < before[1] && x + x0 < before[2];
  const full = new Uint16Array(B);
  const fullProbs = options.probabilities ? new Float32Array(K * B) : undefined;
  if (fullProbs && !sigmoid) fullProbs.fill(1, 0, B);
  for (let z = 0; z < cz; z++)
    for (let y = 0; y < cy; y++)
      for (let x = 0; x < cx; x++) {
        if (!inside(z, y, x)) continue;
        const v = (z * cy + y) * cx + x;
        const o = ((z + z0) * before[1] + y + y0) * before[2] + x + x0;
        full[o] = seg[v];
        if (fullProbs) for (let k = 0; k < K; k++) fullProbs[k * B + o] = probs[k * V + v];
      }
  const tb = config.transposeBackward;
  const shape = tb.map((a) => before[a]);
  const wide = config.foregroundLabels.length >= 255;
  const segmentation = wide ? new Uint16Array(B) : new Uint8Array(B);
  const probabilities = fullProbs ? new Float32Array(K * B) : undefined;
  // output position (i0, i1, i2) reads input axis tb[j] at i_j
  const inStride = [before[1] * before[2], before[2], 1];
  const s = tb.map((a) => inStride[a]);
  let o = 0;
  for (let i0 = 0; i0 < shape[0]; i0++)
    for (let i1 = 0; i1 < shape[1]; i1++)
      for (let i2 = 0; i2 < shape[2]; i2++, o++) {
        const src = i0 * s[0] + i1 * s[1] + i2 * s[2];
        segmentation[o] = full[src];
        if (probabilities && fullProbs) for (let k = 0; k < K; k++) probabilities[k * B + o] = fullProbs[k * B + src];
      }
  return { segmentation, shape, ...(probabilities ? { probabilities } : {}) };
}
