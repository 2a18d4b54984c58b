// `unet serve`'s queue in front of the GPU: requests wait here, and those of the same input size run as
// one batch. One batch runs at a time (one model on one device). A batch is ready when it holds maxBatch
// images or its oldest has waited windowMs; while one runs, the next fills up, so under load batches form
// whatever the window. The queue holds at most maxQueue images: past that, submit refuses at once (the
// service answers 429) rather than letting latency grow without bound. A request that gives up (its
// timeout) leaves the queue; if its batch already runs, its result is dropped.

/** The queue is full: answer 429, retry after `retryAfterSeconds`. */
export class QueueFullError extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super(`the queue is full; retry after ${retryAfterSeconds} s`);
    this.name = 'QueueFullError';
  }
}

interface Job<I, O> {
  key: string;
  input: I;
  arrived: number;
  resolve(o: O): void;
  reject(e: unknown): void;
  settled: boolean;
}

export interface BatcherOptions<I, O> {
  /** most images in one run (1: no batching) */
  maxBatch: number;
  /** how long the first image of a batch waits for others of its size */
  windowMs: number;
  /** most images waiting (not counting the batch that runs) */
  maxQueue: number;
  /** runs the inputs (all of one key) as one batch; one output per input, in order */
  run(inputs: I[], key: string): Promise<O[]>;
  /** after each batch: its size and how long it ran */
  onBatch?(size: number, seconds: number): void;
}

export class Batcher<I, O> {
  private readonly queue: Job<I, O>[] = [];
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  /** a running mean of seconds per batch, for Retry-After */
  private batchSeconds = 0.1;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly o: BatcherOptions<I, O>) {}

  /** Images waiting. */
  get depth(): number {
    return this.queue.length;
  }

  /** Queues one input of size `key`; settles with its output. Aborting `signal` rejects it with the signal's reason. */
  submit(key: string, input: I, signal?: AbortSignal): Promise<O> {
    if (this.queue.length >= this.o.maxQueue) {
      const batchesAhead = Math.ceil(this.queue.length / this.o.maxBatch) + 1;
      return Promise.reject(new QueueFullError(Math.max(1, Math.ceil(batchesAhead * this.batchSeconds))));
    }
    return new Promise<O>((resolve, reject) => {
      const job: Job<I, O> = { key, input, arrived: performance.now(), resolve, reject, settled: false };
      const settle = (f: () => void) => {
        if (job.settled) return;
        job.settled = true;
        signal?.removeEventListener('abort', onAbort);
        f();
      };
      job.resolve = (v) => settle(() => resolve(v));
      job.reject = (e) => settle(() => reject(e));
      const onAbort = () => {
        const at = this.queue.indexOf(job);
        if (at >= 0) this.queue.splice(at, 1);
        job.reject(signal?.reason);
        this.notifyIdle();
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(job);
      this.pump();
    });
  }

  /** Resolves once nothing waits and nothing runs (graceful shutdown). */
  idle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private notifyIdle(): void {
    if (this.running || this.queue.length > 0) return;
    for (const r of this.idleWaiters.splice(0)) r();
  }

  /** Starts the next batch when one is ready and none runs; else waits for the window of the oldest. */
  private pump(): void {
    if (this.running || this.queue.length === 0) return;
    const head = this.queue[0];
    const group = this.queue.filter((j) => j.key === head.key).slice(0, this.o.maxBatch);
    const waited = performance.now() - head.arrived;
    if (group.length < this.o.maxBatch && waited < this.o.windowMs) {
      if (this.timer === undefined)
        this.timer = setTimeout(
          () => {
            this.timer = undefined;
            this.pump();
          },
          Math.max(0, this.o.windowMs - waited),
        );
      return;
    }
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (const j of group) this.queue.splice(this.queue.indexOf(j), 1);
    this.running = true;
    void this.runBatch(group).finally(() => {
      this.running = false;
      this.pump();
      this.notifyIdle();
    });
  }

  private async runBatch(group: Job<I, O>[]): Promise<void> {
    const t0 = performance.now();
    try {
      const out = await this.o.run(
        group.map((j) => j.input),
        group[0].key,
      );
      for (const [i, j] of group.entries()) j.resolve(out[i]);
    } catch (e) {
      for (const j of group) j.reject(e);
    }
    const seconds = (performance.now() - t0) / 1000;
    this.batchSeconds = 0.8 * this.batchSeconds + 0.2 * seconds;
    this.o.onBatch?.(group.length, seconds);
  }
}
