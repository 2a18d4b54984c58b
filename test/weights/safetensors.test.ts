import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseSafetensors, writeSafetensors, f16BitsToF32, f32ToF16Bits, SafetensorsError } from '../../src/weights/safetensors.js';

/** Assembles a file by hand so tests control every byte: the length field (possibly a lie),
 *  the header text (possibly not JSON) and the data section. */
function rawFile(header: string | object, data: ArrayLike<number> = [], headerLen?: number | bigint): Uint8Array {
  const h = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  return rawBytes(h, data, headerLen);
}
function rawBytes(h: Uint8Array, data: ArrayLike<number> = [], headerLen?: number | bigint): Uint8Array {
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen ?? h.length), true);
  out.set(h, 8);
  out.set(Array.from(data), 8 + h.length);
  return out;
}
const f32Bytes = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);
const u16Bytes = (xs: number[]) => new Uint8Array(new Uint16Array(xs).buffer); // host is LE, as the file is

// Hand-written f16 bit patterns and their exact values.
const F16_TABLE: [number, number][] = [
  [0x0000, 0],
  [0x8000, -0],
  [0x0001, 2 ** -24], // smallest subnormal
  [0x03ff, 1023 * 2 ** -24], // largest subnormal
  [0x0400, 2 ** -14], // smallest normal
  [0x3555, 0.333251953125],
  [0x3c00, 1],
  [0x3c01, 1 + 2 ** -10],
  [0xc000, -2],
  [0x7bff, 65504], // max
  [0xfbff, -65504],
  [0x7c00, Infinity],
  [0xfc00, -Infinity],
];

// ---

const roundTrip = suite('safetensors: round trip');

roundTrip('F32 [2, 3] and [4] with metadata: values, shapes, order, metadata', () => {
  const a = new Float32Array([1, -2.5, 3.25, 1e-30, -0, 123456.789]);
  const b = new Float32Array([Infinity, -Infinity, 0.1, 7]);
  const file = writeSafetensors({ zeta: { shape: [2, 3], data: a }, alpha: { shape: [4], data: b } }, { format: 'pt', note: 'hi' });
  const st = parseSafetensors(file, 'rt.safetensors');
  assert.equal([...st.tensors.keys()], ['zeta', 'alpha']); // header order, not sorted
  assert.equal(st.metadata, { format: 'pt', note: 'hi' });
  assert.equal(st.tensors.get('zeta')!.shape, [2, 3]);
  assert.is(st.tensors.get('zeta')!.dtype, 'F32');
  assert.equal(Array.from(st.getF32('zeta')), Array.from(a));
  assert.ok(Object.is(st.getF32('zeta')[4], -0));
  assert.equal(Array.from(st.getF32('alpha')), Array.from(b));
  assert.is(st.source, 'rt.safetensors');
});

roundTrip('writer: header padded with spaces to 8 bytes, data 8-aligned', () => {
  for (const name of ['a', 'ab', 'abc', 'abcd', 'abcde', 'abcdef', 'abcdefg', 'abcdefgh']) {
    const file = writeSafetensors({ [name]: { shape: [1], data: new Float32Array([1]) } });
    const n = Number(new DataView(file.buffer).getBigUint64(0, true));
    assert.is(n % 8, 0, name);
    assert.is(file.length, 8 + n + 4);
    const text = new TextDecoder().decode(file.subarray(8, 8 + n));
    assert.ok(/^\{.*\} *$/.test(text), text);
    assert.is(parseSafetensors(file).tensors.get(name)!.byteOffset, 8 + n);
  }
});

roundTrip('writer: no metadata -> no __metadata__ key; empty tensor [0, 3]', () => {
  const file = writeSafetensors({ e: { shape: [0, 3], data: new Float32Array(0) }, x: { shape: [], data: new Float32Array([5]) } });
  assert.not.match(new TextDecoder().decode(file), '__metadata__');
  const st = parseSafetensors(file);
  assert.equal(st.metadata, {});
  assert.is(st.getF32('e').length, 0);
  assert.equal(Array.from(st.getF32('x')), [5]);
});

roundTrip('writer: data length != product(shape) and reserved name are rejected', () => {
  assert.throws(() => writeSafetensors({ w: { shape: [2, 2], data: new Float32Array(3) } }), /"w".*\[2, 2\] holds 4 values but data has 3/);
  assert.throws(() => writeSafetensors({ __metadata__: { shape: [1], data: new Float32Array(1) } }), /reserved/);
});

