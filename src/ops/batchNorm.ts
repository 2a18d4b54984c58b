// BatchNorm2d in eval mode, standalone (foldBatchNorm folds it into the conv before it where it can).
import { batchNormStep, packBatchNormParams } from '../kernels/batchNorm.js';
import { storageC4 } from '../ir/graph.js';
import { type OpDef, positions } from './registry.js';

export const batchNorm: OpDef<'batchNorm'> = {
  ranks: [2, 3],
  shape: (_op, [x]) => x,
  writesSlice: true,
  readsSegments: false,
  f16: true,
  // weight and bias; running_mean and running_var are buffers, not parameters, in PyTorch
  parameters: (op) => 2 * op.params.weight.length,
  pack: (op, { g, node }) => [packBatchNormParams(op.params, storageC4(g.values[node.inputs[0]]))],
  compile(op, { device, node, g, shapeOf, view, range, params, workgroupSize, f16, band }) {
    const [x] = node.inputs;
    // per channel and position-wise: a 3D value is N * D images of H x W
    const s = shapeOf(x);
    const spec = {
      N: positions(s) / (s[s.length - 2] * s[s.length - 1]),
      H: s[s.length - 2],
      W: s[s.length - 1],
      c4: storageC4(g.values[x]),
      eps: op.params.eps,
      band,
      input: view(x),
      output: view(node.output),
      workgroupSize,
      f16,
    };
    return [batchNormStep(device, spec, { input: range(x), output: range(node.output), params: params[0] }, node.name)];
  },
};
