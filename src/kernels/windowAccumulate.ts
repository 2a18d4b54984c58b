// nnU-Net's sliding-window accumulation on the GPU (nnunetv2/inference/predict_from_raw_data.py
// _internal_predict_sliding_window_return_logits), as three kernels around a compiled plan:
//   windowGather   volume [C, Z, Y, X] -> the plan's input [B, C, PZ, PY, PX]: slot b's window (flipped on the
//                  axes of its mirror combination), zeros outside the volume (pad_nd_image's constant 0 padding)
//   windowScatter  the plan's output [B, K, PZ, PY, PX], slot b, flipped back, times gaussian * weight, added to
//                  the logit accumulator [K', Z, Y, X] (K' classes of a chunk); the gaussian itself added to the
//                  weight sum [Z, Y, X] once per window
//   windowDivide   logits = accumulator / weight sum
// Every buffer is plain f32 in C order (NCHW, not NHWC4): the plan's input and output buffers hold NCHW. A
// 2D patch is PZ = 1. Windows of one batch overlap, and WGSL has no float atomics, so the scatter runs one
// dispatch per slot: inside one window every voxel is written once, and dispatches in a pass are ordered.
// The slot table (where each slot's window starts, its flips) is a storage buffer rewritten before each
// batch: one set of steps serves every batch.
import { KernelBindings, param, written } from './bindings.js';
import { type BufferRange, ShapeUniforms, type Step, linearIndex, linearWorkgroups, makeStep } from './common.js';

/** Slot table entry flags (the 4th word; the first three are the window's start z, y, x as i32, in volume
 *  coordinates: negative where the window starts in the padding). */
export const FLIP_Z = 1;
export const FLIP_Y = 2;
export const FLIP_X = 4;
/** this slot's window adds its gaussian to the weight sum (its first mirror combination) */
export const ADDS_WEIGHT = 8;
/** nothing in this slot (the last batch's tail): gather writes zeros, scatter adds nothing */
export const EMPTY_SLOT = 16;

export interface WindowSpec {
  /** volume channels (gather) or classes in the accumulator chunk (scatter, divide) */
  C: number;
  /** volume size */
  Z: number;
  Y: number;
  X: number;
  /** patch size (PZ = 1 for a 2D patch) */
  PZ: number;
  PY: number;
  PX: number;
  workgroupSize: number;
}

const SIZE_FIELDS = ['C', 'Z', 'Y', 'X', 'PZ', 'PY', 'PX', 'TOTAL', 'WG_X'] as const;

// The slot table is bound as f32 words (bitcast back to i32 / u32): the binding declarations know f32 arrays.
const TABLE_DOC = 'slot table: per slot vec4 of words (z0, y0, x0 as i32; flags as u32), bitcast from f32';

// --- gather

const GATHER_SHAPE = new ShapeUniforms([...SIZE_FIELDS, 'B'] as const);
const gatherBindings = () =>
  new KernelBindings(
    'windowGather',
    [param('volume', 'f32', 'the volume [C, Z, Y, X]'), param('table', 'f32', TABLE_DOC), written('windows', "the plan's input [B, C, PZ, PY, PX]", 'f32')],
    GATHER_SHAPE,
  );

