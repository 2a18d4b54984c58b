// batch_norm in inference mode (running statistics), NHWC4, in place or into another view.
// The U-Net path folds BatchNorm into the conv before it (src/compiler/passes); this kernel serves graphs
// where a BatchNorm cannot be folded, and the tests.
import type { Band } from '../ir/graph.js';
import type { BatchNormParams } from '../ir/params.js';
import { KernelBindings, activation, param, written } from './bindings.js';
import {
  type BufferRange,
  type Nhwc4View,
  ShapeUniforms,
  type Step,
  enables,
  f32Literal,
  linearIndex,
  linearWorkgroups,
  makeStep,
  storageAliases,
} from './common.js';

export interface BatchNormSpec {
  N: number;
  H: number;
  W: number;
  c4: number;
  eps: number;
  /** the rows of the N * H this dispatch computes (default all): a band */
  band?: Band;
  input: Nhwc4View;
  output: Nhwc4View;
  workgroupSize: number;
  /** activations stored as f16 (the statistics stay f32) */
  f16?: boolean;
}

const rowsOf = (s: BatchNormSpec) => s.band ?? { row0: 0, rows: s.N * s.H };

export function batchNormWorkgroups(s: BatchNormSpec): [number, number, number] {
  return linearWorkgroups(rowsOf(s).rows * s.W * s.c4, s.workgroupSize);
}

export function batchNormWgsl(s: BatchNormSpec): string {
  return /* wgsl */ `${enables(false, s.f16)}
${storageAliases(s.f16)}
// batch_norm (eval): y = (x - running_mean) / sqrt(running_var + eps) * weight + bias, per channel.
// One invocation per vec4 of one pixel; sizes from the shape uniform.
const EPS = ${f32Literal(s.eps)};

${batchNormBindings(s).wgsl()}

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${BATCH_NORM_SHAPE.lets()}
  let i = ${linearIndex('WG_X', s.workgroupSize)};
  if (i >= TOTAL) { return; }
  let c = i % C4;
  let pixel = PIXEL0 + i / C4;
  let x = vec4<f32>(input[pixel * IN_STRIDE + IN_OFFSET + c]);
  let scale = params[4u * c] * inverseSqrt(params[4u * c + 3u] + EPS);
  output[pixel * OUT_STRIDE + OUT_OFFSET + c] = Act((x - params[4u * c + 2u]) * scale + params[4u * c + 1u]);
}
`;
}

const BATCH_NORM_SHAPE = new ShapeUniforms(['C4', 'TOTAL', 'PIXEL0', 'IN_STRIDE', 'IN_OFFSET', 'OUT_STRIDE', 'OUT_OFFSET', 'WG_X'] as const);

const batchNormBindings = (s: BatchNormSpec) =>
  new KernelBindings(
    'batchNorm',
    [
      activation('input'),
      param('params', 'vec4<f32>', 'params[4 * c4 + k], k = 0 weight, 1 bias, 2 running_mean, 3 running_var (padding channels: 0, 0, 0, 1)'),
      written('output'),
    ],
    BATCH_NORM_SHAPE,
    s.f16,
  );

/** Interleaves weight, bias, running_mean, running_var per vec4 group, as batchNormWgsl reads them. */
export function packBatchNormParams(p: BatchNormParams, c4: number): Float32Array {
  const out = new Float32Array(c4 * 16);
  const fields = [p.weight, p.bias, p.runningMean, p.runningVar];
  for (let c = 0; c < c4 * 4; c++) {
    for (let k = 0; k < 4; k++) {
      const v = c < p.weight.length ? fields[k][c] : k === 3 ? 1 : 0;
      out[((c >> 2) * 4 + k) * 4 + (c & 3)] = v;
    }
  }
  return out;
}

export function batchNormStep(
  device: GPUDevice,
  s: BatchNormSpec,
  b: { input: BufferRange; params: BufferRange; output: BufferRange },
  label = 'batchNorm',
): Step {
  const { row0, rows } = rowsOf(s);
  const shape = BATCH_NORM_SHAPE.data({
    C4: s.c4,
    TOTAL: rows * s.W * s.c4,
    PIXEL0: row0 * s.W,
    IN_STRIDE: s.input.c4Stride,
    IN_OFFSET: s.input.c4Offset,
    OUT_STRIDE: s.output.c4Stride,
    OUT_OFFSET: s.output.c4Offset,
    WG_X: batchNormWorkgroups(s)[0],
  });
  return makeStep(
    device,
    label,
    { code: batchNormWgsl(s), bindings: batchNormBindings(s) },
    b,
    batchNormWorkgroups(s),
    0,
    `[${s.N},${s.c4 * 4},${s.H},${s.W}]`,
    shape,
  );
}
