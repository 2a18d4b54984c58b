// Ops whose kernels are not wired in yet.
import type { OpDef } from './registry.js';
import { sameSize } from './registry.js';

const none = (what: string) => () => {
  throw new Error(`${what} has no kernel yet`);
};

export const resize: OpDef<'resize'> = {
  shape: (op, [x], { shapeOf }) => {
    const [, , h, w] = shapeOf(op.like);
    return [x[0], x[1], h, w];
  },
  writesSlice: true,
  readsSegments: true,
  f16: true,
  compile: none('resize'),
};

export const add: OpDef<'add'> = {
  shape: (_op, inputs, { node }) => sameSize(node, inputs),
  writesSlice: true,
  readsSegments: false,
  f16: true,
  compile: none('add'),
};

export const globalAvgPool: OpDef<'globalAvgPool'> = {
  shape: (_op, [x]) => [x[0], x[1], 1, 1],
  writesSlice: false,
  readsSegments: false,
  f16: true,
  compile: none('globalAvgPool'),
};

export const softmax: OpDef<'softmax'> = {
  shape: (_op, [x]) => x,
  writesSlice: false,
  readsSegments: false,
  f16: true,
  compile: none('softmax'),
};

export const scseGate: OpDef<'scseGate'> = {
  shape(_op, [x, cse, sse], { node }) {
    if (cse[0] !== x[0] || cse[2] !== 1 || cse[3] !== 1 || sse[2] !== x[2] || sse[3] !== x[3]) {
      throw new Error(`${node.name}: gates [${cse}] and [${sse}] do not fit [${x}]`);
    }
    return x;
  },
  writesSlice: false,
  readsSegments: false,
  f16: true,
  compile: none('scseGate'),
};
