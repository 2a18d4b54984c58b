// conv2d on NHWC4 activations as an implicit GEMM: [pixels, KH*KW*Cin] x [KH*KW*Cin, Cout].
// General in kernel size, stride, padding (per side) and dilation, grouped or not, with bias, an optional
// residual input and an activation in the epilogue.
import type { ConvParams } from '../ir/params.js';
import { KernelBindings, activation, param, written } from './bindings.js';
import {
  type BufferRange,
  type Nhwc4View,
  ShapeUniforms,
  type Step,
  c4,
  enables,
  GRID_FIELDS,
  gridUniforms,
  linearWorkgroups,
  makeStep,
  storageAliases,
} from './common.js';
import type { Activation } from '../ir/types.js';
import {
  type WeightSharing,
  accumulators,
  convRowTaps,
  convStoreTile,
  cout4Padded,
  laneParam,
  packWeightBlocks,
  sharedLanes,
  tileOrigin,
  weightParam,
} from './gemmTile.js';

/**
 * The output rows a dispatch computes (issue 21's bands): flat rows [row0, row0 + rows) of the N * HO rows of
 * WO pixels, row r being image r / HO, row r % HO. A banded dispatch covers only those rows and stores
 * nothing else; every coordinate (image, row, padding, edges) stays global, so each pixel is computed as in
 * one pass, and the views' offsets may have a window's start folded in (negative: see ShapeUniforms.data).
 * Default: all rows.
 */
export interface OutputRows {
  row0?: number;
  rows?: number;
}

/** The band of `s` (default: all `N * HO` rows), checked to lie inside the output. */
export function outputRows(s: OutputRows & { N: number }, HO: number, kernel: string): { row0: number; rows: number } {
  const row0 = s.row0 ?? 0;
  const rows = s.rows ?? s.N * HO - row0;
  if (!Number.isInteger(row0) || !Number.isInteger(rows) || row0 < 0 || rows < 1 || row0 + rows > s.N * HO)
    throw new Error(`${kernel}: output rows [${row0}, ${row0 + rows}) outside the output's ${s.N * HO} rows`);
  return { row0, rows };
}

export interface Conv2dSpec extends WeightSharing, OutputRows {
  /** batch and input spatial size */
  N: number;
  H: number;
  W: number;
  /** input channels (for figures; the kernel reads cin4 vec4 groups) */
  cin: number;
  /** vec4 groups per input pixel that the weights cover (>= c4(cin); more when the input is a concat of
   *  padded slices, see packConv2dWeights' channelPos) */
  cin4: number;
  cout: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  /** top and left padding; bottom and right default to the same */
  padH: number;
  padW: number;
  padBottom?: number;
  padRight?: number;
  /** groups: input and output channels split in `groups` blocks, block g of the output reading block g of
   *  the input. Grouped convs need cin / groups and cout / groups to be multiples of 4 (a vec4 never spans
   *  two groups) and tileC4 to divide cout / groups / 4 (a tile never does either). Default 1. */
  groups?: number;
  /** add a residual (read through this view, same shape as the output) before the activation */
  residual?: Nhwc4View;
  /** multiply each input channel by a per-image factor as it is read ([N, Cin, 1, 1], one pixel per
   *  image): a squeeze-excite gate applied by its consumer, so the gated tensor is never written */
  inputScale?: Nhwc4View;
  dilationH: number;
  dilationW: number;
  input: Nhwc4View;
  output: Nhwc4View;
  activation: Activation;
  /** tuning: output pixels (along a row) and output vec4 groups per invocation, invocations per workgroup */
  tilePixels: number;
  tileC4: number;
  workgroupSize: number;
  // tuning too: weights and subgroupSize (WeightSharing)
  /** store activations and weights as f16 (needs the shader-f16 feature); arithmetic stays f32 */
  f16?: boolean;
}

/** Output size along one axis; `padEnd` (bottom / right) defaults to `pad`. */
export const conv2dOutSize = (size: number, k: number, stride: number, pad: number, dilation: number, padEnd = pad): number =>
  Math.floor((size + pad + padEnd - dilation * (k - 1) - 1) / stride) + 1;

export function conv2dOutShape(s: Conv2dSpec): { HO: number; WO: number } {
  return {
    HO: conv2dOutSize(s.H, s.kH, s.strideH, s.padH, s.dilationH, s.padBottom),
    WO: conv2dOutSize(s.W, s.kW, s.strideW, s.padW, s.dilationW, s.padRight),
  };
}

