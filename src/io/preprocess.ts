// Image -> the model's NCHW float input: channel count adapted where that is unambiguous, then the
// normalization. The default is the brain-MRI U-Net's own: per image and per channel, the z-score of the
// 0..255 values, (v - mean) / std with the population std over the image's pixels (float64), as in
// tools/make_fixtures.py (`mri_input`) and tools/train_demo.py. A constant channel becomes 0 (std 1).
import { InputError, UnsupportedError } from '../errors.js';
import { printable } from '../limits.js';

export type Normalization =
  | { kind: 'zscore' }
  /** v / 255, as torchvision's ToTensor gives */
  | { kind: 'none' }
  /** v / 255, then ImageNet's per-channel mean and std (their averages for one channel) */
  | { kind: 'imagenet' }
  /** (v - mean) / std on the 0..255 values */
  | { kind: 'fixed'; mean: number; std: number }
  /** nnU-Net's own, per channel as its plans name it (ZScoreNormalization, CTNormalization, ...): run by its
   *  predictor (src/nnunet/normalize.ts), never on an image's 0..255 values */
  | { kind: 'nnunet'; schemes: string[] };

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

/** Parses --normalize: zscore | none | imagenet | MEAN,STD. Returns undefined when it is none of those. */
export function parseNormalization(s: string): Normalization | undefined {
  if (s === 'zscore' || s === 'none' || s === 'imagenet') return { kind: s };
  const m = /^\s*(-?[\d.]+(?:e-?\d+)?)\s*,\s*([\d.]+(?:e-?\d+)?)\s*$/i.exec(s);
  if (!m) return undefined;
  const [mean, std] = [Number(m[1]), Number(m[2])];
  return Number.isFinite(mean) && Number.isFinite(std) && std > 0 ? { kind: 'fixed', mean, std } : undefined;
}

/** `n` if it is a Normalization (a fixed one with finite mean and std > 0), else an InputError naming `what`. */
export function checkNormalization(n: unknown, what = 'normalize'): Normalization {
  const expected = `${what} must be { kind: 'zscore' | 'none' | 'imagenet' } or { kind: 'fixed', mean, std } with std > 0`;
  let v: Partial<{ kind: unknown; mean: unknown; std: unknown }> | undefined;
  try {
    // a copy of the fields read, so a getter runs once, here
    if (typeof n === 'object' && n !== null)
      v = { kind: (n as { kind?: unknown }).kind, mean: (n as { mean?: unknown }).mean, std: (n as { std?: unknown }).std };
  } catch (e) {
    throw new InputError(`${expected}; its fields cannot be read`, { cause: e });
  }
  const kind = v?.kind;
  if (kind === 'zscore' || kind === 'none' || kind === 'imagenet') return { kind };
  if (kind === 'fixed' && typeof v!.mean === 'number' && typeof v!.std === 'number' && Number.isFinite(v!.mean) && Number.isFinite(v!.std) && v!.std > 0) {
    return { kind, mean: v!.mean, std: v!.std };
  }
  let found: string;
  try {
    found = typeof n === 'number' ? String(n) : (JSON.stringify(n) ?? typeof n);
  } catch {
    found = Array.isArray(n) ? 'an array' : typeof n; // nested deeper than the stack, a cycle, a BigInt
  }
  throw new InputError(`${expected}, found ${printable(found, 80)}`);
}

/** A normalization as --normalize spells it, with what it does. */
export function describeNormalization(n: Normalization): string {
  if (n.kind === 'zscore') return 'zscore (per image and channel, (v - mean) / std of the 0..255 values)';
  if (n.kind === 'none') return 'none (v / 255)';
  if (n.kind === 'imagenet') return `imagenet (v / 255, then (v - mean) / std per channel, mean ${IMAGENET_MEAN.join(',')}, std ${IMAGENET_STD.join(',')})`;
  if (n.kind === 'nnunet') return `nnU-Net's, per channel as the plans say (${n.schemes.join(', ')}), after cropping to the nonzero region`;
  return `${n.mean},${n.std} ((v - ${n.mean}) / ${n.std} on the 0..255 values)`;
}

