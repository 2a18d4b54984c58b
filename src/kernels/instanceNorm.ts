// instance_norm (affine) with an optional residual and an activation, NHWC4 / NDHWC4:
//   y = act((x - mean) * rsqrt(var + eps) * weight + bias + r), mean and biased var per (n, c) over all
// positions of instance n (H * W, or D * H * W: a 3D value is stored as a 2D one with N * D images, and the
// statistics span all of them). Three kinds of dispatch:
//   partials: per band of input pixels, each invocation continues the moments of its slot (the positions
//             p % SLOTS == slot of one instance and vec4 group), kept in scratch between bands,
//   stats:    once, one workgroup per (n, vec4 group) combines its slots into the per-channel scale and shift,
//   apply:    per band, one invocation per output vec4: x * scale + shift (+ r), the activation, the store.
// A value past the binding limit runs as bands of rows (src/compiler/bands.ts), and must get the bits one pass
// gives it. Here a slot's positions and the order it visits them follow from the shape alone, and its running
// moments go through scratch as f32, exactly: any split into bands performs the same floating-point
// operations, and the unbanded node is simply one band.
// nnU-Net's first-stage maps hold ~10^6 voxels per channel, often far from zero mean: a sum of squares in
// f32 loses the variance to cancellation there, so every level keeps (count, mean, M2): Welford's update
// within a slot, then Chan et al.'s pairwise combination ("Updating formulae and a pairwise algorithm for
// computing sample variances", 1979) across slots. Statistics stay f32 in f16 storage.
import { KernelBindings, activation, param, written } from './bindings.js';
import { checkBandsCover } from './globalAvgPool.js';
import {
  type BufferRange,
  type Nhwc4View,
  ShapeUniforms,
  type Step,
  activationWgsl,
  enables,
  GRID_FIELDS,
  f32Literal,
  foldGrid,
  gridIndex,
  gridUniforms,
  linearWorkgroups,
  makeStep,
  maskLanes,
  storageAliases,
  withBytes,
} from './common.js';
import type { Activation } from '../ir/types.js';
import type { InstanceNormParams } from '../ir/params.js';

export interface InstanceNormSpec {
  /** instances (the batch) */
  N: number;
  /** positions per instance: H * W, or D * H * W */
  positions: number;
  channels: number;
  eps: number;
  activation: Activation;
  input: Nhwc4View;
  /** where the residual added before the activation sits; absent: no residual */
  residual?: Nhwc4View;
  output: Nhwc4View;
  /** workgroup size of the apply dispatch */
  workgroupSize: number;
  f16?: boolean;
}

/**
 * One band of an instance norm: the flat pixels [pixel0, pixel0 + pixels) (pixel = n * positions +
 * position; whole rows of the input, which the output and the residual share), the views of the values'
 * windows over them (c4Offset may be negative: see CompileContext.band) and their bindings.
 */
export interface InstanceNormBand {
  pixel0: number;
  pixels: number;
  input: Nhwc4View;
  output: Nhwc4View;
  residual?: Nhwc4View;
  buffers: { input: BufferRange; output: BufferRange; residual?: BufferRange };
}

// invocations of a partials workgroup
const PARTIAL_WG = 256;
// channel-group lanes per partials workgroup at most: with 32 vec4s (128 channels) side by side, the
// slots side by side still number 8
const MAX_LANES = 32;
// positions a slot folds at least (when there are enough): the scratch holds 32 bytes per slot and vec4
// group, at most 1/16 of an f32 input
const MIN_ITEMS = 32;
// slots per (instance, vec4 group) at most; the stats pass's workgroup has a power of two between 32 and
// 256 lanes, enough that each combines at most 32 slots (fewer lanes for fewer slots: its tree's barriers
// cost a software rasterizer per lane)
const MAX_STATS_WG = 256;
const MAX_SLOTS = 32 * MAX_STATS_WG;
// the partials' scratch at most, whatever the batch and channels (far below any binding limit of 128 MiB)
const MAX_PARTIALS_BYTES = 16 << 20;
// bytes of a stored (mean, M2) pair, and of a (scale, shift) pair: two vec4<f32>
const PAIR_BYTES = 32;

