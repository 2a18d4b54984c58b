// batch_norm in inference mode (running statistics), NHWC4, in place or into another view.
// The U-Net path folds BatchNorm into the conv before it (src/compiler/passes); this kernel serves graphs
// where a BatchNorm cannot be folded, and the tests.
import type { BatchNormParams } from '../ir/params.js';
import { KernelBindings, activation, param, written } from './bindings.js';
import { type BufferRange, type Nhwc4View, type Step, enables, f32Literal, linearIndex, linearWorkgroups, makeStep, storageAliases } from './common.js';

export interface BatchNormSpec {
  N: number;
  H: number;
  W: number;
  c4: number;
  eps: number;
  input: Nhwc4View;
  output: Nhwc4View;
  workgroupSize: number;
  /** activations stored as f16 (the statistics stay f32) */
  f16?: boolean;
}

export function batchNormWorkgroups(s: BatchNormSpec): [number, number, number] {
  return linearWorkgroups(s.N * s.H * s.W * s.c4, s.workgroupSize);
}

export function batchNormWgsl(s: BatchNormSpec): string {
  return /* wgsl */ `${enables(false, s.f16)}
${storageAliases(s.f16)}
// batch_norm (eval): y = (x - running_mean) / sqrt(running_var + eps) * weight + bias, per channel.
// One invocation per vec4 of one pixel.
const C4 = ${s.c4}u;
const EPS = ${f32Literal(s.eps)};
const IN_STRIDE = ${s.input.c4Stride}u;
const IN_OFFSET = ${s.input.c4Offset}u;
const OUT_STRIDE = ${s.output.c4Stride}u;
const OUT_OFFSET = ${s.output.c4Offset}u;
const TOTAL = ${s.N * s.H * s.W * s.c4}u;

${batchNormBindings(s).wgsl()}

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = ${linearIndex(batchNormWorkgroups(s), s.workgroupSize)};
  if (i >= TOTAL) { return; }
  let c = i % C4;
  let pixel = i / C4;
  let x = vec4<f32>(input[pixel * IN_STRIDE + IN_OFFSET + c]);
  let scale = params[4u * c] * inverseSqrt(params[4u * c + 3u] + EPS);
  output[pixel * OUT_STRIDE + OUT_OFFSET + c] = Act((x - params[4u * c + 2u]) * scale + params[4u * c + 1u]);
}
`;
}

const batchNormBindings = (s: BatchNormSpec) =>
  new KernelBindings(
    'batchNorm',
    [
      activation('input'),
      param('params', 'vec4<f32>', 'params[4 * c4 + k], k = 0 weight, 1 bias, 2 running_mean, 3 running_var (padding channels: 0, 0, 0, 1)'),
      written('output'),
    ],
    undefined,
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
  return makeStep(
    device,
    label,
    { code: batchNormWgsl(s), bindings: batchNormBindings(s) },
    b,
    batchNormWorkgroups(s),
    0,
    `[${s.N},${s.c4 * 4},${s.H},${s.W}]`,
  );
}
