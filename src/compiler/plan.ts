// Compiling a graph for one input shape, and running it.
// compilePlan() does all the work once: shapes, memory plan, pipelines, bind groups, dispatch sizes.
// Plan.run() then uploads the input, records every step into one compute pass of one command buffer,
// submits once and reads the output back once.
import { DisposedError, InputError, UnsupportedError } from '../errors.js';
import { createBuffer, readBack, withGpuErrors } from '../gpu/buffers.js';
import { isSoftwareAdapter } from '../gpu/device.js';
import { type BufferRange, type Nhwc4View, type Step, encodeSteps } from '../kernels/common.js';
import { type LayoutSpec, nchwToNhwc4Step, nhwc4ToNchwStep } from '../kernels/layout.js';
import type { PadMode } from '../ir/types.js';
import { inferShapes, runSteps, tileFor, withDef, withoutF16 } from '../ops/index.js';
import type { Band, Graph, Node, Shape, ValueId } from '../ir/graph.js';
import { type BandWindows, type Storage, bindRows, planBands, reduceBandWindows, rowsBandWindows, rowsOf, windowOf } from './bands.js';
import { type MemoryPlan, chunkOf, planMemory } from './memory.js';
import type { ParamStore } from './params.js';
import type { Tuning } from './tuning.js';

const numElements = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

export class Plan {
  /** wall times of recent runs (the first, which compiles, excluded): on a software adapter their minimum
   *  is how long the next run sleeps before waiting for the GPU, instead of busy-polling (see readBack) */
  private recentMs: number[] = [];
  private runs = 0;
  private disposed = false;

  constructor(
    private readonly device: GPUDevice,
    readonly inputShape: Shape,
    readonly outputShape: Shape,
    readonly steps: Step[],
    readonly memory: MemoryPlan,
    private readonly buffers: { input: GPUBuffer; arenas: GPUBuffer[]; output: GPUBuffer; readback: GPUBuffer },
    /** the adapter runs on the CPU (isSoftwareAdapter): sleep through most of a run before waiting */
    readonly software = false,
    /** the order of the input and output buffers: 'nchw', or 'rows' ((n, y, c, x)) for one past the binding
     *  limit, whose bands of rows are then single windows; run() and upload() reorder on the host */
    readonly order: { input: 'nchw' | 'rows'; output: 'nchw' | 'rows' } = { input: 'nchw', output: 'nchw' },
    /** the nodes that run in bands, with their bands (src/compiler/bands.ts) */
    readonly bands: ReadonlyMap<string, readonly Band[]> = new Map(),
  ) {}

  /** Runs the forward on `input`; a validation or out-of-memory error of this run rejects with a GpuError
   *  (never a silently stale output). */
  async run(input: Float32Array): Promise<Float32Array> {
    const t0 = performance.now();
    const { device, buffers } = this;
    const outBytes = numElements(this.outputShape) * 4;
    const { errors } = withGpuErrors(device, `the forward pass on input [${this.inputShape}]`, () => {
      this.upload(input);
      const encoder = device.createCommandEncoder({ label: 'forward' });
      this.encode(encoder);
      encoder.copyBufferToBuffer(buffers.output, 0, buffers.readback, 0, outBytes);
      device.queue.submit([encoder.finish()]);
    });
    // Only a software adapter sleeps first: there polling takes a core from the rasterizer, while on a GPU
    // it costs nothing and a timer (1 ms granularity at best) would only add latency to a few-ms forward.
    const expectedMs = this.software && this.recentMs.length ? Math.min(...this.recentMs) : 0;
    const read = readBack(buffers.readback, outBytes, expectedMs);
    // a failed submit leaves the readback buffer as it was: the scopes' error wins over what was read
    const [error, data] = await Promise.all([errors, read.catch((e: unknown) => e)]);
    if (error) throw error;
    if (!(data instanceof ArrayBuffer)) throw data;
    if (this.runs++ > 0) this.recentMs = [...this.recentMs.slice(-2), performance.now() - t0];
    const out = new Float32Array(data);
    return this.order.output === 'rows' ? rowsToNchw(out, this.outputShape) : out;
  }

