// act(a + b): the residual add where fuseResidual could not fold it into a conv.
import { addStep } from '../kernels/add.js';
import type { OpDef } from './registry.js';
import { positions, sameSize } from './registry.js';
import { UnsupportedError } from '../errors.js';

export const add: OpDef<'add'> = {
  ranks: [2, 3],
  shape: (_op, inputs, { node }) => sameSize(node, inputs),
  writesSlice: true,
  readsSegments: false,
  f16: true,
  compile(op, { device, node, g, shapeOf, view, range, workgroupSize, f16, band }) {
    const [a, b] = node.inputs;
    const s = shapeOf(node.output);
    const c = s[1];
    if (g.values[a].segments || g.values[b].segments) throw new UnsupportedError(`${node.name}: add of concatenations with channel gaps is not supported`);
    // pixelwise: a band of rows is the pixels from row0 * W on (inputs are bound over the same rows)
    const W = s[s.length - 1];
    const pixels = band ? band.rows * W : positions(s);
    const spec = {
      pixels,
      pixel0: (band?.row0 ?? 0) * W,
      channels: c,
      activation: op.activation,
      a: view(a),
      b: view(b),
      output: view(node.output),
      workgroupSize,
      f16,
    };
    return [addStep(device, spec, { a: range(a), b: range(b), output: range(node.output) }, node.name)];
  },
};
