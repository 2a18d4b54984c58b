// A Python unpickler that executes nothing: it reads the opcodes PyTorch's checkpoints use into plain
// JavaScript values. Python's own unpickler imports and calls whatever a pickle names (`os.system`
// included), so instead every GLOBAL is checked against an allow-list of what a state_dict may contain,
// and anything else is refused by name before it could mean anything. The allowed callables are not
// called either: REDUCE on them builds a description (a dict, a tensor view of a storage) here.
// Every size a pickle declares or builds is bounded (Limits: opcodes, memo, container items, nesting,
// integer bytes), and nothing here recurses over a value a file built, so a hostile pickle ends in a
// one-line error, never a hang or a stack overflow. Browser-safe: no Node imports.
import { WeightsError } from '../errors.js';
import { f16BitsToF32 } from './safetensors.js';
import { DEFAULT_LIMITS, exceeds, formatCount, printable, resolveLimits, type Limits } from '../limits.js';

/** A class or function named by a pickle: only allow-listed ones are ever created. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A Python dict (or OrderedDict); insertion order is kept. Keys are strings, numbers or tuple text. */
export class PyDict {
  readonly map = new Map<string | number | bigint | boolean | null, PyValue>();
}

/** A value whose meaning is not needed (a set, a numpy scalar of a kind not read): kept as a marker. */
export class PyOpaque {
  constructor(readonly what: string) {}
}

/** `numpy.dtype(name, align, copy)`: its byte order arrives later, in BUILD's state tuple (`'<'`, `'>'`, `'|'`). */
export class PyDtype {
  byteOrder = '=';
  constructor(readonly name: string) {}
}

/** `torch.device(type, index)` (an nnU-Net trainer's init_args hold one): a marker, `text` as torch prints it. */
export class PyDevice {
  constructor(
    readonly type: string,
    readonly index: number | null,
  ) {}
  get text(): string {
    return this.index === null ? this.type : `${this.type}:${this.index}`;
  }
}

/** `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`: a strided view of a storage. */
export class PyTensor {
  constructor(
    readonly storage: PyValue,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
    /** `_rebuild_parameter` wraps a tensor as an nn.Parameter: noted, the values are the same */
    readonly parameter = false,
  ) {}
}

export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | PyDict
  | PyGlobal
  | PyTensor
  | PyOpaque
  | PyStorage
  | PyDtype
  | PyDevice;

/** A persistent id resolved by the checkpoint reader: `numel` elements of `dtype`, stored under `key`
 *  (a legacy storage view starts `elementOffset` elements into it). */
export class PyStorage {
  constructor(
    readonly key: string,
    readonly dtype: string,
    readonly numel: number,
    readonly elementOffset = 0,
  ) {}
}

export class PickleError extends WeightsError {
  constructor(message: string) {
    super(message);
    this.name = 'PickleError';
  }
}

/** A limit's refusal as a PickleError (the checkpoint reader names the file), message unchanged. */
const limitError = (e: Error): PickleError => new PickleError(e.message);

/** Storage classes, by name: torch.FloatStorage -> 'F32', ... (the safetensors dtype of their elements). */
export const STORAGE_DTYPES: Record<string, string> = {
  FloatStorage: 'F32',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};
const TORCH_DTYPES: Record<string, string> = {
  float32: 'F32',
  float: 'F32',
  float16: 'F16',
  half: 'F16',
  bfloat16: 'BF16',
  float64: 'F64',
  double: 'F64',
  int64: 'I64',
  long: 'I64',
  int32: 'I32',
  int: 'I32',
  int16: 'I16',
  short: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};

type Reducer = (args: PyValue[]) => PyValue;

const isInt = (v: PyValue): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const ints = (v: PyValue, what: string): number[] => {
  if (!Array.isArray(v) || !v.every(isInt)) throw new PickleError(`${what} is not a tuple of integers`);
  return v as number[];
};