/** Checks what a grouped conv needs of its channel counts and tile (see Conv2dSpec.groups). */
export function checkConv2dGroups(cin: number, cout: number, groups: number, tileC4: number): void {
  if (groups === 1) return;
  const [cg, og] = [cin / groups, cout / groups];
  if (!Number.isInteger(cg) || !Number.isInteger(og) || cg % 4 !== 0 || og % 4 !== 0) {
    throw new Error(`conv2d: groups ${groups} with ${cin} -> ${cout} channels: grouped convs need multiples of 4 channels per group`);
  }
  if ((og / 4) % tileC4 !== 0) throw new Error(`conv2d: tile of ${tileC4} vec4s does not divide a group's ${og / 4}`);
}

/** Invocations along x (pixel blocks) and workgroup rows (channel blocks) of the grid. */
function conv2dGrid(s: Conv2dSpec): [number, number] {
  const { HO, WO } = conv2dOutShape(s);
  return [outputRows(s, HO, 'conv2d').rows * Math.ceil(WO / s.tilePixels), Math.ceil(c4(s.cout) / s.tileC4)];
}

export function conv2dWorkgroups(s: Conv2dSpec): [number, number, number] {
  const [blocks, rows] = conv2dGrid(s);
  return linearWorkgroups(blocks, s.workgroupSize, rows);
}

/** What conv2dWgsl binds: the residual and the input scale where the spec has them. */
function conv2dBindings(s: Conv2dSpec) {
  return new KernelBindings(
    'conv2d',
    [
      activation('input', 'activations, NHWC4 (see Nhwc4View)'),
      weightParam(
        s,
        `weight[((ky * KW + kx) * CIN4 + ci4) * COUT4_PAD + co4]: column j holds input channel 4*ci4+j's
weights for output channels 4*co4 .. 4*co4+3, so weight * x accumulates 4 outputs from 4 inputs.`,
      ),
      param('bias', 'vec4<f32>', 'bias[co4], zero past cout'),
      written('output'),
      s.residual && activation('residual', 'added before the activation, same shape as the output'),
      s.inputScale && activation('inputScale', 'per image and input channel factor [N, Cin, 1, 1], applied to the input as it is read'),
    ],
    CONV_SHAPE,
    s.f16,
  );
}

export function conv2dWgsl(s: Conv2dSpec): string {
  const S = sharedLanes(s, 'conv2d');
  const sub = S > 0;
  const { tilePixels: TP, tileC4: TC } = s;
  return /* wgsl */ `${enables(sub, s.f16)}
// conv2d ${s.kH}x${s.kW}, NHWC4, ${s.activation === 'none' ? 'no activation' : s.activation}, weights by ${sub ? `subgroup broadcast (${S} lanes)` : 'load'}.
// Sizes, strides, padding and channel counts come from the shape uniform, so layers share this code.
// Lanes of channels >= COUT are stored as 0 whatever the activation makes of them.
// Work split: each invocation computes TP consecutive output pixels of one row times TC vec4 groups of
// output channels. Lanes walk output pixels (x fastest), the workgroup row picks the channel block, so all
// lanes of a workgroup need the same weights (rows past 65535 fold into z: gridIndex). Control flow stays uniform (masks, no early return), as
// subgroupBroadcast requires; zero padding is a masked load, whose address is clamped to the nearest row the
// pixel reads (a banded input is bound only from the first row its band reads to the last).
// A dispatch covers the output rows [ROW0, ROW0 + BLOCKS / X_BLOCKS) (all of them unbanded).
${storageAliases(s.f16)}
const KH = ${s.kH}u;
const KW = ${s.kW}u;
const TP = ${TP}u;
const TC = ${TC}u;
${conv2dBindings(s).wgsl()}

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>${laneParam(S)}) {
${CONV_SHAPE.lets()}
${tileOrigin(s.workgroupSize, 'HO', 'oy', 'ox0', 'n', 'ROW0')}
  // grouped convs: this tile's group starts GROUP_CIN4 * group vec4s into each input pixel (0 ungrouped)
  let gin = (co0 / GROUP_COUT4) * CIN4;

${accumulators(TP, TC)}
  for (var ky = 0u; ky < KH; ky++) {
    // unsigned wrap-around makes "iy < 0" fail the "< H" test too (and top padding reads row 0)
    let iy = oy * SH + ky * DH - PH;
    let row = (n * H + select(min(iy, H - 1u), 0u, iy >= 0x80000000u)) * W;
${convRowTaps(TP, TC, S, {
  tapRow: 'ky',
  rowInside: 'iy < H',
  dilated: true,
  channel0: 'gin',
  scale: s.inputScale ? 'vec4<f32>(inputScale[n * SCALE_STRIDE + SCALE_OFFSET + gin + ci4])' : undefined,
})}
  }

${convStoreTile(TP, TC, s.activation, !!s.residual, '(n * HO + oy) * WO + ox0', 'ox0', 'WO')}
}
`;
}

