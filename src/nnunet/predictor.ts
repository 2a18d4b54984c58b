// nnU-Net's prediction of one case (nnUNetPredictor.predict_single_npy_array, nnunetv2/inference/
// predict_from_raw_data.py), in its order: preprocess (run_case_npy: transpose, crop, normalize, resample),
// predict_sliding_window_return_logits (Gaussian windows, mirroring over the checkpoint's allowed axes, the
// folds' logits averaged inside the model's graph), export (resample back, softmax / sigmoid, labels,
// uncrop, transpose back). The case comes as nnU-Net's readers give it: [C, Z, Y, X] float32 with the spacing
// in that order (NibabelIO: the file's x, y, z transposed to z, y, x, spacing reversed).
//
// Refused before anything runs, one line each: NaN or Inf voxels (nnU-Net does not clean them; its
// normalization's mean and std turn a whole channel to NaN, so its prediction would be noise: we count them
// and stop), a cascade stage (it needs the previous stage's segmentation as extra input channels), and a
// case past limits.maxVoxels before or after resampling. A volume smaller than the patch is padded, as
// nnU-Net pads it (pad_nd_image), not refused. Browser-safe: no Node imports.
import type { NnunetConfig } from '../arch/nnunet/plans.js';
import { InputError, UnsupportedError, throwIfAborted } from '../errors.js';
import { exceeds, formatCount, type Limits, resolveLimits, shownValue } from '../limits.js';
import { exportPrediction } from './export.js';
import { preprocessCase } from './preprocess.js';
import { computeNewShape } from './resample.js';
import { predictSlidingWindow, slidingWindows, type WindowPlan } from './sliding.js';

/** What the predictor needs of a loaded nnU-Net model (src/model.ts Model + its config provide it). */
export interface NnunetRunner {
  readonly device: GPUDevice;
  /** the configuration: plans, dataset.json, patch, spacing, normalization, resampling, labels */
  readonly config: NnunetConfig;
  /** the checkpoint's inference_allowed_mirroring_axes (patch axes); null or absent: no mirroring */
  readonly mirroringAxes?: readonly number[] | null;
  /** the compiled network (all folds, logits averaged) for `batch` windows: input [batch, C, ...patchSize] */
  plan(batch: number): WindowPlan | Promise<WindowPlan>;
  /** bytes a plan for `batch` windows would allocate, and its largest activation (to pick the batch) */
  estimate?(batch: number): { totalBytes: number; largestActivationBytes: number };
}

/** One case in nnU-Net's array order. */
export interface NnunetCase {
  /** [C, Z, Y, X] float32 (a 2D image is [C, 1, Y, X]) */
  data: Float32Array;
  shape: readonly number[];
  /** 3 values, the data's axis order (z, y, x) */
  spacing: readonly number[];
}

export interface NnunetPredictOptions {
  /** nnUNetv2_predict -step_size (its tile_step_size): the windows' step as a fraction of the patch, 0 < s <= 1
   *  (default 0.5) */
  stepSize?: number;
  /** test-time mirroring over the checkpoint's allowed axes (default true; nnUNetv2_predict --disable_tta: false) */
  mirroring?: boolean;
  /** also return the probabilities [K, Z, Y, X] at the original geometry */
  probabilities?: boolean;
  /** windows (times mirror combinations) per forward; default: as many as fit, at most 8 */
  batchSize?: number;
  /** after each batch of windows */
  onProgress?: (p: { done: number; total: number }) => void;
  signal?: AbortSignal;
  /** maxVoxels bounds the case, before and after resampling */
  limits?: Partial<Limits>;
}

export interface NnunetPrediction {
  /** [Z, Y, X] at the original geometry (uint8 below 255 foreground labels) */
  labels: Uint8Array | Uint16Array;
  shape: number[];
  /** [K, Z, Y, X] float32, when asked for: softmax over labels, or a sigmoid per region */
  probabilities?: Float32Array;
  /** milliseconds per stage */
  timings: { preprocessMs: number; windowsMs: number; exportMs: number };
  /** the windows run (mirror combinations counted once) and the batches they ran in */
  windows: { batches: number; batchSize: number; mirrorAxes: number[] };
}

const MAX_BATCH = 8;

/** NaN / Inf voxels of [C, ...] data: how many, and the first one's channel and position. */
export function countNonFinite(data: Float32Array, shape: readonly number[]): { count: number; first?: number[] } {
  let count = 0;
  let first = -1;
  for (let i = 0; i < data.length; i++) {
    if (data[i] - data[i] !== 0) {
      if (first < 0) first = i;
      count++;
    }
  }
  if (count === 0) return { count };
  const at: number[] = [];
  let rest = first;
  for (let a = shape.length - 1; a >= 0; a--) {
    at.unshift(rest % shape[a]);
    rest = Math.floor(rest / shape[a]);
  }
  return { count, first: at };
}

