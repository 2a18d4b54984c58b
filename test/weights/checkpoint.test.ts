// PyTorch checkpoints (test/fixtures/checkpoints, written by torch.save in tools/make_checkpoints.py) read
// back tensor by tensor, and pickles that must be refused without running anything.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { CheckpointError, encodeSafetensors, extractStateDict, readCheckpoint } from '../../src/weights/checkpoint.js';
import { PickleError, PyDict, PyTensor, unpickle } from '../../src/weights/pickle.js';
import { f32ToF16Bits, parseSafetensors } from '../../src/weights/safetensors.js';
import { unetParamsFromSafetensors } from '../../src/arch/brainUnet.js';

const DIR = 'test/fixtures/checkpoints';
const load = (name: string, key?: string) => {
  const path = `${DIR}/${name}`;
  const ckpt = readCheckpoint(readFileSync(path), path);
  return { ckpt, sd: extractStateDict(ckpt, path, key) };
};
const expected = (name: string) => parseSafetensors(readFileSync(`${DIR}/${name}`));
const bytesOf = (st: ReturnType<typeof expected>, name: string) => {
  const t = st.tensors.get(name)!;
  return st.bytes.subarray(t.byteOffset, t.byteOffset + t.byteLength);
};
const equalBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

const Ckpt = suite('checkpoint: torch.save files');

for (const [file, format, key] of [
  ['unet_zip.pt', 'zip', undefined],
  ['unet_legacy.pt', 'legacy', undefined],
  ['unet_wrapped_views.pt', 'zip', 'state_dict'],
] as const) {
  Ckpt(`${file}: ${format} format, every tensor equals the state_dict's`, () => {
    const { ckpt, sd } = load(file);
    assert.is(ckpt.format, format);
    assert.is(sd.key, key);
    const want = expected('unet.expected.safetensors');
    assert.equal(
      sd.tensors.map((t) => t.name),
      [...want.tensors.keys()],
    );
    for (const t of sd.tensors) {
      const w = want.tensors.get(t.name)!;
      assert.is(t.dtype, w.dtype, t.name);
      assert.equal(t.shape, w.shape, t.name);
      assert.ok(equalBytes(t.data, bytesOf(want, t.name)), `${t.name}: bytes differ`);
    }
  });
}

Ckpt('unet_f16_legacy.pt: F16 kept as F16, equal to the F32 state_dict rounded to half; read from "model"', () => {
  const { sd } = load('unet_f16_legacy.pt');
  assert.is(sd.key, 'model');
  const want = expected('unet.expected.safetensors');
  for (const t of sd.tensors) {
    const w = want.tensors.get(t.name)!;
    if (w.dtype === 'I64') {
      assert.is(t.dtype, 'I64');
      continue;
    }
    assert.is(t.dtype, 'F16', t.name);
    const ref = want.getF32(t.name);
    const got = new Uint16Array(t.data.slice().buffer);
    assert.ok(
      got.every((h, i) => h === f32ToF16Bits(ref[i])),
      `${t.name}: not the f16 rounding`,
    );
  }
});

for (const file of ['zoo.pt', 'zoo_legacy.pt']) {
  Ckpt(`${file}: views, offsets, stride 0, shared storages, F64 -> F32, BF16, bool, 0-dim, Parameter`, () => {
    const { sd } = load(file);
    const want = expected('zoo.expected.safetensors');
    assert.equal(
      sd.tensors.map((t) => t.name),
      [...want.tensors.keys()],
    );
    for (const t of sd.tensors) {
      const w = want.tensors.get(t.name)!;
      assert.is(t.dtype, w.dtype, t.name);
      assert.equal(t.shape, w.shape, t.name);
      assert.ok(equalBytes(t.data, bytesOf(want, t.name)), `${t.name}: bytes differ`);
    }
    assert.ok(
      sd.notes.some((n) => /F64 tensor\(s\) converted to F32: d\.f64/.test(n)),
      sd.notes.join('\n'),
    );
    assert.ok(
      sd.notes.some((n) => /2 non-tensor entries skipped: h\.python_int \(number\), m\.string \(string\)/.test(n)),
      sd.notes.join('\n'),
    );
  });
}

Ckpt('--key picks an entry; a missing key lists the top-level keys', () => {
  assert.is(load('zoo.pt', 'model').sd.tensors.length, 12);
  assert.throws(() => load('zoo.pt', 'weights'), /zoo\.pt: no key "weights" \(it has "model", "epoch", "lr", "nested"\)/);
  assert.throws(() => load('zoo.pt', 'epoch'), /"epoch" holds a number, not a state_dict/);
});

Ckpt('converted safetensors load as the U-Net', () => {
  const { sd } = load('unet_legacy.pt');
  const st = parseSafetensors(encodeSafetensors(sd.tensors, { format: 'pt' }));
  const p = unetParamsFromSafetensors(st);
  assert.equal([p.inChannels, p.outChannels, p.features, p.depth], [3, 1, 2, 4]);
  assert.is(st.tensors.get('encoder1.enc1norm1.num_batches_tracked')!.dtype, 'I64');
});

const Evil = suite('checkpoint: refused, nothing executed');

