// Pictures of a segmentation: binary masks, 16-bit probability maps, class maps and overlays of the masks
// (tinted, with a solid outline) on the input image. The same functions draw `unet segment`'s files and,
// through renderMask / renderOverlay / renderLabels / probabilitiesPng, the API's pictures (RGBA, usable
// as ImageData in a browser, or encodePng'd to a file). Browser-safe: no Node imports.
import { classColors, classOverlay, isForeground } from './classes.js';
import { encodePng } from './png.js';
import type { Pixels } from './preprocess.js';
import { InputError, checkOptionNames } from '../errors.js';
import { DEFAULT_LIMITS } from '../limits.js';

/** One color per output channel (the first is used for single-channel models). */
export const PALETTE: [number, number, number][] = [
  [255, 48, 48],
  [48, 220, 48],
  [64, 128, 255],
  [255, 200, 0],
  [230, 64, 230],
  [0, 220, 220],
];

/** Channel `c` of an NCHW [1, C, H, W] output as 0 / 255 (isForeground) and its foreground fraction. */
export function thresholdMask(probs: Float32Array, c: number, n: number, threshold: number): { mask: Uint8Array; foreground: number } {
  const mask = new Uint8Array(n);
  let on = 0;
  for (let i = 0; i < n; i++) {
    if (isForeground(probs[c * n + i], threshold)) {
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

/** The image (gray, RGB or RGBA; values clamped to 0..255) as RGB with each mask tinted in its palette
 *  color (by `opacity`) and outlined in it. */
export function overlay(img: Pixels, masks: Uint8Array[], opacity = 0.4): Uint8Array {
  const { width: W, height: H } = img;
  const out = rgbOf(img);
  masks.forEach((m, c) => {
    const color = PALETTE[c % PALETTE.length];
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const i = y * W + x;
        if (!m[i]) continue;
        // an edge pixel: inside, with a 4-neighbour inside the image that is outside the mask
        const edge = (x > 0 && !m[i - 1]) || (x < W - 1 && !m[i + 1]) || (y > 0 && !m[i - W]) || (y < H - 1 && !m[i + W]);
        for (let k = 0; k < 3; k++) out[3 * i + k] = edge ? color[k] : Math.round((1 - opacity) * out[3 * i + k] + opacity * color[k]);
      }
    }
  });
  return out;
}

/** Gray, RGB or RGBA pixels as RGB bytes (clamped to 0..255, rounded). */
function rgbOf(img: Pixels): Uint8Array {
  const n = img.width * img.height;
  const out = new Uint8ClampedArray(3 * n);
  const s = img.channels;
  for (let i = 0; i < n; i++) for (let k = 0; k < 3; k++) out[3 * i + k] = img.data[s === 1 ? i : s * i + k];
  return new Uint8Array(out.buffer);
}

// --- the API's pictures of a SegmentResult

/** A segmentation, what the pictures read: model.segment's result (src/segment.ts SegmentResult) is one. */
export interface Segmentation {
  width: number;
  height: number;
  /** output channels: classes of a multi-class model, masks of a mask model */
  classes: number;
  /** 'classes': one class per pixel (several classes under softmax, log-softmax or logits; mask is the
   *  argmax); 'mask': one probability per output channel and pixel (sigmoid, tanh, one class) */
  kind: 'mask' | 'classes';
  /** [classes, height, width] in [0, 1]: the sigmoid output as it is, (y + 1) / 2 for tanh, the sigmoid
   *  of a one-class logit; for multi-class models the softmax (exp of a log-softmax, softmax of logits) */
  probabilities: Float32Array;
  /** [height, width]: 0 / 1 (probability of channel 0 > threshold) for mask models; the class index
   *  (argmax, the lowest class on ties) for multi-class ones */
  mask: Uint8Array;
  /** mask models: one 0 / 1 mask per output channel (masks[0] is mask) */
  masks?: Uint8Array[];
}

/** 8-bit RGBA pixels, row-major: what `new ImageData(data, width, height)` takes. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

/** A value's kind for a message: null, an array, a Float32Array, a number, ... */
function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v !== 'object') return typeof v;
  return (v as object).constructor?.name ?? 'an object';
}

/** Checks what a picture reads of a segmentation (it may come from anywhere, not only model.segment):
 *  sizes that fit maxPixels, a mask of width x height, and, for `probabilities`, classes x width x height. */
function checkSegmentation(r: Segmentation, what: string, probabilities = false): void {
  if (typeof r !== 'object' || r === null) throw new InputError(`${what}: expected a segmentation (model.segment's result), found ${kindOf(r)}`);
  const { width: W, height: H, classes: C, mask } = r;
  if (!(Number.isSafeInteger(W) && Number.isSafeInteger(H) && W > 0 && H > 0))
    throw new InputError(
      `${what}: width and height must be positive integers, found ${kindOf(W) === 'number' ? W : kindOf(W)} x ${kindOf(H) === 'number' ? H : kindOf(H)}`,
    );
  if (W * H > DEFAULT_LIMITS.maxPixels)
    throw new InputError(`${what}: ${W}x${H} is more than the ${DEFAULT_LIMITS.maxPixels} pixels an image may have (maxPixels)`);
  if (!(Number.isSafeInteger(C) && C >= 1 && C <= 65536))
    throw new InputError(`${what}: classes must be an integer from 1 to 65536, found ${typeof C === 'number' ? C : kindOf(C)}`);
  if (r.kind !== 'mask' && r.kind !== 'classes')
    throw new InputError(
      `${what}: kind must be 'mask' or 'classes', found ${typeof r.kind === 'string' ? JSON.stringify((r.kind as string).slice(0, 40)) : kindOf(r.kind)}`,
    );
  if (!(mask instanceof Uint8Array) || mask.length !== W * H)
    throw new InputError(
      `${what}: mask must be a Uint8Array of ${W}x${H} values, found ${mask instanceof Uint8Array ? `${mask.length} values` : kindOf(mask)}`,
    );
  if (r.masks !== undefined && !(Array.isArray(r.masks) && r.masks.length <= C && r.masks.every((m) => m instanceof Uint8Array && m.length === W * H))) {
    throw new InputError(`${what}: masks must be up to ${C} Uint8Arrays of ${W}x${H} values each`);
  }
  if (probabilities && !(r.probabilities instanceof Float32Array && r.probabilities.length === C * W * H)) {
    throw new InputError(
      `${what}: probabilities must be a Float32Array of ${C}x${W}x${H} values, found ${r.probabilities instanceof Float32Array ? `${r.probabilities.length} values` : kindOf(r.probabilities)}`,
    );
  }
}

