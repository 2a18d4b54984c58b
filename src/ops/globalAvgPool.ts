// adaptive_avg_pool2d(x, 1) (the squeeze of smp's channel attention).
import { globalAvgPoolStep } from '../kernels/globalAvgPool.js';
import { storageC4 } from '../ir/graph.js';
import type { OpDef } from './registry.js';

export const globalAvgPool: OpDef<'globalAvgPool'> = {
  shape: (_op, [x]) => [x[0], x[1], 1, 1],
  writesSlice: true,
  // the pooled value has the input's channels densely: an input with gaps would shift them
  readsSegments: false,
  f16: true,
  compile(_op, { device, node, g, shapeOf, view, range, f16 }) {
    const [x] = node.inputs;
    const [n, , h, w] = shapeOf(x);
    const spec = { N: n, H: h, W: w, c4: storageC4(g.values[x]), input: view(x), output: view(node.output), workgroupSize: 64, f16 };
    return [globalAvgPoolStep(device, spec, { input: range(x), output: range(node.output) }, node.name)];
  },
};
