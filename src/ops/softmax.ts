// softmax / log_softmax over channels (smp's head activations 'softmax', 'softmax2d', 'logsoftmax').
import { channelSoftmaxStep } from '../kernels/channelSoftmax.js';
import { type OpDef, positions } from './registry.js';
import { UnsupportedError } from '../errors.js';

export const softmax: OpDef<'softmax'> = {
  ranks: [2, 3],
  shape: (_op, [x]) => x,
  writesSlice: true,
  readsSegments: false,
  f16: true,
  compile(op, { device, node, g, shapeOf, view, range, workgroupSize, f16, band }) {
    const [x] = node.inputs;
    const s = shapeOf(x);
    const c = s[1];
    if (g.values[x].segments) throw new UnsupportedError(`${node.name}: softmax of a concatenation with channel gaps is not supported`);
    // per pixel: a band of rows is the pixels from row0 * W on
    const W = s[s.length - 1];
    const pixels = band ? band.rows * W : positions(s);
    const spec = { pixels, pixel0: (band?.row0 ?? 0) * W, channels: c, log: op.log, input: view(x), output: view(node.output), workgroupSize, f16 };
    return [channelSoftmaxStep(device, spec, { input: range(x), output: range(node.output) }, node.name)];
  },
};
