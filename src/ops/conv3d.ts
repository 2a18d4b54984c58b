// conv3d: an implicit GEMM over NDHWC4 storage (src/kernels/conv3d.ts) with bias, optional residual input and
// activation in the epilogue; add / activation nodes fuse into it (src/compiler/passes), as into conv2d.
import { c4 } from '../kernels/common.js';
import { type Axes3, conv3dOutSize, conv3dStep, packConv3dWeights } from '../kernels/conv3d.js';
import { type ConvTile, DEFAULT_TUNING } from '../kernels/tuning.js';
import { type Graph, type Node, type OpOf, channelPos, storageC4 } from '../ir/graph.js';
import type { OpDef } from './registry.js';
import { weightsFor } from './registry.js';
import { fillWorkgroups } from './conv2d.js';

/** A conv3d layer's identity for per-layer tuning (Tuning.layers): what shapes its work, not the input size. */
export function conv3dLayerKey(op: OpOf<'conv3d'>, g: Graph, node: Node): string {
  const [cout, cin, ...k] = op.params.shape;
  const segs = g.values[node.inputs[0]].segments?.length ?? 1;
  return `conv3d k${k.join('x')} s${op.stride.join('x')} ${cin}${segs > 1 ? `(${segs} parts)` : ''}->${cout}`;
}

/** The tile a layer runs with (weights are packed for it): never more output vec4s than the layer has, so
 *  a 2-class head does not compute vec4s of zero weights. A tuning without a conv3d entry (one made before
 *  the kernel existed) gets the default. */
function layerTile(op: OpOf<'conv3d'>, tile: ConvTile | undefined): ConvTile {
  const t = tile ?? DEFAULT_TUNING.conv3d;
  const tileC4 = Math.min(t.tileC4, c4(op.params.shape[0]));
  return tileC4 === t.tileC4 ? t : { ...t, tileC4 };
}

export const conv3d: OpDef<'conv3d'> = {
  ranks: [3],
  shape(op, inputs, { node, channels }) {
    const [x] = inputs;
    const k = op.params.shape.slice(2);
    const out = [x[0], channels, ...[0, 1, 2].map((i) => conv3dOutSize(x[2 + i], k[i], op.stride[i], op.padding[i]))];
    const r = op.residual ? inputs[1] : undefined;
    if (r && (r.length !== out.length || r.some((d, i) => d !== out[i]))) throw new Error(`${node.name}: residual [${r}] does not match the output [${out}]`);
    return out;
  },
  writesSlice: true,
  readsSegments: true,
  f16: true,
  tuning: { kernel: 'conv3d', key: conv3dLayerKey },
  parameters: (op) => op.params.weight.length + (op.params.bias?.length ?? 0),
  // output coordinate o of axis D (0) or H (1) reads inputs o * stride - pad .. + (k - 1) (no dilation); the
  // residual has the output's size (the default)
  reach(op, k) {
    if (k !== 0) return (_axis, o) => [o, o];
    const kernel = op.params.shape.slice(2);
    return (axis, o) => {
      const first = o * op.stride[axis] - op.padding[axis];
      return [first, first + kernel[axis] - 1];
    };
  },
  pack(op, { g, node, f16, tile }) {
    const input = g.values[node.inputs[0]];
    const p = packConv3dWeights(op.params, storageC4(input), layerTile(op, tile).tileC4, channelPos(input));
    return [weightsFor(p.weight, f16), p.bias];
  },
  compile(op, { device, node, g, shapeOf, view, range, params, tile, f16, band }) {
    const [x] = node.inputs;
    const r = op.residual ? node.inputs[1] : -1;
    const [n, cin, d, h, w] = shapeOf(x);
    const [, cout, dO, hO, wO] = shapeOf(node.output);
    const [, , kD, kH, kW] = op.params.shape;
    const spec = {
      N: n,
      D: d,
      H: h,
      W: w,
      cin,
      cin4: storageC4(g.values[x]),
      cout,
      kernel: [kD, kH, kW] as Axes3,
      stride: op.stride,
      padding: op.padding,
      residual: op.residual ? view(r) : undefined,
      input: view(x),
      output: view(node.output),
      activation: op.activation,
      // fewer voxels per invocation where the layer is too small to fill the workgroups (N * DO * HO rows:
      // the whole output's, so every band runs the same code)
      ...fillWorkgroups(layerTile(op, tile), n * dO * hO, wO),
      f16,
      band,
    };
    const io = { input: range(x), weight: params[0], bias: params[1], output: range(node.output), residual: op.residual ? range(r) : undefined };
    return [conv3dStep(device, spec, io, node.name)];
  },
};
