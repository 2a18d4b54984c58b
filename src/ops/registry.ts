// What an op is to the engine, in one place: its shape rule, what it reads at run time (liveness), the
// weights it packs at load, the GPU steps it records, and whether it has an f16 variant or tunable
// configurations. Each op's entry lives in its own file beside this one (src/ops/<op>.ts) and calls its
// kernel (src/kernels/<op>.ts); src/ops/index.ts gathers them into a table typed so that an op kind
// without an entry is a compile error, and looks entries up so that an unknown kind is a thrown error.
// The planner, the memory planner, the executor, the weight packer and the tuner only loop over it.
import type { BufferRange, Nhwc4View, Step } from '../kernels/common.js';
import type { Graph, Node, OpKind, OpOf, Shape, ValueId } from '../ir/graph.js';
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
   *  scratch area, after the activations, as large as the largest node's need */
  scratch?(op: OpOf<K>, ctx: ScratchContext): number[];
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
