// conv3d on NDHWC4 activations as an implicit GEMM: [voxels, KD*KH*KW*Cin] x [KD*KH*KW*Cin, Cout]
// (nnU-Net's 3D convs: 3x3x3, 1x3x3, 3x1x3, 1x1x1, strided down-sampling). Per-axis kernel, stride and
// symmetric padding, with bias, an optional residual input and an activation in the epilogue.
// NDHWC4 is NHWC4 with N * D images (common.ts), so this is conv2d's kernel with one more loop: the same
// register tile (gemmTile.ts), the same weight sharing, and weights packed by packConv2dWeights.
// A band (past the binding limit) is a range of output rows (n, oz, oy), possibly starting mid-plane: the
// dispatch covers only its blocks, which compute with global coordinates, so each voxel's sum is the one
// of one pass.
import type { ConvNdParams } from '../ir/params.js';
import type { Activation } from '../ir/types.js';
import { KernelBindings, activation, param, written } from './bindings.js';
import {
  type BufferRange,
  GRID_FIELDS,
  type Nhwc4View,
  ShapeUniforms,
  type Step,
  c4,
  enables,
  gridUniforms,
  linearWorkgroups,
  makeStep,
  storageAliases,
} from './common.js';
import { packConv2dWeights } from './conv2d.js';
import { type WeightSharing, accumulators, convRowTaps, convStoreTile, cout4Padded, laneParam, sharedLanes, tileOrigin, weightParam } from './gemmTile.js';

export type Axes3 = [number, number, number];

export interface Conv3dSpec extends WeightSharing {
  /** batch and input spatial size */
  N: number;
  D: number;
  H: number;
  W: number;
  /** input channels (for figures; the kernel reads cin4 vec4 groups) */
  cin: number;
  /** vec4 groups per input voxel that the weights cover (>= c4(cin); more when the input is a concat of
   *  padded slices, see packConv3dWeights' channelPos) */
  cin4: number;
  cout: number;
  /** [d, h, w] each */
  kernel: Axes3;
  stride: Axes3;
  /** symmetric: both sides of an axis get the same */
  padding: Axes3;
  /** add a residual (read through this view, same shape as the output) before the activation */
  residual?: Nhwc4View;
  input: Nhwc4View;
  output: Nhwc4View;
  activation: Activation;
  /** tuning: output voxels (along a row) and output vec4 groups per invocation, invocations per workgroup */
  tilePixels: number;
  tileC4: number;
  workgroupSize: number;
  /** store activations and weights as f16 (needs the shader-f16 feature); arithmetic stays f32 */
  f16?: boolean;
  /** the output rows to compute, flat (n, oz, oy) of N * DO * HO: [row0, row0 + rows); default all. The
   *  views then point into windows of the bindings (their offsets may be negative, see Nhwc4View). */
  band?: { row0: number; rows: number };
}

/** Output size along one axis, as PyTorch's Conv3d (no dilation). */
export const conv3dOutSize = (size: number, k: number, stride: number, pad: number): number => Math.floor((size + 2 * pad - k) / stride) + 1;

/** Output [DO, HO, WO]. */
export function conv3dOutShape(s: Conv3dSpec): Axes3 {
  const [D, H, W] = [s.D, s.H, s.W].map((size, i) => conv3dOutSize(size, s.kernel[i], s.stride[i], s.padding[i]));
  return [D, H, W];
}

/** The band's output rows (all of them by default). */
function conv3dBand(s: Conv3dSpec): { row0: number; rows: number } {
  const [DO, HO] = conv3dOutShape(s);
  return s.band ?? { row0: 0, rows: s.N * DO * HO };
}

/** Invocations along x (voxel blocks of the band's rows) and workgroup rows (channel blocks) of the grid. */
function conv3dGrid(s: Conv3dSpec): [number, number] {
  const WO = conv3dOutShape(s)[2];
  return [conv3dBand(s).rows * Math.ceil(WO / s.tilePixels), Math.ceil(c4(s.cout) / s.tileC4)];
}

