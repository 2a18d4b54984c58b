// Reader and writer for the safetensors format (https://github.com/huggingface/safetensors):
//   u64 LE header length N | N bytes of UTF-8 JSON header | data section.
// Browser-safe on purpose: no Node imports, only Uint8Array / DataView / TextDecoder.
import { InputError, WeightsError } from '../errors.js';
import { printable, quoted } from '../limits.js';

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

const DTYPE_SIZE: Record<DType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** absolute, in the file (not relative to the data section) */
  byteOffset: number;
  byteLength: number;
}

export class SafetensorsError extends WeightsError {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

export interface Safetensors {
  /** file name or '<bytes>', used in every error message */
  source: string;
  metadata: Record<string, string>;
  /** in header order */
  tensors: Map<string, TensorInfo>;
  bytes: Uint8Array;
  /** F32, F16, BF16 and F64 converted to a new Float32Array; other dtypes -> SafetensorsError naming the tensor and dtype. */
  getF32(name: string): Float32Array;
}

/** Most bytes of JSON header read, checked from the length field before anything is decoded. Real headers
 *  take about 100 bytes a tensor (a 1000-tensor model: 100 KB); JSON.parse of a 60 MB header of a million
 *  names takes seconds and a gigabyte. (The reference implementation allows 100 MB.) */
export const MAX_HEADER_BYTES = 16 * 2 ** 20;

// Every machine that runs WebGPU is little-endian, but the check is cheap and keeps the fast
// paths (typed-array views over copied bytes) honest.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Most dimensions a tensor may have (PyTorch's own limit is 64; real weights have at most 5). */
export const MAX_RANK = 64;

const q = (s: string) => quoted(s, 200); // quoted and escaped, so a message stays one short line
/** A header value as JSON (at most 200 characters), or "nothing" for a field that is missing. */
const shown = (v: unknown) => (v === undefined ? 'nothing (the field is missing)' : printable(JSON.stringify(v) ?? String(v), 200));
const fmtShape = (s: readonly number[]) => `[${s.slice(0, 8).join(', ')}${s.length > 8 ? `, ... (${s.length} dims)` : ''}]`;

/** What a file that is not safetensors is, from its first bytes: the hint for the error. */
function notSafetensors(bytes: Uint8Array): string | undefined {
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) {
    return 'this is a PyTorch checkpoint (zip format; or another zip archive), not a safetensors file: convert it with `unet convert`';
  }
  // pickle protocol 2..5 (torch.save's legacy format starts with one)
  if (bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5)
    return 'this is a PyTorch checkpoint (legacy pickle format), not a safetensors file: convert it with `unet convert`';
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'this is a PNG image, not a safetensors file';
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'this is a JPEG image, not a safetensors file';
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return 'this is a gzip file, not a safetensors file';
  return undefined;
}
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

