// nnU-Net's checkpoint_final.pth (test/fixtures/checkpoints, written in tools/make_checkpoints.py as
// nnUNetTrainer.save_checkpoint writes it): the network weights, and the metadata (numpy scalars, a
// torch.device, tuples) read as values, with nothing executed.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { CheckpointError, extractStateDict, readCheckpoint } from '../../src/weights/checkpoint.js';
import { PickleError, PyDevice, PyDict, PyOpaque, PyTensor, toPlain, unpickle, type PlainValue } from '../../src/weights/pickle.js';
import { parseSafetensors } from '../../src/weights/safetensors.js';

const DIR = 'test/fixtures/checkpoints';
const HINT = 'rerun /usr/bin/python3 tools/make_checkpoints.py nnunet';
const open = (name: string) => {
  const path = `${DIR}/${name}`;
  if (!existsSync(path)) throw new Error(`${path} is missing: ${HINT}`);
  return readCheckpoint(readFileSync(path), path);
};
type Obj = { [k: string]: PlainValue };

const Ckpt = suite('nnU-Net checkpoint_final.pth');

Ckpt('extractStateDict picks network_weights; every tensor equals the saved one, byte for byte', () => {
  const ckpt = open('nnunet_checkpoint_final.pth');
  const sd = extractStateDict(ckpt, 'checkpoint_final.pth');
  assert.is(sd.key, 'network_weights');
  const want = parseSafetensors(readFileSync(`${DIR}/nnunet_checkpoint.expected.safetensors`));
  assert.equal(
    sd.tensors.map((t) => t.name),
    [...want.tensors.keys()],
  );
  for (const t of sd.tensors) {
    const w = want.tensors.get(t.name)!;
    assert.is(t.dtype, 'F32', t.name);
    assert.equal(t.shape, w.shape, t.name);
    const ref = want.bytes.subarray(w.byteOffset, w.byteOffset + w.byteLength);
    assert.ok(t.data.length === ref.length && t.data.every((v, i) => v === ref[i]), `${t.name}: bytes differ`);
  }
  assert.equal(sd.tensors.find((t) => t.name === 'encoder.stages.0.0.convs.0.conv.weight')!.shape, [2, 1, 1, 3, 3]);
});

Ckpt('the metadata as plain values: trainer, init_args (torch.device as a marker), mirroring axes, numpy scalars', () => {
  const root = toPlain(open('nnunet_checkpoint_final.pth').root) as Obj;
  assert.is(root.trainer_name, 'nnUNetTrainer');
  assert.equal(root.inference_allowed_mirroring_axes, [0, 1, 2]);
  assert.is(root.current_epoch, 2);
  assert.is(root._best_ema, 0.275); // np.float64(0.275): exact
  const init = root.init_args as Obj;
  assert.is(init.configuration, '3d_fullres');
  assert.is(init.fold, 0);
  assert.ok(init.device instanceof PyDevice);
  assert.is((init.device as PyDevice).text, 'cuda:0');
  assert.equal((init.dataset_json as Obj).labels, { background: 0, organ: 1 });
  const arch = (((init.plans as Obj).configurations as Obj)['3d_fullres'] as Obj).architecture as Obj;
  assert.is(arch.network_class_name, 'dynamic_network_architectures.architectures.unet.PlainConvUNet');
  assert.equal((arch.arch_kwargs as Obj).norm_op_kwargs, { eps: 1e-5, affine: true });
  assert.is((arch.arch_kwargs as Obj).dropout_op, null);
  const log = root.logging as Obj;
  // numpy float32 scalars hold the float32 rounding: -0.3 as f32 is -0.30000001192092896
  assert.equal(log.val_losses, [-0.0625, Math.fround(-0.3)]);
  assert.equal(log.mean_fg_dice, [0.25, 0.5]);
  assert.equal(log.dice_per_class_or_region, [[0.25], [0.5]]);
  assert.equal(log.lrs, [0.01, 0.00991]);
  // the optimizer's momentum buffers stay tensor references (never read); int dict keys become text
  const opt = root.optimizer_state as Obj;
  assert.ok(((opt.state as Obj)['0'] as Obj).momentum_buffer instanceof PyTensor);
  assert.is(((opt.param_groups as Obj[])[0] as Obj).nesterov, true);
  assert.ok((root.network_weights as Obj)['decoder.seg_layers.0.weight'] instanceof PyTensor);
});