/** How the work is split, from the shape alone (never the bands: their split must not change the bits). */
export function instanceNormLayout(s: Pick<InstanceNormSpec, 'N' | 'positions' | 'channels'>) {
  const C4 = Math.ceil(s.channels / 4);
  const blocks = Math.ceil(C4 / MAX_LANES);
  // channel groups spread evenly over the blocks: 40 groups run as 2 x 20 lanes, not 32 + 8
  const lanes = Math.ceil(C4 / blocks);
  // slots side by side in a partials workgroup
  const rows = Math.floor(PARTIAL_WG / lanes);
  const budget = Math.floor(MAX_PARTIALS_BYTES / (s.N * C4 * PAIR_BYTES));
  const slots = Math.max(1, Math.min(Math.floor(s.positions / MIN_ITEMS), MAX_SLOTS, budget));
  const statsWg = Math.min(MAX_STATS_WG, Math.max(32, 2 ** Math.ceil(Math.log2(slots / 32))));
  return { C4, blocks, lanes, rows, slots, statsWg, partialsBytes: s.N * C4 * slots * PAIR_BYTES, statsBytes: s.N * C4 * PAIR_BYTES };
}

/** Bytes of the two scratch regions the steps need: the slots' (mean, M2), then each channel's (scale, shift). */
export function instanceNormScratch(s: Pick<InstanceNormSpec, 'N' | 'positions' | 'channels'>): [number, number] {
  const L = instanceNormLayout(s);
  return [L.partialsBytes, L.statsBytes];
}

// the positions of instance n inside the band's pixels [PIXEL0, PIXEL_END): [lo, hi) (empty when n lies
// outside it); u32, as the pixels of one value fit one buffer
const INSTANCE_SPAN = /* wgsl */ `
  let base = n * POSITIONS;
  let lo = max(PIXEL0, base) - base;
  let hi = min(PIXEL_END - min(PIXEL_END, base), POSITIONS);`;

export function instanceNormPartialsWgsl(s: InstanceNormSpec): string {
  return /* wgsl */ `${enables(false, s.f16)}
${storageAliases(s.f16)}
// instance_norm, pass 1 of 3, one band: slot s of (instance n, vec4 group c) holds the (mean, M2) of its
// positions s, s + SLOTS, s + 2 * SLOTS, ... folded so far. Workgroup (slot block, (n - N0) * BLOCKS + block)
// is LANES channel-group lanes x ROWS slots, so consecutive invocations read consecutive vec4s of a pixel,
// then consecutive pixels. An invocation loads its slot's moments if an earlier band folded some of its
// positions, folds its positions in this band in increasing order with Welford's update, and stores them.
const WG = ${PARTIAL_WG}u;
${partialsBindings(s).wgsl()}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${PARTIALS_SHAPE.lets()}
  let gridRow = wid.y + (wid.z / WG_ZX) * WG_Y;
  let n = N0 + gridRow / BLOCKS;
  let c = (gridRow % BLOCKS) * LANES + lid.x % LANES;
  let row = lid.x / LANES;
  let slot = (wid.x + (wid.z % WG_ZX) * WG_X) * ROWS + row;
  // past the instances of the band (a folded grid), the channel groups, the slots, or a lane left over
  // when LANES does not divide WG
  if (n >= N_END || c >= C4 || row >= ROWS || slot >= SLOTS) { return; }
${INSTANCE_SPAN}
  // this slot's positions below lo, which earlier bands folded
  var seen = (lo + SLOTS - 1u - slot) / SLOTS;
  let at = ((n * C4 + c) * SLOTS + slot) * 2u;
  var mean = vec4<f32>(0.0);
  var m2 = vec4<f32>(0.0);
  if (seen > 0u) {
    mean = partials[at];
    m2 = partials[at + 1u];
  }
  for (var p = slot + seen * SLOTS; p < hi; p += SLOTS) {
    let x = vec4<f32>(input[(base + p) * IN_STRIDE + IN_OFFSET + c]);
    seen += 1u;
    let d = x - mean;
    mean += d * (1.0 / f32(seen));
    m2 += d * (x - mean);
  }
  partials[at] = mean;
  partials[at + 1u] = m2;
}
`;
}

