// conv_transpose2d with kernel 2, stride 2 (the U-Net's up-sampling), NHWC4, with bias.
// With k = s = 2 every output pixel comes from exactly one input pixel: out[2y+dy, 2x+dx] = bias +
// in[y, x] . W[:, :, dy, dx]. So it is one GEMM [H*W, Cin] x [Cin, 4*Cout]; each invocation reads its
// input pixels once and writes all four positions.
import type { ConvParams } from '../ir/params.js';
import { KernelBindings, activation, param, written } from './bindings.js';
import {
  type BufferRange,
  type Nhwc4View,
  ShapeUniforms,
  type Step,
  c4,
  enables,
  GRID_FIELDS,
  gridUniforms,
  linearWorkgroups,
  makeStep,
  rep,
  storageAliases,
} from './common.js';
import { type WeightSharing, laneParam, sharedLanes, storeTile, tileOrigin, weightTile } from './gemmTile.js';

export interface ConvTranspose2x2Spec extends WeightSharing {
  /** batch and input spatial size; the output is 2H x 2W */
  N: number;
  H: number;
  W: number;
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
}

const cout4Padded = (cout: number, tileC4: number) => Math.ceil(c4(cout) / tileC4) * tileC4;

/** Invocations along x (pixel blocks) and workgroup rows (channel blocks) of the grid. */
function convTranspose2x2Grid(s: ConvTranspose2x2Spec): [number, number] {
  return [s.N * s.H * Math.ceil(s.W / s.tilePixels), Math.ceil(c4(s.cout) / s.tileC4)];
}

export function convTranspose2x2Workgroups(s: ConvTranspose2x2Spec): [number, number, number] {
  const [blocks, rows] = convTranspose2x2Grid(s);
  return linearWorkgroups(blocks, s.workgroupSize, rows);
}

/** What convTranspose2x2Wgsl binds. */
const convTranspose2x2Bindings = (s: ConvTranspose2x2Spec) =>
  new KernelBindings(
    'convTranspose2x2',
    [
      activation('input', 'activations, NHWC4'),
      param(
        'weight',
        s.weights === 'subgroup' ? 'WCol' : 'WMat',
        `weight[((k * CIN4 + ci4) * COUT4_PAD + co4)], k = dy * 2 + dx: a mat4x4 whose column j = input
channel 4*ci4+j, rows = output channels 4*co4 .. 4*co4+3${s.weights === 'subgroup' ? ' (read here as vec4 columns)' : ''}`,
      ),
      param('bias', 'vec4<f32>'),
      written('output'),
    ],
    CONVT_SHAPE,
    s.f16,
  );

export function convTranspose2x2Wgsl(s: ConvTranspose2x2Spec): string {
  const S = sharedLanes(s, 'convTranspose2x2');
  const sub = S > 0;
  const { tilePixels: TP, tileC4: TC } = s;
  // the weight block of output position k: acc_p_k_t
  const inner = rep(4, (k) => weightTile(`(${k}u * CIN4 + ci4) * COUT4_PAD + co0`, `${k}_`, TP, TC, S));
  return /* wgsl */ `${enables(sub, s.f16)}
// conv_transpose2d k2 s2, NHWC4 (sizes from the shape uniform, so layers share this code), weights by ${sub ? `subgroup broadcast (${S} lanes)` : 'load'}.
// Work split: each invocation takes TP consecutive input pixels of one row and TC output vec4 groups, and
// writes the 2x2 output pixels of each input pixel. Lanes walk pixels; the workgroup row picks the channels (gridIndex).
// Control flow stays uniform (no early return), as subgroupBroadcast requires.
${storageAliases(s.f16)}
const TP = ${TP}u;
const TC = ${TC}u;
${convTranspose2x2Bindings(s).wgsl()}

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>${laneParam(S)}) {
${CONVT_SHAPE.lets()}
${tileOrigin(s.workgroupSize, 'H', 'y', 'x0')}

  // acc_p_k_t: input pixel p, output position k = dy * 2 + dx, channel group t
${rep(TP, (p) => rep(4, (k) => rep(TC, (t) => `  var acc_${p}_${k}_${t} = vec4<f32>(0.0);`)))}
${rep(TP, (p) => `  let base_${p} = ((n * H + y) * W + min(x0 + ${p}u, W - 1u)) * IN_STRIDE + IN_OFFSET;`)}
  for (var ci4 = 0u; ci4 < CIN4; ci4++) {
${rep(TP, (p) => `        let x_${p} = vec4<f32>(input[base_${p} + ci4]);`)}
${inner}
  }

${storeTile(TP, TC, 'x0', 'W', (p, t) => rep(4, (k) => `        output[((n * 2u * H + 2u * y + ${k >> 1}u) * 2u * W + 2u * (x0 + ${p}u) + ${k & 1}u) * OUT_STRIDE + OUT_OFFSET + co0 + ${t}u] = Act(acc_${p}_${k}_${t} + b_${t});`))}
}
`;
}

