// Compiling a graph for one input shape, and running it.
// compilePlan() does all the work once: shapes, memory plan, pipelines, bind groups, dispatch sizes.
// Plan.run() then uploads the input, records every step into one compute pass of one command buffer,
// submits once and reads the output back once.
import { createBuffer, readBack } from '../gpu/buffers.js';
import { type BufferRange, type Nhwc4View, type Step, encodeSteps } from '../kernels/common.js';
import { concatStep } from '../kernels/concat.js';
import { conv2dStep } from '../kernels/conv2d.js';
import { convTranspose2x2Step } from '../kernels/convTranspose2x2.js';
import { batchNormStep } from '../kernels/batchNorm.js';
import { type PadMode, nchwToNhwc4Step, nhwc4ToNchwStep } from '../kernels/layout.js';
import { maxPool2x2Step } from '../kernels/maxPool2x2.js';
import { unaryStep } from '../kernels/unary.js';
import { type Graph, type Node, type Shape, type ValueId, inferShapes, storageC4 } from './ir.js';
import { type MemoryPlan, planMemory } from './memory.js';
import type { ParamStore } from './params.js';
import { type Tuning, tileFor } from './tuning.js';

const numElements = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

export class Plan {
  /** wall times of recent runs (the first, which compiles, excluded): their minimum is how long the
   *  next run sleeps before waiting for the GPU, instead of busy-polling (see readBack) */
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
  ) {}

  async run(input: Float32Array): Promise<Float32Array> {
    if (this.disposed) throw new Error('this plan was disposed');
    const t0 = performance.now();
    const { device, buffers } = this;
    device.queue.writeBuffer(buffers.input, 0, input.buffer, input.byteOffset, input.byteLength);
    const encoder = device.createCommandEncoder({ label: 'forward' });
    const pass = encoder.beginComputePass({ label: 'forward' });
    encodeSteps(pass, this.steps);
    pass.end();
    const outBytes = numElements(this.outputShape) * 4;
    encoder.copyBufferToBuffer(buffers.output, 0, buffers.readback, 0, outBytes);
    device.queue.submit([encoder.finish()]);
    const expectedMs = this.recentMs.length ? Math.min(...this.recentMs) : 0;
    const out = new Float32Array(await readBack(buffers.readback, outBytes, expectedMs));
    if (this.runs++ > 0) this.recentMs = [...this.recentMs.slice(-2), performance.now() - t0];
    return out;
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
      `activation arena ${mib(this.memory.arenaBytes)} (${mib(this.memory.unsharedBytes)} without reuse)`,
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

/**
 * Fewer pixels per invocation on layers too small to fill the workgroups otherwise (the bottleneck of a
 * U-Net is 8x8 at a 128x128 input): lanes past the last block compute and discard, so a half-empty
 * workgroup costs as much as a full one. The pixel tile does not change the weight packing, so this is
 * decided per input shape. `rows` = N * output height.
 */
function fillWorkgroups<T extends { tilePixels: number; workgroupSize: number }>(tile: T, rows: number, width: number): T {
  let tilePixels = tile.tilePixels;
  while (tilePixels > 1 && rows * Math.ceil(width / tilePixels) < 2 * tile.workgroupSize) tilePixels >>= 1;
  return tilePixels === tile.tilePixels ? tile : { ...tile, tilePixels };
}

/** Reads and writes of a node, for liveness. Elided concats do nothing at run time. */
const isElided = (n: Node) => n.op.kind === 'concat' && n.op.elided === true;

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
  const [N, C, H, W] = inputShape;
  const pad = padding ?? { H, W, top: 0, left: 0, mode: 'zero' as const };
  const shapes = inferShapes(g, [N, C, pad.H, pad.W]);
  const nodes = g.nodes.filter((n) => !isElided(n));
  const access = [
    { reads: [], writes: [g.input] },
    ...nodes.map((n) => ({ reads: n.inputs, writes: [n.output] })),
    { reads: [g.output], writes: [] },
  ];
  const memory = planMemory(g, shapes, access, device.limits.minStorageBufferOffsetAlignment, f16 ? 8 : 16);
  const maxBinding = device.limits.maxStorageBufferBindingSize;
  for (const a of memory.allocations.values()) {
    if (a.sizeBytes > maxBinding) {
      throw new Error(
        `input [${inputShape}]: activation "${g.values[a.root].name}" needs ${a.sizeBytes} bytes, more than this ` +
          `adapter's maxStorageBufferBindingSize (${maxBinding}); use a smaller input or tiles`,
      );
    }
  }
  if (memory.arenaBytes > device.limits.maxBufferSize) {
    throw new Error(`input [${inputShape}]: activations need ${memory.arenaBytes} bytes, more than maxBufferSize (${device.limits.maxBufferSize})`);
  }

  const usage = GPUBufferUsage.STORAGE;
  const [, OC, OH, OW] = shapes.get(g.output)!;
  if (OH !== pad.H || OW !== pad.W) throw new Error(`padding needs an output the size of the input, the graph gives ${OH}x${OW} for ${pad.H}x${pad.W}`);
  const outputShape: Shape = [N, OC, H, W];
  const window = { srcH: H, srcW: W, top: pad.top, left: pad.left, mode: pad.mode };
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
  const wg = tuning.elementwiseWorkgroupSize;

  const steps: Step[] = [
    nchwToNhwc4Step(device, { N, C, H: pad.H, W: pad.W, view: view(g.input), workgroupSize: wg, window, f16 }, { input: { buffer: buffers.input }, output: range(g.input) }, 'input'),
  ];
  for (const node of nodes) {
    const op = node.op;
    const x = node.inputs[0];
    const [n, , h, w] = shapes.get(x)!;
    const io = { input: range(x), output: range(node.output) };
    const p = params.ranges.get(node.name) ?? [];
    const c4 = storageC4(g.values[x]);
    if (op.kind === 'conv2d') {
      const [, , kH, kW] = op.params.shape;
      steps.push(
        conv2dStep(
          device,
          {
            N: n, H: h, W: w, cin: op.params.shape[1], cin4: c4, cout: op.params.shape[0], kH, kW,
            strideH: op.stride, strideW: op.stride, padH: op.padding, padW: op.padding, dilationH: op.dilation, dilationW: op.dilation,
            input: view(x), output: view(node.output), activation: op.activation, ...fillWorkgroups(tileFor(tuning, g, node), n * shapes.get(node.output)![2], shapes.get(node.output)![3]), f16,
          },
          { ...io, weight: p[0], bias: p[1] },
          node.name,
        ),
      );
    } else if (op.kind === 'convTranspose2x2') {
      steps.push(
        convTranspose2x2Step(
          device,
          { N: n, H: h, W: w, cin: op.params.shape[0], cin4: c4, cout: op.params.shape[1], input: view(x), output: view(node.output), ...tileFor(tuning, g, node), f16 },
          { ...io, weight: p[0], bias: p[1] },
          node.name,
        ),
      );
    } else if (op.kind === 'maxPool2x2') {
      steps.push(maxPool2x2Step(device, { N: n, H: h, W: w, c4, input: view(x), output: view(node.output), workgroupSize: wg, f16 }, io, node.name));
    } else if (f16) {
      throw new Error(`${node.name}: ${op.kind} has no f16 kernel; run this graph with precision 'f32'`);
    } else if (op.kind === 'batchNorm') {
      steps.push(
        batchNormStep(device, { N: n, H: h, W: w, c4, eps: op.params.eps, input: view(x), output: view(node.output), workgroupSize: wg }, { ...io, params: p[0] }, node.name),
      );
    } else if (op.kind === 'relu' || op.kind === 'sigmoid') {
      steps.push(unaryStep(device, { op: op.kind, pixels: n * h * w, c4, input: view(x), output: view(node.output), workgroupSize: wg }, io, node.name));
    } else if (op.kind === 'concat') {
      const [a, b] = node.inputs.map((v) => g.values[v]);
      if (node.inputs.length !== 2 || a.segments || b.segments) throw new Error(`${node.name}: only two-input concat of plain values is supported`);
      steps.push(
        concatStep(
          device,
          { pixels: n * h * w, ca: a.channels, cb: b.channels, a: view(a.id), b: view(b.id), output: view(node.output), workgroupSize: wg },
          { a: range(a.id), b: range(b.id), output: range(node.output) },
          node.name,
        ),
      );
    }
  }
  steps.push(
    nhwc4ToNchwStep(device, { N, C: OC, H: OH, W: OW, view: view(g.output), workgroupSize: wg, window, f16 }, { input: range(g.output), output: { buffer: buffers.output } }, 'output'),
  );
  return new Plan(device, inputShape, outputShape, steps, memory, buffers);
}
