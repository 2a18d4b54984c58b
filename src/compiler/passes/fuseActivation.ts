// Moves an activation into the epilogue of the conv2d, conv3d or add that feeds it (when it is that node's only
// reader): the activation is applied in registers before the store, saving a pass over memory. An
// identity activation is dropped.
import { type Graph, type Node, type OpOf, consumers, producer } from '../../ir/graph.js';

/** Nodes whose kernels apply an activation before they store (an `activation` field in their op). */
const withEpilogue = (n: Node | undefined): n is Node & { op: OpOf<'conv2d' | 'conv3d' | 'add'> } =>
  n !== undefined && (n.op.kind === 'conv2d' || n.op.kind === 'conv3d' || n.op.kind === 'add');

export function fuseActivation(g: Graph): Graph {
  const readers = consumers(g);
  const removed = new Set<string>();
  const nodes = g.nodes.map((n) => ({ ...n }));
  const graph = { ...g, nodes };
  const rename = new Map<number, number>();
  for (const act of nodes) {
    if (act.op.kind !== 'activation') continue;
    const src = producer(graph, act.inputs[0]);
    const fusable = withEpilogue(src) && src.op.activation === 'none' && readers.get(src.output)?.length === 1 && src.output !== g.output;
    if (act.op.fn === 'none' && act.output !== g.output) {
      rename.set(act.output, act.inputs[0]);
      removed.add(act.name);
      continue;
    }
    if (!fusable || !withEpilogue(src)) continue;
    src.op = { ...src.op, activation: act.op.fn };
    src.name = `${src.name}+${act.op.fn}`;
    src.output = act.output;
    removed.add(act.name);
  }
  const kept = nodes.filter((n) => !removed.has(n.name));
  if (rename.size) for (const n of kept) n.inputs = n.inputs.map((x) => rename.get(x) ?? x);
  return { ...graph, nodes: kept };
}
