// Makes concat free: each input of a concat is written by its producer straight into its channel slice of
// the concatenated value's storage, and the concat node is elided. Each slice starts on a vec4 boundary,
// so when a part's channel count is not a multiple of 4 the concatenated storage has zero-filled gaps;
// consumers read it through the value's `segments` (conv weights are packed to skip the gaps).
// An input stays a real copy (the concat kernel runs) when it cannot be placed: the graph input, a value
// already placed in another concat, one that is itself a concat, or one whose producer's kernel cannot
// write a slice. Gapped storage is only made when every reader of the concat can read it (its registry
// entry says readsSegments); with every part a multiple of 4 channels the storage is dense anyway.
import { opDef } from '../../ops/index.js';
import { type Graph, type Segment, type Value, consumers, isDense, producer } from '../../ir/graph.js';

export function placeConcat(g: Graph): Graph {
  const values: Value[] = g.values.map((v) => ({ ...v }));
  const nodes = g.nodes.map((n) => ({ ...n }));
  const graph = { ...g, values, nodes };
  const readers = consumers(g);
  for (const node of nodes) {
    if (node.op.kind !== 'concat') continue;
    const parts = node.inputs.map((id) => values[id]);
    const placeable = parts.every((v) => {
      const p = producer(graph, v.id);
      return v.id !== g.input && !v.placement && !v.segments && p !== undefined && p.op.kind !== 'concat' && opDef(p.op).writesSlice;
    });
    if (!placeable || new Set(node.inputs).size !== node.inputs.length || node.output === g.output) continue;
    let c4Offset = 0;
    const segments: Segment[] = [];
    for (const v of parts) {
      segments.push({ channels: v.channels, c4Offset });
      c4Offset += Math.ceil(v.channels / 4);
    }
    const gapped = !isDense({ ...values[node.output], segments });
    if (gapped && !(readers.get(node.output) ?? []).every((r) => opDef(r.op).readsSegments)) continue;
    parts.forEach((v, i) => (v.placement = { parent: node.output, c4Offset: segments[i].c4Offset }));
    if (gapped) values[node.output].segments = segments;
    node.op = { kind: 'concat', elided: true };
  }
  return graph;
}
