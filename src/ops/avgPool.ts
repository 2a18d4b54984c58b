// avg_pool2d / 3d with kernel = stride (floor mode, no padding): nnU-Net's residual skips down-sample this way.
import { avgPoolStep } from '../kernels/avgPool.js';
import { storageC4 } from '../ir/graph.js';
import type { OpDef } from './registry.js';
import { UnsupportedError } from '../errors.js';

export const avgPool: OpDef<'avgPool'> = {
  ranks: [2, 3],
  shape(op, [x], { node }) {
    if (op.kernel.length !== x.length - 2 || !op.kernel.every((k) => Number.isSafeInteger(k) && k >= 1))
      throw new UnsupportedError(`${node.name}: avgPool kernel [${op.kernel}] on the input [${x}]; expected one size >= 1 per spatial axis`);
    return [x[0], x[1], ...x.slice(2).map((s, i) => Math.floor(s / op.kernel[i]))];
  },
  writesSlice: true,
  // a concatenated input with vec4 gaps would need its output to keep the same gaps
  readsSegments: false,
  f16: true,
  // output coordinate o pools inputs o * k .. o * k + k - 1 along each axis (axis 0 = D in 3D, H in 2D)
  reach: (op) => (axis, o) => [o * op.kernel[axis], o * op.kernel[axis] + op.kernel[axis] - 1],
  compile(op, { device, node, g, shapeOf, view, range, workgroupSize, f16, band }) {
    const [x] = node.inputs;
    const s = shapeOf(x);
    const [D, H, W] = s.length === 5 ? [s[2], s[3], s[4]] : [1, s[2], s[3]];
    const k = op.kernel;
    const spec = {
      N: s[0],
      D,
      H,
      W,
      c4: storageC4(g.values[x]),
      kernel: (k.length === 2 ? [1, k[0], k[1]] : [k[0], k[1], k[2]]) as [number, number, number],
      input: view(x),
      output: view(node.output),
      workgroupSize,
      f16,
      band,
    };
    return [avgPoolStep(device, spec, { input: range(x), output: range(node.output) }, node.name)];
  },
};
