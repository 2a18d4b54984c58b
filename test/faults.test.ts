// Faults and hostile inputs, end to end: the device lost before and during a run, concurrent runs of
// several shapes, two models on one device, dispose; broken weight files, checkpoints and inputs through
// loadModel / Model.run and through the CLI (one error line naming the file, no output written).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getDevice } from '../src/gpu/device.js';
import type { Model } from '../src/model.js';
import { loadModel } from '../src/load.js';
import { writeSafetensors } from '../src/weights/safetensors.js';
import { makeNifti } from './io/makeNifti.js';
import { assertOneLineError, tempDirs, unet } from './cliRun.js';
import { randArray, rng, testDevice } from './helpers.js';

const DEMO = 'assets/demo/nuclei_unet.safetensors';
const GRAY = 'test/fixtures/gray.weights.safetensors';

/** Rejects with `what` if `p` takes longer than `ms`: a hang fails the test instead of stalling it. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer after ${ms} ms (hang)`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

async function rejection(p: Promise<unknown>, what: string): Promise<Error> {
  try {
    await within(p, 20_000, what);
  } catch (e) {
    return e as Error;
  }
  return assert.unreachable(`${what}: should have failed`) as never;
}

const image = (seed: number, shape: number[]) => ({
  data: randArray(
    rng(seed),
    shape.reduce((a, b) => a * b, 1),
    -2,
    2,
  ),
  shape,
});
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const LOST = /^the GPU device was lost \(destroyed.*\): get a new device with getDevice\(\) and load the model again$/;

// ---------------------------------------------------------------------------------------------

const Runtime = suite('faults: device loss, concurrency, sharing, dispose');

Runtime('device destroyed before a run, and during one: runs reject clearly (no hang); a new device works', async () => {
  const x = image(1, [1, 1, 128, 128]);
  let device = await getDevice();
  let model = await loadModel(device, DEMO);
  const want = (await model.run(x)).data;

  device.destroy();
  const before = await rejection(model.run(x), 'run after destroy');
  assert.match(before.message, LOST);
  const newShape = await rejection(model.run(image(2, [1, 1, 40, 40])), 'compile after destroy');
  assert.match(newShape.message, LOST);

  device = await getDevice();
  model = await loadModel(device, DEMO);
  assert.ok(maxDiff((await model.run(x)).data, want) === 0, 'a fresh device and model give the same output');
  // destroyed mid-run: the run in flight and the ones queued behind it (one of them tiled) all reject
  const inFlight = model.run(image(3, [2, 1, 160, 160]));
  const queued = model.run(x);
  const tiled = model.run(image(4, [1, 1, 100, 90]), { tile: { roi: 32 } });
  setTimeout(() => device.destroy(), 20);
  for (const [p, what] of [
    [inFlight, 'in flight'],
    [queued, 'queued'],
    [tiled, 'tiled'],
  ] as const) {
    assert.match((await rejection(p, what)).message, LOST, what);
  }
  assert.match((await rejection(model.run(x), 'later')).message, LOST);

  device = await getDevice();
  model = await loadModel(device, DEMO);
  assert.ok(maxDiff((await model.run(x)).data, want) === 0, 'and again after a loss mid-run');
  model.dispose();
  device.destroy();
});

Runtime('concurrent runs of different shapes (one tiled) on one model are queued and each correct', async () => {
  const device = await testDevice();
  const model = await loadModel(device, DEMO);
  const inputs = [
    { x: image(10, [1, 1, 40, 56]) },
    { x: image(11, [2, 1, 33, 17]) },
    { x: image(12, [1, 1, 64, 64]) },
    { x: image(13, [3, 1, 20, 100]) },
    { x: image(14, [1, 1, 70, 90]), tile: { roi: 32, batch: 3 } },
    { x: image(15, [1, 1, 40, 56]) },
  ];
  const all = await within(Promise.all(inputs.map((c) => model.run(c.x, { tile: c.tile }))), 60_000, 'concurrent runs');
  for (const [i, c] of inputs.entries()) {
    const alone = await model.run(c.x, { tile: c.tile });
    assert.equal(all[i].shape, alone.shape);
    assert.is(maxDiff(all[i].data, alone.data), 0, `run ${i} [${c.x.shape}] differs from the same run alone`);
  }
  model.dispose();
  device.destroy();
});

Runtime('two models share one device; disposing one leaves the other working', async () => {
  const device = await testDevice();
  const [a, b] = await Promise.all([loadModel(device, DEMO), loadModel(device, GRAY)]);
  const x = image(20, [1, 1, 48, 48]);
  const wantA = (await a.run(x)).data;
  const wantB = (await b.run(x)).data;
  assert.ok(maxDiff(wantA, wantB) > 1e-3, 'different models');
  const runs = await Promise.all([a.run(x), b.run(x), a.run(x), b.run(x)]);
  runs.forEach((r, i) => assert.is(maxDiff(r.data, i % 2 ? wantB : wantA), 0, `run ${i}`));
  a.dispose();
  assert.is(maxDiff((await b.run(x)).data, wantB), 0);
  b.dispose();
  device.destroy();
});

Runtime('dispose frees the GPU memory the model held; a disposed model is a clear error', async () => {
  const device = await testDevice();
  const model = await loadModel(device, DEMO);
  const loaded = model.gpuMemory();
  assert.is(loaded.totalBytes, loaded.weightBytes);
  assert.ok(loaded.weightBytes >= model.info.weightBytes);
  await model.run(image(30, [1, 1, 64, 64]));
  await model.run(image(31, [2, 1, 32, 48]));
  const used = model.gpuMemory();
  assert.is(used.plans, 2);
  assert.ok(used.planBytes > model.estimate([1, 1, 64, 64]).totalBytes, 'both plans counted');
  assert.is(used.peakBytes, used.totalBytes);
  await model.releasePlans();
  assert.is(model.gpuBytes(), loaded.weightBytes, 'releasePlans frees the plans');
  assert.is(model.gpuMemory().peakBytes, used.peakBytes, 'the peak is kept');
  const pending = model.run(image(32, [1, 1, 96, 96]));
  model.dispose();
  assert.equal(model.gpuMemory(), {
    weightBytes: 0,
    planBytes: 0,
    totalBytes: 0,
    peakBytes: used.peakBytes,
    plans: 0,
    planCacheBytes: used.planCacheBytes,
    evictions: 0,
  });
  const disposed = await rejection(pending, 'run queued before dispose');
  assert.match(disposed.message, /^this model was disposed/);
  assert.is((disposed as Error & { code?: string }).code, 'DISPOSED');
  assert.match((await rejection(model.run(image(33, [1, 1, 16, 16])), 'run after dispose')).message, /^this model was disposed: load it again to run it$/);
  model.dispose(); // twice is fine
  device.destroy();
});

// ---------------------------------------------------------------------------------------------

const Inputs = suite<{ device: GPUDevice; model: Model }>('faults: hostile inputs to Model.run');
Inputs.before(async (ctx) => {
  ctx.device = await testDevice();
  ctx.model = await loadModel(ctx.device, DEMO);
});
Inputs.after((ctx) => {
  ctx.model.dispose();
  ctx.device.destroy();
});

Inputs('wrong channels, rank, sizes, data; zero-size; NaN / Inf refused naming the first bad value', async ({ model }) => {
  const cases: [unknown, RegExp][] = [
    [{ data: new Float32Array(2 * 16 * 16), shape: [1, 2, 16, 16] }, /^input: has 2 channels, the model expects 1$/],
    [{ data: new Float32Array(256), shape: [1, 16, 16] }, /^input: shape \[1,16,16\] has 3 dimensions, expected 4: \[N, C, H, W\]$/],
    [{ data: new Float32Array(256), shape: [1, 1, 1, 16, 16] }, /has 5 dimensions/],
    [
      { data: new Float32Array(0), shape: [1, 1, 0, 16] },
      /^input: shape \[1,1,0,16\] is not \[N, C, H, W\] with positive integer sizes \(a zero-size input has nothing to segment\)$/,
    ],
    [{ data: new Float32Array(16), shape: [1, 1, 4.5, 4] }, /positive integer sizes$/],
    [{ data: new Float32Array(10), shape: [1, 1, 16, 16] }, /^input: data has 10 values, shape \[1,1,16,16\] needs 256$/],
    [{ data: new Float32Array(10), shape: [1, 1, 1e6, 1e6] }, /^input: data has 10 values, shape \[1,1,1000000,1000000\] needs 1000000000000$/],
    [{ data: Array(256).fill(0), shape: [1, 1, 16, 16] }, /^input: data must be a Float32Array, found Array$/],
    [{ data: new Float64Array(256), shape: [1, 1, 16, 16] }, /^input: data must be a Float32Array, found Float64Array$/],
    [{ data: new Float32Array(256) }, /^input: shape must be an array \[N, C, H, W\], found undefined$/],
    [null, /^input: expected \{ data: Float32Array, shape: \[N, C, H, W\] \}, found null$/],
  ];
  for (const [x, re] of cases) assert.match((await rejection(model.run(x as never), JSON.stringify(x))).message, re);
  const nan = image(40, [2, 1, 16, 16]);
  nan.data[256 + 5 * 16 + 7] = NaN;
  nan.data[400] = Infinity;
  assert.match(
    (await rejection(model.run(nan), 'NaN')).message,
    /^input: holds NaN at index 343 \(n 1, c 0, y 5, x 7\); inputs must be finite \(run with \{ nonFinite: 'propagate' \} to pass them through\)$/,
  );
  const inf = image(41, [1, 1, 16, 16]);
  inf.data[17] = -Infinity;
  assert.match((await rejection(model.run(inf), 'Inf')).message, /^input: holds -Inf at index 17 \(n 0, c 0, y 1, x 1\)/);
  // documented alternative: propagate; the finite image alongside is untouched by the NaN one
  const y = await model.run(nan, { nonFinite: 'propagate' });
  const clean = await model.run({ data: nan.data.slice(0, 256), shape: [1, 1, 16, 16] });
  assert.is(maxDiff(y.data.subarray(0, 256), clean.data), 0);
  assert.ok(
    y.data.subarray(256).some((v) => Number.isNaN(v)),
    'NaN propagates within its image',
  );
  // and the model still works
  assert.equal((await model.run(image(42, [1, 1, 16, 16]))).shape, [1, 1, 16, 16]);
});

// ---------------------------------------------------------------------------------------------

/** The gray fixture's header and data, to rebuild with edits. */
function weightParts(path = GRAY) {
  const b = readFileSync(path);
  const len = b.readUInt32LE(0);
  return {
    header: JSON.parse(b.subarray(8, 8 + len).toString()) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>,
    data: b.subarray(8 + len),
  };
}
function build(header: object, data: Uint8Array, lengthField?: number): Uint8Array {
  const json = Buffer.from(JSON.stringify(header));
  const out = Buffer.alloc(8 + json.length + data.length);
  out.writeUInt32LE(lengthField ?? json.length, 0);
  json.copy(out, 8);
  out.set(data, 8 + json.length);
  return out;
}
function edited(edit: (h: ReturnType<typeof weightParts>['header'], data: Uint8Array) => Uint8Array | undefined): Uint8Array {
  const { header, data } = weightParts();
  const d = new Uint8Array(data);
  return edit(header, d) ?? build(header, d);
}

