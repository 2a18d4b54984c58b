// `unet convert` as a user runs it: a torch.save checkpoint to safetensors, then `unet infer` on the result
// equals PyTorch's output; malicious and corrupt checkpoints are one-line errors that leave no file.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSafetensors } from '../src/weights/safetensors.js';
import { assertOneLineError, tempDirs, unet } from './cliRun.js';

const DIR = 'test/fixtures/checkpoints';
const tmp = tempDirs('unet-convert-');
const Convert = suite('cli: unet convert');
Convert.after(tmp.cleanup);

Convert('legacy checkpoint -> safetensors -> unet infer equals PyTorch (<= 2e-5)', () => {
  const d = tmp.dir();
  const w = join(d, 'model.safetensors');
  const r = unet('convert', `${DIR}/unet_legacy.pt`, '-o', w);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /unet_legacy\.pt \(legacy format\) -> .*model\.safetensors: 118 tensors \(100 F32, 18 I64\)/);
  assert.match(r.stderr, /U-Net 3 -> 1 channels, init_features 2, depth 4/);
  const st = parseSafetensors(readFileSync(w));
  assert.is(st.metadata.source, 'unet_legacy.pt');
  const y = join(d, 'y.safetensors');
  const r2 = unet('infer', '--weights', w, '--input', `${DIR}/unet.io.safetensors`, '--out', y);
  assert.is(r2.code, 0, r2.stderr);
  const got = parseSafetensors(readFileSync(y)).getF32('output');
  const want = parseSafetensors(readFileSync(`${DIR}/unet.io.safetensors`)).getF32('output');
  const maxAbs = got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0);
  assert.ok(maxAbs <= 2e-5, `max |diff| ${maxAbs}`);
  assert.equal(readdirSync(d).sort(), ['model.safetensors', 'y.safetensors']);
});

Convert('zip checkpoint wrapped in {"state_dict": ...}: says which key it used', () => {
  const d = tmp.dir();
  const r = unet('convert', `${DIR}/unet_wrapped_views.pt`, '--out', join(d, 'm.safetensors'));
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /\(zip format\)/);
  assert.match(r.stderr, /note: state_dict read from the checkpoint's "state_dict" entry/);
  const want = readFileSync(`${DIR}/unet.expected.safetensors`);
  const a = parseSafetensors(readFileSync(join(d, 'm.safetensors')));
  const b = parseSafetensors(want);
  for (const [name, t] of b.tensors) {
    const u = a.tensors.get(name)!;
    assert.ok(
      Buffer.compare(a.bytes.subarray(u.byteOffset, u.byteOffset + u.byteLength), b.bytes.subarray(t.byteOffset, t.byteOffset + t.byteLength)) === 0,
      name,
    );
  }
});

Convert('a state_dict of another network is converted with a note', () => {
  const d = tmp.dir();
  const r = unet('convert', `${DIR}/zoo.pt`, '--key', 'model', '-o', join(d, 'zoo.safetensors'));
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /not a model this engine runs, written anyway/);
  assert.match(r.stderr, /note: 1 F64 tensor\(s\) converted to F32: d\.f64/);
});

for (const [file, pattern] of [
  ['evil_reduce.pt', /^unet: .*evil_reduce\.pt: refused global posix\.system \(it would run code/],
  ['evil_module.pt', /^unet: .*evil_module\.pt: refused global unet_model\.UNet/],
] as const) {
  Convert(`refused: ${file}, no output file`, () => {
    const d = tmp.dir();
    assertOneLineError(unet('convert', `${DIR}/${file}`, '-o', join(d, 'x.safetensors')), pattern);
    assert.equal(readdirSync(d), []);
    assert.not.ok(existsSync('/tmp/unet-convert-was-exploited'));
  });
}

Convert('corrupt: a truncated zip, a truncated legacy file, a bad opcode; an existing output is left as it was', () => {
  const d = tmp.dir();
  const zip = readFileSync(`${DIR}/unet_zip.pt`);
  writeFileSync(join(d, 'cut.pt'), zip.subarray(0, 100_000));
  writeFileSync(join(d, 'out.safetensors'), 'previous');
  assertOneLineError(unet('convert', join(d, 'cut.pt'), '-o', join(d, 'out.safetensors')), /cut\.pt: not a readable zip archive \(truncated or corrupt/);
  const legacy = readFileSync(`${DIR}/unet_legacy.pt`);
  writeFileSync(join(d, 'cut2.pt'), legacy.subarray(0, legacy.length - 1000));
  assertOneLineError(unet('convert', join(d, 'cut2.pt'), '-o', join(d, 'out.safetensors')), /cut2\.pt: truncated: storage "\d+" needs/);
  writeFileSync(join(d, 'opcode.pt'), Uint8Array.from([0x80, 0x02, 0xff]));
  assertOneLineError(
    unet('convert', join(d, 'opcode.pt'), '-o', join(d, 'out.safetensors')),
    /opcode\.pt: unsupported or invalid pickle opcode 0xff at byte 2$/,
  );
  assert.equal(readdirSync(d).sort(), ['cut.pt', 'cut2.pt', 'opcode.pt', 'out.safetensors']);
  assert.is(readFileSync(join(d, 'out.safetensors'), 'utf8'), 'previous');
});

Convert('usage errors: no file, missing -o, unknown option (exit 2)', () => {
  assertOneLineError(unet('convert', '-o', 'x.safetensors'), /^unet: convert: expected one checkpoint file, found 0/, 2);
  assertOneLineError(unet('convert', `${DIR}/unet_zip.pt`), /^unet: convert: --out is required/, 2);
  assertOneLineError(unet('convert', `${DIR}/unet_zip.pt`, '-o', 'x', '--frob'), /^unet: convert: unknown option --frob/, 2);
  assertOneLineError(unet('convert', `${DIR}/nope.pt`, '-o', join(tmp.dir(), 'x.safetensors')), /nope\.pt: cannot read \(ENOENT\)$/);
});

Convert.run();
