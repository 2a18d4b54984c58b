// The demo page's model files (web/modelFiles.ts) and how a drop is sorted (web/drop.ts), in Node: which
// file of a folder is the model, a .pt converted by the same reader as `unet convert`, and each refusal
// worded with the file it is about.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { type ModelFile, ModelFileError, readModelFiles, weightsKind } from '../../web/modelFiles.js';
import { sortFiles } from '../../web/drop.js';
import { parseSafetensors } from '../../src/weights/safetensors.js';

const CKPT = 'test/fixtures/checkpoints';
const SMP = 'test/fixtures/smp/r18_d5_sigmoid';

function fromDisk(path: string, inFolder = ''): ModelFile {
  const name = path.split('/').pop()!;
  return { name, path: inFolder ? `${inFolder}/${name}` : name, bytes: async () => new Uint8Array(readFileSync(path)) };
}
const fromBytes = (name: string, bytes: Uint8Array | string): ModelFile => ({
  name,
  path: name,
  bytes: async () => (typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes),
});

async function refusal(files: ModelFile[]): Promise<string> {
  try {
    await readModelFiles(files);
  } catch (e) {
    assert.instance(e, ModelFileError);
    return (e as Error).message;
  }
  return assert.unreachable('expected a ModelFileError') as never;
}

const Files = suite('web: model files');

Files('weightsKind: safetensors, zip and legacy checkpoints by their first bytes; text is neither', () => {
  assert.is(weightsKind(readFileSync('assets/demo/nuclei_unet.safetensors')), 'safetensors');
  assert.is(weightsKind(readFileSync(`${CKPT}/unet_zip.pt`)), 'checkpoint');
  assert.is(weightsKind(readFileSync(`${CKPT}/unet_legacy.pt`)), 'checkpoint');
  assert.is(weightsKind(new TextEncoder().encode('{"encoder_name": "resnet18"}')), undefined);
});

Files('a save_pretrained folder: config.json and model.safetensors, named after the folder; README ignored', async () => {
  const r = await readModelFiles([
    fromDisk(`${SMP}/config.json`, 'r18_d5_sigmoid'),
    fromDisk(`${SMP}/model.safetensors`, 'r18_d5_sigmoid'),
    fromBytes('README.md', '# hi'),
  ]);
  assert.is(r.name, 'r18_d5_sigmoid/');
  assert.is(JSON.parse(r.config!).encoder_name, 'resnet18');
  assert.is(r.weights.length, readFileSync(`${SMP}/model.safetensors`).length);
  assert.match(r.notes.join('\n'), /read config\.json and model\.safetensors from r18_d5_sigmoid\//);
  assert.match(r.notes.join('\n'), /ignored README\.md/);
});

Files('a .pt: converted in the page (the CLI reader), the same tensors as unet convert writes', async () => {
  const r = await readModelFiles([fromDisk(`${CKPT}/unet_wrapped_views.pt`)]);
  assert.match(r.notes.join('\n'), /converted from a PyTorch checkpoint \(zip format, 118 tensors\).*nothing in it was executed/s);
  assert.match(r.notes.join('\n'), /"state_dict" entry/);
  const got = parseSafetensors(r.weights);
  const want = parseSafetensors(readFileSync(`${CKPT}/unet.expected.safetensors`));
  assert.equal([...got.tensors.keys()].sort(), [...want.tensors.keys()].sort());
  const bytesOf = (st: typeof got, k: string) => {
    const t = st.tensors.get(k)!;
    return [t.dtype, t.shape.join('x'), Buffer.from(st.bytes.subarray(t.byteOffset, t.byteOffset + t.byteLength)).toString('base64')];
  };
  for (const k of want.tensors.keys()) assert.equal(bytesOf(got, k), bytesOf(want, k), k);
});

Files('refusals name the file and say what to do', async () => {
  assert.match(
    await refusal([fromBytes('model.bin', 'random bytes')]),
    /^model\.bin: not a safetensors file — to use a PyTorch \.pt\/\.pth, convert it with `unet convert` or drop the \.pt here$/,
  );
  assert.match(await refusal([fromBytes('config.json', '{}')]), /^config\.json: a model config without its weights — pick the whole save_pretrained folder/);
  assert.match(await refusal([fromBytes('model.safetensors', new Uint8Array(0))]), /^model\.safetensors: empty file \(0 bytes\)$/);
  assert.match(await refusal([fromDisk(`${CKPT}/evil_reduce.pt`)]), /^evil_reduce\.pt: refused global posix\.system .*nothing was executed/);
  assert.match(await refusal([fromBytes('weights.pth', 'not a pickle')]), /^weights\.pth: not a PyTorch checkpoint/);
});

Files.run();

// ---

const Sort = suite('web: sorting a drop');

Sort('model files, images, and the other files of a folder (left out); a lone unknown file stays, to be named', () => {
  const f = (path: string, type = '') => ({ file: new File([], path.split('/').pop()!, { type }), path });
  const r = sortFiles([
    f('run/config.json'),
    f('run/model.safetensors'),
    f('run/README.md'),
    f('scan.png'),
    f('photo', 'image/jpeg'),
    f('notes.txt'),
    f('w.pt'),
  ]);
  assert.equal(
    r.model.map((x) => x.path),
    ['run/config.json', 'run/model.safetensors', 'w.pt'],
  );
  assert.equal(
    r.images.map((x) => x.path),
    ['scan.png', 'photo', 'notes.txt'],
  );
  assert.equal(
    r.skipped.map((x) => x.path),
    ['run/README.md'],
  );
});

Sort.run();
