// Folds an inference-mode BatchNorm into the conv2d that feeds it (when the BN is that conv's only reader):
//   bn(conv(x)) = conv(x) * s + (beta - mean * s),  s = gamma / sqrt(var + eps)
// so W'[co] = W[co] * s[co] and b'[co] = (b[co] - mean[co]) * s[co] + beta[co]. Computed in f64, stored f32.
import { type Graph, consumers, producer } from '../../ir/graph.js';

export function foldBatchNorm(g: Graph): Graph {
  const readers = consumers(g);
  const removed = new Set<string>();
  const nodes = g.nodes.map((n) => ({ ...n }));
  const graph = { ...g, nodes };
  for (const bn of nodes) {
    if (bn.op.kind !== 'batchNorm') continue;
    const conv = producer(graph, bn.inputs[0]);
    if (conv?.op.kind !== 'conv2d' || conv.op.activation !== 'none' || readers.get(conv.output)?.length !== 1) continue;
    const { weight, shape, bias } = conv.op.params;
    const { weight: gamma, bias: beta, runningMean, runningVar, eps } = bn.op.params;
    const [cout] = shape;
    const perOut = weight.length / cout;
    const w = new Float32Array(weight.length);
    const b = new Float32Array(cout);
    for (let co = 0; co < cout; co++) {
      const s = gamma[co] / Math.sqrt(runningVar[co] + eps);
      for (let k = 0; k < perOut; k++) w[co * perOut + k] = weight[co * perOut + k] * s;
      b[co] = ((bias ? bias[co] : 0) - runningMean[co]) * s + beta[co];
    }
    conv.op = { ...conv.op, params: { weight: w, shape, bias: b } };
    conv.name = `${conv.name}+${bn.name.split('.').pop()}`;
    conv.output = bn.output;
    removed.add(bn.name);
  }
  return { ...graph, nodes: nodes.filter((n) => !removed.has(n.name)) };
}
