// One error family: every public entry point, given hostile values for each of its options, rejects with
// a UnetError that carries a string code: never a RangeError ("Invalid typed array length", "Maximum call
// stack size exceeded"), a TypeError ("x is not a function") or a plain Error. The table crosses each
// public option with the same list of hostile values; what one option accepts on purpose is listed beside it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
// the package's own entry: what an app imports
import {
  type Model,
  type SegmentResult,
  UnetError,
  encodePng,
  loadModel,
  parseSafetensors,
  probabilitiesPng,
  readImage,
  renderLabels,
  renderMask,
  renderOverlay,
} from '../src/node.js';
import { writeSafetensors } from '../src/weights/safetensors.js';
import { testDevice } from './helpers.js';

const WEIGHTS = 'test/fixtures/gray.weights.safetensors'; // brain U-Net, 1 -> 1, init_features 4

/** model.estimate is synchronous: as a promise, so the table treats every entry point alike. */
const estimateOf = async (model: Model, shape: unknown) => model.estimate(shape as never);

/** A value nested `n` arrays deep: JSON.stringify and any recursive walk of it overflow the stack. */
function deep(n: number): unknown {
  let v: unknown = 0;
  for (let i = 0; i < n; i++) v = [v];
  return v;
}

const getterThrows = (key: string) =>
  Object.defineProperty({}, key, {
    get: () => {
      throw new Error(`getter of ${key}`);
    },
    enumerable: true,
  });

/** The hostile values every option gets, by name (the name is what a failure prints). */
const HOSTILE: [string, () => unknown][] = [
  ['null', () => null],
  ['NaN', () => NaN],
  ['-1', () => -1],
  ['1e12', () => 1e12],
  ['Infinity', () => Infinity],
  ['"constructor"', () => 'constructor'],
  ['"__proto__"', () => '__proto__'],
  ['"toString"', () => 'toString'],
  ['"hasOwnProperty"', () => 'hasOwnProperty'],
  ['["sigmoid"]', () => ['sigmoid']],
  ['{}', () => ({})],
  ['[]', () => []],
  ['1e5-deep array', () => deep(100_000)],
  ['10n', () => 10n],
  ['Symbol', () => Symbol('s')],
  ['a function', () => () => 1],
  ['a huge array', () => new Array(2 ** 24).fill(7)],
  ['a throwing getter', () => getterThrows('kind')],
];

/** What a call did: undefined when it rejected with a UnetError with a code, else what went wrong. */
async function outcome(f: () => unknown): Promise<string | undefined> {
  try {
    await f();
    return 'accepted';
  } catch (e) {
    if (e instanceof UnetError && typeof e.code === 'string' && (e.code as string) !== '') return undefined;
    const err = e as Error | undefined;
    return `${err?.constructor?.name ?? typeof e}: ${String(err?.message ?? e)
      .split('\n')[0]
      .slice(0, 160)}`;
  }
}

/** Runs every case and fails once, listing each case that did not reject as it should. */
async function table(cases: [string, () => unknown][]): Promise<number> {
  const bad: string[] = [];
  for (const [name, f] of cases) {
    const o = await outcome(f);
    if (o === undefined) continue;
    bad.push(`${name}: ${o}`);
  }
  assert.ok(bad.length === 0, `${bad.length} of ${cases.length} cases did not reject with a UnetError:\n  ${bad.join('\n  ')}`);
  return cases.length;
}

/** `HOSTILE` for one option, less the values it accepts on purpose. */
function hostileFor(option: string, accepted: string[], call: (v: unknown) => unknown): [string, () => unknown][] {
  return HOSTILE.filter(([name]) => !accepted.includes(name)).map(([name, v]) => [`${option} = ${name}`, () => call(v())]);
}

const Family = suite<{ device: GPUDevice; model: Model; image: { data: Uint8Array; width: number; height: number; channels: 1 }; result: SegmentResult }>(
  'error family: hostile values at every public option',
);
Family.before(async (ctx) => {
  ctx.device = await testDevice();
  ctx.model = await loadModel(ctx.device, WEIGHTS);
  ctx.image = { data: new Uint8Array(16 * 16).map((_, i) => i), width: 16, height: 16, channels: 1 };
  ctx.result = await ctx.model.segment(ctx.image);
});
Family.after((ctx) => ctx.model.dispose());

