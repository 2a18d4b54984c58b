// max_pool2d (padding counts as -inf, floor mode): the brain U-Net's 2x2 pools and ResNet's k3 s2 p1.
import { maxPool2dOutSize, maxPool2dSourceRows, maxPool2dStep } from '../kernels/maxPool2d.js';
import { storageC4 } from '../ir/graph.js';
import type { OpDef } from './registry.js';

export const maxPool2d: OpDef<'maxPool2d'> = {
  shape(op, [x], { node }) {
    if (2 * op.padding > op.kernel) throw new Error(`${node.name}: padding ${op.padding} is more than half the kernel ${op.kernel}`);
    const size = (s: number) => maxPool2dOutSize(s, op.kernel, op.stride, op.padding);
    return [x[0], x[1], size(x[2]), size(x[3])];
  },
  writesSlice: true,
  readsSegments: true,
  f16: true,
  // output row o pools input rows o * stride - padding .. + kernel - 1
  reach(op) {
    const rows = maxPool2dSourceRows(op.kernel, op.stride, op.padding);
    return (_axis, o) => rows(o);
  },
  compile(op, { device, node, g, shapeOf, view, range, workgroupSize, f16, band }) {
    const [x] = node.inputs;
    const [n, , h, w] = shapeOf(x);
    const spec = {
      N: n,
      H: h,
      W: w,
      c4: storageC4(g.values[x]),
      kernel: op.kernel,
      stride: op.stride,
      padding: op.padding,
      band,
      input: view(x),
      output: view(node.output),
      workgroupSize,
      f16,
    };
    return [maxPool2dStep(device, spec, { input: range(x), output: range(node.output) }, node.name)];
  },
};
