// A standalone elementwise activation (fuseActivation moves it into the producing conv where it can).
import { unaryStep } from '../kernels/unary.js';
import { storageC4 } from '../ir/graph.js';
import { type OpDef, positions } from './registry.js';
import { UnsupportedError } from '../errors.js';

export const activation: OpDef<'activation'> = {
  ranks: [2, 3],
  shape: (_op, [x]) => x,
  writesSlice: true,
  readsSegments: false,
  f16: true,
  compile(op, { device, node, g, shapeOf, view, range, workgroupSize, f16, band }) {
    const [x] = node.inputs;
    const s = shapeOf(x);
    const c = s[1];
    if (op.fn === 'none') throw new Error(`${node.name}: an identity activation should have been removed`);
    if (g.values[x].segments) throw new UnsupportedError(`${node.name}: ${op.fn} of a concatenation with channel gaps is not supported`);
    // pixelwise: a band of rows is the pixels from row0 * W on
    const W = s[s.length - 1];
    const pixels = band ? band.rows * W : positions(s);
    const spec = {
      op: op.fn,
      pixels,
      pixel0: (band?.row0 ?? 0) * W,
      c4: storageC4(g.values[x]),
      channels: c,
      input: view(x),
      output: view(node.output),
      workgroupSize,
      f16,
    };
    return [unaryStep(device, spec, { input: range(x), output: range(node.output) }, node.name)];
  },
};