Family('loadModel: the source, and each LoadOptions field', async ({ device }) => {
  const bytes = readFileSync(WEIGHTS);
  const cases: [string, () => unknown][] = [
    ...hostileFor('source', [], (v) => loadModel(device, v as never)),
    ['source = undefined', () => loadModel(device, undefined as never)],
    ['source = { weights: null }', () => loadModel(device, { weights: null } as never)],
    ['source = { weights: 1e12 }', () => loadModel(device, { weights: 1e12 } as never)],
    ['source = { weights, name: {} }', () => loadModel(device, { weights: bytes, name: {} } as never)],
    ['options = a throwing getter', () => loadModel(device, bytes, getterThrows('signal') as never)],
    ...hostileFor('options', ['{}'], (v) => loadModel(device, bytes, v as never)),
  ];
  // `{}` is "no limits changed"
  // a byte bound of 1e12 is a large bound, not a hostile one (the binding limit is capped at the device's)
  const accepts: Record<string, string[]> = { limits: ['{}'], onProgress: ['a function'], nnunet: ['{}'], planCacheBytes: ['1e12'], maxBindingBytes: ['1e12'] };
  for (const field of ['tuning', 'pad', 'precision', 'activation', 'limits', 'signal', 'onProgress', 'planCacheBytes', 'maxBindingBytes', 'nnunet']) {
    cases.push(...hostileFor(field, accepts[field] ?? [], (v) => loadModel(device, bytes, { [field]: v })));
  }
  cases.push(
    ['limits = { maxWeightsBytes: NaN }', () => loadModel(device, bytes, { limits: { maxWeightsBytes: NaN } })],
    ['limits = { constructor: 1 }', () => loadModel(device, bytes, { limits: JSON.parse('{"constructor": 1}') })],
    ['limits = { __proto__: 1 } (own key)', () => loadModel(device, bytes, { limits: JSON.parse('{"__proto__": 1}') })],
    [
      'tuning = { conv2d: { tilePixels: 1e12 } }',
      () => loadModel(device, bytes, { tuning: { conv2d: { tilePixels: 1e12, tileC4: 1, workgroupSize: 64, weights: 'load' } } as never }),
    ],
    [
      'tuning = the default with weights "constructor"',
      () =>
        loadModel(device, bytes, {
          tuning: {
            conv2d: { tilePixels: 4, tileC4: 2, workgroupSize: 64, weights: 'constructor' },
            convTranspose2x2: { tilePixels: 2, tileC4: 2, workgroupSize: 64, weights: 'load' },
            elementwiseWorkgroupSize: 64,
          } as never,
        }),
    ],
    [
      'tuning = the default with elementwiseWorkgroupSize 1e9',
      () =>
        loadModel(device, bytes, {
          tuning: {
            conv2d: { tilePixels: 4, tileC4: 2, workgroupSize: 64, weights: 'load' },
            convTranspose2x2: { tilePixels: 2, tileC4: 2, workgroupSize: 64, weights: 'load' },
            conv3d: { tilePixels: 4, tileC4: 2, workgroupSize: 64, weights: 'load' },
            elementwiseWorkgroupSize: 1e9,
          },
        }),
    ],
  );
  await table(cases);
});

Family('model.run: the input, and each RunOptions field (tile and each of its options)', async ({ model }) => {
  const x = { data: new Float32Array(16 * 16), shape: [1, 1, 16, 16] };
  const cases: [string, () => unknown][] = [
    ...hostileFor('run input', [], (v) => model.run(v as never)),
    ['run input = undefined', () => model.run(undefined as never)],
    ['run input.shape = [1, 1e9, 16, 16]', () => model.run({ data: x.data, shape: [1, 1e9, 16, 16] })],
    ['run input.shape = [1, 1, 1e6, 1e6]', () => model.run({ data: x.data, shape: [1, 1, 1e6, 1e6] })],
    ...hostileFor('run input.data', [], (v) => model.run({ data: v as never, shape: x.shape })),
    ...hostileFor('run input.shape', [], (v) => model.run({ data: x.data, shape: v as never })),
    ...hostileFor('run options', ['{}'], (v) => model.run(x, v as never)),
  ];
  // tile: {} is 'auto' with no options; onProgress takes a function
  const accepts: Record<string, string[]> = { tile: ['{}'], onProgress: ['a function'] };
  for (const field of ['pad', 'tile', 'onProgress', 'nonFinite', 'signal']) {
    cases.push(...hostileFor(`run ${field}`, accepts[field] ?? [], (v) => model.run(x, { [field]: v })));
  }
  for (const field of ['roi', 'overlap', 'blend', 'sigmaScale', 'batch', 'memoryBudgetBytes', 'mode']) {
    // a roi or batch of 1e12 is clamped to the image, a budget of 1e12 or Infinity bytes is no bound, and a
    // sigma of 1e12 roi is a flat (constant) blend
    const ok: Record<string, string[]> = { roi: ['1e12'], batch: ['1e12'], memoryBudgetBytes: ['1e12', 'Infinity'], sigmaScale: ['1e12'] };
    cases.push(...hostileFor(`run tile.${field}`, ok[field] ?? [], (v) => model.run(x, { tile: { [field]: v } })));
  }
  cases.push(['run tile = a throwing getter', () => model.run(x, { tile: getterThrows('roi') as never })]);
  await table(cases);
});