roundTrip('F16 [13]: written bits match the hand-written table, read back exactly', () => {
  const values = F16_TABLE.map(([, v]) => v).concat([NaN]);
  const file = writeSafetensors({ h: { dtype: 'F16', shape: [values.length], data: new Float32Array(values) } });
  const st = parseSafetensors(file);
  const info = st.tensors.get('h')!;
  assert.is(info.dtype, 'F16');
  assert.is(info.byteLength, 2 * values.length);
  const dv = new DataView(file.buffer, info.byteOffset);
  F16_TABLE.forEach(([bits], i) => assert.is(dv.getUint16(2 * i, true), bits, `element ${i}`));
  const nanBits = dv.getUint16(2 * F16_TABLE.length, true);
  assert.is(nanBits & 0x7c00, 0x7c00);
  assert.ok((nanBits & 0x3ff) !== 0, 'NaN stays NaN');
  const back = st.getF32('h');
  F16_TABLE.forEach(([, v], i) => assert.ok(Object.is(back[i], v), `element ${i}: ${back[i]} vs ${v}`));
  assert.ok(Number.isNaN(back[F16_TABLE.length]));
});

roundTrip.run();

// ---

const f16 = suite('safetensors: f16 conversion');

f16('f16BitsToF32 matches the table, incl. subnormal 2^-24, 65504, inf, -0, nan', () => {
  for (const [bits, v] of F16_TABLE) assert.ok(Object.is(f16BitsToF32(bits), v), `0x${bits.toString(16)}`);
  for (const bits of [0x7e00, 0x7c01, 0xfe00, 0x7fff]) assert.ok(Number.isNaN(f16BitsToF32(bits)));
});

f16('all 65536 patterns: decode equals the textbook formula and re-encodes to itself', () => {
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    const ref = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
    const got = f16BitsToF32(h);
    assert.ok(Object.is(got, ref), `0x${h.toString(16)}: ${got} vs ${ref}`);
    if (!Number.isNaN(ref)) assert.is(f32ToF16Bits(got), h);
  }
});

f16('f32ToF16Bits rounds to nearest, ties to even', () => {
  const cases: [number, number][] = [
    [1 + 2 ** -11, 0x3c00], // tie between 0x3c00 and 0x3c01 -> even
    [1 + 3 * 2 ** -11, 0x3c02], // tie between 0x3c01 and 0x3c02 -> even
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
    [65519, 0x7bff], // below the tie with 65536
    [65520, 0x7c00], // tie -> even (= overflow to inf)
    [1e6, 0x7c00],
    [-1e6, 0xfc00],
    [2 ** -25, 0x0000], // tie between 0 and the smallest subnormal -> 0
    [-(2 ** -25), 0x8000],
    [1.5 * 2 ** -25, 0x0001],
    [3 * 2 ** -25, 0x0002], // tie between 1 and 2 units -> 2
    [2 ** -14 - 2 ** -25, 0x0400], // tie between largest subnormal and smallest normal -> even
    [1e-10, 0x0000],
    [0.1, 0x2e66],
    [-0, 0x8000],
  ];
  for (const [x, bits] of cases) assert.is(f32ToF16Bits(x), bits, `${x}`);
  assert.is(f32ToF16Bits(NaN) & 0x7e00, 0x7e00);
});

f16.run();

// ---

const bf16 = suite('safetensors: BF16 and F64 decoding');

bf16('BF16 [9] from hand-made bytes', () => {
  const bits = [0x3f80, 0xc049, 0x0001, 0x8000, 0x7f7f, 0x7f80, 0xff80, 0x7fc0, 0x3e80];
  const want = [1, -3.140625, 2 ** -133, -0, 3.3895313892515355e38, Infinity, -Infinity, NaN, 0.25];
  const st = parseSafetensors(rawFile({ b: { dtype: 'BF16', shape: [9], data_offsets: [0, 18] } }, u16Bytes(bits)));
  const got = st.getF32('b');
  want.forEach((v, i) => assert.ok(Object.is(got[i], v), `element ${i}: ${got[i]} vs ${v}`));
});

bf16('F64 [3] rounds to f32', () => {
  const st = parseSafetensors(rawFile({ d: { dtype: 'F64', shape: [3], data_offsets: [0, 24] } }, new Uint8Array(new Float64Array([0.1, -2, 1e300]).buffer)));
  assert.equal(Array.from(st.getF32('d')), [Math.fround(0.1), -2, Infinity]);
});

bf16.run();

// ---

const layout = suite('safetensors: layout tolerance');

