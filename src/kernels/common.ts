// What every kernel shares: the activation layout, pipeline caching, and dispatch-size math.
import { UnsupportedError } from '../errors.js';
import type { KernelBindings } from './bindings.js';
import { type Activation, leakySlope } from '../ir/types.js';

/**
 * Activations live in storage buffers as NHWC with channels grouped in vec4s ("NHWC4"): element
 * (n, y, x, c4) of a tensor is the vec4 at `((n * H + y) * W + x) * c4Stride + c4Offset + c4`.
 * A tensor may be a channel slice of a wider buffer (c4Offset > 0, c4Stride > its own C4): that is how
 * concat costs nothing, each producer writes its slice of the concatenated buffer.
 * Channels past a tensor's count inside its last vec4 hold zeros.
 */
export interface Nhwc4View {
  /** vec4s between consecutive pixels in the buffer. */
  c4Stride: number;
  /** first vec4 of this tensor inside each pixel. */
  c4Offset: number;
}

// ACTIVATION_ACCESS: kernels declare the activations they only read as read_write storage. All activations
// of a plan live in one arena buffer, and WebGPU validates usage per buffer, not per range: a buffer bound
// read-only and writable in the same dispatch is an error even where the ranges are disjoint, while
// several writable bindings of one buffer are allowed (https://www.w3.org/TR/webgpu/#abstract-opdef-compatible-usage-list).

export const dense = (channels: number): Nhwc4View => ({ c4Stride: c4(channels), c4Offset: 0 });

/** Number of vec4 groups holding `channels` channels. */
export const c4 = (channels: number): number => Math.ceil(channels / 4);

/** One recorded dispatch of a compiled plan: plain data, so a plan can print itself. */
export interface Step {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
  /** multiply-adds x 2, for GFLOP/s figures */
  flops: number;
  /** bytes a memory-bound kernel must move at least (activations read once and written), for GB/s figures */
  bytes?: number;
  /** human-readable shapes, for describe() */
  detail: string;
  /** buffers this step owns (its shape uniforms), destroyed with the plan */
  owned: GPUBuffer[];
}

// WebGPU's default maxComputeWorkgroupsPerDimension (https://www.w3.org/TR/webgpu/#limits): every device
// allows at least this many, so grids folded to it fit any device (compilePlan checks the steps against the
// device's own limit).
export const MAX_WORKGROUPS_PER_DIM = 65535;

/**
 * A grid of `groupsX` x `groupsY` workgroups as a dispatch that fits `max` per dimension: x and y stay where
 * they fit, and what does not is folded into z, z = zx * zy. A kernel recovers its grid position as
 *   x = wid.x + (wid.z % WG_ZX) * WG_X,  y = wid.y + (wid.z / WG_ZX) * WG_Y
 * (gridIndex), with WG_X, WG_Y = the dispatch's x and y and WG_ZX = zx; positions past the grid (when a
 * count does not split evenly) must store nothing. A 25000-class head's Winograd GEMM needs 112500 channel
 * blocks along y: dispatched as [x, 56250, 2].
 */
export function foldGrid(groupsX: number, groupsY = 1, max = MAX_WORKGROUPS_PER_DIM): { workgroups: [number, number, number]; zx: number } {
  const [gx, gy] = [Math.max(1, groupsX), Math.max(1, groupsY)];
  const zx = Math.ceil(gx / max);
  const zy = Math.ceil(gy / max);
  if (zx * zy > max) throw new UnsupportedError(`a grid of ${gx} x ${gy} workgroups does not fit ${max} per dimension even folded`);
  return { workgroups: [Math.ceil(gx / zx), Math.ceil(gy / zy), zx * zy], zx };
}

/**
 * Workgroups for `count` independent invocations in groups of `workgroupSize` (times `y` rows), folded
 * with foldGrid. With y = 1, z only continues x: kernels rebuild the linear index as `wid.x + wid.z * WG_X`
 * (linearIndex); kernels with rows (y > 1) use gridIndex and gridUniforms.
 */
