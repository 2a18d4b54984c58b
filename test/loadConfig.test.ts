// Loading refuses what would make a model silently wrong or the loader unsafe: config.json files that are
// not small regular files (checked before reading), config values smp never writes, negative BatchNorm
// variances, settings that would need arrays no file holds; and model.info counts parameters and buffers
// as PyTorch does.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SafetensorsError, UnetError, WeightsError, loadModel, parseSafetensors, writeSafetensors } from '../src/node.js';
import { buildModel } from '../src/arch/index.js';
import { readModelSource } from '../src/load.js';
import { testDevice } from './helpers.js';
import { skip } from './skip.js';
import { assertOneLineError, unet } from './cliRun.js';

const GRAY = 'test/fixtures/gray.weights.safetensors'; // brain U-Net, 1 -> 1, init_features 4
const R18 = 'test/fixtures/smp/r18_d5_sigmoid'; // smp Unet resnet18, depth 5, save_pretrained folder
const R18_HINT = 'run `/usr/bin/python3 tools/make_smp_fixtures.py --weights` to make test/fixtures/smp/*/model.safetensors';

async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => assert.unreachable('expected a rejection') as never,
    (e: unknown) => e as Error,
  );
}

/** A copy of a safetensors file's bytes with one f32 of one tensor replaced. */
function withValue(bytes: Uint8Array, name: string, index: number, value: number): Uint8Array {
  const st = parseSafetensors(bytes, 'x');
  const t = st.tensors.get(name)!;
  assert.is(t.dtype, 'F32', `${name} is F32`);
  const out = bytes.slice();
  new DataView(out.buffer, out.byteOffset).setFloat32(t.byteOffset + 4 * index, value, true);
  return out;
}

// ---

const Files = suite<{ device: GPUDevice; dir: string }>('config.json: read only when a small regular file; errors name it and never echo it');
Files.before(async (ctx) => {
  ctx.device = await testDevice();
  ctx.dir = mkdtempSync(join(tmpdir(), 'unet-config-'));
});
Files.after((ctx) => rmSync(ctx.dir, { recursive: true, force: true }));

/** A model folder whose config.json is made by `make(path)` and whose weights are the gray U-Net's. */
function folder(root: string, name: string, make: (path: string) => void): string {
  const dir = join(root, name);
  mkdirSync(dir);
  symlinkSync(resolve(GRAY), join(dir, 'model.safetensors'));
  make(join(dir, 'config.json'));
  return dir;
}

Files('a bad value in config.json is an error naming config.json, not model.safetensors', async ({ device, dir }) => {
  const d = folder(dir, 'bad-value', (p) => writeFileSync(p, JSON.stringify({ _model_class: 'Unet', encoder_name: 'resnet18', activation: 'constructor' })));
  const e = await rejection(loadModel(device, d));
  assert.instance(e, UnetError);
  assert.match(e.message, new RegExp(`^${d}/config\\.json: not supported: activation "constructor"`));
});

Files('config.json linked to a password file: "not valid JSON" without its bytes', async ({ device, dir }) => {
  const secret = join(dir, 'passwd');
  writeFileSync(secret, 'root:x:0:0:root:/root:/bin/bash\nsecret-token-1234\n');
  const d = folder(dir, 'linked', (p) => symlinkSync(secret, p));
  const e = await rejection(loadModel(device, d));
  assert.instance(e, WeightsError);
  assert.match(e.message, new RegExp(`^${d}/config\\.json: not valid JSON`));
  assert.not.match(e.message, /root|secret|bash/, e.message);
});

Files('config.json as /dev/zero, a FIFO or a folder is refused before it is read', async ({ device, dir }) => {
  const cases: [string, (p: string) => void][] = [
    ['dev-zero', (p) => symlinkSync('/dev/zero', p)],
    ['fifo', (p) => execFileSync('mkfifo', [p])],
    ['folder', (p) => mkdirSync(p)],
  ];
  for (const [name, make] of cases) {
    const d = folder(dir, name, make);
    const t0 = performance.now();
    const e = await rejection(loadModel(device, d));
    assert.instance(e, WeightsError, name);
    assert.match(e.message, new RegExp(`^${d}/config\\.json: not a regular file`), name);
    assert.ok(performance.now() - t0 < 2000, `${name}: took ${performance.now() - t0} ms`);
  }
});