  /** Writes an NCHW input of inputShape into the plan's input buffer (queued: ordered with submits). */
  upload(input: Float32Array): void {
    if (this.disposed)
      throw new DisposedError(
        'this plan was disposed (the model freed it: releasePlans, dispose, or evicted from its plan cache); get it again with model.plan()',
      );
    if (this.order.input === 'nchw') {
      this.device.queue.writeBuffer(this.buffers.input, 0, input.buffer, input.byteOffset, input.byteLength);
      return;
    }
    // rows order, written a few MiB at a time so the host never holds a second copy of a large input
    const [N, C] = this.inputShape;
    const W = this.inputShape[this.inputShape.length - 1];
    const rows = numElements(this.inputShape) / (N * C * W);
    const chunkRows = Math.max(1, Math.floor(2 ** 22 / (C * W)));
    const staging = new Float32Array(Math.min(rows, chunkRows) * C * W);
    for (let n = 0; n < N; n++) {
      for (let y0 = 0; y0 < rows; y0 += chunkRows) {
        const count = Math.min(chunkRows, rows - y0);
        for (let y = 0; y < count; y++)
          for (let c = 0; c < C; c++) {
            const from = ((n * C + c) * rows + y0 + y) * W;
            staging.set(input.subarray(from, from + W), (y * C + c) * W);
          }
        const at = (n * rows + y0) * C * W * 4;
        this.device.queue.writeBuffer(this.buffers.input, at, staging.buffer, 0, count * C * W * 4);
      }
    }
  }

  /** Records the forward, input buffer to output buffer, as one compute pass into `encoder`; with
   *  `timestampWrites` the pass's start and end are written to a timestamp query set (GPU time). */
  encode(encoder: GPUCommandEncoder, timestampWrites?: GPUComputePassTimestampWrites): void {
    if (this.disposed)
      throw new DisposedError(
        'this plan was disposed (the model freed it: releasePlans, dispose, or evicted from its plan cache); get it again with model.plan()',
      );
    const pass = encoder.beginComputePass({ label: 'forward', ...(timestampWrites ? { timestampWrites } : {}) });
    encodeSteps(pass, this.steps);
    pass.end();
  }

  /** The buffers encode() reads (the NCHW f32 input, STORAGE) and writes (the NCHW f32 output, STORAGE |
   *  COPY_SRC), for work on the GPU around the forward (src/nnunet/sliding.ts gathers windows into one and
   *  scatters the other). */
  get io(): { input: GPUBuffer; output: GPUBuffer } {
    if (this.order.input !== 'nchw' || this.order.output !== 'nchw')
      throw new UnsupportedError(`plan for [${this.inputShape}]: its input or output passes one binding and is held in rows order, not NCHW`);
    return { input: this.buffers.input, output: this.buffers.output };
  }

  /** The steps with their shapes, one per line, and the memory figures. */
  describe(): string {
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;
    const lines = this.steps.map(
      (s, i) => `${String(i).padStart(3)}  ${s.label.padEnd(34)} ${s.detail}${s.flops ? `  ${(s.flops / 1e9).toFixed(3)} GFLOP` : ''}`,
    );
    const gflop = this.steps.reduce((a, s) => a + s.flops, 0) / 1e9;
    lines.push(
      `input [${this.inputShape}] -> output [${this.outputShape}], ${this.steps.length} dispatches, ${gflop.toFixed(2)} GFLOP`,
      ...(this.bands.size
        ? [`${this.bands.size} node${this.bands.size === 1 ? '' : 's'} in bands (${[...this.bands.values()].reduce((a, b) => a + b.length, 0)} bands)`]
        : []),
      `activation arena ${mib(this.memory.arenaBytes)} (${mib(this.memory.unsharedBytes)} without reuse${this.memory.scratchBytes ? `; ${mib(this.memory.scratchBytes)} of it scratch` : ''})`,
    );
    return lines.join('\n');
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const { input, arenas, output, readback } = this.buffers;
    for (const b of [input, ...arenas, output, readback]) b.destroy();
    for (const s of this.steps) for (const b of s.owned) b.destroy();
  }
}

/** `data` in rows order ((n, y, c, x); y over every spatial axis but the last) as NCHW `shape` (upload()
 *  writes the other direction a few MiB at a time). */
