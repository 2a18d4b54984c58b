// The resource limits (src/limits.ts) as command-line options of `unet segment`, `infer` and `convert`:
// the main ones by name (--max-pixels ...), any of them as --limit NAME=VALUE. Refusals from the readers
// end in "(raise limits.maxPixels)"; the CLI shows its own option there instead (cliMessage).
import { DEFAULT_LIMITS, formatCount, type LimitName, type Limits } from '../limits.js';
import { UsageError } from './errors.js';

const MiB = 2 ** 20;

/** Options by name: the limit each sets and the unit its value is in (bytes limits take MiB). */
const FLAGS: Record<string, { limit: LimitName; mib: boolean }> = {
  'max-pixels': { limit: 'maxPixels', mib: false },
  'max-voxels': { limit: 'maxVoxels', mib: false },
  'max-decompressed-mib': { limit: 'maxDecompressedBytes', mib: true },
  'max-weights-mib': { limit: 'maxWeightsBytes', mib: true },
  'max-input-mib': { limit: 'maxInputBytes', mib: true },
};

export const LIMIT_OPTIONS = {
  'max-pixels': { type: 'string' },
  'max-voxels': { type: 'string' },
  'max-decompressed-mib': { type: 'string' },
  'max-weights-mib': { type: 'string' },
  'max-input-mib': { type: 'string' },
  limit: { type: 'string' },
} as const;

const d = DEFAULT_LIMITS;
export const LIMITS_USAGE = `Limits on untrusted input (files declaring more are refused before anything is allocated):
  --max-pixels N        pixels of an image, width x height (default ${formatCount(d.maxPixels)})
  --max-voxels N        voxels of a NIfTI volume (default ${formatCount(d.maxVoxels)})
  --max-decompressed-mib N  MiB inflated from one .nii.gz or .pt zip (default ${d.maxDecompressedBytes / MiB})
  --max-weights-mib N   MiB of a weights or checkpoint file (default ${d.maxWeightsBytes / MiB})
  --max-input-mib N     MiB of an input file (default ${d.maxInputBytes / MiB})
  --limit NAME=V[,...]  any limit by its API name (${Object.keys(d).join(', ')})
`;

/** The limits the command line sets (the others keep their defaults). */
export function limitsFromArgs(command: string, values: Partial<Record<keyof typeof LIMIT_OPTIONS, string | boolean>>): Partial<Limits> {
  const out: Partial<Limits> = {};
  const number = (text: string, what: string): number => {
    const v = Number(text);
    if (!/^\s*[\d.e+]+\s*$/i.test(text) || !(v >= 0) || !Number.isFinite(v))
      throw new UsageError(`${command}: ${what} must be a number >= 0, found ${JSON.stringify(text)}`);
    return v;
  };
  const limit = values.limit;
  if (typeof limit === 'string') {
    for (const item of limit.split(',')) {
      const [name, text] = item.split('=');
      if (text === undefined || !Object.hasOwn(DEFAULT_LIMITS, name.trim())) {
        throw new UsageError(`${command}: --limit takes NAME=VALUE with NAME one of ${Object.keys(DEFAULT_LIMITS).join(', ')}; found ${JSON.stringify(item)}`);
      }
      out[name.trim() as LimitName] = number(text, `--limit ${name.trim()}`);
    }
  }
  for (const [flag, { limit: name, mib }] of Object.entries(FLAGS)) {
    const text = values[flag as keyof typeof LIMIT_OPTIONS];
    if (typeof text === 'string') out[name] = Math.floor(number(text, `--${flag}`) * (mib ? MiB : 1));
  }
  return out;
}

/** How to raise a limit from the command line. */
function hint(name: string): string {
  const flag = Object.entries(FLAGS).find(([, f]) => f.limit === name);
  return flag ? `raise with --${flag[0]}` : `raise with --limit ${name}=N`;
}

/** A reader's message as the CLI shows it: "(raise limits.maxPixels)" -> "(raise with --max-pixels)". */
export function cliMessage(message: string): string {
  return message.replace(/\(raise limits\.(\w+)\)/g, (_, name: string) => `(${hint(name)})`);
}