export function linearWorkgroups(count: number, workgroupSize: number, y = 1): [number, number, number] {
  return foldGrid(Math.ceil(count / workgroupSize), y).workgroups;
}

/** The shape-uniform values gridIndex reads, for the dispatch linearWorkgroups(count, workgroupSize, y) makes. */
export function gridUniforms(count: number, workgroupSize: number, y: number): { WG_X: number; WG_Y: number; WG_ZX: number } {
  const { workgroups, zx } = foldGrid(Math.ceil(count / workgroupSize), y);
  return { WG_X: workgroups[0], WG_Y: workgroups[1], WG_ZX: zx };
}

/** The shape-uniform fields gridUniforms fills (put them in a kernel's ShapeUniforms). */
export const GRID_FIELDS = ['WG_X', 'WG_Y', 'WG_ZX'] as const;

/**
 * WGSL opening a kernel dispatched with linearWorkgroups(count, workgroupSize, rows): `index` (the linear
 * invocation index along x), `row` (the workgroup row, < `rows` unless the fold overshot), `wgy` (row
 * clamped to the last real one, for loads) and `rowLive` (false past the grid: store nothing). Needs
 * GRID_FIELDS in scope.
 */
export const gridIndex = (workgroupSize: number, rows: string): string => `  let index = (wid.x + (wid.z % WG_ZX) * WG_X) * ${workgroupSize}u + lid.x;
  let row = wid.y + (wid.z / WG_ZX) * WG_Y;
  let rowLive = row < ${rows};
  let wgy = min(row, ${rows} - 1u);`;

/** WGSL expression for the linear invocation index of a dispatch made with linearWorkgroups() and y = 1;
 *  the x count is a constant, or the name of a value in scope (a shape uniform, see shapeUniforms). */
export function linearIndex(workgroups: [number, number, number] | string, workgroupSize: number): string {
  const x = typeof workgroups === 'string' ? workgroups : `${workgroups[0]}u`;
  return `(wid.x + wid.z * ${x}) * ${workgroupSize}u + lid.x`;
}

/**
 * Sizes a kernel reads from a uniform buffer instead of baking them into its code: the code then depends
 * only on the constants that shape it (kernel size, tiles, activation), so one pipeline serves every layer
 * and every input size with those, and a new input size compiles nothing (compiling dominates the first
 * run on a software rasterizer). Every field is a u32, so the layout has no alignment gaps: field i sits
 * at byte 4 * i, in the order given, in both the WGSL struct and the data.
 */
export class ShapeUniforms<F extends string> {
  constructor(readonly fields: readonly F[]) {}

  /** The WGSL struct (KernelBindings declares the uniform holding it). */
  struct(): string {
    return `struct Shape {\n${this.fields.map((f) => `  ${f}: u32,`).join('\n')}\n}`;
  }

  /** `let` lines that bring every field into scope under its own name. */
  lets(): string {
    return this.fields.map((f) => `  let ${f} = shape.${f};`).join('\n');
  }

  /** The uniform data. A field whose name ends in OFFSET may be any safe integer and is stored modulo 2^32:
   *  a banded binding starts after its value's first pixel, so the vec4 offset of the value inside the
   *  binding is negative, and `pixel * STRIDE + OFFSET` wraps back into the binding (WGSL's u32 arithmetic
   *  is modulo 2^32). Every other field must be a u32. */
  data(values: Record<F, number>): Uint32Array {
    return Uint32Array.from(this.fields, (f) => {
      const v = values[f];
      if (f.endsWith('OFFSET') && Number.isSafeInteger(v)) return ((v % 2 ** 32) + 2 ** 32) % 2 ** 32;
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`shape uniform ${f} = ${v} is not a u32`);
      return v;
    });
  }
}

const pipelineCache = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/**
 * The compute pipeline of a kernel, cached per device by its source (a lost device drops its cache). Its bind
 * group layout is made from the kernel's declared bindings, which the source holds, so the source alone is
 * a sound key.
 */
