// Downloading a model or image file with `fetch` (Node >= 18 and browsers alike): streamed, with
// progress, and bounded three ways. Size: a limit checked against Content-Length before the body is read
// and again, on the bytes as they arrive, while it streams (a server may send no length, or a false one).
// Time: the response headers must come within limits.headersTimeoutMs and the body may not stall for
// limits.idleTimeoutMs, each combined with the caller's AbortSignal. Compression: the request asks for
// the body as it is (Accept-Encoding: identity), since fetch inflates a gzip or br body before we see a
// byte of it, and 1 MB on the wire can inflate to 1 GiB; a body encoded anyway is refused where it was
// asked for as it is (Node), and where the browser asks for compression itself, the inflated bytes are
// what the size limit counts. Browser-safe: no Node imports.
import { type InputError, TimeoutError, UnetError, UnsupportedError, WeightsError, abortError, throwIfAborted } from '../errors.js';
import { concatBytes } from './bytes.js';
import { type LimitName, type Limits, exceeds, printable } from '../limits.js';

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
 *  (or o.errorClass), a stall a TimeoutError. */
export async function fetchBytes(url: string, o: FetchOptions): Promise<Uint8Array> {
  if (typeof fetch !== 'function') throw new UnsupportedError(`${url}: this environment has no fetch(); pass the file's bytes`);
  throwIfAborted(o.signal, `loading ${url}`);
  const maxBytes = o.limits[o.limit];
  const errorClass = o.errorClass ?? WeightsError;
  const timer = watchdog(o.limits, o.signal);
  let loaded = 0;
  const idle = (t: string) => `${url}: no data for ${t} after ${loaded} byte${loaded === 1 ? '' : 's'} of the body`;
  try {
    let res: Response;
    try {
      timer.arm('headersTimeoutMs', (t) => `${url}: no response headers within ${t}`);
      // browsers drop Accept-Encoding (a forbidden header) and ask for compression themselves
      const request = new Request(url, { signal: timer.signal, headers: { 'accept-encoding': 'identity' } });
      const askedIdentity = request.headers.get('accept-encoding') === 'identity';
      res = await fetch(request);
      timer.arm('idleTimeoutMs', idle);
      const encoding = res.headers.get('content-encoding');
      if (res.ok && askedIdentity && encoding !== null && !/^\s*identity\s*$/i.test(encoding)) {
        await res.body?.cancel().catch(() => undefined);
        throw new errorClass(
          `${url}: the server sent a body encoded as ${printable(JSON.stringify(encoding), 60)} though asked for it as it is (Accept-Encoding: identity): refused, as such a body can inflate to far more than its size on the wire`,
        );
      }
    } catch (e) {
      throw failure(url, e, o, timer.timedOut);
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new errorClass(`${url}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
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
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        timer.arm('idleTimeoutMs', idle);
        // the bytes as fetch hands them over, i.e. inflated where the browser negotiated compression
        loaded += value.length;
        if (loaded > maxBytes) throw exceeds(`${url}: the download (${loaded} bytes so far)`, o.limit, o.limits);
        chunks.push(value);
        o.onProgress?.({ loaded, total });
      }
    } catch (e) {
      await reader.cancel().catch(() => undefined);
      throw failure(url, e, o, timer.timedOut);
    }
    return concatBytes(chunks);
  } finally {
    timer.stop();
  }
}

/** setTimeout's longest delay (2^31 - 1 ms, about 24.8 days): a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * An AbortSignal for one download: it fires when the caller's does, or when the time limit last armed
 * runs out, which then leaves a TimeoutError in `timedOut`. Arming again restarts the clock (each chunk
 * of the body does); a limit of 0 arms nothing. stop() clears the timer and lets go of the caller's signal.
 */
function watchdog(limits: Limits, caller: AbortSignal | undefined) {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut: TimeoutError | undefined;
  const onAbort = () => controller.abort(caller!.reason);
  caller?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    get timedOut() {
      return timedOut;
    },
    arm(limit: 'headersTimeoutMs' | 'idleTimeoutMs', message: (time: string) => string) {
      clearTimeout(timer);
      const ms = limits[limit];
      if (!(ms > 0)) return;
      timer = setTimeout(
        () => {
          timedOut = new TimeoutError(`${message(formatMs(ms))} (raise limits.${limit})`, limit);
          controller.abort(timedOut);
        },
        Math.min(ms, MAX_TIMER_MS),
      );
    },
    stop() {
      clearTimeout(timer);
      caller?.removeEventListener('abort', onAbort);
    },
  };
}

/** 300 ms, 30 s, 1.5 s */
function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Number((ms / 1000).toFixed(1))} s`;
}

/** A fetch or stream failure: a time limit run past as its TimeoutError, an abort as an AbortError, our
 *  own errors as they are, else o.errorClass. */
function failure(url: string, e: unknown, o: FetchOptions, timedOut: TimeoutError | undefined): Error {
  if (timedOut) return timedOut;
  if (o.signal?.aborted) return abortError(o.signal, `loading ${url}`);
  if (e instanceof UnetError) return e;
  const cause = e instanceof Error && e.cause instanceof Error ? `: ${e.cause.message}` : '';
  return new (o.errorClass ?? WeightsError)(`${url}: cannot fetch (${e instanceof Error ? e.message : String(e)}${cause})`, { cause: e });
}
