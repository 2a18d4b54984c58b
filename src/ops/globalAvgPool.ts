// adaptive_avg_pool2d(x, 1) (the squeeze of smp's channel attention).
import { globalAvgPoolBandSteps, globalAvgPoolScratch } from '../kernels/globalAvgPool.js';
import { storageC4 } from '../ir/graph.js';
import type { OpDef } from './registry.js';

// workgroup size, and lanes whose running sums a band carries to the next
const WORKGROUP = 64;

export const globalAvgPool: OpDef<'globalAvgPool'> = {
  shape: (_op, [x]) => [x[0], x[1], 1, 1],
  writesSlice: true,
  // the pooled value has the input's channels densely: an input with gaps would shift them
  readsSegments: false,
  f16: true,
  // the lanes' running sums of an image a band leaves unfinished
  scratch: (_op, { g, node }) => [globalAvgPoolScratch({ c4: storageC4(g.values[node.inputs[0]]), workgroupSize: WORKGROUP })],
  // the mean spans every row of an image: one compile() call records a dispatch per band of input rows
  banding: 'reduce',
  compile(_op, ctx) {
    const { device, node, g, shapeOf, scratch, f16 } = ctx;
    const [x] = node.inputs;
    const [n, , h, w] = shapeOf(x);
    const bands = ctx.bands ?? [{ band: { row0: 0, rows: n * h }, view: ctx.view, range: ctx.range }];
    const spec = { N: n, H: h, W: w, c4: storageC4(g.values[x]), input: ctx.view(x), output: ctx.view(node.output), workgroupSize: WORKGROUP, f16 };
    const windows = bands.map(({ band, view, range }) => ({
      pixel0: band.row0 * w,
      pixels: band.rows * w,
      input: view(x),
      output: view(node.output),
      buffers: { input: range(x), output: range(node.output) },
    }));
    return globalAvgPoolBandSteps(device, spec, windows, scratch[0], node.name);
  },
};
