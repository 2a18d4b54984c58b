// Builds NIfTI-1 files from scratch for the tests: a real header (dims, voxel sizes, qform and sform
// affine, description) in either byte order, int16 / float32 / uint8 voxels, x fastest.
export interface NiftiSpec {
  dims: [number, number, number];
  datatype: 2 | 4 | 16;
  values: ArrayLike<number>;
  littleEndian?: boolean;
  sclSlope?: number;
  sclInter?: number;
}

export const PIXDIM = [0.9, 1.1, 2.5];
export const SROW = [
  [0.9, 0, 0, -40],
  [0, 1.1, 0, -50.5],
  [0, 0, 2.5, 12],
];
export const DESCRIP = 'synthetic test volume';

export function makeNifti(s: NiftiSpec): Uint8Array {
  const le = s.littleEndian ?? true;
  const size = s.datatype === 2 ? 1 : s.datatype === 4 ? 2 : 4;
  const n = s.dims[0] * s.dims[1] * s.dims[2];
  const out = new Uint8Array(352 + n * size);
  const dv = new DataView(out.buffer);
  dv.setInt32(0, 348, le);
  [3, ...s.dims, 1, 1, 1, 1].forEach((d, i) => dv.setInt16(40 + 2 * i, d, le));
  dv.setInt16(70, s.datatype, le);
  dv.setInt16(72, 8 * size, le);
  [1, ...PIXDIM, 1, 1, 1, 1].forEach((p, i) => dv.setFloat32(76 + 4 * i, p, le));
  dv.setFloat32(108, 352, le);
  dv.setFloat32(112, s.sclSlope ?? 0, le);
  dv.setFloat32(116, s.sclInter ?? 0, le);
  out[123] = 10; // xyzt_units: mm, seconds
  out.set(new TextEncoder().encode(DESCRIP), 148);
  dv.setInt16(252, 1, le); // qform_code: scanner
  dv.setInt16(254, 1, le); // sform_code
  [-40, -50.5, 12].forEach((o, i) => dv.setFloat32(268 + 4 * i, o, le)); // qoffset
  SROW.flat().forEach((v, i) => dv.setFloat32(280 + 4 * i, v, le));
  out.set([0x6e, 0x2b, 0x31, 0], 344);
  for (let i = 0; i < n; i++) {
    const o = 352 + i * size;
    if (s.datatype === 2) dv.setUint8(o, s.values[i]);
    else if (s.datatype === 4) dv.setInt16(o, s.values[i], le);
    else dv.setFloat32(o, s.values[i], le);
  }
  return out;
}
