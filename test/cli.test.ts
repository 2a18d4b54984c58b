// The `unet` command line, run as a child process (`node bin/unet.js ...`) the way a user runs it:
// exit codes, what lands on stdout/stderr, and the files it leaves behind (an output file only on
// success, never a temporary one).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSafetensors, writeSafetensors } from '../src/weights/safetensors.js';
// Dawn logs some adapter quirks straight to stderr from native code (on lavapipe: "Warning:
// maxDynamicUniformBuffersPerPipelineLayout artificially reduced ..."). src/gpu/dawnLog.ts keeps those
// two off a terminal or pipe, but a child spawned by Node has a socket for stderr, which it cannot
// reopen and leaves alone; unet() leaves those lines out.
import { assertOneLineError, unet } from './cliRun.js';

const WEIGHTS = 'test/fixtures/b2_rgb.weights.safetensors'; // 3 -> 1 channels, init_features 4, depth 4
const IO = 'test/fixtures/b2_rgb.io.safetensors'; // input [2, 3, 32, 32], output [2, 1, 32, 32]
const MAX_ABS = 2e-5;

function readTensors(path: string) {
  return parseSafetensors(readFileSync(path), path);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.is(a.length, b.length, 'lengths');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const fixture = readTensors(IO);
const fixtureInput = { data: fixture.getF32('input'), shape: fixture.tensors.get('input')!.shape };
const fixtureOutput = fixture.getF32('output');

const Cli = suite<{ root: string; n: number; dir: () => string }>('unet CLI');
Cli.before((ctx) => {
  ctx.root = mkdtempSync(join(tmpdir(), 'unet-cli-'));
  ctx.n = 0;
  // a fresh directory per test, so each can check exactly what was left in it
  ctx.dir = () => {
    const d = join(ctx.root, `t${ctx.n++}`);
    mkdirSync(d);
    return d;
  };
});
Cli.after((ctx) => rmSync(ctx.root, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// success

Cli('infer b2_rgb: output within 2e-5 of PyTorch, metadata, timing line, no temp file', ({ dir }) => {
  const d = dir();
  const out = join(d, 'y.safetensors');
  const r = unet('infer', '--weights', WEIGHTS, '--input', IO, '--out', out);
  assert.is(r.code, 0, r.stderr);
  assert.equal(readdirSync(d), ['y.safetensors']);
  const y = readTensors(out);
  assert.equal([...y.tensors.keys()], ['output']);
  assert.equal(y.tensors.get('output')!.shape, [2, 1, 32, 32]);
  assert.is(y.tensors.get('output')!.dtype, 'F32');
  const diff = maxAbsDiff(y.getF32('output'), fixtureOutput);
  assert.ok(diff <= MAX_ABS, `max |cli - torch| = ${diff}`);
  const m = y.metadata;
  assert.is(m.weights, 'b2_rgb.weights.safetensors');
  assert.is(m.input, 'b2_rgb.io.safetensors');
  assert.is(m.engine, 'webgpu-unet');
  assert.match(m.engine_version, /^\d+\.\d+\.\d+/);
  assert.ok(m.adapter, 'adapter in metadata');
  assert.ok(Number(m.forward_ms) > 0, `forward_ms ${m.forward_ms}`);
  assert.is(r.lines.length, 1, r.stderr);
  assert.match(r.lines[0], /^unet infer: \[2,3,32,32\] -> \[2,1,32,32\]; .*load [\d.]+ ms, first run [\d.]+ ms, forward [\d.]+ ms \(.+\)$/);
  assert.is(r.stdout, '');
});

Cli('infer: F16 input under another name, --output-name, --runs 3, replaces an existing output', ({ dir }) => {
  const d = dir();
  const input = join(d, 'x16.safetensors');
  const out = join(d, 'y.safetensors');
  writeFileSync(input, writeSafetensors({ image: { dtype: 'F16', shape: fixtureInput.shape, data: fixtureInput.data } }));
  writeFileSync(out, 'old');
  const r = unet('infer', '--weights', WEIGHTS, '--input', input, '--input-name', 'image', '--out', out, '--output-name', 'probs', '--runs', '3');
  assert.is(r.code, 0, r.stderr);
  assert.equal(readdirSync(d).sort(), ['x16.safetensors', 'y.safetensors']);
  const y = readTensors(out);
  assert.equal([...y.tensors.keys()], ['probs']);
  assert.equal(y.tensors.get('probs')!.shape, [2, 1, 32, 32]);
  // f16 rounding of the input (relative 2^-11) moves the probabilities a little
  const diff = maxAbsDiff(y.getF32('probs'), fixtureOutput);
  assert.ok(diff <= 1e-2, `max |cli(f16 input) - torch| = ${diff}`);
  assert.is(y.metadata.input_tensor, 'image');
  assert.match(r.lines[0], /^unet infer: \[2,3,32,32\] F16 -> \[2,1,32,32\]; .*forward median [\d.]+ ms, min [\d.]+ ms over 3 runs/);
});

Cli('info: adapter, a features line, limits', () => {
  const r = unet('info');
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^adapter: /m);
  assert.match(r.stdout, /^features \(\d+\): /m);
  assert.match(r.stdout, /^\s+maxStorageBufferBindingSize\s+\d+/m);
});

Cli('info --json: one JSON object', () => {
  const r = unet('info', '--json');
  assert.is(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.type(info.description, 'string');
  assert.ok(Array.isArray(info.features));
  assert.equal(info.features, [...info.features].sort());
  assert.type(info.limits.maxStorageBufferBindingSize, 'number');
});

Cli('info --weights: the demo model: architecture, preprocessing, size, cost and inferred settings', () => {
  const r = unet('info', '--weights', 'assets/demo/nuclei_unet.safetensors');
  assert.is(r.code, 0, r.stderr);
  for (const line of [
    /^architecture: +brain-unet$/m,
    /^encoder: +unet$/m,
    /^depth: +4$/m,
    /^decoder channels: +32, 16, 8, 4$/m,
    /^attention: +none$/m,
    /^upsampling: +transposed-conv$/m,
    /^in_channels: +1$/m,
    /^classes: +1$/m,
    /^activation: +sigmoid$/m,
    /^preprocessing: +zscore /m,
    /^parameters: +[\d,]+$/m,
    /^buffers: +[\d,]+ \(BatchNorm running statistics/m,
    /^weights on the GPU: +[\d.]+ MB packed for this device's kernels \(the parameters as f32 tensors: 0\.5 MB\)$/m,
    /^GFLOP: +[\d.]+ at 1x1x256x256$/m,
    /^size multiple: +16 /m,
    /^init_features: +4$/m,
    /^inferred: +in_channels, classes, init_features, depth \(from the tensors; no config\.json\)$/m,
  ])
    assert.match(r.stdout, line);
  const j = JSON.parse(unet('info', '--weights', 'assets/demo/nuclei_unet.safetensors', '--json').stdout);
  assert.equal(
    [
      j.architecture,
      j.encoder,
      j.depth,
      j.decoderChannels,
      j.inChannels,
      j.classes,
      j.activation,
      j.multiClass,
      j.preprocessing,
      j.sizeMultiple,
      j.features,
      j.config,
    ],
    ['brain-unet', 'unet', 4, [32, 16, 8, 4], 1, 1, 'sigmoid', false, { kind: 'zscore' }, 16, 4, false],
  );
  // tools/train_demo.py's U-Net (init_features 4, 1 -> 1) as PyTorch counts it: 122 021 parameters, and
  // 754 in buffers (BatchNorm running_mean and running_var, 736, and 18 num_batches_tracked)
  assert.equal([j.parameters, j.buffers], [122021, 754]);
  assert.ok(j.gflop > 0.3 && j.gflop < 0.5, `gflop ${j.gflop}`);
});

const SMP = 'test/fixtures/smp/r50_d3_nonorm'; // resnet50, depth 3, 3 -> 2 classes, logsoftmax (config.json)
const smpWeights = existsSync(join(SMP, 'model.safetensors'));

Cli('info --weights on an smp save_pretrained folder: settings from config.json, multi-class', () => {
  if (!smpWeights) return console.log(`  skipped: ${SMP}/model.safetensors missing (/usr/bin/python3 tools/make_smp_fixtures.py --weights)`);
  const r = unet('info', '--weights', SMP, '--json');
  assert.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(
    [
      j.architecture,
      j.encoder,
      j.depth,
      j.decoderChannels,
      j.upsampling,
      j.inChannels,
      j.classes,
      j.activation,
      j.multiClass,
      j.preprocessing,
      j.sizeMultiple,
      j.inferred,
      j.config,
    ],
    ['smp-unet', 'resnet50', 3, [16, 8, 8], 'nearest', 3, 2, 'logsoftmax', true, { kind: 'imagenet' }, 1, [], true],
  );
  assert.ok(j.gflop === null ? /no kernel yet/.test(j.gflopError) : j.gflop > 0, JSON.stringify(j));
  const t = unet('info', '--weights', SMP);
  assert.match(t.stdout, /^classes: +2 \(exclusive: one class per pixel\)$/m);
  assert.match(t.stdout, /^inferred: +nothing: all from config\.json$/m);
});

Cli('info --weights: a folder without model.safetensors is one line naming it', ({ dir }) => {
  const d = dir();
  assertOneLineError(unet('info', '--weights', d), /a model folder holds model\.safetensors \(and config\.json\), this one has no model\.safetensors$/);
});

Cli('--activation: a usage error naming the accepted values; one the model cannot take is its one-line refusal', ({ dir }) => {
  const d = dir();
  for (const cmd of [
    ['infer', '--input', IO, '--out', join(d, 'y.safetensors')],
    ['segment', 'x.png', '--out-dir', d],
  ]) {
    assertOneLineError(
      unet(...cmd, '--weights', WEIGHTS, '--activation', 'relu'),
      new RegExp(`^unet: ${cmd[0]}: --activation must be identity, sigmoid, softmax, logsoftmax or tanh, found "relu"$`),
      2,
    );
  }
  // the brain U-Net ends in its sigmoid: nothing else is offered, and nothing is written
  assertOneLineError(
    unet('infer', '--weights', WEIGHTS, '--input', IO, '--out', join(d, 'y.safetensors'), '--activation', 'softmax'),
    /b2_rgb\.weights\.safetensors: the brain-segmentation U-Net ends in a sigmoid; activation "softmax" is not supported for it$/,
  );
  assert.equal(readdirSync(d), []);
  // sigmoid, its own, is accepted
  const r = unet('infer', '--weights', WEIGHTS, '--input', IO, '--out', join(d, 'y.safetensors'), '--activation', 'sigmoid');
  assert.is(r.code, 0, r.stderr);
  assert.ok(maxAbsDiff(readTensors(join(d, 'y.safetensors')).getF32('output'), fixtureOutput) <= MAX_ABS);
});

Cli('--help, infer --help and --version go to stdout, exit 0', () => {
  const help = unet('--help');
  assert.is(help.code, 0);
  assert.match(help.stdout, /unet infer --weights/);
  assert.match(help.stdout, /\binfo\b/);
  const inferHelp = unet('infer', '--help');
  assert.is(inferHelp.code, 0);
  assert.match(inferHelp.stdout, /--input-name/);
  for (const flag of ['--version', '-V']) {
    const version = unet(flag);
    assert.is(version.code, 0, flag);
    assert.match(version.stdout, /^webgpu-unet \d+\.\d+\.\d+/, flag);
  }
});

Cli('misspelled options and commands: "did you mean" (exit 2)', () => {
  assertOneLineError(unet('infer', '--wieghts', WEIGHTS), /^unet: infer: unknown option --wieghts; did you mean --weights\?/, 2);
  assertOneLineError(unet('bench', '--size', '64'), /unknown option --size; did you mean --sizes\?/, 2);
  assertOneLineError(unet('segmnt', 'x'), /^unet: unknown command "segmnt"; did you mean segment\?/, 2);
  assertOneLineError(unet('--verison'), /^unet: unknown option --verison; did you mean --version\?/, 2);
  // nothing near: no guess
  assertOneLineError(unet('infer', '--frobnicate'), /^unet: infer: unknown option --frobnicate \(see unet infer --help\)$/, 2);
});

Cli('infer --input - --out -: stdin to stdout, same output as with files', () => {
  const r = spawnSync(process.execPath, ['bin/unet.js', 'infer', '--weights', WEIGHTS, '--input', '-', '--out', '-'], {
    input: readFileSync(IO),
    env: { ...process.env, UNET_DEBUG: '' },
  });
  assert.is(r.status, 0, r.stderr.toString());
  const st = parseSafetensors(new Uint8Array(r.stdout), 'stdout');
  assert.is(st.metadata.input, '-');
  assert.ok(maxAbsDiff(st.getF32('output'), fixtureOutput) <= MAX_ABS);
  // an empty stdin is an error naming stdin, and nothing reaches stdout
  const empty = spawnSync(process.execPath, ['bin/unet.js', 'infer', '--weights', WEIGHTS, '--input', '-', '--out', '-'], { input: '', encoding: 'utf8' });
  assert.is(empty.status, 1);
  assert.match(empty.stderr, /^unet: stdin: /m);
  assert.is(empty.stdout, '');
});

// ---------------------------------------------------------------------------------------------
// errors: one line naming the file and what was expected; nothing left in the output directory

Cli('error: weights file missing', ({ dir }) => {
  const d = dir();
  const r = unet('infer', '--weights', join(d, 'nope.safetensors'), '--input', IO, '--out', join(d, 'y.safetensors'));
  assertOneLineError(r, /nope\.safetensors: cannot read \(ENOENT\)$/);
  assert.equal(readdirSync(d), []);
});

Cli('error: weights file truncated', ({ dir }) => {
  const d = dir();
  const w = readFileSync(WEIGHTS);
  const cut = join(d, 'cut.safetensors');
  writeFileSync(cut, w.subarray(0, w.length - 100));
  const r = unet('infer', '--weights', cut, '--input', IO, '--out', join(d, 'y.safetensors'));
  assertOneLineError(r, /cut\.safetensors: tensor ".+": data_offsets .* run past the end of the \d+-byte data section/);
  assert.equal(readdirSync(d), ['cut.safetensors']);
});

Cli('error: weights that are not a complete U-Net: the problem list, no stack', ({ dir }) => {
  const d = dir();
  const st = readTensors(WEIGHTS);
  const tensors: Parameters<typeof writeSafetensors>[0] = {};
  for (const [name, t] of st.tensors) {
    if (t.dtype === 'F32' && name !== 'encoder2.enc2conv1.weight') tensors[name] = { shape: t.shape, data: st.getF32(name) };
  }
  const w = join(d, 'partial.safetensors');
  writeFileSync(w, writeSafetensors(tensors));
  const r = unet('infer', '--weights', w, '--input', IO, '--out', join(d, 'y.safetensors'));
  assert.is(r.code, 1, r.stderr);
  assert.match(r.lines[0], /^unet: .*partial\.safetensors: not a brain-segmentation U-Net state_dict/);
  assert.match(r.stderr, /^ +- missing "encoder2\.enc2conv1\.weight" \[8, 4, 3, 3\]$/m);
  assert.not.match(r.stderr, /^\s+at /m);
  assert.equal(readdirSync(d), ['partial.safetensors']);
});

Cli('error: input file without a tensor "input" lists the tensors it has', ({ dir }) => {
  const d = dir();
  const x = join(d, 'x.safetensors');
  writeFileSync(x, writeSafetensors({ image: { shape: fixtureInput.shape, data: fixtureInput.data } }));
  const r = unet('infer', '--weights', WEIGHTS, '--input', x, '--out', join(d, 'y.safetensors'));
  assertOneLineError(r, /x\.safetensors: no tensor "input" \(it has "image"/);
  assert.equal(readdirSync(d), ['x.safetensors']);
});

Cli('error: input with 1 channel for a 3-channel model', ({ dir }) => {
  const d = dir();
  const x = join(d, 'gray.safetensors');
  writeFileSync(x, writeSafetensors({ input: { shape: [1, 1, 32, 32], data: new Float32Array(32 * 32) } }));
  const r = unet('infer', '--weights', WEIGHTS, '--input', x, '--out', join(d, 'y.safetensors'));
  assertOneLineError(r, /^unet: .*gray\.safetensors: tensor "input": has 1 channels, the model expects 3$/);
  assert.equal(readdirSync(d), ['gray.safetensors']);
});

Cli('error: input with a zero-size dimension leaves an existing output untouched', ({ dir }) => {
  const d = dir();
  const x = join(d, 'empty.safetensors');
  const out = join(d, 'y.safetensors');
  writeFileSync(x, writeSafetensors({ input: { shape: [1, 3, 0, 30], data: new Float32Array(0) } }));
  writeFileSync(out, 'previous result');
  const r = unet('infer', '--weights', WEIGHTS, '--input', x, '--out', out);
  assertOneLineError(r, /empty\.safetensors: tensor "input": shape \[1,3,0,30\] is not \[N, C, H, W\] with positive integer sizes/);
  assert.equal(readdirSync(d).sort(), ['empty.safetensors', 'y.safetensors']);
  assert.is(readFileSync(out, 'utf8'), 'previous result');
});

Cli('infer of a 27x41 input (padded by reflection, cropped back) matches PyTorch', ({ dir }) => {
  const d = dir();
  const out = join(d, 'y.safetensors');
  const r = unet(
    'infer',
    '--weights',
    WEIGHTS,
    '--input',
    'test/fixtures/pad.io.safetensors',
    '--input-name',
    'input_reflect',
    '--pad',
    'reflect',
    '--out',
    out,
  );
  assert.is(r.code, 0, r.stderr);
  const got = parseSafetensors(readFileSync(out)).getF32('output');
  const want = parseSafetensors(readFileSync('test/fixtures/pad.io.safetensors')).getF32('output_reflect');
  const maxAbs = got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0);
  assert.ok(maxAbs <= 2e-5, `max |diff| ${maxAbs}`);
});

Cli('error: input tensor is I64', ({ dir }) => {
  const d = dir();
  const x = join(d, 'ints.safetensors');
  const header = JSON.stringify({ input: { dtype: 'I64', shape: [1, 1, 1, 1], data_offsets: [0, 8] } });
  const bytes = Buffer.alloc(8 + header.length + 8);
  bytes.writeUInt32LE(header.length, 0);
  bytes.write(header, 8);
  writeFileSync(x, bytes);
  const r = unet('infer', '--weights', WEIGHTS, '--input', x, '--out', join(d, 'y.safetensors'));
  assertOneLineError(r, /ints\.safetensors: tensor "input" is I64, expected F32/);
  assert.equal(readdirSync(d), ['ints.safetensors']);
});

Cli('error: output directory does not exist', ({ dir }) => {
  const d = dir();
  const r = unet('infer', '--weights', WEIGHTS, '--input', IO, '--out', join(d, 'missing', 'y.safetensors'));
  assertOneLineError(r, /missing\/y\.safetensors: the output directory ".*missing" does not exist/);
  assert.equal(readdirSync(d), []);
});

Cli('error: unknown option is a usage error (exit 2)', ({ dir }) => {
  const d = dir();
  const r = unet('infer', '--weights', WEIGHTS, '--input', IO, '--out', join(d, 'y.safetensors'), '--frobnicate');
  assertOneLineError(r, /^unet: infer: unknown option --frobnicate/, 2);
  assert.equal(readdirSync(d), []);
});

Cli('error: --out equal to --input is refused and the input is untouched', ({ dir }) => {
  const d = dir();
  const x = join(d, 'x.safetensors');
  copyFileSync(IO, x);
  const r = unet('infer', '--weights', WEIGHTS, '--input', x, '--out', join(d, '.', 'x.safetensors'));
  assertOneLineError(r, /--out .*x\.safetensors is the same file as --input .*x\.safetensors/, 2);
  assert.equal(readdirSync(d), ['x.safetensors']);
  assert.ok(readFileSync(x).equals(readFileSync(IO)), 'input file changed');
});

Cli.run();