/** RGBA of `colors[index[i]]` per pixel. */
function paletted(width: number, height: number, index: Uint8Array, colors: readonly (readonly number[])[]): RgbaImage {
  const data = new Uint8ClampedArray(4 * width * height);
  for (let i = 0; i < width * height; i++) {
    const rgb = colors[index[i]] ?? colors[0];
    data[4 * i] = rgb[0];
    data[4 * i + 1] = rgb[1];
    data[4 * i + 2] = rgb[2];
    data[4 * i + 3] = 255;
  }
  return { width, height, data };
}

/** The mask in white on black: foreground (mask models) or any class but 0 (multi-class models). */
export function renderMask(result: Segmentation): RgbaImage {
  checkSegmentation(result, 'renderMask');
  const colors = Array.from({ length: 256 }, (_, k) => (k ? [255, 255, 255] : [0, 0, 0]));
  return paletted(result.width, result.height, result.mask, colors);
}

/** Each pixel in its class's colour (class 0 black, then red, green, blue, ...: the CLI's label colours);
 *  a mask model's foreground is class 1. */
export function renderLabels(result: Segmentation): RgbaImage {
  checkSegmentation(result, 'renderLabels');
  return paletted(
    result.width,
    result.height,
    result.mask,
    classColors(Math.max(2, result.classes)).map((c) => c.rgb),
  );
}

/**
 * The image with the segmentation over it, as `unet segment` draws NAME_overlay.png: each mask (each
 * class but 0) blended towards its colour by `opacity` (default 0.4) and outlined in it. `image` is the
 * segmented image's pixels: raw { data, width, height, channels } or ImageData.
 */
export function renderOverlay(
  image: Pixels | { width: number; height: number; data: Uint8ClampedArray },
  result: Segmentation,
  options: { opacity?: number } = {},
): RgbaImage {
  checkSegmentation(result, 'renderOverlay');
  const data0 = typeof image === 'object' && image !== null ? image.data : undefined;
  if (!(data0 instanceof Uint8Array || data0 instanceof Uint8ClampedArray || data0 instanceof Float32Array)) {
    throw new InputError('renderOverlay: the image must be pixels { data, width, height, channels } or ImageData (readImage(image) gives them)');
  }
  const px: Pixels = 'channels' in image ? image : { ...image, channels: 4 };
  if (px.width !== result.width || px.height !== result.height)
    throw new InputError(
      `renderOverlay: the image is ${kindOf(px.width) === 'number' ? px.width : kindOf(px.width)}x${kindOf(px.height) === 'number' ? px.height : kindOf(px.height)}, the result ${result.width}x${result.height}`,
    );
  if (px.channels !== 1 && px.channels !== 3 && px.channels !== 4)
    throw new InputError(`renderOverlay: the image's channels must be 1, 3 or 4, found ${typeof px.channels === 'number' ? px.channels : kindOf(px.channels)}`);
  if (px.data.length !== px.width * px.height * px.channels)
    throw new InputError(
      `renderOverlay: the image's data has ${px.data.length} values, ${px.width}x${px.height} with ${px.channels} channels needs ${px.width * px.height * px.channels}`,
    );
  checkOptionNames(options, ['opacity'], 'renderOverlay');
  let opacity: unknown;
  try {
    opacity = options.opacity === undefined ? 0.4 : options.opacity;
  } catch (e) {
    throw new InputError('renderOverlay: options.opacity cannot be read (a getter threw)', { cause: e });
  }
  if (!(typeof opacity === 'number' && opacity >= 0 && opacity <= 1))
    throw new InputError(`renderOverlay: opacity must be a number from 0 to 1, found ${typeof opacity === 'number' ? opacity : kindOf(opacity)}`);
  const rgb =
    result.kind === 'classes'
      ? classOverlay({ ...px, data: rgbOf(px), channels: 3 }, result.mask, classColors(result.classes), opacity)
      : overlay(px, result.masks ?? [result.mask], opacity);
  const data = new Uint8ClampedArray(4 * px.width * px.height);
  for (let i = 0; i < px.width * px.height; i++) {
    for (let k = 0; k < 3; k++) data[4 * i + k] = rgb[3 * i + k];
    data[4 * i + 3] = 255;
  }
  return { width: px.width, height: px.height, data };
}

/** Class (or channel) `c`'s probability as a 16-bit gray PNG (0..65535 for 0..1), as `unet segment --probs`. */
export function probabilitiesPng(result: Segmentation, c = 0): Uint8Array {
  checkSegmentation(result, 'probabilitiesPng', true);
  if (!(Number.isInteger(c) && c >= 0 && c < result.classes))
    throw new InputError(`probabilitiesPng: class ${typeof c === 'number' ? c : kindOf(c)} is not one of the result's ${result.classes}`);
  const n = result.width * result.height;
  return encodePng({ width: result.width, height: result.height, channels: 1, data: probs16(result.probabilities, c, n) });
}
