// adaptive_avg_pool2d(x, 1): the mean over every pixel, per channel, NHWC4 -> [N, C, 1, 1].
// One workgroup per (n, vec4 group): each lane sums a strided share of the pixels in f32, then the
// workgroup adds the lanes' sums in a tree in workgroup memory (log2(size) barriers, once per pool).
import { KernelBindings, activation, written } from './bindings.js';
import { type BufferRange, type Nhwc4View, ShapeUniforms, type Step, enables, makeStep, storageAliases } from './common.js';

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

export function globalAvgPoolWorkgroups(s: GlobalAvgPoolSpec): [number, number, number] {
  return [s.c4, s.N, 1];
}

export function globalAvgPoolWgsl(s: GlobalAvgPoolSpec): string {
  const WG = s.workgroupSize;
  if (WG & (WG - 1)) throw new Error(`globalAvgPool: workgroup size ${WG} is not a power of two`);
  return /* wgsl */ `${enables(false, s.f16)}
${storageAliases(s.f16)}
// global average pool, NHWC4: workgroup (c4, n) reduces channel group c4 of image n.
const WG = ${WG}u;
${gapBindings(s).wgsl()}
var<workgroup> partial: array<vec4<f32>, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${GAP_SHAPE.lets()}
  let c = wid.x;
  let n = wid.y;
  var sum = vec4<f32>(0.0);
  for (var p = lid.x; p < PIXELS; p += WG) {
    sum += vec4<f32>(input[(n * PIXELS + p) * IN_STRIDE + IN_OFFSET + c]);
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

const GAP_SHAPE = new ShapeUniforms(['PIXELS', 'IN_STRIDE', 'IN_OFFSET', 'OUT_STRIDE', 'OUT_OFFSET'] as const);

const gapBindings = (s: GlobalAvgPoolSpec) => new KernelBindings('globalAvgPool', [activation('input'), written('output')], GAP_SHAPE, s.f16);

export function globalAvgPoolStep(device: GPUDevice, s: GlobalAvgPoolSpec, b: { input: BufferRange; output: BufferRange }, label = 'globalAvgPool'): Step {
  const shape = GAP_SHAPE.data({
    PIXELS: s.H * s.W,
    IN_STRIDE: s.input.c4Stride,
    IN_OFFSET: s.input.c4Offset,
    OUT_STRIDE: s.output.c4Stride,
    OUT_OFFSET: s.output.c4Offset,
  });
  const detail = `[${s.N},${s.c4 * 4},${s.H},${s.W}] -> [${s.N},${s.c4 * 4},1,1]`;
  return makeStep(device, label, { code: globalAvgPoolWgsl(s), bindings: gapBindings(s) }, b, globalAvgPoolWorkgroups(s), 0, detail, shape);
}