Family('model.segment: the image, and each SegmentOptions field', async ({ model, image }) => {
  const cases: [string, () => unknown][] = [
    ...hostileFor('segment image', [], (v) => model.segment(v as never)),
    ['segment image = undefined', () => model.segment(undefined as never)],
    ['segment image = 1e6 x 1e6 pixels', () => model.segment({ data: image.data, width: 1e6, height: 1e6, channels: 1 })],
    ['segment image.channels = "constructor"', () => model.segment({ ...image, channels: 'constructor' as never })],
    ...hostileFor('segment options', ['{}'], (v) => model.segment(image, v as never)),
  ];
  const accepts: Record<string, string[]> = { tile: ['{}'], limits: ['{}'], onProgress: ['a function'] };
  for (const field of ['normalize', 'threshold', 'tile', 'onProgress', 'signal', 'limits', 'pad']) {
    cases.push(...hostileFor(`segment ${field}`, accepts[field] ?? [], (v) => model.segment(image, { [field]: v })));
  }
  await table(cases);
});

Family('model.estimate, readImage', async ({ model, image }) => {
  await table([
    ...hostileFor('estimate shape', [], (v) => estimateOf(model, v)),
    ...hostileFor('estimate options.pad', [], (v) => model.estimate([1, 1, 16, 16], { pad: v as never })),
    ...hostileFor('readImage image', [], (v) => readImage(v as never)),
    ['readImage image = undefined', () => readImage(undefined as never)],
    ...hostileFor('readImage options', ['{}'], (v) => readImage(image, v as never)),
    ...hostileFor('readImage limits', ['{}'], (v) => readImage(image, { limits: v as never })),
    ...hostileFor('readImage signal', [], (v) => readImage(image, { signal: v as never })),
  ]);
});

Family('renderMask, renderLabels, renderOverlay, probabilitiesPng, encodePng, parseSafetensors', async ({ result, image }) => {
  const cases: [string, () => unknown][] = [];
  for (const [name, f] of [
    ['renderMask', renderMask],
    ['renderLabels', renderLabels],
    ['probabilitiesPng', probabilitiesPng],
  ] as const) {
    cases.push(...hostileFor(`${name} result`, [], (v) => f(v as never)));
    cases.push(...hostileFor(`${name} result.width`, [], (v) => f({ ...result, width: v as never })));
    cases.push(...hostileFor(`${name} result.mask`, [], (v) => f({ ...result, mask: v as never })));
    cases.push([`${name} result 1e6 x 1e6`, () => f({ ...result, width: 1e6, height: 1e6 })]);
  }
  cases.push(...hostileFor('probabilitiesPng class', [], (v) => probabilitiesPng(result, v as never)));
  cases.push(...hostileFor('renderOverlay image', [], (v) => renderOverlay(v as never, result)));
  cases.push(...hostileFor('renderOverlay result', [], (v) => renderOverlay(image, v as never)));
  cases.push(...hostileFor('renderOverlay options', ['{}'], (v) => renderOverlay(image, result, v as never)));
  cases.push(...hostileFor('renderOverlay opacity', [], (v) => renderOverlay(image, result, { opacity: v as never })));
  cases.push(...hostileFor('encodePng image', [], (v) => encodePng(v as never)));
  cases.push(...hostileFor('encodePng width', [], (v) => encodePng({ width: v as never, height: 16, data: new Uint8Array(256) })));
  cases.push(...hostileFor('encodePng channels', [], (v) => encodePng({ width: 16, height: 16, data: new Uint8Array(256), channels: v as never })));
  cases.push(...hostileFor('parseSafetensors bytes', [], (v) => parseSafetensors(v as never)));
  await table(cases);
});

// ---

const Config = suite<{ device: GPUDevice }>('error family: config values, as an object and as text');
Config.before(async (ctx) => {
  ctx.device = await testDevice();
});

/** A safetensors file smp's detection accepts (config errors come before any tensor is read). */
const tiny = () => writeSafetensors({ 'segmentation_head.0.weight': { shape: [1, 16, 3, 3], data: new Float32Array(144) } });
const BASE = { _model_class: 'Unet', encoder_name: 'resnet18', encoder_depth: 1, decoder_channels: [16], in_channels: 3, classes: 1, activation: 'sigmoid' };

