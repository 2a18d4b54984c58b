// The graph IR: values (tensors, NCHW shapes known once the input shape is) and nodes (ops), in
// topological order. Architectures (src/arch) build it through GraphBuilder; passes (src/compiler/passes)
// rewrite it; plan.ts compiles it. What each op means (its shape rule, kernel, weights) lives in its
// registry entry (src/ops): this file only knows the ops' data.
import type { Activation } from './types.js';
import type { BatchNormParams, ConvNdParams, ConvParams, InstanceNormParams } from './params.js';

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

/** Padding of a conv as PyTorch's F.pad order would put it per side: [top, bottom, left, right]. */
export type Padding4 = [number, number, number, number];

export type Op =
  /** inputs [x], then r with `residual`, then s with `inputScale`: act(conv(x * s) + bias + r), where
   *  s [N, Cin, 1, 1] scales each input channel per image (a squeeze-excite gate folded into its reader) */
  | {
      kind: 'conv2d';
      params: ConvParams;
      stride: [number, number];
      padding: Padding4;
      dilation: [number, number];
      groups: number;
      activation: Activation;
      residual?: boolean;
      inputScale?: boolean;
    }
  | { kind: 'convTranspose2x2'; params: ConvParams }
  /** Conv3d on [N, C, D, H, W] (NDHWC4 storage): per-axis kernel (params.shape [cout, cin, kD, kH, kW]),
   *  stride and symmetric padding [d, h, w]; inputs [x], then r with `residual`: act(conv(x) + bias + r) */
  | { kind: 'conv3d'; params: ConvNdParams; stride: [number, number, number]; padding: [number, number, number]; activation: Activation; residual?: boolean }
  /** ConvTranspose2d / 3d whose kernel equals its stride (nnU-Net's up-sampling): every output position
   *  receives exactly one kernel tap. params.shape [cin, cout, ...kernel]; 2D and 3D */
  | { kind: 'convTransposeStrided'; params: ConvNdParams }
  /** InstanceNorm over each (n, c) across all spatial positions, affine, then + r with `residual`, then the
   *  activation: act(norm(x) * weight + bias + r); 2D and 3D */
  | { kind: 'instanceNorm'; params: InstanceNormParams; activation: Activation; residual?: boolean }
  /** AvgPool2d / 3d with kernel = stride (floor mode, no padding): nnU-Net's residual skip down-sampling */
  | { kind: 'avgPool'; kernel: number[] }
  | { kind: 'batchNorm'; params: BatchNormParams }
  /** an elementwise activation (relu, relu6, sigmoid, tanh, silu, identity) */
  | { kind: 'activation'; fn: Activation }
  /** max_pool2d, padding counts as -inf, floor mode */
  | { kind: 'maxPool2d'; kernel: number; stride: number; padding: number }
  /** F.interpolate(x, size, mode): to a fixed size, or to the H, W of `like` (read for its size only,
   *  never at run time) */
  | { kind: 'resize'; mode: 'nearest' | 'bilinear'; to: { like: ValueId } | { size: [number, number] } }
  /** torch.cat(inputs, dim=1); `elided` once placeConcat has made the producers write into its slices */
  | { kind: 'concat'; elided?: boolean }
  /** act(a + b) */
  | { kind: 'add'; activation: Activation }
  /** adaptive_avg_pool2d(x, 1) */
  | { kind: 'globalAvgPool' }
  /** softmax or log_softmax over channels */
  | { kind: 'softmax'; log: boolean }
  /** smp's SCSE combination: inputs [x, cse [N,C,1,1], sse [N,1,H,W]] -> x * cse + x * sse */
  | { kind: 'scseGate' }
  /** squeeze-excite's scale: inputs [x, gate [N,C,1,1]] -> x * gate */
  | { kind: 'channelScale' };

export type OpKind = Op['kind'];
export type OpOf<K extends OpKind> = Extract<Op, { kind: K }>;

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

/** [N, C, ...spatial]: [N, C, H, W] for 2D values, [N, C, D, H, W] for 3D ones (OpDef.ranks says which an op takes). */
export type Shape = number[];

/** Positions of a value: N times its spatial sizes (the pixels, or voxels, of NHWC4 / NDHWC4 storage). */
export const positions = (s: Shape): number => s.reduce((a, b, i) => (i === 1 ? a : a * b), 1);

/** Storage segments of a value (one dense segment unless placeConcat gave it several). */
export const segmentsOf = (v: Value): Segment[] => v.segments ?? [{ channels: v.channels, c4Offset: 0 }];

