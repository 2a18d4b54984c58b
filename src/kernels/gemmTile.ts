// What the register-tiled GEMM kernels (conv2d.ts, conv3d.ts, convTranspose2x2.ts) share: each invocation computes
// TP consecutive pixels of one row times TC output vec4 groups, multiplying input vec4s x_p by blocks of TC
// weight mat4x4s (column j = input channel j of the vec4, rows = 4 output channels) into accumulators
// acc_p_t. Lanes walk pixels and the workgroup row picks the channels, so every lane of a workgroup needs
// the same weights: either every lane loads them ('load'), or the lanes of a subgroup share one copy
// ('subgroup'). Here: the tile an invocation owns, the weight step, a conv's taps along a row, and the guarded store.
import type { Activation } from '../ir/types.js';
import { param } from './bindings.js';
import { activationWgsl, c4, gridIndex, maskLanes, rep } from './common.js';

/** How a GEMM kernel's weights reach the lanes (part of its spec; the tuner picks it per device). */
export interface WeightSharing {
  /** 'load': every invocation loads its weights (all lanes of a workgroup read the same addresses).
   *  'subgroup': each lane loads a few columns and subgroupBroadcast hands them to the others, so a subgroup
   *  pays for one copy instead of one per lane; needs the `subgroups` feature and a fixed subgroup size. On
   *  llvmpipe, where every lane's load is a separate gather, this is ~3x faster. Default 'load'. */
  weights?: 'load' | 'subgroup';
  /** the fixed subgroup size, for 'subgroup' */
  subgroupSize?: number;
}

/** The subgroup size the 'subgroup' variant shares weights over (0 for 'load'); `kernel` names the error. */
export function sharedLanes(s: WeightSharing, kernel: string): number {
  if (s.weights !== 'subgroup') return 0;
  if (!((s.subgroupSize ?? 0) > 0)) throw new Error(`${kernel}: the subgroup variant needs subgroupSize`);
  return s.subgroupSize!;
}

/** Output vec4 groups padded to a multiple of the tile, so weight reads never run past the buffer. */
export const cout4Padded = (cout: number, tileC4: number): number => Math.ceil(c4(cout) / tileC4) * tileC4;

/** The `weight` binding weightTile reads: mat4x4s (WMat), or their vec4 columns (WCol) in the subgroup variant. */
export const weightParam = (s: WeightSharing, doc: string) =>
  param(
    'weight',
    s.weights === 'subgroup' ? 'WCol' : 'WMat',
    `${doc}${s.weights === 'subgroup' ? '\nRead here as vec4 columns: column (t, j) of a block is weight[4 * (mat + t) + j].' : ''}`,
  );

/**
 * Packs a GEMM kernel's weights into weightTile's layout: the column-major mat4x4
 * weight[(k * cin4 + ci4) * cout4Pad + co4] of tap k holds input channel 4*ci4+j in column j and output
 * channel 4*co4+i in row i, so weight * x accumulates 4 outputs from 4 inputs. cout4Pad is
 * cout4Padded(cout, tileC4). `value(co, ci, k)` is the weight of output channel co, input channel ci and tap
 * k < taps; `channelPos(ci)` gives where input channel ci sits among the cin4*4 stored channels (identity
 * for a dense input; a concat of slices padded to vec4 boundaries shifts the later slices). Unused
 * positions get 0, and the bias is zero past cout.
 */
export function packWeightBlocks(
  taps: number,
  cin: number,
  cout: number,
  cin4: number,
  tileC4: number,
  channelPos: (ci: number) => number,
  value: (co: number, ci: number, k: number) => number,
  bias?: ArrayLike<number>,
): { weight: Float32Array; bias: Float32Array } {
  const cout4Pad = cout4Padded(cout, tileC4);
  const weight = new Float32Array(taps * cin4 * cout4Pad * 16);
  const positions = Array.from({ length: cin }, (_, ci) => channelPos(ci));
  for (let co = 0; co < cout; co++) {
    for (let ci = 0; ci < cin; ci++) {
      const pos = positions[ci];
      for (let k = 0; k < taps; k++) {
        const mat = (k * cin4 + (pos >> 2)) * cout4Pad + (co >> 2);
        // column (pos & 3), row (co & 3) of a column-major mat4x4
        weight[mat * 16 + (pos & 3) * 4 + (co & 3)] = value(co, ci, k);
      }
    }
  }
  const padded = new Float32Array(cout4Pad * 4);
  if (bias) padded.set(bias);
  return { weight, bias: padded };
}

