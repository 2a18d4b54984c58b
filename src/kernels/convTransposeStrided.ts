// conv_transpose2d / conv_transpose3d whose kernel equals its stride, per axis (the U-Net's and nnU-Net's
// up-sampling: k2 s2, [1, 2], [2, 2, 2], [1, 2, 2], ...), NHWC4 / NDHWC4, with bias. With k = s every output
// position gets exactly one tap: out[z kD + dz, y kH + dy, x kW + dx] = bias + in[z, y, x] . W[:, :, dz, dy, dx].
// So it is one GEMM [D*H*W, Cin] x [Cin, kD*kH*kW*Cout]; each invocation reads its input pixels once per
// depth tap dz and writes the kH x kW output pixels of each.
// A band (past the binding limit) is a range of output rows (n, oz, oy), which may start and end inside the
// kD x kH output rows of an input row: the dispatch covers the input rows under the band, and each output
// row is stored only where it lies in the band (its value does not depend on the band: one tap per output).
import type { ConvNdParams } from '../ir/params.js';
import { KernelBindings, activation, param, written } from './bindings.js';
import {
  type BufferRange,
  GRID_FIELDS,
  type Nhwc4View,
  ShapeUniforms,
  type Step,
  c4,
  enables,
  gridIndex,
  gridUniforms,
  linearWorkgroups,
  makeStep,
  rep,
  storageAliases,
} from './common.js';
import { type WeightSharing, cout4Padded, laneParam, packWeightBlocks, sharedLanes, storeTile, weightParam, weightTile } from './gemmTile.js';

export interface ConvTransposeStridedSpec extends WeightSharing {
  /** batch and input spatial size (D = 1 for 2D); the output is [D kD, H kH, W kW] */
  N: number;
  D: number;
  H: number;
  W: number;
  /** kernel = stride per axis [kD, kH, kW] (kD = 1 for 2D) */
  kernel: [number, number, number];
  /** input channels (for figures; the kernel reads cin4 vec4 groups) */
  cin: number;
  /** vec4 groups per input pixel covered by the weights */
  cin4: number;
  cout: number;
  input: Nhwc4View;
  output: Nhwc4View;
  /** tuning: input pixels (along a row) and output vec4 groups per invocation, invocations per workgroup */
  tilePixels: number;
  tileC4: number;
  workgroupSize: number;
  // tuning too: weights and subgroupSize (WeightSharing)
  /** store activations and weights as f16 (needs the shader-f16 feature); arithmetic stays f32 */
  f16?: boolean;
  /** the output rows to store, flat (n, oz, oy) of N * D kD * H kH: [row0, row0 + rows); default all. The
   *  views then point into windows of the bindings (their offsets may be negative, see Nhwc4View). */
  band?: { row0: number; rows: number };
}

/** The band's output rows (all by default) and the input rows under them: [inRow0, inRow0 + inRows). */
function bandRows(s: ConvTransposeStridedSpec): { row0: number; rows: number; inRow0: number; inRows: number } {
  const [kD, kH] = s.kernel;
  const [DO, HO] = [s.D * kD, s.H * kH];
  const { row0, rows } = s.band ?? { row0: 0, rows: s.N * DO * HO };
  // output row r = (n * DO + oz) * HO + oy reads input row (n * D + floor(oz / kD)) * H + floor(oy / kH):
  // that grows with r inside an output image, but drops back where the next image has the same input depth
  // (kD > 1), so the input rows under the band are bounded image by image
  const inRow = (r: number) => {
    const image = Math.floor(r / HO);
    return (Math.floor(image / DO) * s.D + Math.floor((image % DO) / kD)) * s.H + Math.floor((r % HO) / kH);
  };
  const last = row0 + rows - 1;
  let [lo, hi] = [inRow(row0), inRow(last)];
  for (let image = Math.floor(row0 / HO) + 1; image <= Math.floor(last / HO); image++) {
    lo = Math.min(lo, inRow(image * HO));
    hi = Math.max(hi, inRow(image * HO - 1));
  }
  return { row0, rows, inRow0: lo, inRows: hi - lo + 1 };
}

/** Invocations along x (pixel blocks of the band's input rows) and workgroup rows (channel blocks times
 *  depth taps) of the grid. */
function convTransposeStridedGrid(s: ConvTransposeStridedSpec): [number, number] {
  return [bandRows(s).inRows * Math.ceil(s.W / s.tilePixels), (cout4Padded(s.cout, s.tileC4) / s.tileC4) * s.kernel[0]];
}

