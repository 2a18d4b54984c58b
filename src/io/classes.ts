// What a model's output means per pixel, for `unet segment` and the demo page: a multi-class model (several
// classes under softmax, log-softmax or raw logits) gives one class per pixel, its argmax; any other model
// gives one independent probability per output channel (a mask each). Pure functions of NCHW [1, C, H, W]
// output arrays: no Node, no DOM, no GPU.
import type { OutputActivation } from '../ir/types.js';

/** The settings of model.info that decide how its output reads. */
export interface OutputKind {
  classes: number;
  activation: OutputActivation;
}

/**
 * True when the output's channels are exclusive classes: classes > 1 under softmax, logsoftmax or identity
 * (logits: their argmax is the softmax's). Sigmoid and tanh outputs, and one-class models, are masks.
 */
export function isMultiClass(k: OutputKind): boolean {
  return k.classes > 1 && (k.activation === 'softmax' || k.activation === 'logsoftmax' || k.activation === 'identity');
}

/**
 * The mask rule, the same in the CLI, the API and the demo page: a pixel is foreground when its
 * probability is strictly above the threshold (so 0.5 is a logit > 0, a tanh output > 0; NaN never is).
 */
export function isForeground(probability: number, threshold: number): boolean {
  return probability > threshold;
}

/** A palette PNG has at most 256 entries, and the labels are stored as one byte. */
export const MAX_CLASSES = 256;

/**
 * Channel values as probabilities in [0, 1] for a mask model: sigmoid as it is; tanh as (y + 1) / 2 (so the
 * default threshold 0.5 is y > 0); identity (logits) through a sigmoid (0.5 is a logit > 0); a one-class
 * softmax as it is, a log-softmax through exp. A new array; NaN stays NaN.
 */
export function maskProbabilities(y: Float32Array, activation: OutputActivation): Float32Array {
  const out = new Float32Array(y.length);
  for (let i = 0; i < y.length; i++) {
    const v = y[i];
    if (activation === 'tanh') out[i] = (v + 1) / 2;
    else if (activation === 'identity') out[i] = 1 / (1 + Math.exp(-v));
    else if (activation === 'logsoftmax') out[i] = Math.exp(v);
    else out[i] = v;
  }
  return out;
}

/**
 * Per-class probabilities of a multi-class output ([C, n] for one image): softmax as it is, log-softmax
 * through exp, logits through a softmax over the classes (max subtracted first, so large logits do not
 * overflow). A new array.
 */
export function classProbabilities(y: Float32Array, classes: number, n: number, activation: OutputActivation): Float32Array {
  const out = new Float32Array(classes * n);
  for (let i = 0; i < n; i++) {
    if (activation === 'identity') {
      let max = -Infinity;
      for (let c = 0; c < classes; c++) max = Math.max(max, y[c * n + i]);
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += out[c * n + i] = Math.exp(y[c * n + i] - max);
      for (let c = 0; c < classes; c++) out[c * n + i] /= sum;
    } else {
      for (let c = 0; c < classes; c++) out[c * n + i] = activation === 'logsoftmax' ? Math.exp(y[c * n + i]) : y[c * n + i];
    }
  }
  return out;
}

/** The class of each pixel: the argmax over channels (the lowest class wins a tie; NaN never wins). */
export function argmaxLabels(y: Float32Array, classes: number, n: number): Uint8Array {
  if (classes > MAX_CLASSES) throw new Error(`${classes} classes: class maps hold at most ${MAX_CLASSES}`);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestValue = y[i];
    for (let c = 1; c < classes; c++) {
      const v = y[c * n + i];
      if (v > bestValue || (bestValue !== bestValue && v === v)) [best, bestValue] = [c, v];
    }
    labels[i] = best;
  }
  return labels;
}

/** Pixels of each class. */
export function classCounts(labels: Uint8Array, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0);
  for (const l of labels) counts[l]++;
  return counts;
}

