// Layout conversion at the graph's edges: NCHW f32 (what users and PyTorch hold) <-> NHWC4 (what the
// kernels read). The NHWC4 side may be a channel slice of a wider buffer (Nhwc4View).
import { type BufferRange, type Nhwc4View, type Step, c4, linearIndex, linearWorkgroups, makeStep } from './common.js';

export interface LayoutSpec {
  N: number;
  C: number;
  H: number;
  W: number;
  /** the NHWC4 side */
  view: Nhwc4View;
  workgroupSize: number;
}

export function nchwToNhwc4Workgroups(s: LayoutSpec): [number, number, number] {
  return linearWorkgroups(s.N * s.H * s.W * c4(s.C), s.workgroupSize);
}

/** NCHW -> NHWC4: one invocation per vec4 of the destination, zero-filling channels past C. */
export function nchwToNhwc4Wgsl(s: LayoutSpec): string {
  return /* wgsl */ `
// NCHW (${s.N}x${s.C}x${s.H}x${s.W}) -> NHWC4. One invocation per destination vec4.
const C = ${s.C}u;
const HW = ${s.H * s.W}u;
const C4 = ${c4(s.C)}u;
const OUT_STRIDE = ${s.view.c4Stride}u;
const OUT_OFFSET = ${s.view.c4Offset}u;
const TOTAL = ${s.N * s.H * s.W * c4(s.C)}u;

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<vec4<f32>>;

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = ${linearIndex(nchwToNhwc4Workgroups(s), s.workgroupSize)};
  if (i >= TOTAL) { return; }
  let g = i % C4;
  let pixel = i / C4;
  let n = pixel / HW;
  let hw = pixel % HW;
  var v = vec4<f32>(0.0);
  for (var k = 0u; k < 4u; k++) {
    let c = 4u * g + k;
    if (c < C) { v[k] = input[(n * C + c) * HW + hw]; }
  }
  output[pixel * OUT_STRIDE + OUT_OFFSET + g] = v;
}
`;
}

/** NHWC4 -> NCHW: one invocation per destination element. */
export function nhwc4ToNchwWgsl(s: LayoutSpec): string {
  const total = s.N * s.C * s.H * s.W;
  const wg = linearWorkgroups(total, s.workgroupSize);
  return /* wgsl */ `
// NHWC4 -> NCHW (${s.N}x${s.C}x${s.H}x${s.W}). One invocation per destination element.
const C = ${s.C}u;
const HW = ${s.H * s.W}u;
const IN_STRIDE = ${s.view.c4Stride}u;
const IN_OFFSET = ${s.view.c4Offset}u;
const TOTAL = ${total}u;

@group(0) @binding(0) var<storage, read_write> input: array<vec4<f32>>; // read only; read_write: see ACTIVATION_ACCESS
@group(0) @binding(1) var<storage, read_write> output: array<f32>;

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = ${linearIndex(wg, s.workgroupSize)};
  if (i >= TOTAL) { return; }
  let hw = i % HW;
  let c = (i / HW) % C;
  let n = i / (HW * C);
  output[i] = input[(n * HW + hw) * IN_STRIDE + IN_OFFSET + c / 4u][c % 4u];
}
`;
}

export const nhwc4ToNchwWorkgroups = (s: LayoutSpec): [number, number, number] =>
  linearWorkgroups(s.N * s.C * s.H * s.W, s.workgroupSize);

export function nchwToNhwc4Step(device: GPUDevice, s: LayoutSpec, b: { input: BufferRange; output: BufferRange }, label = 'nchwToNhwc4'): Step {
  return makeStep(device, label, nchwToNhwc4Wgsl(s), [b.input, b.output], nchwToNhwc4Workgroups(s), 0, `[${s.N},${s.C},${s.H},${s.W}]`);
}

export function nhwc4ToNchwStep(device: GPUDevice, s: LayoutSpec, b: { input: BufferRange; output: BufferRange }, label = 'nhwc4ToNchw'): Step {
  return makeStep(device, label, nhwc4ToNchwWgsl(s), [b.input, b.output], nhwc4ToNchwWorkgroups(s), 0, `[${s.N},${s.C},${s.H},${s.W}]`);
}
