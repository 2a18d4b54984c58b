// F.interpolate(x, size=(HO, WO), mode) for 'nearest' and 'bilinear' (align_corners=False), NHWC4, with
// PyTorch's source-index arithmetic in f32 (UpSample.h): scale = in / out (rounded to f32);
//   nearest:  src = min(floor(dst * scale), in - 1)
//   bilinear: src = max(scale * (dst + 0.5) - 0.5, 0); i0 = floor(src), i1 = min(i0 + 1, in - 1),
//             weights (1 - (src - i0), src - i0)
// One invocation per output vec4. The output may be a channel slice of a wider buffer (a concat).
import type { Band } from '../ir/graph.js';
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
  /** the output rows (of N * HO) this dispatch computes (default all): a band */
  band?: Band;
  input: Nhwc4View;
  output: Nhwc4View;
  workgroupSize: number;
  f16?: boolean;
}

const rowsOf = (s: ResizeSpec) => s.band ?? { row0: 0, rows: s.N * s.HO };

export function resizeWorkgroups(s: ResizeSpec): [number, number, number] {
  return linearWorkgroups(rowsOf(s).rows * s.WO * s.c4, s.workgroupSize);
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
${outputVec4Index(s.workgroupSize, 'PIXEL0')}
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
  'PIXEL0',
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
    TOTAL: rowsOf(s).rows * s.WO * s.c4,
    PIXEL0: rowsOf(s).row0 * s.WO,
    WG_X: resizeWorkgroups(s)[0],
  });
}

/**
 * The input rows output row `o` of a resize from `size` to `outSize` rows reads, as resizeWgsl computes them
 * (the f32 scale and products, Math.fround), widened by one row either side: a GPU may fuse the bilinear
 * multiply-add or round a product differently, moving a source index across an integer, and a band that
 * binds one row too few reads outside its window. Not clamped to the input (the planner clamps).
 */
export function resizeSourceRows(mode: 'nearest' | 'bilinear', size: number, outSize: number): (o: number) => [number, number] {
  const scale = Math.fround(size / outSize);
  return (o) => {
    if (mode === 'nearest') {
      const i = Math.min(Math.floor(Math.fround(Math.fround(o) * scale)), size - 1);
      return [i - 1, i + 1];
    }
    const y0 = Math.min(Math.floor(Math.max(Math.fround(Math.fround(scale * Math.fround(o + 0.5)) - 0.5), 0)), size - 1);
    // y1 = min(y0 + 1, size - 1)
    return [y0 - 1, y0 + 2];
  };
}

export function resizeStep(device: GPUDevice, s: ResizeSpec, b: { input: BufferRange; output: BufferRange }, label = 'resize'): Step {
  const detail = `[${s.N},${s.c4 * 4},${s.H},${s.W}] -> [${s.N},${s.c4 * 4},${s.HO},${s.WO}] ${s.mode}`;
  return makeStep(device, label, { code: resizeWgsl(s), bindings: resizeBindings(s) }, b, resizeWorkgroups(s), 0, detail, resizeShape(s));
}
