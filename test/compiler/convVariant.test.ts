// The conv variant, decided once per node (src/ops/convVariant.ts): the kernels of known layers of the
// fixture models under the tunings adapters get, the model-wide F(4x4,3x3) rule, and the plan naming each
// conv's variant in its steps. (When the decision moved here from pack, scratch, compile, the tuner and
// load.ts, this suite compared both decision tables on every fixture model, every tuning candidate and
// both precisions, about 240,000 conv decisions, and found them equal.)
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { buildModel } from '../../src/arch/index.js';
import { GraphBuilder, type Graph } from '../../src/ir/graph.js';
import { uploadParams } from '../../src/compiler/params.js';
import { optimize } from '../../src/compiler/passes/index.js';
import { compilePlan } from '../../src/compiler/plan.js';
import { type ConvTile, type Tuning, DEFAULT_TUNING } from '../../src/compiler/tuning.js';
import { WINOGRAD4_MAX_LAYERS, asGiven, convVariants, describeConvVariant, winogradLayers } from '../../src/ops/convVariant.js';
import { parseSafetensors } from '../../src/weights/safetensors.js';
import { randArray, rng, testDevice } from '../helpers.js';

const graphOf = (weights: string, config?: string): Graph =>
  optimize(buildModel(parseSafetensors(readFileSync(weights), weights), config ? JSON.parse(readFileSync(config, 'utf8')) : undefined).graph);
const brain = () => graphOf('test/fixtures/b2_rgb.weights.safetensors');
const smp = (name: string) => graphOf(`test/fixtures/smp/${name}/model.safetensors`, `test/fixtures/smp/${name}/config.json`);

const withConv = (c: ConvTile): Tuning => ({ ...DEFAULT_TUNING, conv2d: c });
/** llvmpipe's default (tuningFor): F(4x4,3x3) with subgroup-broadcast weights, 2 px x 4 vec4 */
const SOFTWARE = withConv({ tilePixels: 2, tileC4: 4, workgroupSize: 64, weights: 'subgroup', subgroupSize: 8, algo: 'winograd4' });
const TILED = withConv({ tilePixels: 8, tileC4: 16, workgroupSize: 64, weights: 'load', algo: 'tiled' });

/** Each named node's variant, described. */
function variants(g: Graph, t: Tuning, f16: boolean, names: string[]): Record<string, string> {
  const table = convVariants(g, t, f16);
  const byName = new Map([...table].map(([n, v]) => [n.name, v]));
  return Object.fromEntries(names.map((n) => [n, byName.has(n) ? describeConvVariant(byName.get(n)!) : 'no such conv']));
}

/** `n` chained 8 -> 8 3x3 convs (Winograd applies), then a 1x1 and a strided one (it does not). */
function chain(n: number): Graph {
  const b = new GraphBuilder();
  let v = b.value('input', 8);
  const rand = rng(3);
  const p = { weight: randArray(rand, 8 * 8 * 9), shape: [8, 8, 3, 3] as [number, number, number, number], bias: randArray(rand, 8) };
  for (let i = 0; i < n; i++) v = b.conv2d(`c${i}`, v, p, { padding: 1 });
  const one = { weight: randArray(rand, 8 * 8), shape: [8, 8, 1, 1] as [number, number, number, number], bias: randArray(rand, 8) };
  return b.finish(0, b.conv2d('s', b.conv2d('one', v, one), p, { stride: 2 }));
}

const Choice = suite('conv variant');

Choice('brain U-Net b2_rgb: Winograd where it applies and pays, direct elsewhere, the tile fitted to each layer', () => {
  const g = brain();
  const names = ['encoder1.enc1conv1+enc1norm1+relu', 'encoder2.enc2conv2+enc2norm2+relu', 'encoder3.enc3conv1+enc3norm1+relu', 'conv+sigmoid'];
  // 3 -> 4: fewer than WINOGRAD_MIN_CIN (8) input channels; 8 -> 8: the tile's 4 vec4s cut to the layer's 2;
  // the 4 -> 1 head is 1x1 and has one output vec4
  assert.equal(variants(g, SOFTWARE, false, names), {
    'encoder1.enc1conv1+enc1norm1+relu': 'direct subgroup/8 2px x 1c4 wg64',
    'encoder2.enc2conv2+enc2norm2+relu': 'winograd4 subgroup/8 2px x 2c4 wg64',
    'encoder3.enc3conv1+enc3norm1+relu': 'winograd4 subgroup/8 2px x 4c4 wg64',
    'conv+sigmoid': 'direct subgroup/8 2px x 1c4 wg64',
  });
  // f16 storage runs every conv direct (f16 V and M cost accuracy)
  assert.equal(variants(g, SOFTWARE, true, names.slice(1, 3)), {
    'encoder2.enc2conv2+enc2norm2+relu': 'direct subgroup/8 2px x 2c4 wg64',
    'encoder3.enc3conv1+enc3norm1+relu': 'direct subgroup/8 2px x 4c4 wg64',
  });
  assert.equal(variants(g, TILED, false, [names[2], names[3]]), {
    'encoder3.enc3conv1+enc3norm1+relu': 'tiled load 8px x 4c4 wg64',
    'conv+sigmoid': 'tiled load 8px x 1c4 wg64',
  });
  assert.equal(variants(g, DEFAULT_TUNING, false, [names[2]]), { 'encoder3.enc3conv1+enc3norm1+relu': 'direct load 4px x 2c4 wg64' });
});