layout('F32 tensor at an odd absolute offset (packed after a U8 [3])', () => {
  const data = [7, 8, 9, ...f32Bytes([1.5, -2, 3e-8])];
  const header = { u: { dtype: 'U8', shape: [3], data_offsets: [0, 3] }, f: { dtype: 'F32', shape: [3], data_offsets: [3, 15] } };
  const file = rawFile(header, data);
  for (const [bytes, what] of [
    [file, 'whole buffer'],
    [copyAtOffset(file, 1), 'subarray at byteOffset 1'],
    [copyAtOffset(file, 3), 'subarray at byteOffset 3'],
  ] as const) {
    const st = parseSafetensors(bytes);
    assert.ok(st.tensors.get('f')!.byteOffset % 4 !== 0 || bytes.byteOffset % 4 !== 0, what);
    assert.equal(Array.from(st.getF32('f')), [1.5, -2, Math.fround(3e-8)], what);
  }
  // F16 and BF16 at odd offsets go through the same DataView path.
  const h = rawFile({ u: { dtype: 'U8', shape: [1], data_offsets: [0, 1] }, h: { dtype: 'F16', shape: [2], data_offsets: [1, 5] } }, [
    0,
    ...u16Bytes([0x3c00, 0xc000]),
  ]);
  assert.equal(Array.from(parseSafetensors(h).getF32('h')), [1, -2]);
});

function copyAtOffset(src: Uint8Array, off: number): Uint8Array {
  const buf = new Uint8Array(src.length + off);
  buf.set(src, off);
  return buf.subarray(off);
}

layout('ArrayBuffer input; header padded with spaces; gaps between tensors', () => {
  const file = rawFile('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}     ', [0, 0, 0, 0, ...f32Bytes([42])]);
  const st = parseSafetensors(file.slice().buffer);
  assert.is(st.source, '<bytes>');
  assert.equal(Array.from(st.getF32('a')), [42]);
});

layout('Node Buffer input (slice() shares memory there): each tensor comes back alone', () => {
  const file = rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, f32Bytes([1, 2, 3]));
  const st = parseSafetensors(Buffer.from(file));
  assert.equal(Array.from(st.getF32('a')), [1]);
  assert.equal(Array.from(st.getF32('b')), [2, 3]);
});

