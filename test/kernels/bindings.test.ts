// Declared bindings (src/kernels/bindings.ts): the WGSL declarations, the bind group layout and the bind
// group entries all come from one list, and no kernel numbers a binding by hand.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { addWgsl } from '../../src/kernels/add.js';
import { batchNormWgsl } from '../../src/kernels/batchNorm.js';
import { KernelBindings, activation, param, written } from '../../src/kernels/bindings.js';
import { channelSoftmaxWgsl } from '../../src/kernels/channelSoftmax.js';
import { ShapeUniforms, dense, makeStep } from '../../src/kernels/common.js';
import { concatWgsl } from '../../src/kernels/concat.js';
import { type Conv2dSpec, conv2dStep, conv2dWgsl } from '../../src/kernels/conv2d.js';
import { conv2dTiledWgsl } from '../../src/kernels/conv2dTiled.js';
import { convTranspose2x2Wgsl } from '../../src/kernels/convTranspose2x2.js';
import { depthwiseConv2dWgsl } from '../../src/kernels/depthwiseConv2d.js';
import { globalAvgPoolWgsl } from '../../src/kernels/globalAvgPool.js';
import { nchwToNhwc4Wgsl, nhwc4ToNchwWgsl } from '../../src/kernels/layout.js';
import { maxPool2dWgsl } from '../../src/kernels/maxPool2d.js';
import { resizeWgsl } from '../../src/kernels/resize.js';
import { scseGateWgsl } from '../../src/kernels/scseGate.js';
import { unaryWgsl } from '../../src/kernels/unary.js';
import { winogradInputWgsl, winogradOutputWgsl } from '../../src/kernels/winograd.js';
import { testDevice } from '../helpers.js';

/** A stand-in for a GPUBuffer: entries() reads only its size. */
const fakeBuffer = (size: number) => ({ size }) as GPUBuffer;

const SHAPE = new ShapeUniforms(['H', 'W'] as const);
const example = (residual: boolean, f16 = false) =>
  new KernelBindings(
    'example',
    [
      activation('input'),
      param('weight', 'WMat', 'weight[co4]: a mat4x4 per output vec4'),
      written('output'),
      residual && activation('residual', 'same shape as the output'),
    ],
    SHAPE,
    f16,
  );

const Declare = suite<{ device: GPUDevice }>('bindings: declaration -> WGSL and layout');
// GPUShaderStage and the other WebGPU globals come with the platform's first device
Declare.before(async (ctx) => {
  ctx.device = await testDevice();
});
Declare.after((ctx) => ctx.device.destroy());

Declare('storage buffers numbered in the order declared, then the shape uniform; doc above, note after', () => {
  // the exact text: binding i is the i-th buffer of the list, the uniform comes last
  assert.fixture(
    example(true).wgsl(),
    [
      '@group(0) @binding(0) var<storage, read_write> input: array<Act>; // read only; read_write: see ACTIVATION_ACCESS (common.ts)',
      '// weight[co4]: a mat4x4 per output vec4',
      '@group(0) @binding(1) var<storage, read> weight: array<WMat>;',
      '@group(0) @binding(2) var<storage, read_write> output: array<Act>;',
      '// same shape as the output',
      '@group(0) @binding(3) var<storage, read_write> residual: array<Act>; // read only; read_write: see ACTIVATION_ACCESS (common.ts)',
      'struct Shape {\n  H: u32,\n  W: u32,\n}',
      '// sizes of this dispatch (ShapeUniforms)',
      '@group(0) @binding(4) var<uniform> shape: Shape;',
    ].join('\n'),
  );
});

Declare('an optional buffer left out: the later bindings and the uniform move up', () => {
  const b = example(false);
  assert.equal(
    b.storage.map((s) => s.name),
    ['input', 'weight', 'output'],
  );
  assert.is(b.shapeBinding, 3);
  assert.ok(b.wgsl().includes('@group(0) @binding(3) var<uniform> shape: Shape;'));
  assert.not.ok(b.wgsl().includes('residual'));
});

