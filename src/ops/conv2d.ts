// conv2d: an implicit GEMM (src/kernels/conv2d.ts) with bias, optional residual input and activation in
// the epilogue. BatchNorm folds into its weights, and add / activation nodes fuse into it (src/compiler/passes).
import { checkConv2dGroups, conv2dStep, packConv2dWeights } from '../kernels/conv2d.js';
import { conv2dTiledStep } from '../kernels/conv2dTiled.js';
import { depthwiseConv2dStep, packDepthwiseConv2dWeights } from '../kernels/depthwiseConv2d.js';
import { packWinogradWeights, winogradLayout, winogradSteps } from '../kernels/winograd.js';
import { channelPos, storageC4 } from '../ir/graph.js';
import type { OpDef } from './registry.js';
import { weightsFor } from './registry.js';
import { conv2dLayerKey, convVariantOf, describeConvVariant, isDepthwise, winogradEligible } from './convVariant.js';
import type { Step } from '../kernels/common.js';
import { UnsupportedError } from '../errors.js';

/**
 * Fewer pixels per invocation on layers too small to fill the workgroups otherwise (the bottleneck of a
 * U-Net is 8x8 at a 128x128 input): lanes past the last block compute and discard, so a half-empty
 * workgroup costs as much as a full one. Where even one pixel per invocation leaves most of a workgroup
 * idle (a Winograd GEMM over 16 tiles), the workgroup shrinks too, to a power of two no smaller than a
 * subgroup (8 lanes where the tile names none). Neither changes the weight packing, so this is decided
 * per input shape. `rows` = N * output height.
 */
export function fillWorkgroups<T extends { tilePixels: number; workgroupSize: number; subgroupSize?: number }>(tile: T, rows: number, width: number): T {
  let tilePixels = tile.tilePixels;
  while (tilePixels > 1 && rows * Math.ceil(width / tilePixels) < 2 * tile.workgroupSize) tilePixels >>= 1;
  const blocks = rows * Math.ceil(width / tilePixels);
  let workgroupSize = tile.workgroupSize;
  const least = Math.max(tile.subgroupSize ?? 8, 8);
  while (workgroupSize > least && workgroupSize % 2 === 0 && blocks <= workgroupSize / 2) workgroupSize /= 2;
  return tilePixels === tile.tilePixels && workgroupSize === tile.workgroupSize ? tile : { ...tile, tilePixels, workgroupSize };
}

export { isDepthwise };

