// Compiling a graph for one input shape, and running it.
// compilePlan() does all the work once: shapes, memory plan, pipelines, bind groups, dispatch sizes.
// Plan.run() then uploads the input, records every step into one compute pass of one command buffer,
// submits once and reads the output back once.
import { DisposedError, InputError, UnsupportedError } from '../errors.js';
import { createBuffer, readBack, withGpuErrors } from '../gpu/buffers.js';
import { isSoftwareAdapter } from '../gpu/device.js';
import { type BufferRange, type Nhwc4View, type Step, encodeSteps } from '../kernels/common.js';
import { nchwToNhwc4Step, nhwc4ToNchwStep } from '../kernels/layout.js';
import type { PadMode } from '../ir/types.js';
import { inferShapes, runSteps, tileFor, withDef, withoutF16 } from '../ops/index.js';
import { type Graph, type Shape, type ValueId, storageC4 } from '../ir/graph.js';
import { type MemoryPlan, planMemory } from './memory.js';
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
    private readonly buffers: { input: GPUBuffer; arena: GPUBuffer; output: GPUBuffer; readback: GPUBuffer },
    /** the adapter runs on the CPU (isSoftwareAdapter): sleep through most of a run before waiting */
    readonly software = false,
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
    return new Float32Array(data);
  }

  /** Writes an NCHW input of inputShape into the plan's input buffer (queued: ordered with submits). */
  upload(input: Float32Array): void {
    if (this.disposed)
      throw new DisposedError(
        'this plan was disposed (the model freed it: releasePlans, dispose, or evicted from its plan cache); get it again with model.plan()',
      );
    this.device.queue.writeBuffer(this.buffers.input, 0, input.buffer, input.byteOffset, input.byteLength);
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
      `activation arena ${mib(this.memory.arenaBytes)} (${mib(this.memory.unsharedBytes)} without reuse${this.memory.scratchBytes ? `; ${mib(this.memory.scratchBytes)} of it scratch` : ''})`,
    );
    return lines.join('\n');
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const b of Object.values(this.buffers)) b.destroy();
    for (const s of this.steps) for (const b of s.owned) b.destroy();
  }
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

/** The memory plan of `g` at `shape` (the graph's own input size, after padding), as compilePlan makes it
 *  with `tuning` (which decides the nodes' scratch needs; without it, none is counted). */
export function memoryPlanOf(g: Graph, shape: Shape, alignment: number, f16: boolean, tuning?: Tuning): { shapes: Map<ValueId, Shape>; memory: MemoryPlan } {
  const shapes = inferShapes(g, shape);
  const steps = runSteps(g);
  const access = [{ reads: [], writes: [g.input] }, ...steps.map(({ reads, writes }) => ({ reads, writes })), { reads: [g.output], writes: [] }];
  const memory = planMemory(g, shapes, access, alignment, f16 ? 8 : 16);
  if (!tuning) return { shapes, memory };
  const align = (n: number) => Math.ceil(n / alignment) * alignment;
  const start = align(memory.arenaBytes);
  let scratchBytes = 0;
  for (const { node } of steps) {
    const ctx = { g, node, shapeOf: (v: ValueId) => shapes.get(v)!, tuning, tile: tileFor(tuning, g, node), f16 };
    const sizes = withDef(node, (op, def) => def.scratch?.(op, ctx) ?? []);
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
    memory.scratchBytes = scratchBytes;
    memory.arenaBytes = start + scratchBytes;
  }
  return { shapes, memory };
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
  const { shapes, memory } = memoryPlanOf(g, padding ? [N, C, pad.H, pad.W] : inputShape, device.limits.minStorageBufferOffsetAlignment, f16, tuning);
  const maxBinding = device.limits.maxStorageBufferBindingSize;
  for (const a of memory.allocations.values()) {
    if (a.sizeBytes > maxBinding) {
      throw new InputError(
        `input [${inputShape}]: activation "${g.values[a.root].name}" needs ${a.sizeBytes} bytes, more than this ` +
          `adapter's maxStorageBufferBindingSize (${maxBinding}); use a smaller input or tiles`,
      );
    }
  }
  for (const [name, regions] of memory.scratch) {
    for (const r of regions) {
      if (r.size > maxBinding)
        throw new InputError(
          `input [${inputShape}]: ${name} needs ${r.size} bytes of scratch, more than this adapter's maxStorageBufferBindingSize (${maxBinding}); use a smaller input or tiles`,
        );
    }
  }
  if (memory.arenaBytes > device.limits.maxBufferSize) {
    throw new InputError(`input [${inputShape}]: activations need ${memory.arenaBytes} bytes, more than maxBufferSize (${device.limits.maxBufferSize})`);
  }

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
  const buffers = {
    input: createBuffer(device, 'input nchw', numElements(inputShape) * 4, usage | GPUBufferUsage.COPY_DST),
    arena: createBuffer(device, 'activations', memory.arenaBytes, usage),
    output: createBuffer(device, 'output nchw', numElements(outputShape) * 4, usage | GPUBufferUsage.COPY_SRC),
    readback: createBuffer(device, 'readback', numElements(outputShape) * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST),
  };

  const view = (v: ValueId): Nhwc4View => {
    const loc = memory.location.get(v)!;
    return { c4Stride: storageC4(g.values[loc.root]), c4Offset: loc.c4Offset };
  };
  const range = (v: ValueId): BufferRange => {
    const a = memory.allocations.get(memory.location.get(v)!.root)!;
    return { buffer: buffers.arena, offset: a.offset, size: a.sizeBytes };
  };
  const shapeOf = (v: ValueId): Shape => shapes.get(v)!;
  const workgroupSize = tuning.elementwiseWorkgroupSize;

  const steps: Step[] = [
    nchwToNhwc4Step(
      device,
      { N, C, H: pad.H, W: pad.W, view: view(g.input), workgroupSize, window, f16 },
      { input: { buffer: buffers.input }, output: range(g.input) },
      'input',
    ),
  ];
  // exhaustive: withDef throws for an op with no registry entry ("unknown op"), so no node is skipped
  for (const { node } of runSteps(g)) {
    const scratch = (memory.scratch.get(node.name) ?? []).map((r) => ({ buffer: buffers.arena, offset: r.offset, size: r.size }));
    const ctx = {
      device,
      g,
      node,
      shapeOf,
      view,
      range,
      params: params.ranges.get(node.name) ?? [],
      tuning,
      tile: tileFor(tuning, g, node),
      f16,
      workgroupSize,
      scratch,
    };
    steps.push(...withDef(node, (op, def) => def.compile(op, ctx)));
  }
  steps.push(
    nhwc4ToNchwStep(
      device,
      { N, C: OC, H: OH, W: OW, view: view(g.output), workgroupSize, window: outWindow, f16 },
      { input: range(g.output), output: { buffer: buffers.output } },
      'output',
    ),
  );
  const plan = new Plan(device, inputShape, outputShape, steps, memory, buffers, isSoftwareAdapter(device));
  const tooLarge = dispatchOverLimit(steps, device.limits.maxComputeWorkgroupsPerDimension);
  if (tooLarge) {
    plan.dispose();
    throw new UnsupportedError(`input [${inputShape}]: ${tooLarge}`);
  }
  return plan;
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
