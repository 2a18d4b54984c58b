// conv2d as a workgroup-tiled implicit GEMM, for hardware GPUs: [pixels, KH*KW*Cin] x [KH*KW*Cin, Cout].
// A workgroup computes BM output pixels x BN4 output vec4s. Per step of BK4 = 2 input vec4s along K it
// stages the activation tile (BM x BK4 vec4, gathered with the conv's padding) and the weight tile (BK4 x
// BN4 mat4x4, contiguous in the packed layout) in workgroup memory, then every thread multiplies its TM
// pixels x TN4 vec4s out of it (TM x TN4 mat4x4-vec4 products per input vec4, from TM + 4 TN4 shared
// loads). Threads are laid out 16 (pixels) x BN4 / TN4 (channels). This is the usual GPU shape (shared
// memory reuse, many threads per tile) and the opposite of what suits llvmpipe (shared/LAVAPIPE.md), so the
// tuner only offers it on hardware adapters. Weights use conv2d.ts's packing with tileC4 = BN4.
// A dispatch covers the output pixels [PIXEL0, PIXEL0 + M): all of them, or a band's rows (OutputRows);
// tiles are cut from the band, and each pixel's sum runs over K in the same order wherever its tile starts.
import { UnsupportedError } from '../errors.js';
import { KernelBindings, activation, param, written } from './bindings.js';
import {
  type BufferRange,
  MAX_WORKGROUPS_PER_DIM,
  ShapeUniforms,
  type Step,
  activationWgsl,
  c4,
  enables,
  makeStep,
  maskLanes,
  storageAliases,
} from './common.js';
import type { Activation } from '../ir/types.js';
import { type Conv2dSpec, conv2dOutShape, outputRows } from './conv2d.js';
import { cout4Padded } from './gemmTile.js';

/** Rows of threads (along pixels) and input vec4s per K step. */
const TY = 16;
const BK4 = 2;

export interface TiledGeometry {
  /** pixels per thread, vec4s of output channels per thread, threads along channels */
  TM: number;
  TN4: number;
  TX: number;
  BM: number;
  BN4: number;
  threads: number;
}

/** The kernel's shape from a tile: tilePixels = pixels per thread (BM = 16 tilePixels), tileC4 = output vec4s
 *  per workgroup (BN4), two vec4s per thread where BN4 is even. */
export function tiledGeometry(tilePixels: number, tileC4: number): TiledGeometry {
  const TN4 = tileC4 % 2 === 0 ? 2 : 1;
  const TX = tileC4 / TN4;
  if (TY * TX > 256) throw new Error(`conv2d tiled: ${tileC4} output vec4s per workgroup need ${TY * TX} threads, more than 256`);
  return { TM: tilePixels, TN4, TX, BM: TY * tilePixels, BN4: tileC4, threads: TY * TX };
}

const SHAPE = new ShapeUniforms([
  'H',
  'W',
  'HO',
  'WO',
  'CIN4',
  'COUT',
  'COUT4',
  'COUT4_PAD',
  'SH',
  'SW',
  'PH',
  'PW',
  'DH',
  'DW',
  'K4',
  'M',
  'PIXEL0',
  'IN_STRIDE',
  'IN_OFFSET',
  'OUT_STRIDE',
  'OUT_OFFSET',
  'RES_STRIDE',
  'RES_OFFSET',
] as const);

type TiledCodeSpec = Pick<Conv2dSpec, 'kW' | 'tilePixels' | 'tileC4' | 'f16'> & { activation: Activation; residual: boolean };

const tiledBindings = (s: TiledCodeSpec) =>
  new KernelBindings(
    'conv2dTiled',
    [
      activation('input'),
      param('weight', 'WCol', "weight[k4 * COUT4_PAD + co4] as vec4 columns: column j of mat (k4, co4) = input channel 4 k4 + j's weights"),
      param('bias', 'vec4<f32>'),
      written('output'),
      s.residual && activation('residual'),
    ],
    SHAPE,
    s.f16,
  );

