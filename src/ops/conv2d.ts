// conv2d: an implicit GEMM (src/kernels/conv2d.ts) with bias, optional residual input and activation in
// the epilogue. BatchNorm folds into its weights, and add / activation nodes fuse into it (src/graph/passes).
import { checkConv2dGroups, conv2dStep, packConv2dWeights } from '../kernels/conv2d.js';
import { conv2dTiledStep } from '../kernels/conv2dTiled.js';
import { depthwiseConv2dStep, packDepthwiseConv2dWeights } from '../kernels/depthwiseConv2d.js';
import { type WinogradTile, packWinogradWeights, winogradApplies, winogradLayout, winogradSteps } from '../kernels/winograd.js';
import type { ConvTile } from '../graph/tuning.js';
import type { OpOf } from '../graph/ir.js';
import { channelPos, storageC4 } from '../graph/ir.js';
import type { OpDef } from './registry.js';
import { weightsFor } from './registry.js';
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

/** The tile a conv runs with: never more output vec4s than the layer has (a 1-class head would otherwise
 *  compute 3 vec4s of zero weights for each real one), and for a grouped conv a divisor of a group's
 *  output vec4s (a tile never spans two groups). Packing and compiling agree on it (the packing depends
 *  on the tile). */
function convTile(op: OpOf<'conv2d'>, tile: ConvTile, f16: boolean): ConvTile {
  const winograd = winogradTileOf(op, tile, f16);
  const groupC4 = op.groups === 1 ? Math.ceil(op.params.shape[0] / 4) : op.params.shape[0] / op.groups / 4;
  let tc = Math.min(tile.tileC4, groupC4);
  // the Winograd GEMM is a grouped conv whose groups are c4(cout) vec4s wide
  while ((op.groups > 1 || winograd) && groupC4 % tc !== 0) tc--;
  const algo = winograd || usesTiled(op, tile) ? tile.algo : undefined;
  return tc === tile.tileC4 && algo === tile.algo ? tile : { ...tile, tileC4: tc, algo };
}

/** Whether this conv runs on the workgroup-tiled GEMM kernel: its tile asks for it, and it has no groups
 *  and no input scale. */
export const usesTiled = (op: OpOf<'conv2d'>, tile: ConvTile | undefined): boolean => tile?.algo === 'tiled' && op.groups === 1 && !op.inputScale;

/** Fewer input channels than this and Winograd's two transforms cost more than its GEMMs save. */
export const WINOGRAD_MIN_CIN = 8;

/** The m of Winograd F(m x m, 3x3) this conv runs as, or 0 for the direct kernel: its tile asks for it and
 *  the conv is one it applies to (3x3, stride 1, no dilation, no groups, no input scale, at least
 *  WINOGRAD_MIN_CIN input channels), in f32. With f16 storage the transformed values V and M would be
 *  rounded to f16 too: measured on a 32 -> 32 conv, F(2x2) doubled the direct kernel's f16 error (4.8e-3 vs
 *  2.7e-3) and F(4x4) made it 30x (7.7e-2), so f16 models run direct. */
export function winogradTileOf(op: OpOf<'conv2d'>, tile: ConvTile | undefined, f16: boolean): 0 | WinogradTile {
  const m = tile?.algo === 'winograd2' ? 2 : tile?.algo === 'winograd4' ? 4 : 0;
  const applies = !f16 && !op.inputScale && op.params.shape[1] >= WINOGRAD_MIN_CIN && winogradApplies(op.params.shape[2], op.params.shape[3], op.stride, op.dilation, op.groups);
  return applies ? m : 0;
}

/** groups = channels, one input channel per output channel: a kernel of its own (depthwiseConv2d.ts). */
export const isDepthwise = (op: OpOf<'conv2d'>): boolean => op.groups > 1 && op.params.shape[1] === 1 && op.params.shape[0] === op.groups;