function rowsToNchw(data: Float32Array, shape: Shape): Float32Array {
  const [N, C] = shape;
  const W = shape[shape.length - 1];
  const rows = data.length / (N * C * W);
  const out = new Float32Array(data.length);
  for (let n = 0; n < N; n++)
    for (let y = 0; y < rows; y++)
      for (let c = 0; c < C; c++) {
        const nchw = ((n * C + c) * rows + y) * W;
        const byRows = ((n * rows + y) * C + c) * W;
        out.set(data.subarray(byRows, byRows + W), nchw);
      }
  return out;
}

/** Padding of the input to a size the graph can take; the output is cropped back by the same window. */
export interface Padding {
  /** the size the graph runs at (>= the input's) */
  H: number;
  W: number;
  /** where the input sits inside it */
  top: number;
  left: number;
  mode: PadMode;
}

/** Options of compilePlan beyond the shapes. */
export interface PlanOptions {
  /** most bytes one storage binding may take; default (and at most) the device's maxStorageBufferBindingSize.
   *  A node whose bindings would pass it runs in bands (src/compiler/bands.ts); tests force a small one */
  bindingLimit?: number;
  /** most bytes one arena buffer may take; default (and at most) the device's maxBufferSize. A larger arena is
   *  held in several buffers; tests force a small one */
  bufferLimit?: number;
}

/**
 * The memory plan of `g` at `shape` (the graph's own input size, after padding), as compilePlan makes it
 * with `tuning` (which decides the nodes' scratch needs; without it, none is counted), with the bands of
 * every node that would pass `bindingLimit` bytes in one binding (none without a limit). A node that
 * cannot be banded within the limit is an InputError.
 */
export function memoryPlanOf(
  g: Graph,
  shape: Shape,
  alignment: number,
  f16: boolean,
  tuning?: Tuning,
  bindingLimit = Number.POSITIVE_INFINITY,
  /** the largest buffer the arena may use (maxBufferSize): a larger arena is held in several */
  maxBufferSize = Number.POSITIVE_INFINITY,
): { shapes: Map<ValueId, Shape>; memory: MemoryPlan; bands: Map<string, Band[]> } {
  const shapes = inferShapes(g, shape);
  const steps = runSteps(g);
  const access = [{ reads: [], writes: [g.input] }, ...steps.map(({ reads, writes }) => ({ reads, writes })), { reads: [g.output], writes: [] }];
  const vec4Bytes = f16 ? 8 : 16;
  const chunkBytes = arenaChunkBytes(maxBufferSize, alignment);
  const memory = planMemory(g, shapes, access, alignment, vec4Bytes, chunkBytes);
  const scratchOf = (node: Node, band?: Band): number[] => {
    if (!tuning) return [];
    const ctx = { g, node, shapeOf: (v: ValueId) => shapes.get(v)!, tuning, tile: tileFor(tuning, g, node), f16, band };
    return withDef(node, (op, def) => def.scratch?.(op, ctx) ?? []);
  };
  const bands = planBands(
    { g, shapes, memory, alignment, vec4Bytes, chunkBytes },
    steps.map((s) => s.node),
    bindingLimit,
    scratchOf,
    `input [${shape}]`,
  );
  if (!tuning) return { shapes, memory, bands };
  const align = (n: number) => Math.ceil(n / alignment) * alignment;
  let start = align(memory.arenaBytes);
  let scratchBytes = 0;
  for (const { node } of steps) {
    // a banded node's regions serve one band at a time: as large as its largest band's
    const perBand = (bands.get(node.name) ?? [undefined]).map((b) => scratchOf(node, b));
    const sizes = perBand[0].map((_, i) => Math.max(...perBand.map((p) => p[i] ?? 0)));
    if (!sizes.length) continue;
    let end = start;
    const regions = sizes.map((size) => {
      const r = { offset: end, size };
      end = align(end + size);
      return r;
    });
    memory.scratch.set(node.name, regions);
    scratchBytes = Math.max(scratchBytes, end - start);
  }
  if (scratchBytes > 0) {
    // the scratch area sits in one arena buffer: past a chunk boundary it moves to the next chunk
    const chunk = chunkOf(start, chunkBytes);
    if (chunk.offset + scratchBytes > chunkBytes) {
      const moved = (chunk.index + 1) * chunkBytes - start;
      for (const regions of memory.scratch.values()) for (const r of regions) r.offset += moved;
      start += moved;
    }
    memory.scratchBytes = scratchBytes;
    memory.arenaBytes = start + scratchBytes;
  }
  return { shapes, memory, bands };
}