export function getPipeline(device: GPUDevice, label: string, { code, bindings }: Kernel<string, string>): GPUComputePipeline {
  let cache = pipelineCache.get(device);
  if (!cache) pipelineCache.set(device, (cache = new Map()));
  let pipeline = cache.get(code);
  if (!pipeline) {
    const module = device.createShaderModule({ label, code });
    const layout = device.createPipelineLayout({ label, bindGroupLayouts: [device.createBindGroupLayout({ label, entries: bindings.layoutEntries() })] });
    pipeline = device.createComputePipeline({ label, layout, compute: { module, entryPoint: 'main' } });
    cache.set(code, pipeline);
  }
  return pipeline;
}

/** A storage-buffer binding: a range of a buffer. */
export interface BufferRange {
  buffer: GPUBuffer;
  offset?: number;
  size?: number;
}

/** WGSL f32 literal that round-trips (avoids e.g. `1e-5` parsing as an abstract int issue and keeps precision). */
export function f32Literal(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`cannot write ${v} as a WGSL f32 literal`);
  const s = Math.fround(v).toPrecision(9);
  return s.includes('.') || s.includes('e') ? `${s}f` : `${s}.0f`;
}

/** WGSL `enable` directives for a kernel (they must come first in a module). */
export const enables = (subgroups: boolean, f16 = false): string => `${subgroups ? 'enable subgroups;\n' : ''}${f16 ? 'enable f16;\n' : ''}`;

/**
 * Storage types of the kernels that can keep activations and weights in f16 (precision 'f16'): Act for an
 * activation vec4, WMat / WCol for a weight mat4x4 / column. Arithmetic stays f32: loads convert with
 * vec4<f32>(...) / mat4x4<f32>(...), stores with Act(...), which are no-ops for f32.
 */
export const storageAliases = (f16 = false): string => {
  const t = f16 ? 'f16' : 'f32';
  return `alias Act = vec4<${t}>;\nalias WMat = mat4x4<${t}>;\nalias WCol = vec4<${t}>;`;
};

/** WGSL: `expr` (a clamp of `v`), but NaN where `v` is NaN, as in PyTorch. max(NaN, 0) is 0 on some backends
 *  (llvmpipe), and comparisons may be folded away under WGSL's no-NaN assumption, so NaN is told by its bits. */
const keepNaN = (expr: string, v: string): string => `select(${expr}, ${v}, (bitcast<vec4<u32>>(${v}) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u))`;

export function activationWgsl(act: Activation, v: string): string {
  switch (act) {
    case 'none':
      return v;
    case 'relu':
      return keepNaN(`max(${v}, vec4<f32>(0.0))`, v);
    case 'relu6':
      // nn.ReLU6: min(max(x, 0), 6), +inf -> 6
      return keepNaN(`clamp(${v}, vec4<f32>(0.0), vec4<f32>(6.0))`, v);
    case 'sigmoid':
      // 1 / (1 + e^-x): exp overflows to +inf for x < -88 and the quotient is then exactly 0, as in PyTorch.
      return `(vec4<f32>(1.0) / (vec4<f32>(1.0) + exp(-${v})))`;
    case 'tanh':
      // tanh(x) = sign(x) (1 - e^-2|x|) / (1 + e^-2|x|): e^-2|x| only underflows, never overflows to inf/inf
      return `(sign(${v}) * (vec4<f32>(1.0) - exp(-2.0 * abs(${v}))) / (vec4<f32>(1.0) + exp(-2.0 * abs(${v}))))`;
    case 'silu':
      return `(${v} / (vec4<f32>(1.0) + exp(-${v})))`;
    default: {
      // nn.LeakyReLU: x where x >= 0, else slope * x (NaN stays NaN: both branches give it)
      const slope = leakySlope(act);
      if (slope === undefined) throw new UnsupportedError(`no kernel code for the activation ${JSON.stringify(act)}`);
      return `select(${f32Literal(slope)} * ${v}, ${v}, ${v} >= vec4<f32>(0.0))`;
    }
  }
}

/** WGSL: `v` with the lanes of channels >= `count` (counting from the vec4's first channel) set to 0, so
 *  padding lanes stay 0 whatever the epilogue made of them (sigmoid(0) = 0.5). */
