// adaptive_avg_pool2d(x, 1): the mean over every pixel, per channel, NHWC4 -> [N, C, 1, 1].
// One workgroup per (vec4 group, image): lane l sums the image's pixels l, l + WG, l + 2 WG, ... in
// increasing order in f32, then the workgroup adds the lanes' sums in a tree in workgroup memory (log2(size)
// barriers, once per image).
// An input past the binding limit runs as bands of rows (src/compiler/bands.ts), one dispatch each, and must
// get the bits one pass gives: an image that a band leaves unfinished keeps its lanes' running sums in
// scratch (carry), and the next band's lanes continue them in the same order; the tree runs in the band that
// holds the image's last pixel. The unbanded node is simply one band.
import { KernelBindings, activation, written } from './bindings.js';
import { type BufferRange, type Nhwc4View, ShapeUniforms, type Step, enables, makeStep, storageAliases, withBytes } from './common.js';

export interface GlobalAvgPoolSpec {
  N: number;
  H: number;
  W: number;
  c4: number;
  input: Nhwc4View;
  output: Nhwc4View;
  /** a power of two */
  workgroupSize: number;
  f16?: boolean;
}

/**
 * One band of a global average pool: the input's flat pixels [pixel0, pixel0 + pixels) (pixel = n * H * W +
 * y * W + x; whole rows), the views of the input's window over them and of the output (c4Offset may be
 * negative: see CompileContext.band) and their bindings.
 */
export interface GlobalAvgPoolBand {
  pixel0: number;
  pixels: number;
  input: Nhwc4View;
  output: Nhwc4View;
  buffers: { input: BufferRange; output: BufferRange };
}

/** Bytes of the carry scratch: each lane's sum of each vec4 group, twice (a band reads one half, writes the
 *  other: the image it continues and the image it leaves unfinished may both be in it). */
export function globalAvgPoolScratch(s: Pick<GlobalAvgPoolSpec, 'c4' | 'workgroupSize'>): number {
  return 2 * s.c4 * s.workgroupSize * 16;
}

export function globalAvgPoolWgsl(s: GlobalAvgPoolSpec): string {
  const WG = s.workgroupSize;
  if (WG & (WG - 1)) throw new Error(`globalAvgPool: workgroup size ${WG} is not a power of two`);
  return /* wgsl */ `${enables(false, s.f16)}
${storageAliases(s.f16)}
// global average pool, NHWC4, one band of input pixels [PIXEL0, PIXEL_END): workgroup (c, r) reduces
// channel group c of image N0 + r over the band's pixels of it.
const WG = ${WG}u;
${gapBindings(s).wgsl()}
var<workgroup> partial: array<vec4<f32>, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${GAP_SHAPE.lets()}
  let c = wid.x;
  let n = N0 + wid.y;
  // the image's pixels inside the band: [lo, hi)
  let base = n * PIXELS;
  let lo = max(PIXEL0, base) - base;
  let hi = min(PIXEL_END - base, PIXELS);
  var sum = vec4<f32>(0.0);
  if (lo > 0u) { sum = carry[(CARRY_IN * C4 + c) * WG + lid.x]; }
  // this lane's first pixel at or past lo
  for (var p = lid.x + (lo + WG - 1u - lid.x) / WG * WG; p < hi; p += WG) {
    sum += vec4<f32>(input[(base + p) * IN_STRIDE + IN_OFFSET + c]);
  }
  // the image goes on in the next band (the same for the whole workgroup: the barriers stay uniform)
  if (hi < PIXELS) {
    carry[(CARRY_OUT * C4 + c) * WG + lid.x] = sum;
    return;
  }
  partial[lid.x] = sum;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    if (lid.x < half) { partial[lid.x] += partial[lid.x + half]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { output[n * OUT_STRIDE + OUT_OFFSET + c] = Act(partial[0] / f32(PIXELS)); }
}
`;
}

