// max_pool2d with any kernel, stride and padding (floor mode, as nn.MaxPool2d; padding counts as -inf),
// NHWC4. ResNet's stem pools k3 s2 p1. One invocation per output vec4 (4 channels of one output pixel);
// sizes come from the shape uniform, kernel / stride / padding too, so one pipeline serves every pool.
import type { Band } from '../ir/graph.js';
import { KernelBindings, activation, written } from './bindings.js';
import { type BufferRange, type Nhwc4View, ShapeUniforms, type Step, enables, linearWorkgroups, makeStep, outputVec4Index, storageAliases } from './common.js';

export interface MaxPool2dSpec {
  N: number;
  H: number;
  W: number;
  /** vec4 groups per pixel (padding channels are pooled too: they stay 0) */
  c4: number;
  kernel: number;
  stride: number;
  padding: number;
  /** the output rows (of N * HO) this dispatch computes (default all): a band */
  band?: Band;
  input: Nhwc4View;
  output: Nhwc4View;
  workgroupSize: number;
  /** activations stored as f16; the max is taken in f32 */
  f16?: boolean;
}

export const maxPool2dOutSize = (size: number, k: number, s: number, p: number): number => Math.floor((size + 2 * p - k) / s) + 1;

/** The input rows output row `o` reads (before clamping to the input: padding rows are skipped). */
export const maxPool2dSourceRows =
  (k: number, s: number, p: number) =>
  (o: number): [number, number] => [o * s - p, o * s - p + k - 1];

const rowsOf = (s: MaxPool2dSpec) => s.band ?? { row0: 0, rows: s.N * maxPool2dOutSize(s.H, s.kernel, s.stride, s.padding) };

export function maxPool2dWorkgroups(s: MaxPool2dSpec): [number, number, number] {
  const WO = maxPool2dOutSize(s.W, s.kernel, s.stride, s.padding);
  return linearWorkgroups(rowsOf(s).rows * WO * s.c4, s.workgroupSize);
}

export function maxPool2dWgsl(s: MaxPool2dSpec): string {
  return /* wgsl */ `${enables(false, s.f16)}
${storageAliases(s.f16)}
// max_pool2d, NHWC4. Window positions outside the input are skipped (PyTorch pads with -inf); padding is
// at most half the kernel, so every window holds at least one input pixel.
${maxPool2dBindings(s).wgsl()}

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${POOL_SHAPE.lets()}
${outputVec4Index(s.workgroupSize, 'PIXEL0')}
  var m = vec4<f32>(-3.4028234e38);
  for (var ky = 0u; ky < K; ky++) {
    // unsigned wrap-around makes "iy < 0" fail the "< H" test too
    let iy = oy * S + ky - P;
    if (iy >= H) { continue; }
    for (var kx = 0u; kx < K; kx++) {
      let ix = ox * S + kx - P;
      if (ix >= W) { continue; }
      m = max(m, vec4<f32>(input[((n * H + iy) * W + ix) * IN_STRIDE + IN_OFFSET + c]));
    }
  }
  output[pixel * OUT_STRIDE + OUT_OFFSET + c] = Act(m);
}
`;
}

/** The sizes maxPool2dWgsl reads from its shape uniform. */
const POOL_SHAPE = new ShapeUniforms([
  'H',
  'W',
  'HO',
  'WO',
  'C4',
  'K',
  'S',
  'P',
  'IN_STRIDE',
  'IN_OFFSET',
  'OUT_STRIDE',
  'OUT_OFFSET',
  'TOTAL',
  'PIXEL0',
  'WG_X',
] as const);

const maxPool2dBindings = (s: MaxPool2dSpec) => new KernelBindings('maxPool2d', [activation('input'), written('output')], POOL_SHAPE, s.f16);

export function maxPool2dShape(s: MaxPool2dSpec): Uint32Array {
  const HO = maxPool2dOutSize(s.H, s.kernel, s.stride, s.padding);
  const WO = maxPool2dOutSize(s.W, s.kernel, s.stride, s.padding);
  if (HO < 1 || WO < 1 || 2 * s.padding > s.kernel) throw new Error(`maxPool2d: k${s.kernel} s${s.stride} p${s.padding} on ${s.H}x${s.W}`);
  return POOL_SHAPE.data({
    H: s.H,
    W: s.W,
    HO,
    WO,
    C4: s.c4,
    K: s.kernel,
    S: s.stride,
    P: s.padding,
    IN_STRIDE: s.input.c4Stride,
    IN_OFFSET: s.input.c4Offset,
    OUT_STRIDE: s.output.c4Stride,
    OUT_OFFSET: s.output.c4Offset,
    TOTAL: rowsOf(s).rows * WO * s.c4,
    PIXEL0: rowsOf(s).row0 * WO,
    WG_X: maxPool2dWorkgroups(s)[0],
  });
}

export function maxPool2dStep(device: GPUDevice, s: MaxPool2dSpec, b: { input: BufferRange; output: BufferRange }, label = 'maxPool2d'): Step {
  const HO = maxPool2dOutSize(s.H, s.kernel, s.stride, s.padding);
  const WO = maxPool2dOutSize(s.W, s.kernel, s.stride, s.padding);
  const detail = `[${s.N},${s.c4 * 4},${s.H},${s.W}] -> [${s.N},${s.c4 * 4},${HO},${WO}] k${s.kernel} s${s.stride} p${s.padding}`;
  return makeStep(device, label, { code: maxPool2dWgsl(s), bindings: maxPool2dBindings(s) }, b, maxPool2dWorkgroups(s), 0, detail, maxPool2dShape(s));
}
