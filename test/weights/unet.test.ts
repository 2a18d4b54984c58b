import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseSafetensors, writeSafetensors, f32ToF16Bits, SafetensorsError } from '../../src/weights/safetensors.js';
import { unetParamsFromSafetensors, unetTensorNames, countParameters } from '../../src/arch/brainUnet.js';

type Entry = { name: string; dtype: string; shape: number[]; bytes: Uint8Array };

/** Value j of the k-th tensor: distinct across the whole file and exact in f32 and (for small k, j) f16. */
const fill = (k: number, n: number, small: boolean) => Float32Array.from({ length: n }, (_, j) => (small ? ((k * 7 + j) % 97) / 4 : k * 100_000 + j));

function encode(data: Float32Array, dtype: string): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(data.slice().buffer);
  const out = new Uint8Array(2 * data.length);
  const dv = new DataView(out.buffer);
  const bits = new Uint32Array(data.slice().buffer);
  for (let i = 0; i < data.length; i++) dv.setUint16(2 * i, dtype === 'F16' ? f32ToF16Bits(data[i]) : bits[i] >>> 16, true);
  return out;
}

/** A state_dict as PyTorch saves it: the expected tensors plus an I64 num_batches_tracked after
 *  every BatchNorm's running_var. Assembled by hand because the writer only writes floats. */
function stateDict(
  inC: number,
  outC: number,
  features: number,
  depth: number,
  opts: { prefix?: string; dtype?: 'F32' | 'F16' | 'BF16'; nbt?: boolean; edit?: (m: Map<string, number[]>) => void } = {},
): { file: Uint8Array; values: Map<string, Float32Array> } {
  const { prefix = '', dtype = 'F32', nbt = true } = opts;
  const shapes = unetTensorNames(inC, outC, features, depth);
  opts.edit?.(shapes);
  const entries: Entry[] = [];
  const values = new Map<string, Float32Array>();
  let k = 0;
  for (const [name, shape] of shapes) {
    const data = fill(
      k++,
      shape.reduce((a, b) => a * b, 1),
      dtype !== 'F32',
    );
    values.set(name, data);
    entries.push({ name: prefix + name, dtype, shape, bytes: encode(data, dtype) });
    if (nbt && name.endsWith('.running_var')) {
      const name2 = prefix + name.replace('running_var', 'num_batches_tracked');
      entries.push({ name: name2, dtype: 'I64', shape: [], bytes: new Uint8Array([100, 0, 0, 0, 0, 0, 0, 0]) });
    }
  }
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let off = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [off, off + e.bytes.length] };
    off += e.bytes.length;
  }
  const h = new TextEncoder().encode(JSON.stringify(header));
  const file = new Uint8Array(8 + h.length + off);
  new DataView(file.buffer).setUint32(0, h.length, true);
  file.set(h, 8);
  let pos = 8 + h.length;
  for (const e of entries) {
    file.set(e.bytes, pos);
    pos += e.bytes.length;
  }
  return { file, values };
}

const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

// ---

const names = suite('unet: unetTensorNames');

names('brain U-Net (3, 1, 32, 4): 100 tensors, 7,763,041 PyTorch parameters', () => {
  const m = unetTensorNames(3, 1, 32, 4);
  assert.is(m.size, 100);
  let all = 0;
  let stats = 0;
  for (const [name, s] of m) {
    const n = s.reduce((a, b) => a * b, 1);
    all += n;
    if (name.includes('.running_')) stats += n;
  }
  assert.is(all - stats, 7_763_041); // sum(p.numel() for p in UNet().parameters())
  assert.equal(m.get('encoder1.enc1conv1.weight'), [32, 3, 3, 3]);
  assert.equal(m.get('encoder4.enc4conv1.weight'), [256, 128, 3, 3]);
  assert.equal(m.get('bottleneck.bottleneckconv1.weight'), [512, 256, 3, 3]);
  assert.equal(m.get('upconv4.weight'), [512, 256, 2, 2]);
  assert.equal(m.get('decoder4.dec4conv1.weight'), [256, 512, 3, 3]);
  assert.equal(m.get('decoder1.dec1norm2.running_var'), [32]);
  assert.equal(m.get('conv.weight'), [1, 32, 1, 1]);
  assert.is([...m.keys()][0], 'encoder1.enc1conv1.weight');
  assert.is([...m.keys()].at(-1), 'conv.bias');
});

