// The op registry: one entry per op kind (each in its own file), and the loops over a graph that use it.
// OPS is typed as a mapped type over Op['kind'], so adding an op to the IR without an entry fails to
// compile; opDef() throws for a kind that is not in the table (a graph built from untyped data).
import type { Graph, Node, OpKind, OpOf, Shape, ValueId } from '../ir/graph.js';
import type { ConvTile, Tuning } from '../kernels/tuning.js';
import { activation } from './activation.js';
import { batchNorm } from './batchNorm.js';
import { concat } from './concat.js';
import { conv2d } from './conv2d.js';
import { convTranspose2x2 } from './convTranspose2x2.js';
import { maxPool2d } from './maxPool2d.js';
import { add } from './add.js';
import { globalAvgPool } from './globalAvgPool.js';
import { resize } from './resize.js';
import { channelScale, scseGate } from './scseGate.js';
import { softmax } from './softmax.js';
import { conv3d } from './conv3d.js';
import { convTransposeStrided } from './convTransposeStrided.js';
import { instanceNorm } from './instanceNorm.js';
import { avgPool } from './avgPool.js';
import type { OpDef, OpTable } from './registry.js';
import { InputError, UnsupportedError } from '../errors.js';

export const OPS: OpTable = {
  conv2d,
  convTranspose2x2,
  batchNorm,
  activation,
  maxPool2d,
  resize,
  concat,
  add,
  globalAvgPool,
  softmax,
  scseGate,
  channelScale,
  conv3d,
  convTransposeStrided,
  instanceNorm,
  avgPool,
};

/** The registry entry of a node's op, typed to that op. */
export function opDef<K extends OpKind>(op: OpOf<K>, where = 'graph'): OpDef<K> {
  const def = (OPS as unknown as Record<string, OpDef<K> | undefined>)[op.kind];
  if (!def || !Object.hasOwn(OPS, op.kind)) throw new UnsupportedError(`${where}: unknown op ${JSON.stringify(op.kind)}: no registry entry handles it`);
  return def;
}

/** Calls `f` with the node's op and its entry, typed together. */
export function withDef<R>(node: Node, f: <K extends OpKind>(op: OpOf<K>, def: OpDef<K>) => R): R {
  return f(node.op as OpOf<OpKind>, opDef(node.op as OpOf<OpKind>, node.name));
}

/** NCHW shape of every value for a given input shape. */
export function inferShapes(g: Graph, input: Shape): Map<ValueId, Shape> {
  const shapes = new Map<ValueId, Shape>([[g.input, input]]);
  const shapeOf = (v: ValueId): Shape => {
    const s = shapes.get(v);
    if (!s) throw new Error(`graph: ${g.values[v]?.name ?? v} is used before it is computed`);
    return s;
  };
  for (const node of g.nodes) {
    const out = withDef(node, (op, def) => {
      const inputs = node.inputs.map(shapeOf);
      const ranks = def.ranks ?? [2];
      for (const s of inputs)
        if (!ranks.includes((s.length - 2) as 2 | 3))
          throw new UnsupportedError(`${node.name}: ${op.kind} runs on ${ranks.map((r) => `${r}D`).join(' and ')} tensors, this input is [${s}]`);
      return def.shape(op, inputs, { node, channels: g.values[node.output].channels, shapeOf });
    });
    if (out[1] !== g.values[node.output].channels)
      throw new Error(`${node.name}: shape rule gave ${out[1]} channels, the value has ${g.values[node.output].channels}`);
    if (!out.every((d) => Number.isSafeInteger(d) && d >= 1))
      throw new InputError(`${node.name}: output would be [${out}] for input [${input}]: the input is too small for this network`);
    shapes.set(node.output, out);
  }
  return shapes;
}

/** The nodes that run (elided ones dropped), with what each reads and writes, for liveness. */
export function runSteps(g: Graph): { node: Node; reads: ValueId[]; writes: ValueId[] }[] {
  const out: { node: Node; reads: ValueId[]; writes: ValueId[] }[] = [];
  for (const node of g.nodes) {
    withDef(node, (op, def) => {
      if (def.elided?.(op)) return;
      out.push({ node, reads: def.reads ? def.reads(op, node) : node.inputs, writes: [node.output] });
    });
  }
  return out;
}

/** A tuned layer's identity (what shapes its work, not the input size), or undefined for untuned ops. */
export function layerKey(g: Graph, node: Node): string | undefined {
  return withDef(node, (op, def) => def.tuning?.key(op, g, node));
}

/** The configuration a tuned layer runs with: its per-layer choice, else its kernel's default. */
export function tileFor(t: Tuning, g: Graph, node: Node): ConvTile | undefined {
  return withDef(node, (op, def) => {
    if (!def.tuning) return undefined;
    const key = def.tuning.key(op, g, node);
    return t.layers?.[key] ?? t[def.tuning.kernel];
  });
}

/** Learned parameters of a graph's ops. */
export function countGraphParameters(g: Graph): number {
  return g.nodes.reduce((s, node) => s + withDef(node, (op, def) => def.parameters?.(op) ?? 0), 0);
}

/** Ops of the graph that have no f16 kernel, by node name. */
export function withoutF16(g: Graph): string[] {
  return g.nodes.filter((n) => withDef(n, (op, def) => !def.f16 && !def.elided?.(op))).map((n) => `${n.name} (${n.op.kind})`);
}
