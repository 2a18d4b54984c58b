// NIfTI-1 volumes: read with nifti-reader-js, cut into 2-D slices along an axis, and masks written back
// with the input's own header (dimensions, voxel sizes, affine / qform / sform all kept) and only the data
// type changed. The writer is small on purpose: the 348-byte header copied, a few fields patched, the
// 4-byte "no extensions" flag, then the voxels; gzip for .nii.gz (fflate: browser-safe, as nnU-Net's page
// writes its <case>.nii.gz in the browser too).
import { Gunzip, gzipSync } from 'fflate';
import * as nifti from 'nifti-reader-js';
import { InputError } from '../errors.js';
import { LimitError, exceeds, formatBytes, formatCount, resolveLimits, type Limits } from '../limits.js';

/** A NIfTI volume that cannot be read (code 'INPUT'). */
export class NiftiError extends InputError {
  constructor(message: string) {
    super(message);
    this.name = 'NiftiError';
  }
}

export interface Volume {
  /** [nx, ny, nz]: x varies fastest in `data` */
  dims: [number, number, number];
  /** voxel values with scl_slope / scl_inter applied */
  data: Float32Array;
  /** the input's 348-byte header, as stored (either byte order) */
  header: Uint8Array;
  littleEndian: boolean;
}

const DT_UINT8 = 2;
const DT_FLOAT32 = 16;
const DT_UINT16 = 512;

export interface ReadNiftiOptions {
  /** maxVoxels and maxDecompressedBytes apply (defaults: DEFAULT_LIMITS) */
  limits?: Partial<Limits>;
}

/** A NIfTI-1 header's facts, checked. */
interface Header {
  h: nifti.NIFTI1;
  dims: [number, number, number];
  /** first byte of the voxels, and the byte after the last */
  start: number;
  end: number;
}

/**
 * Reads a .nii or .nii.gz (gzip detected from the bytes). Throws NiftiError with a one-line problem, or
 * LimitError. The header is read and checked first (dims >= 1, voxels <= maxVoxels): a .nii.gz is
 * inflated only as far as the header says the data goes, and never past maxDecompressedBytes.
 */
export function readNifti(input: Uint8Array, options: ReadNiftiOptions = {}): Volume {
  const limits = resolveLimits(options.limits);
  let bytes = input;
  let header: Header | undefined;
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    bytes = gunzipBounded(bytes, limits, (head) => (header = readHeader(head, limits)).end);
  }
  header ??= readHeader(bytes, limits);
  const { h, dims, start, end } = header;
  const n = dims[0] * dims[1] * dims[2];
  if (end > bytes.length) throw new NiftiError(`truncated: ${n} voxels need ${end - start} bytes from byte ${start}, the file has ${bytes.length}`);
  const size = SIZES[h.datatypeCode];
  const read = READERS[h.datatypeCode];
  const dv = new DataView(bytes.buffer, bytes.byteOffset + start, n * size);
  const slope = h.scl_slope || 1; // 0 means "not scaled"
  const inter = h.scl_slope ? h.scl_inter || 0 : 0;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = read(dv, i * size, h.littleEndian) * slope + inter;
  return { dims, data, header: bytes.slice(0, 348), littleEndian: h.littleEndian };
}

/** Parses and checks the header from the file's first bytes (at least 348, or the file is refused). */
function readHeader(bytes: Uint8Array, limits: Limits): Header {
  if (bytes.length < 348) throw new NiftiError(`truncated: ${bytes.length} bytes, shorter than the 348-byte NIfTI-1 header`);
  // nifti-reader-js takes an ArrayBuffer: give it a copy of the header only, not of the whole file
  const buf = bytes.slice(0, Math.min(bytes.length, 540)).buffer;
  if (nifti.isNIFTI2(buf)) throw new NiftiError('NIfTI-2 files are not supported yet (NIfTI-1 only)');
  if (!nifti.isNIFTI1(buf)) throw new NiftiError('not a NIfTI-1 file (no "n+1" magic)');
  let h: nifti.NIFTI1;
  try {
    h = nifti.readHeader(buf) as nifti.NIFTI1;
  } catch (e) {
    throw new NiftiError(`not a readable NIfTI-1 header (${(e instanceof Error ? e.message : String(e)).split('\n')[0]})`);
  }
  if (!h) throw new NiftiError('not a readable NIfTI-1 header');
  const nd = h.dims[0];
  if (nd < 2 || nd > 7) throw new NiftiError(`dim[0] is ${nd}, expected 2 to 7`);
  const used = h.dims.slice(1, nd + 1);
  const bad = used.findIndex((d) => !(d >= 1));
  if (bad >= 0) throw new NiftiError(`dim[${bad + 1}] is ${used[bad]}: every dimension must be at least 1 (dims ${used.join(' x ')})`);
  if (used.slice(3).some((d) => d !== 1)) throw new NiftiError(`is ${nd}-D (${used.join(' x ')}): only 3-D volumes are segmented`);
  const dims: [number, number, number] = [used[0], used[1], nd >= 3 ? used[2] : 1];
  const n = dims[0] * dims[1] * dims[2];
  if (n > limits.maxVoxels) throw exceeds(`${dims.join(' x ')} = ${formatCount(n)} voxels`, 'maxVoxels', limits);
  if (!Object.hasOwn(READERS, h.datatypeCode)) throw new NiftiError(`datatype ${h.datatypeCode} is not supported (integers and float32/64 are)`);
  const size = SIZES[h.datatypeCode];
  const start = Math.round(h.vox_offset);
  if (h.numBitsPerVoxel !== 8 * size) throw new NiftiError(`bitpix ${h.numBitsPerVoxel} does not match datatype ${h.datatypeCode} (${8 * size} bits)`);
  if (!(start >= 0 && Number.isSafeInteger(start))) throw new NiftiError(`vox_offset ${h.vox_offset} is not a byte offset in the file`);
  return { h, dims, start, end: start + n * size };
}