Declare('layout entries: read -> read-only-storage, read_write -> storage, the shape -> uniform', () => {
  assert.equal(
    example(true)
      .layoutEntries()
      .map((e) => [e.binding, e.buffer?.type, e.visibility]),
    [
      [0, 'storage', GPUShaderStage.COMPUTE],
      [1, 'read-only-storage', GPUShaderStage.COMPUTE],
      [2, 'storage', GPUShaderStage.COMPUTE],
      [3, 'storage', GPUShaderStage.COMPUTE],
      [4, 'uniform', GPUShaderStage.COMPUTE],
    ],
  );
});

Declare('a name declared twice, or that is no WGSL identifier, is refused', () => {
  assert.throws(() => new KernelBindings('twice', [activation('input'), written('input')]), /twice: binding "input" is declared twice/);
  assert.throws(() => new KernelBindings('named', [written('shape')]), /named: binding "shape" is declared twice/);
  assert.throws(() => new KernelBindings('odd', [written('out put')]), /odd: binding name "out put" is not a WGSL identifier/);
});

// ---

const Entries = suite('bindings: declaration -> bind group entries');

Entries('buffers bound by name whatever order they are given in; offset and size kept', () => {
  const [input, weight, output] = [fakeBuffer(256), fakeBuffer(128), fakeBuffer(512)];
  const entries = example(false).entries({ output: { buffer: output, offset: 256, size: 64 }, weight: { buffer: weight }, input: { buffer: input } });
  assert.equal(
    entries.map((e) => [e.binding, (e.resource as GPUBufferBinding).buffer]),
    [
      [0, input],
      [1, weight],
      [2, output],
    ],
  );
  assert.equal(entries[2].resource, { buffer: output, offset: 256, size: 64 });
  assert.equal(entries[0].resource, { buffer: input, offset: 0, size: undefined });
});

Entries('a declared buffer missing, or one given that is not declared, names the kernel and the binding', () => {
  const b = fakeBuffer(64);
  assert.throws(
    () => example(true).entries({ input: { buffer: b }, weight: { buffer: b }, output: { buffer: b } }),
    /^example: binding "residual" is declared but no buffer was given$/,
  );
  assert.throws(
    () => example(false).entries({ input: { buffer: b }, weight: { buffer: b }, output: { buffer: b }, residual: { buffer: b } }, 'layer3 (example)'),
    (e: Error) => e.message === 'layer3 (example): buffer "residual" is given but not declared (the kernel binds input, weight, output)',
  );
  // an optional buffer given as undefined is not given
  assert.is(example(false).entries({ input: { buffer: b }, weight: { buffer: b }, output: { buffer: b }, residual: undefined }).length, 3);
});

Entries('a range past its buffer, or smaller than one element, is refused', () => {
  const ok = { buffer: fakeBuffer(64) };
  assert.throws(
    () => example(false).entries({ input: ok, weight: ok, output: { buffer: fakeBuffer(64), offset: 32, size: 64 } }),
    /example: binding "output": bytes 32\.\.96 run past its 64-byte buffer/,
  );
  // a mat4x4<f32> is 64 bytes: 48 do not hold one
  assert.throws(
    () => example(false).entries({ input: ok, weight: { buffer: fakeBuffer(48) }, output: ok }),
    /example: binding "weight" gets 48 bytes, less than one WMat \(64 bytes\)/,
  );
  // in f16 storage a mat4x4<f16> is 32 bytes
  assert.is(example(false, true).entries({ input: ok, weight: { buffer: fakeBuffer(48) }, output: ok }).length, 3);
});