Evil('a __reduce__ calling os.system is refused by name', () => {
  assert.throws(
    () => load('evil_reduce.pt'),
    (e: Error) =>
      e instanceof CheckpointError &&
      /evil_reduce\.pt: refused global posix\.system \(it would run code when unpickled: a code-execution global/.test(e.message),
  );
  assert.not.ok(existsSync('/tmp/unet-convert-was-exploited'));
});

Evil('a whole pickled nn.Module is refused, naming its class', () => {
  assert.throws(() => load('evil_module.pt'), /evil_module\.pt: refused global unet_model\.UNet \(a pickled object of that class, not a state_dict/);
});

/** A protocol-2 pickle from opcodes written out by hand. */
const pkl = (...parts: (string | number[])[]) => Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...p].map((c) => c.charCodeAt(0)) : p)));

Evil('builtins.eval through GLOBAL + REDUCE, and through STACK_GLOBAL', () => {
  const g = pkl([0x80, 2], 'cbuiltins\neval\n', 'X', [6, 0, 0, 0], '1+1', [0x85, 0x52, 0x2e]);
  assert.throws(() => unpickle(g), /refused global builtins\.eval \(it would run code when unpickled: a code-execution global/);
  const sg = pkl([0x80, 4, 0x8c, 2], 'os', [0x8c, 6], 'system', [0x93, 0x2e]);
  assert.throws(() => unpickle(sg), /refused global os\.system \(it would run code/);
});

Evil('an unknown class and a call of an allowed non-callable are refused', () => {
  assert.throws(() => unpickle(pkl([0x80, 2], 'cmypackage.train\nTrainer\n', [0x2e])), /refused global mypackage\.train\.Trainer/);
  assert.throws(() => unpickle(pkl([0x80, 2], 'ctorch\nFloatStorage\n', [0x29, 0x52, 0x2e])), /refused to call torch\.FloatStorage/);
});

Evil('bad opcode, truncation and stack underflow are PickleErrors with the byte offset', () => {
  assert.throws(
    () => unpickle(pkl([0x80, 2, 0xff])),
    (e: Error) => e instanceof PickleError && /invalid pickle opcode 0xff at byte 2/.test(e.message),
  );
  assert.throws(() => unpickle(pkl([0x80, 2], 'X', [100, 0, 0, 0], 'abc')), /truncated pickle: needs 100 more bytes/);
  assert.throws(() => unpickle(pkl([0x80, 2, 0x52])), /stack underflow/);
});

Evil('plain values: dicts, lists, tuples, ints, floats, bools, None, strings, LONG1', () => {
  // {'a': [1, -2, 3.5, True, None], 'b': (300, 70000), 'c': 2**70}
  const bytes = pkl(
    [0x80, 2, 0x7d, 0x28],
    'X',
    [1, 0, 0, 0],
    'a',
    [0x5d, 0x28, 0x4b, 1, 0x4a, 0xfe, 0xff, 0xff, 0xff, 0x47, 0x40, 0x0c, 0, 0, 0, 0, 0, 0, 0x88, 0x4e, 0x65],
    'X',
    [1, 0, 0, 0],
    'b',
    [0x4d, 0x2c, 0x01, 0x4a, 0x70, 0x11, 0x01, 0x00, 0x86],
    'X',
    [1, 0, 0, 0],
    'c',
    [0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0x40],
    [0x75, 0x2e],
  );
  const { value, end } = unpickle(bytes);
  assert.is(end, bytes.length);
  assert.ok(value instanceof PyDict);
  const d = (value as PyDict).map;
  assert.equal(d.get('a'), [1, -2, 3.5, true, null]);
  assert.equal(d.get('b'), [300, 70000]);
  assert.is(d.get('c'), 2n ** 70n);
});

const Bad = suite('checkpoint: corrupt files');

Bad('a truncated zip checkpoint', () => {
  const b = readFileSync(`${DIR}/unet_zip.pt`);
  assert.throws(() => readCheckpoint(b.subarray(0, b.length - 200), 'cut.pt'), /^cut\.pt: not a readable zip archive \(truncated or corrupt/);
});

Bad('a truncated legacy checkpoint names the missing storage', () => {
  const b = readFileSync(`${DIR}/unet_legacy.pt`);
  assert.throws(() => readCheckpoint(b.subarray(0, b.length - 50), 'cut.pt'), /^cut\.pt: truncated: storage "\d+" needs \d+ bytes/);
  assert.throws(() => readCheckpoint(b.subarray(0, 300), 'cut.pt'), /^cut\.pt: truncated pickle/);
});

Bad('not a checkpoint at all', () => {
  assert.throws(() => readCheckpoint(new TextEncoder().encode('hello world'), 'x.pt'), /^x\.pt: not a PyTorch checkpoint: neither a zip archive nor a pickle$/);
  const plain = pkl([0x80, 2, 0x4b, 5, 0x2e]);
  assert.throws(() => readCheckpoint(plain, 'p.pkl'), /p\.pkl: a pickle, but not a PyTorch checkpoint/);
});

Bad('a tensor view past the end of its storage', () => {
  const { ckpt } = load('unet_zip.pt');
  const d = ckpt.root as PyDict;
  const t = d.map.get('conv.bias') as PyTensor;
  d.map.set('conv.bias', new PyTensor(t.storage, t.offset + 5, t.shape, t.stride));
  assert.throws(() => extractStateDict(ckpt, 'x.pt'), /x\.pt: tensor "conv\.bias": view \[1\] stride \[1\] at offset 5 runs past its storage of 1 elements/);
});

Ckpt.run();
Evil.run();
Bad.run();
