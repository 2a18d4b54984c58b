// Folds a residual add into the conv2d that computes one of its operands: add(conv(x), r) becomes
// conv(x) with r added in its epilogue (before the activation, which fuseActivation then adds), as
// ResNet's `out = bn2(conv2(...)); out += identity; relu(out)` wants, so the sum is never stored apart.
// Legal when the conv's output is read only by the add, and `r` is computed before the conv runs.
import { isDepthwise } from '../../ops/conv2d.js';
import { type Graph, type Node, consumers } from '../../ir/graph.js';

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
      if (!conv || removed.has(conv) || conv.op.kind !== 'conv2d' || conv.op.activation !== 'none' || conv.op.residual || isDepthwise(conv.op)) continue;
      if (readers.get(conv.output)?.length !== 1 || conv.output === g.output || r === conv.output) continue;
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
