// What an op is to the engine, in one place: its shape rule, what it reads at run time (liveness), the
// weights it packs at load, the GPU steps it records, and whether it has an f16 variant or tunable
// configurations. Each op's entry lives in its own file beside this one (src/ops/<op>.ts) and calls its
// kernel (src/kernels/<op>.ts); src/ops/index.ts gathers them into a table typed so that an op kind
// without an entry is a compile error, and looks entries up so that an unknown kind is a thrown error.
// The planner, the memory planner, the executor, the weight packer and the tuner only loop over it.
import type { BufferRange, Nhwc4View, Step } from '../kernels/common.js';
import type { Band, Graph, Node, OpKind, OpOf, Shape, ValueId } from '../ir/graph.js';

export type { Band };
import type { ConvTile, TunedKernel, Tuning } from '../kernels/tuning.js';
import { f32ToF16Bits } from '../weights/safetensors.js';
import { InputError } from '../errors.js';

export type ParamArray = Float32Array | Uint16Array;

export interface ShapeContext {
  node: Node;
  /** channels of the node's output value */
  channels: number;
  shapeOf(v: ValueId): Shape;
}

export interface PackContext {
  g: Graph;
  node: Node;
  tuning: Tuning;
  f16: boolean;
  /** the configuration this node's kernel runs with, for tuned ops (weights are packed per tile) */
  tile?: ConvTile;
}

export interface ScratchContext {
  g: Graph;
  node: Node;
  shapeOf(v: ValueId): Shape;
  tuning: Tuning;
  tile?: ConvTile;
  f16: boolean;
  /** the band the scratch serves ('rows' ops: output rows; undefined: the whole output) */
  band?: Band;
}

/** One band of a 'reduce' op (OpDef.banding): its rows and the windows of the node's values over them. */
export interface ReduceBand {
  band: Band;
  view(v: ValueId): Nhwc4View;
  range(v: ValueId): BufferRange;
}

export interface CompileContext {
  device: GPUDevice;
  g: Graph;
  node: Node;
  shapeOf(v: ValueId): Shape;
  /** where a value sits in its storage (vec4 stride and offset per pixel) */
  view(v: ValueId): Nhwc4View;
  /** the buffer range holding a value's storage */
  range(v: ValueId): BufferRange;
  /** this node's packed parameters, in the order pack() returned them */
  params: BufferRange[];
  tuning: Tuning;
  tile?: ConvTile;
  f16: boolean;
  /** workgroup size of elementwise kernels */
  workgroupSize: number;
  /** this node's scratch regions (OpDef.scratch), in the order it asked for them */
  scratch: BufferRange[];
  /**
   * 'rows' ops: the output rows this call records (undefined: all of them). The kernel computes them with
   * global coordinates (bounds and padding as in one pass) and writes nothing else. view() and range() then
   * give windows: range() binds only the rows of a value this band touches, and view().c4Offset has the
   * window's start folded in, so it may be negative: pass it through a ShapeUniforms field whose name ends
   * in OFFSET (those wrap modulo 2^32, as WGSL's u32 arithmetic does) and index as in one pass.
   */
  band?: Band;
  /** 'reduce' ops: the bands of the node's input rows, in order (one band covering all rows when unbanded) */
  bands?: ReduceBand[];
}

export interface OpDef<K extends OpKind> {
  /** spatial ranks the op takes: 2 ([N, C, H, W]) and/or 3 ([N, C, D, H, W]); default [2]. inferShapes
   *  refuses any other before shape() runs, so an op without 3 never sees a 5-dimensional shape */
  ranks?: readonly (2 | 3)[];
  /** NCHW output shape from the input shapes (in node.inputs order); throws on inputs it cannot take */
  shape(op: OpOf<K>, inputs: Shape[], ctx: ShapeContext): Shape;
  /** values read at run time, for liveness (default: all inputs) */
  reads?(op: OpOf<K>, node: Node): ValueId[];
  /** records nothing at run time (e.g. an elided concat) */
  elided?(op: OpOf<K>): boolean;
  /** the kernel can write its output into a channel slice of a wider value (placeConcat uses this) */
  writesSlice: boolean;
  /** the kernel reads an input whose channels have vec4 gaps between concatenated parts */
  readsSegments: boolean;
  /** an f16 storage variant exists */
  f16: boolean;
  /** tunable kernels: which candidate list applies, and the layer's identity for per-layer choices */
  tuning?: { kernel: TunedKernel; key(op: OpOf<K>, g: Graph, node: Node): string };
  /** learned parameters (weights and biases) of the op, for model.info */
  parameters?(op: OpOf<K>): number;
  /** parameter arrays to upload once at load, in binding order */
  pack?(op: OpOf<K>, ctx: PackContext): ParamArray[];
  /** bytes of temporary storage the node's steps need while it runs (regions, in order); the plan keeps one
   *  scratch area, after the activations, as large as the largest node's need. Banded 'rows' ops are asked
   *  per band (ctx.band) and each region must fit the binding limit */
  scratch?(op: OpOf<K>, ctx: ScratchContext): number[];
  /**
   * How the node runs past the binding limit (default 'rows'): 'rows', as bands of output rows, one call of
   * compile() each (ctx.band); 'reduce', one call of compile() given every band (ctx.bands), for ops whose
   * output depends on all input rows (global pooling, instance norm's statistics), which must give the same
   * bits for any split into bands; 'none', never banded (every binding must fit).
   */
  banding?: 'rows' | 'reduce' | 'none';
  /**
   * 'rows' ops: the input coordinates output coordinate `o` reads along spatial axis `axis` (0 = H in 2D;
   * 0 = D, 1 = H in 3D; never the last axis), inclusive, for input `k`; the planner clamps them to the input.
   * 'all': the whole input (a [N, C, 1, 1] gate). Default: the same coordinates when the input has the
   * output's spatial size, else 'all'.
   */
  reach?(op: OpOf<K>, k: number, shapes: { input: Shape; output: Shape }): 'all' | ((axis: number, o: number) => [number, number]);
  /** 'rows' ops: whether a band may start at output row `row` (flat, see Band); default any row. A tiled
   *  kernel whose bits depend on where its tiles start (Winograd) allows only tile boundaries. */
  bandStart?(op: OpOf<K>, output: Shape): (row: number) => boolean;
  /** the dispatches of this node in a compiled plan */
  compile(op: OpOf<K>, ctx: CompileContext): Step[];
}

export type OpTable = { [K in OpKind]: OpDef<K> };

/** Weights as f16 bits when the model runs in f16 (biases stay f32: they are few, and added once). */
export function weightsFor(a: Float32Array, f16: boolean): ParamArray {
  if (!f16) return a;
  const out = new Uint16Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = f32ToF16Bits(a[i]);
  return out;
}

export { positions } from '../ir/graph.js';

/** The same batch and spatial size for every input, or an error naming the node. */
export function sameSize(node: Node, inputs: Shape[]): Shape {
  const [first] = inputs;
  for (const s of inputs) {
    if (s.length !== first.length || s.some((d, i) => i !== 1 && d !== first[i])) {
      throw new InputError(`${node.name}: inputs differ in size ([${first}] vs [${s}]): this input size does not fit the network`);
    }
  }
  return first;
}