const GAP_SHAPE = new ShapeUniforms([
  'N0',
  'C4',
  'PIXELS',
  'PIXEL0',
  'PIXEL_END',
  'CARRY_IN',
  'CARRY_OUT',
  'IN_STRIDE',
  'IN_OFFSET',
  'OUT_STRIDE',
  'OUT_OFFSET',
] as const);

const CARRY_DOC = "carry[(k * C4 + c) * WG + lane], k = 0, 1: a lane's running sum of vec4 group c of an image a band left unfinished (scratch)";

const gapBindings = (s: GlobalAvgPoolSpec) =>
  new KernelBindings('globalAvgPool', [activation('input'), written('carry', CARRY_DOC, 'vec4<f32>'), written('output')], GAP_SHAPE, s.f16);

/** The dispatch of a global average pool run in one pass; `carry` is scratch of globalAvgPoolScratch's size. */
export function globalAvgPoolStep(
  device: GPUDevice,
  s: GlobalAvgPoolSpec,
  b: { input: BufferRange; carry: BufferRange; output: BufferRange },
  label = 'globalAvgPool',
): Step {
  const band = { pixel0: 0, pixels: s.N * s.H * s.W, input: s.input, output: s.output, buffers: { input: b.input, output: b.output } };
  return globalAvgPoolBandSteps(device, s, [band], b.carry, label)[0];
}

/** Throws unless `bands` cover pixels [0, total) in order, each once, as a reduce op's band steps need
 *  (globalAvgPool's, instanceNorm's). */
export function checkBandsCover(label: string, bands: readonly { pixel0: number; pixels: number }[], total: number): void {
  let next = 0;
  for (const band of bands) {
    if (band.pixel0 !== next || band.pixels <= 0) throw new Error(`${label}: band [${band.pixel0}, +${band.pixels}) does not continue at pixel ${next}`);
    next += band.pixels;
  }
  if (next !== total) throw new Error(`${label}: the bands cover ${next} of ${total} pixels`);
}

/** One dispatch per band (in order, covering every pixel once); the bits do not depend on the split. */
export function globalAvgPoolBandSteps(
  device: GPUDevice,
  s: GlobalAvgPoolSpec,
  bands: readonly GlobalAvgPoolBand[],
  carry: BufferRange,
  label = 'globalAvgPool',
): Step[] {
  const pixels = s.H * s.W;
  checkBandsCover(label, bands, s.N * pixels);
  const code = globalAvgPoolWgsl(s);
  return bands.map((band, i) => {
    const n0 = Math.floor(band.pixel0 / pixels);
    const nEnd = Math.floor((band.pixel0 + band.pixels - 1) / pixels) + 1;
    const shape = GAP_SHAPE.data({
      N0: n0,
      C4: s.c4,
      PIXELS: pixels,
      PIXEL0: band.pixel0,
      PIXEL_END: band.pixel0 + band.pixels,
      CARRY_IN: i % 2,
      CARRY_OUT: (i + 1) % 2,
      IN_STRIDE: band.input.c4Stride,
      IN_OFFSET: band.input.c4Offset,
      OUT_STRIDE: band.output.c4Stride,
      OUT_OFFSET: band.output.c4Offset,
    });
    const where = bands.length > 1 ? ` pixels ${band.pixel0}..${band.pixel0 + band.pixels - 1}` : '';
    const detail = `[${s.N},${s.c4 * 4},${s.H},${s.W}]${where} -> [${s.N},${s.c4 * 4},1,1]`;
    const step = makeStep(
      device,
      label,
      { code, bindings: gapBindings(s) },
      { input: band.buffers.input, carry, output: band.buffers.output },
      [s.c4, nEnd - n0, 1],
      0,
      detail,
      shape,
    );
    // what it must move at least: the band's input, read once
    return withBytes(step, band.pixels * s.c4 * (s.f16 ? 8 : 16));
  });
}
