// Folds a residual add into the conv2d or conv3d that computes one of its operands: add(conv(x), r) becomes
// conv(x) with r added in its epilogue (before the activation, which fuseActivation then adds), as
// ResNet's `out = bn2(conv2(...)); out += identity; relu(out)` wants, so the sum is never stored apart.
// Legal when the conv's output is read only by the add, `r` is computed before the conv runs, and `r` does
// not share the storage the conv reads (sharesStorage).
import { isDepthwise } from '../../ops/conv2d.js';
import { type Graph, type Node, type OpOf, type ValueId, consumers } from '../../ir/graph.js';

/** A conv whose kernel can add a residual in its epilogue and has none yet (the depthwise kernel cannot). */
const takesResidual = (n: Node | undefined): n is Node & { op: OpOf<'conv2d' | 'conv3d'> } =>
  n !== undefined && ((n.op.kind === 'conv2d' && !isDepthwise(n.op)) || n.op.kind === 'conv3d') && n.op.activation === 'none' && !n.op.residual;

/**
 * Whether `a` and `b` are, or will be, one storage range: the same value, or a concat and one of its parts
 * (placeConcat, later, makes the parts write into the concat's storage). A conv cannot take as its residual
 * what it reads as its input: both are activation bindings, declared writable (ACTIVATION_ACCESS in
 * kernels/common.ts), and WebGPU refuses two writable bindings of overlapping ranges in one dispatch.
 */
function sharesStorage(g: Graph, a: ValueId, b: ValueId): boolean {
  const partOf = (part: ValueId, whole: ValueId) => g.nodes.some((n) => n.output === whole && n.op.kind === 'concat' && n.inputs.includes(part));
  return a === b || partOf(a, b) || partOf(b, a);
}

export function fuseResidual(g: Graph): Graph {
  const readers = consumers(g);
  const nodes = g.nodes.map((n) => ({ ...n }));
  const index = new Map<number, number>();
  nodes.forEach((n, i) => index.set(n.output, i));
  const removed = new Set<Node>();
  for (const add of nodes) {
    if (add.op.kind !== 'add' || add.op.activation !== 'none') continue;
    // try the operand computed last first: the other one is then surely ready
    const order = [...add.inputs.keys()].sort((a, b) => (index.get(add.inputs[b]) ?? -1) - (index.get(add.inputs[a]) ?? -1));
    for (const k of order) {
      const conv = nodes[index.get(add.inputs[k]) ?? -1];
      const r = add.inputs[1 - k];
      if (!takesResidual(conv) || removed.has(conv)) continue;
      if (readers.get(conv.output)?.length !== 1 || conv.output === g.output || r === conv.output) continue;
      if (sharesStorage(g, r, conv.inputs[0])) continue;
      if (r !== g.input && (index.get(r) ?? Infinity) > nodes.indexOf(conv)) continue;
      conv.op = { ...conv.op, residual: true };
      conv.inputs = [conv.inputs[0], r];
      conv.name = `${conv.name}+add`;
      conv.output = add.output;
      removed.add(add);
      break;
    }
  }
  return { ...g, nodes: nodes.filter((n) => !removed.has(n)) };
}