export interface ClassColor {
  name: string;
  rgb: [number, number, number];
}

/** Class 0 is the background (black in the label map, left untinted in overlays); then these, in order. */
const NAMED: ClassColor[] = [
  { name: 'red', rgb: [230, 25, 75] },
  { name: 'green', rgb: [60, 180, 75] },
  { name: 'blue', rgb: [0, 130, 200] },
  { name: 'yellow', rgb: [255, 225, 25] },
  { name: 'orange', rgb: [245, 130, 48] },
  { name: 'purple', rgb: [145, 30, 180] },
  { name: 'cyan', rgb: [70, 240, 240] },
  { name: 'magenta', rgb: [240, 50, 230] },
  { name: 'lime', rgb: [210, 245, 60] },
  { name: 'pink', rgb: [250, 190, 212] },
  { name: 'teal', rgb: [0, 128, 128] },
  { name: 'brown', rgb: [170, 110, 40] },
  { name: 'maroon', rgb: [128, 0, 0] },
  { name: 'navy', rgb: [0, 0, 128] },
  { name: 'olive', rgb: [128, 128, 0] },
];

const hex = (rgb: readonly number[]) => `#${rgb.map((v) => v.toString(16).padStart(2, '0')).join('')}`;

/** One colour per class: class 0 'background' (black), then NAMED, then hues spread by the golden angle (named by hex). */
export function classColors(classes: number): ClassColor[] {
  return Array.from({ length: classes }, (_, c): ClassColor => {
    if (c === 0) return { name: 'background', rgb: [0, 0, 0] };
    if (c <= NAMED.length) return NAMED[c - 1];
    const rgb = hslToRgb(((c - NAMED.length) * 137.508) % 360, 0.75, 0.55);
    return { name: hex(rgb), rgb };
  });
}

function hslToRgb(h: number, s: number, l: number): [number, number, number] {
  const a = s * Math.min(l, 1 - l);
  const f = (k: number) => {
    const t = (k + h / 30) % 12;
    return Math.round(255 * (l - a * Math.max(-1, Math.min(t - 3, 9 - t, 1))));
  };
  return [f(0), f(8), f(4)];
}

export interface LegendEntry {
  class: number;
  /** the colour's name ('background' for class 0) */
  color: string;
  rgb: [number, number, number];
  pixels: number;
  /** pixels / all pixels */
  fraction: number;
}

/** Pixels per class with the class colours: what the summaries print. */
export function legend(labels: Uint8Array, classes: number): LegendEntry[] {
  const counts = classCounts(labels, classes);
  const colors = classColors(classes);
  return counts.map((pixels, c) => ({ class: c, color: colors[c].name, rgb: colors[c].rgb, pixels, fraction: labels.length ? pixels / labels.length : 0 }));
}

/**
 * The image (gray or RGB, `channels` per pixel) as RGB with each class but the background blended towards
 * its colour by `opacity` and its outline (pixels with a 4-neighbour of another class) drawn solid.
 */
export function classOverlay(
  image: { width: number; height: number; channels: number; data: ArrayLike<number> },
  labels: Uint8Array,
  colors: ClassColor[],
  opacity = 0.4,
  outline = true,
): Uint8Array {
  const { width: W, height: H, channels } = image;
  const out = new Uint8Array(3 * W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const l = labels[i];
      for (let k = 0; k < 3; k++) out[3 * i + k] = image.data[channels === 1 ? i : channels * i + k];
      if (l === 0) continue;
      const edge =
        outline &&
        ((x > 0 && labels[i - 1] !== l) || (x < W - 1 && labels[i + 1] !== l) || (y > 0 && labels[i - W] !== l) || (y < H - 1 && labels[i + W] !== l));
      const rgb = colors[l].rgb;
      for (let k = 0; k < 3; k++) out[3 * i + k] = edge ? rgb[k] : Math.round((1 - opacity) * out[3 * i + k] + opacity * rgb[k]);
    }
  }
  return out;
}
