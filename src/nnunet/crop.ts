// nnU-Net's crop to the nonzero region (nnunetv2/preprocessing/cropping/cropping.py) and its inverse at export
// (acvl_utils' insert_crop_into_image into a zero-filled array). Arrays are [C, Z, Y, X] like nnU-Net's; a 2D
// image is [C, 1, Y, X]. Bounding boxes are half-open [start, end) per spatial axis, as acvl_utils' are.
// Browser-safe: no Node imports.
import { InputError } from '../errors.js';
import { shownValue } from '../limits.js';

/** [[z0, z1], [y0, y1], [x0, x1]], half-open. */
export type BBox = [number, number][];

function checkShape(data: ArrayLike<number>, shape: readonly number[], what: string): void {
  if (shape.length !== 4 || !shape.every((n) => Number.isInteger(n) && n > 0))
    throw new InputError(`${what}: shape ${shownValue(shape)} must be [C, Z, Y, X] of positive integers`);
  const n = shape[0] * shape[1] * shape[2] * shape[3];
  if (data.length !== n) throw new InputError(`${what}: ${data.length} values, shape ${shownValue(shape)} needs ${n}`);
}

/** create_nonzero_mask: voxels where any channel is nonzero, then scipy's binary_fill_holes, which fills the
 *  zero voxels not connected (6-connectivity) to the array's faces. Every voxel of an axis of size 1 is on a
 *  face, so a 2D image ([C, 1, Y, X]) has nothing filled. Returns 1 inside, 0 outside, [Z, Y, X]. */
export function nonzeroMask(data: ArrayLike<number>, shape: readonly number[]): Uint8Array {
  checkShape(data, shape, 'nonzero mask');
  const [C, Z, Y, X] = shape;
  const n = Z * Y * X;
  const mask = new Uint8Array(n);
  for (let c = 0; c < C; c++) for (let i = 0; i < n; i++) if (data[c * n + i] !== 0) mask[i] = 1;
  // flood the background from every zero voxel on a face; what it cannot reach is a hole
  const reached = new Uint8Array(n);
  const stack = new Int32Array(n);
  let top = 0;
  const seed = (i: number) => {
    if (!mask[i] && !reached[i]) {
      reached[i] = 1;
      stack[top++] = i;
    }
  };
  for (let z = 0; z < Z; z++)
    for (let y = 0; y < Y; y++)
      for (let x = 0; x < X; x++) if (z === 0 || z === Z - 1 || y === 0 || y === Y - 1 || x === 0 || x === X - 1) seed((z * Y + y) * X + x);
  while (top > 0) {
    const i = stack[--top];
    const x = i % X;
    const y = ((i - x) / X) % Y;
    const z = (i - x - y * X) / (X * Y);
    if (x > 0) seed(i - 1);
    if (x < X - 1) seed(i + 1);
    if (y > 0) seed(i - X);
    if (y < Y - 1) seed(i + X);
    if (z > 0) seed(i - X * Y);
    if (z < Z - 1) seed(i + X * Y);
  }
  for (let i = 0; i < n; i++) mask[i] = reached[i] ? 0 : 1;
  return mask;
}

/** get_bbox_from_mask: the smallest half-open box holding every set voxel; the whole array when none is set. */
export function bboxFromMask(mask: Uint8Array, spatial: readonly number[]): BBox {
  const [Z, Y, X] = spatial;
  const lo = [Z, Y, X];
  const hi = [-1, -1, -1];
  for (let z = 0, i = 0; z < Z; z++)
    for (let y = 0; y < Y; y++)
      for (let x = 0; x < X; x++, i++) {
        if (!mask[i]) continue;
        if (z < lo[0]) lo[0] = z;
        if (z > hi[0]) hi[0] = z;
        if (y < lo[1]) lo[1] = y;
        if (y > hi[1]) hi[1] = y;
        if (x < lo[2]) lo[2] = x;
        if (x > hi[2]) hi[2] = x;
      }
  if (hi[0] < 0)
    return [
      [0, Z],
      [0, Y],
      [0, X],
    ];
  return [0, 1, 2].map((a) => [lo[a], hi[a] + 1] as [number, number]);
}