export function conv3dWorkgroups(s: Conv3dSpec): [number, number, number] {
  const [blocks, rows] = conv3dGrid(s);
  return linearWorkgroups(blocks, s.workgroupSize, rows);
}

/** What conv3dWgsl binds: the residual where the spec has one. */
function conv3dBindings(s: Conv3dSpec) {
  return new KernelBindings(
    'conv3d',
    [
      activation('input', 'activations, NDHWC4 (NHWC4 with N * D images, see Nhwc4View)'),
      weightParam(
        s,
        `weight[(((kz * KH + ky) * KW + kx) * CIN4 + ci4) * COUT4_PAD + co4]: column j holds input channel 4*ci4+j's
weights for output channels 4*co4 .. 4*co4+3 (packConv3dWeights).`,
      ),
      param('bias', 'vec4<f32>', 'bias[co4], zero past cout'),
      written('output'),
      s.residual && activation('residual', 'added before the activation, same shape as the output'),
    ],
    CONV3D_SHAPE,
    s.f16,
  );
}

export function conv3dWgsl(s: Conv3dSpec): string {
  const S = sharedLanes(s, 'conv3d');
  const sub = S > 0;
  const { tilePixels: TP, tileC4: TC } = s;
  const [kD, kH, kW] = s.kernel;
  return /* wgsl */ `${enables(sub, s.f16)}
// conv3d ${kD}x${kH}x${kW}, NDHWC4, ${s.activation === 'none' ? 'no activation' : s.activation}, weights by ${sub ? `subgroup broadcast (${S} lanes)` : 'load'}.
// Sizes, strides, padding and channel counts come from the shape uniform, so layers share this code.
// Lanes of channels >= COUT are stored as 0 whatever the activation makes of them.
// Work split: each invocation computes TP consecutive output voxels of one row (n, oz, oy) times TC vec4
// groups of output channels. Lanes walk output voxels (x fastest), the workgroup row picks the channel
// block, so all lanes of a workgroup need the same weights (rows past 65535 fold into z: gridIndex).
// Control flow stays uniform (masks, no early return), as subgroupBroadcast requires; zero padding is a
// masked load.
${storageAliases(s.f16)}
const KD = ${kD}u;
const KH = ${kH}u;
const KW = ${kW}u;
const TP = ${TP}u;
const TC = ${TC}u;
${conv3dBindings(s).wgsl()}

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>${laneParam(S)}) {
${CONV3D_SHAPE.lets()}
  // an output image of NDHWC4 is one depth plane: image = n * DO + oz; blocks count from the whole
  // output's first (the band's first row is ROW0)
${tileOrigin(s.workgroupSize, 'HO', 'oy', 'ox0', 'image', 'ROW0')}
  let oz = image % DO;
  let n = image / DO;

${accumulators(TP, TC)}
  for (var kz = 0u; kz < KD; kz++) {
    // unsigned wrap-around makes "iz < 0" fail the "< D" test too (and iy, ix below)
    let iz = oz * SD + kz - PD;
    // a padding slice or row loads (and discards) the nearest one inside the image: the first for a wrapped
    // negative index, so the load stays in a band's window (which starts at row 0 where the band needs padding)
    let plane = (n * D + select(min(iz, D - 1u), 0u, iz >= 0x80000000u)) * H;
    for (var ky = 0u; ky < KH; ky++) {
      let iy = oy * SH + ky - PH;
      let row = (plane + select(min(iy, H - 1u), 0u, iy >= 0x80000000u)) * W;
      let rowInside = iz < D && iy < H;
${convRowTaps(TP, TC, S, { tapRow: '(kz * KH + ky)', rowInside: 'rowInside' }, '  ')}
    }
  }

${convStoreTile(TP, TC, s.activation, !!s.residual, '(image * HO + oy) * WO + ox0', 'ox0', 'WO')}
}
`;
}