export function convTransposeStridedWorkgroups(s: ConvTransposeStridedSpec): [number, number, number] {
  const [blocks, rows] = convTransposeStridedGrid(s);
  return linearWorkgroups(blocks, s.workgroupSize, rows);
}

/** What convTransposeStridedWgsl binds. */
const convTransposeStridedBindings = (s: ConvTransposeStridedSpec) =>
  new KernelBindings(
    'convTransposeStrided',
    [
      activation('input', 'activations, NHWC4 (NDHWC4: N*D images)'),
      weightParam(
        s,
        `weight[((k * CIN4 + ci4) * COUT4_PAD + co4)], tap k = (dz * KH + dy) * KW + dx: a mat4x4 whose column j = input
channel 4*ci4+j, rows = output channels 4*co4 .. 4*co4+3`,
      ),
      param('bias', 'vec4<f32>'),
      written('output'),
    ],
    CONVT_SHAPE,
    s.f16,
  );

export function convTransposeStridedWgsl(s: ConvTransposeStridedSpec): string {
  const S = sharedLanes(s, 'convTransposeStrided');
  const sub = S > 0;
  const { tilePixels: TP, tileC4: TC } = s;
  const [, KH, KW] = s.kernel;
  // the in-plane taps are unrolled (acc_p_k_t, k = dy * KW + dx); the depth tap dz is the workgroup row's
  const taps = KH * KW;
  const inner = rep(taps, (k) => weightTile(`((dz * KHW + ${k}u) * CIN4 + ci4) * COUT4_PAD + co0`, `${k}_`, TP, TC, S));
  const store = (p: number, t: number) =>
    rep(KH, (dy) => {
      const row = rep(KW, (dx) => {
        const k = dy * KW + dx;
        return `          output[((oz * OH + y * KH + ${dy}u) * OW + (x0 + ${p}u) * KW + ${dx}u) * OUT_STRIDE + OUT_OFFSET + co0 + ${t}u] = Act(acc_${p}_${k}_${t} + b_${t});`;
      });
      return `        if (inBand_${dy}) {\n${row}\n        }`;
    });
  return /* wgsl */ `${enables(sub, s.f16)}
// conv_transpose k = s (${s.kernel.join('x')}), NHWC4 / NDHWC4 (sizes from the shape uniform, so layers and depths
// share this code), weights by ${sub ? `subgroup broadcast (${S} lanes)` : 'load'}.
// Work split: each invocation takes TP consecutive input pixels of one row (n, z, y) and TC output vec4
// groups, and writes the KH x KW output pixels of each input pixel at depth tap dz. Lanes walk pixels; the
// workgroup row picks the channels and dz (gridIndex), so every lane of a workgroup reads the same weights.
// Control flow stays uniform (no early return), as subgroupBroadcast requires.
${storageAliases(s.f16)}
const TP = ${TP}u;
const TC = ${TC}u;
const KH = ${KH}u;
const KW = ${KW}u;
const KHW = ${taps}u;
${convTransposeStridedBindings(s).wgsl()}

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>${laneParam(S)}) {
${CONVT_SHAPE.lets()}
  // invocations past the last block compute a copy of it and store nothing
${gridIndex(s.workgroupSize, 'CO_BLOCKS * KD')}
  let co0 = (wgy % CO_BLOCKS) * TC;
  let dz = wgy / CO_BLOCKS;
  let block = min(index, BLOCKS - 1u);
  let x0 = (block % X_BLOCKS) * TP;
  // the input row (n * D + z) * H + y (counted from the whole input's first: the band's start at IN_ROW0);
  // its output rows start at depth oz = (n * D + z) * KD + dz
  let inRow = IN_ROW0 + block / X_BLOCKS;
  let y = inRow % H;
  let oz = (inRow / H) * KD + dz;
  let OH = H * KH;
  let OW = W * KW;
  // output row (oz * OH + y * KH + dy) is stored only inside the band [ROW0, ROW0 + ROWS) (u32 wrap-around
  // makes rows before ROW0 fail too)
${rep(KH, (dy) => `  let inBand_${dy} = (oz * OH + y * KH + ${dy}u) - ROW0 < ROWS;`)}

  // acc_p_k_t: input pixel p, in-plane tap k = dy * KW + dx, channel group t
${rep(TP, (p) => rep(taps, (k) => rep(TC, (t) => `  var acc_${p}_${k}_${t} = vec4<f32>(0.0);`)))}
${rep(TP, (p) => `  let base_${p} = (inRow * W + min(x0 + ${p}u, W - 1u)) * IN_STRIDE + IN_OFFSET;`)}
  for (var ci4 = 0u; ci4 < CIN4; ci4++) {
${rep(TP, (p) => `        let x_${p} = vec4<f32>(input[base_${p} + ci4]);`)}
${inner}
  }

${storeTile(TP, TC, 'x0', 'W', store)}
}
`;
}