export function parseSafetensors(input: Uint8Array | ArrayBuffer, source = '<bytes>'): Safetensors {
  if (!(input instanceof Uint8Array || input instanceof ArrayBuffer)) {
    throw new InputError(
      `parseSafetensors: expected a Uint8Array or an ArrayBuffer, found ${input === null ? 'null' : Array.isArray(input) ? 'an array' : typeof input}`,
    );
  }
  if (typeof source !== 'string') throw new InputError(`parseSafetensors: source must be a string, found ${typeof source}`);
  // A plain Uint8Array view even for Node's Buffer, whose slice() shares memory instead of copying.
  const bytes = input instanceof Uint8Array ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength) : new Uint8Array(input);
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${source}: ${msg}`);
  };

  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, shorter than the 8-byte header length field`);
  // Until the header is known to be JSON, a failure may mean another kind of file: say which.
  const failHeader = (msg: string): never => fail(notSafetensors(bytes) ?? msg);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // u64 read as two u32 halves: a BigInt round trip would work too, but this keeps the bound
  // check exact without converting a possibly huge value to a lossy number first.
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const headerLen = hi * 2 ** 32 + lo;
  const rest = bytes.length - 8;
  if (hi !== 0 || headerLen > MAX_HEADER_BYTES) {
    failHeader(
      `header length ${hi === 0 ? headerLen : `${hi} * 2^32 + ${lo}`} exceeds the 16 MiB (${MAX_HEADER_BYTES}-byte) header limit (the file is ${bytes.length} bytes; real headers take about 100 bytes a tensor)`,
    );
  }
  if (headerLen > rest) failHeader(`header length ${headerLen} is larger than the ${rest} bytes that follow the length field`);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    return failHeader(`header is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    // the position, never the text: V8's message quotes the bytes it read, and they may be another file's
    const at = /position (\d+)/.exec((e as Error).message)?.[1];
    return failHeader(`header is not valid JSON${at !== undefined ? ` (at character ${at} of the header)` : ''}`);
  }
  if (!isPlainObject(header)) {
    failHeader(`header must be a JSON object, found ${header === null ? 'null' : Array.isArray(header) ? 'an array' : typeof header}`);
  }
  const hdr = header as Record<string, unknown>;

  const metadata: Record<string, string> = {};
  const rawMeta = hdr.__metadata__;
  // null is what serde writes for a None metadata field, so it is read as "no metadata".
  if (rawMeta !== undefined && rawMeta !== null) {
    if (!isPlainObject(rawMeta)) fail(`__metadata__ must be an object of strings`);
    for (const [k, v] of Object.entries(rawMeta as Record<string, unknown>)) {
      if (typeof v !== 'string') fail(`__metadata__ value ${q(k)} is ${typeof v === 'object' ? shown(v) : typeof v}, not a string`);
      metadata[k] = v as string;
    }
  }

  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  // Note: JSON.parse lists integer-like keys ("0", "1") first, so a file whose tensors are named
  // by bare integers comes back in numeric rather than header order. No real state_dict does that.
  const tensors = new Map<string, TensorInfo>();
  const ranges: { name: string; begin: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(hdr)) {
    if (name === '__metadata__') continue;
    const where = `tensor ${q(name)}`;
    if (!isPlainObject(entry)) fail(`${where}: entry must be an object with dtype, shape and data_offsets`);
    const e = entry as Record<string, unknown>;
    const dtype = e.dtype;
    if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_SIZE, dtype)) {
      fail(`${where}: unknown dtype ${shown(dtype)} (known: ${Object.keys(DTYPE_SIZE).join(', ')})`);
    }
    const dt = dtype as DType;
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      fail(`${where}: shape must be an array of non-negative integers, found ${shown(shape)}`);
    }
    if ((shape as number[]).length > MAX_RANK) fail(`${where}: shape has ${(shape as number[]).length} dimensions, more than ${MAX_RANK}`);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isCount) || offs[0] > offs[1]) {
      fail(`${where}: data_offsets must be [begin, end] with 0 <= begin <= end, found ${shown(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    const dims = shape as number[];
    const need = dims.reduce((a, b) => a * b, 1) * DTYPE_SIZE[dt];
    if (end - begin !== need) {
      fail(`${where}: data_offsets ${fmtShape([begin, end])} hold ${end - begin} bytes but ${dt} ${fmtShape(dims)} needs ${need}`);
    }
    if (end > dataLen) {
      fail(`${where}: data_offsets ${fmtShape([begin, end])} run past the end of the ${dataLen}-byte data section`);
    }
    tensors.set(name, { name, dtype: dt, shape: [...dims], byteOffset: dataStart + begin, byteLength: end - begin });
    // Empty tensors occupy no bytes, so they cannot overlap anything.
    if (end > begin) ranges.push({ name, begin, end });
  }

  // Gaps between tensors are tolerated (the reference writer never makes them, but they are
  // harmless); overlaps are not, since they mean two tensors alias the same bytes.
  ranges.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let last: (typeof ranges)[number] | undefined;
  for (const r of ranges) {
    if (last && r.begin < last.end) {
      fail(`tensors ${q(last.name)} ${fmtShape([last.begin, last.end])} and ${q(r.name)} ${fmtShape([r.begin, r.end])} overlap`);
    }
    if (!last || r.end > last.end) last = r;
  }

  const getF32 = (name: string): Float32Array => {
    const info = tensors.get(name);
    if (!info) return fail(`no tensor ${q(name)}`);
    return decodeF32(bytes, info, fail);
  };
  return { source, metadata, tensors, bytes, getF32 };
}

/** Copies the tensor's bytes into a fresh (hence aligned) buffer: the tensor may start at any
 *  offset, and typed-array views over misaligned offsets throw. */
function copyOut(bytes: Uint8Array, info: TensorInfo): ArrayBuffer {
  const out = new Uint8Array(info.byteLength);
  out.set(bytes.subarray(info.byteOffset, info.byteOffset + info.byteLength));
  return out.buffer;
}

function decodeF32(bytes: Uint8Array, info: TensorInfo, fail: (m: string) => never): Float32Array {
  const n = info.byteLength / DTYPE_SIZE[info.dtype];
  const dv = new DataView(bytes.buffer, bytes.byteOffset + info.byteOffset, info.byteLength);
  switch (info.dtype) {
    case 'F32': {
      if (LITTLE_ENDIAN) return new Float32Array(copyOut(bytes, info));
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
      return out;
    }
    case 'F16': {
      const table = f16Table();
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = table[dv.getUint16(2 * i, true)];
      return out;
    }
    case 'BF16': {
      // bf16 is the top half of an f32, so widening the bits is exact (NaN payloads included).
      const bits = new Uint32Array(n);
      for (let i = 0; i < n; i++) bits[i] = dv.getUint16(2 * i, true) << 16;
      return new Float32Array(bits.buffer);
    }
    case 'F64': {
      // Rounds to nearest f32; magnitudes beyond f32 range become +-Infinity.
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true);
      return out;
    }
    default:
      return fail(`tensor ${q(info.name)} is ${info.dtype}; only F32, F16, BF16 and F64 convert to f32`);
  }
}