export function instanceNormStatsWgsl(s: InstanceNormSpec): string {
  return /* wgsl */ `
// instance_norm, pass 2 of 3 (once, after every band's partials): workgroup n * C4 + c combines the SLOTS
// slots of group c of instance n (lane t takes slots t, t + WG, ...; then a tree in workgroup memory) with
// Chan's formula into
//   scale = weight * rsqrt(var + eps), shift = bias - mean * scale  (var = M2 / POSITIONS, biased).
const WG = ${instanceNormLayout(s).statsWg}u;
const EPS = ${f32Literal(s.eps)};
${statsBindings().wgsl()}

struct Moments { count: f32, mean: vec4<f32>, m2: vec4<f32> }

fn combine(a: Moments, b: Moments) -> Moments {
  let count = a.count + b.count;
  if (b.count == 0.0) { return a; }
  let delta = b.mean - a.mean;
  let fb = b.count / count;
  return Moments(count, a.mean + delta * fb, a.m2 + b.m2 + delta * delta * (a.count * fb));
}

var<workgroup> moments: array<Moments, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${STATS_SHAPE.lets()}
  let group = wid.x + wid.z * WG_X;
  let live = group < N * C4;
  var m = Moments(0.0, vec4<f32>(0.0), vec4<f32>(0.0));
  if (live) {
    for (var k = lid.x; k < SLOTS; k += WG) {
      // slot k holds the positions p < POSITIONS with p % SLOTS == k
      let count = f32((POSITIONS + SLOTS - 1u - k) / SLOTS);
      let at = (group * SLOTS + k) * 2u;
      m = combine(m, Moments(count, partials[at], partials[at + 1u]));
    }
  }
  moments[lid.x] = m;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (lid.x < half) { moments[lid.x] = combine(moments[lid.x], moments[lid.x + half]); }
    workgroupBarrier();
  }
  if (live && lid.x == 0u) {
    let c = group % C4;
    let variance = max(moments[0].m2 / f32(POSITIONS), vec4<f32>(0.0));
    let scale = params[c] * inverseSqrt(variance + EPS);
    stats[group * 2u] = scale;
    stats[group * 2u + 1u] = params[C4 + c] - moments[0].mean * scale;
  }
}
`;
}

export function instanceNormApplyWgsl(s: InstanceNormSpec): string {
  const tail = [s.residual ? ' + residual' : '', s.activation === 'none' ? '' : `, ${s.activation}`].join('');
  return /* wgsl */ `${enables(false, s.f16)}
${storageAliases(s.f16)}
// instance_norm, pass 3 of 3, one band: x * scale + shift${tail}, one invocation per output vec4 of the
// band's pixels [PIXEL0, PIXEL_END); grid row r is instance N0 + r. The channel count is a constant, so
// splitting the index into (position, vec4 group) is a multiply, not a division (which a software
// rasterizer pays for on every element).
const C = ${s.channels}u;
const C4 = ${Math.ceil(s.channels / 4)}u;
${applyBindings(s).wgsl()}

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${APPLY_SHAPE.lets()}
${gridIndex(s.workgroupSize, 'INSTANCES')}
  if (!rowLive) { return; }
  let n = N0 + row;
${INSTANCE_SPAN}
  let position = lo + index / C4;
  if (position >= hi) { return; }
  let c = index % C4;
  let pixel = base + position;
  let at = (n * C4 + c) * 2u;
  let v = vec4<f32>(input[pixel * IN_STRIDE + IN_OFFSET + c]) * stats[at] + stats[at + 1u]${s.residual ? ' + vec4<f32>(residual[pixel * RES_STRIDE + RES_OFFSET + c])' : ''};
  output[pixel * OUT_STRIDE + OUT_OFFSET + c] = Act(${maskLanes(activationWgsl(s.activation, 'v'), 'C - 4u * c')});
}
`;
}