/**
 * WGSL placing an invocation's tile in a dispatch of linearWorkgroups(blocks, workgroupSize, COUT4_PAD / TC):
 * gridIndex's `index`, `wgy` and `rowLive`, then `block` (its pixel block, clamped to the last: invocations
 * past it compute a copy and store nothing), the block's image (named `image`, default `n`), row `y` (of
 * `rows`) and first pixel `x0`, and `co0`, its first output vec4. Needs BLOCKS, X_BLOCKS, COUT4_PAD, TP, TC
 * and GRID_FIELDS in scope. A banded dispatch (`row0`, the name of the band's first flat output row, e.g. a
 * shape uniform ROW0) covers only the band's BLOCKS = rows * X_BLOCKS blocks: `block` is then global, the
 * dispatch's first block being row0 * X_BLOCKS, so image, row and pixel come out as in one pass.
 */
export const tileOrigin = (
  workgroupSize: number,
  rows: string,
  y: string,
  x0: string,
  image = 'n',
  row0?: string,
): string => `  // invocations past the last block compute a copy of it and store nothing
${gridIndex(workgroupSize, 'COUT4_PAD / TC')}
  let block = ${row0 ? `${row0} * X_BLOCKS + ` : ''}min(index, BLOCKS - 1u);
  let xb = block % X_BLOCKS;
  let ${y} = (block / X_BLOCKS) % ${rows};
  let ${image} = block / (X_BLOCKS * ${rows});
  let ${x0} = xb * TP;
  let co0 = wgy * TC;`;

/**
 * WGSL storing a tile: `store(p, t)` for every pixel p inside the row (`x0 + p < width`) and output vec4 t
 * that exists (`co0 + t < COUT4`), with `b_t`, the bias of vec4 t, in scope. Invocations past the grid or
 * the last block store nothing (they ran only to keep control flow uniform).
 */
export const storeTile = (
  TP: number,
  TC: number,
  x0: string,
  width: string,
  store: (p: number, t: number) => string,
): string => `  if (index < BLOCKS && rowLive) {
${rep(
  TC,
  (t) => `    if (co0 + ${t}u < COUT4) {
      let b_${t} = bias[co0 + ${t}u];
${rep(
  TP,
  (p) => `      if (${x0} + ${p}u < ${width}) {
${store(p, t)}
      }`,
)}
    }`,
)}
  }`;

/**
 * storeTile with a conv's epilogue: output pixel `pixel0 + p` (a WGSL index into the output's pixels, whose
 * row holds `width` pixels from `x0`) gets acc_p_t + bias, plus the residual where `residual` (bound as
 * `residual`, read through RES_STRIDE / RES_OFFSET), through `act`, with the lanes of channels >= COUT
 * stored as 0, into the output view (OUT_STRIDE / OUT_OFFSET).
 */
export const convStoreTile = (TP: number, TC: number, act: Activation, residual: boolean, pixel0: string, x0: string, width: string): string =>
  storeTile(
    TP,
    TC,
    x0,
    width,
    (p, t) => `        let pixel = ${pixel0} + ${p}u;
        let v = acc_${p}_${t} + b_${t}${residual ? ` + vec4<f32>(residual[pixel * RES_STRIDE + RES_OFFSET + co0 + ${t}u])` : ''};
        output[pixel * OUT_STRIDE + OUT_OFFSET + co0 + ${t}u] = Act(${maskLanes(activationWgsl(act, 'v'), `COUT - 4u * (co0 + ${t}u)`)});`,
  );