function rebuildTensor(args: PyValue[], name: string): PyTensor {
  const [storage, offset, size, stride] = args;
  if (!isInt(offset)) throw new PickleError(`${name}: storage offset is not an integer`);
  return new PyTensor(storage, offset, ints(size, `${name}: size`), ints(stride, `${name}: stride`));
}

/** What REDUCE may call, by qualified name, and what it builds instead of calling it. */
const REDUCERS: Record<string, Reducer> = {
  'collections.OrderedDict': (args) => {
    const d = new PyDict();
    if (args.length > 0 && Array.isArray(args[0])) for (const kv of args[0]) if (Array.isArray(kv) && kv.length === 2) setItem(d, kv[0], kv[1]);
    return d;
  },
  'builtins.dict': () => new PyDict(),
  'torch._utils._rebuild_tensor': (args) => rebuildTensor(args, '_rebuild_tensor'),
  'torch._utils._rebuild_tensor_v2': (args) => rebuildTensor(args, '_rebuild_tensor_v2'),
  'torch._utils._rebuild_parameter': (args) => asParameter(args[0]),
  'torch._utils._rebuild_parameter_with_state': (args) => asParameter(args[0]),
  // numpy scalars and dtypes appear in training metadata (nnU-Net's logged losses and best EMA Dice):
  // a scalar is (dtype, its raw bytes), read here as the number it holds; numpy 2 moved the module
  'numpy.core.multiarray.scalar': (args) => numpyScalar(args),
  'numpy._core.multiarray.scalar': (args) => numpyScalar(args),
  'numpy.dtype': (args) => (typeof args[0] === 'string' ? new PyDtype(args[0]) : new PyOpaque('numpy dtype')),
  // protocol 2 has no bytes opcode: Python 3 writes bytes as _codecs.encode(text, 'latin1'), a pure function
  '_codecs.encode': (args) => latin1Bytes(args),
  'torch.device': (args) => torchDevice(args),
  'builtins.set': () => new PyOpaque('set'),
  'builtins.frozenset': () => new PyOpaque('frozenset'),
};

function latin1Bytes(args: PyValue[]): Uint8Array {
  const [text, encoding] = args;
  if (typeof text !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1')) {
    throw new PickleError(
      `_codecs.encode: expected (text, 'latin1'), found (${describe(text)}, ${typeof encoding === 'string' ? printable(encoding, 40) : describe(encoding)})`,
    );
  }
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) throw new PickleError(`_codecs.encode: character U+${c.toString(16).padStart(4, '0')} is not latin1`);
    out[i] = c;
  }
  return out;
}

function torchDevice(args: PyValue[]): PyDevice {
  const [spec, index] = args;
  if (typeof spec !== 'string') throw new PickleError(`torch.device: expected a device type string, found ${describe(spec)}`);
  // torch.device('cuda:0') pickles as ('cuda', 0); a one-argument form may still carry its index in the text
  const m = /^([a-z_]+)(?::(\d+))?$/.exec(spec);
  if (!m) throw new PickleError(`torch.device: unexpected device ${printable(JSON.stringify(spec), 40)}`);
  const i = isInt(index) ? index : m[2] !== undefined ? Number(m[2]) : null;
  return new PyDevice(m[1], i);
}

// numpy's type codes by kind and size: f2 / f4 / f8, i1..i8, u1..u8, b1 ('?' is bool's character code)
const NUMPY_ALIASES: Record<string, string> = { '?': 'b1', bool: 'b1', float16: 'f2', float32: 'f4', float64: 'f8', int64: 'i8', int32: 'i4', uint8: 'u1' };

/** `numpy.core.multiarray.scalar(dtype, bytes)` as its value: a number (an int64 past 2^53 as a bigint), a
 *  boolean for bool; other kinds (complex, datetime, strings) as a marker naming the dtype. */