export const conv2d: OpDef<'conv2d'> = {
  shape(op, inputs, { node, channels }) {
    const [x] = inputs;
    const r = op.residual ? inputs[1] : undefined;
    const scale = op.inputScale ? inputs[inputs.length - 1] : undefined;
    if (scale && (scale[0] !== x[0] || scale[1] !== x[1] || scale[2] !== 1 || scale[3] !== 1))
      throw new Error(`${node.name}: input scale [${scale}] for input [${x}]`);
    const [, , kH, kW] = op.params.shape;
    const [t, b, l, rt] = op.padding;
    const size = (s: number, k: number, p: number, st: number, d: number) => Math.floor((s + p - d * (k - 1) - 1) / st) + 1;
    const out: [number, number, number, number] = [
      x[0],
      channels,
      size(x[2], kH, t + b, op.stride[0], op.dilation[0]),
      size(x[3], kW, l + rt, op.stride[1], op.dilation[1]),
    ];
    if (r && (r[0] !== out[0] || r[1] !== out[1] || r[2] !== out[2] || r[3] !== out[3])) {
      throw new Error(`${node.name}: residual [${r}] does not match the output [${out}]`);
    }
    return out;
  },
  writesSlice: true,
  readsSegments: true,
  f16: true,
  tuning: {
    kernel: 'conv2d',
    key: conv2dLayerKey,
  },
  // The input rows output row o reads (the residual has the output's rows and the gate [N, C, 1, 1] is bound
  // whole: the defaults).
  reach(op, k) {
    if (k !== 0) return op.inputScale && k === 1 + (op.residual ? 1 : 0) ? 'all' : (_axis, o) => [o, o];
    const [, , kH] = op.params.shape;
    const first = (o: number) => o * op.stride[0] - op.padding[0];
    return (_axis, o) => [first(o), first(o) + (kH - 1) * op.dilation[0]];
  },
  // Winograd's tiles are m = 2 or 4 rows from each image's top, and a band of them must sit where one pass
  // puts them: layers that may run as Winograd (whatever the tuning and precision) start bands on rows
  // divisible by 4. Every other kernel computes each row alone.
  bandStart(op, output) {
    if (!winogradEligible(op, false)) return () => true;
    const ho = output[2];
    return (row) => (row % ho) % 4 === 0;
  },
  parameters: (op) => op.params.weight.length + (op.params.bias?.length ?? 0),
  pack(op, { g, node, f16, tuning }) {
    const input = g.values[node.inputs[0]];
    const variant = convVariantOf(g, node, tuning, f16);
    if (variant.kind === 'depthwise') {
      if (input.segments) throw new UnsupportedError(`${node.name}: a depthwise conv cannot read a concatenation with channel gaps`);
      const p = packDepthwiseConv2dWeights(op.params);
      return [weightsFor(p.weight, f16), p.bias];
    }
    const t = variant.tile;
    if (variant.kind === 'winograd2' || variant.kind === 'winograd4') {
      const p = packWinogradWeights(op.params, variant.m, storageC4(input), channelPos(input));
      return [weightsFor(p.weight, f16), p.gemmBias, p.bias];
    }
    const cin = op.params.shape[1] * op.groups;
    checkConv2dGroups(cin, op.params.shape[0], op.groups, t.tileC4);
    if (op.groups > 1 && input.segments) throw new UnsupportedError(`${node.name}: a grouped conv cannot read a concatenation with channel gaps`);
    const p =
      op.groups > 1
        ? packConv2dWeights(op.params, op.params.shape[1] / 4, t.tileC4)
        : packConv2dWeights(op.params, storageC4(input), t.tileC4, channelPos(input));
    return [weightsFor(p.weight, f16), p.bias];
  },
  scratch(op, { g, node, shapeOf, tuning, f16, band }) {
    const variant = convVariantOf(g, node, tuning, f16);
    if (variant.kind !== 'winograd2' && variant.kind !== 'winograd4') return [];
    const [n, , h, w] = shapeOf(node.inputs[0]);
    // V and M of one pass over the band's tile rows (see winogradLayout)
    const L = winogradLayout(
      { m: variant.m, N: n, H: h, W: w, cin4: storageC4(g.values[node.inputs[0]]), cout: op.params.shape[0], padding: op.padding, ...band },
      f16 ? 8 : 16,
    );
    return [L.vBytes, L.mBytes];
  },
  compile(op, { device, node, g, shapeOf, view, range, params, tuning, f16, workgroupSize, scratch, band }) {
    const variant = convVariantOf(g, node, tuning, f16);
    // every step names the variant (plan.describe(), `unet bench` per-layer profiles)
    const named = (steps: Step[]): Step[] => steps.map((s) => ({ ...s, detail: `${s.detail} via ${describeConvVariant(variant)}` }));
    const [x] = node.inputs;
    const r = op.residual ? node.inputs[1] : -1;
    const sc = op.inputScale ? node.inputs[node.inputs.length - 1] : -1;
    const [n, , h, w] = shapeOf(x);
    const [, , ho, wo] = shapeOf(node.output);
    const [, , kH, kW] = op.params.shape;
    const [top, bottom, left, right] = op.padding;
    // what the depthwise and the direct kernels both take of the layer, with the output rows this call
    // records (a band, or all of them). Their tiles are fitted to the whole output (fillWorkgroups) either
    // way, so every band runs one pass's code: the same arithmetic per pixel, to the bit.
    const rows = band ?? { row0: 0, rows: n * ho };
    const geometry = {
      N: n,
      H: h,
      W: w,
      kH,
      kW,
      strideH: op.stride[0],
      strideW: op.stride[1],
      padH: top,
      padW: left,
      padBottom: bottom,
      padRight: right,
      ...rows,
    };
    if (variant.kind === 'depthwise') {
      if (op.residual || op.inputScale || op.dilation[0] !== 1 || op.dilation[1] !== 1)
        throw new UnsupportedError(`${node.name}: depthwise conv with a residual or dilation has no kernel`);
      const dw = {
        ...geometry,
        channels: op.groups,
        input: view(x),
        output: view(node.output),
        activation: op.activation,
        f16,
        ...fillWorkgroups({ tilePixels: 4, workgroupSize: 64 }, n * ho, wo),
      };
      return named([depthwiseConv2dStep(device, dw, { input: range(x), weight: params[0], bias: params[1], output: range(node.output) }, node.name)]);
    }
    const t = variant.tile;
    if (variant.kind === 'winograd2' || variant.kind === 'winograd4') {
      const m = variant.m;
      const [cout, cin] = op.params.shape;
      // the GEMM's tile is fitted to a pass of the whole output, banded or not, so a band's GEMM is the same
      // code (the same arithmetic per tile) as one pass's
      const L = winogradLayout({ m, N: n, H: h, W: w, cin4: storageC4(g.values[x]), cout, padding: op.padding }, f16 ? 8 : 16);
      const spec = {
        m,
        N: n,
        H: h,
        W: w,
        cin,
        cin4: storageC4(g.values[x]),
        cout,
        padding: op.padding,
        input: view(x),
        output: view(node.output),
        residual: op.residual ? view(r) : undefined,
        activation: op.activation,
        workgroupSize,
        f16,
        tile: fillWorkgroups(t, L.bandRows, L.TW),
        ...band,
      };
      const io = {
        input: range(x),
        weight: params[0],
        gemmBias: params[1],
        bias: params[2],
        output: range(node.output),
        residual: op.residual ? range(r) : undefined,
        v: scratch[0],
        m: scratch[1],
      };
      return named(winogradSteps(device, spec, io, node.name));
    }
    const spec = {
      ...geometry,
      cin: op.params.shape[1] * op.groups,
      cin4: op.groups > 1 ? op.params.shape[1] / 4 : storageC4(g.values[x]),
      cout: op.params.shape[0],
      dilationH: op.dilation[0],
      dilationW: op.dilation[1],
      groups: op.groups,
      residual: op.residual ? view(r) : undefined,
      inputScale: op.inputScale ? view(sc) : undefined,
      input: view(x),
      output: view(node.output),
      activation: op.activation,
      ...fillWorkgroups(t, n * ho, wo),
      f16,
    };
    const io = {
      input: range(x),
      weight: params[0],
      bias: params[1],
      output: range(node.output),
      residual: op.residual ? range(r) : undefined,
      inputScale: op.inputScale ? range(sc) : undefined,
    };
    if (variant.kind === 'tiled') return named([conv2dTiledStep(device, { ...spec, ...t }, io, node.name)]);
    return named([conv2dStep(device, spec, io, node.name)]);
  },
};