const FIRST = 'encoder1.enc1conv1.weight';
const BROKEN_WEIGHTS: [string, () => Uint8Array, RegExp][] = [
  ['empty', () => new Uint8Array(0), /file is 0 bytes, shorter than the 8-byte header length field/],
  ['truncated in the length field', () => readFileSync(GRAY).subarray(0, 5), /file is 5 bytes/],
  ['truncated in the header', () => readFileSync(GRAY).subarray(0, 200), /header length \d+ is larger than the 192 bytes that follow the length field/],
  ['truncated in the data', () => readFileSync(GRAY).subarray(0, 100_000), /run past the end of the \d+-byte data section/],
  [
    'header length larger than the file',
    () => edited((h, d) => build(h, d, 2 ** 31)),
    /header length 2147483648 exceeds the 16 MiB \(16777216-byte\) header limit/,
  ],
  [
    'header not JSON',
    () =>
      edited((h, d) => {
        const b = build(h, d);
        b[9] = 0x7b;
        b[10] = 0x7b;
        return b;
      }),
    /header is not valid JSON/,
  ],
  ['unknown dtype', () => edited((h) => void (h[FIRST].dtype = 'F8_E4M3')), /tensor "encoder1.enc1conv1.weight": unknown dtype "F8_E4M3"/],
  [
    'offsets out of range',
    () =>
      edited((h) => {
        const o = h['conv.bias'].data_offsets;
        h['conv.bias'].data_offsets = [o[0] + 2 ** 30, o[1] + 2 ** 30];
      }),
    /tensor "conv.bias": data_offsets .* run past the end/,
  ],
  [
    'overlapping tensors',
    () =>
      edited(
        (h) =>
          void (h['conv.bias'].data_offsets = [
            ...h[FIRST].data_offsets.map((v, i) => (i ? v - h[FIRST].data_offsets[1] + h[FIRST].data_offsets[0] + 4 : v)),
          ] as [number, number]),
      ),
    /overlap/,
  ],
  [
    'byte length != shape x dtype',
    () => edited((h) => void (h[FIRST].shape = [4, 1, 3, 2])),
    /data_offsets \[\d+, \d+\] hold 144 bytes but F32 \[4, 1, 3, 2\] needs 96/,
  ],
  [
    'a missing tensor',
    () => edited((h) => void delete h['decoder2.dec2norm1.running_var']),
    /not a brain-segmentation U-Net state_dict \(1 problem\):\n {2}- missing "decoder2.dec2norm1.running_var" \[8\]/,
  ],
  [
    'an unexpected tensor',
    () => edited((h, d) => void (h['head.extra'] = { dtype: 'F32', shape: [0], data_offsets: [d.length, d.length] })),
    /unexpected "head.extra"/,
  ],
  ['a mis-shaped tensor', () => edited((h) => void (h['conv.weight'].shape = [1, 1, 2, 2])), /"conv.weight" has shape \[1, 1, 2, 2\], expected \[1, 4, 1, 1\]/],
];

