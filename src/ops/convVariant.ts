// Which kernel each conv runs on, decided in one place (as ONNX Runtime's WebGPU conv.ts picks its
// algorithm once): direct implicit GEMM, Winograd F(2x2,3x3) or F(4x4,3x3), the workgroup-tiled GEMM, or
// the depthwise kernel. The choice depends on the op (shape, stride, groups, input scale), the tuning
// (the layer's own entry, else the kernel's default), the precision, and one model-wide rule (F(4x4)
// gives way to F(2x2) in models with many Winograd convs). Subgroups enter through the tuning: tuningFor
// and the tuner offer 'subgroup' tiles only on adapters with one fixed subgroup size. Weight packing,
// scratch sizes, the compiled steps, plan.describe() and `unet tune` all read convVariants(); none of them
// decides again.
import type { Graph, Node, OpOf } from '../ir/graph.js';
import { type ConvTile, type Tuning, describeTile } from '../kernels/tuning.js';
import { type WinogradTile, winogradApplies } from '../kernels/winograd.js';
import { UnsupportedError } from '../errors.js';

export type ConvVariant =
  /** groups = channels, one input channel per output channel (src/kernels/depthwiseConv2d.ts); untuned */
  | { kind: 'depthwise' }
  /** the implicit GEMM (src/kernels/conv2d.ts) or the workgroup-tiled GEMM (src/kernels/conv2dTiled.ts) */
  | { kind: 'direct' | 'tiled'; tile: ConvTile }
  /** Winograd F(m x m, 3x3) (src/kernels/winograd.ts); `tile` is its GEMM's */
  | { kind: 'winograd2' | 'winograd4'; m: WinogradTile; tile: ConvTile };

/** Fewer input channels than this and Winograd's two transforms cost more than its GEMMs save. */
export const WINOGRAD_MIN_CIN = 8;

/** Most Winograd F(4x4,3x3) convs a model may chain. Its error grows with depth: on the smp parity models at
 *  256x256 (bench/parity-smp.ts, bound 1e-4 vs float64) resnet101 (44 such convs) stayed at 6.3e-5 and
 *  resnet152 (61) reached 1.1e-4, where F(2x2,3x3) gave 6.2e-5 and the direct kernel 6.4e-5. */
export const WINOGRAD4_MAX_LAYERS = 48;

/** groups = channels, one input channel per output channel: a kernel of its own (depthwiseConv2d.ts). */
export const isDepthwise = (op: OpOf<'conv2d'>): boolean => op.groups > 1 && op.params.shape[1] === 1 && op.params.shape[0] === op.groups;

/** Whether Winograd applies to this conv: 3x3, stride 1, no dilation, no groups, no input scale, at least
 *  WINOGRAD_MIN_CIN input channels, in f32. With f16 storage the transformed values V and M would be
 *  rounded to f16 too: measured on a 32 -> 32 conv, F(2x2) doubled the direct kernel's f16 error (4.8e-3 vs
 *  2.7e-3) and F(4x4) made it 30x (7.7e-2), so f16 models run direct. */
export function winogradEligible(op: OpOf<'conv2d'>, f16: boolean): boolean {
  return (
    !f16 &&
    !op.inputScale &&
    op.params.shape[1] >= WINOGRAD_MIN_CIN &&
    winogradApplies(op.params.shape[2], op.params.shape[3], op.stride, op.dilation, op.groups)
  );
}

/** The convs of `g` Winograd applies to (in f32), which the model-wide rule counts. */
export const winogradLayers = (g: Graph): number => g.nodes.filter((n) => n.op.kind === 'conv2d' && winogradEligible(n.op, false)).length;

/** Whether F(4x4,3x3) may run in `g`: its error grows with the number of Winograd convs chained. */
export const winograd4Fits = (g: Graph): boolean => winogradLayers(g) <= WINOGRAD4_MAX_LAYERS;

/** `tile` as the model-wide rule lets it run: F(4x4,3x3) gives way to F(2x2,3x3) where it does not fit
 *  (winograd4Fits). The tuner offers only candidates this leaves as they are. */
export const ruledTile = (tile: ConvTile, winograd4: boolean): ConvTile => (tile.algo === 'winograd4' && !winograd4 ? { ...tile, algo: 'winograd2' } : tile);

/** A conv layer's identity for per-layer tuning (Tuning.layers): what shapes its work, not the input size. */
export function conv2dLayerKey(op: OpOf<'conv2d'>, g: Graph, node: Node): string {
  const [cout, cinG, kh, kw] = op.params.shape;
  const segs = g.values[node.inputs[0]].segments?.length ?? 1;
  const groups = op.groups > 1 ? ` g${op.groups}` : '';
  return `conv2d k${kh}x${kw} s${op.stride[0]} ${cinG * op.groups}${segs > 1 ? `(${segs} parts)` : ''}->${cout}${groups}`;
}