/**
 * Packs a PyTorch Conv2d weight [cout, cin, kH, kW] into the kernel's layout (see conv2dWgsl).
 * `channelPos(ci)` gives where input channel ci sits among the cin4*4 stored channels (identity for a dense
 * input; a concat of slices padded to vec4 boundaries shifts the later slices). Unused positions get 0.
 */
export function packConv2dWeights(
  p: ConvParams,
  cin4: number,
  tileC4: number,
  channelPos: (ci: number) => number = (ci) => ci,
): { weight: Float32Array; bias: Float32Array } {
  // grouped: `cin` is one group's channel count (the weight's dim 1) and cin4 its vec4s; every output
  // channel's weights sit at the positions of its own group's input channels, 0..cin-1
  const [cout, cin, kH, kW] = p.shape;
  // row-major [cout, cin, kH, kW]: tap ky * kW + kx is the kernel's (ky * KW + kx)
  return packWeightBlocks(kH * kW, cin, cout, cin4, tileC4, channelPos, (co, ci, k) => p.weight[(co * cin + ci) * kH * kW + k], p.bias);
}

/** The sizes conv2dWgsl reads from its shape uniform. */
const CONV_SHAPE = new ShapeUniforms([
  'H',
  'W',
  'HO',
  'WO',
  'CIN4',
  'COUT',
  'COUT4',
  'COUT4_PAD',
  'GROUP_COUT4',
  'SH',
  'SW',
  'PH',
  'PW',
  'DH',
  'DW',
  'IN_STRIDE',
  'IN_OFFSET',
  'OUT_STRIDE',
  'OUT_OFFSET',
  'RES_STRIDE',
  'RES_OFFSET',
  'SCALE_STRIDE',
  'SCALE_OFFSET',
  'X_BLOCKS',
  'BLOCKS',
  'ROW0',
  ...GRID_FIELDS,
] as const);

export function conv2dShape(s: Conv2dSpec): Uint32Array {
  const { HO, WO } = conv2dOutShape(s);
  const X_BLOCKS = Math.ceil(WO / s.tilePixels);
  const { row0, rows } = outputRows(s, HO, 'conv2d');
  const groups = s.groups ?? 1;
  checkConv2dGroups(s.cin, s.cout, groups, s.tileC4);
  const cout4Pad = cout4Padded(s.cout, s.tileC4);
  return CONV_SHAPE.data({
    H: s.H,
    W: s.W,
    HO,
    WO,
    CIN4: s.cin4,
    COUT: s.cout,
    COUT4: c4(s.cout),
    COUT4_PAD: cout4Pad,
    // ungrouped: one group wider than any tile index, so the group offset is 0
    GROUP_COUT4: groups === 1 ? cout4Pad : s.cout / groups / 4,
    RES_STRIDE: s.residual?.c4Stride ?? 0,
    RES_OFFSET: s.residual?.c4Offset ?? 0,
    SCALE_STRIDE: s.inputScale?.c4Stride ?? 0,
    SCALE_OFFSET: s.inputScale?.c4Offset ?? 0,
    SH: s.strideH,
    SW: s.strideW,
    PH: s.padH,
    PW: s.padW,
    DH: s.dilationH,
    DW: s.dilationW,
    IN_STRIDE: s.input.c4Stride,
    IN_OFFSET: s.input.c4Offset,
    OUT_STRIDE: s.output.c4Stride,
    OUT_OFFSET: s.output.c4Offset,
    X_BLOCKS,
    BLOCKS: rows * X_BLOCKS,
    ROW0: row0,
    ...gridUniforms(conv2dGrid(s)[0], s.workgroupSize, conv2dGrid(s)[1]),
  });
}

export function conv2dStep(
  device: GPUDevice,
  s: Conv2dSpec,
  b: { input: BufferRange; weight: BufferRange; bias: BufferRange; output: BufferRange; residual?: BufferRange; inputScale?: BufferRange },
  label = 'conv2d',
): Step {
  const { HO, WO } = conv2dOutShape(s);
  const groups = s.groups ?? 1;
  const band = outputRows(s, HO, label);
  const flops = (2 * band.rows * WO * s.cout * s.cin * s.kH * s.kW) / groups;
  const detail = `[${s.N},${s.cin},${s.H},${s.W}] -> [${s.N},${s.cout},${HO},${WO}] k${s.kH}x${s.kW} s${s.strideH} p${s.padH}${groups > 1 ? ` g${groups}` : ''}${s.inputScale ? ' *scale' : ''}${s.residual ? ' +residual' : ''}${s.activation === 'none' ? '' : ' +' + s.activation}`;
  // a residual or input scale buffer goes with its view in the spec: conv2dBindings declares one only then
  return makeStep(device, label, { code: conv2dWgsl(s), bindings: conv2dBindings(s) }, b, conv2dWorkgroups(s), flops, detail, conv2dShape(s));
}
