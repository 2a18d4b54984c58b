// conv_transpose2d / 3d whose kernel equals its stride (nnU-Net's decoder up-sampling), with optional bias.
// It shares the convTranspose2x2 tuning entry: the same GEMM tile, with kH x kW taps unrolled instead of 2 x 2.
import { convTransposeStridedStep, packConvTransposeStridedWeights } from '../kernels/convTransposeStrided.js';
import type { Step } from '../kernels/common.js';
import type { ConvNdParams } from '../ir/params.js';
import { channelPos, storageC4 } from '../ir/graph.js';
import type { CompileContext, OpDef, PackContext, ParamArray } from './registry.js';
import { weightsFor } from './registry.js';
import { UnsupportedError } from '../errors.js';

/** [kD, kH, kW] of the op's weight (kD = 1 in 2D). */
const kernel3 = (shape: number[]): [number, number, number] => {
  const k = shape.slice(2);
  return k.length === 2 ? [1, k[0], k[1]] : [k[0], k[1], k[2]];
};

/** The weights and bias of a kernel = stride transposed conv, packed for the node's tile by `pack` (the
 *  convTranspose2x2 op passes its own, which checks the kernel is 2 x 2). */
export function packTransposeStrided<P extends ConvNdParams>(
  params: P,
  { g, node, f16, tile }: PackContext,
  pack: (
    p: P,
    cin4: number,
    tileC4: number,
    channelPos: (ci: number) => number,
  ) => { weight: Float32Array; bias: Float32Array } = packConvTransposeStridedWeights,
): ParamArray[] {
  const input = g.values[node.inputs[0]];
  const p = pack(params, storageC4(input), tile!.tileC4, channelPos(input));
  return [weightsFor(p.weight, f16), p.bias];
}

/**
 * The input coordinates output coordinate o reads along spatial axis `axis` (the convTransposeStrided and
 * convTranspose2x2 ops' reach): with kernel = stride k and no padding, output o = i * k + t (t < k) reads
 * input i = floor(o / k) only.
 */
export const reachTransposeStrided =
  (params: ConvNdParams) =>
  (axis: number, o: number): [number, number] => {
    const i = Math.floor(o / params.shape[2 + axis]);
    return [i, i];
  };

/** The step of a kernel = stride transposed conv (the convTransposeStrided and convTranspose2x2 ops), for
 *  the band of output rows the context gives (all rows unbanded). */
export function compileTransposeStrided(
  params: ConvNdParams,
  { device, node, g, shapeOf, view, range, params: packed, tile, f16, band }: CompileContext,
): Step[] {
  const [x] = node.inputs;
  const s = shapeOf(x);
  const [D, H, W] = s.length === 5 ? [s[2], s[3], s[4]] : [1, s[2], s[3]];
  const spec = {
    N: s[0],
    D,
    H,
    W,
    kernel: kernel3(params.shape),
    cin: params.shape[0],
    cin4: storageC4(g.values[x]),
    cout: params.shape[1],
    input: view(x),
    output: view(node.output),
    ...tile!,
    f16,
    band,
  };
  return [convTransposeStridedStep(device, spec, { input: range(x), weight: packed[0], bias: packed[1], output: range(node.output) }, node.name)];
}

export const convTransposeStrided: OpDef<'convTransposeStrided'> = {
  ranks: [2, 3],
  shape(op, [x], { node, channels }) {
    const kernel = op.params.shape.slice(2);
    if (kernel.length !== x.length - 2)
      throw new UnsupportedError(
        `${node.name}: a ${kernel.length}D kernel [${kernel}] on the ${x.length - 2}D input [${x}]; expected one size per spatial axis`,
      );
    return [x[0], channels, ...x.slice(2).map((s, i) => s * kernel[i])];
  },
  writesSlice: true,
  readsSegments: true,
  f16: true,
  tuning: {
    kernel: 'convTranspose2x2',
    key(op, g, node) {
      const [cin, cout, ...kernel] = op.params.shape;
      const segs = g.values[node.inputs[0]].segments?.length ?? 1;
      return `convTransposeStrided k${kernel.join('x')} ${cin}${segs > 1 ? `(${segs} parts)` : ''}->${cout}`;
    },
  },
  parameters: (op) => op.params.weight.length + (op.params.bias?.length ?? 0),
  pack: (op, ctx) => packTransposeStrided(op.params, ctx),
  reach: (op) => reachTransposeStrided(op.params),
  compile: (op, ctx) => compileTransposeStrided(op.params, ctx),
};
