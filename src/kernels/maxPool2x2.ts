// max_pool2d kernel 2 stride 2 (floor mode, as nn.MaxPool2d(2, 2)): an odd last row/column is dropped.
import { type BufferRange, type Nhwc4View, ShapeUniforms, type Step, enables, linearIndex, linearWorkgroups, makeStep, storageAliases } from './common.js';

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
  /** store activations and weights as f16 (needs the shader-f16 feature); arithmetic stays f32 */
  f16?: boolean;
}

export function maxPool2x2Workgroups(s: MaxPool2x2Spec): [number, number, number] {
  return linearWorkgroups(s.N * (s.H >> 1) * (s.W >> 1) * s.c4, s.workgroupSize);
}

export function maxPool2x2Wgsl(s: MaxPool2x2Spec): string {
  return /* wgsl */ `${enables(false, s.f16)}
${storageAliases(s.f16)}
// max_pool2d 2x2 s2, NHWC4, sizes from the shape uniform. One invocation per output vec4 (4 channels of
// one output pixel).
${POOL_SHAPE.declaration(2)}

@group(0) @binding(0) var<storage, read_write> input: array<Act>; // read only; read_write: see ACTIVATION_ACCESS
@group(0) @binding(1) var<storage, read_write> output: array<Act>;

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${POOL_SHAPE.lets()}
  let i = ${linearIndex('WG_X', s.workgroupSize)};
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

/** The sizes maxPool2x2Wgsl reads from its shape uniform (binding 2). */
const POOL_SHAPE = new ShapeUniforms(['H', 'W', 'HO', 'WO', 'C4', 'IN_STRIDE', 'IN_OFFSET', 'OUT_STRIDE', 'OUT_OFFSET', 'TOTAL', 'WG_X'] as const);

export function maxPool2x2Shape(s: MaxPool2x2Spec): Uint32Array {
  const [HO, WO] = [s.H >> 1, s.W >> 1];
  return POOL_SHAPE.data({
    H: s.H, W: s.W, HO, WO, C4: s.c4, IN_STRIDE: s.input.c4Stride, IN_OFFSET: s.input.c4Offset,
    OUT_STRIDE: s.output.c4Stride, OUT_OFFSET: s.output.c4Offset, TOTAL: s.N * HO * WO * s.c4, WG_X: maxPool2x2Workgroups(s)[0],
  });
}

export function maxPool2x2Step(device: GPUDevice, s: MaxPool2x2Spec, b: { input: BufferRange; output: BufferRange }, label = 'maxPool2x2'): Step {
  const detail = `[${s.N},${s.c4 * 4},${s.H},${s.W}] -> [${s.N},${s.c4 * 4},${s.H >> 1},${s.W >> 1}]`;
  return makeStep(device, label, maxPool2x2Wgsl(s), [b.input, b.output], maxPool2x2Workgroups(s), 0, detail, maxPool2x2Shape(s));
}
