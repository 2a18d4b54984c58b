// The playground's form state as text: the URL hash that reproduces a configuration (a link to
// /playground#architecture=Unet&encoder=resnet34&… builds the same network), and the key that names one
// model (options + weights) for the worker's cache and the pinned table. No DOM, no engine: web/playground.ts
// reads and writes location.hash with these, the worker fills what the hash leaves out (defaultModelOptions).
import type { ModelOptions } from '../src/index.js';

/** What the hash holds: the model's options, the seed of its random weights and the size the figures are for. */
export interface HashState {
  options: Partial<ModelOptions>;
  seed?: number;
  /** the input size the shapes, GFLOP and memory are shown at (pixels a side) */
  size?: number;
}

/** The fields in hash order, with how each is read back (numbers, a comma list, or text as it is). */
const FIELDS: { [K in keyof ModelOptions]-?: 'text' | 'int' | 'ints' } = {
  architecture: 'text',
  encoder: 'text',
  depth: 'int',
  decoderChannels: 'ints',
  attention: 'text',
  upsampling: 'text',
  decoderNorm: 'text',
  inChannels: 'int',
  classes: 'int',
  activation: 'text',
};

export const OPTION_FIELDS = Object.keys(FIELDS) as (keyof ModelOptions)[];

const isInt = (s: string) => /^\d{1,7}$/.test(s);

/** `#architecture=Unet&encoder=resnet34&…&seed=0&size=256`: every option, so the link does not depend on
 *  today's defaults. */
export function toHash(s: HashState): string {
  const p = new URLSearchParams();
  for (const k of OPTION_FIELDS) {
    const v = s.options[k];
    if (v !== undefined) p.set(k, Array.isArray(v) ? v.join(',') : String(v));
  }
  if (s.seed !== undefined) p.set('seed', String(s.seed));
  if (s.size !== undefined) p.set('size', String(s.size));
  // commas read better than %2C in an address bar, and URLSearchParams reads them back either way
  return `#${p.toString().replaceAll('%2C', ',')}`;
}

/** The hash's fields; a malformed number or list is left out (the form keeps its value), unknown keys ignored. */
export function fromHash(hash: string): HashState {
  const p = new URLSearchParams(hash.replace(/^#/, ''));
  const options: Record<string, unknown> = {};
  for (const k of OPTION_FIELDS) {
    const v = p.get(k);
    if (v === null) continue;
    const kind = FIELDS[k];
    if (kind === 'text') options[k] = v;
    else if (kind === 'int' && isInt(v)) options[k] = Number(v);
    else if (kind === 'ints') {
      const parts = v.split(',').map((x) => x.trim());
      if (parts.length > 0 && parts.every(isInt)) options[k] = parts.map(Number);
    }
  }
  const num = (k: string) => {
    const v = p.get(k);
    return v !== null && isInt(v) ? Number(v) : undefined;
  };
  const seed = num('seed');
  const size = num('size');
  return { options: options as Partial<ModelOptions>, ...(seed !== undefined ? { seed } : {}), ...(size ? { size } : {}) };
}

/** Decoder channels as the form shows them ("256, 128, 64") and reads them (commas or spaces). */
export const channelsText = (c: readonly number[]) => c.join(', ');
export function parseChannels(text: string): number[] | undefined {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  return parts.length && parts.every(isInt) ? parts.map(Number) : undefined;
}

/** The weights a model is built with, as the key and the pinned table name them. */
export type WeightsChoice =
  | { kind: 'random'; seed: number }
  | { kind: 'file'; seed: number; name: string; bytes: number }
  | { kind: 'url'; seed: number; url: string };

export function weightsText(w: WeightsChoice): string {
  if (w.kind === 'random') return `random (seed ${w.seed})`;
  return `pretrained encoder ${w.kind === 'file' ? w.name : w.url}, decoder seed ${w.seed}`;
}

/** One model: the same key means the same bits (the seed fixes the random weights). */
export function configKey(o: ModelOptions, w: WeightsChoice): string {
  return JSON.stringify([OPTION_FIELDS.map((k) => o[k]), w]);
}

/** A short name for a configuration: "Unet resnet34 d5 (256,128,64,32,16) scse · 3→1". */
export function shortName(o: ModelOptions): string {
  if (o.architecture === 'brain-unet') return `brain-unet f${o.decoderChannels[0]} · ${o.inChannels}→${o.classes}`;
  if (o.architecture === 'nnunet-plain')
    return `nnU-Net Plain 2D (${o.decoderChannels.join(',')})${o.decoderNorm === 'batchnorm' ? ' batchnorm' : ''} · ${o.inChannels}→${o.classes}`;
  const extras = [o.attention !== 'none' ? o.attention : '', o.upsampling !== 'nearest' ? o.upsampling : '', o.decoderNorm === 'none' ? 'no norm' : '']
    .filter(Boolean)
    .join(' ');
  return `${o.architecture} ${o.encoder} d${o.depth} (${o.decoderChannels.join(',')})${extras ? ` ${extras}` : ''} · ${o.inChannels}→${o.classes}`;
}
