// instance_norm (affine) with an optional residual and an activation, NHWC4 / NDHWC4:
//   y = act((x - mean) * rsqrt(var + eps) * weight + bias + r), mean and biased var per (n, c) over all
// positions of instance n (H * W, or D * H * W: a 3D value is stored as a 2D one with N * D images, and the
// statistics span all of them). Three dispatches:
//   partials: each workgroup folds a chunk of positions of up to 32 vec4 channel groups into (mean, M2),
//   stats:    one workgroup per (n, vec4 group) combines its chunks into the per-channel scale and shift,
//   apply:    one invocation per output vec4: x * scale + shift (+ r), the activation, the store.
// nnU-Net's first-stage maps hold ~10^6 voxels per channel, often far from zero mean: a sum of squares in
// f32 loses the variance to cancellation there, so every level keeps (count, mean, M2): Welford's update
// per invocation, then Chan et al.'s pairwise combination ("Updating formulae and a pairwise algorithm for
// computing sample variances", 1979) across invocations and chunks. Statistics stay f32 in f16 storage.
import { KernelBindings, activation, param, written } from './bindings.js';
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

// invocations of a partials workgroup, and positions each folds: a chunk is rows * ITEMS positions
const PARTIAL_WG = 256;
const ITEMS = 16;
// channel-group lanes per partials workgroup at most: with 32 vec4s (128 channels) side by side, the
// position rows still number 8
const MAX_LANES = 32;
const STATS_WG = 64;
// bytes of a stored (mean, M2) pair, and of a (scale, shift) pair: two vec4<f32>
const PAIR_BYTES = 32;

/** How the partials dispatch splits the work, from the spec alone (the op's scratch sizes use it too). */
export function instanceNormLayout(s: InstanceNormSpec) {
  const C4 = Math.ceil(s.channels / 4);
  const blocks = Math.ceil(C4 / MAX_LANES);
  // channel groups spread evenly over the blocks: 40 groups run as 2 x 20 lanes, not 32 + 8
  const lanes = Math.ceil(C4 / blocks);
  const rows = Math.floor(PARTIAL_WG / lanes);
  const chunk = rows * ITEMS;
  const chunks = Math.ceil(s.positions / chunk);
  return { C4, blocks, lanes, rows, chunk, chunks, partialsBytes: s.N * C4 * chunks * PAIR_BYTES, statsBytes: s.N * C4 * PAIR_BYTES };
}

/** Bytes of the two scratch regions the steps need: the chunks' (mean, M2), then each channel's (scale, shift). */
export function instanceNormScratch(s: InstanceNormSpec): [number, number] {
  const L = instanceNormLayout(s);
  return [L.partialsBytes, L.statsBytes];
}

// Chan's combination of (count, mean, M2) b into a: WGSL shared by both reductions
const CHAN = /* wgsl */ `
struct Moments { count: f32, mean: vec4<f32>, m2: vec4<f32> }

fn combine(a: Moments, b: Moments) -> Moments {
  let count = a.count + b.count;
  if (b.count == 0.0) { return a; }
  let delta = b.mean - a.mean;
  let fb = b.count / count;
  return Moments(count, a.mean + delta * fb, a.m2 + b.m2 + delta * delta * (a.count * fb));
}`;