const PARTIALS_SHAPE = new ShapeUniforms([
  'N0',
  'N_END',
  'C4',
  'POSITIONS',
  'PIXEL0',
  'PIXEL_END',
  'IN_STRIDE',
  'IN_OFFSET',
  'BLOCKS',
  'LANES',
  'ROWS',
  'SLOTS',
  'WG_X',
  'WG_Y',
  'WG_ZX',
] as const);
const STATS_SHAPE = new ShapeUniforms(['N', 'C4', 'POSITIONS', 'SLOTS', 'WG_X'] as const);
const APPLY_SHAPE = new ShapeUniforms([
  'N0',
  'INSTANCES',
  'POSITIONS',
  'PIXEL0',
  'PIXEL_END',
  'IN_STRIDE',
  'IN_OFFSET',
  'RES_STRIDE',
  'RES_OFFSET',
  'OUT_STRIDE',
  'OUT_OFFSET',
  ...GRID_FIELDS,
] as const);

const PARTIALS_DOC = 'partials[((n * C4 + c) * SLOTS + slot) * 2 + k], k = 0 mean, 1 M2 of the positions of the slot folded so far (scratch)';
const STATS_DOC = 'stats[(n * C4 + c) * 2 + k], k = 0 scale, 1 shift of vec4 group c of instance n (scratch)';

const partialsBindings = (s: InstanceNormSpec) =>
  new KernelBindings('instanceNorm.partials', [activation('input'), written('partials', PARTIALS_DOC, 'vec4<f32>')], PARTIALS_SHAPE, s.f16);

const statsBindings = () =>
  new KernelBindings(
    'instanceNorm.stats',
    [
      activation('partials', PARTIALS_DOC, 'vec4<f32>'),
      param('params', 'vec4<f32>', 'params[c] weight, params[C4 + c] bias of vec4 group c (padding channels: 0, 0)'),
      written('stats', STATS_DOC, 'vec4<f32>'),
    ],
    STATS_SHAPE,
  );

const applyBindings = (s: InstanceNormSpec) =>
  new KernelBindings(
    'instanceNorm.apply',
    [activation('input'), activation('stats', STATS_DOC, 'vec4<f32>'), s.residual && activation('residual'), written('output')],
    APPLY_SHAPE,
    s.f16,
  );

/** weight then bias, each padded with zeros to whole vec4s, as the stats pass reads them: padding channels get
 *  scale 0 and shift 0. */
export function packInstanceNormParams(p: InstanceNormParams): Float32Array {
  const C4 = Math.ceil(p.weight.length / 4);
  const out = new Float32Array(C4 * 8);
  out.set(p.weight, 0);
  out.set(p.bias, C4 * 4);
  return out;
}

/** The three dispatches of one instance norm run in one pass. `partials` and `stats` are scratch of
 *  instanceNormScratch's sizes. */
export function instanceNormSteps(
  device: GPUDevice,
  s: InstanceNormSpec,
  b: { input: BufferRange; params: BufferRange; partials: BufferRange; stats: BufferRange; output: BufferRange; residual?: BufferRange },
  label = 'instanceNorm',
): Step[] {
  const band: InstanceNormBand = {
    pixel0: 0,
    pixels: s.N * s.positions,
    input: s.input,
    output: s.output,
    residual: s.residual,
    buffers: { input: b.input, output: b.output, residual: b.residual },
  };
  return instanceNormBandSteps(device, s, [band], b, label);
}

/**
 * The dispatches of one instance norm run as `bands` (in order, covering every pixel once): each band's
 * partials, the stats once, then each band's apply. The bits do not depend on the split (see the header).
 */