function numpyScalar(args: PyValue[]): PyValue {
  const [dtype, data] = args;
  if (!(dtype instanceof PyDtype) || !(data instanceof Uint8Array)) return new PyOpaque('numpy scalar');
  const code = NUMPY_ALIASES[dtype.name] ?? dtype.name.replace(/^[<>=|]/, '');
  const m = /^([fiub])([1248])$/.exec(code);
  if (!m || data.length !== Number(m[2])) return new PyOpaque(`numpy scalar ${printable(dtype.name, 40)}`);
  const little = !(dtype.byteOrder === '>' || (dtype.byteOrder === '=' && dtype.name.startsWith('>')));
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const size = data.length;
  switch (m[1]) {
    case 'f':
      return size === 8 ? dv.getFloat64(0, little) : size === 4 ? dv.getFloat32(0, little) : size === 2 ? f16BitsToF32(dv.getUint16(0, little)) : NaN;
    case 'b':
      return data[0] !== 0;
    case 'i':
    case 'u': {
      const signed = m[1] === 'i';
      if (size === 8) {
        const v = signed ? dv.getBigInt64(0, little) : dv.getBigUint64(0, little);
        return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      if (size === 4) return signed ? dv.getInt32(0, little) : dv.getUint32(0, little);
      if (size === 2) return signed ? dv.getInt16(0, little) : dv.getUint16(0, little);
      return signed ? dv.getInt8(0) : dv.getUint8(0);
    }
  }
  return new PyOpaque('numpy scalar');
}

function asParameter(t: PyValue): PyValue {
  return t instanceof PyTensor ? new PyTensor(t.storage, t.offset, t.shape, t.stride, true) : t;
}

/** Globals that may appear without being called: storage classes (in persistent ids) and dtypes. */
function allowedGlobal(module: string, name: string): boolean {
  const q = `${module}.${name}`;
  if (Object.hasOwn(REDUCERS, q)) return true;
  if (module === 'torch' && (Object.hasOwn(STORAGE_DTYPES, name) || Object.hasOwn(TORCH_DTYPES, name))) return true;
  return false;
}

// Modules whose globals run commands or code, or reach anything that does, when a pickle calls them
const CODE_MODULES =
  /^(os|posix|nt|posixpath|ntpath|subprocess|_posixsubprocess|_winapi|builtins|__builtin__|sys|shutil|socket|importlib|runpy|pty|code|codeop|ctypes|pickle|_pickle|cPickle|marshal|types|functools|operator|pdb|bdb|timeit|webbrowser|commands|popen2|platform|multiprocessing|asyncio|threading|signal|tempfile|io|_io|zipimport|imp|site|cProfile|profile|trace|doctest|inspect|gc|weakref|copyreg|copy_reg)(\.|$)/;
const CODE_NAMES =
  /^(eval|exec|execfile|compile|__import__|getattr|setattr|delattr|globals|locals|vars|open|input|apply|system|popen[0-9]?|Popen|call|check_call|check_output|run|getoutput|getstatusoutput|spawn\w*|exec\w*|fork\w*|kill\w*|remove|unlink|rmdir|rmtree|attrgetter|methodcaller|partial|loads|load)$/;

function refusal(module: string, name: string): string {
  const q = printable(`${module}.${name}`, 200);
  let why = 'not on the allow-list of what a state_dict may hold (tensors, storages, OrderedDict, plain values)';
  if (CODE_MODULES.test(module) || CODE_NAMES.test(name)) {
    return `refused global ${q} (it would run code when unpickled: a code-execution global, so this checkpoint is malicious or unsafe; nothing was executed)`;
  }
  if (module.startsWith('torch.nn.') || /^[A-Z]/.test(name)) {
    why = 'a pickled object of that class, not a state_dict: in Python, torch.save(model.state_dict(), ...) instead';
  }
  return `refused global ${q} (${why})`;
}

function setItem(d: PyValue, k: PyValue, v: PyValue): void {
  if (!(d instanceof PyDict)) throw new PickleError(`SETITEM on a ${describe(d)}, not a dict`);
  const key = k === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof k) ? (k as string) : keyText(k);
  d.map.set(key, v);
}

