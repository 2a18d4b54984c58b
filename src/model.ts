// A loaded model's runtime: the optimized graph with its weights on the GPU, one compiled plan per input
// shape, a queue so concurrent runs take turns, the device-loss guard, input checks, tiling and memory
// accounting. Loading (reading files, picking the architecture, building the graph) lives in src/load.ts.
import type { ArchInfo } from './arch/types.js';
import type { Graph, Shape } from './ir/graph.js';
import { type Padding, type Plan, compilePlan } from './compiler/plan.js';
import { type PadMode, checkPadMode } from './ir/types.js';
import type { ParamStore } from './compiler/params.js';
import type { Tuning } from './compiler/tuning.js';
import { type PlanEstimate, type TileSetting, decideTiling, estimatePlan } from './tiling/budget.js';
import { type Progress, slidingWindow } from './tiling/sliding.js';
import type { Blend } from './tiling/windows.js';
import { DeviceLostError, DisposedError, type GpuError, InputError, abortable, checkOptionNames, throwIfAborted } from './errors.js';
import { onUncapturedError } from './gpu/device.js';
import { withGpuErrors } from './gpu/buffers.js';
import { type ImageSource, type SegmentOptions, type SegmentResult, segment } from './segment.js';
import { shownValue } from './limits.js';
import { type NnunetSegmentOptions, type NnunetSegmentResult, type NnunetVolume, type NnunetVolumeSource, segmentNnunet } from './nnunetSegment.js';

/** An NCHW float32 tensor. */
export interface TensorData {
  data: Float32Array;
  shape: readonly number[];
}

/** What a loaded model is: its architecture's description (src/arch/types.ts ArchInfo: architecture,
 *  encoder, depth, decoderChannels, attention, upsampling, inChannels, classes, activation,
 *  preprocessing, sizeMultiple, inferred) plus where it came from and how it runs. */
export interface ModelInfo extends ArchInfo {
  /** = classes: channels of the output */
  outChannels: number;
  /** elements of the model's parameters, as PyTorch's sum(p.numel() for p in model.parameters()): conv
   *  weights and biases, BatchNorm weight and bias (its running statistics are buffers) */
  parameters: number;
  /** elements of its buffers, as sum(b.numel() for b in model.buffers()): BatchNorm running_mean,
   *  running_var and num_batches_tracked */
  buffers: number;
  /** bytes of the packed weights on the GPU (BatchNorm folded in, channels padded to vec4) */
  weightBytes: number;
  /** where the weights came from (file or folder name, or '<bytes>') */
  source: string;
  /** the `__metadata__` of the weights file */
  metadata: Record<string, string>;
  /** where the kernel configuration came from: 'given' (LoadOptions.tuning), 'measured' (cached by
   *  `unet tune` for this adapter and architecture) or 'default' (picked by adapter class) */
  tuning: 'given' | 'measured' | 'default';
  precision: 'f32' | 'f16';
  /** problems that do not stop the model from loading (NaN or Inf in the weights), one line each */
  warnings: string[];
  /** the compiled-plan cache, read live: its bound (LoadOptions.planCacheBytes), plans and bytes held,
   *  plans evicted so far (set by Model) */
  readonly planCache?: PlanCacheInfo;
}

/** The compiled plans a model keeps, one per input shape, least recently used evicted first. */
export interface PlanCacheInfo {
  /** the bound on bytes held (one plan larger than it is still kept, alone) */
  maxBytes: number;
  plans: number;
  bytes: number;
  /** plans freed to stay within maxBytes, since load */
  evictions: number;
}

export interface RunOptions {
  /** overrides LoadOptions.pad for this call */
  pad?: PadMode;
  /**
   * Sliding-window inference. 'auto' (default): one pass when the input fits the device's limits, else
   * windows chosen to fit; false: always one pass (an input that does not fit is an error); an object
   * of TileOptions: windows of that roi / overlap / blend / batch, or 'auto' within its memoryBudgetBytes.
   */
  tile?: TileSetting;
  /** called after each batch of windows (after the one pass when not tiled); throwing from it ends the
   *  run with that error */
  onProgress?: (p: Progress) => void;
  /** 'error' (default): an input holding NaN or Inf is refused, naming the first such value;
   *  'propagate': it runs, and outputs whose receptive field reaches such a value are unspecified (NaN) */
  nonFinite?: 'error' | 'propagate';
  /** aborting rejects the run with an AbortError at once; the work stops at its next check (between
   *  window batches, before and after each GPU submission) and the model stays usable */
  signal?: AbortSignal;
}

