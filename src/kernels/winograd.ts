// 3x3 stride-1 convolution by Winograd's minimal filtering F(m x m, 3x3) (Lavin & Gray 2015), m = 2 or 4:
// each m x m block of outputs ("tile") comes from the a x a input patch around it (a = m + 2) as
//   Y = A^T [ sum over input channels of (G g G^T) ⊙ (B^T d B) ] A,
// a^2 multiplies per tile and channel pair where the direct conv needs 9 m^2: 2.25x fewer for F(2x2,3x3),
// 4x fewer for F(4x4,3x3), whose larger transform coefficients cost some accuracy (about 10x F(2x2)'s
// error, still ~1e-6 relative in f32). Three dispatches per band of tile rows:
//   1. input transform: V[tile][xi][ci4] = (B^T d B)[xi], xi = a * row + column of the a x a transform;
//   2. a^2 GEMMs, M[xi] = V[xi] x U[xi], run by the direct conv kernel (conv2d.ts) as a 1x1 conv with a^2
//      groups: group xi reads V's xi-th channel block and writes M's (U is packed by packWinogradWeights);
//   3. output transform with the conv's epilogue: Y = A^T M A + bias (+ residual), activation, stored into
//      the output view (a concat slice included), lanes past cout zeroed.
// V and M live in a scratch region of the plan's arena, sized for one band of tile rows: bands bound that
// memory whatever the input size (WINOGRAD_SCRATCH_BYTES per region).
// A plan may run the conv in bands of output rows (issue 21: a tensor past the binding limit): each starts on
// a tile row (conv2d's bandStart), so its tiles are exactly those one pass computes, cut in bands of tile
// rows as above; the output transform stores only the band's rows.
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
  linearIndex,
  linearWorkgroups,
  makeStep,
  maskLanes,
  rep,
  storageAliases,
} from './common.js';
import type { Activation } from '../ir/types.js';
import { conv2dStep } from './conv2d.js';

/** Most bytes of V (and, separately, of M) held for one band of tile rows (always at least one tile row).
 *  Fewer, larger bands run faster: the classic U-Net at 256^2 on llvmpipe, per-layer GPU time summed, took
 *  1014 ms with bands of at most half a layer's activations, 646-800 ms with 8 MiB and 587 ms with 32 MiB. */
export const WINOGRAD_SCRATCH_BYTES = 16 * 2 ** 20;
let scratchBytes = WINOGRAD_SCRATCH_BYTES;

/** Sets the band size limit (bytes of V, and of M, per band) for plans compiled from now on; returns the
 *  previous one. The tests use it to get several bands from small inputs. */
export function setWinogradScratchBytes(bytes: number): number {
  const old = scratchBytes;
  scratchBytes = bytes;
  return old;
}

/** Output tile size m of F(m x m, 3x3). */
export type WinogradTile = 2 | 4;

// The transforms (Lavin & Gray 2015; F(4,3) with interpolation points 0, 1, -1, 2, -2 and infinity):
// B^T (a x a), G (a x 3), A^T (m x a).
const MATRICES: Record<WinogradTile, { BT: number[][]; G: number[][]; AT: number[][] }> = {
  2: {
    BT: [
      [1, 0, -1, 0],
      [0, 1, 1, 0],
      [0, -1, 1, 0],
      [0, 1, 0, -1],
    ],
    G: [
      [1, 0, 0],
      [0.5, 0.5, 0.5],
      [0.5, -0.5, 0.5],
      [0, 0, 1],
    ],
    AT: [
      [1, 1, 1, 0],
      [0, 1, -1, -1],
    ],
  },
  4: {
    BT: [
      [4, 0, -5, 0, 1, 0],
      [0, -4, -4, 1, 1, 0],
      [0, 4, -4, -1, 1, 0],
      [0, -2, -1, 2, 1, 0],
      [0, 2, -1, -2, 1, 0],
      [0, 4, 0, -5, 0, 1],
    ],
    G: [
      [1 / 4, 0, 0],
      [-1 / 6, -1 / 6, -1 / 6],
      [-1 / 6, 1 / 6, -1 / 6],
      [1 / 24, 1 / 12, 1 / 6],
      [1 / 24, -1 / 12, 1 / 6],
      [0, 0, 1],
    ],
    AT: [
      [1, 1, 1, 1, 1, 0],
      [0, 1, -1, 2, -2, 0],
      [0, 1, 1, 4, 4, 0],
      [0, 1, -1, 8, -8, 1],
    ],
  },
};