/**
 * WGSL of a conv's taps along one input row (conv2d.ts, conv3d.ts): the loop over kx < KW, in which input
 * pixel p is ix_p = (ox0 + p) * SW + kx * DW - PW (`dilated`; kx alone otherwise) of the row starting at
 * pixel `row`, read where `rowInside` and ix_p < W hold (zero padding as a masked load; unsigned wrap-around
 * makes ix_p < 0 fail too), then the CIN4 steps of weightTile. `tapRow` is the tap's row (the weight tap is
 * tapRow * KW + kx), `channel0` an offset added to every input pixel's vec4 index (a group's first input
 * vec4), `scale` a vec4 factor multiplying each input vec4 as it is read (uses ci4). Indented by `indent`.
 */
export function convRowTaps(
  TP: number,
  TC: number,
  lanes: number,
  o: { tapRow: string; rowInside: string; dilated?: boolean; channel0?: string; scale?: string },
  indent = '',
): string {
  const code = `    for (var kx = 0u; kx < KW; kx++) {
${rep(
  TP,
  (p) => `      let ix_${p} = (ox0 + ${p}u) * SW + kx${o.dilated ? ' * DW' : ''} - PW;
      let inside_${p} = ${o.rowInside} && ix_${p} < W;
      let base_${p} = (row + min(ix_${p}, W - 1u)) * IN_STRIDE + IN_OFFSET${o.channel0 ? ` + ${o.channel0}` : ''};`,
)}
      let wbase = (${o.tapRow} * KW + kx) * CIN4 * COUT4_PAD + co0;
      for (var ci4 = 0u; ci4 < CIN4; ci4++) {
${o.scale ? `        let scale = ${o.scale};\n` : ''}${rep(TP, (p) => `        let x_${p} = select(vec4<f32>(0.0), vec4<f32>(input[base_${p} + ci4])${o.scale ? ' * scale' : ''}, inside_${p});`)}
${weightTile('wbase + ci4 * COUT4_PAD', '', TP, TC, lanes)}
      }
    }`;
  return indent ? code.replace(/^/gm, indent) : code;
}

/** WGSL declaring the tile's accumulators acc_p_t (TP pixels x TC output vec4s), zeroed. */
export const accumulators = (TP: number, TC: number): string => rep(TP, (p) => rep(TC, (t) => `  var acc_${p}_${t} = vec4<f32>(0.0);`));

/** The extra builtin `main` takes in the subgroup variant (the lane inside the subgroup). */
export const laneParam = (lanes: number): string => (lanes ? ', @builtin(subgroup_invocation_id) lane: u32' : '');

/**
 * WGSL of one inner step: acc_{p}_{tag}{t} += block t x x_p for p < TP, t < TC, where block t is the
 * mat4x4 weight[base + t] (`weight` bound as array<WMat>; as array<WCol> in the subgroup variant, where
 * block t's column j is weight[4 * base + 4 t + j]). `tag` keeps the names of several blocks apart.
 * 'load': every lane loads the TC mats. 'subgroup' (lanes = subgroup size S): the 4 TC columns are spread
 * over the lanes, column k in lane k % S of load slot k / S, and subgroupBroadcast hands each to every
 * lane, so a subgroup pays for one copy instead of one per lane; control flow around it must be uniform.
 */
export function weightTile(base: string, tag: string, TP: number, TC: number, lanes: number): string {
  if (!lanes) {
    return rep(
      TC,
      (t) => `        let w_${tag}${t} = mat4x4<f32>(weight[${base} + ${t}u]);\n` + rep(TP, (p) => `        acc_${p}_${tag}${t} += w_${tag}${t} * x_${p};`),
    );
  }
  const S = lanes;
  const slots = Math.ceil((TC * 4) / S);
  return [
    rep(slots, (l) => `        let col_${tag}${l} = vec4<f32>(weight[(${base}) * 4u + lane + ${l * S}u]);`),
    rep(TC, (t) => rep(4, (j) => `        let w_${tag}${t}_${j} = subgroupBroadcast(col_${tag}${Math.floor((4 * t + j) / S)}, ${(4 * t + j) % S}u);`)),
    rep(TC, (t) => rep(TP, (p) => `        acc_${p}_${tag}${t} += ${rep(4, (j) => `w_${tag}${t}_${j} * x_${p}.${'xyzw'[j]}`, ' + ')};`)),
  ].join('\n');
}