const RUN_OPTIONS: readonly (keyof RunOptions)[] = ['pad', 'tile', 'onProgress', 'nonFinite', 'signal'];

/** model.runPath(): how run() takes a shape, and why. */
export interface RunPath {
  path: 'one pass' | 'bands' | 'windows';
  why: string;
  /** the plan's figures (for windows: one window batch's) */
  estimate: PlanEstimate;
}

export interface RunResult {
  data: Float32Array;
  shape: Shape;
  /** how the input was cut, when it ran in windows */
  tiling?: { roi: [number, number]; overlap: number; blend: Blend; batch: number; windows: number; batches: number; warning?: string };
}

/** GPU memory this model holds: buffers it created, as their sizes add up (pipelines not counted). */
export interface GpuMemory {
  /** the packed weights */
  weightBytes: number;
  /** the compiled plans: activation arenas, input / output / readback buffers, shape uniforms */
  planBytes: number;
  totalBytes: number;
  /** the most totalBytes has been since load (or resetPeak) */
  peakBytes: number;
  plans: number;
  /** the plan cache's bound and its evictions so far (see PlanCacheInfo) */
  planCacheBytes: number;
  evictions: number;
}

/**
 * The default bound of the plan cache: 4 x maxStorageBufferBindingSize, at most maxBufferSize. It keeps
 * several plans of ordinary sizes (a U-Net's arena holds the few activations alive at once: its skips plus
 * one layer's input and output), 512 MiB on lavapipe (128 MiB bindings), where sizes 400^2 to 1096^2 of a
 * resnet U-Net took 2.4 GB unbounded. A larger plan (an image whose layers run in bands) evicts the others
 * and is kept alone.
 */
export function defaultPlanCacheBytes(limits: Pick<GPUSupportedLimits, 'maxStorageBufferBindingSize' | 'maxBufferSize'>): number {
  return Math.min(4 * limits.maxStorageBufferBindingSize, limits.maxBufferSize);
}

export class Model {
  /** compiled plans by planKey, least recently used first (Map order; a use moves a plan to the end) */
  private readonly plans = new Map<string, Plan>();
  /** plans a run is using now: never evicted */
  private readonly running = new Set<Plan>();
  private readonly planCacheBytes: number;
  private evictions = 0;
  /** runs are chained so concurrent calls reuse a plan's buffers one after another */
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;
  private lostInfo: GPUDeviceLostInfo | undefined;
  /** runs in flight, rejected at once if the device is lost */
  private readonly onLost = new Set<(e: Error) => void>();
  private planBytes = new Map<string, number>();
  private peakBytes = 0;
  /** the bytes one binding may take: nodes past it run in bands */
  readonly bindingLimit: number;

  constructor(
    readonly device: GPUDevice,
    readonly info: ModelInfo,
    readonly graph: Graph,
    private readonly params: ParamStore,
    private readonly tuning: Tuning,
    private readonly padMode: PadMode = 'reflect',
    /** bound on the compiled plans' bytes (default defaultPlanCacheBytes(device.limits)) */
    planCacheBytes?: number,
    /** most bytes one storage binding may take (default, and at most, maxStorageBufferBindingSize): nodes
     *  past it run in bands (LoadOptions.maxBindingBytes) */
    maxBindingBytes?: number,
  ) {
    checkPadMode(padMode, 'pad');
    if (planCacheBytes !== undefined && !(typeof planCacheBytes === 'number' && planCacheBytes >= 0 && Number.isFinite(planCacheBytes))) {
      throw new InputError(`planCacheBytes must be a number of bytes >= 0, found ${shownValue(planCacheBytes)}`);
    }
    this.planCacheBytes = planCacheBytes ?? defaultPlanCacheBytes(device.limits);
    if (maxBindingBytes !== undefined && !(Number.isSafeInteger(maxBindingBytes) && maxBindingBytes >= 256)) {
      throw new InputError(`maxBindingBytes must be an integer number of bytes >= 256, found ${shownValue(maxBindingBytes)}`);
    }
    this.bindingLimit = Math.min(maxBindingBytes ?? Number.POSITIVE_INFINITY, device.limits.maxStorageBufferBindingSize);
    Object.defineProperty(info, 'planCache', { get: () => this.planCacheInfo(), enumerable: true, configurable: true });
    // nnU-Net's plans and dataset.json: read by segment(), kept out of JSON dumps of info
    if (info.nnunet !== undefined) Object.defineProperty(info, 'nnunet', { value: info.nnunet, enumerable: false, configurable: true });
    this.peakBytes = params.sizeBytes;
    device.lost.then((info) => {
      this.lostInfo = info;
      for (const reject of this.onLost) reject(this.lostError(info));
    });
  }

