// Layout conversion at the graph's edges: NCHW f32 (what users and PyTorch hold) <-> NHWC4 (what the
// kernels read). The NHWC4 side may be a channel slice of a wider buffer (Nhwc4View).
// The conversions also pad and crop, so an input of any size runs without an extra pass: NCHW -> NHWC4
// writes an H x W image from a smaller srcH x srcW one placed at (top, left), filling the border with zeros
// or a mirror image; NHWC4 -> NCHW reads the srcH x srcW window at (top, left) of the H x W result.
import type { PadMode } from '../ir/types.js';
import { KernelBindings, activation, param, written } from './bindings.js';
import { type BufferRange, type Nhwc4View, ShapeUniforms, type Step, c4, enables, linearIndex, linearWorkgroups, makeStep, storageAliases } from './common.js';
import type { Band } from '../ir/graph.js';

export interface LayoutSpec {
  N: number;
  C: number;
  /** size of the NHWC4 side (H: rows per image; D * H for a 3D value) */
  H: number;
  W: number;
  /** the NHWC4 side */
  view: Nhwc4View;
  workgroupSize: number;
  /** the NCHW side when it differs: srcH x srcW, at (top, left) of the NHWC4 side */
  window?: { srcH: number; srcW: number; top: number; left: number; mode: PadMode };
  /** the NHWC4 side holds f16 (needs the shader-f16 feature) */
  f16?: boolean;
  /**
   * The order of the f32 side: 'nchw' (default), or 'rows': (n, y, c, x), each image row's channels
   * together, so that a band of rows is one contiguous window (Plan reorders to and from NCHW on the host
   * when the tensor passes one binding).
   */
  order?: 'nchw' | 'rows';
  /** rows this dispatch converts, flat over N images (see Band): of the NHWC4 side for nchwToNhwc4, of the
   *  f32 side (srcH rows an image) for nhwc4ToNchw; default all */
  band?: Band;
  /** element offset of the f32 side inside its binding: minus the elements before the binding's window */
  f32Offset?: number;
}

const windowOf = (s: LayoutSpec) => s.window ?? { srcH: s.H, srcW: s.W, top: 0, left: 0, mode: 'zero' as const };
const bandOf = (s: LayoutSpec, rows: number): Band => s.band ?? { row0: 0, rows };

/** Element strides (n, c, y) of the f32 side. */
function f32Strides(s: LayoutSpec): { SN: number; SC: number; SY: number } {
  const w = windowOf(s);
  return s.order === 'rows' ? { SN: w.srcH * s.C * w.srcW, SC: w.srcW, SY: s.C * w.srcW } : { SN: s.C * w.srcH * w.srcW, SC: w.srcH * w.srcW, SY: w.srcW };
}

const TO_NHWC4_SHAPE = new ShapeUniforms([
  'C',
  'H',
  'W',
  'SRC_H',
  'SRC_W',
  'TOP',
  'LEFT',
  'C4',
  'SN',
  'SC',
  'SY',
  'IN_OFFSET',
  'OUT_STRIDE',
  'OUT_OFFSET',
  'PIXEL0',
  'TOTAL',
  'WG_X',
] as const);

export function nchwToNhwc4Workgroups(s: LayoutSpec): [number, number, number] {
  return linearWorkgroups(bandOf(s, s.N * s.H).rows * s.W * c4(s.C), s.workgroupSize);
}

/** NCHW -> NHWC4: one invocation per vec4 of the destination, zero-filling channels past C. */
export function nchwToNhwc4Wgsl(s: LayoutSpec): string {
  const w = windowOf(s);
  return /* wgsl */ `${enables(false, s.f16)}
${storageAliases(s.f16)}
// ${s.order === 'rows' ? 'rows (n, y, c, x)' : 'NCHW'} f32 -> NHWC4, the source placed at (TOP, LEFT) with ${w.mode} padding around it.
// One invocation per destination vec4 of the dispatch's rows (PIXEL0 on); sizes from the shape uniform.
const REFLECT = ${w.mode === 'reflect'};

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
${TO_NHWC4_SHAPE.lets()}
  let i = ${linearIndex('WG_X', s.workgroupSize)};
  if (i >= TOTAL) { return; }
  let g = i % C4;
  let pixel = i / C4 + PIXEL0;
  let srcH = i32(SRC_H);
  let srcW = i32(SRC_W);
  let x = i32(pixel % W) - i32(LEFT);
  let y = i32((pixel / W) % H) - i32(TOP);
  let n = pixel / (W * H);
  let inside = x >= 0 && x < srcW && y >= 0 && y < srcH;
  let sx = u32(select(clamp(x, 0, srcW - 1), mirror(x, srcW), REFLECT));
  let sy = u32(select(clamp(y, 0, srcH - 1), mirror(y, srcH), REFLECT));
  var v = vec4<f32>(0.0);
  if (inside || REFLECT) {
    for (var k = 0u; k < 4u; k++) {
      let c = 4u * g + k;
      if (c < C) { v[k] = input[n * SN + c * SC + sy * SY + sx + IN_OFFSET]; }
    }
  }
  output[pixel * OUT_STRIDE + OUT_OFFSET + g] = Act(v);
}
`;
}

