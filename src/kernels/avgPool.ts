// avg_pool2d / avg_pool3d with kernel = stride (floor mode, no padding: nnU-Net's residual skips pool this
// way), NHWC4 / NDHWC4. One invocation per output vec4 (4 channels of one output position); sizes and the
// kernel come from the shape uniform, so one pipeline serves every pool, 2D (D = KD = 1) and 3D.
// A band (past the binding limit) is a range of output rows (n, oz, oy): the dispatch covers only its
// pixels, indexed globally, so every output is the same sum in the same order as in one pass.
import { KernelBindings, activation, written } from './bindings.js';
import { type BufferRange, type Nhwc4View, ShapeUniforms, type Step, enables, linearWorkgroups, makeStep, outputVec4Index, storageAliases } from './common.js';

export interface AvgPoolSpec {
  /** batch and input spatial size (D = 1 for 2D) */
  N: number;
  D: number;
  H: number;
  W: number;
  /** vec4 groups per position (padding channels are pooled too: they stay 0) */
  c4: number;
  /** kernel = stride per axis [kD, kH, kW] (kD = 1 for 2D) */
  kernel: [number, number, number];
  input: Nhwc4View;
  output: Nhwc4View;
  workgroupSize: number;
  /** activations stored as f16; the sum is taken in f32 */
  f16?: boolean;
  /** the output rows to compute, flat (n, oz, oy) of N * DO * HO: [row0, row0 + rows); default all. The
   *  views then point into windows of the bindings (their offsets may be negative, see Nhwc4View). */
  band?: { row0: number; rows: number };
}

/** Output size [D, H, W] (floor mode: positions past the last whole window are dropped, as PyTorch does). */
export const avgPoolOutSize = (s: AvgPoolSpec): [number, number, number] => [
  Math.floor(s.D / s.kernel[0]),
  Math.floor(s.H / s.kernel[1]),
  Math.floor(s.W / s.kernel[2]),
];

/** The band's output rows (all of them by default). */
function avgPoolBand(s: AvgPoolSpec): { row0: number; rows: number } {
  const [DO, HO] = avgPoolOutSize(s);
  return s.band ?? { row0: 0, rows: s.N * DO * HO };
}

/** Invocations: one per output vec4 of the band. */
const total = (s: AvgPoolSpec) => avgPoolBand(s).rows * avgPoolOutSize(s)[2] * s.c4;

export function avgPoolWorkgroups(s: AvgPoolSpec): [number, number, number] {
  return linearWorkgroups(total(s), s.workgroupSize);
}

export function avgPoolWgsl(s: AvgPoolSpec): string {
  return /* wgsl */ `${enables(false, s.f16)}
${storageAliases(s.f16)}
// avg_pool k = s, NHWC4 / NDHWC4 (N*D images): the mean of the KD x KH x KW window under each output position.
${avgPoolBindings(s).wgsl()}

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${POOL_SHAPE.lets()}
${outputVec4Index(s.workgroupSize, 'PIXEL0')}
  // output image n is (batch * DO + oz): its first input depth is (batch * D + oz * KD), floor mode leaving
  // D - DO * KD depths unread
  let z0 = (n / DO) * D + (n % DO) * KD;
  var sum = vec4<f32>(0.0);
  for (var kz = 0u; kz < KD; kz++) {
    for (var ky = 0u; ky < KH; ky++) {
      for (var kx = 0u; kx < KW; kx++) {
        sum += vec4<f32>(input[(((z0 + kz) * H + oy * KH + ky) * W + ox * KW + kx) * IN_STRIDE + IN_OFFSET + c]);
      }
    }
  }
  output[pixel * OUT_STRIDE + OUT_OFFSET + c] = Act(sum / f32(KD * KH * KW));
}
`;
}

/** The sizes avgPoolWgsl reads from its shape uniform. */
const POOL_SHAPE = new ShapeUniforms([
  'D',
  'H',
  'W',
  'DO',
  'HO',
  'WO',
  'C4',
  'KD',
  'KH',
  'KW',
  'IN_STRIDE',
  'IN_OFFSET',
  'OUT_STRIDE',
  'OUT_OFFSET',
  'PIXEL0',
  'TOTAL',
  'WG_X',
] as const);

const avgPoolBindings = (s: AvgPoolSpec) => new KernelBindings('avgPool', [activation('input'), written('output')], POOL_SHAPE, s.f16);

export function avgPoolShape(s: AvgPoolSpec): Uint32Array {
  const [DO, HO, WO] = avgPoolOutSize(s);
  if (DO < 1 || HO < 1 || WO < 1) throw new Error(`avgPool: kernel [${s.kernel}] on ${s.D}x${s.H}x${s.W} leaves no output`);
  return POOL_SHAPE.data({
    D: s.D,
    H: s.H,
    W: s.W,
    DO,
    HO,
    WO,
    C4: s.c4,
    KD: s.kernel[0],
    KH: s.kernel[1],
    KW: s.kernel[2],
    IN_STRIDE: s.input.c4Stride,
    IN_OFFSET: s.input.c4Offset,
    OUT_STRIDE: s.output.c4Stride,
    OUT_OFFSET: s.output.c4Offset,
    PIXEL0: avgPoolBand(s).row0 * WO,
    TOTAL: total(s),
    WG_X: avgPoolWorkgroups(s)[0],
  });
}

export function avgPoolStep(device: GPUDevice, s: AvgPoolSpec, b: { input: BufferRange; output: BufferRange }, label = 'avgPool'): Step {
  const [OD, OH, OW] = avgPoolOutSize(s);
  const three = s.D > 1 || s.kernel[0] > 1;
  const sizes = (d: number, h: number, w: number) => (three ? `${d},${h},${w}` : `${h},${w}`);
  const detail = `[${s.N},${s.c4 * 4},${sizes(s.D, s.H, s.W)}] -> [${s.N},${s.c4 * 4},${sizes(OD, OH, OW)}] k${s.kernel.slice(three ? 0 : 1).join('x')}`;
  return makeStep(device, label, { code: avgPoolWgsl(s), bindings: avgPoolBindings(s) }, b, avgPoolWorkgroups(s), 0, detail, avgPoolShape(s));
}
