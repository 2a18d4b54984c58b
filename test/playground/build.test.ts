// buildModel: options -> a Model that runs, seeded (the same seed gives the same output, another seed another),
// equal to smp running our exported weights (test/fixtures/playground: smp's output on them, made by
// tools/smp_playground.py; live too with $SMP_SOURCE), and described without a device with the figures of its
// own compiled plan (GFLOP, the activation arena with its scratch, the packed weights).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Model,
  type ModelOptions,
  buildModel,
  defaultModelOptions,
  describeModel,
  modelSafetensors,
  optionsOfModel,
  setModelOption,
  smpConfigJson,
} from '../../src/index.js';
import { DEFAULT_TUNING, type Tuning } from '../../src/compiler/tuning.js';
import { parseSafetensors, writeSafetensors } from '../../src/weights/safetensors.js';
import { randArray, rng, testDevice } from '../helpers.js';
import { FORWARD_CASES, SMALL } from './cases.js';
import { FIXTURES, liveSmp, runSmp, sha256, smpFixture, tempDir } from './smp.js';

const SHAPE = [1, 3, 40, 56];

const input = (shape: number[], seed = 5) => ({
  data: randArray(
    rng(seed),
    shape.reduce((a, b) => a * b, 1),
  ),
  shape,
});
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

const Build = suite<{ device: GPUDevice; models: Model[] }>('playground: buildModel');
Build.before(async (ctx) => {
  ctx.device = await testDevice();
  ctx.models = [];
});
Build.after((ctx) => {
  for (const m of ctx.models) m.dispose();
  ctx.device.destroy();
});

const built = async (ctx: { device: GPUDevice; models: Model[] }, o: ModelOptions, seed: number, tuning?: Tuning) => {
  const m = await buildModel(ctx.device, o, { weights: { random: { seed } }, tuning });
  ctx.models.push(m);
  return m;
};

Build('resnet18 depth 3 runs; the same seed gives the same output, another seed another', async (ctx) => {
  const x = input(SHAPE);
  const a = await (await built(ctx, SMALL, 11)).run(x);
  const b = await (await built(ctx, SMALL, 11)).run(x);
  const c = await (await built(ctx, SMALL, 12)).run(x);
  assert.equal(a.shape, [1, 2, 40, 56]);
  assert.ok(a.data.every(Number.isFinite), 'finite');
  assert.is(maxDiff(a.data, b.data), 0, 'seed 11 twice');
  assert.ok(maxDiff(a.data, c.data) > 1e-3, `seed 11 vs 12 differ by ${maxDiff(a.data, c.data)}`);
});

Build("Unet and UnetPlusPlus (scse, no norm, bilinear): our weights are the fixture's bytes, our forward smp's (float64) on them", async (ctx) => {
  const { forwards } = smpFixture();
  assert.equal(Object.keys(forwards).sort(), FORWARD_CASES.map(([name]) => name).sort(), "the fixture's forwards are cases.ts's");
  for (const [name, o, seed] of FORWARD_CASES) {
    const want = forwards[name];
    assert.is(smpConfigJson(o), want.config_json, `${name}: config.json`);
    assert.is(sha256(modelSafetensors(o, { random: { seed } })), want.weights_sha256, `${name}: model.safetensors, seed ${seed}, byte for byte what smp ran`);
    const io = parseSafetensors(readFileSync(join(FIXTURES, want.io)), want.io);
    const shape = io.tensors.get('input')!.shape;
    const ref = io.getF32('output');
    const y = await (await built(ctx, o, seed)).run({ data: io.getF32('input'), shape });
    assert.equal(y.shape, io.tensors.get('output')!.shape, `${name}: output shape`);
    const maxRef = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const bound = 1e-4 * Math.max(1, maxRef);
    const d = maxDiff(y.data, ref);
    assert.ok(d <= bound, `${name}: max |ours - smp| ${d}, bound ${bound}`);
    assert.ok(maxRef > 0.1, `${name}: smp's output is not ~0 (max |y| ${maxRef})`);
    console.log(`\n  ${name}: max |ours - smp| ${d.toExponential(2)}, max |smp| ${maxRef.toFixed(3)}`);
  }
});