export function nchwToNhwc4Shape(s: LayoutSpec): Uint32Array {
  const w = windowOf(s);
  const band = bandOf(s, s.N * s.H);
  const total = band.rows * s.W * c4(s.C);
  return TO_NHWC4_SHAPE.data({
    C: s.C,
    H: s.H,
    W: s.W,
    SRC_H: w.srcH,
    SRC_W: w.srcW,
    TOP: w.top,
    LEFT: w.left,
    C4: c4(s.C),
    ...f32Strides(s),
    IN_OFFSET: s.f32Offset ?? 0,
    OUT_STRIDE: s.view.c4Stride,
    OUT_OFFSET: s.view.c4Offset,
    PIXEL0: band.row0 * s.W,
    TOTAL: total,
    WG_X: linearWorkgroups(total, s.workgroupSize)[0],
  });
}

const TO_NCHW_SHAPE = new ShapeUniforms([
  'C',
  'H',
  'W',
  'OUT_H',
  'OUT_W',
  'TOP',
  'LEFT',
  'IN_STRIDE',
  'IN_OFFSET',
  'OUT_OFFSET',
  'ELEM0',
  'TOTAL',
  'WG_X',
] as const);

/** NHWC4 -> NCHW: one invocation per destination element. */
export function nhwc4ToNchwWgsl(s: LayoutSpec): string {
  const rows = s.order === 'rows';
  return /* wgsl */ `${enables(false, s.f16)}
${storageAliases(s.f16)}
// NHWC4 (H x W) -> ${rows ? 'rows (n, y, c, x)' : 'NCHW'} f32 of the OUT_H x OUT_W window at (TOP, LEFT).
// One invocation per destination element of the dispatch's rows (ELEM0 on); sizes from the shape uniform.
${toNchwBindings(s).wgsl()}

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${TO_NCHW_SHAPE.lets()}
  let i = ${linearIndex('WG_X', s.workgroupSize)};
  if (i >= TOTAL) { return; }
  let e = i + ELEM0;
  let x = e % OUT_W + LEFT;
${
  rows
    ? `  let c = (e / OUT_W) % C;
  let r = e / (OUT_W * C);
  let y = r % OUT_H + TOP;
  let n = r / OUT_H;`
    : `  let y = (e / OUT_W) % OUT_H + TOP;
  let c = (e / (OUT_W * OUT_H)) % C;
  let n = e / (OUT_W * OUT_H * C);`
}
  output[e + OUT_OFFSET] = f32(input[((n * H + y) * W + x) * IN_STRIDE + IN_OFFSET + c / 4u][c % 4u]);
}
`;
}

export function nhwc4ToNchwShape(s: LayoutSpec): Uint32Array {
  const w = windowOf(s);
  const band = bandOf(s, s.N * w.srcH);
  const rowElements = s.C * w.srcW;
  const total = band.rows * rowElements;
  if (s.band && s.order !== 'rows') throw new Error('nhwc4ToNchw: a band of rows needs the rows order');
  return TO_NCHW_SHAPE.data({
    C: s.C,
    H: s.H,
    W: s.W,
    OUT_H: w.srcH,
    OUT_W: w.srcW,
    TOP: w.top,
    LEFT: w.left,
    IN_STRIDE: s.view.c4Stride,
    IN_OFFSET: s.view.c4Offset,
    OUT_OFFSET: s.f32Offset ?? 0,
    ELEM0: band.row0 * rowElements,
    TOTAL: total,
    WG_X: linearWorkgroups(total, s.workgroupSize)[0],
  });
}

export function nhwc4ToNchwWorkgroups(s: LayoutSpec): [number, number, number] {
  const w = windowOf(s);
  return linearWorkgroups(bandOf(s, s.N * w.srcH).rows * s.C * w.srcW, s.workgroupSize);
}

// the NCHW input is the caller's upload, outside the activation arena: bound read-only
const toNhwc4Bindings = (s: LayoutSpec) => new KernelBindings('nchwToNhwc4', [param('input', 'f32'), written('output')], TO_NHWC4_SHAPE, s.f16);
const toNchwBindings = (s: LayoutSpec) => new KernelBindings('nhwc4ToNchw', [activation('input'), written('output', undefined, 'f32')], TO_NCHW_SHAPE, s.f16);

const describe = (s: LayoutSpec) => {
  const w = windowOf(s);
  const padded = w.srcH !== s.H || w.srcW !== s.W;
  const band = s.band ? ` rows ${s.band.row0}..${s.band.row0 + s.band.rows - 1}` : '';
  return `[${s.N},${s.C},${w.srcH},${w.srcW}]${padded ? ` <-> ${s.H}x${s.W} (${w.mode} pad at ${w.top},${w.left})` : ''}${band}`;
};

export function nchwToNhwc4Step(device: GPUDevice, s: LayoutSpec, b: { input: BufferRange; output: BufferRange }, label = 'nchwToNhwc4'): Step {
  const kernel = { code: nchwToNhwc4Wgsl(s), bindings: toNhwc4Bindings(s) };
  return makeStep(device, label, kernel, b, nchwToNhwc4Workgroups(s), 0, describe(s), nchwToNhwc4Shape(s));
}

export function nhwc4ToNchwStep(device: GPUDevice, s: LayoutSpec, b: { input: BufferRange; output: BufferRange }, label = 'nhwc4ToNchw'): Step {
  const kernel = { code: nhwc4ToNchwWgsl(s), bindings: toNchwBindings(s) };
  return makeStep(device, label, kernel, b, nhwc4ToNchwWorkgroups(s), 0, describe(s), nhwc4ToNchwShape(s));
}