Config('every config.json key smp reads: hostile values are refused naming the config and the key', async ({ device }) => {
  const weights = tiny();
  // null is smp's "none" for these
  const accepts: Record<string, string[]> = { activation: ['null'], aux_params: ['null'], decoder_attention_type: ['null'] };
  const keys = [
    '_model_class',
    'encoder_name',
    'encoder_depth',
    'decoder_channels',
    'decoder_use_norm',
    'decoder_use_batchnorm',
    'decoder_interpolation',
    'decoder_interpolation_mode',
    'decoder_attention_type',
    'in_channels',
    'classes',
    'activation',
    'aux_params',
    'add_center_block',
  ];
  const bad: string[] = [];
  let n = 0;
  for (const key of keys) {
    for (const [name, value] of HOSTILE) {
      if ((accepts[key] ?? []).includes(name)) continue;
      n++;
      const config = { ...BASE, [key]: value() };
      try {
        await loadModel(device, { weights, name: 'tiny.safetensors', config });
        bad.push(`${key} = ${name}: accepted`);
      } catch (e) {
        const m = (e as Error).message;
        if (!(e instanceof UnetError)) bad.push(`${key} = ${name}: ${(e as Error).constructor.name}: ${m.slice(0, 120)}`);
        else if (!m.startsWith('tiny.safetensors config: ')) bad.push(`${key} = ${name}: does not name the config: ${m.slice(0, 160)}`);
      }
    }
  }
  assert.ok(bad.length === 0, `${bad.length} of ${n} config values were not refused as a config error:\n  ${bad.join('\n  ')}`);
});

Config('config values out of range: encoder_depth 6, 1e12 classes, channel counts that would overflow typed arrays', async ({ device }) => {
  const weights = tiny();
  const cases: [object, RegExp][] = [
    [{ encoder_depth: 6, decoder_channels: [1, 1, 1, 1, 1, 1] }, /encoder_depth 6 \(1 to 5\)/],
    [{ encoder_depth: 1.5 }, /encoder_depth is 1\.5, expected an integer/],
    [{ decoder_channels: [16, 8] }, /decoder_channels is \[16,8\], expected a list of 1 integers/],
    [{ decoder_channels: [1e7] }, /decoder_channels is \[10000000\], expected a list of 1 integers from 1 to 4096/],
    [{ classes: 1e12 }, /classes is 1000000000000, expected an integer from 1 to 4096/],
    [{ in_channels: 2 ** 31 }, /in_channels is 2147483648, expected an integer from 1 to 4096/],
    [{ classes: '1' }, /classes is "1", expected an integer/],
    [{ activation: ['sigmoid'] }, /activation is \["sigmoid"\], expected null or a string/],
    [{ activation: 'constructor' }, /not supported: activation "constructor" \(null, identity, sigmoid/],
    [{ encoder_name: ['resnet18'] }, /encoder_name is \["resnet18"\], expected a string/],
    [{ add_center_block: 'yes' }, /add_center_block is "yes", expected true or false/],
    [{ aux_params: 'yes' }, /aux_params is "yes", expected null or an object/],
  ];
  for (const [patch, want] of cases) {
    const e = await loadModel(device, { weights, name: 'tiny.safetensors', config: { ...BASE, ...patch } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(e instanceof UnetError, `${JSON.stringify(patch)}: expected a UnetError, got ${e}`);
    assert.match((e as Error).message, /^tiny\.safetensors config: /, JSON.stringify(patch));
    assert.match((e as Error).message, want, JSON.stringify(patch));
  }
});

Config('config text: not JSON, deeply nested, an array, a getter, a cycle; the parse error does not echo the text', async ({ device }) => {
  const weights = tiny();
  const cyclic: Record<string, unknown> = { ...BASE };
  cyclic.self = cyclic;
  const cases: [string, unknown, RegExp][] = [
    ['"constructor" as text', 'constructor', /config: not valid JSON/],
    ['a password file as text', 'root:x:0:0:root:/root:/bin/bash\n', /config: not valid JSON/],
    ['nested 1e6 deep as text', '['.repeat(1e6), /config: /],
    ['an array', '[1, 2]', /expected a JSON object of model settings, found an array/],
    ['"null"', 'null', /found null/],
    ['a getter that throws', getterThrows('encoder_name'), /cannot be read as JSON settings \(a property getter threw\)/],
    ['a cycle', cyclic, /cannot be read as JSON settings \(not JSON data/],
    ['nested 1e5 deep as an object', { ...BASE, extra: deep(100_000) }, /cannot be read as JSON settings \(nested too deeply\)|config: /],
    ['2 MB of text', `{"x": "${'a'.repeat(2 ** 21)}"}`, /more than the 1048576 bytes a model config may have/],
  ];
  for (const [what, config, want] of cases) {
    const e = await loadModel(device, { weights, name: 'tiny.safetensors', config: config as never }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(e instanceof UnetError, `${what}: expected a UnetError, got ${(e as Error)?.constructor?.name}: ${e}`);
    assert.match((e as Error).message, want, what);
    assert.not.match((e as Error).message, /root:x|\[\[\[\[/, `${what}: the message echoes the text: ${(e as Error).message}`);
  }
});

Family.run();
Config.run();