const Weights = suite<{ device: GPUDevice; tmp: ReturnType<typeof tempDirs> }>('faults: broken weight files and checkpoints');
Weights.before(async (ctx) => {
  ctx.device = await testDevice();
  ctx.tmp = tempDirs('unet-faults-');
});
Weights.after((ctx) => {
  ctx.device.destroy();
  ctx.tmp.cleanup();
});

Weights(`loadModel: ${BROKEN_WEIGHTS.length} kinds of broken safetensors, each a clear error naming the file`, async ({ device, tmp }) => {
  const dir = tmp.dir();
  for (const [what, make, re] of BROKEN_WEIGHTS) {
    const path = join(dir, `${what.replace(/\W+/g, '_')}.safetensors`);
    writeFileSync(path, make());
    const e = await rejection(loadModel(device, path), what);
    assert.ok(e.name === 'SafetensorsError', `${what}: ${e.name}: ${e.message}`);
    assert.ok(e.message.startsWith(`${path}: `), `${what}: ${e.message}`);
    assert.match(e.message, re, what);
  }
});

Weights('NaN / Inf in weights: a warning in model.info.warnings and on stderr, not an error', async ({ device, tmp }) => {
  const path = join(tmp.dir(), 'nan.safetensors');
  writeFileSync(
    path,
    edited((h, d) => {
      const [b0] = h['decoder1.dec1norm2.bias'].data_offsets;
      new DataView(d.buffer, d.byteOffset).setFloat32(b0 + 4, NaN, true);
      const [c0] = h[FIRST].data_offsets;
      new DataView(d.buffer, d.byteOffset).setFloat32(c0 + 8, -Infinity, true);
      new DataView(d.buffer, d.byteOffset).setFloat32(c0 + 12, NaN, true);
    }),
  );
  const model = await loadModel(device, path);
  assert.equal(model.info.warnings, [
    `${path}: weights hold NaN or Inf values: "encoder1.enc1conv1.weight" has 1 NaN and 1 Inf (first at index 2); "decoder1.dec1norm2.bias" has 1 NaN (first at index 1); outputs may be NaN`,
  ]);
  const good = await loadModel(device, GRAY);
  assert.equal(good.info.warnings, []);
  model.dispose();
  good.dispose();
  const out = join(tmp.dir(), 'y.safetensors');
  const r = unet('infer', '--weights', path, '--input', 'test/fixtures/gray.io.safetensors', '--out', out);
  assert.is(r.code, 0, r.stderr);
  const warnings = r.lines.filter((l) => l.startsWith('unet: warning: '));
  // the NaN weight of the first conv reaches every output (as in PyTorch: relu keeps NaN), and the
  // warning about the outputs names the weights as the cause
  assert.equal(warnings[0], `unet: warning: ${model.info.warnings[0]}`);
  assert.match(
    warnings[1],
    /2304 of 2304 output values are NaN or Inf .* although the input is finite: the weights hold NaN or Inf values \(see above\); masks are 0 there$/,
  );
  assert.is(warnings.length, 2);
  assert.ok(existsSync(out));
});