export interface WinogradSpec {
  /** output tile size m */
  m: WinogradTile;
  N: number;
  H: number;
  W: number;
  /** input channels (for figures) and the vec4s per input pixel the weights cover (see Conv2dSpec.cin4) */
  cin: number;
  cin4: number;
  cout: number;
  /** top, bottom, left, right zero padding */
  padding: readonly [number, number, number, number];
  input: Nhwc4View;
  output: Nhwc4View;
  residual?: Nhwc4View;
  activation: Activation;
  /** the GEMM's tile (Conv2dSpec's tilePixels, tileC4, workgroupSize, weights, subgroupSize); tileC4 must
   *  divide c4(cout) */
  tile: { tilePixels: number; tileC4: number; workgroupSize: number; weights?: 'load' | 'subgroup'; subgroupSize?: number };
  /** workgroup size of the two transforms */
  workgroupSize: number;
  f16?: boolean;
  /** the plan's band: flat output rows [row0, row0 + rows) of the N * HO (default all); row0 starts a tile
   *  row (row0 % HO a multiple of m) */
  row0?: number;
  rows?: number;
}

/**
 * The geometry of a Winograd conv: output size, tiles, and the bands of tile rows its passes handle. `rows`
 * counts the tile rows of the whole output (N * TH); the plan's band (s.row0, s.rows: output rows) covers
 * the tile rows [tileRow0, tileRow0 + tileRows), done in `bands` passes of at most `bandRows` tile rows,
 * whose V and M take vBytes and mBytes.
 */
export function winogradLayout(s: Pick<WinogradSpec, 'm' | 'N' | 'H' | 'W' | 'cin4' | 'cout' | 'padding' | 'row0' | 'rows'>, vec4Bytes: number) {
  const [top, bottom, left, right] = s.padding;
  const a2 = (s.m + 2) ** 2;
  const HO = s.H + top + bottom - 2;
  const WO = s.W + left + right - 2;
  const TH = Math.ceil(HO / s.m);
  const TW = Math.ceil(WO / s.m);
  const rows = s.N * TH;
  const mC4 = c4(s.cout);
  // the plan's band of output rows, as tile rows: flat output row r lies in tile row (r / HO) * TH + (r % HO) / m
  const outRow0 = s.row0 ?? 0;
  const outRows = s.rows ?? s.N * HO - outRow0;
  if (!Number.isInteger(outRow0) || !Number.isInteger(outRows) || outRow0 < 0 || outRows < 1 || outRow0 + outRows > s.N * HO)
    throw new Error(`winograd: output rows [${outRow0}, ${outRow0 + outRows}) outside the output's ${s.N * HO} rows`);
  if ((outRow0 % HO) % s.m !== 0)
    throw new Error(`winograd: a band from output row ${outRow0} starts inside a tile of F(${s.m}x${s.m},3x3) (row ${outRow0 % HO} of ${HO})`);
  const tileRow = (r: number) => Math.floor(r / HO) * TH + Math.floor((r % HO) / s.m);
  const tileRow0 = tileRow(outRow0);
  const tileRows = tileRow(outRow0 + outRows - 1) + 1 - tileRow0;
  // bytes per tile row of V and of M; a band is as many rows as fit the scratch size (at least one)
  const vRow = TW * a2 * s.cin4 * vec4Bytes;
  const mRow = TW * a2 * mC4 * vec4Bytes;
  const bandRows = Math.max(1, Math.min(tileRows, Math.floor(scratchBytes / Math.max(vRow, mRow))));
  return {
    HO,
    WO,
    TH,
    TW,
    rows,
    mC4,
    outRow0,
    outRows,
    tileRow0,
    tileRows,
    bandRows,
    bands: Math.ceil(tileRows / bandRows),
    vBytes: bandRows * vRow,
    mBytes: bandRows * mRow,
  };
}

