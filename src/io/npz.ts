// NumPy's .npz (np.savez_compressed): a zip of .npy files, one per array, deflated. What nnUNetv2_predict
// --save_probabilities writes as <case>.npz with `probabilities` [classes, z, y, x] float32; read back with
// np.load(path)['probabilities']. Browser-safe: fflate, no Node imports.
import { zipSync } from 'fflate';
import { InputError } from '../errors.js';

/** One array: float32 or uint8 values, C order. */
export interface NpyArray {
  data: Float32Array | Uint8Array;
  shape: readonly number[];
}

/**
 * An .npy file, format 1.0: the magic, the version, a little-endian uint16 header length, the header (a
 * Python dict literal padded with spaces to a 64-byte boundary, ending in a newline), then the values
 * (little-endian; the platforms WebGPU runs on are little-endian, as typed arrays then are).
 */
export function encodeNpy(a: NpyArray): Uint8Array {
  const n = a.shape.reduce((x, y) => x * y, 1);
  if (a.data.length !== n) throw new InputError(`npy: ${a.data.length} values for shape [${a.shape}]`);
  const descr = a.data instanceof Float32Array ? '<f4' : '|u1';
  const shape = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = `${header.padEnd(total - 10 - 1, ' ')}\n`;
  const out = new Uint8Array(total + a.data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength), total);
  return out;
}

/** np.savez_compressed(file, **arrays): `NAME.npy` entries, deflated. */
export function encodeNpz(arrays: Record<string, NpyArray>): Uint8Array {
  const files: Record<string, [Uint8Array, { level: 6 }]> = {};
  for (const [name, a] of Object.entries(arrays)) files[`${name}.npy`] = [encodeNpy(a), { level: 6 }];
  return zipSync(files);
}