Weights('CLI: broken weights (infer, segment) and checkpoints (convert): one line naming the file, no output', async ({ tmp }) => {
  const dir = tmp.dir();
  const cases: [string, () => Uint8Array, RegExp][] = [BROKEN_WEIGHTS[0], BROKEN_WEIGHTS[2], BROKEN_WEIGHTS[6], BROKEN_WEIGHTS[9]];
  for (const [what, make, re] of cases) {
    const w = join(dir, `${what.replace(/\W+/g, '_')}.safetensors`);
    writeFileSync(w, make());
    const out = join(dir, 'y.safetensors');
    const r = unet('infer', '--weights', w, '--input', 'test/fixtures/gray.io.safetensors', '--out', out);
    assertOneLineError(r, new RegExp(`^unet: ${w}: .*${re.source}`));
    assert.ok(!existsSync(out), `${what}: output written`);
  }
  // segment: the weights' error is about the weights file, and no mask is written
  const segOut = join(dir, 'seg');
  const w = join(dir, 'unknown_dtype.safetensors');
  const r = unet('segment', 'assets/demo/samples/nuclei_01.png', '--weights', w, '--out-dir', segOut);
  assertOneLineError(r, new RegExp(`^unet: ${w}: tensor "encoder1.enc1conv1.weight": unknown dtype`));
  assert.ok(!existsSync(segOut) || readdirSync(segOut).length === 0, 'no outputs');

  const zip = readFileSync('test/fixtures/checkpoints/unet_zip.pt');
  const ckpts: [string, Uint8Array, RegExp][] = [
    ['truncated zip', zip.subarray(0, Math.floor(zip.length / 2)), /not a readable zip archive|truncated|missing/],
    [
      'bad pickle opcode',
      Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, ...Buffer.from('6ca9f9204afa19500000', 'hex').subarray(0, 10), 0xff]),
      /unsupported or invalid pickle opcode 0xff at byte 14/,
    ],
    ['unknown global', readFileSync('test/fixtures/checkpoints/evil_reduce.pt'), /refused global/],
    ['empty', new Uint8Array(0), /not a PyTorch checkpoint: neither a zip archive nor a pickle/],
  ];
  for (const [what, bytes, re] of ckpts) {
    const p = join(dir, `${what.replace(/\W+/g, '_')}.pt`);
    writeFileSync(p, bytes);
    const out = join(dir, 'c.safetensors');
    const res = unet('convert', p, '-o', out);
    assertOneLineError(res, new RegExp(`^unet: ${p}: .*(${re.source})`));
    assert.ok(!existsSync(out), `${what}: output written`);
  }
  assert.equal(
    readdirSync(dir).filter((f) => f.startsWith('.')),
    [],
    'no temporary files left',
  );
});

