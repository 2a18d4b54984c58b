// NIfTI-1: reading (both byte orders, gzip, scaling), slicing along each axis, and the mask writer
// keeping the input's header (dims, voxel sizes, affine) with only the data type changed.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gzipSync } from 'node:zlib';
import * as nifti from 'nifti-reader-js';
import { forEachSliceVoxel, readNifti, sliceGeometry, writeNifti, NiftiError } from '../../src/io/nifti.js';
import { DESCRIP, PIXDIM, SROW, makeNifti } from './makeNifti.js';
import { LimitError } from '../../src/limits.js';
import { concat, gzipWrap, niftiHeader, zerosDeflateRaw } from '../hostile.js';

const dims: [number, number, number] = [4, 3, 2];
const values = Array.from({ length: 24 }, (_, i) => i * 10 - 50);
const Nii = suite('io: NIfTI');

Nii('reads int16 little- and big-endian, float32, gzip; applies scl_slope / scl_inter', () => {
  for (const littleEndian of [true, false]) {
    const v = readNifti(makeNifti({ dims, datatype: 4, values, littleEndian }));
    assert.equal(v.dims, dims);
    assert.equal([...v.data], values);
    assert.is(v.littleEndian, littleEndian);
  }
  const f = readNifti(gzipSync(makeNifti({ dims, datatype: 16, values: values.map((x) => x / 4) })));
  assert.equal(
    [...f.data],
    values.map((x) => x / 4),
  );
  const s = readNifti(makeNifti({ dims, datatype: 4, values, sclSlope: 2, sclInter: 1 }));
  assert.equal(
    [...s.data],
    values.map((x) => 2 * x + 1),
  );
});

Nii('slices along each axis: width is the first remaining axis, height the second', () => {
  assert.equal(sliceGeometry(dims, 2), { width: 4, height: 3, count: 2 });
  assert.equal(sliceGeometry(dims, 1), { width: 4, height: 2, count: 3 });
  assert.equal(sliceGeometry(dims, 0), { width: 3, height: 2, count: 4 });
  const seen: number[][] = [];
  forEachSliceVoxel(dims, 0, 1, (p, v) => seen.push([p, v]));
  // voxel (x=1, y, z) = 1 + 4 y + 12 z; pixel = y + 3 z
  assert.equal(seen, [
    [0, 1],
    [1, 5],
    [2, 9],
    [3, 13],
    [4, 17],
    [5, 21],
  ]);
  const all = new Set<number>();
  for (let k = 0; k < 3; k++) forEachSliceVoxel(dims, 1, k, (_, v) => all.add(v));
  assert.is(all.size, 24);
});

Nii('the mask keeps the header: dims, pixdim, qform / sform affine, description, byte order', () => {
  for (const le of [true, false]) {
    const vol = readNifti(makeNifti({ dims, datatype: 4, values, littleEndian: le, sclSlope: 3 }));
    const mask = Uint8Array.from(values, (x) => (x > 0 ? 1 : 0));
    for (const gz of [false, true]) {
      const bytes = writeNifti(vol, mask, gz);
      let raw = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
      assert.is(nifti.isCompressed(raw), gz);
      if (gz) raw = nifti.decompress(raw) as ArrayBuffer;
      const h = nifti.readHeader(raw) as nifti.NIFTI1;
      assert.is(h.littleEndian, le);
      assert.equal(h.dims.slice(0, 4), [3, ...dims]);
      assert.is(h.datatypeCode, 2);
      assert.is(h.numBitsPerVoxel, 8);
      assert.equal(
        h.pixDims.slice(1, 4).map((p) => Math.fround(p)),
        PIXDIM.map(Math.fround),
      );
      assert.equal(
        h.affine.slice(0, 3).map((r) => r.map(Math.fround)),
        SROW.map((r) => r.map(Math.fround)),
      );
      assert.is(h.qform_code, 1);
      assert.is(h.sform_code, 1);
      assert.is(h.description, DESCRIP);
      assert.is(h.scl_slope, 1);
      assert.equal([...new Uint8Array(nifti.readImage(h, raw))], [...mask]);
      // and the original header bytes are unchanged outside the patched fields
      const patched = new Set([70, 71, 72, 73, ...range(108, 120), ...range(124, 132)]);
      const orig = vol.header;
      const got = new Uint8Array(raw, 0, 348);
      const diff = range(0, 348).filter((i) => !patched.has(i) && orig[i] !== got[i]);
      assert.equal(diff, []);
    }
  }
  const p = readNifti(
    writeNifti(
      readNifti(makeNifti({ dims, datatype: 2, values: values.map((x) => x + 50) })),
      Float32Array.from(values, (x) => x / 100),
      false,
    ),
  );
  assert.equal(
    [...p.data],
    values.map((x) => Math.fround(x / 100)),
  );
});

Nii('bad input: truncated, not NIfTI, 4-D', () => {
  const good = makeNifti({ dims, datatype: 4, values });
  assert.throws(
    () => readNifti(good.subarray(0, 360)),
    (e: Error) => e instanceof NiftiError && /^truncated: 24 voxels need 48 bytes from byte 352/.test(e.message),
  );
  assert.throws(() => readNifti(gzipSync(good).subarray(0, 30)), /not a readable gzip file/);
  assert.throws(() => readNifti(new Uint8Array(400)), /not a NIfTI-1 file/);
  const four = good.slice();
  new DataView(four.buffer).setInt16(40, 4, true);
  new DataView(four.buffer).setInt16(48, 2, true);
  assert.throws(() => readNifti(four), /is 4-D \(4 x 3 x 2 x 2\): only 3-D volumes are segmented/);
});

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a }, (_, i) => a + i);
}

Nii('limits: dims checked from the header, a gzip stream inflated only as far as the header needs', () => {
  assert.throws(
    () => readNifti(concat(niftiHeader([10, -5, 2]), new Uint8Array(200))),
    (e: Error) => e instanceof NiftiError && /dim\[2\] is -5/.test(e.message),
  );
  assert.throws(() => readNifti(concat(niftiHeader([0, 5, 2]), new Uint8Array(200))), /dim\[1\] is 0/);
  // 8 x 8 x 2 uint8 voxels, then a second gzip member of 512 MiB of zeros: the reader stops after 480 bytes
  const bomb = concat(gzipSync(concat(niftiHeader([8, 8, 2]), new Uint8Array(128).fill(3))), gzipWrap(zerosDeflateRaw(512)));
  const t0 = performance.now();
  const v = readNifti(bomb);
  assert.equal([...v.dims], [8, 8, 2]);
  assert.is(v.data[127], 3);
  assert.ok(performance.now() - t0 < 1000, `${performance.now() - t0} ms`);
  // limits from the API: maxVoxels 100 refuses 128 voxels; maxDecompressedBytes 400 refuses 480 bytes
  assert.throws(
    () => readNifti(bomb, { limits: { maxVoxels: 100 } }),
    (e: Error) => e instanceof LimitError && /8 x 8 x 2 = 128 voxels exceeds maxVoxels 100 \(raise limits\.maxVoxels\)$/.test(e.message),
  );
  assert.throws(() => readNifti(bomb, { limits: { maxDecompressedBytes: 400 } }), /inflates to 480 bytes exceeds maxDecompressedBytes 400 bytes/);
});

Nii.run();