export function windowGatherWgsl(s: WindowSpec): string {
  return /* wgsl */ `// one invocation per element of the plan's input: slot b's window, flipped, zero outside the volume
${gatherBindings().wgsl()}

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${GATHER_SHAPE.lets()}
  let i = ${linearIndex('WG_X', s.workgroupSize)};
  if (i >= TOTAL) { return; }
  let x = i % PX;
  let y = (i / PX) % PY;
  let z = (i / (PX * PY)) % PZ;
  let c = (i / (PX * PY * PZ)) % C;
  let b = i / (PX * PY * PZ * C);
  let flags = bitcast<u32>(table[b * 4u + 3u]);
  if ((flags & ${EMPTY_SLOT}u) != 0u) { windows[i] = 0.0; return; }
  // torch.flip(window, axes): position p of the flipped window holds position P - 1 - p
  let fz = select(z, PZ - 1u - z, (flags & ${FLIP_Z}u) != 0u);
  let fy = select(y, PY - 1u - y, (flags & ${FLIP_Y}u) != 0u);
  let fx = select(x, PX - 1u - x, (flags & ${FLIP_X}u) != 0u);
  let vz = bitcast<i32>(table[b * 4u]) + i32(fz);
  let vy = bitcast<i32>(table[b * 4u + 1u]) + i32(fy);
  let vx = bitcast<i32>(table[b * 4u + 2u]) + i32(fx);
  let inside = vz >= 0 && vz < i32(Z) && vy >= 0 && vy < i32(Y) && vx >= 0 && vx < i32(X);
  var v = 0.0;
  if (inside) { v = volume[((c * Z + u32(vz)) * Y + u32(vy)) * X + u32(vx)]; }
  windows[i] = v;
}
`;
}

/** Gathers every slot of a batch of B into the plan's input (one dispatch). */
export function windowGatherStep(
  device: GPUDevice,
  s: WindowSpec,
  B: number,
  b: { volume: BufferRange; table: BufferRange; windows: BufferRange },
  label = 'windowGather',
): Step {
  const total = B * s.C * s.PZ * s.PY * s.PX;
  const workgroups = linearWorkgroups(total, s.workgroupSize);
  const data = GATHER_SHAPE.data({ ...sizes(s), TOTAL: total, WG_X: workgroups[0], B });
  const detail = `[${s.C},${s.Z},${s.Y},${s.X}] -> ${B} x [${s.C},${s.PZ},${s.PY},${s.PX}]`;
  return makeStep(device, label, { code: windowGatherWgsl(s), bindings: gatherBindings() }, b, workgroups, 0, detail, data);
}

// --- scatter

const SCATTER_SHAPE = new ShapeUniforms([...SIZE_FIELDS, 'K', 'K0', 'SLOT', 'WEIGHT_BITS', 'SUMS_WEIGHT'] as const);
const scatterBindings = () =>
  new KernelBindings(
    'windowScatter',
    [
      param('prediction', 'f32', "the plan's output [B, K, PZ, PY, PX]"),
      param('table', 'f32', TABLE_DOC),
      param('gaussian', 'f32', 'the importance map [PZ, PY, PX]'),
      written('logits', 'the accumulator chunk [C, Z, Y, X]: classes K0 .. K0 + C - 1', 'f32'),
      written('weights', 'the gaussian sum [Z, Y, X]', 'f32'),
    ],
    SCATTER_SHAPE,
  );

export function windowScatterWgsl(s: WindowSpec): string {
  return /* wgsl */ `// one invocation per (class of the chunk, window position) of slot SLOT: its prediction, flipped back,
// times the gaussian and the slot's weight (1 / mirror combinations), added where the window lies in the volume
${scatterBindings().wgsl()}

@compute @workgroup_size(${s.workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${SCATTER_SHAPE.lets()}
  let i = ${linearIndex('WG_X', s.workgroupSize)};
  if (i >= TOTAL) { return; }
  let flags = bitcast<u32>(table[SLOT * 4u + 3u]);
  if ((flags & ${EMPTY_SLOT}u) != 0u) { return; }
  let x = i % PX;
  let y = (i / PX) % PY;
  let z = (i / (PX * PY)) % PZ;
  let c = i / (PX * PY * PZ);
  let vz = bitcast<i32>(table[SLOT * 4u]) + i32(z);
  let vy = bitcast<i32>(table[SLOT * 4u + 1u]) + i32(y);
  let vx = bitcast<i32>(table[SLOT * 4u + 2u]) + i32(x);
  // padding: accumulated by nnU-Net, then sliced away; here never stored
  if (vz < 0 || vz >= i32(Z) || vy < 0 || vy >= i32(Y) || vx < 0 || vx >= i32(X)) { return; }
  // torch.flip(network(torch.flip(x, axes)), axes): position p comes from the output at P - 1 - p
  let fz = select(z, PZ - 1u - z, (flags & ${FLIP_Z}u) != 0u);
  let fy = select(y, PY - 1u - y, (flags & ${FLIP_Y}u) != 0u);
  let fx = select(x, PX - 1u - x, (flags & ${FLIP_X}u) != 0u);
  let p = (z * PY + y) * PX + x;
  let g = gaussian[p];
  let o = prediction[(((SLOT * K + K0 + c) * PZ + fz) * PY + fy) * PX + fx];
  let v = (u32(vz) * Y + u32(vy)) * X + u32(vx);
  logits[c * Z * Y * X + v] += o * (g * bitcast<f32>(WEIGHT_BITS));
  if (SUMS_WEIGHT != 0u && c == 0u && (flags & ${ADDS_WEIGHT}u) != 0u) { weights[v] += g; }
}
`;
}