export function instanceNormPartialsWgsl(s: InstanceNormSpec): string {
  return /* wgsl */ `${enables(false, s.f16)}
${storageAliases(s.f16)}
// instance_norm, pass 1 of 3: (mean, M2) of each chunk of CHUNK positions, per instance and vec4 group.
// Workgroup (chunk, n * BLOCKS + block) is LANES channel-group lanes x ROWS position rows: invocation
// (lane, row) folds positions chunk * CHUNK + row + k * ROWS, k < ITEMS, of group block * LANES + lane with
// Welford's update, so consecutive invocations read consecutive vec4s of a pixel. The rows then combine
// pairwise in workgroup memory and row 0 stores the chunk's moments.
const WG = ${PARTIAL_WG}u;
const ITEMS = ${ITEMS}u;
${partialsBindings(s).wgsl()}
${CHAN}

var<workgroup> moments: array<Moments, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${PARTIALS_SHAPE.lets()}
  let chunk = wid.x + (wid.z % WG_ZX) * WG_X;
  let gridRow = wid.y + (wid.z / WG_ZX) * WG_Y;
  let n = gridRow / BLOCKS;
  let c = (gridRow % BLOCKS) * LANES + lid.x % LANES;
  let row = lid.x / LANES;
  // past the folded grid, past the channel groups, or a lane left over when LANES does not divide WG
  let live = chunk < CHUNKS && n < N && c < C4 && row < ROWS;
  var m = Moments(0.0, vec4<f32>(0.0), vec4<f32>(0.0));
  if (live) {
    let first = chunk * CHUNK + row;
    for (var k = 0u; k < ITEMS; k++) {
      let p = first + k * ROWS;
      if (p >= POSITIONS) { break; }
      let x = vec4<f32>(input[(n * POSITIONS + p) * IN_STRIDE + IN_OFFSET + c]);
      m.count += 1.0;
      let d = x - m.mean;
      m.mean += d * (1.0 / m.count);
      m.m2 += d * (x - m.mean);
    }
  }
  moments[lid.x] = m;
  workgroupBarrier();
  // a tree over the rows of each lane; ROWS_POW2 >= ROWS, the upper rows folded onto the lower first
  for (var half = ROWS_POW2 / 2u; half > 0u; half /= 2u) {
    if (row < half && row + half < ROWS) { moments[lid.x] = combine(moments[lid.x], moments[lid.x + half * LANES]); }
    workgroupBarrier();
  }
  if (live && row == 0u) {
    let at = ((n * C4 + c) * CHUNKS + chunk) * 2u;
    partials[at] = moments[lid.x].mean;
    partials[at + 1u] = moments[lid.x].m2;
  }
}
`;
}

export function instanceNormStatsWgsl(s: InstanceNormSpec): string {
  return /* wgsl */ `
// instance_norm, pass 2 of 3: workgroup n * C4 + c combines the CHUNKS partial moments of group c of
// instance n (lane t takes chunks t, t + WG, ...; then a tree in workgroup memory) into
//   scale = weight * rsqrt(var + eps), shift = bias - mean * scale  (var = M2 / POSITIONS, biased).
const WG = ${STATS_WG}u;
const EPS = ${f32Literal(s.eps)};
${statsBindings().wgsl()}
${CHAN}

var<workgroup> moments: array<Moments, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${STATS_SHAPE.lets()}
  let group = wid.x + wid.z * WG_X;
  let live = group < N * C4;
  var m = Moments(0.0, vec4<f32>(0.0), vec4<f32>(0.0));
  if (live) {
    for (var k = lid.x; k < CHUNKS; k += WG) {
      // the last chunk may be short: every chunk but it holds CHUNK positions
      let count = f32(min(CHUNK, POSITIONS - k * CHUNK));
      let at = (group * CHUNKS + k) * 2u;
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
// instance_norm, pass 3 of 3: x * scale + shift${tail}, one invocation per output vec4; grid row n is
// instance n. The channel count is a constant, so splitting the index into (position, vec4 group) is a
// multiply, not a division (which a software rasterizer pays for on every element).
const C = ${s.channels}u;
const C4 = ${Math.ceil(s.channels / 4)}u;
${applyBindings(s).wgsl()}

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${APPLY_SHAPE.lets()}
${gridIndex(s.workgroupSize, 'N')}
  if (!rowLive || index >= POSITIONS * C4) { return; }
  let c = index % C4;
  let pixel = row * POSITIONS + index / C4;
  let at = (row * C4 + c) * 2u;
  let v = vec4<f32>(input[pixel * IN_STRIDE + IN_OFFSET + c]) * stats[at] + stats[at + 1u]${s.residual ? ' + vec4<f32>(residual[pixel * RES_STRIDE + RES_OFFSET + c])' : ''};
  output[pixel * OUT_STRIDE + OUT_OFFSET + c] = Act(${maskLanes(activationWgsl(s.activation, 'v'), 'C - 4u * c')});
}
`;
}

const PARTIALS_SHAPE = new ShapeUniforms([
  'N',
  'C4',
  'POSITIONS',
  'IN_STRIDE',
  'IN_OFFSET',
  'BLOCKS',
  'LANES',
  'ROWS',
  'ROWS_POW2',
  'CHUNK',
  'CHUNKS',
  'WG_X',
  'WG_Y',
  'WG_ZX',
] as const);
const STATS_SHAPE = new ShapeUniforms(['N', 'C4', 'POSITIONS', 'CHUNK', 'CHUNKS', 'WG_X'] as const);
const APPLY_SHAPE = new ShapeUniforms([
  'N',
  'POSITIONS',
  'IN_STRIDE',
  'IN_OFFSET',
  'RES_STRIDE',
  'RES_OFFSET',
  'OUT_STRIDE',
  'OUT_OFFSET',
  ...GRID_FIELDS,
] as const);