/** Bytes of each arena buffer but the last: maxBufferSize aligned down (a window's offset must stay aligned). */
export function arenaChunkBytes(maxBufferSize: number, alignment: number): number {
  return Number.isFinite(maxBufferSize) ? Math.floor(maxBufferSize / alignment) * alignment : maxBufferSize;
}

/** The arena's buffers: chunkBytes each, the last holding the rest. */
function arenaBuffers(device: GPUDevice, arenaBytes: number, chunkBytes: number): GPUBuffer[] {
  const count = Number.isFinite(chunkBytes) ? Math.max(1, Math.ceil(arenaBytes / chunkBytes)) : 1;
  return Array.from({ length: count }, (_, i) =>
    createBuffer(device, count === 1 ? 'activations' : `activations ${i}`, i < count - 1 ? chunkBytes : arenaBytes - i * chunkBytes, GPUBufferUsage.STORAGE),
  );
}

export function compilePlan(
  device: GPUDevice,
  g: Graph,
  params: ParamStore,
  tuning: Tuning,
  inputShape: Shape,
  padding?: Padding,
  /** activations (and, in `params`, weights) stored as f16 */
  f16 = false,
  options: PlanOptions = {},
): Plan {
  if (inputShape.length !== 4 && inputShape.length !== 5) throw new InputError(`input [${inputShape}]: expected [N, C, H, W] or [N, C, D, H, W]`);
  if (padding && inputShape.length !== 4) throw new UnsupportedError(`input [${inputShape}]: padding runs on 2D inputs only`);
  // NCDHW and NDHWC4 are NCHW and NHWC4 with D * H rows, so the layout kernels see a 3D value as a 2D one
  const rows = (s: Shape) => (s.length === 5 ? s[2] * s[3] : s[2]);
  const [N, C] = inputShape;
  const [H, W] = [rows(inputShape), inputShape[inputShape.length - 1]];
  const pad = padding ?? { H, W, top: 0, left: 0, mode: 'zero' as const };
  if (f16) {
    const missing = withoutF16(g);
    if (missing.length) throw new UnsupportedError(`${missing.join(', ')}: no f16 kernel; run this model with precision 'f32'`);
  }
  const limit = bindingLimitOf(device, options);
  const alignment = device.limits.minStorageBufferOffsetAlignment;
  const maxBuffer = Math.min(device.limits.maxBufferSize, options.bufferLimit ?? Number.POSITIVE_INFINITY);
  const { shapes, memory, bands } = memoryPlanOf(g, padding ? [N, C, pad.H, pad.W] : inputShape, alignment, f16, tuning, limit, maxBuffer);
  const chunkBytes = arenaChunkBytes(maxBuffer, alignment);

  const usage = GPUBufferUsage.STORAGE;
  const graphOutput = shapes.get(g.output)!;
  const OC = graphOutput[1];
  const [OH, OW] = [rows(graphOutput), graphOutput[graphOutput.length - 1]];
  if (padding && (OH !== pad.H || OW !== pad.W))
    throw new UnsupportedError(`padding needs an output the size of the input, the graph gives ${OH}x${OW} for ${pad.H}x${pad.W}`);
  // with padding, the output is cropped back to the input's window; without, it is the graph's output
  const outputShape: Shape = padding ? [N, OC, H, W] : graphOutput;
  const window = { srcH: H, srcW: W, top: pad.top, left: pad.left, mode: pad.mode };
  const outWindow = padding ? window : { srcH: OH, srcW: OW, top: 0, left: 0, mode: pad.mode };
  // an input or output past one binding is held in rows order ((n, y, c, x)), so a band of rows is one window
  const inputBytes = numElements(inputShape) * 4;
  const outputBytes = numElements(outputShape) * 4;
  for (const [what, bytes] of [
    ['input', inputBytes],
    ['output', outputBytes],
  ] as const) {
    if (bytes > device.limits.maxBufferSize)
      throw new InputError(`input [${inputShape}]: the ${what} needs ${bytes} bytes, more than maxBufferSize (${device.limits.maxBufferSize})`);
  }
  // (also when only the NHWC4 side passes it: the conversion then runs in bands, and a band of NCHW is no window)
  const storageOf = (v: ValueId) => memory.allocations.get(memory.location.get(v)!.root)!.sizeBytes;
  const order = (bytes: number, v: ValueId) => (bytes > limit || storageOf(v) > limit ? ('rows' as const) : ('nchw' as const));
  const io = { input: order(inputBytes, g.input), output: order(outputBytes, g.output) };
  const buffers = {
    input: createBuffer(device, 'input nchw', inputBytes, usage | GPUBufferUsage.COPY_DST),
    arenas: arenaBuffers(device, memory.arenaBytes, chunkBytes),
    output: createBuffer(device, 'output nchw', outputBytes, usage | GPUBufferUsage.COPY_SRC),
    readback: createBuffer(device, 'readback', outputBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST),
  };
  const storage = { g, shapes, memory, alignment, vec4Bytes: f16 ? 8 : 16, chunkBytes };
  const whole = (v: ValueId) => bindRows(storage, buffers.arenas, v, 'all');
  const shapeOf = (v: ValueId): Shape => shapes.get(v)!;
  const workgroupSize = tuning.elementwiseWorkgroupSize;

  const steps: Step[] = [];
  try {
    steps.push(...layoutIn(device, storage, buffers, { N, C, pad, window, io: io.input, f16, workgroupSize, limit }));
    // exhaustive: withDef throws for an op with no registry entry ("unknown op"), so no node is skipped
    for (const { node } of runSteps(g)) {
      const scratch = (memory.scratch.get(node.name) ?? []).map((r) => {
        const at = chunkOf(r.offset, chunkBytes);
        return { buffer: buffers.arenas[at.index], offset: at.offset, size: r.size };
      });
      const base = {
        device,
        g,
        node,
        shapeOf,
        view: (v: ValueId) => whole(v).view,
        range: (v: ValueId) => whole(v).range,
        params: params.ranges.get(node.name) ?? [],
        tuning,
        tile: tileFor(tuning, g, node),
        f16,
        workgroupSize,
        scratch,
      };
      const nodeBands = bands.get(node.name);
      const banding = withDef(node, (_op, def) => def.banding ?? 'rows');
      if (banding === 'reduce') {
        // one call given every band (one covering all rows when the node fits)
        const list = nodeBands ?? [{ row0: 0, rows: rowsOf(shapes.get(node.inputs[0])!) }];
        const reduceBands = list.map((band) => {
          const w = reduceBandWindows(storage, node, band);
          const bound = bindingsOf(storage, buffers.arenas, node, w);
          return { band, view: (v: ValueId) => bound(v).view, range: (v: ValueId) => bound(v).range };
        });
        steps.push(...withDef(node, (op, def) => def.compile(op, { ...base, bands: reduceBands })));
      } else if (!nodeBands) {
        steps.push(...withDef(node, (op, def) => def.compile(op, base)));
      } else {
        for (const band of nodeBands) {
          const bound = bindingsOf(storage, buffers.arenas, node, rowsBandWindows(storage, node, band));
          const banded = { ...base, band, view: (v: ValueId) => bound(v).view, range: (v: ValueId) => bound(v).range };
          const bandSteps = withDef(node, (op, def) => def.compile(op, banded));
          steps.push(...bandSteps.map((s) => ({ ...s, detail: `${s.detail} rows ${band.row0}..${band.row0 + band.rows - 1}` })));
        }
      }
    }
    steps.push(...layoutOut(device, storage, buffers, { N, OC, OH, OW, outWindow, io: io.output, f16, workgroupSize, limit }));
  } catch (e) {
    for (const b of [buffers.input, ...buffers.arenas, buffers.output, buffers.readback]) b.destroy();
    for (const s of steps) for (const b of s.owned) b.destroy();
    throw e;
  }
  const plan = new Plan(device, inputShape, outputShape, steps, memory, buffers, isSoftwareAdapter(device), io, bands);
  const tooLarge = dispatchOverLimit(steps, device.limits.maxComputeWorkgroupsPerDimension);
  if (tooLarge) {
    plan.dispose();
    throw new UnsupportedError(`input [${inputShape}]: ${tooLarge}`);
  }
  return plan;
}