layout('I64 num_batches_tracked is listed, not converted', () => {
  const data = [...f32Bytes([1, 2]), 5, 0, 0, 0, 0, 0, 0, 0];
  const header = {
    __metadata__: { format: 'pt' },
    'bn.weight': { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
    'bn.num_batches_tracked': { dtype: 'I64', shape: [], data_offsets: [8, 16] },
  };
  const st = parseSafetensors(rawFile(header, data), 'bn.safetensors');
  assert.equal(st.metadata, { format: 'pt' });
  const nbt = st.tensors.get('bn.num_batches_tracked')!;
  assert.equal({ dtype: nbt.dtype, shape: nbt.shape, byteLength: nbt.byteLength }, { dtype: 'I64', shape: [], byteLength: 8 });
  assert.throws(
    () => st.getF32('bn.num_batches_tracked'),
    (e: Error) => e instanceof SafetensorsError && /^bn\.safetensors: tensor "bn\.num_batches_tracked" is I64/.test(e.message),
  );
  assert.throws(() => st.getF32('nope'), /^bn\.safetensors: no tensor "nope"$/);
});

layout.run();

// ---

const errors = suite('safetensors: validation errors');

/** Asserts parse fails with a SafetensorsError whose message is one line starting with the source. */
function rejects(bytes: Uint8Array, re: RegExp) {
  let err: unknown;
  try {
    parseSafetensors(bytes, 'bad.safetensors');
  } catch (e) {
    err = e;
  }
  assert.instance(err, SafetensorsError);
  const msg = (err as Error).message;
  assert.ok(msg.startsWith('bad.safetensors: '), msg);
  assert.not.match(msg, '\n');
  assert.match(msg, re);
}

const F32_1 = { dtype: 'F32', shape: [1], data_offsets: [0, 4] };

errors('file shorter than 8 bytes (0, 5)', () => {
  rejects(new Uint8Array(0), /file is 0 bytes, shorter than the 8-byte/);
  rejects(new Uint8Array(5), /file is 5 bytes/);
});

errors('header length larger than the file (1000 vs 12)', () => {
  rejects(rawFile('{}', [0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 1000), /header length 1000 is larger than the 12 bytes/);
});

errors('header length beyond the 16 MiB bound (2^40, 200_000_000, 2^24 + 1)', () => {
  rejects(rawFile('{}', [], 2n ** 40n), /header length 256 \* 2\^32 \+ 0 exceeds the 16 MiB \(16777216-byte\) header limit \(the file is 10 bytes/);
  rejects(rawFile('{}', [], 200_000_000), /header length 200000000 exceeds the 16 MiB \(16777216-byte\) header limit/);
  // the README's number: one byte over 16 MiB is refused from the length field, before anything is decoded
  rejects(rawFile('{}', [], 2 ** 24 + 1), /header length 16777217 exceeds the 16 MiB/);
});

errors('header not UTF-8, not JSON, not an object', () => {
  rejects(rawBytes(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), /header is not valid UTF-8/);
  rejects(rawFile('{"a": '), /header is not valid JSON/);
  rejects(rawFile('[1, 2]'), /header must be a JSON object, found an array/);
  rejects(rawFile('null'), /found null/);
  rejects(rawFile('3'), /found number/);
});

errors('a header that is not JSON is reported by position, without quoting its bytes (another file may be behind the path)', () => {
  const bytes = rawFile('root:x:0:0:root:/root:/bin/bash');
  try {
    parseSafetensors(bytes, 'model.safetensors');
    assert.unreachable('accepted');
  } catch (e) {
    assert.instance(e, SafetensorsError);
    // V8's own message would be: Unexpected token 'r', "root:x:0:0"... is not valid JSON
    assert.is((e as Error).message, 'model.safetensors: header is not valid JSON');
  }
  try {
    parseSafetensors(rawFile('{"a": 1 "secret"}'), 'model.safetensors');
    assert.unreachable('accepted');
  } catch (e) {
    assert.is((e as Error).message, 'model.safetensors: header is not valid JSON (at character 8 of the header)');
  }
});

errors('metadata not an object of strings', () => {
  rejects(rawFile({ __metadata__: { format: 'pt', epoch: 3 } }), /__metadata__ value "epoch" is number, not a string/);
  rejects(rawFile({ __metadata__: ['x'] }), /__metadata__ must be an object/);
});

errors('tensor entry not an object', () => {
  rejects(rawFile({ w: 5 }), /tensor "w": entry must be an object/);
});

errors('unknown dtype names tensor and dtype (Q4, missing)', () => {
  rejects(rawFile({ 'enc.w': { ...F32_1, dtype: 'Q4' } }, [0, 0, 0, 0]), /tensor "enc\.w": unknown dtype "Q4"/);
  rejects(rawFile({ 'enc.w': { shape: [1], data_offsets: [0, 4] } }, [0, 0, 0, 0]), /tensor "enc\.w": unknown dtype nothing \(the field is missing\)/);
});

errors('shape not an array of non-negative integers ([-1], [1.5], "3", ["3"])', () => {
  for (const shape of [[-1], [1.5], '3', ['3']]) {
    rejects(rawFile({ 'x.w': { ...F32_1, shape } }, [0, 0, 0, 0]), /tensor "x\.w": shape must be an array of non-negative integers/);
  }
});

errors('data_offsets malformed ([4], [0, 4, 8], [4, 0], [-4, 0], missing)', () => {
  for (const data_offsets of [[4], [0, 4, 8], [4, 0], [-4, 0], undefined]) {
    rejects(rawFile({ 'x.w': { ...F32_1, data_offsets } }, [0, 0, 0, 0]), /tensor "x\.w": data_offsets must be \[begin, end\]/);
  }
});

errors('byte length != product(shape) * dtype size (the documented example)', () => {
  const header = { 'conv.weight': { dtype: 'F32', shape: [1, 32, 1, 1], data_offsets: [0, 100] } };
  rejects(
    rawFile(header, new Uint8Array(100)),
    /^bad\.safetensors: tensor "conv\.weight": data_offsets \[0, 100\] hold 100 bytes but F32 \[1, 32, 1, 1\] needs 128$/,
  );
});

errors('offsets past the end of the data section', () => {
  rejects(
    rawFile({ a: F32_1, b: { ...F32_1, data_offsets: [4, 8] } }, [0, 0, 0, 0, 0, 0]),
    /tensor "b": data_offsets \[4, 8\] run past the end of the 6-byte data section/,
  );
});

errors('overlapping tensors name both', () => {
  const header = { first: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, second: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } };
  rejects(rawFile(header, new Uint8Array(8)), /tensors "first" \[0, 8\] and "second" \[4, 8\] overlap/);
  // containment across a third tensor: [0, 12) holds [4, 8) and [8, 12)
  const nested = {
    big: { dtype: 'F32', shape: [3], data_offsets: [0, 12] },
    m: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
    n: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
  };
  rejects(rawFile(nested, new Uint8Array(12)), /"big" \[0, 12\] and "m" \[4, 8\] overlap/);
  // empty tensors overlap nothing
  const empty = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, z: { dtype: 'F32', shape: [0], data_offsets: [4, 4] } };
  assert.is(parseSafetensors(rawFile(empty, new Uint8Array(8))).tensors.size, 2);
});

errors('tensor names with newlines stay on one line (escaped)', () => {
  rejects(rawFile({ 'a\nb': { ...F32_1, dtype: 'X' } }, [0, 0, 0, 0]), /tensor "a\\nb"/);
});

errors.run();