  /**
   * Runs the network: input NCHW [N, inChannels, H, W] -> output [N, classes, H, W] after the model's
   * activation (info.activation). Any H x W works: where info.sizeMultiple > 1 (the brain U-Net, smp's
   * UnetPlusPlus) the input is padded (centred) to its multiples on the GPU and the output cropped back,
   * which equals PyTorch on the padded input, cropped; smp's Unet runs at the input's own size, as smp
   * does. An input too large for one
   * pass runs in sliding windows (options.tile). Calls are queued: one runs at a time.
   */
  run(input: TensorData, options: RunOptions = {}): Promise<RunResult> {
    try {
      checkOptionNames(options, RUN_OPTIONS, 'run');
      checkRunOptions(options);
      throwIfAborted(options.signal, 'the run');
    } catch (e) {
      return Promise.reject(e);
    }
    return this.enqueue(() => this.runNow(input, options), options.signal);
  }

  /** `f` as the next entry of the run queue: it starts once the runs queued before it are done, and an error
   *  the device reports outside our error scopes (uncapturederror) while it is the one in flight fails it,
   *  as a GpuError. */
  private enqueue<T>(f: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    let failRun!: (e: Error) => void;
    const failed = new Promise<never>((_, reject) => (failRun = reject));
    let unwatch: (() => void) | undefined;
    const work = this.queue.then(() => {
      unwatch = onUncapturedError(this.device, failRun);
      return f();
    });
    const done = () => unwatch?.();
    work.then(done, done);
    // the next run waits for this one's GPU work even when an abort or an error rejected it early
    this.queue = work.catch(() => undefined);
    return abortable(Promise.race([work, failed]), signal, 'the run');
  }

  /**
   * Segments an image at its full resolution (sliding windows when it does not fit one pass): decoded,
   * converted to the model's channels, normalized (options.normalize, default info.preprocessing), run,
   * and read as probabilities and a mask (see src/segment.ts).
   */
  segment(volume: NnunetVolume | readonly (Uint8Array | ArrayBuffer | string)[], options?: NnunetSegmentOptions): Promise<NnunetSegmentResult>;
  segment(image: ImageSource, options?: SegmentOptions): Promise<SegmentResult>;
  /** nnU-Net models (info.family 'nnunet'): a case, predicted as nnUNetv2_predict predicts it (src/nnunetSegment.ts);
   *  the result is an NnunetSegmentResult (labels at the case's geometry, nifti()) */
  segment(volume: NnunetVolumeSource, options?: NnunetSegmentOptions): Promise<NnunetSegmentResult | SegmentResult>;
  segment(image: ImageSource | NnunetVolumeSource, options?: SegmentOptions | NnunetSegmentOptions): Promise<SegmentResult | NnunetSegmentResult> {
    if (this.info.family === 'nnunet') return segmentNnunet(this, image as NnunetVolumeSource, options as NnunetSegmentOptions);
    return segment(this, image as ImageSource, options as SegmentOptions);
  }

  /**
   * Runs `f` as one run of this model: after the runs queued before it and before those queued after, with
   * device loss and disposal reported as run() reports them. For work that drives the compiled plans itself
   * (nnU-Net's sliding windows): no other run evicts the plan it uses while it holds the queue.
   */
  exclusive<T>(f: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    try {
      throwIfAborted(signal, 'the run');
    } catch (e) {
      return Promise.reject(e);
    }
    return this.enqueue(() => {
      this.checkUsable();
      return this.guard(f);
    }, signal);
  }

