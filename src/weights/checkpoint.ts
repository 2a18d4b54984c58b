// Reads PyTorch checkpoints (torch.save) without Python and without running their pickles:
//  - zip format (torch >= 1.6): `<dir>/data.pkl` plus one entry `<dir>/data/<key>` per storage;
//  - legacy format (torch < 1.6, or _use_new_zipfile_serialization=False): pickles in a row (magic
//    number, protocol version, sys_info, the object), the sorted storage keys, then each storage as an
//    int64 element count followed by its raw bytes.
// Tensors come out contiguous, little-endian, in their own dtype, ready for a safetensors file.
// Browser-safe: no Node imports (fflate is plain JS).
import { unzipSync } from 'fflate';
import { WeightsError } from '../errors.js';
import { exceeds, formatBytes, printable, quoted, resolveLimits, type Limits } from '../limits.js';
import { type RawTensorToWrite, writeSafetensorsBytes } from './safetensors.js';
import { PickleError, PyDict, PyStorage, PyTensor, STORAGE_DTYPES, describe, unpickle, type PyValue } from './pickle.js';

export class CheckpointError extends WeightsError {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

export const ELEMENT_SIZE: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export interface Checkpoint {
  format: 'zip' | 'legacy';
  /** the unpickled object */
  root: PyValue;
  /** the bytes of a storage, by key */
  storage(key: string): Uint8Array;
  /** reads the storages of these keys at once (a zip is walked once, not once per key) */
  load(keys: readonly string[]): void;
  limits: Limits;
}

export interface ReadCheckpointOptions {
  /** maxDecompressedBytes (zip entries read, in total), maxWeightsBytes (the tensors converted, in
   *  total) and the maxPickle* limits apply (defaults: DEFAULT_LIMITS) */
  limits?: Partial<Limits>;
}

export interface CheckpointTensor {
  name: string;
  dtype: string;
  shape: number[];
  /** contiguous little-endian elements */
  data: Uint8Array;
}

export interface StateDict {
  tensors: CheckpointTensor[];
  /** the key of the wrapping dict the state_dict was found under, if any */
  key?: string;
  /** what was changed or left out, one line each */
  notes: string[];
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

/** Reads the checkpoint's structure; `source` (the file name) starts every error message. */
export function readCheckpoint(bytes: Uint8Array, source: string, options: ReadCheckpointOptions = {}): Checkpoint {
  const fail = (m: string): never => {
    throw new CheckpointError(`${source}: ${m}`);
  };
  const limits = resolveLimits(options.limits);
  try {
    if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return readZip(bytes, limits, fail);
    if (bytes.length >= 2 && bytes[0] === 0x80) return readLegacy(bytes, limits, fail);
  } catch (e) {
    if (e instanceof PickleError) fail(e.message);
    throw e;
  }
  const hint =
    bytes.length >= 262 && new TextDecoder('latin1').decode(bytes.subarray(257, 262)) === 'ustar'
      ? ' (a tar archive: the torch < 0.4 format is not supported)'
      : '';
  return fail(`not a PyTorch checkpoint: neither a zip archive nor a pickle${hint}`);
}

function storageRef(pid: PyValue, fail: (m: string) => never): PyStorage {
  // ('storage', storage_type, key, location, numel[, view_metadata])
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5)
    return fail(`unexpected persistent id (${describe(pid)}), expected ('storage', type, key, location, numel)`);
  const [, type, key, , numel, view] = pid;
  const typeName = type && typeof type === 'object' && 'name' in type ? String(type.name) : '';
  const dtype = Object.hasOwn(STORAGE_DTYPES, typeName) ? STORAGE_DTYPES[typeName] : undefined;
  if (!dtype) return fail(`unsupported storage type ${typeName || describe(type)}`);
  if (typeof key !== 'string' || typeof numel !== 'number') {
    return fail(`malformed storage reference (key ${typeof key === 'string' ? JSON.stringify(key) : describe(key)}, size ${describe(numel)})`);
  }
  if (Array.isArray(view) && view.length === 3 && typeof view[1] === 'number') return new PyStorage(key, dtype, numel, view[1]);
  return new PyStorage(key, dtype, numel);
}

interface ZipEntry {
  name: string;
  /** compressed and declared inflated sizes */
  size: number;
  originalSize: number;
}

/**
 * The archive is walked once for its entry list, data.pkl and byteorder; the storages are read later,
 * only those the state_dict's tensors use (load), in one more walk. Every entry read counts its
 * declared size against maxDecompressedBytes before fflate allocates it (fflate inflates into a buffer
 * of exactly that size, so a lying size field cannot make it grow).
 */
function readZip(bytes: Uint8Array, limits: Limits, fail: (m: string) => never): Checkpoint {
  const entries = new Map<string, ZipEntry>();
  let readBytes = 0;
  const take = (e: ZipEntry): boolean => {
    readBytes += e.originalSize;
    if (readBytes > limits.maxDecompressedBytes) {
      fail(
        exceeds(
          `zip entries inflating to ${formatBytes(readBytes)} (entry ${quoted(e.name)} declares ${formatBytes(e.originalSize)})`,
          'maxDecompressedBytes',
          limits,
        ).message,
      );
    }
    return true;
  };
  // a corrupt entry count can make fflate walk millions of empty entries (minutes): every central
  // directory entry takes at least 46 bytes, so more entries than that is corruption
  const maxEntries = Math.floor(bytes.length / 46);
  const unzip = (want: (e: ZipEntry) => boolean): Record<string, Uint8Array> => {
    let seen = 0;
    try {
      return unzipSync(bytes, {
        filter: (f) => {
          if (++seen > maxEntries) throw new Error(`the archive claims more entries than its ${bytes.length} bytes can hold`);
          const e = { name: f.name, size: f.size, originalSize: f.compression === 0 ? f.size : f.originalSize };
          if (!entries.has(f.name)) entries.set(f.name, e);
          return want(e);
        },
      });
    } catch (e) {
      if (e instanceof CheckpointError) throw e;
      return fail(`not a readable zip archive (truncated or corrupt: ${e instanceof Error ? e.message : String(e)})`);
    }
  };
  const files = unzip((e) => /(^|\/)(data\.pkl|byteorder)$/.test(e.name) && take(e));
  const names = [...entries.keys()];
  const pkl = names.find((n) => /^[^/]+\/data\.pkl$/.test(n)) ?? names.find((n) => n.endsWith('data.pkl'));
  if (!pkl) return fail(`zip archive without data.pkl: not a torch.save checkpoint`);
  const dir = pkl.slice(0, -'data.pkl'.length);
  const order = files[`${dir}byteorder`];
  if (order && new TextDecoder().decode(order).trim() !== 'little') fail(`big-endian checkpoint: not supported`);
  const { value } = unpickle(files[pkl], { limits, persistentLoad: (pid) => storageRef(pid, fail) });
  const storages = new Map<string, Uint8Array>();
  const load = (keys: readonly string[]): void => {
    const wanted = new Set(keys.filter((k) => !storages.has(k)).map((k) => `${dir}data/${k}`));
    if (wanted.size === 0) return;
    const got = unzip((e) => wanted.has(e.name) && take(e));
    for (const [name, data] of Object.entries(got)) storages.set(name.slice(dir.length + 'data/'.length), data);
  };
  return {
    format: 'zip',
    root: value,
    limits,
    load,
    storage: (key) => {
      load([key]);
      return storages.get(key) ?? fail(`storage ${quoted(key)} is missing from the archive (data/${quoted(key)})`);
    },
  };
}

function readLegacy(bytes: Uint8Array, limits: Limits, fail: (m: string) => never): Checkpoint {
  let r = unpickle(bytes, { limits });
  if (r.value !== LEGACY_MAGIC) return fail(`a pickle, but not a PyTorch checkpoint (no torch.save magic number)`);
  r = unpickle(bytes, { offset: r.end, limits });
  if (r.value !== LEGACY_PROTOCOL)
    fail(
      `legacy checkpoint protocol ${typeof r.value === 'number' || typeof r.value === 'bigint' ? String(r.value) : `(a ${describe(r.value)})`}, expected ${LEGACY_PROTOCOL}`,
    );
  r = unpickle(bytes, { offset: r.end, limits }); // sys_info: {protocol_version, little_endian, type_sizes}
  if (r.value instanceof PyDict && r.value.map.get('little_endian') === false) fail(`big-endian checkpoint: not supported`);
  const refs = new Map<string, PyStorage>();
  r = unpickle(bytes, {
    offset: r.end,
    limits,
    persistentLoad: (pid) => {
      const s = storageRef(pid, fail);
      refs.set(s.key, s);
      return s;
    },
  });
  const root = r.value;
  r = unpickle(bytes, { offset: r.end, limits });
  const keys = r.value;
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) return fail(`legacy checkpoint: the storage key list is missing`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const storages = new Map<string, Uint8Array>();
  let pos = r.end;
  for (const key of keys as string[]) {
    const ref = refs.get(key);
    if (pos + 8 > bytes.length) fail(`truncated: storage ${quoted(key)} is missing (the file ends at byte ${bytes.length})`);
    const numel = Number(dv.getBigInt64(pos, true));
    const size = ELEMENT_SIZE[ref?.dtype ?? 'U8'];
    const end = pos + 8 + numel * size;
    if (numel < 0 || end > bytes.length)
      fail(`truncated: storage ${quoted(key)} needs ${numel * size} bytes at byte ${pos + 8}, the file ends at ${bytes.length}`);
    storages.set(key, bytes.subarray(pos + 8, end));
    pos = end;
  }
  return {
    format: 'legacy',
    root,
    limits,
    load: () => {},
    storage: (key) => storages.get(key) ?? fail(`storage ${quoted(key)} is missing from the file`),
  };
}

/** `[1, 2, 3]`, or its first 8 entries and a count: a hostile shape can hold millions. */
const dims = (a: readonly number[]) => `[${a.slice(0, 8).join(', ')}${a.length > 8 ? `, ... (${a.length} dims)` : ''}]`;

/** Checks a view against its storage's dtype; returns its element size and count (no storage read). */
function viewSize(t: PyTensor, name: string, fail: (m: string) => never): { size: number; numel: number } {
  const s = t.storage;
  if (!(s instanceof PyStorage)) return fail(`tensor ${quoted(name)} has no storage`);
  if (t.shape.some((d) => d < 0)) fail(`tensor ${quoted(name)}: negative size in shape ${dims(t.shape)}`);
  if (t.shape.length !== t.stride.length) fail(`tensor ${quoted(name)}: shape ${dims(t.shape)} and stride ${dims(t.stride)} differ in length`);
  return { size: ELEMENT_SIZE[s.dtype], numel: t.shape.reduce((a, b) => a * b, 1) };
}

/** The storage elements a strided view covers, copied in row-major order. */
export function materialize(ckpt: Checkpoint, t: PyTensor, name: string, fail: (m: string) => never): CheckpointTensor {
  const { size, numel } = viewSize(t, name, fail);
  const s = t.storage as PyStorage;
  if (numel === 0) return { name, dtype: s.dtype, shape: t.shape, data: new Uint8Array(0) };
  const src = ckpt.storage(s.key);
  const first = s.elementOffset + t.offset;
  const last = first + t.shape.reduce((a, d, i) => a + (d - 1) * t.stride[i], 0);
  if (t.stride.some((v) => v < 0) || first < 0 || (last + 1) * size > src.length) {
    fail(`tensor ${quoted(name)}: view ${dims(t.shape)} stride ${dims(t.stride)} at offset ${first} runs past its storage of ${src.length / size} elements`);
  }
  // A view with zero strides (an expand()) may be larger than its storage; a hostile one could ask for
  // gigabytes from a few bytes, and take minutes to copy. Real state_dicts hold no such views. (The
  // views of a state_dict are also bounded in total: extractStateDict, maxWeightsBytes.)
  if (numel * size > Math.max(2 ** 20, 64 * src.length) || numel * size > 2 ** 31) {
    fail(`tensor ${quoted(name)}: view ${dims(t.shape)} stride ${dims(t.stride)} would take ${numel * size} bytes from a storage of ${src.length}: refused`);
  }
  const out = new Uint8Array(numel * size);
  // Walk the outer dimensions with an index counter; the innermost one is copied as a run when its
  // stride is 1 (the usual case: a contiguous tensor is a single run).
  const nd = t.shape.length;
  const inner = nd === 0 ? 1 : t.shape[nd - 1];
  const innerStride = nd === 0 ? 1 : t.stride[nd - 1];
  const idx = new Array<number>(Math.max(0, nd - 1)).fill(0);
  let o = 0;
  for (let row = 0, rows = numel / inner; row < rows; row++) {
    let e = first;
    for (let d = 0; d < nd - 1; d++) e += idx[d] * t.stride[d];
    if (innerStride === 1) {
      out.set(src.subarray(e * size, (e + inner) * size), o);
      o += inner * size;
    } else {
      for (let j = 0; j < inner; j++, o += size) out.set(src.subarray((e + j * innerStride) * size, (e + j * innerStride + 1) * size), o);
    }
    for (let d = nd - 2; d >= 0; d--) {
      if (++idx[d] < t.shape[d]) break;
      idx[d] = 0;
    }
  }
  return { name, dtype: s.dtype, shape: t.shape, data: out };
}

// nnU-Net's checkpoints (checkpoint_final.pth) keep theirs under "network_weights", beside the optimizer's
// state, whose momentum buffers are tensors too (never read: their storages are not loaded)
const WRAPPER_KEYS = ['state_dict', 'model', 'network_weights'];

/**
 * The state_dict in a checkpoint: the object itself when it holds tensors, else the dict under `key`,
 * else under "state_dict", "model" or "network_weights" (nnU-Net). F64 tensors become F32; entries that are not tensors are skipped.
 */
export function extractStateDict(ckpt: Checkpoint, source: string, key?: string): StateDict {
  const fail = (m: string): never => {
    throw new CheckpointError(`${source}: ${m}`);
  };
  const root = ckpt.root;
  if (!(root instanceof PyDict)) return fail(`holds a ${describe(root)}, not a state_dict (a dict of tensors)`);
  const keys = [...root.map.keys()].map(String);
  const list =
    keys
      .slice(0, 8)
      .map((k) => quoted(k, 80))
      .join(', ') + (keys.length > 8 ? `, ... (${keys.length} keys)` : '');
  let dict = root;
  let used: string | undefined;
  if (key !== undefined) {
    const v = root.map.get(key);
    if (!(v instanceof PyDict)) fail(v === undefined ? `no key ${quoted(key)} (it has ${list})` : `${quoted(key)} holds a ${describe(v)}, not a state_dict`);
    [dict, used] = [v as PyDict, key];
  } else if (![...root.map.values()].some((v) => v instanceof PyTensor)) {
    const k = WRAPPER_KEYS.find((w) => root.map.get(w) instanceof PyDict);
    if (!k) return fail(`no tensors at the top level and no "state_dict", "model" or "network_weights" dict (it has ${list}; choose one with --key)`);
    [dict, used] = [root.map.get(k) as PyDict, k];
  }

  // Sizes first, in total, before any storage is read or copied: views of one big storage could
  // otherwise expand to gigabytes each (each is also capped on its own, in materialize).
  const limits = ckpt.limits;
  let totalBytes = 0;
  const storageKeys = new Set<string>();
  for (const [k, v] of dict.map) {
    if (!(v instanceof PyTensor)) continue;
    const { size, numel } = viewSize(v, String(k), fail);
    totalBytes += size * numel;
    if (totalBytes > limits.maxWeightsBytes)
      fail(exceeds(`tensors of ${formatBytes(totalBytes)} or more (at ${quoted(String(k), 80)})`, 'maxWeightsBytes', limits).message);
    if (numel > 0) storageKeys.add((v.storage as PyStorage).key);
  }
  ckpt.load([...storageKeys]);

  const tensors: CheckpointTensor[] = [];
  const skipped: string[] = [];
  const widened: string[] = [];
  for (const [k, v] of dict.map) {
    const name = String(k);
    if (!(v instanceof PyTensor)) {
      skipped.push(`${printable(name, 80)} (${describe(v)})`);
      continue;
    }
    const t = materialize(ckpt, v, name, fail);
    if (t.dtype === 'F64') {
      widened.push(name);
      tensors.push({ ...t, dtype: 'F32', data: f64ToF32(t.data) });
    } else tensors.push(t);
  }
  if (tensors.length === 0) fail(`the state_dict${used ? ` under ${quoted(used)}` : ''} holds no tensors`);
  const notes: string[] = [];
  if (used) notes.push(`state_dict read from the checkpoint's ${quoted(used)} entry (top-level keys: ${list})`);
  if (widened.length)
    notes.push(
      `${widened.length} F64 tensor(s) converted to F32: ${widened
        .slice(0, 4)
        .map((w) => printable(w, 80))
        .join(', ')}${widened.length > 4 ? ', ...' : ''}`,
    );
  if (skipped.length)
    notes.push(
      `${skipped.length} non-tensor entr${skipped.length === 1 ? 'y' : 'ies'} skipped: ${skipped.slice(0, 4).join(', ')}${skipped.length > 4 ? ', ...' : ''}`,
    );
  return { tensors, key: used, notes };
}

function f64ToF32(b: Uint8Array): Uint8Array {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out = new Float32Array(b.length / 8);
  for (let i = 0; i < out.length; i++) out[i] = dv.getFloat64(8 * i, true);
  return new Uint8Array(out.buffer);
}

/** A safetensors file of the converted tensors (any dtype, I64 num_batches_tracked included). */
export function encodeSafetensors(tensors: CheckpointTensor[], metadata: Record<string, string>): Uint8Array {
  return writeSafetensorsBytes(tensors as RawTensorToWrite[], metadata);
}

export interface ConvertedCheckpoint extends StateDict {
  format: Checkpoint['format'];
  /** the state_dict as a safetensors file */
  file: Uint8Array;
}

/** A checkpoint's state_dict as safetensors bytes (what `unet convert` writes and the demo page loads). */
export function convertCheckpoint(
  bytes: Uint8Array,
  source: string,
  metadata: Record<string, string>,
  options: ReadCheckpointOptions & { key?: string } = {},
): ConvertedCheckpoint {
  const ckpt = readCheckpoint(bytes, source, options);
  const result = extractStateDict(ckpt, source, options.key);
  const file = encodeSafetensors(result.tensors, result.key ? { ...metadata, state_dict_key: result.key } : metadata);
  return { ...result, format: ckpt.format, file };
}
