// Elementwise activations (relu, sigmoid) as standalone kernels, NHWC4. In the U-Net they run fused in the
// conv epilogue (the same WGSL, activationWgsl); these serve unfused graphs and the tests.
import { type Activation, type BufferRange, type Nhwc4View, type Step, activationWgsl, linearIndex, linearWorkgroups, makeStep } from './common.js';

export interface UnarySpec {
  op: Exclude<Activation, 'none'>;
  /** pixels (N * H * W) and vec4 groups per pixel */
  pixels: number;
  c4: number;
  input: Nhwc4View;
  output: Nhwc4View;
  workgroupSize: number;
}

export function unaryWorkgroups(s: UnarySpec): [number, number, number] {
  return linearWorkgroups(s.pixels * s.c4, s.workgroupSize);
}

export function unaryWgsl(s: UnarySpec): string {
  return /* wgsl */ `
// ${s.op}, NHWC4, one invocation per vec4.
const C4 = ${s.c4}u;
const IN_STRIDE = ${s.input.c4Stride}u;
const IN_OFFSET = ${s.input.c4Offset}u;
const OUT_STRIDE = ${s.output.c4Stride}u;
const OUT_OFFSET = ${s.output.c4Offset}u;
const TOTAL = ${s.pixels * s.c4}u;

@group(0) @binding(0) var<storage, read_write> input: array<vec4<f32>>; // read only; read_write: see ACTIVATION_ACCESS
@group(0) @binding(1) var<storage, read_write> output: array<vec4<f32>>;

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = ${linearIndex(unaryWorkgroups(s), s.workgroupSize)};
  if (i >= TOTAL) { return; }
  let c = i % C4;
  let pixel = i / C4;
  let v = input[pixel * IN_STRIDE + IN_OFFSET + c];
  output[pixel * OUT_STRIDE + OUT_OFFSET + c] = ${activationWgsl(s.op, 'v')};
}
`;
}

export function unaryStep(device: GPUDevice, s: UnarySpec, b: { input: BufferRange; output: BufferRange }, label: string = s.op): Step {
  return makeStep(device, label, unaryWgsl(s), [b.input, b.output], unaryWorkgroups(s), 0, `${s.pixels} px x ${s.c4 * 4} ch`);
}