  /** What running `shape` in one pass would take on the GPU, computed without allocating anything. */
  estimate(shape: readonly number[], options: Pick<RunOptions, 'pad'> = {}): PlanEstimate {
    checkOptionNames(options, ['pad'], 'estimate');
    if (options.pad !== undefined) checkPadMode(options.pad, 'pad');
    const s = this.checkShape(shape);
    return this.estimatePadded(s, this.padding(s, options.pad ?? this.padMode));
  }

  /** estimate() of a shape and padding already checked (the plan cache's and the tiling decision's). */
  private estimatePadded(s: Shape, p: Padding): PlanEstimate {
    return estimatePlan(
      this.graph,
      s,
      [p.H, p.W],
      this.info.precision === 'f16',
      this.device.limits.minStorageBufferOffsetAlignment,
      this.tuning,
      this.bindingLimit,
      this.device.limits.maxBufferSize,
    );
  }

  /**
   * Which way run() takes `shape` and why, decided as run() decides it and without allocating: 'one pass'
   * (every binding fits), 'bands' (one pass whose largest layers run in bands of rows under the binding
   * limit: the same result as one pass) or 'windows' (sliding windows: past the memory budget or
   * maxBufferSize; an approximation, see README "Large images").
   */
  runPath(shape: readonly number[], options: Pick<RunOptions, 'pad' | 'tile'> = {}): RunPath {
    checkOptionNames(options, ['pad', 'tile'], 'runPath');
    if (options.pad !== undefined) checkPadMode(options.pad, 'pad');
    const s = this.checkShape(shape);
    const estimate = (sh: Shape) => this.estimatePadded(sh, this.padding(sh, options.pad ?? this.padMode));
    const d = decideTiling(s, options.tile, estimate, this.device.limits, this.info.sizeMultiple);
    const e = d.estimate;
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    const memory = `${mib(e.totalBytes)} of GPU memory besides the weights`;
    if (d.tiled) {
      const st = d.settings;
      return { path: 'windows', why: `${d.why}: windows of ${st.roi.join('x')} in batches of ${st.batch} (${memory} a batch)`, estimate: e };
    }
    if (e.bandedNodes === 0) return { path: 'one pass', why: `every binding fits the ${mib(this.bindingLimit)} binding limit; ${memory}`, estimate: e };
    return {
      path: 'bands',
      why: `${e.bandedNodes} layers pass the ${mib(this.bindingLimit)} binding limit and run in ${e.bands} bands of rows (the same result as one pass); ${memory}`,
      estimate: e,
    };
  }

  /** GPU memory held by this model (0 once disposed). */
  gpuMemory(): GpuMemory {
    const weightBytes = this.disposed ? 0 : this.params.sizeBytes;
    let planBytes = 0;
    for (const b of this.planBytes.values()) planBytes += b;
    return {
      weightBytes,
      planBytes,
      totalBytes: weightBytes + planBytes,
      peakBytes: this.peakBytes,
      plans: this.plans.size,
      planCacheBytes: this.planCacheBytes,
      evictions: this.evictions,
    };
  }

  private planCacheInfo(): PlanCacheInfo {
    const m = this.gpuMemory();
    return { maxBytes: this.planCacheBytes, plans: m.plans, bytes: m.planBytes, evictions: this.evictions };
  }

  /** gpuMemory().totalBytes */
  gpuBytes(): number {
    return this.gpuMemory().totalBytes;
  }

  /** Starts peakBytes over from what is held now. */
  resetPeak(): void {
    this.peakBytes = this.gpuBytes();
  }

  /** Frees the compiled plans (after the runs already queued); later runs compile again. */
  releasePlans(): Promise<void> {
    const done = this.queue.then(() => {
      for (const key of [...this.plans.keys()]) this.dropPlan(key);
    });
    this.queue = done.catch(() => undefined);
    return done;
  }

