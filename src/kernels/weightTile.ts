// How weights reach the lanes in the register-tiled GEMM kernels (conv2d.ts, convTranspose2x2.ts): each
// invocation multiplies TP input vec4s x_p by a block of TC weight mat4x4s (column j = input channel j of
// the vec4, rows = 4 output channels) into accumulators acc_p_t. Every lane of a workgroup needs the same
// block, so either every lane loads it ('load'), or the lanes of a subgroup share one copy ('subgroup').
import { rep } from './common.js';

/** How a GEMM kernel gets its weights: see Conv2dSpec.weights. */
export interface WeightSharing {
  weights?: 'load' | 'subgroup';
  subgroupSize?: number;
}

/** The subgroup size the 'subgroup' variant shares weights over (0 for 'load'); `kernel` names the error. */
export function sharedLanes(s: WeightSharing, kernel: string): number {
  if (s.weights !== 'subgroup') return 0;
  if (!((s.subgroupSize ?? 0) > 0)) throw new Error(`${kernel}: the subgroup variant needs subgroupSize`);
  return s.subgroupSize!;
}

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
    return rep(TC, (t) => `        let w_${tag}${t} = mat4x4<f32>(weight[${base} + ${t}u]);\n` + rep(TP, (p) => `        acc_${p}_${tag}${t} += w_${tag}${t} * x_${p};`));
  }
  const S = lanes;
  const slots = Math.ceil((TC * 4) / S);
  return [
    rep(slots, (l) => `        let col_${tag}${l} = vec4<f32>(weight[(${base}) * 4u + lane + ${l * S}u]);`),
    rep(TC, (t) => rep(4, (j) => `        let w_${tag}${t}_${j} = subgroupBroadcast(col_${tag}${Math.floor((4 * t + j) / S)}, ${(4 * t + j) % S}u);`)),
    rep(TC, (t) => rep(TP, (p) => `        acc_${p}_${tag}${t} += ${rep(4, (j) => `w_${tag}${t}_${j} * x_${p}.${'xyzw'[j]}`, ' + ')};`)),
  ].join('\n');
}
