// a + b (same shape), then an activation, NHWC4: the residual add where it cannot run in a conv's
// epilogue (src/compiler/passes/fuseResidual.ts). One invocation per output vec4.
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

export interface AddSpec {
  /** pixels this dispatch computes, from pixel `pixel0` on (default 0: a band of rows starts at row0 * W) */
  pixels: number;
  pixel0?: number;
  channels: number;
  activation: Activation;
  a: Nhwc4View;
  b: Nhwc4View;
  output: Nhwc4View;
  workgroupSize: number;
  f16?: boolean;
}

const c4Of = (s: AddSpec) => Math.ceil(s.channels / 4);

export function addWorkgroups(s: AddSpec): [number, number, number] {
  return linearWorkgroups(s.pixels * c4Of(s), s.workgroupSize);
}

export function addWgsl(s: AddSpec): string {
  return /* wgsl */ `${enables(false, s.f16)}
${storageAliases(s.f16)}
// add${s.activation === 'none' ? '' : ` + ${s.activation}`}, NHWC4, one invocation per output vec4.
${addBindings(s).wgsl()}

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${ADD_SHAPE.lets()}
  let i = ${linearIndex('WG_X', s.workgroupSize)};
  if (i >= TOTAL) { return; }
  let c = i % C4;
  let pixel = PIXEL0 + i / C4;
  let v = vec4<f32>(a[pixel * A_STRIDE + A_OFFSET + c]) + vec4<f32>(b[pixel * B_STRIDE + B_OFFSET + c]);
  output[pixel * OUT_STRIDE + OUT_OFFSET + c] = Act(${maskLanes(activationWgsl(s.activation, 'v'), 'C - 4u * c')});
}
`;
}

/** The shape uniform's fields that place the pixels of a kernel reading views `a` and `b` and writing
 *  `output` pixel by pixel (add, concat): the dispatch's first pixel and each view's vec4 stride and offset. */
export const TWO_INPUT_VIEWS = ['PIXEL0', 'A_STRIDE', 'A_OFFSET', 'B_STRIDE', 'B_OFFSET', 'OUT_STRIDE', 'OUT_OFFSET'] as const;

/** TWO_INPUT_VIEWS' values for a dispatch from pixel `pixel0` on (default 0). */
export function twoInputViews(s: { pixel0?: number; a: Nhwc4View; b: Nhwc4View; output: Nhwc4View }): Record<(typeof TWO_INPUT_VIEWS)[number], number> {
  return {
    PIXEL0: s.pixel0 ?? 0,
    A_STRIDE: s.a.c4Stride,
    A_OFFSET: s.a.c4Offset,
    B_STRIDE: s.b.c4Stride,
    B_OFFSET: s.b.c4Offset,
    OUT_STRIDE: s.output.c4Stride,
    OUT_OFFSET: s.output.c4Offset,
  };
}

const ADD_SHAPE = new ShapeUniforms(['C', 'C4', 'TOTAL', ...TWO_INPUT_VIEWS, 'WG_X'] as const);

const addBindings = (s: AddSpec) => new KernelBindings('add', [activation('a'), activation('b'), written('output')], ADD_SHAPE, s.f16);

export function addStep(device: GPUDevice, s: AddSpec, b: { a: BufferRange; b: BufferRange; output: BufferRange }, label = 'add'): Step {
  const shape = ADD_SHAPE.data({
    C: s.channels,
    C4: c4Of(s),
    TOTAL: s.pixels * c4Of(s),
    ...twoInputViews(s),
    WG_X: addWorkgroups(s)[0],
  });
  return makeStep(
    device,
    label,
    { code: addWgsl(s), bindings: addBindings(s) },
    b,
    addWorkgroups(s),
    0,
    `${s.pixels} px x ${s.channels} ch add${s.activation === 'none' ? '' : ' +' + s.activation}`,
    shape,
  );
}
