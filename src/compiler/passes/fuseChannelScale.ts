// Folds squeeze-excite's channel scale into the conv that reads it: conv(x * gate) becomes a conv reading
// x and multiplying each input vec4 by its image's gate as it loads it, so the scaled tensor is never
// written (EfficientNet's MBConv: SE, then the 1x1 project conv). Legal when the scaled value is read
// only by that conv, as its main input, and x's channels sit densely (the gate is indexed like them).
import { isDepthwise } from '../../ops/conv2d.js';
import { type Graph, type Node, consumers, isDense } from '../../ir/graph.js';

export function fuseChannelScale(g: Graph): Graph {
  const readers = consumers(g);
  const nodes = g.nodes.map((n) => ({ ...n }));
  const byOutput = new Map(nodes.map((n) => [n.output, n]));
  const removed = new Set<Node>();
  for (const scale of nodes) {
    if (scale.op.kind !== 'channelScale' || scale.output === g.output) continue;
    const r = readers.get(scale.output) ?? [];
    const conv = r.length === 1 ? byOutput.get(r[0].output) : undefined;
    if (conv?.op.kind !== 'conv2d' || conv.op.inputScale || isDepthwise(conv.op) || conv.inputs[0] !== scale.output) continue;
    if (conv.inputs.slice(1).includes(scale.output)) continue;
    const [x, gate] = scale.inputs;
    if (!isDense(g.values[x])) continue;
    conv.op = { ...conv.op, inputScale: true };
    conv.inputs = [x, ...conv.inputs.slice(1), gate];
    conv.name = `${conv.name}*scale`;
    removed.add(scale);
  }
  return { ...g, nodes: nodes.filter((n) => !removed.has(n)) };
}