Entries('shape uniforms: given exactly when declared, one u32 a field', () => {
  const b = example(false);
  b.checkShape(SHAPE.data({ H: 3, W: 5 }));
  assert.throws(() => b.checkShape(undefined), /example: binding "shape" is declared but no shape uniforms were given/);
  assert.throws(() => b.checkShape(new Uint32Array(3)), /example: binding "shape" gets 12 bytes, its struct holds 8/);
  assert.throws(
    () => new KernelBindings('plain', [written('output')]).checkShape(new Uint32Array(1)),
    /plain: shape uniforms are given but the kernel declares none/,
  );
});

// ---

const Steps = suite<{ device: GPUDevice }>('bindings: steps');
Steps.before(async (ctx) => {
  ctx.device = await testDevice();
});
Steps.after((ctx) => ctx.device.destroy());

const conv: Conv2dSpec = {
  N: 1,
  H: 4,
  W: 4,
  cin: 4,
  cin4: 1,
  cout: 4,
  kH: 3,
  kW: 3,
  strideH: 1,
  strideW: 1,
  padH: 1,
  padW: 1,
  dilationH: 1,
  dilationW: 1,
  input: dense(4),
  output: dense(4),
  activation: 'relu',
  tilePixels: 2,
  tileC4: 1,
  workgroupSize: 64,
};

Steps('conv2d: a residual in the spec without its buffer, or the other way round, fails before any GPU object is made', ({ device }) => {
  const buf = device.createBuffer({ size: 1024, usage: GPUBufferUsage.STORAGE });
  const b = { input: { buffer: buf }, weight: { buffer: buf }, bias: { buffer: buf }, output: { buffer: buf } };
  assert.throws(
    () => conv2dStep(device, { ...conv, residual: dense(4) }, b, 'decoder1.conv2'),
    /^decoder1\.conv2 \(conv2d\): binding "residual" is declared but no buffer was given$/,
  );
  assert.throws(
    () => conv2dStep(device, conv, { ...b, residual: { buffer: buf } }, 'decoder1.conv2'),
    /decoder1\.conv2 \(conv2d\): buffer "residual" is given but not declared/,
  );
  buf.destroy();
});

Steps('makeStep refuses WGSL that does not hold the declarations it is bound with', ({ device }) => {
  const code = `${example(false).wgsl()}\n@compute @workgroup_size(1) fn main() {}`;
  assert.throws(
    () => makeStep(device, 'mixed', { code, bindings: example(true) }, {}, [1, 1, 1]),
    /mixed \(example\): its WGSL does not hold the declarations of its bindings/,
  );
});

// ---

const Sources = suite('bindings: no binding numbered by hand');

Sources('no kernel source writes @binding( but bindings.ts', () => {
  const files = readdirSync('src/kernels').filter((f) => f.endsWith('.ts') && f !== 'bindings.ts');
  assert.ok(files.length >= 15, `read ${files.length} kernel sources`);
  const offenders = files.filter((f) => readFileSync(`src/kernels/${f}`, 'utf8').includes('@binding('));
  assert.equal(offenders, [], `hand-numbered bindings in ${offenders.join(', ')}`);
});

