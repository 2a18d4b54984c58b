// cat(dim=1) of two NHWC4 tensors into a dense one: output channel c comes from `a` if c < CA, else from
// `b` at c - CA. The U-Net does not need it (producers write their slices of the concatenated buffer,
// src/compiler/passes/placeConcat.ts); it is the fallback for graphs where a producer cannot.
import { TWO_INPUT_VIEWS, twoInputViews } from './add.js';
import { KernelBindings, activation, written } from './bindings.js';
import { type BufferRange, type Nhwc4View, ShapeUniforms, type Step, c4, linearIndex, linearWorkgroups, makeStep } from './common.js';

export interface ConcatSpec {
  /** pixels this dispatch computes, from pixel `pixel0` on (default 0: a band of rows starts at row0 * W) */
  pixels: number;
  pixel0?: number;
  ca: number;
  cb: number;
  a: Nhwc4View;
  b: Nhwc4View;
  output: Nhwc4View;
  workgroupSize: number;
}

export function concatWorkgroups(s: ConcatSpec): [number, number, number] {
  return linearWorkgroups(s.pixels * c4(s.ca + s.cb), s.workgroupSize);
}

export function concatWgsl(s: ConcatSpec): string {
  return /* wgsl */ `
// concat along channels, ${s.ca} + ${s.cb}, NHWC4. One invocation per output vec4; each of its four
// channels is fetched from whichever input holds it, so unaligned channel counts work. Sizes from the
// shape uniform.
${CONCAT_BINDINGS.wgsl()}

fn channel(pixel: u32, c: u32) -> f32 {
  let CA = shape.CA;
  if (c < CA) { return a[pixel * shape.A_STRIDE + shape.A_OFFSET + c / 4u][c % 4u]; }
  if (c < CA + shape.CB) { return b[pixel * shape.B_STRIDE + shape.B_OFFSET + (c - CA) / 4u][(c - CA) % 4u]; }
  return 0.0;
}

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${CONCAT_SHAPE.lets()}
  let i = ${linearIndex('WG_X', s.workgroupSize)};
  if (i >= TOTAL) { return; }
  let c = 4u * (i % C4);
  let pixel = PIXEL0 + i / C4;
  output[pixel * OUT_STRIDE + OUT_OFFSET + c / 4u] =
    vec4<f32>(channel(pixel, c), channel(pixel, c + 1u), channel(pixel, c + 2u), channel(pixel, c + 3u));
}
`;
}

const CONCAT_SHAPE = new ShapeUniforms(['CA', 'CB', 'C4', 'TOTAL', ...TWO_INPUT_VIEWS, 'WG_X'] as const);

const CONCAT_BINDINGS = new KernelBindings(
  'concat',
  [activation('a', undefined, 'vec4<f32>'), activation('b', undefined, 'vec4<f32>'), written('output', undefined, 'vec4<f32>')],
  CONCAT_SHAPE,
);

export function concatStep(device: GPUDevice, s: ConcatSpec, b: { a: BufferRange; b: BufferRange; output: BufferRange }, label = 'concat'): Step {
  const shape = CONCAT_SHAPE.data({
    CA: s.ca,
    CB: s.cb,
    C4: c4(s.ca + s.cb),
    TOTAL: s.pixels * c4(s.ca + s.cb),
    ...twoInputViews(s),
    WG_X: concatWorkgroups(s)[0],
  });
  return makeStep(device, label, { code: concatWgsl(s), bindings: CONCAT_BINDINGS }, b, concatWorkgroups(s), 0, `${s.ca} + ${s.cb} ch, ${s.pixels} px`, shape);
}
