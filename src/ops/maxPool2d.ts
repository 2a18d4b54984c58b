// max_pool2d (padding counts as -inf, floor mode).
import { maxPool2x2Step } from '../kernels/maxPool2x2.js';
import { storageC4 } from '../graph/ir.js';
import type { OpDef } from './registry.js';

export const maxPool2d: OpDef<'maxPool2d'> = {
  shape(op, [x], { node }) {
    const size = (s: number) => Math.floor((s + 2 * op.padding - op.kernel) / op.stride) + 1;
    if (2 * op.padding > op.kernel) throw new Error(`${node.name}: padding ${op.padding} is more than half the kernel ${op.kernel}`);
    return [x[0], x[1], size(x[2]), size(x[3])];
  },
  writesSlice: true,
  readsSegments: true,
  f16: true,
  compile(op, { device, node, g, shapeOf, view, range, workgroupSize, f16 }) {
    const [x] = node.inputs;
    const [n, , h, w] = shapeOf(x);
    if (op.kernel !== 2 || op.stride !== 2 || op.padding !== 0) throw new Error(`${node.name}: max_pool2d k${op.kernel} s${op.stride} p${op.padding} has no kernel yet`);
    const spec = { N: n, H: h, W: w, c4: storageC4(g.values[x]), input: view(x), output: view(node.output), workgroupSize, f16 };
    return [maxPool2x2Step(device, spec, { input: range(x), output: range(node.output) }, node.name)];
  },
};