/**
 * A tuple (or other non-scalar) key as text, e.g. `["a",1]`: iterative, at most 200 characters, and a
 * value met again on the way (a cycle, or a tuple that holds one tuple twice, 64 levels deep: 2^64
 * leaves) is written `...`, so no key takes more than a few hundred steps.
 */
function keyText(k: PyValue): string {
  const MAX = 200;
  let out = '';
  const seen = new Set<object>();
  const todo: (PyValue | { text: string })[] = [k];
  while (todo.length > 0 && out.length < MAX) {
    const v = todo.pop() as PyValue | { text: string };
    if (v !== null && typeof v === 'object' && 'text' in v && !(v instanceof PyDict)) {
      out += v.text;
    } else if (Array.isArray(v)) {
      if (seen.has(v)) out += '...';
      else {
        seen.add(v);
        todo.push({ text: ']' });
        for (let i = Math.min(v.length, MAX) - 1; i >= 0; i--) todo.push(v[i], { text: i > 0 ? ',' : '' });
        out += '[';
      }
    } else if (typeof v === 'string') out += JSON.stringify(v);
    else if (v === null || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') out += String(v);
    else out += `<${describe(v as PyValue)}>`;
  }
  return out.length < MAX && todo.length === 0 ? out : `${out.slice(0, MAX)}...`;
}

export function describe(v: PyValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'list/tuple';
  if (v instanceof Uint8Array) return 'bytes';
  if (typeof v === 'object') return v.constructor.name;
  return typeof v;
}

export interface UnpickleOptions {
  /** byte where the pickle starts (the legacy format holds several in a row) */
  offset?: number;
  /** the maxPickle* limits apply (defaults: DEFAULT_LIMITS) */
  limits?: Partial<Limits>;
  /** BINPERSID: PyTorch's storage references; the id is the tuple ('storage', type, key, location, numel, ...) */
  persistentLoad?: (pid: PyValue) => PyValue;
}

const MARK = Symbol('mark');
type Slot = PyValue | typeof MARK;

/** Reads one pickle; returns its value and the byte after its STOP. Throws PickleError. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): { value: PyValue; end: number } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const latin1 = new TextDecoder('latin1');
  let pos = options.offset ?? 0;
  const limits: Limits = resolveLimits(options.limits);
  const stack: Slot[] = [];
  const memo = new Map<number, PyValue>();
  // Nesting of each container built, kept as the pickle builds them; open MARKs nest as well.
  const depths = new WeakMap<object, number>();
  let marks = 0;
  let ops = 0;
  const depthOf = (v: PyValue): number => (v !== null && typeof v === 'object' ? (depths.get(v) ?? 0) : 0);
  const nested = <T extends PyValue>(container: T, children: readonly PyValue[]): T => {
    let d = depthOf(container);
    for (const c of children) d = Math.max(d, 1 + depthOf(c));
    if (d > limits.maxPickleDepth) throw limitError(exceeds(`containers nested ${d} deep (at byte ${pos - 1})`, 'maxPickleDepth', limits));
    // a spliced opcode can make the "container" a primitive (SETITEMS on an int): nothing to record
    if (container !== null && typeof container === 'object') depths.set(container as object, d);
    return container;
  };
  const sized = (n: number): void => {
    if (n > limits.maxPickleItems) throw limitError(exceeds(`a container of ${formatCount(n)} items (at byte ${pos - 1})`, 'maxPickleItems', limits));
  };
  const memoize = (k: number, v: PyValue): void => {
    if (!memo.has(k) && memo.size >= limits.maxPickleMemo)
      throw limitError(exceeds(`a memo of more than ${formatCount(memo.size)} entries (at byte ${pos - 1})`, 'maxPickleMemo', limits));
    memo.set(k, v);
  };
  const intBytes = (n: number): number => {
    if (n > limits.maxPickleIntBytes) throw limitError(exceeds(`an integer of ${formatCount(n)} bytes (at byte ${pos - 1})`, 'maxPickleIntBytes', limits));
    return n;
  };

  const need = (n: number): number => {
    if (pos + n > bytes.length) throw new PickleError(`truncated pickle: needs ${n} more bytes at byte ${pos}, the data ends at ${bytes.length}`);
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = () => bytes[need(1)];
  const u16 = () => dv.getUint16(need(2), true);
  const i32 = () => dv.getInt32(need(4), true);
  const u32 = () => dv.getUint32(need(4), true);
  const u64 = () => {
    const at = need(8);
    const hi = dv.getUint32(at + 4, true);
    if (hi > 0x1fffff) throw new PickleError(`length at byte ${at} is too large`);
    return hi * 2 ** 32 + dv.getUint32(at, true);
  };
  const take = (n: number) => bytes.subarray(need(n), pos);
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) throw new PickleError(`truncated pickle: no end of line after byte ${pos}`);
    const s = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const text = (n: number): string => {
    const b = take(n);
    try {
      return utf8.decode(b);
    } catch {
      throw new PickleError(`string at byte ${pos - n} is not valid UTF-8`);
    }
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) throw new PickleError(`stack underflow at byte ${pos - 1}`);
    return v;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) throw new PickleError(`stack underflow at byte ${pos - 1}`);
    return v;
  };
  const popMark = (): PyValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) throw new PickleError(`no MARK on the stack at byte ${pos - 1}`);
    const items = stack.splice(i) as PyValue[];
    items.shift();
    marks--;
    sized(items.length);
    return items;
  };
  const get = (k: number): PyValue => {
    if (!memo.has(k)) throw new PickleError(`memo entry ${k} read before it was written (byte ${pos})`);
    return memo.get(k) as PyValue;
  };
  const global = (module: string, name: string): PyGlobal => {
    if (!allowedGlobal(module, name)) throw new PickleError(refusal(module, name));
    return new PyGlobal(module, name);
  };
  const call = (f: PyValue, args: PyValue): PyValue => {
    if (!(f instanceof PyGlobal) || !Object.hasOwn(REDUCERS, f.qualified)) {
      throw new PickleError(`refused to call ${f instanceof PyGlobal ? f.qualified : describe(f)} (only OrderedDict and tensor rebuilds are read)`);
    }
    if (!Array.isArray(args)) throw new PickleError(`arguments for ${f.qualified} are not a tuple`);
    return REDUCERS[f.qualified](args);
  };
  const long = (b: Uint8Array): number | bigint => {
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b.length > 0 && b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    const at = pos;
    const op = u8();
    if (++ops > limits.maxPickleOps) throw limitError(exceeds(`a pickle of more than ${formatCount(ops - 1)} opcodes`, 'maxPickleOps', limits));
    switch (op) {
      case 0x80:
        u8();
        break; // PROTO n
      case 0x95:
        u64();
        break; // FRAME: a length hint only
      case 0x2e:
        return { value: pop(), end: pos }; // STOP
      case 0x28: // MARK
        if (++marks > limits.maxPickleDepth) throw limitError(exceeds(`${marks} nested MARKs (at byte ${at})`, 'maxPickleDepth', limits));
        stack.push(MARK);
        break;
      case 0x30:
        pop();
        break; // POP
      case 0x31:
        popMark();
        break; // POP_MARK
      case 0x32:
        stack.push(top());
        break; // DUP
      case 0x4e:
        stack.push(null);
        break;
      case 0x88:
        stack.push(true);
        break;
      case 0x89:
        stack.push(false);
        break;
      case 0x4a:
        stack.push(i32());
        break; // BININT
      case 0x4b:
        stack.push(u8());
        break; // BININT1
      case 0x4d:
        stack.push(u16());
        break; // BININT2
      case 0x8a:
        stack.push(long(take(intBytes(u8()))));
        break; // LONG1
      case 0x8b:
        stack.push(long(take(intBytes(u32()))));
        break; // LONG4
      case 0x49: {
        // INT (text; I01 / I00 are True / False)
        const s = line();
        stack.push(s === '01' ? true : s === '00' ? false : Number.parseInt(s, 10));
        break;
      }
      case 0x4c: {
        // LONG (text, "123L")
        const s = line().replace(/L$/, '');
        intBytes(Math.ceil(s.length / 2.4)); // 2.4 decimal digits a byte
        if (!/^-?\d+$/.test(s)) throw new PickleError(`bad LONG ${JSON.stringify(s)} at byte ${at}`);
        const b = BigInt(s);
        stack.push(b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b);
        break;
      }
      case 0x47:
        stack.push(dv.getFloat64(need(8), false));
        break; // BINFLOAT (big-endian)
      case 0x46:
        stack.push(Number.parseFloat(line()));
        break; // FLOAT (text)
      case 0x58:
        stack.push(text(u32()));
        break; // BINUNICODE
      case 0x8c:
        stack.push(text(u8()));
        break; // SHORT_BINUNICODE
      case 0x8d:
        stack.push(text(u64()));
        break; // BINUNICODE8
      case 0x54:
        stack.push(latin1.decode(take(u32())));
        break; // BINSTRING (Python 2 str)
      case 0x55:
        stack.push(latin1.decode(take(u8())));
        break; // SHORT_BINSTRING
      case 0x42:
        stack.push(take(u32()).slice());
        break; // BINBYTES
      case 0x43:
        stack.push(take(u8()).slice());
        break; // SHORT_BINBYTES
      case 0x8e:
        stack.push(take(u64()).slice());
        break; // BINBYTES8
      case 0x29:
        stack.push([]);
        break; // EMPTY_TUPLE
      case 0x5d:
        stack.push([]);
        break; // EMPTY_LIST
      case 0x7d:
        stack.push(new PyDict());
        break; // EMPTY_DICT
      case 0x8f:
        stack.push(new PyOpaque('set'));
        break; // EMPTY_SET
      case 0x74:
      case 0x6c: {
        const items = popMark();
        stack.push(nested(items, items));
        break;
      } // TUPLE, LIST
      case 0x85: {
        const t = [pop()];
        stack.push(nested(t, t));
        break;
      } // TUPLE1
      case 0x86: {
        const b = pop();
        const t = [pop(), b];
        stack.push(nested(t, t));
        break;
      } // TUPLE2
      case 0x87: {
        const c = pop();
        const b = pop();
        const t = [pop(), b, c];
        stack.push(nested(t, t));
        break;
      } // TUPLE3
      case 0x64: {
        // DICT
        const items = popMark();
        const d = new PyDict();
        for (let i = 0; i + 1 < items.length; i += 2) setItem(d, items[i], items[i + 1]);
        stack.push(nested(d, items));
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) throw new PickleError(`APPEND to a ${describe(l)} at byte ${at}`);
        sized(l.length + 1);
        l.push(v);
        nested(l, [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const l = top();
        if (l instanceof PyOpaque) break;
        if (!Array.isArray(l)) throw new PickleError(`APPENDS to a ${describe(l)} at byte ${at}`);
        sized(l.length + items.length);
        for (const v of items) l.push(v); // not push(...items): 300k arguments overflow the stack
        nested(l, items);
        break;
      }
      case 0x90:
        popMark();
        break; // ADDITEMS (to a set: contents not kept)
      case 0x91:
        popMark();
        stack.push(new PyOpaque('frozenset'));
        break; // FROZENSET
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        const d = top();
        setItem(d, k, v);
        sized((d as PyDict).map.size);
        nested(d, [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        const d = top();
        for (let i = 0; i + 1 < items.length; i += 2) setItem(d, items[i], items[i + 1]);
        if (d instanceof PyDict) sized(d.map.size);
        nested(d, items);
        break;
      }
      case 0x68:
        stack.push(get(u8()));
        break; // BINGET
      case 0x6a:
        stack.push(get(u32()));
        break; // LONG_BINGET
      case 0x67:
        stack.push(get(Number.parseInt(line(), 10)));
        break; // GET
      case 0x71:
        memoize(u8(), top());
        break; // BINPUT
      case 0x72:
        memoize(u32(), top());
        break; // LONG_BINPUT
      case 0x70:
        memoize(Number.parseInt(line(), 10), top());
        break; // PUT
      case 0x94:
        memoize(memo.size, top());
        break; // MEMOIZE
      case 0x63: {
        const module = line();
        stack.push(global(module, line()));
        break;
      } // GLOBAL
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw new PickleError(`STACK_GLOBAL with non-string names at byte ${at}`);
        stack.push(global(module, name));
        break;
      }
      case 0x52: {
        const args = pop();
        stack.push(call(pop(), args));
        break;
      } // REDUCE
      case 0x81: {
        const args = pop();
        stack.push(call(pop(), args));
        break;
      } // NEWOBJ (cls, args): same checks
      case 0x62: {
        // BUILD: state (an OrderedDict's _metadata, a Parameter's hooks) is not needed, except a numpy
        // dtype's: (version, byte order, ...) says how its scalars' bytes are read
        const state = pop();
        const target = top();
        if (target instanceof PyDtype && Array.isArray(state) && typeof state[1] === 'string') target.byteOrder = state[1];
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!options.persistentLoad) throw new PickleError(`persistent id at byte ${at} in a pickle that should have none`);
        stack.push(options.persistentLoad(pid));
        break;
      }
      default:
        throw new PickleError(`unsupported or invalid pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${at}`);
    }
  }
}

/** A pickled value as plain JavaScript: dicts as objects (keys as text), tuples and lists as arrays; tensors,
 *  storages, devices and other markers are kept as they are (references, never read here). */
export type PlainValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PlainValue[]
  | { [key: string]: PlainValue }
  | PyTensor
  | PyStorage
  | PyOpaque
  | PyDevice
  | PyDtype
  | PyGlobal;

export interface ToPlainOptions {
  /** values visited in all (a value reached twice counts twice: a pickle can share one list 2^64 ways);
   *  default maxPickleItems */
  maxValues?: number;
  /** nesting; default maxPickleDepth (a pickle may nest a container after its parent's depth was counted) */
  maxDepth?: number;
  /** names the value in errors, e.g. `model.pth: init_args` */
  what?: string;
}

/**
 * A checkpoint's metadata (an nnU-Net trainer's init_args, trainer_name, mirroring axes) as plain values,
 * bounded: a value that contains itself, nests deeper than maxDepth or visits more than maxValues values is
 * a PickleError, never a hang. Dict keys become text: a Python int key as its digits, None / True / False
 * as Python spells them; a `__proto__` key is an own property, not the object's prototype.
 */
export function toPlain(value: PyValue, options: ToPlainOptions = {}): PlainValue {
  const maxValues = options.maxValues ?? DEFAULT_LIMITS.maxPickleItems;
  const maxDepth = options.maxDepth ?? DEFAULT_LIMITS.maxPickleDepth;
  const what = options.what ?? 'the value';
  const open = new Set<object>();
  let visited = 0;
  const convert = (v: PyValue, depth: number): PlainValue => {
    if (++visited > maxValues) throw new PickleError(`${what}: more than ${formatCount(maxValues)} values to convert`);
    if (!(v instanceof PyDict) && !Array.isArray(v)) return v;
    if (depth >= maxDepth) throw new PickleError(`${what}: containers nested more than ${maxDepth} deep`);
    if (open.has(v)) throw new PickleError(`${what}: a container that holds itself`);
    open.add(v);
    let out: PlainValue;
    if (Array.isArray(v)) out = v.map((c) => convert(c, depth + 1));
    else {
      const o: { [key: string]: PlainValue } = {};
      for (const [k, c] of v.map) {
        const key = k === null ? 'None' : k === true ? 'True' : k === false ? 'False' : String(k);
        Object.defineProperty(o, key, { value: convert(c, depth + 1), enumerable: true, writable: true, configurable: true });
      }
      out = o;
    }
    open.delete(v);
    return out;
  };
  return convert(value, 0);
}