// ---------------------------------------------------------------------------------------------
// f16 <-> f32

let F16_TABLE: Float32Array | undefined;
/** All 65536 halves decoded once (256 KiB): faster than per-element branching, and built from
 *  bits so NaN payloads survive. */
function f16Table(): Float32Array {
  if (F16_TABLE) return F16_TABLE;
  const f = new Float32Array(65536);
  const u = new Uint32Array(f.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) {
      f[h] = (sign ? -mant : mant) * 2 ** -24; // subnormal (and +-0): exact in f32
    } else if (exp === 31) {
      u[h] = (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf / NaN with payload
    } else {
      u[h] = (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0; // rebias 15 -> 127
    }
  }
  return (F16_TABLE = f);
}

/** Exact value of the half with bit pattern `h` (0..65535). */
export function f16BitsToF32(h: number): number {
  return f16Table()[h & 0xffff];
}

const SCRATCH_F = new Float32Array(1);
const SCRATCH_U = new Uint32Array(SCRATCH_F.buffer);

/** Bit pattern of the half nearest to `x` (first rounded to f32), ties to even; overflow -> inf. */
export function f32ToF16Bits(x: number): number {
  SCRATCH_F[0] = x;
  return f32BitsToF16Bits(SCRATCH_U[0]);
}

function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0); // keep NaN quiet
  if (exp >= 143) return sign | 0x7c00; // >= 2^16: beyond any rounding to 65504
  if (exp >= 113) {
    // Normal half. A carry out of the mantissa bumps the exponent, which is exactly right
    // (and turns 65520.. into inf).
    let h = ((exp - 112) << 10) | (mant >>> 13);
    const r = mant & 0x1fff;
    if (r > 0x1000 || (r === 0x1000 && h & 1)) h++;
    return sign | h;
  }
  // Subnormal half: the value in units of 2^-24 is (1.mant) * 2^(exp-126). shift >= 25 leaves
  // less than half a unit, which rounds to zero (including the tie at exactly 2^-25).
  const shift = 126 - exp;
  if (shift >= 25) return sign;
  const m = mant | 0x800000;
  let h = m >>> shift;
  const r = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (r > half || (r === half && h & 1)) h++;
  return sign | h;
}