/** The binding limit a plan runs under: the device's, or a smaller one asked for (tests, PlanOptions). */
export function bindingLimitOf(device: GPUDevice, options: PlanOptions = {}): number {
  const max = device.limits.maxStorageBufferBindingSize;
  const asked = options.bindingLimit;
  if (asked === undefined) return max;
  if (!Number.isSafeInteger(asked) || asked < 256) throw new InputError(`bindingLimit: expected an integer of at least 256 bytes, found ${asked}`);
  return Math.min(asked, max);
}

/** The windows of a band as ranges and views, by value (values the node does not bind are bound whole). */
function bindingsOf(s: Storage, arena: readonly GPUBuffer[], node: Node, w: BandWindows): (v: ValueId) => { range: BufferRange; view: Nhwc4View } {
  const rowsOfValue = new Map<ValueId, [number, number] | 'all'>([[node.output, w.output]]);
  node.inputs.forEach((v, k) => rowsOfValue.set(v, w.inputs[k]));
  return (v) => bindRows(s, arena, v, rowsOfValue.get(v) ?? 'all');
}

/** Bands of `total` rows, each as many rows as `fits` allows (fits is monotone in the row count). */
function greedyBands(total: number, fits: (row0: number, rows: number) => boolean, what: string, limit: number): Band[] {
  const bands: Band[] = [];
  let row0 = 0;
  while (row0 < total) {
    let lo = 0;
    let hi = 1;
    while (row0 + hi <= total && fits(row0, hi)) {
      lo = hi;
      hi *= 2;
    }
    hi = Math.min(hi, total - row0 + 1);
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (fits(row0, mid)) lo = mid;
      else hi = mid;
    }
    if (lo === 0) throw new InputError(`${what}: one row passes the binding limit (${limit} bytes); use windows (tile) or a smaller input`);
    bands.push({ row0, rows: lo });
    row0 += lo;
  }
  return bands;
}

