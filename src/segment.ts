// Image in, mask out: model.segment. The image is read as pixels (src/io/pixels.ts), converted to the
// model's channels (src/io/preprocess.ts channelPlanes: gray repeated, RGB to luma), normalized as the
// model was trained (info.preprocessing unless options.normalize says otherwise), run at its full size
// (sliding windows when it does not fit one pass: run's tile 'auto'; never a downscale), and read as
// probabilities and a mask the way `unet segment` reads them (src/io/classes.ts). Browser-safe.
import { InputError, UnsupportedError, checkOptionNames, throwIfAborted } from './errors.js';
import { MAX_CLASSES, argmaxLabels, classCounts, classProbabilities, isForeground, isMultiClass, maskProbabilities } from './io/classes.js';
import { type ImageSource, type RawImage, readImage } from './io/pixels.js';
import { type Normalization, channelPlanes, checkNormalization, normalize } from './io/preprocess.js';
import type { Segmentation } from './io/render.js';
import type { PadMode } from './ir/types.js';
import { type Limits, shownValue } from './limits.js';
import type { Model, RunOptions, RunResult, TensorData } from './model.js';
import type { Progress, TileSetting } from './tiling/index.js';

export type { ImageSource, RawImage };

export interface SegmentOptions {
  /** how pixel values are normalized; default the model's own (model.info.preprocessing) */
  normalize?: Normalization;
  /** mask models: a pixel is foreground when its probability is > threshold (default 0.5) */
  threshold?: number;
  /** sliding windows, as model.run's (default 'auto': windows only when the image does not fit one pass) */
  tile?: TileSetting;
  /** called after each batch of windows (once for one pass) */
  onProgress?: (p: Progress) => void;
  /** aborting rejects with an AbortError; the model stays usable */
  signal?: AbortSignal;
  /** bounds on the image read (maxPixels, maxInputBytes, maxJpegScans; for a URL also headersTimeoutMs and
   *  idleTimeoutMs: a TimeoutError, code 'TIMEOUT', when its server stalls) */
  limits?: Partial<Limits>;
  /** padding to the model's size multiple (brain U-Net), as model.run's */
  pad?: PadMode;
}

const SEGMENT_OPTIONS: readonly (keyof SegmentOptions)[] = ['normalize', 'threshold', 'tile', 'onProgress', 'signal', 'limits', 'pad'];

/** model.segment's result: the segmentation (src/io/render.ts Segmentation: size, classes, kind,
 *  probabilities, mask, masks) and what it took. */
export interface SegmentResult extends Segmentation {
  /** per channel (mask models) or per class (multi-class): the fraction of pixels it covers */
  foreground: number[];
  /** the threshold used (mask models) */
  threshold?: number;
  /** how the image was cut, when it ran in sliding windows (as RunResult.tiling) */
  tiling?: RunResult['tiling'];
  /** what was done to the image's channels ('gray image repeated into 3 channels', 'RGB converted to gray') */
  notes: string[];
}

/** model.segment: see SegmentOptions and SegmentResult. */
export async function segment(model: Model, image: ImageSource, options: SegmentOptions = {}): Promise<SegmentResult> {
  checkOptionNames(options, SEGMENT_OPTIONS, 'segment');
  // undefined is "the default"; null is a value, and refused
  const threshold = options.threshold === undefined ? 0.5 : options.threshold;
  if (typeof threshold !== 'number' || !(threshold >= 0 && threshold <= 1))
    throw new InputError(`segment: threshold must be a number from 0 to 1, found ${shownValue(threshold)}`);
  const normalization = checkNormalization(options.normalize === undefined ? model.info.preprocessing : options.normalize, 'segment: normalize');
  // known from the model alone: refused before the image is read or the model runs
  if (isMultiClass(model.info) && model.info.classes > MAX_CLASSES) {
    throw new UnsupportedError(
      `segment: the model has ${model.info.classes} classes (${model.info.activation}) and the mask holds one class index a byte, at most ${MAX_CLASSES} classes; model.run gives the raw output`,
    );
  }
  throwIfAborted(options.signal, 'segment');
  const pixels = await readImage(image, { limits: options.limits, signal: options.signal });
  const run = { tile: options.tile, onProgress: options.onProgress, signal: options.signal, pad: options.pad };
  return (await segmentPixels(model, pixels, { normalization, threshold }, run)).result;
}

/**
 * model.segment once the image is read and the options checked: the image's tensor (imageTensor), one
 * run, its output read (readOutput). `output` is the run's raw result, for callers that check it (the
 * CLI warns of NaN / Inf outputs). `toGray: false` refuses an RGB image for a 1-channel model (`unet
 * segment` converts it only with --gray).
 */
export async function segmentPixels(
  model: Pick<Model, 'info' | 'run'>,
  pixels: RawImage,
  how: { normalization: Normalization; threshold: number; toGray?: boolean },
  run: RunOptions = {},
): Promise<{ result: SegmentResult; output: RunResult }> {
  const { input, notes } = imageTensor(pixels, model.info.inChannels, how.normalization, { toGray: how.toGray });
  const output = await model.run(input, run);
  return { result: { ...readOutput(output.data, pixels.width, pixels.height, model.info, how.threshold), tiling: output.tiling, notes }, output };
}

/**
 * The model's input for an image, NCHW [1, inChannels, H, W]: its channels adapted (gray repeated for a
 * 3-channel model, RGB to gray by luma for a 1-channel one unless `toGray` is false, alpha dropped), then
 * normalized. What model.segment and `unet segment` run; the demo page prepares images the same way.
 */
export function imageTensor(
  image: RawImage,
  inChannels: number,
  normalization: Normalization,
  options: { toGray?: boolean } = {},
): { input: TensorData; notes: string[] } {
  let planes: Float64Array[];
  let note: string | undefined;
  try {
    ({ planes, note } = channelPlanes(image, inChannels, options?.toGray ?? true));
  } catch (e) {
    if (e instanceof InputError) e.message = `image: ${e.message}`;
    throw e;
  }
  const { data, shape } = normalize(planes, image.height, image.width, checkNormalization(normalization, 'imageTensor: normalization'));
  return { input: { data, shape }, notes: note ? [note] : [] };
}

/** An NCHW [1, C, H, W] output read as probabilities and a mask (see SegmentResult). */
export function readOutput(
  y: Float32Array,
  width: number,
  height: number,
  info: Pick<Model['info'], 'classes' | 'activation'>,
  threshold = 0.5,
): Omit<SegmentResult, 'notes' | 'tiling'> {
  const C = info.classes;
  const n = width * height;
  if (isMultiClass(info)) {
    const mask = argmaxLabels(y, C, n);
    const foreground = classCounts(mask, C).map((k) => k / n);
    return { width, height, classes: C, kind: 'classes', probabilities: classProbabilities(y, C, n, info.activation), mask, foreground };
  }
  const probabilities = maskProbabilities(y, info.activation);
  const masks = Array.from({ length: C }, (_, c) => {
    const m = new Uint8Array(n);
    for (let i = 0; i < n; i++) m[i] = isForeground(probabilities[c * n + i], threshold) ? 1 : 0;
    return m;
  });
  const foreground = masks.map((m) => m.reduce((a, v) => a + v, 0) / n);
  return { width, height, classes: C, kind: 'mask', probabilities, mask: masks[0], masks, foreground, threshold };
}
