// Downloading a model file with `fetch` (Node >= 18 and browsers alike): streamed, with progress, and
// bounded by a limit checked against Content-Length before the body is read and again while it streams
// (a server may send no length, or a false one). Browser-safe: no Node imports.
import { InputError, UnetError, UnsupportedError, WeightsError, abortError, throwIfAborted } from '../errors.js';
import { concatBytes } from './bytes.js';
import { type LimitName, type Limits, exceeds } from '../limits.js';

export interface DownloadProgress {
  /** bytes received so far */
  loaded: number;
  /** the response's Content-Length, when it gave one */
  total?: number;
}

export interface FetchOptions {
  limits: Limits;
  limit: LimitName;
  /** the class of HTTP and network errors (default WeightsError) */
  errorClass?: typeof WeightsError | typeof InputError;
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
}

/**
 * Whether a source names a URL: a URL object, a string starting with http: or https:, or, where there
 * are no file paths (browsers, workers), any string (relative ones resolve against the page, as fetch does).
 */
export function isUrl(src: unknown, hasPaths: boolean): boolean {
  if (typeof URL === 'function' && src instanceof URL) return true;
  return typeof src === 'string' && (!hasPaths || /^https?:\/\//i.test(src));
}

/** The body of `url`, at most limits[limit] bytes; HTTP errors and network failures are WeightsErrors
 *  (or o.errorClass). */
export async function fetchBytes(url: string, o: FetchOptions): Promise<Uint8Array> {
  if (typeof fetch !== 'function') throw new UnsupportedError(`${url}: this environment has no fetch(); pass the file's bytes`);
  throwIfAborted(o.signal, `loading ${url}`);
  const maxBytes = o.limits[o.limit];
  let res: Response;
  try {
    res = await fetch(url, { signal: o.signal });
  } catch (e) {
    throw failure(url, e, o);
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw new (o.errorClass ?? WeightsError)(`${url}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
  }
  const length = res.headers.get('content-length');
  const total = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
  if (total !== undefined && total > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw exceeds(`${url}: ${total} bytes (Content-Length)`, o.limit, o.limits);
  }
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      loaded += value.length;
      if (loaded > maxBytes) throw exceeds(`${url}: the download (${loaded} bytes so far)`, o.limit, o.limits);
      chunks.push(value);
      o.onProgress?.({ loaded, total });
    }
  } catch (e) {
    await reader.cancel().catch(() => undefined);
    throw failure(url, e, o);
  }
  return concatBytes(chunks);
}

/** A fetch or stream failure: our own errors as they are, an abort as an AbortError, else o.errorClass. */
function failure(url: string, e: unknown, o: FetchOptions): Error {
  if (o.signal?.aborted) return abortError(o.signal, `loading ${url}`);
  if (e instanceof UnetError) return e;
  const cause = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : '';
  return new (o.errorClass ?? WeightsError)(`${url}: cannot fetch (${e instanceof Error ? e.message : String(e)}${cause})`, { cause: e });
}