/** Whether a conv can run as F(m x m, 3x3): a 3x3 kernel, stride 1, no dilation, no groups. */
export const winogradApplies = (kH: number, kW: number, stride: readonly number[], dilation: readonly number[], groups: number): boolean =>
  kH === 3 && kW === 3 && stride[0] === 1 && stride[1] === 1 && dilation[0] === 1 && dilation[1] === 1 && groups === 1;

/** U[xi][co][ci] = (G g[co][ci] G^T)[xi] for a [cout, cin, 3, 3] weight, computed in float64. */
export function winogradFilters(p: ConvParams, m: WinogradTile = 2): Float64Array {
  const [cout, cin, kH, kW] = p.shape;
  if (kH !== 3 || kW !== 3) throw new Error(`winograd: needs a 3x3 kernel, got ${kH}x${kW}`);
  const { G } = MATRICES[m];
  const a = m + 2;
  const u = new Float64Array(a * a * cout * cin);
  const gg = new Float64Array(a * 3);
  for (let co = 0; co < cout; co++) {
    for (let ci = 0; ci < cin; ci++) {
      const g = (ky: number, kx: number) => p.weight[((co * cin + ci) * 3 + ky) * 3 + kx];
      // G g, then (G g) G^T
      for (let i = 0; i < a; i++) for (let kx = 0; kx < 3; kx++) gg[i * 3 + kx] = G[i][0] * g(0, kx) + G[i][1] * g(1, kx) + G[i][2] * g(2, kx);
      for (let i = 0; i < a; i++) {
        for (let j = 0; j < a; j++) u[((a * i + j) * cout + co) * cin + ci] = gg[i * 3] * G[j][0] + gg[i * 3 + 1] * G[j][1] + gg[i * 3 + 2] * G[j][2];
      }
    }
  }
  return u;
}

/**
 * Packs the transformed filters as the weights of the GEMM step: a 1x1 conv with a^2 groups of cin4 vec4s
 * in and c4(cout) vec4s out (conv2d.ts layout: weight[ci4 * COUT4_PAD + co4] is a mat4x4, column = input
 * lane, row = output lane; COUT4_PAD = a^2 * c4(cout), group xi's outputs at xi * c4(cout)). `channelPos`
 * places input channels among the cin4 * 4 stored ones, as for the direct conv. The GEMM's bias is zero;
 * the real bias is added by the output transform.
 */
export function packWinogradWeights(
  p: ConvParams,
  m: WinogradTile,
  cin4: number,
  channelPos: (ci: number) => number = (ci) => ci,
): { weight: Float32Array; gemmBias: Float32Array; bias: Float32Array } {
  const [cout, cin] = p.shape;
  const a2 = (m + 2) ** 2;
  const mC4 = c4(cout);
  const cout4Pad = a2 * mC4;
  const u = winogradFilters(p, m);
  const weight = new Float32Array(cin4 * cout4Pad * 16);
  for (let xi = 0; xi < a2; xi++) {
    for (let co = 0; co < cout; co++) {
      for (let ci = 0; ci < cin; ci++) {
        const pos = channelPos(ci);
        const mat = (pos >> 2) * cout4Pad + xi * mC4 + (co >> 2);
        weight[mat * 16 + (pos & 3) * 4 + (co & 3)] = u[(xi * cout + co) * cin + ci];
      }
    }
  }
  const bias = new Float32Array(mC4 * 4);
  if (p.bias) bias.set(p.bias);
  return { weight, gemmBias: new Float32Array(cout4Pad * 4), bias };
}

/** WGSL for sum_k coef[k] * term(k) over the nonzero coefficients, with 1 and -1 as plain adds. */
function linear(coef: number[], term: (k: number) => string): string {
  let out = '';
  for (const [k, c] of coef.entries()) {
    if (c === 0) continue;
    const mag = Math.abs(c) === 1 ? term(k) : `${Math.abs(c).toFixed(1)} * ${term(k)}`;
    out += out === '' ? (c < 0 ? `-${mag}` : mag) : c < 0 ? ` - ${mag}` : ` + ${mag}`;
  }
  return out;
}