/** What both edges of a plan (the input's and the output's conversion) are compiled with. */
interface Edge {
  /** the order of the f32 side (Plan.order) */
  io: 'nchw' | 'rows';
  f16: boolean;
  workgroupSize: number;
  /** the binding limit */
  limit: number;
}

type PlanBuffers = { input: GPUBuffer; arenas: GPUBuffer[]; output: GPUBuffer; readback: GPUBuffer };
const alignDown = (n: number, a: number) => Math.floor(n / a) * a;

/** The input's conversion to NHWC4 (padding it), in bands of NHWC4 rows when a binding would pass the limit. */
function layoutIn(
  device: GPUDevice,
  s: Storage,
  buffers: PlanBuffers,
  o: Edge & { N: number; C: number; pad: { H: number; W: number }; window: LayoutSpec['window'] & {} },
): Step[] {
  const { g } = s;
  const { N, C, pad, window: w } = o;
  const spec: LayoutSpec = {
    N,
    C,
    H: pad.H,
    W: pad.W,
    view: bindRows(s, buffers.arenas, g.input, 'all').view,
    workgroupSize: o.workgroupSize,
    window: w,
    f16: o.f16,
    order: o.io,
  };
  const total = N * pad.H;
  const fitsWhole = o.io === 'nchw';
  if (fitsWhole)
    return [nchwToNhwc4Step(device, spec, { input: { buffer: buffers.input }, output: bindRows(s, buffers.arenas, g.input, 'all').range }, 'input')];
  // the source rows (flat over N images of srcH rows) a band of padded rows reads
  const mirror = (i: number, n: number) => {
    if (n === 1) return 0;
    const period = 2 * (n - 1);
    const m = ((i % period) + period) % period;
    return m >= n ? period - m : m;
  };
  const sourceRows = (band: Band): [number, number] | undefined => {
    let lo = Number.POSITIVE_INFINITY;
    let hi = -1;
    for (let r = band.row0; r < band.row0 + band.rows; r++) {
      const n = Math.floor(r / pad.H);
      const y = (r % pad.H) - w.top;
      const sy = w.mode === 'reflect' ? mirror(y, w.srcH) : y >= 0 && y < w.srcH ? y : -1;
      if (sy < 0) continue;
      lo = Math.min(lo, n * w.srcH + sy);
      hi = Math.max(hi, n * w.srcH + sy);
    }
    return hi < 0 ? undefined : [lo, hi + 1];
  };
  const srcRowBytes = C * w.srcW * 4;
  const srcWindow = (band: Band) => {
    const rows = sourceRows(band) ?? [0, 1];
    const offset = alignDown(rows[0] * srcRowBytes, s.alignment);
    return { offset, size: rows[1] * srcRowBytes - offset };
  };
  const fits = (row0: number, rows: number) => {
    const band = { row0, rows };
    return windowOf(s, g.input, [row0, row0 + rows]).size <= o.limit && srcWindow(band).size <= o.limit;
  };
  return greedyBands(total, fits, `input [${N},${C},${w.srcH},${w.srcW}]`, o.limit).map((band) => {
    const out = bindRows(s, buffers.arenas, g.input, [band.row0, band.row0 + band.rows]);
    const src = srcWindow(band);
    return nchwToNhwc4Step(
      device,
      { ...spec, view: out.view, band, f32Offset: -src.offset / 4 },
      { input: { buffer: buffers.input, offset: src.offset, size: src.size }, output: out.range },
      'input',
    );
  });
}

