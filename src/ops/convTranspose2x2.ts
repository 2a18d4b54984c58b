// conv_transpose2d kernel 2 stride 2 with bias (the brain U-Net's up-sampling): the convTransposeStrided op's
// pack and compile with kernel [2, 2], under its own tuning keys.
import { packConvTranspose2x2Weights } from '../kernels/convTranspose2x2.js';
import { compileTransposeStrided, packTransposeStrided, reachTransposeStrided } from './convTransposeStrided.js';
import type { OpDef } from './registry.js';

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
  pack: (op, ctx) => packTransposeStrided(op.params, ctx, packConvTranspose2x2Weights),
  reach: (op) => reachTransposeStrided(op.params),
  compile: (op, ctx) => compileTransposeStrided(op.params, ctx),
};