Choice('a per-layer tuning entry overrides the default for that layer only', () => {
  const g = brain();
  const t: Tuning = { ...SOFTWARE, layers: { 'conv2d k3x3 s1 8->16': { tilePixels: 4, tileC4: 2, workgroupSize: 128, weights: 'load' } } };
  assert.equal(variants(g, t, false, ['encoder3.enc3conv1+enc3norm1+relu', 'encoder3.enc3conv2+enc3norm2+relu']), {
    'encoder3.enc3conv1+enc3norm1+relu': 'direct load 4px x 2c4 wg128',
    'encoder3.enc3conv2+enc3norm2+relu': 'winograd4 subgroup/8 2px x 4c4 wg64',
  });
});

Choice('smp: depthwise convs, convs with an input scale (never tiled), grouped convs (never Winograd)', () => {
  const eb0 = smp('eb0_d5_sigmoid');
  assert.equal(variants(eb0, TILED, false, ['encoder._blocks.0._depthwise_conv+_bn1+silu', 'encoder._blocks.0._project_conv+_bn2*scale']), {
    'encoder._blocks.0._depthwise_conv+_bn1+silu': 'depthwise',
    'encoder._blocks.0._project_conv+_bn2*scale': 'direct load 8px x 4c4 wg64',
  });
  // resnext50_32x4d: 256 -> 256 in 32 groups of 8 channels, 2 output vec4s each
  assert.equal(variants(smp('rx50_d5_identity'), SOFTWARE, false, ['encoder.layer2.0.conv2+bn2+relu']), {
    'encoder.layer2.0.conv2+bn2+relu': 'direct subgroup/8 2px x 2c4 wg64',
  });
});

Choice(`F(4x4,3x3) gives way to F(2x2,3x3) past ${WINOGRAD4_MAX_LAYERS} Winograd convs, unless the tuning is the caller's`, () => {
  const fits = chain(WINOGRAD4_MAX_LAYERS);
  const deep = chain(WINOGRAD4_MAX_LAYERS + 1);
  assert.is(winogradLayers(deep), WINOGRAD4_MAX_LAYERS + 1, 'the 1x1 and the strided conv do not count');
  assert.equal(variants(fits, SOFTWARE, false, ['c0', 'one', 's']), {
    c0: 'winograd4 subgroup/8 2px x 2c4 wg64',
    one: 'direct subgroup/8 2px x 2c4 wg64',
    s: 'direct subgroup/8 2px x 2c4 wg64',
  });
  assert.equal(variants(deep, SOFTWARE, false, ['c0']), { c0: 'winograd2 subgroup/8 2px x 2c4 wg64' });
  // LoadOptions.tuning (bench/parity-smp.ts --algos winograd4 measures F(4x4) on resnet152 so)
  assert.equal(variants(deep, asGiven({ ...SOFTWARE }), false, ['c0']), { c0: 'winograd4 subgroup/8 2px x 2c4 wg64' });
});

Choice('decided once: the same table for the same graph, tuning and precision', () => {
  const g = brain();
  assert.is(convVariants(g, SOFTWARE, false), convVariants(g, SOFTWARE, false));
  assert.is.not(convVariants(g, SOFTWARE, false), convVariants(g, SOFTWARE, true));
  assert.is(convVariants(g, SOFTWARE, false).size, g.nodes.filter((n) => n.op.kind === 'conv2d').length);
});

// ---

const Plan = suite<{ device: GPUDevice }>('conv variant in the plan');
Plan.before(async (ctx) => {
  ctx.device = await testDevice();
});
Plan.after((ctx) => ctx.device.destroy());

Plan("plan.describe() names each conv's variant, Winograd's three steps included (b2_rgb, 32x32)", ({ device }) => {
  const g = brain();
  const t = withConv({ tilePixels: 2, tileC4: 4, workgroupSize: 64, weights: 'load', algo: 'winograd2' });
  const params = uploadParams(device, g, t);
  const plan = compilePlan(device, g, params, t, [1, 3, 32, 32]);
  try {
    const lines = plan.describe().split('\n');
    const of = (label: RegExp) => lines.filter((l) => label.test(l));
    assert.is(of(/encoder1\.enc1conv1\S* /).length, 1);
    assert.match(of(/encoder1\.enc1conv1\S* /)[0], / via direct load \dpx x 1c4 wg64\b/);
    // input transform, GEMM, output transform: one band at 32x32
    const win = of(/encoder3\.enc3conv1\S* winograd-/);
    assert.is(win.length, 3, win.join('\n'));
    for (const l of win) assert.match(l, / via winograd2 load 2px x 4c4 wg64\b/);
    assert.match(of(/conv\+sigmoid /)[0], / via direct load \dpx x 1c4 wg64\b/);
    // every conv's steps name it, no other op's do
    const convs = new Set(g.nodes.filter((n) => n.op.kind === 'conv2d').map((n) => n.name));
    for (const s of plan.steps) assert.is(s.detail.includes(' via '), convs.has(s.label.split(' ')[0]), s.label);
  } finally {
    plan.dispose();
    params.destroy();
  }
});

Choice.run();
Plan.run();