/**
 * Packs a PyTorch Conv3d weight [cout, cin, kD, kH, kW] into the kernel's layout (see conv3dWgsl). Row-major
 * [cout, cin, kD, kH, kW] is [cout, cin, kD * kH, kW], and the kernel's tap index (kz * KH + ky) * KW + kx
 * is conv2d's with kD * kH rows: packConv2dWeights packs it. `channelPos` as there (a concat input's gaps).
 */
export function packConv3dWeights(
  p: ConvNdParams,
  cin4: number,
  tileC4: number,
  channelPos?: (ci: number) => number,
): { weight: Float32Array; bias: Float32Array } {
  if (p.shape.length !== 5) throw new Error(`conv3d: weight shape [${p.shape}] is not [cout, cin, kD, kH, kW]`);
  const [cout, cin, kD, kH, kW] = p.shape;
  return packConv2dWeights({ weight: p.weight, shape: [cout, cin, kD * kH, kW], bias: p.bias }, cin4, tileC4, channelPos);
}

/** The sizes conv3dWgsl reads from its shape uniform. */
const CONV3D_SHAPE = new ShapeUniforms([
  'D',
  'H',
  'W',
  'DO',
  'HO',
  'WO',
  'CIN4',
  'COUT',
  'COUT4',
  'COUT4_PAD',
  'SD',
  'SH',
  'SW',
  'PD',
  'PH',
  'PW',
  'IN_STRIDE',
  'IN_OFFSET',
  'OUT_STRIDE',
  'OUT_OFFSET',
  'RES_STRIDE',
  'RES_OFFSET',
  'X_BLOCKS',
  'BLOCKS',
  'ROW0',
  ...GRID_FIELDS,
] as const);

export function conv3dShape(s: Conv3dSpec): Uint32Array {
  const [DO, HO, WO] = conv3dOutShape(s);
  const X_BLOCKS = Math.ceil(WO / s.tilePixels);
  const [blocks, rows] = conv3dGrid(s);
  return CONV3D_SHAPE.data({
    D: s.D,
    H: s.H,
    W: s.W,
    DO,
    HO,
    WO,
    CIN4: s.cin4,
    COUT: s.cout,
    COUT4: c4(s.cout),
    COUT4_PAD: cout4Padded(s.cout, s.tileC4),
    SD: s.stride[0],
    SH: s.stride[1],
    SW: s.stride[2],
    PD: s.padding[0],
    PH: s.padding[1],
    PW: s.padding[2],
    IN_STRIDE: s.input.c4Stride,
    IN_OFFSET: s.input.c4Offset,
    OUT_STRIDE: s.output.c4Stride,
    OUT_OFFSET: s.output.c4Offset,
    RES_STRIDE: s.residual?.c4Stride ?? 0,
    RES_OFFSET: s.residual?.c4Offset ?? 0,
    X_BLOCKS,
    BLOCKS: blocks,
    ROW0: conv3dBand(s).row0,
    ...gridUniforms(blocks, s.workgroupSize, rows),
  });
}

export function conv3dStep(
  device: GPUDevice,
  s: Conv3dSpec,
  b: { input: BufferRange; weight: BufferRange; bias: BufferRange; output: BufferRange; residual?: BufferRange },
  label = 'conv3d',
): Step {
  const out = conv3dOutShape(s);
  // the band's output voxels (all of them unbanded)
  const flops = 2 * conv3dBand(s).rows * out[2] * s.cout * s.cin * s.kernel[0] * s.kernel[1] * s.kernel[2];
  const detail = `[${s.N},${s.cin},${s.D},${s.H},${s.W}] -> [${s.N},${s.cout},${out}] k${s.kernel.join('x')} s${s.stride.join('x')} p${s.padding.join('x')}${s.residual ? ' +residual' : ''}${s.activation === 'none' ? '' : ' +' + s.activation}`;
  return makeStep(device, label, { code: conv3dWgsl(s), bindings: conv3dBindings(s) }, b, conv3dWorkgroups(s), flops, detail, conv3dShape(s));
}
