// avgPool: registry entry (its kernel lands in src/kernels/avgPool.ts).
import type { OpDef } from './registry.js';
import { UnsupportedError } from '../errors.js';

export const avgPool: OpDef<'avgPool'> = {
  ranks: [2, 3],
  shape: (_op, [x]) => x,
  writesSlice: false,
  readsSegments: false,
  f16: false,
  compile(_op, { node }) {
    throw new UnsupportedError(`${node.name}: avgPool has no kernel yet`);
  },
};