/** WGSL opening both transforms: one invocation per (tile, vec4) of a band, vec4s fastest: `vec` (the vec4
 *  index, of `count` per tile), `tile` (counted from the band's first), its (n, ty, tx). Needs TOTAL, WG_X,
 *  TW, TH and ROW0 in scope; invocations past TOTAL return. */
const bandTile = (vec: string, count: string, workgroupSize: number): string => `  let i = ${linearIndex('WG_X', workgroupSize)};
  if (i >= TOTAL) { return; }
  let ${vec} = i % ${count};
  let tile = i / ${count};
  let tx = tile % TW;
  let row = ROW0 + tile / TW;
  let ty = row % TH;
  let n = row / TH;`;

const INPUT_SHAPE = new ShapeUniforms(['H', 'W', 'CIN4', 'IN_STRIDE', 'IN_OFFSET', 'PT', 'PL', 'TH', 'TW', 'ROW0', 'TOTAL', 'WG_X'] as const);

/** Input transform: one invocation per (tile, input vec4); consecutive invocations walk the channels. */
export function winogradInputWgsl(m: WinogradTile, workgroupSize: number, f16 = false): string {
  const { BT } = MATRICES[m];
  const a = m + 2;
  return /* wgsl */ `${enables(false, f16)}
// Winograd F(${m}x${m},3x3) input transform: V = B^T d B for the ${a}x${a} patch d of each tile of a band of tile
// rows. Zero padding is a masked load, whose address is the image's nearest row (top padding reads row 0):
// a banded input is bound only over the rows its band reads, and padding rows lie outside the image.
${storageAliases(f16)}
${inputTransformBindings(m, f16).wgsl()}

@compute @workgroup_size(${workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${INPUT_SHAPE.lets()}
${bandTile('ci4', 'CIN4', workgroupSize)}
  // unsigned wrap-around makes coordinates above the image fail the "< H" test too
  let y0 = ${m}u * ty - PT;
  let x0 = ${m}u * tx - PL;
${rep(
  a,
  (r) => `  let y_${r} = y0 + ${r}u;
  let rowBase_${r} = (n * H + select(min(y_${r}, H - 1u), 0u, ${m}u * ty + ${r}u < PT)) * W;
${rep(a, (c) => `  let d_${r}_${c} = select(vec4<f32>(0.0), vec4<f32>(input[(rowBase_${r} + min(x0 + ${c}u, W - 1u)) * IN_STRIDE + IN_OFFSET + ci4]), y_${r} < H && x0 + ${c}u < W);`)}`,
)}
  // B^T d, by columns
${rep(a, (i) => rep(a, (c) => `  let t_${i}_${c} = ${linear(BT[i], (k) => `d_${k}_${c}`)};`))}
  // (B^T d) B, by rows
  let out = tile * ${a * a}u * CIN4 + ci4;
${rep(a, (i) => rep(a, (j) => `  v[out + ${a * i + j}u * CIN4] = Act(${linear(BT[j], (k) => `t_${i}_${k}`)});`))}
}
`;
}

const inputTransformBindings = (m: WinogradTile, f16: boolean) =>
  new KernelBindings(
    'winogradInput',
    [activation('input'), written('v', `V[(tile * ${(m + 2) ** 2} + xi) * CIN4 + ci4], tile counted from the band's first`)],
    INPUT_SHAPE,
    f16,
  );

const OUTPUT_SHAPE = new ShapeUniforms([
  'HO',
  'WO',
  'COUT',
  'C4',
  'OUT_STRIDE',
  'OUT_OFFSET',
  'RES_STRIDE',
  'RES_OFFSET',
  'TH',
  'TW',
  'ROW0',
  'OUT_ROW0',
  'OUT_ROW_END',
  'TOTAL',
  'WG_X',
] as const);

/** Output transform and epilogue: one invocation per (tile, output vec4). Stores only the output rows
 *  [OUT_ROW0, OUT_ROW_END) (the plan's band; all rows unbanded): a band's last tile may pass its end. */