  /**
   * The compiled plan for an input shape (compiled on first use, then cached). The cache keeps at most
   * LoadOptions.planCacheBytes of plans: compiling one evicts (and frees) the least recently used others,
   * except plans a run is using, so a plan returned here stays valid until a later plan() of another shape
   * or releasePlans().
   */
  plan(shape: readonly number[], options: RunOptions = {}): Plan {
    this.checkUsable();
    const s = this.checkShape(shape);
    const padding = this.padding(s, options.pad ?? this.padMode);
    const key = this.planKey(s, padding);
    let plan = this.plans.get(key);
    if (plan) {
      // most recently used goes last
      this.plans.delete(key);
      this.plans.set(key, plan);
      return plan;
    }
    // make room first, so the peak stays near the bound: the estimate is what compilePlan allocates
    this.evictFor(this.estimatePadded(s, padding).totalBytes);
    plan = compilePlan(this.device, this.graph, this.params, this.tuning, s, s.length === 5 ? undefined : padding, this.info.precision === 'f16', {
      bindingLimit: this.bindingLimit,
    });
    this.plans.set(key, plan);
    this.planBytes.set(key, gpuBytesOf(plan));
    this.evictFor(0, plan);
    this.peakBytes = Math.max(this.peakBytes, this.gpuBytes());
    return plan;
  }

  /** Frees least recently used plans until `incomingBytes` more fit the bound; never `keep` or a running plan. */
  private evictFor(incomingBytes: number, keep?: Plan): void {
    let held = this.gpuMemory().planBytes;
    for (const [key, p] of this.plans) {
      if (held + incomingBytes <= this.planCacheBytes) return;
      if (p === keep || this.running.has(p)) continue;
      held -= this.planBytes.get(key) ?? 0;
      this.dropPlan(key);
      this.evictions++;
    }
  }

  private dropPlan(key: string): void {
    this.plans.get(key)?.dispose();
    this.plans.delete(key);
    this.planBytes.delete(key);
  }

  private async runNow(input: TensorData, options: RunOptions): Promise<RunResult> {
    throwIfAborted(options.signal, 'the run');
    this.checkUsable();
    const s = this.checkInput(input);
    // run() checked the options before queueing the run: nonFinite is 'error', 'propagate' or undefined
    if (options.nonFinite !== 'propagate') checkFinite(input.data, s);
    const limits = this.device.limits;
    const decision = decideTiling(
      s,
      options.tile,
      (shape) => this.estimatePadded(shape, this.padding(shape, options.pad ?? this.padMode)),
      limits,
      this.info.sizeMultiple,
    );
    if (!decision.tiled) {
      const out = await this.runPlan(input.data, s, options);
      options.onProgress?.({ done: 1, total: 1 });
      return out;
    }
    const st = decision.settings;
    const r = await slidingWindow(input, this.info.classes, st, async (x) => (await this.runPlan(x.data, x.shape, options)).data, options.onProgress);
    return {
      data: r.data,
      shape: r.shape,
      tiling: { roi: r.roi, overlap: st.overlap, blend: st.blend, batch: st.batch, windows: r.windows, batches: r.batches, ...this.globalPoolingWarning() },
    };
  }

  /**
   * Models that pool over the whole image (squeeze-excite, scse) see a window's average, not the image's,
   * so their tiled outputs differ from one pass everywhere, not only near window edges. Said once per
   * model (added to info.warnings the first time it runs in windows) and with every tiled result.
   */
  private globalPoolingWarning(): { warning?: string } {
    if (!this.graph.nodes.some((n) => n.op.kind === 'globalAvgPool')) return {};
    const warning =
      'this model pools over the whole image (squeeze-excite or scse attention): in sliding windows its outputs differ from one pass everywhere, not only at window edges; use windows as large as memory allows';
    if (!this.info.warnings.includes(warning)) this.info.warnings.push(warning);
    return { warning };
  }

  /** One pass of a checked input through its (cached) plan, failing clearly if the device is lost. */
  private async runPlan(data: Float32Array, shape: Shape, options: RunOptions): Promise<RunResult> {
    return this.guard(async () => {
      throwIfAborted(options.signal, 'the run');
      const plan = await this.checkedPlan(shape, options);
      this.running.add(plan);
      try {
        const out = await plan.run(data);
        throwIfAborted(options.signal, 'the run');
        return { data: out, shape: plan.outputShape };
      } finally {
        this.running.delete(plan);
      }
    });
  }

