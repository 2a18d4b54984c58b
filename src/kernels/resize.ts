// F.interpolate(x, size=(HO, WO), mode) for 'nearest' and 'bilinear' (align_corners=False), NHWC4, with
// PyTorch's source-index arithmetic in f32 (UpSample.h): scale = in / out (rounded to f32);
//   nearest:  src = min(floor(dst * scale), in - 1)
//   bilinear: src = max(scale * (dst + 0.5) - 0.5, 0); i0 = floor(src), i1 = min(i0 + 1, in - 1),
//             weights (1 - (src - i0), src - i0)
// One invocation per output vec4. The output may be a channel slice of a wider buffer (a concat).
import { KernelBindings, activation, written } from './bindings.js';
import { type BufferRange, type Nhwc4View, ShapeUniforms, type Step, enables, linearWorkgroups, makeStep, outputVec4Index, storageAliases } from './common.js';

export interface ResizeSpec {
  N: number;
  H: number;
  W: number;
  HO: number;
  WO: number;
  c4: number;
  mode: 'nearest' | 'bilinear';
  input: Nhwc4View;
  output: Nhwc4View;
  workgroupSize: number;
  f16?: boolean;
}

export function resizeWorkgroups(s: ResizeSpec): [number, number, number] {
  return linearWorkgroups(s.N * s.HO * s.WO * s.c4, s.workgroupSize);
}

export function resizeWgsl(s: ResizeSpec): string {
  const body =
    s.mode === 'nearest'
      ? `  let iy = min(u32(floor(f32(oy) * SCALE_H)), H - 1u);
  let ix = min(u32(floor(f32(ox) * SCALE_W)), W - 1u);
  let v = vec4<f32>(input[((n * H + iy) * W + ix) * IN_STRIDE + IN_OFFSET + c]);`
      : `  let sy = max(SCALE_H * (f32(oy) + 0.5) - 0.5, 0.0);
  let sx = max(SCALE_W * (f32(ox) + 0.5) - 0.5, 0.0);
  let y0 = min(u32(sy), H - 1u);
  let x0 = min(u32(sx), W - 1u);
  let y1 = min(y0 + 1u, H - 1u);
  let x1 = min(x0 + 1u, W - 1u);
  let ly = sy - f32(y0);
  let lx = sx - f32(x0);
  let r0 = (n * H + y0) * W;
  let r1 = (n * H + y1) * W;
  let a = vec4<f32>(input[(r0 + x0) * IN_STRIDE + IN_OFFSET + c]);
  let b = vec4<f32>(input[(r0 + x1) * IN_STRIDE + IN_OFFSET + c]);
  let d = vec4<f32>(input[(r1 + x0) * IN_STRIDE + IN_OFFSET + c]);
  let e = vec4<f32>(input[(r1 + x1) * IN_STRIDE + IN_OFFSET + c]);
  let v = (1.0 - ly) * ((1.0 - lx) * a + lx * b) + ly * ((1.0 - lx) * d + lx * e);`;
  return /* wgsl */ `${enables(false, s.f16)}
${storageAliases(s.f16)}
// interpolate ${s.mode} (align_corners=False), NHWC4; sizes and scales from the shape uniform.
${resizeBindings(s).wgsl()}

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${RESIZE_SHAPE.lets()}
  let SCALE_H = bitcast<f32>(SCALE_H_BITS);
  let SCALE_W = bitcast<f32>(SCALE_W_BITS);
${outputVec4Index(s.workgroupSize)}
${body}
  output[pixel * OUT_STRIDE + OUT_OFFSET + c] = Act(v);
}
`;
}

/** The sizes resizeWgsl reads from its shape uniform; the scales as f32 bits. */
const RESIZE_SHAPE = new ShapeUniforms([
  'H',
  'W',
  'HO',
  'WO',
  'C4',
  'SCALE_H_BITS',
  'SCALE_W_BITS',
  'IN_STRIDE',
  'IN_OFFSET',
  'OUT_STRIDE',
  'OUT_OFFSET',
  'TOTAL',
  'WG_X',
] as const);

const resizeBindings = (s: ResizeSpec) => new KernelBindings('resize', [activation('input'), written('output')], RESIZE_SHAPE, s.f16);

const f32Bits = (v: number) => new Uint32Array(Float32Array.of(v).buffer)[0];

export function resizeShape(s: ResizeSpec): Uint32Array {
  return RESIZE_SHAPE.data({
    H: s.H,
    W: s.W,
    HO: s.HO,
    WO: s.WO,
    C4: s.c4,
    // PyTorch: (float)input_size / output_size
    SCALE_H_BITS: f32Bits(s.H / s.HO),
    SCALE_W_BITS: f32Bits(s.W / s.WO),
    IN_STRIDE: s.input.c4Stride,
    IN_OFFSET: s.input.c4Offset,
    OUT_STRIDE: s.output.c4Stride,
    OUT_OFFSET: s.output.c4Offset,
    TOTAL: s.N * s.HO * s.WO * s.c4,
    WG_X: resizeWorkgroups(s)[0],
  });
}

export function resizeStep(device: GPUDevice, s: ResizeSpec, b: { input: BufferRange; output: BufferRange }, label = 'resize'): Step {
  const detail = `[${s.N},${s.c4 * 4},${s.H},${s.W}] -> [${s.N},${s.c4 * 4},${s.HO},${s.WO}] ${s.mode}`;
  return makeStep(device, label, { code: resizeWgsl(s), bindings: resizeBindings(s) }, b, resizeWorkgroups(s), 0, detail, resizeShape(s));
}
