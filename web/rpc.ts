// The page <-> worker protocol: named calls with one answer each, progress reports on the way, and
// cancellation (the page's AbortSignal becomes an AbortSignal in the worker). Errors cross as
// { name, message, code } so the page can word them (structured clone keeps no custom fields).

/** What a handler in the worker gets besides its arguments. */
export interface CallContext {
  /** aborted when the page cancels the call */
  signal: AbortSignal;
  /** a progress report; `transfer` moves its buffers instead of copying them */
  progress(p: unknown, transfer?: Transferable[]): void;
}

export interface ErrorInfo {
  name: string;
  message: string;
  code?: string;
}

type Request = { id: number; method: string; args: unknown } | { cancel: number };
type Reply = { id: number; progress: unknown } | { id: number; result: unknown } | { id: number; error: ErrorInfo };

/** A result with the buffers to transfer (not copy) to the page. */
export class Transfer<T> {
  constructor(
    readonly value: T,
    readonly buffers: Transferable[],
  ) {}
}

export function errorInfo(e: unknown): ErrorInfo {
  if (e instanceof Error) {
    const code = (e as Error & { code?: unknown }).code;
    return { name: e.name, message: e.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(e) };
}

/** An Error on the page side carrying the worker's name and code. */
export class WorkerError extends Error {
  readonly code?: string;
  constructor(info: ErrorInfo) {
    super(info.message);
    this.name = info.name;
    this.code = info.code;
  }
}

type Handler = (args: never, ctx: CallContext) => unknown;

/** Worker side: answers the page's calls with `handlers[method]`. */
export function serve(
  scope: { onmessage: ((ev: MessageEvent) => unknown) | null; postMessage(m: unknown, t?: Transferable[]): void },
  handlers: Record<string, Handler>,
): void {
  const running = new Map<number, AbortController>();
  const send = (m: Reply, transfer: Transferable[] = []) => scope.postMessage(m, transfer);
  scope.onmessage = async (ev: MessageEvent<Request>) => {
    const req = ev.data;
    if ('cancel' in req) {
      running.get(req.cancel)?.abort(new DOMException('cancelled', 'AbortError'));
      return;
    }
    const abort = new AbortController();
    running.set(req.id, abort);
    try {
      const handler = handlers[req.method];
      if (!handler) throw new Error(`the worker has no method ${req.method}`);
      const ctx: CallContext = { signal: abort.signal, progress: (p, t) => send({ id: req.id, progress: p }, t) };
      const out = await handler(req.args as never, ctx);
      if (out instanceof Transfer) send({ id: req.id, result: out.value }, out.buffers);
      else send({ id: req.id, result: out });
    } catch (e) {
      send({ id: req.id, error: errorInfo(e) });
    } finally {
      running.delete(req.id);
    }
  };
}

export interface CallOptions {
  signal?: AbortSignal;
  onProgress?: (p: never) => void;
  transfer?: Transferable[];
}

/** Page side: calls into a worker started by `serve`. */
export class Client {
  private next = 1;
  private readonly pending = new Map<number, { ok(v: unknown): void; fail(e: Error): void; progress?: (p: never) => void }>();

  constructor(private readonly worker: Worker) {
    worker.onmessage = (ev: MessageEvent<Reply>) => {
      const m = ev.data;
      const p = this.pending.get(m.id);
      if (!p) return;
      if ('progress' in m) p.progress?.(m.progress as never);
      else {
        this.pending.delete(m.id);
        if ('error' in m) p.fail(new WorkerError(m.error));
        else p.ok(m.result);
      }
    };
  }

  call<T>(method: string, args: unknown, options: CallOptions = {}): Promise<T> {
    const id = this.next++;
    return new Promise<T>((ok, fail) => {
      this.pending.set(id, { ok: ok as (v: unknown) => void, fail, progress: options.onProgress });
      const { signal } = options;
      if (signal) {
        if (signal.aborted) {
          this.pending.delete(id);
          fail(new WorkerError({ name: 'AbortError', message: 'cancelled' }));
          return;
        }
        // the page moves on at once; the worker stops at its next check (between window batches)
        const onAbort = () => {
          this.worker.postMessage({ cancel: id });
          if (this.pending.delete(id)) fail(new WorkerError({ name: 'AbortError', message: 'cancelled' }));
        };
        signal.addEventListener('abort', onAbort, { once: true });
      }
      this.worker.postMessage({ id, method, args }, options.transfer ?? []);
    });
  }

  /** Fails every call in flight (the worker died). */
  failAll(e: Error): void {
    for (const p of this.pending.values()) p.fail(e);
    this.pending.clear();
  }
}
