// The errors the library throws on purpose, each with a stable `code` an app can switch on (messages are
// for people and may be reworded). Every refusal the engine makes is one of these or a subclass:
//   INPUT        the image, tensor or option value given is not usable (ImageError, ChannelError,
//                LimitError, NiftiError are InputErrors)
//   WEIGHTS      the weights or config cannot be read (SafetensorsError, PickleError, CheckpointError)
//   UNSUPPORTED  valid, but not something this engine or device does: another architecture or encoder,
//                f16 without shader-f16, no WebGPU adapter (NoAdapterError), an unknown option name
//   DEVICE_LOST  the GPU device was lost: get a new one and load the model again
//   GPU          the GPU refused or could not do the work it was given (GpuError): a WebGPU validation error
//                (a device limit exceeded) or out of memory (kind 'out-of-memory': free plans or use tiles)
//   DISPOSED     the model was disposed (DisposedError): load it again
//   ABORT        the caller's AbortSignal fired (name 'AbortError', as fetch's own)
//   TIMEOUT      a server sent no response headers, or no byte of the body, within a time limit
//                (TimeoutError; limits.headersTimeoutMs / idleTimeoutMs): try again, or raise the limit
// Browser-safe: no Node imports.

export type ErrorCode = 'INPUT' | 'WEIGHTS' | 'UNSUPPORTED' | 'DEVICE_LOST' | 'GPU' | 'DISPOSED' | 'ABORT' | 'TIMEOUT';

export class UnetError extends Error {
  constructor(
    message: string,
    readonly code: ErrorCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'UnetError';
  }
}

export class InputError extends UnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'INPUT', options);
    this.name = 'InputError';
  }
}

export class WeightsError extends UnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'WEIGHTS', options);
    this.name = 'WeightsError';
  }
}

export class UnsupportedError extends UnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'UNSUPPORTED', options);
    this.name = 'UnsupportedError';
  }
}

export class DeviceLostError extends UnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'DEVICE_LOST', options);
    this.name = 'DeviceLostError';
  }
}

/** A WebGPU error scope or the device's uncapturederror event reported an error for work of ours: `what`
 *  failed, with `kind` the WebGPU error class and `gpuMessage` the first line of the implementation's text. */
export class GpuError extends UnetError {
  constructor(
    readonly what: string,
    readonly kind: 'validation' | 'out-of-memory' | 'internal',
    readonly gpuMessage: string,
    options?: { cause?: unknown },
  ) {
    super(`${what} failed on the GPU (${kind === 'out-of-memory' ? 'out of memory' : `${kind} error`}): ${gpuMessage}`, 'GPU', options);
    this.name = 'GpuError';
  }
}

export class DisposedError extends UnetError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'DISPOSED', options);
    this.name = 'DisposedError';
  }
}

/** A download that stalled: `limit` names the time limit (in src/limits.ts) it ran past. */
export class TimeoutError extends UnetError {
  constructor(
    message: string,
    readonly limit: 'headersTimeoutMs' | 'idleTimeoutMs',
    options?: { cause?: unknown },
  ) {
    super(message, 'TIMEOUT', options);
    this.name = 'TimeoutError';
  }
}

export class AbortError extends UnetError {
  constructor(message = 'aborted', options?: { cause?: unknown }) {
    super(message, 'ABORT', options);
    this.name = 'AbortError';
  }
}

/** An image that cannot be decoded: the problem in one line, without the file name. */
export class ImageError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = 'ImageError';
  }
}

/** Throws an AbortError when `signal` has fired (its reason as the cause), and an InputError when it is
 *  not an AbortSignal at all (a `{ signal: {} }` would otherwise fail later as a TypeError). */
export function throwIfAborted(signal: AbortSignal | undefined, what = 'the run'): void {
  checkSignal(signal, what);
  if (signal?.aborted) throw abortError(signal, what);
}

/** `signal` is undefined or AbortSignal-like (checked by shape: a signal from another realm, an iframe or
 *  a polyfill, is not `instanceof` this realm's AbortSignal). */
export function checkSignal(signal: unknown, what: string): void {
  if (signal === undefined) return;
  const s = signal as Partial<AbortSignal> | null;
  let ok = false;
  try {
    ok =
      typeof s === 'object' &&
      s !== null &&
      typeof s.aborted === 'boolean' &&
      typeof s.addEventListener === 'function' &&
      typeof s.removeEventListener === 'function';
  } catch {
    // a getter that throws: not a signal
  }
  if (!ok) throw new InputError(`${what}: signal must be an AbortSignal, found ${s === null ? 'null' : Array.isArray(s) ? 'an array' : typeof s}`);
}

export function abortError(signal: AbortSignal, what: string): AbortError {
  const reason: unknown = signal.reason;
  const why = reason instanceof Error && reason.name !== 'AbortError' ? `: ${reason.message}` : '';
  return new AbortError(`${what} was aborted${why}`, { cause: reason });
}

/**
 * `promise`, or an AbortError as soon as `signal` fires, whichever comes first. The work behind
 * `promise` goes on (callers make it stop at its next check and keep the model's queue waiting for it).
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(abortError(signal, what));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal, what));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/**
 * Refuses option names `known` does not list, as one line naming the option (and the nearest known
 * name when it looks like a typo): `{ precison: 'f16' }` must not be silently ignored.
 */
export function checkOptionNames(options: object | undefined, known: readonly string[], what: string): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InputError(`${what}: options must be an object, found ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`);
  }
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue;
    throw new UnsupportedError(`${what}: unknown option ${JSON.stringify(name)}${didYouMean(name, [...known])} (known: ${known.join(', ')})`);
  }
}

/** `; did you mean xyz?` when one of `candidates` is within a typo of `word`, else ''. */
export function didYouMean(word: string, candidates: string[], prefix = ''): string {
  const best = closest(word, candidates);
  return best === undefined ? '' : `; did you mean ${prefix}${best}?`;
}

/** The candidate nearest to `word` by edit distance, if it is near enough to be a typo: at most a third
 *  of the word's length (1 for short words, 2 from 6 letters on, ...); an unambiguous prefix also counts. */
export function closest(word: string, candidates: string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(w.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  if (best !== undefined) return best;
  const prefixed = candidates.filter((c) => w.length >= 3 && c.startsWith(w));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** Levenshtein distance, with a swap of two neighbouring letters counted as one edit. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