export function conv2dTiledWgsl(s: TiledCodeSpec): string {
  const G = tiledGeometry(s.tilePixels, s.tileC4);
  const { TM, TN4, BM, BN4, threads } = G;
  const A = BM * BK4; // vec4s of the activation tile
  const B = BK4 * BN4 * 4; // vec4 columns of the weight tile
  return /* wgsl */ `${enables(false, s.f16)}
// conv2d, workgroup-tiled implicit GEMM: ${BM} pixels x ${BN4 * 4} channels per workgroup, ${TM} x ${TN4 * 4} per
// thread, K in steps of ${BK4 * 4} channels through workgroup memory; ${s.activation === 'none' ? 'no activation' : s.activation}${s.residual ? ', residual' : ''}.
${storageAliases(s.f16)}
const KW = ${s.kW}u;
${tiledBindings(s).wgsl()}

var<workgroup> tileA: array<vec4<f32>, ${A}>; // [k4][pixel]
var<workgroup> tileB: array<vec4<f32>, ${B}>; // [k4][co4][column]

@compute @workgroup_size(${threads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
${SHAPE.lets()}
  let m0 = wid.x * ${BM}u;
  let n0 = wid.y * ${BN4}u;
  let tx = t % ${G.TX}u;
  let ty = t / ${G.TX}u;
  var acc: array<array<vec4<f32>, ${TN4}>, ${TM}>;
  for (var k0 = 0u; k0 < K4; k0 += ${BK4}u) {
    // stage the activation tile: pixel p's vec4 k4 = (tap, ci4), zero outside the image or past K / M.
    // The masked loads read an element the pixel's own taps read (past M: the last pixel's; past K: the last
    // tap's; padding: the nearest row / column): a banded input is bound only over the rows its band reads.
    for (var i = t; i < ${A}u; i += ${threads}u) {
      let p = i % ${BM}u;
      let k4 = k0 + i / ${BM}u;
      let m = m0 + p;
      let pixel = PIXEL0 + min(m, M - 1u);
      let kc = min(k4, K4 - 1u);
      let tap = kc / CIN4;
      let ci4 = kc % CIN4;
      let ox = pixel % WO;
      let oy = (pixel / WO) % HO;
      let n = pixel / (WO * HO);
      // unsigned wrap-around makes "iy < 0" fail the "< H" test too
      let iy = oy * SH + (tap / KW) * DH - PH;
      let ix = ox * SW + (tap % KW) * DW - PW;
      let ok = m < M && k4 < K4 && iy < H && ix < W;
      let iyc = select(min(iy, H - 1u), 0u, iy >= 0x80000000u);
      let at = ((n * H + iyc) * W + min(ix, W - 1u)) * IN_STRIDE + IN_OFFSET + ci4;
      tileA[i] = select(vec4<f32>(0.0), vec4<f32>(input[at]), ok);
    }
    // stage the weight tile: BK4 x BN4 mats, each 4 contiguous columns
    for (var i = t; i < ${B}u; i += ${threads}u) {
      let k4 = k0 + i / ${BN4 * 4}u;
      let c = i % ${BN4 * 4}u;
      tileB[i] = select(vec4<f32>(0.0), vec4<f32>(weight[min((k4 * COUT4_PAD + n0) * 4u + c, arrayLength(&weight) - 1u)]), k4 < K4);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK4}u; kk++) {
      var w: array<mat4x4<f32>, ${TN4}>;
      for (var j = 0u; j < ${TN4}u; j++) {
        let b = (kk * ${BN4}u + tx * ${TN4}u + j) * 4u;
        w[j] = mat4x4<f32>(tileB[b], tileB[b + 1u], tileB[b + 2u], tileB[b + 3u]);
      }
      for (var i = 0u; i < ${TM}u; i++) {
        let a = tileA[kk * ${BM}u + ty * ${TM}u + i];
        for (var j = 0u; j < ${TN4}u; j++) { acc[i][j] += w[j] * a; }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < ${TM}u; i++) {
    let m = m0 + ty * ${TM}u + i;
    if (m >= M) { continue; }
    let pixel = PIXEL0 + m;
    for (var j = 0u; j < ${TN4}u; j++) {
      let co4 = n0 + tx * ${TN4}u + j;
      if (co4 >= COUT4) { continue; }
      let v = acc[i][j] + bias[co4]${s.residual ? ' + vec4<f32>(residual[pixel * RES_STRIDE + RES_OFFSET + co4])' : ''};
      output[pixel * OUT_STRIDE + OUT_OFFSET + co4] = Act(${maskLanes(activationWgsl(s.activation, 'v'), 'COUT - 4u * co4')});
    }
  }
}
`;
}

/** The step of a tiled conv (groups 1, no input scale); weights packed with tileC4 = the tile's BN4. */
export function conv2dTiledStep(
  device: GPUDevice,
  s: Conv2dSpec,
  b: { input: BufferRange; weight: BufferRange; bias: BufferRange; output: BufferRange; residual?: BufferRange },
  label = 'conv2d',
): Step {
  if ((s.groups ?? 1) !== 1 || s.inputScale) throw new Error(`${label}: the tiled conv kernel takes no groups and no input scale`);
  const { HO, WO } = conv2dOutShape(s);
  const G = tiledGeometry(s.tilePixels, s.tileC4);
  const band = outputRows(s, HO, label);
  const M = band.rows * WO;
  const cout4Pad = cout4Padded(s.cout, s.tileC4);
  const shape = SHAPE.data({
    H: s.H,
    W: s.W,
    HO,
    WO,
    CIN4: s.cin4,
    COUT: s.cout,
    COUT4: c4(s.cout),
    COUT4_PAD: cout4Pad,
    SH: s.strideH,
    SW: s.strideW,
    PH: s.padH,
    PW: s.padW,
    DH: s.dilationH,
    DW: s.dilationW,
    K4: s.kH * s.kW * s.cin4,
    M,
    PIXEL0: band.row0 * WO,
    IN_STRIDE: s.input.c4Stride,
    IN_OFFSET: s.input.c4Offset,
    OUT_STRIDE: s.output.c4Stride,
    OUT_OFFSET: s.output.c4Offset,
    RES_STRIDE: s.residual?.c4Stride ?? 0,
    RES_OFFSET: s.residual?.c4Offset ?? 0,
  });
  const workgroups: [number, number, number] = [Math.ceil(M / G.BM), cout4Pad / G.BN4, 1];
  if (workgroups[0] > MAX_WORKGROUPS_PER_DIM)
    throw new UnsupportedError(
      `${label}: ${M} output pixels need ${workgroups[0]} workgroups of ${G.BM}, more than ${MAX_WORKGROUPS_PER_DIM}: use a smaller input or tiles`,
    );
  const flops = 2 * M * s.cout * s.cin * s.kH * s.kW;
  const detail = `[${s.N},${s.cin},${s.H},${s.W}] -> [${s.N},${s.cout},${HO},${WO}] k${s.kH}x${s.kW} s${s.strideH} p${s.padH} tiled ${G.BM}x${G.BN4 * 4}${s.residual ? ' +residual' : ''}${s.activation === 'none' ? '' : ' +' + s.activation}`;
  const codeSpec = { kW: s.kW, tilePixels: s.tilePixels, tileC4: s.tileC4, f16: s.f16, activation: s.activation, residual: !!s.residual };
  return makeStep(device, label, { code: conv2dTiledWgsl(codeSpec), bindings: tiledBindings(codeSpec) }, b, workgroups, flops, detail, shape);
}