/** The output's conversion to NCHW (cropping it), in bands of output rows when a binding would pass the limit. */
function layoutOut(
  device: GPUDevice,
  s: Storage,
  buffers: PlanBuffers,
  o: Edge & { N: number; OC: number; OH: number; OW: number; outWindow: LayoutSpec['window'] & {} },
): Step[] {
  const { g } = s;
  const { N, OC, OH, OW, outWindow: w } = o;
  const whole = bindRows(s, buffers.arenas, g.output, 'all');
  const spec: LayoutSpec = { N, C: OC, H: OH, W: OW, view: whole.view, workgroupSize: o.workgroupSize, window: w, f16: o.f16, order: o.io };
  if (o.io === 'nchw') return [nhwc4ToNchwStep(device, spec, { input: whole.range, output: { buffer: buffers.output } }, 'output')];
  // bands of output rows (flat over N images of srcH rows); each reads the same rows of the graph's output, moved by the crop
  const rowElements = OC * w.srcW;
  const dstWindow = (band: Band) => {
    const offset = alignDown(band.row0 * rowElements * 4, s.alignment);
    return { offset, size: (band.row0 + band.rows) * rowElements * 4 - offset };
  };
  const srcRows = (band: Band): [number, number] => {
    const first = Math.floor(band.row0 / w.srcH) * OH + (band.row0 % w.srcH) + w.top;
    const lastRow = band.row0 + band.rows - 1;
    const last = Math.floor(lastRow / w.srcH) * OH + (lastRow % w.srcH) + w.top;
    return [first, last + 1];
  };
  const fits = (row0: number, rows: number) => {
    const band = { row0, rows };
    return windowOf(s, g.output, srcRows(band)).size <= o.limit && dstWindow(band).size <= o.limit;
  };
  return greedyBands(N * w.srcH, fits, `output [${N},${OC},${w.srcH},${w.srcW}]`, o.limit).map((band) => {
    const src = bindRows(s, buffers.arenas, g.output, srcRows(band));
    const dst = dstWindow(band);
    return nhwc4ToNchwStep(
      device,
      { ...spec, view: src.view, band, f32Offset: -dst.offset / 4 },
      { input: src.range, output: { buffer: buffers.output, offset: dst.offset, size: dst.size } },
      'output',
    );
  });
}

/**
 * Why one of `steps` cannot be dispatched on a device allowing `maxPerDimension` workgroups per dimension
 * (undefined when all can). Kernels fold large grids (kernels/common.ts foldGrid), so this only refuses a
 * grid too large even folded; WebGPU would otherwise reject the command buffer and leave the output stale.
 */
export function dispatchOverLimit(steps: readonly Step[], maxPerDimension: number): string | undefined {
  for (const s of steps) {
    const axis = s.workgroups.findIndex((n) => n > maxPerDimension);
    if (axis >= 0)
      return `${s.label} (${s.detail}) needs ${s.workgroups[axis]} workgroups along ${'xyz'[axis]}, more than this device's maxComputeWorkgroupsPerDimension (${maxPerDimension})`;
  }
  return undefined;
}
