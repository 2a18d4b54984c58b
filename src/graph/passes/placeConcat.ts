// Makes concat free: each input of a concat is written by its producer straight into its channel slice of
// the concatenated value's storage, and the concat node is elided. Each slice starts on a vec4 boundary,
// so when a part's channel count is not a multiple of 4 the concatenated storage has zero-filled gaps;
// consumers read it through the value's `segments` (conv weights are packed to skip the gaps).
// An input stays a real copy (the concat kernel runs) when it cannot be placed: the graph input, a value
// already placed in another concat, or one that is itself a concat.
import { type Graph, type Value, producer } from '../ir.js';

export function placeConcat(g: Graph): Graph {
  const values: Value[] = g.values.map((v) => ({ ...v }));
  const nodes = g.nodes.map((n) => ({ ...n }));
  const graph = { ...g, values, nodes };
  for (const node of nodes) {
    if (node.op.kind !== 'concat') continue;
    const parts = node.inputs.map((id) => values[id]);
    const placeable = parts.every(
      (v) => v.id !== g.input && !v.placement && !v.segments && producer(graph, v.id)?.op.kind !== 'concat',
    );
    if (!placeable || new Set(node.inputs).size !== node.inputs.length) continue;
    let c4Offset = 0;
    const segments = [];
    for (const v of parts) {
      v.placement = { parent: node.output, c4Offset };
      segments.push({ channels: v.channels, c4Offset });
      c4Offset += Math.ceil(v.channels / 4);
    }
    values[node.output].segments = segments;
    node.op = { kind: 'concat', elided: true };
  }
  return graph;
}
