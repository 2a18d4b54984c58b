// Elementwise activations (relu, relu6, sigmoid, tanh, silu) as standalone kernels, NHWC4. In the U-Net they run fused in the
// conv epilogue (the same WGSL, activationWgsl); these serve unfused graphs and the tests.
import { KernelBindings, activation, written } from './bindings.js';
import {
  type BufferRange,
  type Nhwc4View,
  ShapeUniforms,
  type Step,
  activationWgsl,
  enables,
  linearIndex,
  linearWorkgroups,
  makeStep,
  maskLanes,
  storageAliases,
} from './common.js';
import type { Activation } from '../ir/types.js';

export interface UnarySpec {
  op: Exclude<Activation, 'none'>;
  /** pixels this dispatch computes (N * H * W, or a band's), from pixel `pixel0` on (default 0), and vec4 groups per pixel */
  pixels: number;
  pixel0?: number;
  c4: number;
  input: Nhwc4View;
  output: Nhwc4View;
  workgroupSize: number;
  /** the real channel count: lanes past it are stored as 0 (default: all c4 * 4 lanes are channels) */
  channels?: number;
  /** activations stored as f16; arithmetic in f32 */
  f16?: boolean;
}

export function unaryWorkgroups(s: UnarySpec): [number, number, number] {
  return linearWorkgroups(s.pixels * s.c4, s.workgroupSize);
}

export function unaryWgsl(s: UnarySpec): string {
  return /* wgsl */ `${enables(false, s.f16)}
${storageAliases(s.f16)}
// ${s.op}, NHWC4, one invocation per vec4; sizes from the shape uniform.
${unaryBindings(s).wgsl()}

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${UNARY_SHAPE.lets()}
  let i = ${linearIndex('WG_X', s.workgroupSize)};
  if (i >= TOTAL) { return; }
  let c = i % C4;
  let pixel = PIXEL0 + i / C4;
  let v = vec4<f32>(input[pixel * IN_STRIDE + IN_OFFSET + c]);
  output[pixel * OUT_STRIDE + OUT_OFFSET + c] = Act(${maskLanes(activationWgsl(s.op, 'v'), 'CHANNELS - 4u * c')});
}
`;
}

const UNARY_SHAPE = new ShapeUniforms(['CHANNELS', 'C4', 'TOTAL', 'PIXEL0', 'IN_STRIDE', 'IN_OFFSET', 'OUT_STRIDE', 'OUT_OFFSET', 'WG_X'] as const);

const unaryBindings = (s: UnarySpec) => new KernelBindings('unary', [activation('input'), written('output')], UNARY_SHAPE, s.f16);

export function unaryStep(device: GPUDevice, s: UnarySpec, b: { input: BufferRange; output: BufferRange }, label: string = s.op): Step {
  const shape = UNARY_SHAPE.data({
    CHANNELS: s.channels ?? s.c4 * 4,
    C4: s.c4,
    TOTAL: s.pixels * s.c4,
    PIXEL0: s.pixel0 ?? 0,
    IN_STRIDE: s.input.c4Stride,
    IN_OFFSET: s.input.c4Offset,
    OUT_STRIDE: s.output.c4Stride,
    OUT_OFFSET: s.output.c4Offset,
    WG_X: unaryWorkgroups(s)[0],
  });
  return makeStep(device, label, { code: unaryWgsl(s), bindings: unaryBindings(s) }, b, unaryWorkgroups(s), 0, `${s.pixels} px x ${s.c4 * 4} ch`, shape);
}
