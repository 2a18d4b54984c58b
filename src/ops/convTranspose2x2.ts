// conv_transpose2d kernel 2 stride 2 with bias (the brain U-Net's up-sampling).
import { convTranspose2x2Step, packConvTranspose2x2Weights } from '../kernels/convTranspose2x2.js';
import { channelPos, storageC4 } from '../ir/graph.js';
import type { OpDef } from './registry.js';
import { weightsFor } from './registry.js';

export const convTranspose2x2: OpDef<'convTranspose2x2'> = {
  shape: (_op, [x], { channels }) => [x[0], channels, 2 * x[2], 2 * x[3]],
  writesSlice: true,
  readsSegments: true,
  f16: true,
  tuning: {
    kernel: 'convTranspose2x2',
    key(op, g, node) {
      const [cin, cout, kh, kw] = op.params.shape;
      const segs = g.values[node.inputs[0]].segments?.length ?? 1;
      return `convTranspose2x2 k${kh}x${kw} ${cin}${segs > 1 ? `(${segs} parts)` : ''}->${cout}`;
    },
  },
  parameters: (op) => op.params.weight.length + (op.params.bias?.length ?? 0),
  pack(op, { g, node, f16, tile }) {
    const input = g.values[node.inputs[0]];
    const p = packConvTranspose2x2Weights(op.params, storageC4(input), tile!.tileC4, channelPos(input));
    return [weightsFor(p.weight, f16), p.bias];
  },
  compile(op, { device, node, g, shapeOf, view, range, params, tile, f16 }) {
    const [x] = node.inputs;
    const [n, , h, w] = shapeOf(x);
    const spec = {
      N: n,
      H: h,
      W: w,
      cin: op.params.shape[0],
      cin4: storageC4(g.values[x]),
      cout: op.params.shape[1],
      input: view(x),
      output: view(node.output),
      ...tile!,
      f16,
    };
    return [convTranspose2x2Step(device, spec, { input: range(x), weight: params[0], bias: params[1], output: range(node.output) }, node.name)];
  },
};