// ---------------------------------------------------------------------------------------------
// writer

export interface TensorToWrite {
  /** default F32; F16 converts with round-to-nearest-even */
  dtype?: 'F32' | 'F16';
  shape: number[];
  data: Float32Array;
}

export function writeSafetensors(tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Uint8Array {
  const raw = Object.entries(tensors).map(([name, t]) => {
    const dtype = t.dtype ?? 'F32';
    const fail = (msg: string): never => {
      throw new SafetensorsError(`<write>: tensor ${q(name)}: ${msg}`);
    };
    if (dtype !== 'F32' && dtype !== 'F16') fail(`cannot write dtype ${JSON.stringify(dtype)}`);
    if (!t.shape.every(isCount)) fail(`shape ${JSON.stringify(t.shape)} is not non-negative integers`);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (numel !== t.data.length) fail(`shape ${fmtShape(t.shape)} holds ${numel} values but data has ${t.data.length}`);
    return { name, dtype, shape: t.shape, data: dtype === 'F32' ? f32LittleEndian(t.data) : f16LittleEndian(t.data) };
  });
  return writeSafetensorsBytes(raw, metadata);
}

/** A tensor already encoded: `data` holds its elements, contiguous and little-endian. */
export interface RawTensorToWrite {
  name: string;
  dtype: DType;
  shape: number[];
  data: Uint8Array;
}

/** Writes tensors of any dtype, in the order given. Each tensor's byte length must be shape x dtype size. */
export function writeSafetensorsBytes(tensors: readonly RawTensorToWrite[], metadata?: Record<string, string>): Uint8Array {
  const fail = (msg: string): never => {
    throw new SafetensorsError(`<write>: ${msg}`);
  };
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  let offset = 0;
  for (const t of tensors) {
    if (t.name === '__metadata__') fail(`"__metadata__" is reserved and cannot name a tensor`);
    if (!Object.hasOwn(DTYPE_SIZE, t.dtype)) fail(`tensor ${q(t.name)}: cannot write dtype ${JSON.stringify(t.dtype)}`);
    if (!t.shape.every(isCount)) fail(`tensor ${q(t.name)}: shape ${JSON.stringify(t.shape)} is not non-negative integers`);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const len = numel * DTYPE_SIZE[t.dtype];
    if (len !== t.data.byteLength) fail(`tensor ${q(t.name)}: ${t.dtype} ${fmtShape(t.shape)} needs ${len} bytes but data has ${t.data.byteLength}`);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + len] };
    offset += len;
  }

  let json = new TextEncoder().encode(JSON.stringify(header));
  // Pad so the data section starts 8-byte aligned, as the reference writer does; readers that
  // map the file can then view F64/I64 tensors in place.
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }

  const out = new Uint8Array(8 + json.length + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, json.length, true);
  dv.setUint32(4, 0, true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const t of tensors) {
    out.set(t.data, pos);
    pos += t.data.byteLength;
  }
  return out;
}

function f32LittleEndian(data: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) dv.setFloat32(4 * i, data[i], true);
  return out;
}

function f16LittleEndian(data: Float32Array): Uint8Array {
  const out = new Uint8Array(2 * data.length);
  const dv = new DataView(out.buffer);
  // A Float32Array's byteOffset is always a multiple of 4, so this view is legal.
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  for (let i = 0; i < data.length; i++) dv.setUint16(2 * i, f32BitsToF16Bits(bits[i]), true);
  return out;
}