/** Packs a PyTorch ConvTranspose2d weight [cin, cout, 2, 2] (and bias) into the kernel's layout. */
export function packConvTranspose2x2Weights(
  p: ConvParams,
  cin4: number,
  tileC4: number,
  channelPos: (ci: number) => number = (ci) => ci,
): { weight: Float32Array; bias: Float32Array } {
  const [cin, cout, kH, kW] = p.shape;
  if (kH !== 2 || kW !== 2) throw new Error(`convTranspose2x2: weight shape [${p.shape}] is not [cin, cout, 2, 2]`);
  const cout4Pad = cout4Padded(cout, tileC4);
  const weight = new Float32Array(4 * cin4 * cout4Pad * 16);
  for (let ci = 0; ci < cin; ci++) {
    const pos = channelPos(ci);
    for (let co = 0; co < cout; co++) {
      for (let k = 0; k < 4; k++) {
        const mat = (k * cin4 + (pos >> 2)) * cout4Pad + (co >> 2);
        weight[mat * 16 + (pos & 3) * 4 + (co & 3)] = p.weight[(ci * cout + co) * 4 + k];
      }
    }
  }
  const bias = new Float32Array(cout4Pad * 4);
  if (p.bias) bias.set(p.bias);
  return { weight, bias };
}

/** The sizes convTranspose2x2Wgsl reads from its shape uniform. */
const CONVT_SHAPE = new ShapeUniforms([
  'H',
  'W',
  'CIN4',
  'COUT4',
  'COUT4_PAD',
  'IN_STRIDE',
  'IN_OFFSET',
  'OUT_STRIDE',
  'OUT_OFFSET',
  'X_BLOCKS',
  'BLOCKS',
  ...GRID_FIELDS,
] as const);

export function convTranspose2x2Shape(s: ConvTranspose2x2Spec): Uint32Array {
  const X_BLOCKS = Math.ceil(s.W / s.tilePixels);
  return CONVT_SHAPE.data({
    H: s.H,
    W: s.W,
    CIN4: s.cin4,
    COUT4: c4(s.cout),
    COUT4_PAD: cout4Padded(s.cout, s.tileC4),
    IN_STRIDE: s.input.c4Stride,
    IN_OFFSET: s.input.c4Offset,
    OUT_STRIDE: s.output.c4Stride,
    OUT_OFFSET: s.output.c4Offset,
    X_BLOCKS,
    BLOCKS: s.N * s.H * X_BLOCKS,
    ...gridUniforms(convTranspose2x2Grid(s)[0], s.workgroupSize, convTranspose2x2Grid(s)[1]),
  });
}

export function convTranspose2x2Step(
  device: GPUDevice,
  s: ConvTranspose2x2Spec,
  b: { input: BufferRange; weight: BufferRange; bias: BufferRange; output: BufferRange },
  label = 'convTranspose2x2',
): Step {
  const flops = 2 * s.N * s.H * s.W * 4 * s.cout * s.cin;
  const detail = `[${s.N},${s.cin},${s.H},${s.W}] -> [${s.N},${s.cout},${2 * s.H},${2 * s.W}] k2 s2`;
  return makeStep(
    device,
    label,
    { code: convTranspose2x2Wgsl(s), bindings: convTranspose2x2Bindings(s) },
    b,
    convTranspose2x2Workgroups(s),
    flops,
    detail,
    convTranspose2x2Shape(s),
  );
}