/**
 * Inflates a gzip stream (all its members) in small steps with a running total: never more than
 * maxDecompressedBytes, and no further than the header's `need(head)` once 348 bytes are out. A bomb
 * stops within one step (at most ~1000x the 16 KiB pushed) of a limit.
 */
function gunzipBounded(bytes: Uint8Array, limits: Limits, need: (head: Uint8Array) => number): Uint8Array {
  const STEP = 16 * 1024;
  const chunks: Uint8Array[] = [];
  let total = 0;
  let wanted = Infinity;
  let head: Uint8Array | undefined;
  const g = new Gunzip((chunk) => {
    chunks.push(chunk);
    total += chunk.length;
  });
  try {
    for (let at = 0; at < bytes.length && total < wanted; at += STEP) {
      g.push(bytes.subarray(at, at + STEP), at + STEP >= bytes.length);
      if (!head && total >= 348) {
        head = concat(chunks, total).subarray(0, 540);
        wanted = need(head);
        if (wanted > limits.maxDecompressedBytes) throw exceeds(`a .nii.gz whose data inflates to ${formatBytes(wanted)}`, 'maxDecompressedBytes', limits);
      }
      if (total > limits.maxDecompressedBytes) throw exceeds(`a gzip stream inflating past ${formatBytes(total)}`, 'maxDecompressedBytes', limits);
    }
  } catch (e) {
    if (e instanceof LimitError || e instanceof NiftiError) throw e;
    throw new NiftiError(`not a readable gzip file (${(e as Error).message.split('\n')[0]})`);
  }
  return concat(chunks, total).subarray(0, Math.min(total, wanted));
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  chunks.splice(0, chunks.length, out);
  return out;
}

/** bytes per voxel of each datatype READERS reads */
const SIZES: Record<number, number> = { 2: 1, 4: 2, 8: 4, 16: 4, 64: 8, 256: 1, 512: 2, 768: 4 };

const READERS: Record<number, (dv: DataView, o: number, le: boolean) => number> = {
  2: (dv, o) => dv.getUint8(o),
  4: (dv, o, le) => dv.getInt16(o, le),
  8: (dv, o, le) => dv.getInt32(o, le),
  16: (dv, o, le) => dv.getFloat32(o, le),
  64: (dv, o, le) => dv.getFloat64(o, le),
  256: (dv, o) => dv.getInt8(o),
  512: (dv, o, le) => dv.getUint16(o, le),
  768: (dv, o, le) => dv.getUint32(o, le),
};

export type Axis = 0 | 1 | 2;

/** The two in-plane axes of a slice along `axis`: [columns, rows]. */
const planeAxes = (axis: Axis): [number, number] => (axis === 0 ? [1, 2] : axis === 1 ? [0, 2] : [0, 1]);

/** Slice `k` along `axis` as rows x columns (width = the first remaining axis, height = the second). */
export function sliceGeometry(dims: [number, number, number], axis: Axis): { width: number; height: number; count: number } {
  const [u, v] = planeAxes(axis);
  return { width: dims[u], height: dims[v], count: dims[axis] };
}

/** Voxel index of pixel (x, y) of slice k: calls `f(pixel, voxel)` for every pixel. */
export function forEachSliceVoxel(dims: [number, number, number], axis: Axis, k: number, f: (pixel: number, voxel: number) => void): void {
  const [u, v] = planeAxes(axis);
  const stride = [1, dims[0], dims[0] * dims[1]];
  const { width, height } = sliceGeometry(dims, axis);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) f(y * width + x, x * stride[u] + y * stride[v] + k * stride[axis]);
  }
}

/** A NIfTI-1 file with the header of `like` and new voxels (uint8, uint16 or float32), gzipped when asked.
 *  `calMax` is the display maximum: 1 for masks and probabilities; 0 (viewers choose, as nibabel leaves a new
 *  header) for label maps. */
