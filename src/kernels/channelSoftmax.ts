// softmax or log_softmax over channels (dim 1), NHWC4: one invocation per pixel reads its C channels
// (padding lanes of the last vec4 are ignored and written as 0), subtracts their max (no overflow), and
// writes exp(v - max) / sum, or v - max - log(sum).
import { KernelBindings, activation, written } from './bindings.js';
import {
  type BufferRange,
  type Nhwc4View,
  ShapeUniforms,
  type Step,
  enables,
  linearIndex,
  linearWorkgroups,
  makeStep,
  maskLanes,
  storageAliases,
} from './common.js';

export interface ChannelSoftmaxSpec {
  /** pixels this dispatch computes, from pixel `pixel0` on (default 0: a band of rows starts at row0 * W) */
  pixels: number;
  pixel0?: number;
  channels: number;
  log: boolean;
  input: Nhwc4View;
  output: Nhwc4View;
  workgroupSize: number;
  f16?: boolean;
}

export function channelSoftmaxWorkgroups(s: ChannelSoftmaxSpec): [number, number, number] {
  return linearWorkgroups(s.pixels, s.workgroupSize);
}

export function channelSoftmaxWgsl(s: ChannelSoftmaxSpec): string {
  const lanes = (k: string) => `vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(C - 4u * ${k})`;
  return /* wgsl */ `${enables(false, s.f16)}
${storageAliases(s.f16)}
// ${s.log ? 'log_softmax' : 'softmax'} over channels, NHWC4, one invocation per pixel.
${softmaxBindings(s).wgsl()}

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${SOFTMAX_SHAPE.lets()}
  let local = ${linearIndex('WG_X', s.workgroupSize)};
  if (local >= PIXELS) { return; }
  let p = PIXEL0 + local;
  let C4 = (C + 3u) / 4u;
  var m = -3.4028234e38;
  for (var k = 0u; k < C4; k++) {
    let v = select(vec4<f32>(-3.4028234e38), vec4<f32>(input[p * IN_STRIDE + IN_OFFSET + k]), ${lanes('k')});
    m = max(m, max(max(v.x, v.y), max(v.z, v.w)));
  }
  var sum = 0.0;
  for (var k = 0u; k < C4; k++) {
    let e = select(vec4<f32>(0.0), exp(vec4<f32>(input[p * IN_STRIDE + IN_OFFSET + k]) - m), ${lanes('k')});
    sum += e.x + e.y + e.z + e.w;
  }
  let logSum = log(sum);
  for (var k = 0u; k < C4; k++) {
    let v = vec4<f32>(input[p * IN_STRIDE + IN_OFFSET + k]) - m;
    output[p * OUT_STRIDE + OUT_OFFSET + k] = Act(${maskLanes(s.log ? 'v - logSum' : 'exp(v) / sum', 'C - 4u * k')});
  }
}
`;
}

const SOFTMAX_SHAPE = new ShapeUniforms(['PIXELS', 'PIXEL0', 'C', 'IN_STRIDE', 'IN_OFFSET', 'OUT_STRIDE', 'OUT_OFFSET', 'WG_X'] as const);

const softmaxBindings = (s: ChannelSoftmaxSpec) => new KernelBindings('channelSoftmax', [activation('input'), written('output')], SOFTMAX_SHAPE, s.f16);

export function channelSoftmaxStep(device: GPUDevice, s: ChannelSoftmaxSpec, b: { input: BufferRange; output: BufferRange }, label = 'softmax'): Step {
  const shape = SOFTMAX_SHAPE.data({
    PIXELS: s.pixels,
    PIXEL0: s.pixel0 ?? 0,
    C: s.channels,
    IN_STRIDE: s.input.c4Stride,
    IN_OFFSET: s.input.c4Offset,
    OUT_STRIDE: s.output.c4Stride,
    OUT_OFFSET: s.output.c4Offset,
    WG_X: channelSoftmaxWorkgroups(s)[0],
  });
  return makeStep(
    device,
    label,
    { code: channelSoftmaxWgsl(s), bindings: softmaxBindings(s) },
    b,
    channelSoftmaxWorkgroups(s),
    0,
    `${s.pixels} px x ${s.channels} ch ${s.log ? 'log_softmax' : 'softmax'}`,
    shape,
  );
}
