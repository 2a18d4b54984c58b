// Depthwise conv2d (groups = channels, one input channel per output channel), NHWC4: EfficientNet's
// MBConv middle layer. Each output channel reads only its own input channel, so there is no reduction
// over channels to share: a vec4 of 4 channels is computed lane-wise (x * w per tap), and a kernel of
// its own avoids the GEMM kernel's loop over a group's zeros. Memory-bound: each input vec4 is read
// k*k times. Work split: each invocation computes TP consecutive output pixels of one row for one vec4
// of channels; lanes walk pixels and the workgroup row (gridIndex) picks the vec4, so the weights a workgroup reads are
// the same for all its lanes. Per kernel row, the invocation loads the (TP - 1) * stride + kW input vec4s
// its pixels share once into registers (per-lane loads are what costs on llvmpipe) instead of TP * kW.
// Per-side padding (TensorFlow "same" is often asymmetric). A dispatch may cover a band of output rows only
// (OutputRows, issue 21): blocks start at ROW0's, coordinates stay global.
import type { ConvParams } from '../ir/params.js';
import { KernelBindings, activation, param, written } from './bindings.js';
import {
  type BufferRange,
  type Nhwc4View,
  ShapeUniforms,
  type Step,
  activationWgsl,
  c4,
  enables,
  GRID_FIELDS,
  gridIndex,
  gridUniforms,
  linearWorkgroups,
  makeStep,
  maskLanes,
  rep,
  storageAliases,
  withBytes,
} from './common.js';
import type { Activation } from '../ir/types.js';
import { type OutputRows, conv2dOutSize, outputRows } from './conv2d.js';

export interface DepthwiseConv2dSpec extends OutputRows {
  N: number;
  H: number;
  W: number;
  channels: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  /** top / left padding; bottom / right in padBottom / padRight (default: the same) */
  padH: number;
  padW: number;
  padBottom?: number;
  padRight?: number;
  input: Nhwc4View;
  output: Nhwc4View;
  activation: Activation;
  /** output pixels per invocation */
  tilePixels: number;
  workgroupSize: number;
  f16?: boolean;
}

export function depthwiseConv2dOutShape(s: DepthwiseConv2dSpec): { HO: number; WO: number } {
  return {
    HO: conv2dOutSize(s.H, s.kH, s.strideH, s.padH, 1, s.padBottom),
    WO: conv2dOutSize(s.W, s.kW, s.strideW, s.padW, 1, s.padRight),
  };
}

/** Invocations along x (pixel blocks) and workgroup rows (one per channel vec4) of the grid. */
function depthwiseConv2dGrid(s: DepthwiseConv2dSpec): [number, number] {
  const { HO, WO } = depthwiseConv2dOutShape(s);
  return [outputRows(s, HO, 'depthwiseConv2d').rows * Math.ceil(WO / s.tilePixels), c4(s.channels)];
}

export function depthwiseConv2dWorkgroups(s: DepthwiseConv2dSpec): [number, number, number] {
  const [blocks, rows] = depthwiseConv2dGrid(s);
  return linearWorkgroups(blocks, s.workgroupSize, rows);
}

export function depthwiseConv2dWgsl(s: DepthwiseConv2dSpec): string {
  const TP = s.tilePixels;
  // input columns one kernel row of TP output pixels touches: column j sits at ox0 * SW - PW + j
  const SPAN = (TP - 1) * s.strideW + s.kW;
  return /* wgsl */ `${enables(false, s.f16)}
${storageAliases(s.f16)}
// depthwise conv2d ${s.kH}x${s.kW}, NHWC4, ${s.activation === 'none' ? 'no activation' : s.activation}; sizes from the shape uniform.
const KH = ${s.kH}u;
const KW = ${s.kW}u;
const TP = ${TP}u;
// the stride along x is baked in (it shapes which loaded column each tap uses)
const SW_CONST = ${s.strideW}u;
${depthwiseBindings(s).wgsl()}

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${DW_SHAPE.lets()}
  // invocations past the last block compute a copy of it and store nothing
${gridIndex(s.workgroupSize, 'C4')}
  let block = ROW0 * X_BLOCKS + min(index, BLOCKS - 1u);
  let xb = block % X_BLOCKS;
  let oy = (block / X_BLOCKS) % HO;
  let n = block / (X_BLOCKS * HO);
  let ox0 = xb * TP;
  let c = wgy;
${rep(TP, (p) => `  var acc_${p} = vec4<f32>(0.0);`)}
  let x0 = ox0 * SW_CONST - PW;
  for (var ky = 0u; ky < KH; ky++) {
    // unsigned wrap-around makes "iy < 0" fail the "< H" test too; the masked loads of padding rows read
    // the nearest row the pixel reads (a banded input is bound from the band's first row read to its last)
    let iy = oy * SH + ky - PH;
    let row = (n * H + select(min(iy, H - 1u), 0u, iy >= 0x80000000u)) * W;
${rep(SPAN, (j) => `    let in_${j} = select(vec4<f32>(0.0), vec4<f32>(input[(row + min(x0 + ${j}u, W - 1u)) * IN_STRIDE + IN_OFFSET + c]), iy < H && x0 + ${j}u < W);`)}
${rep(
  s.kW,
  (kx) =>
    `    let w_${kx} = vec4<f32>(weight[(ky * KW + ${kx}u) * C4 + c]);
` + rep(TP, (p) => `    acc_${p} += w_${kx} * in_${p * s.strideW + kx};`),
)}
  }
  if (index < BLOCKS && rowLive) {
    let b = bias[c];
${rep(
  TP,
  (p) => `    if (ox0 + ${p}u < WO) {
      let v = acc_${p} + b;
      output[((n * HO + oy) * WO + ox0 + ${p}u) * OUT_STRIDE + OUT_OFFSET + c] = Act(${maskLanes(activationWgsl(s.activation, 'v'), 'C - 4u * c')});
    }`,
)}
  }
}
`;
}