/** True when the value's channels sit densely (no vec4 gaps between concatenated parts). */
export const isDense = (v: Value): boolean => {
  let c = 0;
  for (const s of segmentsOf(v)) {
    if (s.c4Offset * 4 !== c) return false;
    c += s.channels;
  }
  return true;
};

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

const pair = (v: number | [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : v);

export interface Conv2dOptions {
  stride?: number | [number, number];
  /** symmetric (one number, or [H, W]) or per side [top, bottom, left, right] */
  padding?: number | [number, number] | Padding4;
  dilation?: number | [number, number];
  groups?: number;
}

/** Appends values and nodes; each method returns the new node's output value. Node names are unique. */
export class GraphBuilder {
  readonly values: Value[] = [];
  readonly nodes: Node[] = [];
  private readonly names = new Set<string>();

  value(name: string, channels: number): ValueId {
    if (!Number.isSafeInteger(channels) || channels < 1) throw new Error(`${name}: ${channels} channels`);
    this.values.push({ id: this.values.length, name, channels });
    return this.values.length - 1;
  }

  channels(x: ValueId): number {
    return this.values[x].channels;
  }

  private add(name: string, op: Op, inputs: ValueId[], channels: number): ValueId {
    if (this.names.has(name)) throw new Error(`graph: two nodes named ${JSON.stringify(name)}`);
    for (const x of inputs) if (!(x >= 0 && x < this.values.length)) throw new Error(`${name}: input ${x} is not a value of this graph`);
    this.names.add(name);
    const output = this.value(name, channels);
    this.nodes.push({ name, op, inputs, output });
    return output;
  }

  conv2d(name: string, x: ValueId, params: ConvParams, o: Conv2dOptions = {}): ValueId {
    const groups = o.groups ?? 1;
    const [cout, cinPerGroup] = params.shape;
    const cin = this.channels(x);
    if (!Number.isSafeInteger(groups) || groups < 1 || cin % groups !== 0 || cout % groups !== 0 || cinPerGroup * groups !== cin) {
      throw new Error(`${name}: weight [${params.shape}] with groups ${groups} does not fit ${this.values[x].name}'s ${cin} channels`);
    }
    const p = o.padding ?? 0;
    const padding: Padding4 = typeof p === 'number' ? [p, p, p, p] : p.length === 2 ? [p[0], p[0], p[1], p[1]] : [p[0], p[1], p[2], p[3]];
    const op: Op = { kind: 'conv2d', params, stride: pair(o.stride ?? 1), padding, dilation: pair(o.dilation ?? 1), groups, activation: 'none' };
    return this.add(name, op, [x], cout);
  }

  batchNorm(name: string, x: ValueId, params: BatchNormParams): ValueId {
    if (params.weight.length !== this.channels(x)) throw new Error(`${name}: ${params.weight.length} channels, ${this.values[x].name} has ${this.channels(x)}`);
    return this.add(name, { kind: 'batchNorm', params }, [x], this.channels(x));
  }

  activation(name: string, x: ValueId, fn: Activation): ValueId {
    return this.add(name, { kind: 'activation', fn }, [x], this.channels(x));
  }

  relu(name: string, x: ValueId): ValueId {
    return this.activation(name, x, 'relu');
  }

  sigmoid(name: string, x: ValueId): ValueId {
    return this.activation(name, x, 'sigmoid');
  }

  maxPool2d(name: string, x: ValueId, kernel: number, stride = kernel, padding = 0): ValueId {
    return this.add(name, { kind: 'maxPool2d', kernel, stride, padding }, [x], this.channels(x));
  }

  convTranspose2x2(name: string, x: ValueId, params: ConvParams): ValueId {
    if (params.shape[0] !== this.channels(x))
      throw new Error(`${name}: weight expects ${params.shape[0]} input channels, ${this.values[x].name} has ${this.channels(x)}`);
    return this.add(name, { kind: 'convTranspose2x2', params }, [x], params.shape[1]);
  }

  conv3d(name: string, x: ValueId, params: ConvNdParams, o: { stride?: number[]; padding?: number[] } = {}): ValueId {
    const [cout, cin] = params.shape;
    if (params.shape.length !== 5) throw new Error(`${name}: a conv3d weight has 5 dimensions, found [${params.shape}]`);
    if (cin !== this.channels(x)) throw new Error(`${name}: weight [${params.shape}] does not fit ${this.values[x].name}'s ${this.channels(x)} channels`);
    const three = (v: number[] | undefined, d: number): [number, number, number] => {
      const t = v ?? [d, d, d];
      if (t.length !== 3) throw new Error(`${name}: ${t} is not one value per axis (d, h, w)`);
      return [t[0], t[1], t[2]];
    };
    return this.add(name, { kind: 'conv3d', params, stride: three(o.stride, 1), padding: three(o.padding, 0), activation: 'none' }, [x], cout);
  }

  /** ConvTranspose2d / 3d with kernel = stride (params.shape [cin, cout, ...kernel]). */
  convTransposeStrided(name: string, x: ValueId, params: ConvNdParams): ValueId {
    if (params.shape[0] !== this.channels(x))
      throw new Error(`${name}: weight expects ${params.shape[0]} input channels, ${this.values[x].name} has ${this.channels(x)}`);
    return this.add(name, { kind: 'convTransposeStrided', params }, [x], params.shape[1]);
  }

  instanceNorm(name: string, x: ValueId, params: InstanceNormParams): ValueId {
    if (params.weight.length !== this.channels(x) || params.bias.length !== this.channels(x))
      throw new Error(`${name}: ${params.weight.length} channels, ${this.values[x].name} has ${this.channels(x)}`);
    return this.add(name, { kind: 'instanceNorm', params, activation: 'none' }, [x], this.channels(x));
  }

  /** AvgPool with kernel = stride, one size per spatial axis. */
  avgPool(name: string, x: ValueId, kernel: number[]): ValueId {
    return this.add(name, { kind: 'avgPool', kernel: [...kernel] }, [x], this.channels(x));
  }

  /** To the size of value `to`, or to a fixed [H, W]. */
  resize(name: string, x: ValueId, to: ValueId | [number, number], mode: 'nearest' | 'bilinear'): ValueId {
    const target = typeof to === 'number' ? { like: to } : { size: [to[0], to[1]] as [number, number] };
    return this.add(name, { kind: 'resize', mode, to: target }, [x], this.channels(x));
  }

  concat(name: string, xs: ValueId[]): ValueId {
    return this.add(
      name,
      { kind: 'concat' },
      xs,
      xs.reduce((s, x) => s + this.channels(x), 0),
    );
  }

  add2(name: string, a: ValueId, b: ValueId, activation: Activation = 'none'): ValueId {
    if (this.channels(a) !== this.channels(b)) throw new Error(`${name}: adding ${this.channels(a)} and ${this.channels(b)} channels`);
    return this.add(name, { kind: 'add', activation }, [a, b], this.channels(a));
  }

  globalAvgPool(name: string, x: ValueId): ValueId {
    return this.add(name, { kind: 'globalAvgPool' }, [x], this.channels(x));
  }

  softmax(name: string, x: ValueId, log = false): ValueId {
    return this.add(name, { kind: 'softmax', log }, [x], this.channels(x));
  }

  scseGate(name: string, x: ValueId, cse: ValueId, sse: ValueId): ValueId {
    if (this.channels(cse) !== this.channels(x) || this.channels(sse) !== 1)
      throw new Error(`${name}: gates of ${this.channels(cse)} and ${this.channels(sse)} channels for ${this.channels(x)}`);
    return this.add(name, { kind: 'scseGate' }, [x, cse, sse], this.channels(x));
  }

  channelScale(name: string, x: ValueId, gate: ValueId): ValueId {
    if (this.channels(gate) !== this.channels(x)) throw new Error(`${name}: a gate of ${this.channels(gate)} channels for ${this.channels(x)}`);
    return this.add(name, { kind: 'channelScale' }, [x, gate], this.channels(x));
  }

  finish(input: ValueId, output: ValueId): Graph {
    return { values: this.values, nodes: this.nodes, input, output };
  }
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

/** Throws unless node names are unique and every input is defined before it is read. */
export function checkGraph(g: Graph): void {
  const names = new Set<string>();
  const defined = new Set<ValueId>([g.input]);
  for (const n of g.nodes) {
    if (names.has(n.name)) throw new Error(`graph: two nodes named ${JSON.stringify(n.name)}`);
    names.add(n.name);
    for (const x of n.inputs) if (!defined.has(x)) throw new Error(`graph: ${n.name} reads ${g.values[x]?.name ?? x} before it is computed`);
    defined.add(n.output);
  }
  if (!defined.has(g.output)) throw new Error('graph: the output is never computed');
}

/**
 * A band of a node's output: flat rows [row0, row0 + rows). A value's storage is rows of W pixels (the last
 * spatial axis): N * H rows for [N, C, H, W], N * D * H rows for [N, C, D, H, W], row r being (n, d, y) in
 * that order. A node whose bindings would pass the binding limit runs as several bands, one dispatch set
 * each; each binds only the rows of its inputs the band reads (OpDef.reach) and the band's output rows.
 */
export interface Band {
  row0: number;
  rows: number;
}
