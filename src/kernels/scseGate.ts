// smp's SCSE combination x * cSE(x) + x * sSE(x) = x * (cse[n, c] + sse[n, y, x]), NHWC4: cse is the
// channel gate ([N, C, 1, 1], one pixel per image), sse the spatial gate ([N, 1, H, W], lane 0 of each
// pixel's vec4). Without sse it is squeeze-excite's x * cse. One invocation per output vec4; padding
// lanes of x are 0, so they stay 0.
import type { Band } from '../ir/graph.js';
import { KernelBindings, activation, written } from './bindings.js';
import { type BufferRange, type Nhwc4View, ShapeUniforms, type Step, enables, linearIndex, linearWorkgroups, makeStep, storageAliases } from './common.js';

export interface ScseGateSpec {
  N: number;
  H: number;
  W: number;
  c4: number;
  /** the rows (of N * H) this dispatch computes (default all): a band. The channel gate is bound whole. */
  band?: Band;
  input: Nhwc4View;
  cse: Nhwc4View;
  /** absent: x * cse alone (squeeze-excite) */
  sse?: Nhwc4View;
  output: Nhwc4View;
  workgroupSize: number;
  f16?: boolean;
}

const rowsOf = (s: ScseGateSpec) => s.band ?? { row0: 0, rows: s.N * s.H };

export function scseGateWorkgroups(s: ScseGateSpec): [number, number, number] {
  return linearWorkgroups(rowsOf(s).rows * s.W * s.c4, s.workgroupSize);
}

export function scseGateWgsl(s: ScseGateSpec): string {
  return /* wgsl */ `${enables(false, s.f16)}
${storageAliases(s.f16)}
// scse gate, NHWC4, one invocation per output vec4.
${scseBindings(s).wgsl()}

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${SCSE_SHAPE.lets()}
  let i = ${linearIndex('WG_X', s.workgroupSize)};
  if (i >= TOTAL) { return; }
  let c = i % C4;
  let pixel = PIXEL0 + i / C4;
  let n = pixel / PIXELS;
  let x = vec4<f32>(input[pixel * IN_STRIDE + IN_OFFSET + c]);
  let gate = vec4<f32>(cse[n * CSE_STRIDE + CSE_OFFSET + c])${s.sse ? ' + f32(sse[pixel * SSE_STRIDE + SSE_OFFSET].x)' : ''};
  output[pixel * OUT_STRIDE + OUT_OFFSET + c] = Act(x * gate);
}
`;
}

const SCSE_SHAPE = new ShapeUniforms([
  'C4',
  'PIXELS',
  'TOTAL',
  'PIXEL0',
  'IN_STRIDE',
  'IN_OFFSET',
  'CSE_STRIDE',
  'CSE_OFFSET',
  'SSE_STRIDE',
  'SSE_OFFSET',
  'OUT_STRIDE',
  'OUT_OFFSET',
  'WG_X',
] as const);

const scseBindings = (s: ScseGateSpec) =>
  new KernelBindings(
    'scseGate',
    [activation('input'), activation('cse', 'channel gate [N, C, 1, 1]'), s.sse && activation('sse', 'spatial gate [N, 1, H, W], lane 0'), written('output')],
    SCSE_SHAPE,
    s.f16,
  );

export function scseGateStep(
  device: GPUDevice,
  s: ScseGateSpec,
  b: { input: BufferRange; cse: BufferRange; sse?: BufferRange; output: BufferRange },
  label = 'scseGate',
): Step {
  const shape = SCSE_SHAPE.data({
    C4: s.c4,
    PIXELS: s.H * s.W,
    TOTAL: rowsOf(s).rows * s.W * s.c4,
    PIXEL0: rowsOf(s).row0 * s.W,
    IN_STRIDE: s.input.c4Stride,
    IN_OFFSET: s.input.c4Offset,
    CSE_STRIDE: s.cse.c4Stride,
    CSE_OFFSET: s.cse.c4Offset,
    SSE_STRIDE: s.sse?.c4Stride ?? 0,
    SSE_OFFSET: s.sse?.c4Offset ?? 0,
    OUT_STRIDE: s.output.c4Stride,
    OUT_OFFSET: s.output.c4Offset,
    WG_X: scseGateWorkgroups(s)[0],
  });
  return makeStep(
    device,
    label,
    { code: scseGateWgsl(s), bindings: scseBindings(s) },
    b,
    scseGateWorkgroups(s),
    0,
    `[${s.N},${s.c4 * 4},${s.H},${s.W}] ${s.sse ? 'scse' : 'x * gate'}`,
    shape,
  );
}