const PARTIALS_DOC = 'partials[((n * C4 + c) * CHUNKS + chunk) * 2 + k], k = 0 mean, 1 M2 of the chunk (scratch)';
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

/** The three dispatches of one instance norm. `partials` and `stats` are scratch of instanceNormScratch's sizes. */
export function instanceNormSteps(
  device: GPUDevice,
  s: InstanceNormSpec,
  b: { input: BufferRange; params: BufferRange; partials: BufferRange; stats: BufferRange; output: BufferRange; residual?: BufferRange },
  label = 'instanceNorm',
): Step[] {
  if (!!s.residual !== !!b.residual)
    throw new Error(`${label}: the spec ${s.residual ? 'has' : 'has no'} residual, the buffers ${b.residual ? 'do' : 'do not'}`);
  const L = instanceNormLayout(s);
  const vec4Bytes = s.f16 ? 8 : 16;
  const inputBytes = s.N * s.positions * L.C4 * vec4Bytes;
  const size = `[${s.N},${s.channels},${s.positions} positions]`;

  const grid = foldGrid(L.chunks, s.N * L.blocks);
  const partials = makeStep(
    device,
    `${label} partials`,
    { code: instanceNormPartialsWgsl(s), bindings: partialsBindings(s) },
    { input: b.input, partials: b.partials },
    grid.workgroups,
    0,
    `${size} moments: ${L.chunks} chunks of ${L.chunk} positions x ${L.blocks} x ${L.lanes} vec4`,
    PARTIALS_SHAPE.data({
      N: s.N,
      C4: L.C4,
      POSITIONS: s.positions,
      IN_STRIDE: s.input.c4Stride,
      IN_OFFSET: s.input.c4Offset,
      BLOCKS: L.blocks,
      LANES: L.lanes,
      ROWS: L.rows,
      ROWS_POW2: 2 ** Math.ceil(Math.log2(L.rows)),
      CHUNK: L.chunk,
      CHUNKS: L.chunks,
      WG_X: grid.workgroups[0],
      WG_Y: grid.workgroups[1],
      WG_ZX: grid.zx,
    }),
  );

  const statsWg = linearWorkgroups(s.N * L.C4, 1);
  const stats = makeStep(
    device,
    `${label} stats`,
    { code: instanceNormStatsWgsl(s), bindings: statsBindings() },
    { partials: b.partials, params: b.params, stats: b.stats },
    statsWg,
    0,
    `${size} scale and shift from ${L.chunks} chunks`,
    STATS_SHAPE.data({ N: s.N, C4: L.C4, POSITIONS: s.positions, CHUNK: L.chunk, CHUNKS: L.chunks, WG_X: statsWg[0] }),
  );

  const perInstance = s.positions * L.C4;
  const applyWg = linearWorkgroups(perInstance, s.workgroupSize, s.N);
  const apply = makeStep(
    device,
    `${label} apply`,
    { code: instanceNormApplyWgsl(s), bindings: applyBindings(s) },
    { input: b.input, stats: b.stats, residual: b.residual, output: b.output },
    applyWg,
    0,
    `${size} normalize${s.residual ? ' + residual' : ''}${s.activation === 'none' ? '' : ` + ${s.activation}`}`,
    APPLY_SHAPE.data({
      N: s.N,
      POSITIONS: s.positions,
      IN_STRIDE: s.input.c4Stride,
      IN_OFFSET: s.input.c4Offset,
      RES_STRIDE: s.residual?.c4Stride ?? 0,
      RES_OFFSET: s.residual?.c4Offset ?? 0,
      OUT_STRIDE: s.output.c4Stride,
      OUT_OFFSET: s.output.c4Offset,
      ...gridUniforms(perInstance, s.workgroupSize, s.N),
    }),
  );
  // what each pass must move at least: the input read once by the moments, then read again with the
  // residual and the output written
  return [withBytes(partials, inputBytes), stats, withBytes(apply, inputBytes * (s.residual ? 3 : 2))];
}