export function winogradOutputWgsl(m: WinogradTile, activation: Activation, residual: boolean, workgroupSize: number, f16 = false): string {
  const { AT } = MATRICES[m];
  const a = m + 2;
  return /* wgsl */ `${enables(false, f16)}
// Winograd F(${m}x${m},3x3) output transform: Y = A^T M A for each tile of a band, then bias${residual ? ', residual' : ''} and
// ${activation === 'none' ? 'no activation' : activation}; lanes of channels >= COUT stored as 0.
${storageAliases(f16)}
${outputTransformBindings(m, residual, f16).wgsl()}

@compute @workgroup_size(${workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${OUTPUT_SHAPE.lets()}
${bandTile('co4', 'C4', workgroupSize)}
  let base = tile * ${a * a}u * C4 + co4;
${rep(a * a, (xi) => `  let m_${Math.floor(xi / a)}_${xi % a} = vec4<f32>(m[base + ${xi}u * C4]);`)}
  // A^T M, by columns
${rep(m, (r) => rep(a, (c) => `  let s_${r}_${c} = ${linear(AT[r], (k) => `m_${k}_${c}`)};`))}
  let b = bias[co4];
${rep(m, (r) =>
  rep(
    m,
    (c) => `  {
    let oy = ${m}u * ty + ${r}u;
    let ox = ${m}u * tx + ${c}u;
    let orow = n * HO + oy;
    if (oy < HO && ox < WO && orow >= OUT_ROW0 && orow < OUT_ROW_END) {
      let pixel = orow * WO + ox;
      let v = ${linear(AT[c], (k) => `s_${r}_${k}`)} + b${residual ? ' + vec4<f32>(residual[pixel * RES_STRIDE + RES_OFFSET + co4])' : ''};
      output[pixel * OUT_STRIDE + OUT_OFFSET + co4] = Act(${maskLanes(activationWgsl(activation, 'v'), 'COUT - 4u * co4')});
    }
  }`,
  ),
)}
}
`;
}

const outputTransformBindings = (m: WinogradTile, residual: boolean, f16: boolean) =>
  new KernelBindings(
    'winogradOutput',
    [
      activation('m', `M[(tile * ${(m + 2) ** 2} + xi) * C4 + co4], tile counted from the band's first`),
      param('bias', 'vec4<f32>'),
      written('output'),
      residual && activation('residual'),
    ],
    OUTPUT_SHAPE,
    f16,
  );

/**
 * The dispatches of one Winograd conv (of the plan's band s.row0, s.rows: all output rows by default): per
 * band of tile rows, input transform, GEMM (the direct conv kernel as a grouped 1x1 conv), output transform.
 * `v` and `m` are scratch regions of winogradLayout's vBytes and mBytes. The GEMM steps carry the conv's
 * FLOPs as the direct conv counts them, so GFLOP/s figures compare. The tiles, and so each output's
 * arithmetic, are those of one pass whatever the bands; the GEMM's tile (s.tile) must not depend on them.
 */
