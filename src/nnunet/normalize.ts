// nnU-Net's intensity normalization schemes (nnunetv2/preprocessing/normalization/default_normalization_schemes.py),
// one channel at a time, in float32 as they run (target_dtype np.float32): every numpy operation on the float32
// image rounds to float32 and scalars are cast to float32 first (NumPy 1.x value-based casting), so each step
// here is wrapped in Math.fround. The statistics (mean, std) are computed in float64 and rounded to float32, where
// numpy reduces in float32 pairwise: they agree to a few float32 ulps.
// Browser-safe: no Node imports.
import { InputError, UnsupportedError } from '../errors.js';
import { shownValue } from '../limits.js';
import type { NnunetIntensityProperties } from '../arch/nnunet/plans.js';

/** The scheme class names the plans' normalization_schemes hold. */
export const NORMALIZATION_SCHEMES = ['ZScoreNormalization', 'CTNormalization', 'NoNormalization', 'RescaleTo01Normalization', 'RGBTo01Normalization'] as const;
export type NormalizationScheme = (typeof NORMALIZATION_SCHEMES)[number];

/** eps of the schemes for float32 targets */
const EPS = 1e-8;

const f = Math.fround;

export interface NormalizeChannel {
  scheme: string;
  /** use_mask_for_norm: ZScore statistics (and the change) only where seg >= 0 */
  useMaskForNorm?: boolean;
  /** foreground_intensity_properties_per_channel[c]: CT's clip range, mean and std */
  intensity?: NnunetIntensityProperties;
}

/** Normalize one channel in place. `image` is float32; `seg` (same length) is the crop's seg (-1 outside the
 *  nonzero mask), used by ZScore with use_mask_for_norm. `what` names the channel in errors. */
export function normalizeChannel(image: Float32Array, seg: ArrayLike<number> | undefined, options: NormalizeChannel, what: string): void {
  switch (options.scheme) {
    case 'ZScoreNormalization':
      zscore(image, options.useMaskForNorm ? seg : undefined, options.useMaskForNorm === true, what);
      return;
    case 'CTNormalization': {
      const p = options.intensity;
      if (p === undefined || ![p.mean, p.std, p.percentile_00_5, p.percentile_99_5].every((v) => typeof v === 'number'))
        throw new InputError(`${what}: CTNormalization needs mean, std, percentile_00_5 and percentile_99_5, found ${shownValue(p)}`);
      const lo = f(p.percentile_00_5);
      const hi = f(p.percentile_99_5);
      const mean = f(p.mean);
      const sd = f(Math.max(p.std, EPS));
      for (let i = 0; i < image.length; i++) {
        // np.clip keeps NaN; < and > are false for it
        const v = image[i] < lo ? lo : image[i] > hi ? hi : image[i];
        image[i] = f(v - mean) / sd;
      }
      return;
    }
    case 'NoNormalization':
      return;
    case 'RescaleTo01Normalization': {
      let min = Number.POSITIVE_INFINITY;
      for (let i = 0; i < image.length; i++) if (!(image[i] >= min)) min = image[i];
      for (let i = 0; i < image.length; i++) image[i] = f(image[i] - min);
      let max = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < image.length; i++) if (!(image[i] <= max)) max = image[i];
      const div = f(Math.max(max, EPS));
      for (let i = 0; i < image.length; i++) image[i] = image[i] / div;
      return;
    }
    case 'RGBTo01Normalization': {
      let min = Number.POSITIVE_INFINITY;
      let max = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < image.length; i++) {
        min = Math.min(min, image[i]);
        max = Math.max(max, image[i]);
      }
      if (!(min >= 0) || !(max <= 255)) throw new InputError(`${what}: RGBTo01Normalization expects values in 0..255 (RGB images), found ${min}..${max}`);
      for (let i = 0; i < image.length; i++) image[i] = image[i] / 255;
      return;
    }
    default:
      throw new UnsupportedError(`${what}: normalization scheme ${JSON.stringify(options.scheme)} is not supported (${NORMALIZATION_SCHEMES.join(', ')})`);
  }
}

/** ZScoreNormalization: (x - mean) / max(std, 1e-8), over the voxels where seg >= 0 when masked (the others
 *  keep their value), else over all. numpy's std is the population std (ddof 0). */
function zscore(image: Float32Array, seg: ArrayLike<number> | undefined, masked: boolean, what: string): void {
  if (masked && seg === undefined) throw new InputError(`${what}: use_mask_for_norm needs the nonzero mask (seg)`);
  if (seg !== undefined && seg.length !== image.length) throw new InputError(`${what}: seg has ${seg.length} values, the image ${image.length}`);
  const inside = (i: number) => seg === undefined || seg[i] >= 0;
  let n = 0;
  let sum = 0;
  for (let i = 0; i < image.length; i++)
    if (inside(i)) {
      sum += image[i];
      n++;
    }
  // numpy: the mean of an empty selection is NaN (with a warning), and so is everything it touches
  const mean64 = sum / n;
  const mean = f(mean64);
  let ss = 0;
  for (let i = 0; i < image.length; i++)
    if (inside(i)) {
      // numpy's _var: arr - arrmean in float32, squared in float32, summed
      const d = f(image[i] - mean);
      ss += f(d * d);
    }
  const sd = f(Math.max(f(Math.sqrt(ss / n)), EPS));
  for (let i = 0; i < image.length; i++) if (inside(i)) image[i] = f(image[i] - mean) / sd;
}

/** _normalize of the preprocessor: every channel of [C, ...] float32 data, in place, by the plans' schemes. */
export function normalize(
  data: Float32Array,
  channels: number,
  seg: ArrayLike<number>,
  schemes: readonly string[],
  useMaskForNorm: readonly boolean[],
  intensity: Record<string, NnunetIntensityProperties>,
): void {
  const n = data.length / channels;
  if (schemes.length < channels) throw new InputError(`normalize: ${channels} channels but ${schemes.length} normalization schemes`);
  for (let c = 0; c < channels; c++)
    normalizeChannel(
      data.subarray(c * n, (c + 1) * n),
      seg,
      { scheme: schemes[c], useMaskForNorm: useMaskForNorm[c] ?? false, intensity: intensity[String(c)] },
      `channel ${c}`,
    );
}
