// A standalone elementwise activation (fuseActivation moves it into the producing conv where it can).
import { unaryStep } from '../kernels/unary.js';
import { storageC4 } from '../graph/ir.js';
import type { OpDef } from './registry.js';

export const activation: OpDef<'activation'> = {
  shape: (_op, [x]) => x,
  writesSlice: true,
  readsSegments: false,
  f16: false,
  compile(op, { device, node, g, shapeOf, view, range, workgroupSize }) {
    const [x] = node.inputs;
    const [n, , h, w] = shapeOf(x);
    if (op.fn === 'none') throw new Error(`${node.name}: an identity activation should have been removed`);
    if (op.fn !== 'relu' && op.fn !== 'sigmoid') throw new Error(`${node.name}: ${op.fn} has no standalone kernel yet`);
    const spec = { op: op.fn, pixels: n * h * w, c4: storageC4(g.values[x]), input: view(x), output: view(node.output), workgroupSize };
    return [unaryStep(device, spec, { input: range(x), output: range(node.output) }, node.name)];
  },
};