export function winogradSteps(
  device: GPUDevice,
  s: WinogradSpec,
  b: {
    input: BufferRange;
    weight: BufferRange;
    gemmBias: BufferRange;
    bias: BufferRange;
    output: BufferRange;
    residual?: BufferRange;
    v: BufferRange;
    m: BufferRange;
  },
  label = 'conv2d',
): Step[] {
  const L = winogradLayout(s, s.f16 ? 8 : 16);
  const a2 = (s.m + 2) ** 2;
  if (L.HO < 1 || L.WO < 1) throw new Error(`${label}: a 3x3 conv of ${s.H}x${s.W} with padding [${s.padding}] has no output`);
  if (L.mC4 % s.tile.tileC4 !== 0) throw new Error(`${label}: tile of ${s.tile.tileC4} vec4s does not divide ${L.mC4} output vec4s`);
  const directFlops = 2 * s.N * L.HO * L.WO * s.cout * s.cin * 9;
  const wg = s.workgroupSize;
  const inKernel = { code: winogradInputWgsl(s.m, wg, s.f16), bindings: inputTransformBindings(s.m, !!s.f16) };
  const outKernel = { code: winogradOutputWgsl(s.m, s.activation, !!s.residual, wg, s.f16), bindings: outputTransformBindings(s.m, !!s.residual, !!s.f16) };
  const name = `F(${s.m}x${s.m},3x3)`;
  const detail = `[${s.N},${s.cin},${s.H},${s.W}] -> [${s.N},${s.cout},${L.HO},${L.WO}] k3x3 s1 p${s.padding[0]} winograd ${name}${s.residual ? ' +residual' : ''}${s.activation === 'none' ? '' : ' +' + s.activation}`;
  const steps: Step[] = [];
  const banded = L.outRows < s.N * L.HO;
  for (let band = 0; band < L.bands; band++) {
    const row0 = L.tileRow0 + band * L.bandRows;
    const rows = Math.min(L.bandRows, L.tileRow0 + L.tileRows - row0);
    const tiles = rows * L.TW;
    const tag = `${banded ? ` rows ${L.outRow0}..${L.outRow0 + L.outRows - 1}` : ''}${L.bands > 1 ? ` band ${band + 1}/${L.bands}` : ''}`;
    const inTotal = tiles * s.cin4;
    const inWg = linearWorkgroups(inTotal, wg);
    const inShape = INPUT_SHAPE.data({
      H: s.H,
      W: s.W,
      CIN4: s.cin4,
      IN_STRIDE: s.input.c4Stride,
      IN_OFFSET: s.input.c4Offset,
      PT: s.padding[0],
      PL: s.padding[2],
      TH: L.TH,
      TW: L.TW,
      ROW0: row0,
      TOTAL: inTotal,
      WG_X: inWg[0],
    });
    steps.push(
      makeStep(
        device,
        `${label} winograd-in${tag}`,
        inKernel,
        { input: b.input, v: b.v },
        inWg,
        0,
        `${name} input transform, ${tiles} tiles x ${s.cin4} vec4`,
        inShape,
      ),
    );
    const gemm = {
      N: 1,
      H: rows,
      W: L.TW,
      cin: a2 * s.cin4 * 4,
      cin4: s.cin4,
      cout: a2 * L.mC4 * 4,
      kH: 1,
      kW: 1,
      strideH: 1,
      strideW: 1,
      padH: 0,
      padW: 0,
      dilationH: 1,
      dilationW: 1,
      groups: a2,
      input: { c4Stride: a2 * s.cin4, c4Offset: 0 },
      output: { c4Stride: a2 * L.mC4, c4Offset: 0 },
      activation: 'none' as const,
      f16: s.f16,
      ...s.tile,
      weights: s.tile.weights ?? 'load',
    };
    const g = conv2dStep(device, gemm, { input: b.v, weight: b.weight, bias: b.gemmBias, output: b.m }, `${label} winograd-gemm${tag}`);
    steps.push({
      ...g,
      flops: (directFlops * rows) / L.rows,
      detail: `${detail}${tag}: ${a2} GEMMs [${tiles} x ${s.cin4 * 4}] x [${s.cin4 * 4} x ${L.mC4 * 4}]`,
    });
    const outTotal = tiles * L.mC4;
    const outWg = linearWorkgroups(outTotal, wg);
    const outShape = OUTPUT_SHAPE.data({
      HO: L.HO,
      WO: L.WO,
      COUT: s.cout,
      C4: L.mC4,
      OUT_STRIDE: s.output.c4Stride,
      OUT_OFFSET: s.output.c4Offset,
      RES_STRIDE: s.residual?.c4Stride ?? 0,
      RES_OFFSET: s.residual?.c4Offset ?? 0,
      TH: L.TH,
      TW: L.TW,
      ROW0: row0,
      OUT_ROW0: L.outRow0,
      OUT_ROW_END: L.outRow0 + L.outRows,
      TOTAL: outTotal,
      WG_X: outWg[0],
    });
    steps.push(
      makeStep(
        device,
        `${label} winograd-out${tag}`,
        outKernel,
        { m: b.m, bias: b.bias, output: b.output, residual: b.residual },
        outWg,
        0,
        `${name} output transform, ${tiles} tiles x ${L.mC4} vec4`,
        outShape,
      ),
    );
  }
  return steps;
}