names.run();

// ---

const mapping = suite('unet: unetParamsFromSafetensors');

mapping('(3, 1, 4, 4) with I64 num_batches_tracked: inferred architecture and field placement', () => {
  const { file, values } = stateDict(3, 1, 4, 4);
  const st = parseSafetensors(file, 'synthetic.safetensors');
  assert.is(st.tensors.get('encoder1.enc1norm1.num_batches_tracked')!.dtype, 'I64');
  const p = unetParamsFromSafetensors(st);
  assert.equal([p.inChannels, p.outChannels, p.features, p.depth], [3, 1, 4, 4]);
  assert.equal([p.encoders.length, p.upconvs.length, p.decoders.length], [4, 4, 4]);
  assert.ok(same(p.decoders[0].norm2.runningVar, values.get('decoder1.dec1norm2.running_var')!));
  assert.ok(same(p.encoders[2].conv1.weight, values.get('encoder3.enc3conv1.weight')!));
  assert.equal(p.encoders[2].conv1.shape, [16, 8, 3, 3]);
  assert.is(p.encoders[2].conv1.bias, undefined);
  assert.ok(same(p.encoders[0].norm1.runningMean, values.get('encoder1.enc1norm1.running_mean')!));
  assert.ok(same(p.bottleneck.conv2.weight, values.get('bottleneck.bottleneckconv2.weight')!));
  assert.equal(p.bottleneck.conv1.shape, [64, 32, 3, 3]);
  assert.ok(same(p.upconvs[3].weight, values.get('upconv4.weight')!));
  assert.ok(same(p.upconvs[3].bias!, values.get('upconv4.bias')!));
  assert.equal(p.upconvs[3].shape, [64, 32, 2, 2]);
  assert.ok(same(p.decoders[3].norm1.bias, values.get('decoder4.dec4norm1.bias')!));
  assert.ok(same(p.head.weight, values.get('conv.weight')!));
  assert.ok(same(p.head.bias!, values.get('conv.bias')!));
  assert.equal(p.head.shape, [1, 4, 1, 1]);
  assert.is(p.decoders[1].norm2.eps, 1e-5);
  let total = 0;
  for (const v of values.values()) total += v.length;
  assert.is(countParameters(p), total);
});

mapping('depth 3, (1, 2, 8, 3)', () => {
  const { file, values } = stateDict(1, 2, 8, 3);
  const p = unetParamsFromSafetensors(parseSafetensors(file));
  assert.equal([p.inChannels, p.outChannels, p.features, p.depth], [1, 2, 8, 3]);
  assert.equal(p.bottleneck.conv1.shape, [64, 32, 3, 3]);
  assert.ok(same(p.upconvs[2].weight, values.get('upconv3.weight')!));
  assert.equal(p.head.shape, [2, 8, 1, 1]);
});

mapping('DataParallel "module." prefix is stripped', () => {
  const { file, values } = stateDict(3, 1, 4, 4, { prefix: 'module.' });
  const p = unetParamsFromSafetensors(parseSafetensors(file));
  assert.is(p.depth, 4);
  assert.ok(same(p.decoders[0].norm2.runningVar, values.get('decoder1.dec1norm2.running_var')!));
});

mapping('F16 and BF16 weights, no num_batches_tracked', () => {
  for (const dtype of ['F16', 'BF16'] as const) {
    const { file, values } = stateDict(3, 1, 4, 2, { dtype, nbt: false });
    const p = unetParamsFromSafetensors(parseSafetensors(file));
    assert.ok(same(p.encoders[1].conv2.weight, values.get('encoder2.enc2conv2.weight')!), dtype);
    assert.ok(same(p.head.bias!, values.get('conv.bias')!), dtype);
  }
});

mapping('written by writeSafetensors (F32 only)', () => {
  const shapes = unetTensorNames(2, 3, 2, 1);
  const tensors = Object.fromEntries([...shapes].map(([n, s]) => [n, { shape: s, data: new Float32Array(s.reduce((a, b) => a * b, 1)).fill(0.5) }]));
  const p = unetParamsFromSafetensors(parseSafetensors(writeSafetensors(tensors)));
  assert.equal([p.inChannels, p.outChannels, p.features, p.depth], [2, 3, 2, 1]);
});

