// The graph passes and the memory planner: the optimized U-Net (BN folded, activations fused, concat
// placed) and the plain one (every op its own kernel, concat copied) must both match PyTorch, and the
// planner must never give two simultaneously live values the same bytes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import type { Shape } from '../../src/ir/graph.js';
import { inferShapes } from '../../src/ops/index.js';
import { optimize } from '../../src/compiler/passes/index.js';
import { foldBatchNorm, fuseActivation, placeConcat } from '../../src/compiler/passes/index.js';
import { compilePlan } from '../../src/compiler/plan.js';
import { uploadParams } from '../../src/compiler/params.js';
import { DEFAULT_TUNING } from '../../src/compiler/tuning.js';
import { parseSafetensors } from '../../src/weights/safetensors.js';
import { buildUNet, unetParamsFromSafetensors } from '../../src/arch/brainUnet.js';
import { testDevice } from '../helpers.js';

const MAX_ABS = 2e-5; // as the model test: the PyTorch fixtures' bound

function fixture(name: string) {
  const st = parseSafetensors(readFileSync(`test/fixtures/${name}.weights.safetensors`));
  const io = parseSafetensors(readFileSync(`test/fixtures/${name}.io.safetensors`));
  return {
    params: unetParamsFromSafetensors(st),
    input: io.getF32('input'),
    shape: io.tensors.get('input')!.shape as Shape,
    output: io.getF32('output'),
  };
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

// ---

const Passes = suite('graph passes');

Passes('U-Net depth 4: 18 BN and 18 relu fold into the 19 convs, sigmoid into the head, 4 concats elided', () => {
  const { params } = fixture('b2_rgb');
  const g = buildUNet(params);
  const count = (gr: typeof g, kind: string) => gr.nodes.filter((n) => n.op.kind === kind || (n.op.kind === 'activation' && n.op.fn === kind)).length;
  // 9 blocks x 2 convs + head = 19 conv2d, 18 BN, 18 relu, 1 sigmoid, 4 pools, 4 upconvs, 4 concats
  assert.equal([count(g, 'conv2d'), count(g, 'batchNorm'), count(g, 'relu'), count(g, 'sigmoid'), count(g, 'concat')], [19, 18, 18, 1, 4]);
  const folded = foldBatchNorm(g);
  assert.is(count(folded, 'batchNorm'), 0);
  const fused = fuseActivation(folded);
  assert.equal([count(fused, 'relu'), count(fused, 'sigmoid')], [0, 0]);
  assert.equal(
    fused.nodes
      .filter((n) => n.op.kind === 'conv2d')
      .map((n) => (n.op.kind === 'conv2d' ? n.op.activation : ''))
      .filter((a) => a === 'relu').length,
    18,
  );
  const placed = placeConcat(fused);
  assert.ok(placed.nodes.filter((n) => n.op.kind === 'concat').every((n) => n.op.kind === 'concat' && n.op.elided));
  // cat((up, skip)): up at vec4 offset 0, the skip right after it
  const cat1 = placed.nodes.find((n) => n.name === 'cat1')!;
  const [up, skip] = cat1.inputs.map((v) => placed.values[v]);
  assert.equal([up.placement?.c4Offset, skip.placement?.c4Offset], [0, Math.ceil(up.channels / 4)]);
  // the original graph is not modified by the passes
  assert.is(count(g, 'batchNorm'), 18);
});

Passes('placeConcat with channel counts not a multiple of 4 (init_features 6): segments leave vec4 gaps', () => {
  const g = optimize(buildUNet(fixture('nonsquare_f6').params));
  const cat1 = g.nodes.find((n) => n.name === 'cat1')!;
  // 6 + 6 channels: each part rounded up to 8 channels = 2 vec4s
  assert.equal(g.values[cat1.output].segments, [
    { channels: 6, c4Offset: 0 },
    { channels: 6, c4Offset: 2 },
  ]);
});

Passes.run();

// ---

const Exec = suite<{ device: GPUDevice }>('executor');
Exec.before(async (ctx) => {
  ctx.device = await testDevice();
});
Exec.after((ctx) => ctx.device.destroy());

for (const name of ['b2_rgb', 'nonsquare_f6']) {
  Exec(`${name}: unoptimized graph (BN, relu, sigmoid, concat kernels) and optimized graph both match PyTorch`, async ({ device }) => {
    const f = fixture(name);
    for (const [label, g] of [
      ['plain', buildUNet(f.params)],
      ['optimized', optimize(buildUNet(f.params))],
    ] as const) {
      const params = uploadParams(device, g, DEFAULT_TUNING);
      const plan = compilePlan(device, g, params, DEFAULT_TUNING, f.shape);
      const y = await plan.run(f.input);
      const d = maxAbsDiff(y, f.output);
      assert.ok(d <= MAX_ABS, `${name} ${label}: max |diff| ${d}`);
      plan.dispose();
      params.destroy();
    }
  });
}

Exec('memory plan: values live at the same step never share bytes; offsets aligned; reuse happens', async ({ device }) => {
  const f = fixture('f5_odd');
  const g = optimize(buildUNet(f.params));
  const params = uploadParams(device, g, DEFAULT_TUNING);
  const plan = compilePlan(device, g, params, DEFAULT_TUNING, f.shape);
  const allocs = [...plan.memory.allocations.values()];
  const align = device.limits.minStorageBufferOffsetAlignment;
  for (const a of allocs) {
    assert.is(a.offset % align, 0, `offset ${a.offset} of value ${g.values[a.root].name} not aligned to ${align}`);
    assert.ok(a.offset + a.sizeBytes <= plan.memory.arenaBytes);
    for (const b of allocs) {
      if (a === b) continue;
      const liveTogether = a.firstStep <= b.lastStep && b.firstStep <= a.lastStep;
      const shareBytes = a.offset < b.offset + b.sizeBytes && b.offset < a.offset + a.sizeBytes;
      assert.ok(!(liveTogether && shareBytes), `${g.values[a.root].name} and ${g.values[b.root].name} overlap while both live`);
    }
  }
  assert.ok(plan.memory.arenaBytes < plan.memory.unsharedBytes, `arena ${plan.memory.arenaBytes} vs unshared ${plan.memory.unsharedBytes}`);
  // every value has storage; placed ones inside their parent's
  const shapes = inferShapes(g, f.shape);
  for (const n of g.nodes) for (const v of [...n.inputs, n.output]) assert.ok(plan.memory.location.has(v) && shapes.has(v));
  // describe(): one line per dispatch plus two summary lines, with shapes
  const text = plan.describe();
  assert.is(text.split('\n').length, plan.steps.length + 2);
  assert.match(text, /upconv1 +\[1,10,8,24\] -> \[1,5,16,48\] k2 s2/);
  plan.dispose();
  params.destroy();
});

Exec.run();
