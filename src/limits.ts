// The resource budget for reading files from strangers. Every reader checks the sizes a file declares
// (image dimensions, volume dims, zip entry sizes, pickle lengths) against these limits *before* it
// allocates, so a small hostile file is refused in milliseconds instead of taking gigabytes. The defaults
// suit a 2-core / 8 GB service: a legitimate file at a limit takes at most a few GB while it is read.
// A refusal is a LimitError whose one-line message names the limit and how to raise it; the two time
// limits bound how long a download (a model or image URL) may stall, and running past one is a TimeoutError.
// Browser-safe: no Node imports.
import { InputError, UnsupportedError } from './errors.js';

export interface Limits {
  /** width x height of a decoded PNG / JPEG (checked from the IHDR / SOF header) */
  maxPixels: number;
  /** voxels of a NIfTI volume (checked from its header, before the data is read or inflated) */
  maxVoxels: number;
  /** bytes inflated from one file in total: a .nii.gz, the entries read from a .pt zip */
  maxDecompressedBytes: number;
  /** size of a weights or checkpoint file, and the bytes of the tensors a checkpoint converts to */
  maxWeightsBytes: number;
  /** size of an input file: an image, a volume, a tensor file for `unet infer` */
  maxInputBytes: number;
  /** scans (SOS markers) in a JPEG: each scan of a progressive JPEG walks the whole image */
  maxJpegScans: number;
  /** opcodes executed by the pickle reader, per pickle */
  maxPickleOps: number;
  /** entries in a pickle's memo */
  maxPickleMemo: number;
  /** items in one pickled list, tuple or dict */
  maxPickleItems: number;
  /** nesting of pickled containers (and of open MARKs) */
  maxPickleDepth: number;
  /** bytes of one pickled integer (LONG1 / LONG4 / text LONG digits / 2.4) */
  maxPickleIntBytes: number;
  /** ms a server (a model or image URL) may take to send its response headers; 0: no limit of ours */
  headersTimeoutMs: number;
  /** ms a download may go without receiving a byte of the body; 0: no limit of ours. A total deadline
   *  is the AbortSignal's (AbortSignal.timeout), which this combines with. */
  idleTimeoutMs: number;
}

const MiB = 2 ** 20;

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxPixels: 1e8, // 10000 x 10000: ~1.2 GB as the f32 RGB input the engine takes
  maxVoxels: 2 ** 27, // 512 x 512 x 512: ~0.5 GB as f32, as much again per output channel
  maxDecompressedBytes: 1024 * MiB,
  maxWeightsBytes: 512 * MiB,
  maxInputBytes: 1024 * MiB,
  maxJpegScans: 100,
  maxPickleOps: 5_000_000,
  maxPickleMemo: 1_000_000,
  maxPickleItems: 1_000_000,
  maxPickleDepth: 100,
  maxPickleIntBytes: 64,
  // A working server answers in well under a second and a live connection is never silent this long
  // (TCP's retransmissions give up on a lost segment far sooner); a slow but steady one is not bounded.
  headersTimeoutMs: 30_000,
  idleTimeoutMs: 30_000,
});

export type LimitName = keyof Limits;

/** Model config files are small (smp's config.json: under 1 KB): a bigger one is not smp's, and is refused
 *  from its size before it is read. A constant, not a limit: no real config comes near it. */
export const MAX_CONFIG_BYTES = 1 << 20;

/** The limits to use: the defaults with `overrides` applied; a bad override is an error naming it. */
export function resolveLimits(overrides: Partial<Limits> = {}): Limits {
  const out: Limits = { ...DEFAULT_LIMITS };
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) {
    throw new InputError(`limits: expected an object of limits, found ${shownValue(overrides)}`);
  }
  let entries: [string, unknown][];
  try {
    entries = Object.entries(overrides); // runs each getter once
  } catch (e) {
    throw new InputError('limits: its fields cannot be read (a getter threw)', { cause: e });
  }
  for (const [name, value] of entries) {
    if (value === undefined) continue;
    if (!Object.hasOwn(DEFAULT_LIMITS, name))
      throw new UnsupportedError(`limits: unknown limit ${quoted(name, 100)} (known: ${Object.keys(DEFAULT_LIMITS).join(', ')})`);
    if (typeof value !== 'number' || !(value >= 0) || !Number.isFinite(value))
      throw new InputError(`limits: ${name} must be a number >= 0, found ${shownValue(value)}`);
    out[name as LimitName] = value;
  }
  return out;
}

/** A file refused because it declares more than a limit allows (code 'INPUT'). */
export class LimitError extends InputError {
  constructor(
    message: string,
    readonly limit: LimitName,
  ) {
    super(message);
    this.name = 'LimitError';
  }
}

const BYTE_LIMITS = new Set<LimitName>(['maxDecompressedBytes', 'maxWeightsBytes', 'maxInputBytes']);

/** `WHAT exceeds maxPixels 1.0e8 (raise limits.maxPixels)`: the CLI rewrites the hint to its option. */
export function exceeds(what: string, limit: LimitName, limits: Limits): LimitError {
  const v = limits[limit];
  return new LimitError(`${what} exceeds ${limit} ${BYTE_LIMITS.has(limit) ? formatBytes(v) : formatCount(v)} (raise limits.${limit})`, limit);
}

/** 123, 45678, 3.6e9 */
export function formatCount(n: number): string {
  return Math.abs(n) < 1e5 ? String(n) : n.toExponential(1).replace('e+', 'e');
}

/** 512 bytes, 3.0 MiB, 1.5 GiB */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 2 ** 30) return `${(n / MiB).toFixed(n < 10 * MiB ? 1 : 0)} MiB`;
  return `${(n / 2 ** 30).toFixed(1)} GiB`;
}

// C0 and C1 controls, DEL, line / paragraph separators and the bidi overrides: what lets a name print
// as several lines, move the cursor, recolour the terminal or reorder the text around it.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** A file name or tensor key fit to print on one line: control characters as \n, \x1b, \u202e. */
export function printable(name: string, maxChars = 300): string {
  let s = name.replace(UNPRINTABLE, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
  if (s.length > maxChars) s = `${s.slice(0, maxChars)}... (${s.length} characters)`;
  return s;
}

/** `"name"`, escaped as printable() does (a JSON string, so quotes and backslashes are escaped too). */
export function quoted(name: string, maxChars = 300): string {
  return printable(JSON.stringify(name), maxChars);
}

/**
 * Any value as a message shows it, on one short line, without ever throwing: numbers as they print (NaN,
 * Infinity), strings quoted and escaped, other values as JSON where that works, else their kind (a value
 * nested deeper than the stack, a cycle, a BigInt, a getter that throws, a symbol, a function).
 */
export function shownValue(v: unknown, maxChars = 100): string {
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (typeof v === 'string') return quoted(v, maxChars);
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'symbol' || typeof v === 'function') return `a ${typeof v}`;
  // a typed array by its kind and length: its JSON is an object with one key per element
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}${'length' in v ? ` of ${(v as Uint8Array).length}` : ''}`;
  const kind = Array.isArray(v) ? `an array of ${v.length}` : 'an object';
  try {
    return printable(JSON.stringify(v) ?? kind, maxChars);
  } catch {
    return kind;
  }
}