/**
 * Packs a PyTorch ConvTranspose2d / 3d weight [cin, cout, ...kernel] (and bias) into the kernel's layout;
 * `channelPos` places input channel ci among the stored channels (a concatenated input with vec4 gaps).
 */
export function packConvTransposeStridedWeights(
  p: ConvNdParams,
  cin4: number,
  tileC4: number,
  channelPos: (ci: number) => number = (ci) => ci,
): { weight: Float32Array; bias: Float32Array } {
  const [cin, cout, ...kernel] = p.shape;
  const taps = kernel.reduce((a, b) => a * b, 1);
  if (p.weight.length !== cin * cout * taps)
    throw new Error(`convTransposeStrided: weight has ${p.weight.length} values, its shape [${p.shape}] needs ${cin * cout * taps}`);
  // PyTorch's tap order (dz, dy, dx) row-major is the kernel's k
  return packWeightBlocks(taps, cin, cout, cin4, tileC4, channelPos, (co, ci, k) => p.weight[(ci * cout + co) * taps + k], p.bias);
}

/** The sizes convTransposeStridedWgsl reads from its shape uniform. */
const CONVT_SHAPE = new ShapeUniforms([
  'H',
  'W',
  'KD',
  'CIN4',
  'COUT4',
  'COUT4_PAD',
  'CO_BLOCKS',
  'IN_STRIDE',
  'IN_OFFSET',
  'OUT_STRIDE',
  'OUT_OFFSET',
  'X_BLOCKS',
  'BLOCKS',
  'IN_ROW0',
  'ROW0',
  'ROWS',
  ...GRID_FIELDS,
] as const);

export function convTransposeStridedShape(s: ConvTransposeStridedSpec): Uint32Array {
  const X_BLOCKS = Math.ceil(s.W / s.tilePixels);
  const [blocks, rows] = convTransposeStridedGrid(s);
  const band = bandRows(s);
  return CONVT_SHAPE.data({
    H: s.H,
    W: s.W,
    KD: s.kernel[0],
    CIN4: s.cin4,
    COUT4: c4(s.cout),
    COUT4_PAD: cout4Padded(s.cout, s.tileC4),
    CO_BLOCKS: cout4Padded(s.cout, s.tileC4) / s.tileC4,
    IN_STRIDE: s.input.c4Stride,
    IN_OFFSET: s.input.c4Offset,
    OUT_STRIDE: s.output.c4Stride,
    OUT_OFFSET: s.output.c4Offset,
    X_BLOCKS,
    BLOCKS: blocks,
    IN_ROW0: band.inRow0,
    ROW0: band.row0,
    ROWS: band.rows,
    ...gridUniforms(blocks, s.workgroupSize, rows),
  });
}

export function convTransposeStridedStep(
  device: GPUDevice,
  s: ConvTransposeStridedSpec,
  b: { input: BufferRange; weight: BufferRange; bias: BufferRange; output: BufferRange },
  label = 'convTransposeStrided',
): Step {
  const [kD, kH, kW] = s.kernel;
  // one tap per output pixel: the band's output pixels times Cin x Cout
  const flops = 2 * bandRows(s).rows * s.W * kW * s.cout * s.cin;
  const planar = kD === 1 && s.D === 1;
  const spatial = (d: number, h: number, w: number) => (planar ? `${h},${w}` : `${d},${h},${w}`);
  const sizes = planar ? [kH, kW] : s.kernel;
  // 'k2 s2' where every axis agrees, as the other kernels print theirs
  const k = sizes.every((v) => v === sizes[0]) ? `${sizes[0]}` : sizes.join('x');
  const detail = `[${s.N},${s.cin},${spatial(s.D, s.H, s.W)}] -> [${s.N},${s.cout},${spatial(s.D * kD, s.H * kH, s.W * kW)}] k${k} s${k}`;
  return makeStep(
    device,
    label,
    { code: convTransposeStridedWgsl(s), bindings: convTransposeStridedBindings(s) },
    b,
    convTransposeStridedWorkgroups(s),
    flops,
    detail,
    convTransposeStridedShape(s),
  );
}