Ckpt('numpy scalars of each kind: f16, f32, f64, i8..i64, u8, u64, bool; int64 past 2^53 as a bigint; complex as a marker', () => {
  const v = toPlain(open('numpy_scalars.pt').root) as Obj;
  assert.is(v.f16, -1.5);
  assert.is(v.f32, Math.fround(0.1));
  assert.is(v.f64, 1e300);
  assert.is(v.i8, -7);
  assert.is(v.u8, 200);
  assert.is(v.i16, -300);
  assert.is(v.i32, -70000);
  assert.is(v.i64, -3);
  assert.is(v.i64_big, 2n ** 60n + 1n);
  assert.is(v.u64, 2n ** 64n - 1n);
  assert.is(v.bool, true);
  assert.ok(v.complex instanceof PyOpaque && /numpy scalar c8/.test(v.complex.what), String(v.complex));
});

const Evil = suite('nnU-Net checkpoint: refused, nothing executed');

Evil('a __reduce__ calling os.system inside init_args is refused by name', () => {
  assert.throws(
    () => open('nnunet_evil_init_args.pth'),
    (e: Error) =>
      e instanceof CheckpointError &&
      /nnunet_evil_init_args\.pth: refused global posix\.system \(it would run code when unpickled: a code-execution global/.test(e.message),
  );
  assert.not.ok(existsSync('/tmp/unet-convert-was-exploited'));
});

/** A protocol-2 pickle from opcodes written out by hand. */
const pkl = (...parts: (string | number[])[]) => Uint8Array.from(parts.flatMap((p) => (typeof p === 'string' ? [...p].map((c) => c.charCodeAt(0)) : p)));

Evil('_codecs.encode only as latin1 bytes; a big-endian dtype is read big-endian', () => {
  // _codecs.encode('ab', 'utf8'): not the form numpy scalars take
  const bad = pkl([0x80, 2], 'c_codecs\nencode\n', [0x8c, 2], 'ab', [0x8c, 4], 'utf8', [0x86, 0x52, 0x2e]);
  assert.throws(() => unpickle(bad), /_codecs\.encode: expected \(text, 'latin1'\)/);
  // numpy.core.multiarray.scalar(dtype('f8') with state (3, '>'), b'\x40\x04\0\0\0\0\0\0') = 2.5 big-endian
  const be = pkl(
    [0x80, 2],
    'cnumpy.core.multiarray\nscalar\n',
    'cnumpy\ndtype\n',
    [0x8c, 2],
    'f8',
    [0x89, 0x88, 0x87, 0x52],
    [0x4b, 3, 0x8c, 1],
    '>',
    [0x86, 0x62],
    [0x43, 8, 0x40, 0x04, 0, 0, 0, 0, 0, 0],
    [0x86, 0x52, 0x2e],
  );
  assert.is(unpickle(be).value, 2.5);
});

Evil('toPlain is bounded: a list that holds itself, deep nesting, a shared list 2^40 ways', () => {
  // l = []; l.append(l)
  const cyc = pkl([0x80, 2, 0x5d, 0x71, 0, 0x68, 0, 0x61, 0x2e]);
  assert.throws(
    () => toPlain(unpickle(cyc).value, { what: 'x' }),
    (e: Error) => e instanceof PickleError && /^x: a container that holds itself$/.test(e.message),
  );
  let deep: PyDict | PyDict[] = new PyDict();
  for (let i = 0; i < 150; i++) deep = [deep as PyDict];
  assert.throws(() => toPlain(deep as PyDict[]), /containers nested more than 100 deep/);
  // a = [0]; then 40 times a = [a, a]: 2^40 leaves from 40 lists
  let shared: number[] | unknown[] = [0];
  for (let i = 0; i < 40; i++) shared = [shared, shared];
  assert.throws(() => toPlain(shared as PyDict[], { maxValues: 10_000 }), /more than 10000 values to convert/);
});

Evil('a __proto__ key is an own property, not the prototype', () => {
  const d = new PyDict();
  d.map.set('__proto__', 'x');
  const o = toPlain(d) as Obj;
  assert.is(Object.getPrototypeOf(o), Object.prototype);
  assert.is(Object.getOwnPropertyDescriptor(o, '__proto__')?.value, 'x');
});

Ckpt.run();
Evil.run();
