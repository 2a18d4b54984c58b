// Moves what follows an instanceNorm into its apply pass: norm -> activation (nnU-Net's conv -> norm ->
// nonlin) and norm -> add(r) [-> activation] (BasicBlockD's `out = norm2(conv2(..)); out += skip;
// nonlin2(out)`) become one node computing act(norm(x) + r), so neither the normalized value nor the sum
// is stored apart. Each link needs the value it consumes to have that one reader and not be the graph
// output. The fused node runs where the last node it absorbs ran: x (read before) and r (read by the add)
// are both computed by then, whichever order the skip and the main path were built in.
// Runs before fuseResidual and fuseActivation: fuseResidual would fold add(norm, conv(skip)) into the skip's
// conv (the norm's output as its residual), and fuseActivation would take the activation after the add.
import { type Graph, type Node, type ValueId, consumers } from '../../ir/graph.js';

export function fuseNorm(g: Graph): Graph {
  const readers = consumers(g);
  /** the one node reading `v`, unless `v` is the graph output */
  const onlyReader = (v: ValueId): Node | undefined => {
    const r = readers.get(v);
    return v !== g.output && r?.length === 1 ? r[0] : undefined;
  };
  // original node name -> what runs in its place (null: nothing)
  const replaced = new Map<string, Node | null>();
  for (const norm of g.nodes) {
    if (norm.op.kind !== 'instanceNorm' || norm.op.activation !== 'none' || norm.op.residual) continue;
    let fused: Node = norm;
    const absorbed: Node[] = [];
    let next = onlyReader(norm.output);
    if (next?.op.kind === 'add' && !replaced.has(next.name) && next.inputs.length === 2 && next.inputs[0] !== next.inputs[1]) {
      const r = next.inputs[0] === norm.output ? next.inputs[1] : next.inputs[0];
      fused = {
        ...fused,
        name: `${fused.name}+add`,
        op: { ...norm.op, residual: true, activation: next.op.activation },
        inputs: [norm.inputs[0], r],
        output: next.output,
      };
      absorbed.push(next);
      next = next.op.activation === 'none' ? onlyReader(next.output) : undefined;
    }
    if (next?.op.kind === 'activation' && next.op.fn !== 'none' && !replaced.has(next.name) && fused.op.kind === 'instanceNorm') {
      fused = { ...fused, name: `${fused.name}+${next.op.fn}`, op: { ...fused.op, activation: next.op.fn }, output: next.output };
      absorbed.push(next);
    }
    if (!absorbed.length) continue;
    replaced.set(norm.name, null);
    for (const n of absorbed.slice(0, -1)) replaced.set(n.name, null);
    replaced.set(absorbed[absorbed.length - 1].name, fused);
  }
  const nodes: Node[] = [];
  for (const n of g.nodes) {
    const r = replaced.get(n.name);
    if (r === undefined) nodes.push({ ...n });
    else if (r) nodes.push(r);
  }
  return { ...g, nodes };
}
