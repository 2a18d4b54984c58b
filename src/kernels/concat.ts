// cat(dim=1) of two NHWC4 tensors into a dense one: output channel c comes from `a` if c < CA, else from
// `b` at c - CA. The U-Net does not need it (producers write their slices of the concatenated buffer,
// src/compiler/passes/placeConcat.ts); it is the fallback for graphs where a producer cannot.
import { KernelBindings, activation, written } from './bindings.js';
import { type BufferRange, type Nhwc4View, type Step, c4, linearIndex, linearWorkgroups, makeStep } from './common.js';

export interface ConcatSpec {
  pixels: number;
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
// channels is fetched from whichever input holds it, so unaligned channel counts work.
const CA = ${s.ca}u;
const CB = ${s.cb}u;
const C4 = ${c4(s.ca + s.cb)}u;
const A_STRIDE = ${s.a.c4Stride}u;
const A_OFFSET = ${s.a.c4Offset}u;
const B_STRIDE = ${s.b.c4Stride}u;
const B_OFFSET = ${s.b.c4Offset}u;
const OUT_STRIDE = ${s.output.c4Stride}u;
const OUT_OFFSET = ${s.output.c4Offset}u;
const TOTAL = ${s.pixels * c4(s.ca + s.cb)}u;

${CONCAT_BINDINGS.wgsl()}

fn channel(pixel: u32, c: u32) -> f32 {
  if (c < CA) { return a[pixel * A_STRIDE + A_OFFSET + c / 4u][c % 4u]; }
  if (c < CA + CB) { return b[pixel * B_STRIDE + B_OFFSET + (c - CA) / 4u][(c - CA) % 4u]; }
  return 0.0;
}

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = ${linearIndex(concatWorkgroups(s), s.workgroupSize)};
  if (i >= TOTAL) { return; }
  let c = 4u * (i % C4);
  let pixel = i / C4;
  output[pixel * OUT_STRIDE + OUT_OFFSET + c / 4u] =
    vec4<f32>(channel(pixel, c), channel(pixel, c + 1u), channel(pixel, c + 2u), channel(pixel, c + 3u));
}
`;
}

const CONCAT_BINDINGS = new KernelBindings('concat', [
  activation('a', undefined, 'vec4<f32>'),
  activation('b', undefined, 'vec4<f32>'),
  written('output', undefined, 'vec4<f32>'),
]);

export function concatStep(device: GPUDevice, s: ConcatSpec, b: { a: BufferRange; b: BufferRange; output: BufferRange }, label = 'concat'): Step {
  return makeStep(device, label, { code: concatWgsl(s), bindings: CONCAT_BINDINGS }, b, concatWorkgroups(s), 0, `${s.ca} + ${s.cb} ch, ${s.pixels} px`);
}