/**
 * Adds slot `slot` of a batch (K classes in all) to an accumulator chunk of spec.C classes from class `k0`,
 * times `weight`; `sumsWeight`: this chunk's step also adds the gaussian to the weight sum (one chunk does).
 */
export function windowScatterStep(
  device: GPUDevice,
  s: WindowSpec,
  o: { K: number; k0: number; slot: number; weight: number; sumsWeight: boolean },
  b: { prediction: BufferRange; table: BufferRange; gaussian: BufferRange; logits: BufferRange; weights: BufferRange },
  label = 'windowScatter',
): Step {
  const total = s.C * s.PZ * s.PY * s.PX;
  const workgroups = linearWorkgroups(total, s.workgroupSize);
  const weightBits = new Uint32Array(new Float32Array([o.weight]).buffer)[0];
  const data = SCATTER_SHAPE.data({
    ...sizes(s),
    TOTAL: total,
    WG_X: workgroups[0],
    K: o.K,
    K0: o.k0,
    SLOT: o.slot,
    WEIGHT_BITS: weightBits,
    SUMS_WEIGHT: o.sumsWeight ? 1 : 0,
  });
  const detail = `slot ${o.slot}: classes ${o.k0}..${o.k0 + s.C - 1} of ${o.K} -> [${s.C},${s.Z},${s.Y},${s.X}]`;
  return makeStep(device, label, { code: windowScatterWgsl(s), bindings: scatterBindings() }, b, workgroups, 0, detail, data);
}

// --- divide

const DIVIDE_SHAPE = new ShapeUniforms(['VOXELS', 'TOTAL', 'WG_X'] as const);
const divideBindings = () =>
  new KernelBindings(
    'windowDivide',
    [written('logits', 'the accumulator chunk [C, Z, Y, X], divided in place', 'f32'), param('weights', 'f32', 'the gaussian sum [Z, Y, X]')],
    DIVIDE_SHAPE,
  );

export function windowDivideWgsl(workgroupSize: number): string {
  return /* wgsl */ `// torch.div(predicted_logits, n_predictions): every class of every voxel by the voxel's gaussian sum
${divideBindings().wgsl()}

@compute @workgroup_size(${workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${DIVIDE_SHAPE.lets()}
  let i = ${linearIndex('WG_X', workgroupSize)};
  if (i >= TOTAL) { return; }
  logits[i] = logits[i] / weights[i % VOXELS];
}
`;
}

export function windowDivideStep(
  device: GPUDevice,
  s: { C: number; voxels: number; workgroupSize: number },
  b: { logits: BufferRange; weights: BufferRange },
  label = 'windowDivide',
): Step {
  const total = s.C * s.voxels;
  const workgroups = linearWorkgroups(total, s.workgroupSize);
  const data = DIVIDE_SHAPE.data({ VOXELS: s.voxels, TOTAL: total, WG_X: workgroups[0] });
  return makeStep(device, label, { code: windowDivideWgsl(s.workgroupSize), bindings: divideBindings() }, b, workgroups, 0, `${s.C} x ${s.voxels}`, data);
}

const sizes = (s: WindowSpec) => ({ C: s.C, Z: s.Z, Y: s.Y, X: s.X, PZ: s.PZ, PY: s.PY, PX: s.PX });