mapping.run();

// ---

const errors = suite('unet: validation errors');

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.instance(e, SafetensorsError);
    return (e as Error).message;
  }
  assert.unreachable('expected a SafetensorsError');
  return '';
}

errors('one missing, one mis-shaped, one unexpected: all three in one error', () => {
  const { file } = stateDict(3, 1, 4, 4, {
    edit: (m) => {
      m.delete('decoder2.dec2norm1.running_var');
      m.set('upconv3.weight', [32, 16, 3, 3]);
      m.set('foo.weight', [2]);
    },
  });
  const msg = message(() => unetParamsFromSafetensors(parseSafetensors(file, 'broken.safetensors')));
  const lines = msg.split('\n');
  assert.is(lines[0], 'broken.safetensors: not a brain-segmentation U-Net state_dict (3 problems):');
  assert.equal(lines.slice(1).sort(), [
    '  - "upconv3.weight" has shape [32, 16, 3, 3], expected [32, 16, 2, 2]',
    '  - missing "decoder2.dec2norm1.running_var" [8]',
    '  - unexpected "foo.weight"',
  ]);
});

errors('non-float dtype where floats are needed; unexpected keeps the "module." prefix', () => {
  const { file } = stateDict(3, 1, 4, 1, { prefix: 'module.', edit: (m) => m.set('extra', [1]) });
  const st = parseSafetensors(file, 'dp.safetensors');
  // Relabel one F32 [4] tensor as I32 [4] in place: same byte length, so the file stays valid.
  const info = st.tensors.get('module.encoder1.enc1norm1.bias')!;
  info.dtype = 'I32';
  const msg = message(() => unetParamsFromSafetensors(st));
  assert.match(msg, /^dp\.safetensors: not a brain-segmentation U-Net state_dict \(2 problems\):\n/);
  assert.match(msg, '  - "encoder1.enc1norm1.bias" is I32, expected a float dtype');
  assert.match(msg, '  - unexpected "module.extra"');
});

errors('architecture cannot be inferred: no encoder1.enc1conv1.weight / no conv.weight', () => {
  const noFirst = stateDict(3, 1, 4, 2, { edit: (m) => m.delete('encoder1.enc1conv1.weight') }).file;
  assert.match(
    message(() => unetParamsFromSafetensors(parseSafetensors(noFirst, 'a.st'))),
    /^a\.st: not a brain-segmentation U-Net state_dict: no "encoder1\.enc1conv1\.weight" tensor, so in_channels and init_features cannot be inferred$/,
  );
  const noHead = stateDict(3, 1, 4, 2, { edit: (m) => m.delete('conv.weight') }).file;
  assert.match(
    message(() => unetParamsFromSafetensors(parseSafetensors(noHead, 'b.st'))),
    /no "conv\.weight" tensor, so out_channels cannot be inferred/,
  );
  const empty = writeSafetensors({});
  assert.match(
    message(() => unetParamsFromSafetensors(parseSafetensors(empty, 'c.st'))),
    /in_channels.*; no "conv\.weight"/,
  );
});

errors('absurd depth (encoder99) is refused, not enumerated', () => {
  const { file } = stateDict(3, 1, 4, 1, { edit: (m) => m.set('encoder99.x', [1]) });
  assert.match(
    message(() => unetParamsFromSafetensors(parseSafetensors(file, 'd.st'))),
    /found "encoder99\.\*", but depth above 12 is not supported/,
  );
});

errors('a missing encoder level is reported as missing tensors, not unexpected ones', () => {
  const { file } = stateDict(3, 1, 4, 3, {
    edit: (m) => {
      for (const k of [...m.keys()]) if (k.startsWith('encoder2.')) m.delete(k);
    },
  });
  const msg = message(() => unetParamsFromSafetensors(parseSafetensors(file, 'e.st')));
  assert.match(msg, /\(10 problems\)/);
  assert.match(msg, '  - missing "encoder2.enc2conv1.weight" [8, 4, 3, 3]');
  assert.not.match(msg, 'unexpected');
});

errors.run();