Weights('CLI: bad inputs to infer and segment name the file and the problem; nothing written', async ({ tmp }) => {
  const dir = tmp.dir();
  const write = (name: string, t: Record<string, { shape: number[]; data: Float32Array }>) => {
    const p = join(dir, name);
    writeFileSync(p, writeSafetensors(t));
    return p;
  };
  const nanData = new Float32Array(2 * 24 * 20);
  nanData[3 * 20 + 4] = NaN;
  const cases: [string, RegExp][] = [
    [write('channels.safetensors', { input: { shape: [1, 3, 8, 8], data: new Float32Array(192) } }), /: tensor "input": has 3 channels, the model expects 1$/],
    [
      write('rank.safetensors', { input: { shape: [8, 8], data: new Float32Array(64) } }),
      /: tensor "input" has shape \[8, 8\], expected 4 dimensions \[N, C, H, W\]$/,
    ],
    [
      write('name.safetensors', { x: { shape: [1, 1, 8, 8], data: new Float32Array(64) } }),
      /: no tensor "input" \(it has "x"; choose one with --input-name\)$/,
    ],
    [
      write('zero.safetensors', { input: { shape: [1, 1, 0, 8], data: new Float32Array(0) } }),
      /: tensor "input": shape \[1,1,0,8\] is not \[N, C, H, W\] with positive integer sizes \(a zero-size input has nothing to segment\)$/,
    ],
    [
      write('nan.safetensors', { input: { shape: [2, 1, 24, 20], data: nanData } }),
      /: tensor "input": holds NaN at index 64 \(n 0, c 0, y 3, x 4\); inputs must be finite/,
    ],
  ];
  for (const [input, re] of cases) {
    const out = join(dir, 'y.safetensors');
    const r = unet('infer', '--weights', GRAY, '--input', input, '--out', out);
    assertOneLineError(r, new RegExp(`^unet: ${input}${re.source}`));
    assert.ok(!existsSync(out));
  }
  // segment: a NIfTI volume with NaN voxels fails alone; the good image beside it is segmented
  const vol = join(dir, 'nanvol.nii');
  const values = Float32Array.from({ length: 16 * 12 * 2 }, (_, i) => i % 7);
  values[16 * 12 + 5] = NaN;
  writeFileSync(vol, makeNifti({ dims: [16, 12, 2], datatype: 16, values }));
  const png = join(dir, 'img.png');
  writeFileSync(png, readFileSync('assets/demo/samples/nuclei_02.png'));
  const outDir = join(dir, 'seg');
  const r = unet('segment', vol, png, '--weights', DEMO, '--out-dir', outDir);
  assert.is(r.code, 1, r.stderr);
  assert.equal(r.lines, [
    `unet: ${vol}: holds 1 NaN or Inf voxel (the first at x 5, y 0, z 1); replace them (with 0, say) before segmenting`,
    'unet: 1 of 2 inputs failed',
  ]);
  assert.equal(readdirSync(outDir).sort(), ['img_mask.png', 'img_overlay.png']);
});

Runtime.run();
Inputs.run();
Weights.run();
