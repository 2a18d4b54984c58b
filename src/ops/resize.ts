// F.interpolate to another value's size (smp's decoder: to the next skip's size), nearest or bilinear.
import { resizeSourceRows, resizeStep } from '../kernels/resize.js';
import { storageC4 } from '../ir/graph.js';
import type { OpDef } from './registry.js';

export const resize: OpDef<'resize'> = {
  shape(op, [x], { shapeOf }) {
    const [h, w] = 'like' in op.to ? shapeOf(op.to.like).slice(2) : op.to.size;
    return [x[0], x[1], h, w];
  },
  writesSlice: true,
  readsSegments: true,
  f16: true,
  // output row o reads the input rows the kernel's f32 source index arithmetic gives (and one either side)
  reach(op, _k, { input, output }) {
    const rows = resizeSourceRows(op.mode, input[2], output[2]);
    return (_axis, o) => rows(o);
  },
  compile(op, { device, node, g, shapeOf, view, range, workgroupSize, f16, band }) {
    const [x] = node.inputs;
    const [n, , h, w] = shapeOf(x);
    const [, , ho, wo] = shapeOf(node.output);
    const spec = {
      N: n,
      H: h,
      W: w,
      HO: ho,
      WO: wo,
      c4: storageC4(g.values[x]),
      mode: op.mode,
      band,
      input: view(x),
      output: view(node.output),
      workgroupSize,
      f16,
    };
    return [resizeStep(device, spec, { input: range(x), output: range(node.output) }, node.name)];
  },
};