export const conv2d: OpDef<'conv2d'> = {
  shape(op, inputs, { node, channels }) {
    const [x] = inputs;
    const r = op.residual ? inputs[1] : undefined;
    const scale = op.inputScale ? inputs[inputs.length - 1] : undefined;
    if (scale && (scale[0] !== x[0] || scale[1] !== x[1] || scale[2] !== 1 || scale[3] !== 1)) throw new Error(`${node.name}: input scale [${scale}] for input [${x}]`);
    const [, , kH, kW] = op.params.shape;
    const [t, b, l, rt] = op.padding;
    const size = (s: number, k: number, p: number, st: number, d: number) => Math.floor((s + p - d * (k - 1) - 1) / st) + 1;
    const out: [number, number, number, number] = [x[0], channels, size(x[2], kH, t + b, op.stride[0], op.dilation[0]), size(x[3], kW, l + rt, op.stride[1], op.dilation[1])];
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
    key(op, g, node) {
      const [cout, cinG, kh, kw] = op.params.shape;
      const segs = g.values[node.inputs[0]].segments?.length ?? 1;
      const groups = op.groups > 1 ? ` g${op.groups}` : '';
      return `conv2d k${kh}x${kw} s${op.stride[0]} ${cinG * op.groups}${segs > 1 ? `(${segs} parts)` : ''}->${cout}${groups}`;
    },
  },
  parameters: (op) => op.params.weight.length + (op.params.bias?.length ?? 0),
  pack(op, { g, node, f16, tile }) {
    const input = g.values[node.inputs[0]];
    if (isDepthwise(op)) {
      if (input.segments) throw new UnsupportedError(`${node.name}: a depthwise conv cannot read a concatenation with channel gaps`);
      const p = packDepthwiseConv2dWeights(op.params);
      return [weightsFor(p.weight, f16), p.bias];
    }
    const t = convTile(op, tile!, f16);
    const m = winogradTileOf(op, t, f16);
    if (m) {
      const p = packWinogradWeights(op.params, m, storageC4(input), channelPos(input));
      return [weightsFor(p.weight, f16), p.gemmBias, p.bias];
    }
    const cin = op.params.shape[1] * op.groups;
    checkConv2dGroups(cin, op.params.shape[0], op.groups, t.tileC4);
    if (op.groups > 1 && input.segments) throw new UnsupportedError(`${node.name}: a grouped conv cannot read a concatenation with channel gaps`);
    const p = op.groups > 1 ? packConv2dWeights(op.params, op.params.shape[1] / 4, t.tileC4) : packConv2dWeights(op.params, storageC4(input), t.tileC4, channelPos(input));
    return [weightsFor(p.weight, f16), p.bias];
  },
  scratch(op, { g, node, shapeOf, tile, f16 }) {
    const m = winogradTileOf(op, tile, f16);
    if (!m) return [];
    const [n, , h, w] = shapeOf(node.inputs[0]);
    const L = winogradLayout({ m, N: n, H: h, W: w, cin4: storageC4(g.values[node.inputs[0]]), cout: op.params.shape[0], padding: op.padding }, f16 ? 8 : 16);
    return [L.vBytes, L.mBytes];
  },
  compile(op, { device, node, g, shapeOf, view, range, params, tile, f16, workgroupSize, scratch }) {
    const [x] = node.inputs;
    const r = op.residual ? node.inputs[1] : -1;
    const sc = op.inputScale ? node.inputs[node.inputs.length - 1] : -1;
    const [n, , h, w] = shapeOf(x);
    const [, , ho, wo] = shapeOf(node.output);
    const [, , kH, kW] = op.params.shape;
    const [top, bottom, left, right] = op.padding;
    if (isDepthwise(op)) {
      if (op.residual || op.inputScale || op.dilation[0] !== 1 || op.dilation[1] !== 1) throw new UnsupportedError(`${node.name}: depthwise conv with a residual or dilation has no kernel`);
      const dw = {
        N: n, H: h, W: w, channels: op.groups, kH, kW, strideH: op.stride[0], strideW: op.stride[1], padH: top, padW: left, padBottom: bottom, padRight: right,
        input: view(x), output: view(node.output), activation: op.activation, f16, ...fillWorkgroups({ tilePixels: 4, workgroupSize: 64 }, n * ho, wo),
      };
      return [depthwiseConv2dStep(device, dw, { input: range(x), weight: params[0], bias: params[1], output: range(node.output) }, node.name)];
    }
    const t = convTile(op, tile!, f16);
    const m = winogradTileOf(op, t, f16);
    if (m) {
      const [cout, cin] = op.params.shape;
      const L = winogradLayout({ m, N: n, H: h, W: w, cin4: storageC4(g.values[x]), cout, padding: op.padding }, f16 ? 8 : 16);
      const spec = {
        m, N: n, H: h, W: w, cin, cin4: storageC4(g.values[x]), cout, padding: op.padding, input: view(x), output: view(node.output),
        residual: op.residual ? view(r) : undefined, activation: op.activation, workgroupSize, f16,
        tile: fillWorkgroups(t, L.bandRows, L.TW),
      };
      const io = { input: range(x), weight: params[0], gemmBias: params[1], bias: params[2], output: range(node.output), residual: op.residual ? range(r) : undefined, v: scratch[0], m: scratch[1] };
      return winogradSteps(device, spec, io, node.name);
    }
    const spec = {
      N: n, H: h, W: w, cin: op.params.shape[1] * op.groups, cin4: op.groups > 1 ? op.params.shape[1] / 4 : storageC4(g.values[x]), cout: op.params.shape[0], kH, kW,
      strideH: op.stride[0], strideW: op.stride[1], padH: top, padW: left, padBottom: bottom, padRight: right, dilationH: op.dilation[0], dilationW: op.dilation[1],
      groups: op.groups, residual: op.residual ? view(r) : undefined, inputScale: op.inputScale ? view(sc) : undefined,
      input: view(x), output: view(node.output), activation: op.activation, ...fillWorkgroups(t, n * ho, wo), f16,
    };
    const io = { input: range(x), weight: params[0], bias: params[1], output: range(node.output), residual: op.residual ? range(r) : undefined, inputScale: op.inputScale ? range(sc) : undefined };
    if (t.algo === 'tiled') return [conv2dTiledStep(device, { ...spec, ...t }, io, node.name)];
    return [conv2dStep(device, spec, io, node.name)];
  },
};