/**
 * The one decision: the variant `op` runs as under `tile` (the layer's tuning entry) in a model where
 * F(4x4,3x3) fits or not (`winograd4`, see ruledTile). An algorithm runs where it applies
 * (Winograd: winogradEligible; tiled: no groups and no input scale), else the direct kernel. The tile keeps
 * to the layer: never more output vec4s than the layer has (a 1-class head would otherwise compute 3 vec4s
 * of zero weights for each real one), and for a grouped conv or Winograd's GEMM (a grouped conv whose groups
 * are c4(cout) vec4s wide) a divisor of a group's output vec4s, since a tile never spans two groups.
 */
export function chooseConvVariant(op: OpOf<'conv2d'>, tile: ConvTile, f16: boolean, winograd4 = true): ConvVariant {
  if (isDepthwise(op)) return { kind: 'depthwise' };
  const algo = ruledTile(tile, winograd4).algo;
  const m: 0 | WinogradTile = algo === 'winograd2' ? 2 : algo === 'winograd4' ? 4 : 0;
  const winograd = m !== 0 && winogradEligible(op, f16);
  const tiled = !winograd && algo === 'tiled' && op.groups === 1 && !op.inputScale;
  const groupC4 = op.groups === 1 ? Math.ceil(op.params.shape[0] / 4) : op.params.shape[0] / op.groups / 4;
  let tileC4 = Math.min(tile.tileC4, groupC4);
  while ((op.groups > 1 || winograd) && groupC4 % tileC4 !== 0) tileC4--;
  const kept = winograd || tiled ? algo : undefined;
  const t: ConvTile = tileC4 === tile.tileC4 && kept === tile.algo ? tile : { ...tile, tileC4, algo: kept };
  if (winograd) return { kind: m === 2 ? 'winograd2' : 'winograd4', m, tile: t };
  return { kind: tiled ? 'tiled' : 'direct', tile: t };
}

// Tunings a caller gave (LoadOptions.tuning, or a cached `unet tune` result) run as given: the model-wide
// rule shapes what the engine picks by itself, and bench/parity-smp.ts --algos winograd4 measures F(4x4,3x3)
// on a resnet152 this way. (The tuner never stores F(4x4,3x3) for a model the rule excludes.)
const given = new WeakSet<Tuning>();

/** Marks `t` as the caller's: its F(4x4,3x3) tiles run as F(4x4,3x3) however many Winograd convs the model has. */
export function asGiven(t: Tuning): Tuning {
  given.add(t);
  return t;
}

// per graph, per tuning object, per precision: a graph and a tuning are not modified once compiled
const tables = new WeakMap<Graph, WeakMap<Tuning, Map<boolean, ReadonlyMap<Node, ConvVariant>>>>();

/** Every conv node's variant in `g` under `tuning` and the precision, computed once and then looked up;
 *  F(4x4,3x3) gives way to F(2x2,3x3) where it does not fit `g` unless `tuning` is the caller's (asGiven). */
export function convVariants(g: Graph, tuning: Tuning, f16: boolean): ReadonlyMap<Node, ConvVariant> {
  let byTuning = tables.get(g);
  if (!byTuning) tables.set(g, (byTuning = new WeakMap()));
  let byPrecision = byTuning.get(tuning);
  if (!byPrecision) byTuning.set(tuning, (byPrecision = new Map()));
  const known = byPrecision.get(f16);
  if (known) return known;
  const table = new Map<Node, ConvVariant>();
  const winograd4 = given.has(tuning) || winograd4Fits(g);
  for (const node of g.nodes) {
    if (node.op.kind !== 'conv2d') continue;
    const tile = tuning.layers?.[conv2dLayerKey(node.op, g, node)] ?? tuning.conv2d;
    table.set(node, chooseConvVariant(node.op, tile, f16, winograd4));
  }
  byPrecision.set(f16, table);
  return table;
}

/** The variant of one conv node (see convVariants). */
export function convVariantOf(g: Graph, node: Node, tuning: Tuning, f16: boolean): ConvVariant {
  const v = convVariants(g, tuning, f16).get(node);
  if (!v) throw new UnsupportedError(`${node.name}: not a conv node of this graph`);
  return v;
}

/** A variant for plan.describe(), profiles and `unet tune`: 'direct load 4px x 2c4 wg64',
 *  'winograd4 subgroup/8 2px x 4c4 wg64', 'tiled load 8px x 32c4 wg64', 'depthwise'. */
export const describeConvVariant = (v: ConvVariant): string =>
  v.kind === 'depthwise' ? 'depthwise' : `${v.kind === 'direct' ? 'direct ' : ''}${describeTile(v.tile)}`;
