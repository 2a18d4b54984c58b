// Moves a relu or sigmoid into the epilogue of the conv2d that feeds it (when it is that conv's only
// reader): the activation is applied in registers before the store, saving a pass over memory.
import { type Graph, consumers, producer } from '../ir.js';

export function fuseActivation(g: Graph): Graph {
  const readers = consumers(g);
  const removed = new Set<string>();
  const nodes = g.nodes.map((n) => ({ ...n }));
  const graph = { ...g, nodes };
  for (const act of nodes) {
    if (act.op.kind !== 'relu' && act.op.kind !== 'sigmoid') continue;
    const conv = producer(graph, act.inputs[0]);
    if (!conv || conv.op.kind !== 'conv2d' || conv.op.activation !== 'none' || readers.get(conv.output)?.length !== 1) continue;
    conv.op = { ...conv.op, activation: act.op.kind };
    conv.name = `${conv.name}+${act.op.kind}`;
    conv.output = act.output;
    removed.add(act.name);
  }
  return { ...graph, nodes: nodes.filter((n) => !removed.has(n.name)) };
}