// live: only where $SMP_SOURCE names smp's source (the fixture above stands for it elsewhere)
if (liveSmp())
  Build('live smp: runs the exported weights on our input and gets our output', async (ctx) => {
    const dir = tempDir();
    const args: string[] = [];
    for (const [i, [, o, seed]] of FORWARD_CASES.entries()) {
      const shape = [1, o.inChannels, 32, 48];
      const x = input(shape, 9 + i);
      const y = await (await built(ctx, o, seed)).run(x);
      writeFileSync(join(dir, `c${i}.json`), smpConfigJson(o));
      writeFileSync(join(dir, `w${i}.safetensors`), modelSafetensors(o, { random: { seed } }));
      writeFileSync(
        join(dir, `io${i}.safetensors`),
        writeSafetensors({ input: { shape, data: x.data }, output: { shape: y.shape as number[], data: y.data } }),
      );
      args.push('--case', join(dir, `c${i}.json`), join(dir, `w${i}.safetensors`), join(dir, `io${i}.safetensors`));
    }
    const out = runSmp(['load', ...args]);
    out.forEach((r, i) => {
      const bound = 1e-4 * Math.max(1, r.max_abs_ref as number);
      assert.ok((r.max_abs_diff as number) <= bound, `case ${i}: max |ours - smp| ${r.max_abs_diff}, bound ${bound}`);
    });
  });

Build("describeModel (no device) has the compiled plan's GFLOP, arena, scratch and packed weights", async (ctx) => {
  const { limits } = ctx.device;
  const winograd: Tuning = { ...DEFAULT_TUNING, conv2d: { ...DEFAULT_TUNING.conv2d, algo: 'winograd2' } };
  const brain = { ...defaultModelOptions('brain-unet'), depth: 3, decoderChannels: [8] };
  for (const [name, o, tuning, shape] of [
    ["Unet resnet18, the device's default tuning", SMALL, undefined, SHAPE],
    ['Unet resnet18 direct', SMALL, DEFAULT_TUNING, SHAPE],
    ['Unet resnet18 winograd2', SMALL, winograd, SHAPE],
    [
      'UnetPlusPlus mobilenet_v2',
      { ...setModelOption({ ...SMALL, architecture: 'UnetPlusPlus', encoder: 'mobilenet_v2' }, 'depth', 3) },
      DEFAULT_TUNING,
      [1, 3, 30, 50],
    ],
    ['brain U-Net', brain, DEFAULT_TUNING, [1, 3, 36, 20]],
  ] as [string, ModelOptions, Tuning | undefined, number[]][]) {
    const model = await built(ctx, o, 1, tuning);
    const d = tuning
      ? describeModel(o, [shape[2], shape[3]], {
          tuning,
          alignment: limits.minStorageBufferOffsetAlignment,
          maxBindingBytes: limits.maxStorageBufferBindingSize,
          maxBufferBytes: limits.maxBufferSize,
        })
      : describeModel(o, [shape[2], shape[3]], { device: ctx.device });
    if (tuning === winograd) assert.ok(d.memory.scratchBytes > 0, `${name}: Winograd's scratch is counted`);
    const plan = model.plan(shape);
    const planFlops = plan.steps.reduce((s, st) => s + st.flops, 0) / 1e9;
    assert.ok(Math.abs(d.gflop - planFlops) <= 1e-9 * planFlops, `${name}: GFLOP ${d.gflop} vs the plan's ${planFlops}`);
    const est = model.estimate(shape);
    assert.is(d.memory.activationsBytes + d.memory.scratchBytes, est.arenaBytes, `${name}: arena`);
    assert.is(d.memory.scratchBytes, plan.memory.scratchBytes ?? 0, `${name}: scratch`);
    assert.is(d.memory.weightsBytes, model.info.weightBytes, `${name}: packed weights`);
    assert.is(d.memory.totalBytes - d.memory.weightsBytes, est.totalBytes, `${name}: one pass`);
    assert.is(d.parameters, model.info.parameters, `${name}: parameters as the loader counts them`);
    assert.is(d.buffers, model.info.buffers, `${name}: buffers`);
    assert.equal(d.padded, [est.padded[0], est.padded[1]], `${name}: padded size`);
    const out = d.stages.at(-1)!.shape;
    assert.equal(out, [1, o.classes, d.padded[0], d.padded[1]], `${name}: the head's output`);
  }
});

Build('optionsOfModel gives back the options a model was built from (no norm, scse, UnetPlusPlus, brain U-Net)', async (ctx) => {
  for (const o of [
    { ...SMALL, decoderNorm: 'none' as const, attention: 'scse' as const, upsampling: 'bilinear' as const, activation: 'tanh' as const },
    { ...SMALL, architecture: 'UnetPlusPlus' as const, inChannels: 4 },
    { ...defaultModelOptions('brain-unet'), depth: 2, decoderChannels: [8], classes: 2 },
  ]) {
    const model = await built(ctx, o, 0);
    assert.equal(optionsOfModel(model), o);
  }
});

Build.run();