/** The checks that need no GPU: the case's shape against the model, NaN, cascade, maxVoxels. */
export function checkNnunetCase(c: NnunetCase, config: NnunetConfig, limits: Limits): void {
  const { shape } = c;
  if (!Array.isArray(shape) || shape.length !== 4 || !shape.every((d) => Number.isSafeInteger(d) && d > 0))
    throw new InputError(`volume: shape ${shownValue(shape)} must be [C, Z, Y, X] with positive integer sizes`);
  if (!(c.data instanceof Float32Array)) throw new InputError('volume: data must be a Float32Array [C, Z, Y, X]');
  const n = shape.reduce((a, b) => a * b, 1);
  if (c.data.length !== n) throw new InputError(`volume: data has ${c.data.length} values, shape [${shape}] needs ${n}`);
  const channels = config.channelNames.length;
  if (shape[0] !== channels)
    throw new InputError(`volume: ${shape[0]} channel${shape[0] === 1 ? '' : 's'}, the model takes ${channels} (${config.channelNames.join(', ')})`);
  if (!Array.isArray(c.spacing) || c.spacing.length !== 3 || !c.spacing.every((s) => typeof s === 'number' && s > 0 && Number.isFinite(s)))
    throw new InputError(`volume: spacing ${shownValue(c.spacing)} must be 3 positive numbers (z, y, x)`);
  if (config.previousStage !== undefined)
    throw new UnsupportedError(
      `configuration ${config.configuration} is a cascade stage: it needs the ${config.previousStage} prediction as input (nnUNetv2_predict -prev_stage_predictions), which is not supported; predict with ${config.previousStage} or a full-resolution configuration`,
    );
  const voxels = shape[1] * shape[2] * shape[3];
  if (voxels > limits.maxVoxels) throw exceeds(`volume [${shape.slice(1)}] = ${formatCount(voxels)} voxels`, 'maxVoxels', limits);
  // the shape after resampling, as run_case_npy computes it (the crop only shrinks it)
  const spacingT = config.transposeForward.map((a) => c.spacing[a]);
  const target = config.spacing.length < 3 ? [spacingT[0], ...config.spacing] : config.spacing;
  const resampled = computeNewShape(
    config.transposeForward.map((a) => shape[a + 1]),
    spacingT,
    target,
  );
  const after = resampled.reduce((a, b) => a * b, 1);
  if (after > limits.maxVoxels)
    throw exceeds(`volume [${shape.slice(1)}] resampled to spacing [${target}] = [${resampled}] = ${formatCount(after)} voxels`, 'maxVoxels', limits);
  const bad = countNonFinite(c.data, shape);
  if (bad.count > 0) {
    const [ch, z, y, x] = bad.first ?? [];
    throw new InputError(
      `volume: ${bad.count} NaN or Inf voxel${bad.count === 1 ? '' : 's'} (the first in channel ${ch} at z ${z}, y ${y}, x ${x}); nnU-Net does not clean them and its normalization would spread them over the channel: replace them before predicting`,
    );
  }
}

/** The batch: `wanted` (default min(8, windows x combinations)), halved while a plan would not fit one binding. */
function pickBatch(runner: NnunetRunner, entries: number, wanted: number | undefined): number {
  if (wanted !== undefined) {
    if (!Number.isSafeInteger(wanted) || wanted < 1) throw new InputError(`batchSize must be an integer >= 1, found ${shownValue(wanted)}`);
    return wanted;
  }
  let b = Math.max(1, Math.min(MAX_BATCH, entries));
  const { maxStorageBufferBindingSize: binding, maxBufferSize } = runner.device.limits;
  // a plan the size of the model's plan cache bound (src/model.ts defaultPlanCacheBytes)
  const budget = Math.min(4 * binding, maxBufferSize);
  while (b > 1 && runner.estimate) {
    const e = runner.estimate(b);
    if (e.largestActivationBytes <= binding && e.totalBytes <= budget) break;
    b = Math.max(1, b >> 1);
  }
  return b;
}

/** predict_single_npy_array for one case: labels (and probabilities) at the case's own geometry. */
export async function predictNnunetCase(runner: NnunetRunner, c: NnunetCase, options: NnunetPredictOptions = {}): Promise<NnunetPrediction> {
  const config = runner.config;
  const limits = resolveLimits(options.limits);
  const step = options.stepSize ?? 0.5;
  if (typeof step !== 'number' || !(step > 0 && step <= 1)) throw new InputError(`tile step size must be a number in (0, 1], found ${shownValue(step)}`);
  checkNnunetCase(c, config, limits);
  throwIfAborted(options.signal, 'the nnU-Net prediction');
  const t0 = performance.now();
  const pre = preprocessCase(c.data, c.shape, c.spacing, config);
  const t1 = performance.now();
  throwIfAborted(options.signal, 'the nnU-Net prediction');
  const mirrorAxes = options.mirroring === false ? [] : [...(runner.mirroringAxes ?? [])];
  const patch = config.patchSize;
  const entries = slidingWindows(pre.shape.slice(1), patch, step, mirrorAxes).length;
  const batchSize = pickBatch(runner, entries, options.batchSize);
  let batches = 0;
  const logits = await predictSlidingWindow(runner.device, pre, {
    patchSize: patch,
    tileStepSize: step,
    mirrorAxes,
    plan: (b) => runner.plan(b),
    batchSize,
    onProgress: (p) => {
      batches = p.total;
      options.onProgress?.(p);
    },
    signal: options.signal,
  });
  const t2 = performance.now();
  throwIfAborted(options.signal, 'the nnU-Net prediction');
  const props = pre.properties;
  const out = exportPrediction(
    logits,
    config,
    {
      spacing: props.spacing,
      shapeAfterCropping: props.shapeAfterCroppingAndBeforeResampling,
      shapeBeforeCropping: props.shapeBeforeCropping,
      bbox: props.bboxUsedForCropping,
    },
    { probabilities: options.probabilities === true },
  );
  const t3 = performance.now();
  return {
    labels: out.segmentation,
    shape: out.shape,
    ...(out.probabilities ? { probabilities: out.probabilities } : {}),
    timings: { preprocessMs: t1 - t0, windowsMs: t2 - t1, exportMs: t3 - t2 },
    windows: { batches, batchSize, mirrorAxes },
  };
}
