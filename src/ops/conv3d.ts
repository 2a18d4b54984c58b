// conv3d: registry entry (its kernel lands in src/kernels/conv3d.ts).
import type { OpDef } from './registry.js';
import { UnsupportedError } from '../errors.js';

export const conv3d: OpDef<'conv3d'> = {
  ranks: [2, 3],
  shape: (_op, [x]) => x,
  writesSlice: false,
  readsSegments: false,
  f16: false,
  compile(_op, { node }) {
    throw new UnsupportedError(`${node.name}: conv3d has no kernel yet`);
  },
};
