// The graph IR: values (tensors, NCHW shapes known once the input shape is) and nodes (ops), in
// topological order. Builders create it; passes (src/graph/passes) rewrite it; plan.ts compiles it.
import type { Activation } from '../kernels/common.js';
import type { BatchNormParams, ConvParams } from '../weights/types.js';

export type ValueId = number;

/** Where a value's channels sit in storage: one slice per concatenated part, each starting on a vec4. */
export interface Segment {
  channels: number;
  c4Offset: number;
}

export interface Value {
  id: ValueId;
  name: string;
  channels: number;
  /** set by placeConcat: this value is written straight into a channel slice of `parent`'s storage */
  placement?: { parent: ValueId; c4Offset: number };
  /** storage layout of the channels; absent = one dense segment */
  segments?: Segment[];
}

export type Op =
  | { kind: 'conv2d'; params: ConvParams; stride: number; padding: number; dilation: number; activation: Activation }
  | { kind: 'batchNorm'; params: BatchNormParams }
  | { kind: 'relu' }
  | { kind: 'sigmoid' }
  | { kind: 'maxPool2x2' }
  | { kind: 'convTranspose2x2'; params: ConvParams }
  /** torch.cat(inputs, dim=1); `elided` once placeConcat has made the producers write into its slices */
  | { kind: 'concat'; elided?: boolean };

export interface Node {
  name: string;
  op: Op;
  inputs: ValueId[];
  output: ValueId;
}

export interface Graph {
  values: Value[];
  nodes: Node[];
  input: ValueId;
  output: ValueId;
}

export type Shape = [number, number, number, number];

/** Storage segments of a value (one dense segment unless placeConcat gave it several). */
export const segmentsOf = (v: Value): Segment[] => v.segments ?? [{ channels: v.channels, c4Offset: 0 }];

/** vec4 groups a value occupies per pixel in storage. */
export function storageC4(v: Value): number {
  const segs = segmentsOf(v);
  const last = segs[segs.length - 1];
  return last.c4Offset + Math.ceil(last.channels / 4);
}

/** Position of logical channel `c` among the value's stored channels. */
export function channelPos(v: Value): (c: number) => number {
  const segs = segmentsOf(v);
  return (c) => {
    for (const s of segs) {
      if (c < s.channels) return s.c4Offset * 4 + c;
      c -= s.channels;
    }
    throw new Error(`channel out of range in ${v.name}`);
  };
}

/** Appends values and nodes; each method returns the new node's output value. */
export class GraphBuilder {
  readonly values: Value[] = [];
  readonly nodes: Node[] = [];

  value(name: string, channels: number): ValueId {
    this.values.push({ id: this.values.length, name, channels });
    return this.values.length - 1;
  }

  private add(name: string, op: Op, inputs: ValueId[], channels: number): ValueId {
    const output = this.value(name, channels);
    this.nodes.push({ name, op, inputs, output });
    return output;
  }

  conv2d(name: string, x: ValueId, params: ConvParams, o: { stride?: number; padding?: number; dilation?: number } = {}): ValueId {
    const cin = params.shape[1];
    if (cin !== this.values[x].channels) throw new Error(`${name}: weight expects ${cin} input channels, ${this.values[x].name} has ${this.values[x].channels}`);
    const op: Op = { kind: 'conv2d', params, stride: o.stride ?? 1, padding: o.padding ?? 0, dilation: o.dilation ?? 1, activation: 'none' };
    return this.add(name, op, [x], params.shape[0]);
  }

  batchNorm(name: string, x: ValueId, params: BatchNormParams): ValueId {
    return this.add(name, { kind: 'batchNorm', params }, [x], this.values[x].channels);
  }

  relu(name: string, x: ValueId): ValueId {
    return this.add(name, { kind: 'relu' }, [x], this.values[x].channels);
  }

  sigmoid(name: string, x: ValueId): ValueId {
    return this.add(name, { kind: 'sigmoid' }, [x], this.values[x].channels);
  }

  maxPool2x2(name: string, x: ValueId): ValueId {
    return this.add(name, { kind: 'maxPool2x2' }, [x], this.values[x].channels);
  }

  convTranspose2x2(name: string, x: ValueId, params: ConvParams): ValueId {
    return this.add(name, { kind: 'convTranspose2x2', params }, [x], params.shape[1]);
  }

  concat(name: string, xs: ValueId[]): ValueId {
    return this.add(name, { kind: 'concat' }, xs, xs.reduce((s, x) => s + this.values[x].channels, 0));
  }

  finish(input: ValueId, output: ValueId): Graph {
    return { values: this.values, nodes: this.nodes, input, output };
  }
}

/** NCHW shape of every value for a given input shape. */
export function inferShapes(g: Graph, input: Shape): Map<ValueId, Shape> {
  const shapes = new Map<ValueId, Shape>([[g.input, input]]);
  for (const node of g.nodes) {
    const [N, , H, W] = shapes.get(node.inputs[0])!;
    const C = g.values[node.output].channels;
    const op = node.op;
    let out: Shape;
    if (op.kind === 'conv2d') {
      const [, , kH, kW] = op.params.shape;
      const size = (s: number, k: number) => Math.floor((s + 2 * op.padding - op.dilation * (k - 1) - 1) / op.stride) + 1;
      out = [N, C, size(H, kH), size(W, kW)];
    } else if (op.kind === 'maxPool2x2') out = [N, C, H >> 1, W >> 1];
    else if (op.kind === 'convTranspose2x2') out = [N, C, 2 * H, 2 * W];
    else if (op.kind === 'concat') {
      for (const x of node.inputs) {
        const s = shapes.get(x)!;
        if (s[2] !== H || s[3] !== W) throw new Error(`${node.name}: inputs differ in size (${H}x${W} vs ${s[2]}x${s[3]})`);
      }
      out = [N, C, H, W];
    } else out = [N, C, H, W];
    if (out[2] < 1 || out[3] < 1) throw new Error(`${node.name}: output would be ${out[2]}x${out[3]} for input ${input.join('x')}`);
    shapes.set(node.output, out);
  }
  return shapes;
}

/** Nodes reading each value. */
export function consumers(g: Graph): Map<ValueId, Node[]> {
  const m = new Map<ValueId, Node[]>();
  for (const n of g.nodes) for (const x of n.inputs) m.set(x, [...(m.get(x) ?? []), n]);
  return m;
}

export function producer(g: Graph, v: ValueId): Node | undefined {
  return g.nodes.find((n) => n.output === v);
}
