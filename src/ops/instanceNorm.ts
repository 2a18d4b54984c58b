// InstanceNorm2d / 3d (affine), with the residual add and the activation that fuseNorm moves into it
// (nnU-Net's conv -> norm -> nonlin, and BasicBlockD's norm2 -> += skip -> nonlin2).
import { instanceNormBandSteps, instanceNormScratch, packInstanceNormParams } from '../kernels/instanceNorm.js';
import type { Node, OpOf, Shape, ValueId } from '../ir/graph.js';
import { type OpDef, positions, sameSize } from './registry.js';
import { InputError } from '../errors.js';

type Ctx = { node: Node; shapeOf(v: ValueId): Shape; workgroupSize?: number; f16: boolean };

/** The kernel's spec without the views (the scratch sizes need only this much). */
function specOf(op: OpOf<'instanceNorm'>, { node, shapeOf, workgroupSize = 64, f16 }: Ctx) {
  const s = shapeOf(node.inputs[0]);
  const view = { c4Stride: 0, c4Offset: 0 };
  return {
    N: s[0],
    positions: positions(s) / s[0],
    channels: s[1],
    eps: op.params.eps,
    activation: op.activation,
    input: view,
    output: view,
    residual: op.residual ? view : undefined,
    workgroupSize,
    f16,
  };
}

export const instanceNorm: OpDef<'instanceNorm'> = {
  ranks: [2, 3],
  shape(op, inputs, { node }) {
    if (op.residual) {
      const [x, r] = inputs;
      if (r?.[1] !== x[1]) throw new InputError(`${node.name}: the residual [${r ?? ''}] does not match the normalized value [${x}]`);
      return sameSize(node, inputs);
    }
    return inputs[0];
  },
  // inputs [x] or [x, residual]: both read by the apply pass
  writesSlice: true,
  // the statistics run per stored vec4 group: channels with gaps between concatenated parts would be
  // normalized with weights of other channels
  readsSegments: false,
  f16: true,
  // weight and bias
  parameters: (op) => 2 * op.params.weight.length,
  pack: (op) => [packInstanceNormParams(op.params)],
  scratch: (op, ctx) => instanceNormScratch(specOf(op, ctx)),
  // the statistics span every row of an instance: one compile() call records every band's partials, the
  // stats once, then every band's apply (the output and the residual share the input's rows)
  banding: 'reduce',
  compile(op, ctx) {
    const { device, node, shapeOf, params, scratch } = ctx;
    const [x, r] = node.inputs;
    const shape = shapeOf(x);
    const W = shape[shape.length - 1];
    const bands = ctx.bands ?? [{ band: { row0: 0, rows: positions(shape) / W }, view: ctx.view, range: ctx.range }];
    const spec = { ...specOf(op, ctx), input: ctx.view(x), output: ctx.view(node.output), residual: op.residual ? ctx.view(r) : undefined };
    const windows = bands.map(({ band, view, range }) => ({
      pixel0: band.row0 * W,
      pixels: band.rows * W,
      input: view(x),
      output: view(node.output),
      residual: op.residual ? view(r) : undefined,
      buffers: { input: range(x), output: range(node.output), residual: op.residual ? range(r) : undefined },
    }));
    return instanceNormBandSteps(device, spec, windows, { params: params[0], partials: scratch[0], stats: scratch[1] }, node.name);
  },
};
