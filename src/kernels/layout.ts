// Layout conversion at the graph's edges: NCHW f32 (what users and PyTorch hold) <-> NHWC4 (what the
// kernels read). The NHWC4 side may be a channel slice of a wider buffer (Nhwc4View).
// The conversions also pad and crop, so an input of any size runs without an extra pass: NCHW -> NHWC4
// writes an H x W image from a smaller srcH x srcW one placed at (top, left), filling the border with zeros
// or a mirror image; NHWC4 -> NCHW reads the srcH x srcW window at (top, left) of the H x W result.
import type { PadMode } from '../ir/types.js';
import { KernelBindings, activation, param, written } from './bindings.js';
import { type BufferRange, type Nhwc4View, type Step, c4, enables, linearIndex, linearWorkgroups, makeStep, storageAliases } from './common.js';

export interface LayoutSpec {
  N: number;
  C: number;
  /** size of the NHWC4 side */
  H: number;
  W: number;
  /** the NHWC4 side */
  view: Nhwc4View;
  workgroupSize: number;
  /** the NCHW side when it differs: srcH x srcW, at (top, left) of the NHWC4 side */
  window?: { srcH: number; srcW: number; top: number; left: number; mode: PadMode };
  /** the NHWC4 side holds f16 (needs the shader-f16 feature) */
  f16?: boolean;
}

const windowOf = (s: LayoutSpec) => s.window ?? { srcH: s.H, srcW: s.W, top: 0, left: 0, mode: 'zero' as const };

export function nchwToNhwc4Workgroups(s: LayoutSpec): [number, number, number] {
  return linearWorkgroups(s.N * s.H * s.W * c4(s.C), s.workgroupSize);
}

/** NCHW -> NHWC4: one invocation per vec4 of the destination, zero-filling channels past C. */
export function nchwToNhwc4Wgsl(s: LayoutSpec): string {
  const w = windowOf(s);
  return /* wgsl */ `${enables(false, s.f16)}
${storageAliases(s.f16)}
// NCHW (${s.N}x${s.C}x${w.srcH}x${w.srcW}) -> NHWC4 (${s.H}x${s.W}, source at ${w.top},${w.left}, ${w.mode} padding).
// One invocation per destination vec4.
const C = ${s.C}u;
const H = ${s.H}u;
const W = ${s.W}u;
const SRC_H = ${w.srcH}i;
const SRC_W = ${w.srcW}i;
const TOP = ${w.top}i;
const LEFT = ${w.left}i;
const REFLECT = ${w.mode === 'reflect'};
const C4 = ${c4(s.C)}u;
const OUT_STRIDE = ${s.view.c4Stride}u;
const OUT_OFFSET = ${s.view.c4Offset}u;
const TOTAL = ${s.N * s.H * s.W * c4(s.C)}u;

${toNhwc4Bindings(s).wgsl()}

// Mirror without repeating the edge (PyTorch's 'reflect': -1 -> 1, n -> n - 2), folded again for
// borders wider than the image (where PyTorch would refuse).
fn mirror(i: i32, n: i32) -> i32 {
  if (n == 1) { return 0; }
  let period = 2 * (n - 1);
  let m = ((i % period) + period) % period;
  return select(m, period - m, m >= n);
}

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = ${linearIndex(nchwToNhwc4Workgroups(s), s.workgroupSize)};
  if (i >= TOTAL) { return; }
  let g = i % C4;
  let pixel = i / C4;
  let x = i32(pixel % W) - LEFT;
  let y = i32((pixel / W) % H) - TOP;
  let n = pixel / (W * H);
  let inside = x >= 0 && x < SRC_W && y >= 0 && y < SRC_H;
  let sx = u32(select(clamp(x, 0, SRC_W - 1), mirror(x, SRC_W), REFLECT));
  let sy = u32(select(clamp(y, 0, SRC_H - 1), mirror(y, SRC_H), REFLECT));
  var v = vec4<f32>(0.0);
  if (inside || REFLECT) {
    for (var k = 0u; k < 4u; k++) {
      let c = 4u * g + k;
      if (c < C) { v[k] = input[((n * C + c) * u32(SRC_H) + sy) * u32(SRC_W) + sx]; }
    }
  }
  output[pixel * OUT_STRIDE + OUT_OFFSET + g] = Act(v);
}
`;
}

/** NHWC4 -> NCHW: one invocation per destination element. */
export function nhwc4ToNchwWgsl(s: LayoutSpec): string {
  const w = windowOf(s);
  const total = s.N * s.C * w.srcH * w.srcW;
  return /* wgsl */ `${enables(false, s.f16)}
${storageAliases(s.f16)}
// NHWC4 (${s.H}x${s.W}) -> NCHW (${s.N}x${s.C}x${w.srcH}x${w.srcW}, the window at ${w.top},${w.left}).
// One invocation per destination element.
const C = ${s.C}u;
const H = ${s.H}u;
const W = ${s.W}u;
const OUT_H = ${w.srcH}u;
const OUT_W = ${w.srcW}u;
const TOP = ${w.top}u;
const LEFT = ${w.left}u;
const IN_STRIDE = ${s.view.c4Stride}u;
const IN_OFFSET = ${s.view.c4Offset}u;
const TOTAL = ${total}u;

${toNchwBindings(s).wgsl()}

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = ${linearIndex(nhwc4ToNchwWorkgroups(s), s.workgroupSize)};
  if (i >= TOTAL) { return; }
  let x = i % OUT_W + LEFT;
  let y = (i / OUT_W) % OUT_H + TOP;
  let c = (i / (OUT_W * OUT_H)) % C;
  let n = i / (OUT_W * OUT_H * C);
  output[i] = f32(input[((n * H + y) * W + x) * IN_STRIDE + IN_OFFSET + c / 4u][c % 4u]);
}
`;
}

export function nhwc4ToNchwWorkgroups(s: LayoutSpec): [number, number, number] {
  const w = windowOf(s);
  return linearWorkgroups(s.N * s.C * w.srcH * w.srcW, s.workgroupSize);
}

// the NCHW input is the caller's upload, outside the activation arena: bound read-only
const toNhwc4Bindings = (s: LayoutSpec) => new KernelBindings('nchwToNhwc4', [param('input', 'f32'), written('output')], undefined, s.f16);
const toNchwBindings = (s: LayoutSpec) => new KernelBindings('nhwc4ToNchw', [activation('input'), written('output', undefined, 'f32')], undefined, s.f16);

const describe = (s: LayoutSpec) => {
  const w = windowOf(s);
  const padded = w.srcH !== s.H || w.srcW !== s.W;
  return `[${s.N},${s.C},${w.srcH},${w.srcW}]${padded ? ` <-> ${s.H}x${s.W} (${w.mode} pad at ${w.top},${w.left})` : ''}`;
};

export function nchwToNhwc4Step(device: GPUDevice, s: LayoutSpec, b: { input: BufferRange; output: BufferRange }, label = 'nchwToNhwc4'): Step {
  return makeStep(device, label, { code: nchwToNhwc4Wgsl(s), bindings: toNhwc4Bindings(s) }, b, nchwToNhwc4Workgroups(s), 0, describe(s));
}

export function nhwc4ToNchwStep(device: GPUDevice, s: LayoutSpec, b: { input: BufferRange; output: BufferRange }, label = 'nhwc4ToNchw'): Step {
  return makeStep(device, label, { code: nhwc4ToNchwWgsl(s), bindings: toNchwBindings(s) }, b, nhwc4ToNchwWorkgroups(s), 0, describe(s));
}