export function writeNifti(like: Volume, data: Uint8Array | Uint16Array | Float32Array, gzip: boolean, calMax = 1): Uint8Array {
  const le = like.littleEndian;
  const n = like.dims[0] * like.dims[1] * like.dims[2];
  if (data.length !== n) throw new NiftiError(`writeNifti: ${data.length} values for ${n} voxels`);
  const [code, size] = data instanceof Float32Array ? [DT_FLOAT32, 4] : data instanceof Uint16Array ? [DT_UINT16, 2] : [DT_UINT8, 1];
  const out = new Uint8Array(352 + n * size);
  out.set(like.header.subarray(0, 348));
  const dv = new DataView(out.buffer);
  dv.setInt16(70, code, le); // datatype
  dv.setInt16(72, 8 * size, le); // bitpix
  dv.setFloat32(108, 352, le); // vox_offset: header + the extension flag (extensions are not copied)
  dv.setFloat32(112, 1, le); // scl_slope: the values are what they are
  dv.setFloat32(116, 0, le); // scl_inter
  dv.setFloat32(124, calMax, le); // cal_max: masks and probabilities show 0..1
  dv.setFloat32(128, 0, le); // cal_min
  out.set([0x6e, 0x2b, 0x31, 0], 344); // magic "n+1": one file (the input may have been a .hdr/.img pair)
  // bytes 348..351 stay 0: no extensions
  if (code === DT_FLOAT32) for (let i = 0; i < n; i++) dv.setFloat32(352 + 4 * i, (data as Float32Array)[i], le);
  else if (code === DT_UINT16) for (let i = 0; i < n; i++) dv.setUint16(352 + 2 * i, data[i], le);
  else out.set(data as Uint8Array, 352);
  // mtime 0: the same voxels give the same bytes (shards, re-runs and queue redos compare equal)
  return gzip ? gzipSync(out, { mtime: 0 }) : out;
}

/** pixdim[1..3]: the voxel sizes along x, y, z, as nibabel's header.get_zooms() gives them. */
export function niftiSpacing(vol: Volume): [number, number, number] {
  const dv = new DataView(vol.header.buffer, vol.header.byteOffset, 348);
  return [1, 2, 3].map((i) => dv.getFloat32(76 + 4 * i, vol.littleEndian)) as [number, number, number];
}

/**
 * The header fields that place the voxels in space (pixdim, qform and sform with their codes), as text:
 * two files whose geometry strings differ are not the same grid (nnU-Net's NibabelIO compares affines).
 */
export function niftiGeometry(vol: Volume): string {
  const dv = new DataView(vol.header.buffer, vol.header.byteOffset, 348);
  const f = (o: number) => dv.getFloat32(o, vol.littleEndian);
  const pixdim = [0, 1, 2, 3].map((i) => f(76 + 4 * i));
  const codes = [dv.getInt16(252, vol.littleEndian), dv.getInt16(254, vol.littleEndian)];
  const quatern = [0, 1, 2, 3, 4, 5].map((i) => f(256 + 4 * i));
  const srow = Array.from({ length: 12 }, (_, i) => f(280 + 4 * i));
  return JSON.stringify({ pixdim, codes, quatern, srow });
}

/**
 * A little-endian NIfTI-1 header for a [nx, ny, nz] float32 volume with voxel sizes `spacing` (x, y, z) and
 * a 4 x 4 voxel-to-world `affine` (rows; default the diagonal of the spacing) as the sform, code 2 (aligned),
 * as nibabel writes a Nifti1Image made from an array and an affine.
 */
export function niftiVolume(dims: [number, number, number], spacing: readonly number[], affine?: readonly (readonly number[])[]): Volume {
  const h = new Uint8Array(348);
  const dv = new DataView(h.buffer);
  dv.setInt32(0, 348, true); // sizeof_hdr
  dv.setInt16(40, 3, true);
  for (let i = 0; i < 3; i++) dv.setInt16(42 + 2 * i, dims[i], true);
  for (let i = 3; i < 7; i++) dv.setInt16(42 + 2 * i, 1, true);
  dv.setInt16(70, DT_FLOAT32, true);
  dv.setInt16(72, 32, true);
  dv.setFloat32(76, 1, true); // qfac
  for (let i = 0; i < 3; i++) dv.setFloat32(80 + 4 * i, spacing[i], true);
  for (let i = 3; i < 7; i++) dv.setFloat32(80 + 4 * i, 1, true);
  dv.setFloat32(108, 352, true);
  dv.setFloat32(112, 1, true);
  h[123] = 2; // xyzt_units: millimetres
  dv.setInt16(254, 2, true); // sform_code: aligned
  const a = affine ?? [
    [spacing[0], 0, 0, 0],
    [0, spacing[1], 0, 0],
    [0, 0, spacing[2], 0],
  ];
  for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) dv.setFloat32(280 + 16 * r + 4 * c, a[r][c], true);
  h.set([0x6e, 0x2b, 0x31, 0], 344);
  return { dims: [...dims], data: new Float32Array(0), header: h, littleEndian: true };
}