const DW_SHAPE = new ShapeUniforms([
  'H',
  'W',
  'HO',
  'WO',
  'C',
  'C4',
  'SH',
  'SW',
  'PH',
  'PW',
  'IN_STRIDE',
  'IN_OFFSET',
  'OUT_STRIDE',
  'OUT_OFFSET',
  'X_BLOCKS',
  'BLOCKS',
  'ROW0',
  ...GRID_FIELDS,
] as const);

const depthwiseBindings = (s: DepthwiseConv2dSpec) =>
  new KernelBindings(
    'depthwiseConv2d',
    [
      activation('input'),
      param('weight', 'WCol', "weight[(ky * KW + kx) * C4 + c4]: the 4 channels' taps at (ky, kx)"),
      param('bias', 'vec4<f32>', 'bias[c4], zero past the channel count'),
      written('output'),
    ],
    DW_SHAPE,
    s.f16,
  );

export function depthwiseConv2dShape(s: DepthwiseConv2dSpec): Uint32Array {
  const { HO, WO } = depthwiseConv2dOutShape(s);
  const X_BLOCKS = Math.ceil(WO / s.tilePixels);
  const { row0, rows } = outputRows(s, HO, 'depthwiseConv2d');
  return DW_SHAPE.data({
    H: s.H,
    W: s.W,
    HO,
    WO,
    C: s.channels,
    C4: c4(s.channels),
    SH: s.strideH,
    SW: s.strideW,
    PH: s.padH,
    PW: s.padW,
    IN_STRIDE: s.input.c4Stride,
    IN_OFFSET: s.input.c4Offset,
    OUT_STRIDE: s.output.c4Stride,
    OUT_OFFSET: s.output.c4Offset,
    X_BLOCKS,
    BLOCKS: rows * X_BLOCKS,
    ROW0: row0,
    ...gridUniforms(depthwiseConv2dGrid(s)[0], s.workgroupSize, depthwiseConv2dGrid(s)[1]),
  });
}

/** PyTorch's depthwise weight [C, 1, kH, kW] (and bias) in the kernel's layout (see depthwiseConv2dWgsl). */
export function packDepthwiseConv2dWeights(p: ConvParams): { weight: Float32Array; bias: Float32Array } {
  const [C, one, kH, kW] = p.shape;
  if (one !== 1) throw new Error(`depthwiseConv2d: weight [${p.shape}] is not [channels, 1, kH, kW]`);
  const C4 = c4(C);
  const weight = new Float32Array(kH * kW * C4 * 4);
  for (let c = 0; c < C; c++) for (let t = 0; t < kH * kW; t++) weight[(t * C4 + (c >> 2)) * 4 + (c & 3)] = p.weight[c * kH * kW + t];
  const bias = new Float32Array(C4 * 4);
  if (p.bias) bias.set(p.bias);
  return { weight, bias };
}

export function depthwiseConv2dStep(
  device: GPUDevice,
  s: DepthwiseConv2dSpec,
  b: { input: BufferRange; weight: BufferRange; bias: BufferRange; output: BufferRange },
  label = 'depthwiseConv2d',
): Step {
  const { HO, WO } = depthwiseConv2dOutShape(s);
  const band = outputRows(s, HO, label);
  const flops = 2 * band.rows * WO * s.channels * s.kH * s.kW;
  const detail = `[${s.N},${s.channels},${s.H},${s.W}] -> [${s.N},${s.channels},${HO},${WO}] depthwise k${s.kH}x${s.kW} s${s.strideH} p${s.padH}${s.activation === 'none' ? '' : ' +' + s.activation}`;
  // memory-bound: each input and output vec4 moves once at least (plus the weights); a band counts its share
  // of the output's rows, so a node's bands add up to one pass
  const vec4Bytes = s.f16 ? 8 : 16;
  const bytes = ((s.N * (s.H * s.W + HO * WO) * c4(s.channels) + s.kH * s.kW * c4(s.channels)) * vec4Bytes * band.rows) / (s.N * HO);
  return withBytes(
    makeStep(
      device,
      label,
      { code: depthwiseConv2dWgsl(s), bindings: depthwiseBindings(s) },
      b,
      depthwiseConv2dWorkgroups(s),
      flops,
      detail,
      depthwiseConv2dShape(s),
    ),
    bytes,
  );
}