export const maskLanes = (v: string, count: string): string => `select(vec4<f32>(0.0), ${v}, vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(${count}))`;

/** A kernel: its WGSL and the declaration of what it binds (the WGSL holds `bindings.wgsl()`). */
export interface Kernel<N extends string, F extends string> {
  code: string;
  bindings: KernelBindings<N, F>;
}

/**
 * Builds (or reuses) the pipeline of `kernel` and binds `buffers` by name, as its bindings declare them;
 * with `uniforms` (the values of its ShapeUniforms), a uniform buffer holding them is created and bound.
 */
export function makeStep<N extends string, F extends string>(
  device: GPUDevice,
  label: string,
  kernel: Kernel<N, F>,
  buffers: Partial<Record<N, BufferRange>>,
  workgroups: [number, number, number],
  flops = 0,
  detail = '',
  uniforms?: Uint32Array,
): Step {
  const { code, bindings } = kernel;
  const who = label === bindings.kernel ? label : `${label} (${bindings.kernel})`;
  // the WGSL must declare exactly what is bound: both come from the same declaration
  if (!code.includes(bindings.wgsl())) throw new Error(`${who}: its WGSL does not hold the declarations of its bindings`);
  const entries = bindings.entries(buffers, who);
  bindings.checkShape(uniforms, who);
  const pipeline = getPipeline(device, label.replace(/\s.*$/, ''), kernel);
  const owned: GPUBuffer[] = [];
  if (uniforms) {
    // uniform bindings are read in 16-byte units
    const buffer = device.createBuffer({
      label: `${label} shape`,
      size: Math.ceil(uniforms.byteLength / 16) * 16,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    device.queue.writeBuffer(buffer, 0, uniforms);
    owned.push(buffer);
    entries.push({ binding: bindings.shapeBinding, resource: { buffer } });
  }
  const bindGroup = device.createBindGroup({ label, layout: pipeline.getBindGroupLayout(0), entries });
  return { label, pipeline, bindGroup, workgroups, flops, detail, owned };
}

/** A step with its minimum memory traffic recorded (see Step.bytes). */
export function withBytes(step: Step, bytes: number): Step {
  return { ...step, bytes };
}

/** Records steps into one compute pass. Dispatches in a pass see each other's storage writes, in order. */
export function encodeSteps(pass: GPUComputePassEncoder, steps: readonly Step[]): void {
  for (const s of steps) {
    pass.setPipeline(s.pipeline);
    pass.setBindGroup(0, s.bindGroup);
    pass.dispatchWorkgroups(...s.workgroups);
  }
}

/**
 * WGSL lines opening a kernel with one invocation per output vec4 of an NHWC4 tensor, dispatched with
 * linearWorkgroups(TOTAL): `c` (the vec4 group), `pixel` and its (n, oy, ox). Needs C4, HO, WO, TOTAL and
 * WG_X in scope (shape uniforms); invocations past TOTAL return. With `pixel0` (a u32 in scope, e.g. the
 * shape uniform PIXEL0 = row0 * WO), the dispatch covers only the TOTAL vec4s from output pixel pixel0 on
 * (a band of rows) and `pixel` still counts from the tensor's first pixel, so (n, oy, ox), bounds and
 * indices are those of one pass.
 */
export const outputVec4Index = (workgroupSize: number, pixel0?: string): string => `  let i = ${linearIndex('WG_X', workgroupSize)};
  if (i >= TOTAL) { return; }
  let c = i % C4;
  let pixel = ${pixel0 ? `${pixel0} + ` : ''}i / C4;
  let ox = pixel % WO;
  let oy = (pixel / WO) % HO;
  let n = pixel / (WO * HO);`;

/** Repeats a code fragment per index and joins them. Register tiles are written out this way rather than
 *  kept in arrays indexed by loop counters, so every accumulator is a register even where the shader
 *  compiler would not unroll the loop. */
export const rep = (n: number, fragment: (i: number) => string, sep = '\n'): string => Array.from({ length: n }, (_, i) => fragment(i)).join(sep);
