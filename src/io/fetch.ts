// Downloading a model file with `fetch` (Node >= 18 and browsers alike): streamed, with progress, and
// bounded by a limit checked against Content-Length before the body is read and again while it streams
// (a server may send no length, or a false one). Browser-safe: no Node imports.
import { UnetError, UnsupportedError, WeightsError, abortError, throwIfAborted } from '../errors.js';
import { type LimitName, type Limits, exceeds, formatBytes } from '../limits.js';

export interface DownloadProgress {
  /** bytes received so far */
  loaded: number;
  /** the response's Content-Length, when it gave one */
  total?: number;
}

export interface FetchOptions {
  limits: Limits;
  limit: LimitName;
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
}

/** Whether a model source names a URL: a URL object, or a string starting with http: or https:. */
export function isUrl(src: unknown): boolean {
  return (typeof URL === 'function' && src instanceof URL) || (typeof src === 'string' && /^https?:\/\//i.test(src));
}

/** The body of `url`, at most limits[limit] bytes; HTTP errors and network failures are WeightsErrors. */
export async function fetchBytes(url: string, o: FetchOptions): Promise<Uint8Array> {
  if (typeof fetch !== 'function') throw new UnsupportedError(`${url}: this environment has no fetch(); pass the file's bytes`);
  throwIfAborted(o.signal, `loading ${url}`);
  const maxBytes = o.limits[o.limit];
  let res: Response;
  try {
    res = await fetch(url, { signal: o.signal });
  } catch (e) {
    throw failure(url, e, o.signal);
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw new WeightsError(`${url}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
  }
  const length = res.headers.get('content-length');
  const total = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
  if (total !== undefined && total > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw exceeds(`${url}: ${formatBytes(total)} (Content-Length)`, o.limit, o.limits);
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
      if (loaded > maxBytes) throw exceeds(`${url}: more than ${formatBytes(maxBytes)} received`, o.limit, o.limits);
      chunks.push(value);
      o.onProgress?.({ loaded, total });
    }
  } catch (e) {
    await reader.cancel().catch(() => undefined);
    throw failure(url, e, o.signal);
  }
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** A fetch or stream failure: our own errors as they are, an abort as an AbortError, else a WeightsError. */
function failure(url: string, e: unknown, signal: AbortSignal | undefined): Error {
  if (signal?.aborted) return abortError(signal, `loading ${url}`);
  if (e instanceof UnetError) return e;
  const cause = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : '';
  return new WeightsError(`${url}: cannot fetch (${e instanceof Error ? e.message : String(e)}${cause})`, { cause: e });
}