  /** Runs `f`, turning a failure (or a hang) caused by device loss or disposal into a clear error. */
  private async guard<T>(f: () => Promise<T>): Promise<T> {
    let reject!: (e: Error) => void;
    const lost = new Promise<never>((_, r) => (reject = r));
    this.onLost.add(reject);
    try {
      return await Promise.race([f(), lost]);
    } catch (e) {
      // the loss may be reported just after the failure it caused
      if (!this.lostInfo) await Promise.race([this.device.lost, new Promise((r) => setTimeout(r, 20))]);
      if (this.lostInfo) throw this.lostError(this.lostInfo, e);
      if (this.disposed) throw new DisposedError('this model was disposed during the run: load it again to run it', { cause: e });
      throw e;
    } finally {
      this.onLost.delete(reject);
    }
  }

  private lostError(info: GPUDeviceLostInfo, cause?: unknown): Error {
    const why = [info.reason, info.message].filter((s) => s && s !== 'undefined').join(': ') || 'unknown reason';
    return new DeviceLostError(
      `the GPU device was lost (${why}): get a new device with getDevice() and load the model again`,
      cause === undefined ? undefined : { cause },
    );
  }

  private checkUsable(): void {
    if (this.disposed) throw new DisposedError('this model was disposed: load it again to run it');
    if (this.lostInfo) throw this.lostError(this.lostInfo);
  }

  /** The input's shape, after checking it and its data. */
  private checkInput(input: TensorData): Shape {
    if (typeof input !== 'object' || input === null)
      throw new InputError(`input: expected { data: Float32Array, shape: [N, C, H, W] }, found ${input === null ? 'null' : typeof input}`);
    const s = this.checkShape(input.shape);
    if (!(input.data instanceof Float32Array)) {
      const found =
        input.data === null ? 'null' : typeof input.data === 'object' ? ((input.data as object).constructor?.name ?? 'an object') : typeof input.data;
      throw new InputError(`input: data must be a Float32Array, found ${found}`);
    }
    const n = s.reduce((a, b) => a * b, 1);
    if (input.data.length !== n) throw new InputError(`input: data has ${input.data.length} values, shape [${s}] needs ${n}`);
    return s;
  }

  private planKey(s: Shape, p: Padding): string {
    return `${s.join('x')}/${p.mode}`;
  }

  /** Centred padding to the next multiples of sizeMultiple (3D inputs run as they are: H and W are their
   *  own, and the plan is compiled unpadded). */
  private padding(s: Shape, mode: PadMode): Padding {
    const [H, W] = s.slice(-2);
    if (s.length === 5) return { H, W, top: 0, left: 0, mode };
    const m = this.info.sizeMultiple;
    const [PH, PW] = [Math.ceil(H / m) * m, Math.ceil(W / m) * m];
    return { H: PH, W: PW, top: (PH - H) >> 1, left: (PW - W) >> 1, mode };
  }

  /** plan(), with the WebGPU validation and out-of-memory errors of a first compile as a GpuError. */
  private async checkedPlan(shape: readonly number[], options: RunOptions): Promise<Plan> {
    const s = this.checkShape(shape);
    const key = this.planKey(s, this.padding(s, options.pad ?? this.padMode));
    const compiled = this.plans.has(key);
    if (compiled) return this.plan(shape, options);
    const { result: plan, errors } = withGpuErrors(this.device, `compiling the model for input [${shape}]`, () => this.plan(shape, options));
    const err: GpuError | undefined = await errors;
    if (err) {
      this.dropPlan(key);
      throw err;
    }
    return plan;
  }

