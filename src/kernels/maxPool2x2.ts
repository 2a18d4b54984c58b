// max_pool2d kernel 2 stride 2 (floor mode, as nn.MaxPool2d(2, 2)): an odd last row/column is dropped.
import { type BufferRange, type Nhwc4View, type Step, linearIndex, linearWorkgroups, makeStep } from './common.js';

export interface MaxPool2x2Spec {
  N: number;
  /** input spatial size; the output is floor(H/2) x floor(W/2) */
  H: number;
  W: number;
  /** vec4 groups to pool per pixel (padding channels are pooled too: they stay 0) */
  c4: number;
  input: Nhwc4View;
  output: Nhwc4View;
  workgroupSize: number;
}

export function maxPool2x2Workgroups(s: MaxPool2x2Spec): [number, number, number] {
  return linearWorkgroups(s.N * (s.H >> 1) * (s.W >> 1) * s.c4, s.workgroupSize);
}

export function maxPool2x2Wgsl(s: MaxPool2x2Spec): string {
  const HO = s.H >> 1;
  const WO = s.W >> 1;
  return /* wgsl */ `
// max_pool2d 2x2 s2, NHWC4. One invocation per output vec4 (4 channels of one output pixel).
const H = ${s.H}u;
const W = ${s.W}u;
const HO = ${HO}u;
const WO = ${WO}u;
const C4 = ${s.c4}u;
const IN_STRIDE = ${s.input.c4Stride}u;
const IN_OFFSET = ${s.input.c4Offset}u;
const OUT_STRIDE = ${s.output.c4Stride}u;
const OUT_OFFSET = ${s.output.c4Offset}u;
const TOTAL = ${s.N * HO * WO * s.c4}u;

@group(0) @binding(0) var<storage, read_write> input: array<vec4<f32>>; // read only; read_write: see ACTIVATION_ACCESS
@group(0) @binding(1) var<storage, read_write> output: array<vec4<f32>>;

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = ${linearIndex(maxPool2x2Workgroups(s), s.workgroupSize)};
  if (i >= TOTAL) { return; }
  let c = i % C4;
  let pixel = i / C4;
  let ox = pixel % WO;
  let oy = (pixel / WO) % HO;
  let n = pixel / (WO * HO);
  let row0 = (n * H + 2u * oy) * W + 2u * ox;
  let a = input[row0 * IN_STRIDE + IN_OFFSET + c];
  let b = input[(row0 + 1u) * IN_STRIDE + IN_OFFSET + c];
  let d = input[(row0 + W) * IN_STRIDE + IN_OFFSET + c];
  let e = input[(row0 + W + 1u) * IN_STRIDE + IN_OFFSET + c];
  output[pixel * OUT_STRIDE + OUT_OFFSET + c] = max(max(a, b), max(d, e));
}
`;
}

export function maxPool2x2Step(device: GPUDevice, s: MaxPool2x2Spec, b: { input: BufferRange; output: BufferRange }, label = 'maxPool2x2'): Step {
  const detail = `[${s.N},${s.c4 * 4},${s.H},${s.W}] -> [${s.N},${s.c4 * 4},${s.H >> 1},${s.W >> 1}]`;
  return makeStep(device, label, maxPool2x2Wgsl(s), [b.input, b.output], maxPool2x2Workgroups(s), 0, detail);
}