const view = dense(8);
const GENERATED: Record<string, string> = {
  add: addWgsl({ pixels: 4, channels: 8, activation: 'relu', a: view, b: view, output: view, workgroupSize: 64 }),
  concat: concatWgsl({ pixels: 4, ca: 4, cb: 4, a: dense(4), b: dense(4), output: view, workgroupSize: 64 }),
  batchNorm: batchNormWgsl({ N: 1, H: 2, W: 2, c4: 2, eps: 1e-5, input: view, output: view, workgroupSize: 64 }),
  unary: unaryWgsl({ op: 'sigmoid', pixels: 4, c4: 2, input: view, output: view, workgroupSize: 64, f16: true }),
  maxPool2d: maxPool2dWgsl({ N: 1, H: 4, W: 4, c4: 2, kernel: 3, stride: 2, padding: 1, input: view, output: view, workgroupSize: 64 }),
  channelSoftmax: channelSoftmaxWgsl({ pixels: 4, channels: 8, log: true, input: view, output: view, workgroupSize: 64 }),
  globalAvgPool: globalAvgPoolWgsl({ N: 1, H: 4, W: 4, c4: 2, input: view, output: view, workgroupSize: 64 }),
  resize: resizeWgsl({ N: 1, H: 2, W: 2, HO: 4, WO: 4, c4: 2, mode: 'bilinear', input: view, output: view, workgroupSize: 64 }),
  scse: scseGateWgsl({ N: 1, H: 2, W: 2, c4: 2, input: view, cse: view, sse: dense(1), output: view, workgroupSize: 64 }),
  'scse without sse': scseGateWgsl({ N: 1, H: 2, W: 2, c4: 2, input: view, cse: view, output: view, workgroupSize: 64 }),
  nchwToNhwc4: nchwToNhwc4Wgsl({ N: 1, C: 8, H: 2, W: 2, view, workgroupSize: 64 }),
  nhwc4ToNchw: nhwc4ToNchwWgsl({ N: 1, C: 8, H: 2, W: 2, view, workgroupSize: 64 }),
  'conv2d residual inputScale': conv2dWgsl({ ...conv, residual: dense(4), inputScale: dense(4) }),
  'conv2d subgroup': conv2dWgsl({ ...conv, weights: 'subgroup', subgroupSize: 8 }),
  'conv2d tiled residual': conv2dTiledWgsl({ kW: 3, tilePixels: 2, tileC4: 2, activation: 'none', residual: true }),
  convTranspose2x2: convTranspose2x2Wgsl({
    N: 1,
    H: 2,
    W: 2,
    cin: 4,
    cin4: 1,
    cout: 4,
    input: dense(4),
    output: dense(4),
    tilePixels: 2,
    tileC4: 1,
    workgroupSize: 64,
    weights: 'subgroup',
    subgroupSize: 4,
  }),
  depthwiseConv2d: depthwiseConv2dWgsl({
    N: 1,
    H: 4,
    W: 4,
    channels: 8,
    kH: 3,
    kW: 3,
    strideH: 1,
    strideW: 1,
    padH: 1,
    padW: 1,
    input: view,
    output: view,
    activation: 'relu6',
    tilePixels: 2,
    workgroupSize: 64,
  }),
  'winograd input': winogradInputWgsl(2, 64),
  'winograd output residual': winogradOutputWgsl(4, 'relu', true, 64),
};

// what bindings may be called: what they hold, never buf0
const NAMES = new Set([
  'input',
  'weight',
  'bias',
  'output',
  'residual',
  'inputScale',
  'params',
  'a',
  'b',
  'cse',
  'sse',
  'v',
  'm',
  'carry',
  'partials',
  'stats',
  'shape',
]);

for (const [name, code] of Object.entries(GENERATED)) {
  Sources(`generated WGSL of ${name}: bindings 0..n-1 in order, each named for what it holds, the uniform last`, () => {
    const found = [...code.matchAll(/@group\((\d+)\) @binding\((\d+)\) var<(\w+)[^>]*> (\w+)/g)].map((m) => ({
      group: +m[1],
      binding: +m[2],
      space: m[3],
      name: m[4],
    }));
    assert.ok(found.length >= 2, `${name}: ${found.length} bindings found`);
    assert.equal(
      found.map((f) => f.binding),
      found.map((_, i) => i),
      `${name}: binding numbers`,
    );
    assert.ok(
      found.every((f) => f.group === 0),
      `${name}: group 0`,
    );
    for (const f of found) assert.ok(NAMES.has(f.name), `${name}: binding "${f.name}"`);
    assert.is(new Set(found.map((f) => f.name)).size, found.length, `${name}: names unique`);
    // the uniform, where there is one, comes after every storage buffer
    const u = found.findIndex((f) => f.space === 'uniform');
    assert.ok(u === -1 || u === found.length - 1, `${name}: uniform at ${u} of ${found.length}`);
  });
}

Declare.run();
Entries.run();
Steps.run();
Sources.run();
