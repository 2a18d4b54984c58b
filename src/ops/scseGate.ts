// smp's SCSE combination x * cse + x * sse, from the channel gate [N, C, 1, 1] and the spatial gate [N, 1, H, W].
import { scseGateStep } from '../kernels/scseGate.js';
import { storageC4 } from '../ir/graph.js';
import type { OpDef } from './registry.js';

export const channelScale: OpDef<'channelScale'> = {
  shape(_op, [x, gate], { node }) {
    if (gate[0] !== x[0] || gate[1] !== x[1] || gate[2] !== 1 || gate[3] !== 1) throw new Error(`${node.name}: gate [${gate}] does not fit [${x}]`);
    return x;
  },
  writesSlice: true,
  // the gate is dense: x's channels must sit densely too
  readsSegments: false,
  f16: true,
  // the gate ([N, C, 1, 1]) is bound whole, x over the band's rows (the defaults)
  compile(_op, { device, node, g, shapeOf, view, range, workgroupSize, f16, band }) {
    const [x, gate] = node.inputs;
    const [n, , h, w] = shapeOf(x);
    const spec = { N: n, H: h, W: w, c4: storageC4(g.values[x]), band, input: view(x), cse: view(gate), output: view(node.output), workgroupSize, f16 };
    return [scseGateStep(device, spec, { input: range(x), cse: range(gate), output: range(node.output) }, node.name)];
  },
};

export const scseGate: OpDef<'scseGate'> = {
  shape(_op, [x, cse, sse], { node }) {
    if (cse[0] !== x[0] || cse[2] !== 1 || cse[3] !== 1 || sse[0] !== x[0] || sse[2] !== x[2] || sse[3] !== x[3]) {
      throw new Error(`${node.name}: gates [${cse}] and [${sse}] do not fit [${x}]`);
    }
    return x;
  },
  writesSlice: true,
  // the channel gate is dense: x's channels must sit densely too
  readsSegments: false,
  f16: true,
  // the channel gate ([N, C, 1, 1]) is bound whole, x and the spatial gate over the band's rows (the defaults)
  compile(_op, { device, node, g, shapeOf, view, range, workgroupSize, f16, band }) {
    const [x, cse, sse] = node.inputs;
    const [n, , h, w] = shapeOf(x);
    const spec = {
      N: n,
      H: h,
      W: w,
      c4: storageC4(g.values[x]),
      band,
      input: view(x),
      cse: view(cse),
      sse: view(sse),
      output: view(node.output),
      workgroupSize,
      f16,
    };
    return [scseGateStep(device, spec, { input: range(x), cse: range(cse), sse: range(sse), output: range(node.output) }, node.name)];
  },
};