Files('a 500 MB config.json is refused from its size, before it is read', async ({ device, dir }) => {
  const d = folder(dir, 'huge', (p) => {
    writeFileSync(p, '{');
    truncateSync(p, 500e6); // sparse: no disk used
  });
  const before = process.memoryUsage().arrayBuffers;
  const e = await rejection(loadModel(device, d));
  const grew = process.memoryUsage().arrayBuffers - before;
  assert.instance(e, WeightsError);
  assert.match(e.message, new RegExp(`^${d}/config\\.json: larger than the 1048576 bytes a model config may have`));
  // reading it would have held 500 MB of bytes (and 1 GB as a string)
  assert.ok(grew < 50e6, `array buffers grew by ${grew} bytes`);
});

Files('unet info --weights FOLDER: the same refusals, naming config.json (the CLI reads the folder itself)', ({ dir }) => {
  const huge = folder(dir, 'cli-huge', (p) => {
    writeFileSync(p, '{');
    truncateSync(p, 500e6);
  });
  // it used to read all 500 MB (1 GB of RSS) and then call it "model.safetensors config"
  assertOneLineError(
    unet('info', '--weights', huge),
    new RegExp(`^unet: ${huge}/config\\.json: a file of 477 MiB is larger than the 1048576 bytes a model config may have$`),
  );
  const secret = join(dir, 'cli-passwd');
  writeFileSync(secret, 'root:x:0:0:root:/root:/bin/bash\n');
  const linked = folder(dir, 'cli-linked', (p) => symlinkSync(secret, p));
  const r = unet('info', '--weights', linked);
  assertOneLineError(r, new RegExp(`${linked}/config\\.json: not valid JSON$`));
  assert.not.match(r.stderr, /root/);
  const bad = folder(dir, 'cli-bad', (p) => writeFileSync(p, JSON.stringify({ encoder_name: 'resnet18', activation: ['sigmoid'] })));
  assertOneLineError(unet('info', '--weights', bad), new RegExp(`${bad}/config\\.json: activation is \\["sigmoid"\\], expected null or a string`));
});

// ---

const Values = suite<{ device: GPUDevice }>('config values smp never writes are refused, not looked up');
Values.before(async (ctx) => {
  ctx.device = await testDevice();
});

Values('resnet18 weights with activation "constructor", "toString", "__proto__", "hasOwnProperty" or ["sigmoid"]: refused', async ({ device }) => {
  if (!existsSync(`${R18}/model.safetensors`)) return skip(`${R18}/model.safetensors is missing: ${R18_HINT}`);
  const weights = readFileSync(`${R18}/model.safetensors`);
  const config = JSON.parse(readFileSync(`${R18}/config.json`, 'utf8'));
  // the file as it is loads (the control: the refusals below are the activation's)
  (await loadModel(device, { weights, config, name: 'r18' })).dispose();
  for (const activation of ['constructor', 'toString', '__proto__', 'hasOwnProperty', ['sigmoid']]) {
    const e = await rejection(loadModel(device, { weights, config: { ...config, activation }, name: 'r18' }));
    assert.instance(e, UnetError, JSON.stringify(activation));
    assert.match(e.message, /^r18 config: (not supported: activation|activation is \["sigmoid"\], expected null or a string)/, e.message);
  }
});