/** An image whose channels the model cannot take (code 'INPUT'). */
export class ChannelError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = 'ChannelError';
  }
}

/** Pixels whose channels are interleaved, row-major: gray (1), RGB (3) or RGBA (4, alpha ignored). */
export interface Pixels {
  width: number;
  height: number;
  channels: number;
  data: ArrayLike<number>;
}

/**
 * ITU-R BT.601 luma, the one RGB-to-gray conversion of the CLI, the API and the demo page; a gray pixel
 * (r = g = b) keeps its value exactly.
 */
export function luma(r: number, g: number, b: number): number {
  return r === g && g === b ? r : 0.299 * r + 0.587 * g + 0.114 * b;
}

/**
 * The planes (one Float64Array of 0..255 values per model input channel) for an image: gray is
 * repeated for a 3-channel model; RGB becomes gray (luma) for a 1-channel model only with `toGray`;
 * RGBA is read as RGB; anything else is a ChannelError.
 */
export function channelPlanes(img: Pixels, modelChannels: number, toGray: boolean): { planes: Float64Array[]; note?: string } {
  const n = img.width * img.height;
  const stride = img.channels;
  const color = stride === 3 || stride === 4 ? 3 : stride;
  const plane = (c: number) => Float64Array.from({ length: n }, (_, i) => img.data[i * stride + c]);
  if (color === modelChannels) return { planes: Array.from({ length: modelChannels }, (_, c) => plane(c)) };
  if (color === 1 && modelChannels === 3) {
    const g = plane(0);
    return { planes: [g, g, g], note: 'gray image repeated into 3 channels' };
  }
  if (color === 3 && modelChannels === 1) {
    if (!toGray) throw new ChannelError('is RGB and the model takes 1 channel: pass --gray to convert it to grayscale');
    const d = img.data;
    return { planes: [Float64Array.from({ length: n }, (_, i) => luma(d[i * stride], d[i * stride + 1], d[i * stride + 2]))], note: 'RGB converted to gray' };
  }
  const has = color === 1 ? 'gray (1 channel)' : color === 3 ? 'RGB (3 channels)' : `${color} channels`;
  throw new ChannelError(`is ${has}, the model takes ${modelChannels} channels`);
}

/** Normalizes planes of 0..255 values into one [1, C, H, W] input. */
export function normalize(planes: Float64Array[], height: number, width: number, how: Normalization): { data: Float32Array; shape: number[] } {
  const n = height * width;
  const data = new Float32Array(planes.length * n);
  planes.forEach((p, c) => {
    let mean = 0;
    let std = 1;
    let scale = 1;
    if (how.kind === 'zscore') {
      for (let i = 0; i < n; i++) mean += p[i];
      mean /= n;
      let sq = 0;
      for (let i = 0; i < n; i++) sq += (p[i] - mean) * (p[i] - mean);
      std = Math.sqrt(sq / n) || 1;
    } else if (how.kind === 'none') {
      scale = 255;
    } else if (how.kind === 'imagenet') {
      const k = planes.length === 3 ? c : -1;
      mean = 255 * (k >= 0 ? IMAGENET_MEAN[k] : 0.449);
      std = 255 * (k >= 0 ? IMAGENET_STD[k] : 0.226);
    } else if (how.kind === 'fixed') {
      [mean, std] = [how.mean, how.std];
    } else {
      throw new UnsupportedError(`an nnU-Net model normalizes its input as its plans say (${how.schemes.join(', ')}): segment volumes with it, not images`);
    }
    const off = c * n;
    for (let i = 0; i < n; i++) data[off + i] = (p[i] - mean) / std / scale;
  });
  return { data, shape: [1, planes.length, height, width] };
}