export function instanceNormBandSteps(
  device: GPUDevice,
  s: InstanceNormSpec,
  bands: readonly InstanceNormBand[],
  b: { params: BufferRange; partials: BufferRange; stats: BufferRange },
  label = 'instanceNorm',
): Step[] {
  checkBandsCover(label, bands, s.N * s.positions);
  for (const band of bands)
    if (!!s.residual !== !!band.buffers.residual || !!s.residual !== !!band.residual)
      throw new Error(`${label}: the spec ${s.residual ? 'has' : 'has no'} residual, a band ${band.buffers.residual ? 'does' : 'does not'}`);
  const L = instanceNormLayout(s);
  const vec4Bytes = s.f16 ? 8 : 16;
  const size = `[${s.N},${s.channels},${s.positions} positions]`;
  const where = (band: InstanceNormBand) => (bands.length > 1 ? ` pixels ${band.pixel0}..${band.pixel0 + band.pixels - 1}` : '');
  // the instances a band touches: [first, end)
  const instances = (band: InstanceNormBand) => [Math.floor(band.pixel0 / s.positions), Math.floor((band.pixel0 + band.pixels - 1) / s.positions) + 1];

  const partials = bands.map((band) => {
    const [n0, nEnd] = instances(band);
    const grid = foldGrid(Math.ceil(L.slots / L.rows), (nEnd - n0) * L.blocks);
    const step = makeStep(
      device,
      `${label} partials`,
      { code: instanceNormPartialsWgsl(s), bindings: partialsBindings(s) },
      { input: band.buffers.input, partials: b.partials },
      grid.workgroups,
      0,
      `${size}${where(band)} moments: ${L.slots} slots x ${L.blocks} x ${L.lanes} vec4`,
      PARTIALS_SHAPE.data({
        N0: n0,
        N_END: nEnd,
        C4: L.C4,
        POSITIONS: s.positions,
        PIXEL0: band.pixel0,
        PIXEL_END: band.pixel0 + band.pixels,
        IN_STRIDE: band.input.c4Stride,
        IN_OFFSET: band.input.c4Offset,
        BLOCKS: L.blocks,
        LANES: L.lanes,
        ROWS: L.rows,
        SLOTS: L.slots,
        WG_X: grid.workgroups[0],
        WG_Y: grid.workgroups[1],
        WG_ZX: grid.zx,
      }),
    );
    // what it must move at least: the band's input, read once
    return withBytes(step, band.pixels * L.C4 * vec4Bytes);
  });

  const statsGrid = linearWorkgroups(s.N * L.C4, 1);
  const stats = makeStep(
    device,
    `${label} stats`,
    { code: instanceNormStatsWgsl(s), bindings: statsBindings() },
    { partials: b.partials, params: b.params, stats: b.stats },
    statsGrid,
    0,
    `${size} scale and shift from ${L.slots} slots`,
    STATS_SHAPE.data({ N: s.N, C4: L.C4, POSITIONS: s.positions, SLOTS: L.slots, WG_X: statsGrid[0] }),
  );

  const apply = bands.map((band) => {
    const [n0, nEnd] = instances(band);
    // the most positions of one instance in the band: a grid row's length
    const span = Math.min(s.positions, band.pixels) * L.C4;
    const step = makeStep(
      device,
      `${label} apply`,
      { code: instanceNormApplyWgsl(s), bindings: applyBindings(s) },
      { input: band.buffers.input, stats: b.stats, residual: band.buffers.residual, output: band.buffers.output },
      linearWorkgroups(span, s.workgroupSize, nEnd - n0),
      0,
      `${size}${where(band)} normalize${s.residual ? ' + residual' : ''}${s.activation === 'none' ? '' : ` + ${s.activation}`}`,
      APPLY_SHAPE.data({
        N0: n0,
        INSTANCES: nEnd - n0,
        POSITIONS: s.positions,
        PIXEL0: band.pixel0,
        PIXEL_END: band.pixel0 + band.pixels,
        IN_STRIDE: band.input.c4Stride,
        IN_OFFSET: band.input.c4Offset,
        RES_STRIDE: band.residual?.c4Stride ?? 0,
        RES_OFFSET: band.residual?.c4Offset ?? 0,
        OUT_STRIDE: band.output.c4Stride,
        OUT_OFFSET: band.output.c4Offset,
        ...gridUniforms(span, s.workgroupSize, nEnd - n0),
      }),
    );
    // the band's input read again, with the residual, and its output written
    return withBytes(step, band.pixels * L.C4 * vec4Bytes * (s.residual ? 3 : 2));
  });
  return [...partials, stats, ...apply];
}
