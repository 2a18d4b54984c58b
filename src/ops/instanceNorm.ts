// instanceNorm: registry entry (its kernel lands in src/kernels/instanceNorm.ts).
import type { OpDef } from './registry.js';
import { UnsupportedError } from '../errors.js';

export const instanceNorm: OpDef<'instanceNorm'> = {
  ranks: [2, 3],
  shape: (_op, [x]) => x,
  writesSlice: false,
  readsSegments: false,
  f16: false,
  compile(_op, { node }) {
    throw new UnsupportedError(`${node.name}: instanceNorm has no kernel yet`);
  },
};