/** data[:, z0:z1, y0:y1, x0:x1] as a new array of the same kind. */
export function cropToBBox<T extends Float32Array | Float64Array | Int8Array | Uint8Array>(data: T, shape: readonly number[], bbox: BBox): T {
  const [C, Z, Y, X] = shape;
  const [[z0, z1], [y0, y1], [x0, x1]] = bbox;
  const [cz, cy, cx] = [z1 - z0, y1 - y0, x1 - x0];
  const out = new (data.constructor as new (n: number) => T)(C * cz * cy * cx);
  let o = 0;
  for (let c = 0; c < C; c++)
    for (let z = z0; z < z1; z++)
      for (let y = y0; y < y1; y++) {
        const row = ((c * Z + z) * Y + y) * X;
        out.set(data.subarray(row + x0, row + x1) as unknown as ArrayLike<number>, o);
        o += cx;
      }
  return out;
}

export interface Cropped {
  /** [C, z1-z0, y1-y0, x1-x0], float32 */
  data: Float32Array;
  shape: number[];
  /** nnU-Net's seg after crop_to_nonzero: 0 inside the nonzero mask, -1 outside (or the given seg with its
   *  zeros outside the mask set to -1), [1, ...cropped spatial] */
  seg: Float32Array;
  bbox: BBox;
}

/** crop_to_nonzero(data, seg): crop every channel to the nonzero mask's box and mark outside as -1 in the seg.
 *  `seg` (optional, [1, Z, Y, X]) is an existing segmentation, e.g. a cascade's previous stage. */
export function cropToNonzero(data: Float32Array, shape: readonly number[], seg?: Float32Array): Cropped {
  checkShape(data, shape, 'crop');
  const spatial = shape.slice(1);
  const mask = nonzeroMask(data, shape);
  const bbox = bboxFromMask(mask, spatial);
  const cropped = cropToBBox(data, shape, bbox);
  const cropMask = cropToBBox(mask, [1, ...spatial], bbox);
  let outSeg: Float32Array;
  if (seg !== undefined) {
    checkShape(seg, [1, ...spatial], 'crop: seg');
    outSeg = cropToBBox(seg, [1, ...spatial], bbox);
    for (let i = 0; i < outSeg.length; i++) if (outSeg[i] === 0 && !cropMask[i]) outSeg[i] = -1;
  } else {
    outSeg = new Float32Array(cropMask.length);
    for (let i = 0; i < outSeg.length; i++) outSeg[i] = cropMask[i] ? 0 : -1;
  }
  return { data: cropped, shape: [shape[0], ...bbox.map(([a, b]) => b - a)], seg: outSeg, bbox };
}

/** Revert the crop at export: a [C, ...shapeBefore] array holding `fill[c]` (or `fill`) outside the box and the
 *  cropped values inside. nnU-Net fills a segmentation with 0 and probabilities with 0, but 1 for channel 0
 *  (background) unless the model is region-based (LabelManager.revert_cropping_on_probabilities). */
export function uncrop(
  cropped: Float32Array,
  channels: number,
  bbox: BBox,
  shapeBefore: readonly number[],
  fill: number | readonly number[] = 0,
): Float32Array {
  const [Z, Y, X] = shapeBefore;
  const [[z0, z1], [y0, y1], [x0, x1]] = bbox;
  const cx = x1 - x0;
  const n = Z * Y * X;
  const expected = channels * (z1 - z0) * (y1 - y0) * cx;
  if (cropped.length !== expected) throw new InputError(`uncrop: ${cropped.length} values, ${channels} channels in box ${shownValue(bbox)} need ${expected}`);
  if (!bbox.every(([a, b], i) => a >= 0 && b <= shapeBefore[i] && a < b))
    throw new InputError(`uncrop: box ${shownValue(bbox)} does not fit shape ${shownValue(shapeBefore)}`);
  const out = new Float32Array(channels * n);
  for (let c = 0; c < channels; c++) {
    const f = typeof fill === 'number' ? fill : (fill[c] ?? 0);
    if (f !== 0) out.fill(f, c * n, (c + 1) * n);
  }
  let o = 0;
  for (let c = 0; c < channels; c++)
    for (let z = z0; z < z1; z++)
      for (let y = y0; y < y1; y++) {
        out.set(cropped.subarray(o, o + cx), ((c * Z + z) * Y + y) * X + x0);
        o += cx;
      }
  return out;
}