  private checkShape(shape: readonly number[]): Shape {
    const dims = this.info.dims ?? 2;
    const names = dims === 3 ? '[N, C, D, H, W]' : '[N, C, H, W]';
    if (!Array.isArray(shape)) throw new InputError(`input: shape must be an array ${names}, found ${shape === null ? 'null' : typeof shape}`);
    if (shape.length !== dims + 2)
      throw new InputError(
        `input: shape ${shownValue(shape)} has ${shape.length} dimensions, expected ${dims + 2}: ${names}${dims === 3 ? ' (a 3D model)' : ''}`,
      );
    if (!shape.every((d) => Number.isSafeInteger(d) && d > 0)) {
      const zero = shape.some((d) => d === 0) ? ' (a zero-size input has nothing to segment)' : '';
      throw new InputError(`input: shape ${shownValue(shape)} is not ${names} with positive integer sizes${zero}`);
    }
    const multiples = this.info.sizeMultiples;
    if (dims === 3 && multiples) {
      const axis = shape.slice(2).findIndex((d, i) => d % multiples[i] !== 0);
      if (axis >= 0)
        throw new InputError(
          `input: shape ${shownValue(shape)}: ${'DHW'[axis]} ${shape[axis + 2]} is not a multiple of ${multiples[axis]}; this 3D network takes sizes that are multiples of [${multiples}] (its strides)`,
        );
    }
    const C = shape[1];
    if (C !== this.info.inChannels) throw new InputError(`input: has ${C} channels, the model expects ${this.info.inChannels}`);
    return [...shape] as Shape;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const key of [...this.plans.keys()]) this.dropPlan(key);
    this.params.destroy();
  }
}

/** Bytes of the buffers a compiled plan holds: what compilePlan creates (sizes rounded up to 4 bytes, as
 *  createBuffer does), and the shape uniforms its steps own. */
function gpuBytesOf(plan: Plan): number {
  const b = (n: number) => Math.max(4, Math.ceil(n / 4) * 4);
  const numel = (s: readonly number[]) => s.reduce((a, x) => a * x, 1);
  let bytes = b(numel(plan.inputShape) * 4) + b(plan.memory.arenaBytes) + 2 * b(numel(plan.outputShape) * 4);
  for (const s of plan.steps) for (const u of s.owned) bytes += u.size;
  return bytes;
}

/** The types of run()'s options, checked before the run is queued (the tile settings are checked where
 *  they are decided, src/tiling/budget.ts). */
function checkRunOptions(o: RunOptions): void {
  if (o.pad !== undefined) checkPadMode(o.pad, 'pad');
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function')
    throw new InputError(`run: onProgress must be a function, found ${shownValue(o.onProgress)}`);
  if (o.nonFinite !== undefined && o.nonFinite !== 'error' && o.nonFinite !== 'propagate') {
    throw new InputError(`run: nonFinite must be 'error' or 'propagate', found ${shownValue(o.nonFinite)}`);
  }
}

/** Index of the first NaN or Inf in `data`, or -1. v * 0 is 0 for a finite v and NaN otherwise, so a
 *  block's sums say whether it holds one without a branch per value; four sums let V8 overlap the adds.
 *  4 x 3 x 512 x 512 (12 MiB): 2.2 ms here, against 4.0 ms for a loop that tests each value. */
export function firstNonFinite(data: Float32Array): number {
  const BLOCK = 4096;
  for (let start = 0; start < data.length; start += BLOCK) {
    const end = Math.min(data.length, start + BLOCK);
    let s0 = 0,
      s1 = 0,
      s2 = 0,
      s3 = 0;
    let i = start;
    for (; i + 3 < end; i += 4) {
      s0 += data[i] * 0;
      s1 += data[i + 1] * 0;
      s2 += data[i + 2] * 0;
      s3 += data[i + 3] * 0;
    }
    for (; i < end; i++) s0 += data[i] * 0;
    if (s0 + s1 + s2 + s3 === 0) continue;
    for (i = start; i < end; i++) if (data[i] - data[i] !== 0) return i;
  }
  return -1;
}

/** Throws for the first NaN or Inf of an NCHW input, naming its index and position. */
function checkFinite(data: Float32Array, shape: Shape): void {
  const i = firstNonFinite(data);
  if (i >= 0) {
    const v = data[i];
    // the index's coordinates, last axis fastest
    const names = shape.length === 5 ? ['n', 'c', 'z', 'y', 'x'] : ['n', 'c', 'y', 'x'];
    const at: string[] = [];
    let rest = i;
    for (let a = shape.length - 1; a >= 0; a--) {
      at.unshift(`${names[a]} ${rest % shape[a]}`);
      rest = Math.floor(rest / shape[a]);
    }
    throw new InputError(
      `input: holds ${Number.isNaN(v) ? 'NaN' : v > 0 ? 'Inf' : '-Inf'} at index ${i} (${at.join(', ')}); ` +
        `inputs must be finite (run with { nonFinite: 'propagate' } to pass them through)`,
    );
  }
}
