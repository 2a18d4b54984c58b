// torch.cat(dim=1). Free once placeConcat has made every producer write its slice (then elided); else
// a copy kernel for two plain inputs.
import { concatStep } from '../kernels/concat.js';
import { positions, sameSize } from './registry.js';
import type { OpDef } from './registry.js';
import { UnsupportedError } from '../errors.js';

export const concat: OpDef<'concat'> = {
  shape(_op, inputs, { node, channels }) {
    const s = [...sameSize(node, inputs)];
    s[1] = channels;
    return s;
  },
  ranks: [2, 3],
  reads: (op, node) => (op.elided ? [] : node.inputs),
  elided: (op) => op.elided === true,
  writesSlice: true,
  readsSegments: false,
  f16: false,
  compile(op, { device, node, g, shapeOf, view, range, workgroupSize, band }) {
    if (op.elided) return [];
    const [a, b] = node.inputs.map((v) => g.values[v]);
    if (node.inputs.length !== 2 || a.segments || b.segments) throw new UnsupportedError(`${node.name}: only two-input concat of plain values is supported`);
    // pixelwise: a band of rows is the pixels from row0 * W on
    const s = shapeOf(a.id);
    const W = s[s.length - 1];
    const pixels = band ? band.rows * W : positions(s);
    const spec = {
      pixels,
      pixel0: (band?.row0 ?? 0) * W,
      ca: a.channels,
      cb: b.channels,
      a: view(a.id),
      b: view(b.id),
      output: view(node.output),
      workgroupSize,
    };
    return [concatStep(device, spec, { a: range(a.id), b: range(b.id), output: range(node.output) }, node.name)];
  },
};