Values('brain U-Net keys that ask for 4096 * 2^12 channels: refused as a weights error, not a RangeError', () => {
  // init_features 4096 from the first conv, depth 12 from a key: its deepest conv would be [2^24, 2^23, 3, 3]
  const bytes = writeSafetensors({
    'encoder1.enc1conv1.weight': { shape: [4096, 1, 3, 3], data: new Float32Array(4096 * 9) },
    'conv.weight': { shape: [1, 4096, 1, 1], data: new Float32Array(4096) },
    'encoder12.enc12conv1.weight': { shape: [1], data: new Float32Array(1) },
  });
  try {
    buildModel(parseSafetensors(bytes, 'deep.safetensors'), undefined);
    assert.unreachable('accepted');
  } catch (e) {
    assert.instance(e, SafetensorsError);
    assert.match(
      (e as Error).message,
      /^deep\.safetensors: "encoder\d+\.enc\d+conv\d\.weight" would have shape \[\d+, \d+, 3, 3\], more than this \d+-byte file can hold/,
    );
  }
});

// ---

const Bn = suite<{ device: GPUDevice }>('a negative BatchNorm running_var is refused at load, naming the tensor and index');
Bn.before(async (ctx) => {
  ctx.device = await testDevice();
});

Bn('brain U-Net: decoder1.dec1norm2.running_var[3] = -0.25', async ({ device }) => {
  const bytes = withValue(readFileSync(GRAY), 'decoder1.dec1norm2.running_var', 3, -0.25);
  const e = await rejection(loadModel(device, { weights: bytes, name: 'neg.safetensors' }));
  assert.instance(e, WeightsError);
  assert.match(e.message, /"decoder1\.dec1norm2\.running_var" holds a negative variance \(-0\.25 at index 3\)/);
});

Bn('smp resnet18: encoder.layer2.0.bn1.running_var[5] = -1', async () => {
  if (!existsSync(`${R18}/model.safetensors`)) return skip(`${R18}/model.safetensors is missing: ${R18_HINT}`);
  const bytes = withValue(readFileSync(`${R18}/model.safetensors`), 'encoder.layer2.0.bn1.running_var', 5, -1);
  const config = JSON.parse(readFileSync(`${R18}/config.json`, 'utf8'));
  try {
    buildModel(parseSafetensors(bytes, 'neg-r18'), config);
    assert.unreachable('accepted');
  } catch (e) {
    assert.instance(e, WeightsError);
    assert.match((e as Error).message, /"encoder\.layer2\.0\.bn1\.running_var" holds a negative variance \(-1 at index 5\)/);
  }
});

// ---

const Counts = suite<{ device: GPUDevice }>('model.info.parameters and .buffers as PyTorch counts them');
Counts.before(async (ctx) => {
  ctx.device = await testDevice();
});

// sum(p.numel() for p in m.parameters()), sum(b.numel() for b in m.buffers()) with torch 1.13, m built by
// tools/unet_model.py UNet(in_channels=1, out_channels=1, init_features=4) and tools/smp_unet.py
// build_unet(**config.json) (tools/check_smp.py checks that module against smp itself)
const PYTORCH: [string, number, number][] = [
  [GRAY, 122_021, 754],
  [R18, 11_309_333, 9_790],
  ['test/fixtures/smp/eb1_d3_scse_softmax', 6_558_758, 62_379],
];

Counts('gray U-Net, smp resnet18 and efficientnet-b1 (whose unused _conv_head counts, as in PyTorch)', async () => {
  for (const [path, parameters, buffers] of PYTORCH) {
    if (!existsSync(path.endsWith('.safetensors') ? path : `${path}/model.safetensors`)) {
      skip(`${path} is missing: ${R18_HINT}`);
      continue;
    }
    const { bytes, config, source, configSource } = await readModelSource(path);
    const { info } = buildModel(parseSafetensors(bytes, source), config, { configSource });
    assert.equal([info.parameters, info.buffers], [parameters, buffers], path);
  }
});

Counts('loadModel fills info.parameters and info.buffers', async ({ device }) => {
  const model = await loadModel(device, GRAY);
  assert.is(model.info.parameters, 122_021);
  assert.is(model.info.buffers, 754);
  model.dispose();
});

Files.run();
Values.run();
Bn.run();
Counts.run();
