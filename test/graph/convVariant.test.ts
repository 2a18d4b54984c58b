// The conv variant decided once (src/ops/convVariant.ts) against the decision as pack, scratch and compile
// each made it before (a frozen copy below), on every fixture model under every tuning: the kernel and the
// tile of every conv node must be the same. No GPU: decisions only.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { buildModel } from '../../src/arch/index.js';
import type { ModelConfig } from '../../src/arch/types.js';
import { GraphBuilder, type Graph, type OpOf } from '../../src/graph/ir.js';
import { optimize } from '../../src/graph/passes/index.js';
import { type ConvTile, type Tuning, DEFAULT_TUNING, candidates } from '../../src/graph/tuning.js';
import { tileFor } from '../../src/ops/index.js';
import { winogradApplies } from '../../src/kernels/winograd.js';
import { WINOGRAD4_MAX_LAYERS, asGiven, convVariants, isDepthwise, winogradLayers } from '../../src/ops/convVariant.js';
import { parseSafetensors } from '../../src/weights/safetensors.js';
import { randArray, rng } from '../helpers.js';

function winogradTileOf(op: OpOf<'conv2d'>, tile: ConvTile | undefined, f16: boolean): 0 | 2 | 4 {
  const m = tile?.algo === 'winograd2' ? 2 : tile?.algo === 'winograd4' ? 4 : 0;
  const applies = !f16 && !op.inputScale && op.params.shape[1] >= 8 && winogradApplies(op.params.shape[2], op.params.shape[3], op.stride, op.dilation, op.groups);
  return applies ? m : 0;
}
const oldFitWinograd = (t: Tuning, g: Graph): Tuning => {
  const probe: ConvTile = { tilePixels: 1, tileC4: 1, workgroupSize: 64, weights: 'load', algo: 'winograd4' };
  if (g.nodes.filter((n) => n.op.kind === 'conv2d' && winogradTileOf(n.op, probe, false) !== 0).length <= 48) return t;
  const fit = (c: ConvTile): ConvTile => (c.algo === 'winograd4' ? { ...c, algo: 'winograd2' } : c);
  return { ...t, conv2d: fit(t.conv2d), layers: t.layers && Object.fromEntries(Object.entries(t.layers).map(([k, c]) => [k, fit(c)])) };
};

/** The decision before it moved into one place: ops/conv2d.ts's convTile + winogradTileOf + usesTiled, on a
 *  tuning that load.ts had passed through fitWinograd (on the graph before the passes). */
function oldDecision(op: OpOf<'conv2d'>, tile: ConvTile, f16: boolean): { kind: string; tile?: ConvTile } {
  if (isDepthwise(op)) return { kind: 'depthwise' };
  const winograd = winogradTileOf(op, tile, f16);
  const groupC4 = op.groups === 1 ? Math.ceil(op.params.shape[0] / 4) : op.params.shape[0] / op.groups / 4;
  let tc = Math.min(tile.tileC4, groupC4);
  while ((op.groups > 1 || winograd) && groupC4 % tc !== 0) tc--;
  const usesTiled = tile.algo === 'tiled' && op.groups === 1 && !op.inputScale;
  const algo = winograd || usesTiled ? tile.algo : undefined;
  const t = tc === tile.tileC4 && algo === tile.algo ? tile : { ...tile, tileC4: tc, algo };
  const m = winogradTileOf(op, t, f16);
  return { kind: m ? `winograd${m}` : t.algo === 'tiled' ? 'tiled' : 'direct', tile: t };
}

const oldTable = (raw: Graph, g: Graph, tuning: Tuning, f16: boolean, given: boolean) => {
  // load.ts fitted its default tuning; a given one (LoadOptions.tuning, a cached one) ran as given
  const fitted = given ? tuning : oldFitWinograd(tuning, raw);
  return g.nodes.filter((n) => n.op.kind === 'conv2d').map((n) => oldDecision(n.op as OpOf<'conv2d'>, tileFor(fitted, g, n)!, f16));
};

const newTable = (g: Graph, tuning: Tuning, f16: boolean) => {
  const table = convVariants(g, tuning, f16);
  return g.nodes.filter((n) => n.op.kind === 'conv2d').map((n) => {
    const v = table.get(n)!;
    return v.kind === 'depthwise' ? { kind: 'depthwise' } : { kind: v.kind, tile: v.tile };
  });
};

/** Every fixture model's graph, before and after the passes. */
function fixtureModels(): { name: string; raw: Graph }[] {
  const out: { name: string; raw: Graph }[] = [];
  for (const f of readdirSync('test/fixtures').filter((f) => f.endsWith('.weights.safetensors'))) {
    out.push({ name: f, raw: buildModel(parseSafetensors(readFileSync(`test/fixtures/${f}`), f), undefined).graph });
  }
  for (const f of readdirSync('test/fixtures/smp')) {
    const path = `test/fixtures/smp/${f}`;
    if (statSync(path).isDirectory()) {
      const config = JSON.parse(readFileSync(`${path}/config.json`, 'utf8')) as ModelConfig;
      try {
        out.push({ name: f, raw: buildModel(parseSafetensors(readFileSync(`${path}/model.safetensors`), f), config).graph });
      } catch (e) {
        console.log(`  ${f}: ${(e as Error).message.slice(0, 80)}`);
      }
    } else if (!f.endsWith('.io.safetensors') && f.endsWith('.safetensors')) {
      try {
        out.push({ name: f, raw: buildModel(parseSafetensors(readFileSync(path), f), undefined).graph });
      } catch (e) {
        console.log(`  ${f}: ${(e as Error).message.slice(0, 80)}`);
      }
    }
  }
  return out;
}

/** A chain of `n` 3x3 convs Winograd applies to, a strided one and a 1x1 (which it does not). */
function chain(n: number): Graph {
  const b = new GraphBuilder();
  let v = b.value('input', 8);
  const rand = rng(3);
  const p = { weight: randArray(rand, 8 * 8 * 9), shape: [8, 8, 3, 3] as [number, number, number, number], bias: randArray(rand, 8) };
  for (let i = 0; i < n; i++) v = b.conv2d(`c${i}`, v, p, { padding: 1 });
  const one = { weight: randArray(rand, 8 * 8), shape: [8, 8, 1, 1] as [number, number, number, number], bias: randArray(rand, 8) };
  return b.finish(0, b.conv2d('s', b.conv2d('one', v, one), p, { stride: 2 }));
}

/** Global tunings: the defaults of every kind of adapter and every candidate `unet tune` tries; and
 *  per-layer ones that give each layer key of `g` a different candidate. */
function tunings(g: Graph): [string, Tuning][] {
  const all = [...candidates('conv2d', 8, false), ...candidates('conv2d', 16, true)];
  const list: [string, Tuning][] = [
    ['default', DEFAULT_TUNING],
    ['software', { ...DEFAULT_TUNING, conv2d: { ...DEFAULT_TUNING.conv2d, algo: 'winograd4' } }],
    ['software subgroup/8', { ...DEFAULT_TUNING, conv2d: { tilePixels: 2, tileC4: 4, workgroupSize: 64, weights: 'subgroup', subgroupSize: 8, algo: 'winograd4' } }],
    ...all.map((c, i): [string, Tuning] => [`candidate ${i}`, { ...DEFAULT_TUNING, conv2d: c }]),
  ];
  const keys = [...new Set(g.nodes.filter((n) => n.op.kind === 'conv2d').map((n) => tileKey(g, n)))];
  for (let shift = 0; shift < 5; shift++) {
    const layers = Object.fromEntries(keys.map((k, i) => [k, all[(i * 7 + shift * 11) % all.length]]));
    list.push([`per-layer ${shift}`, { ...DEFAULT_TUNING, conv2d: all[shift], layers }]);
  }
  return list;
}
const tileKey = (g: Graph, n: Graph['nodes'][number]) => {
  const op = n.op as OpOf<'conv2d'>;
  const [cout, cinG, kh, kw] = op.params.shape;
  const segs = g.values[n.inputs[0]].segments?.length ?? 1;
  return `conv2d k${kh}x${kw} s${op.stride[0]} ${cinG * op.groups}${segs > 1 ? `(${segs} parts)` : ''}->${cout}${op.groups > 1 ? ` g${op.groups}` : ''}`;
};

const Table = suite('conv variant: one decision, the same table as before');

Table('every fixture model, every tuning, f32 and f16: the old and the new decision agree node by node', () => {
  const models = [...fixtureModels(), { name: `chain of ${WINOGRAD4_MAX_LAYERS}`, raw: chain(WINOGRAD4_MAX_LAYERS) }, { name: `chain of ${WINOGRAD4_MAX_LAYERS + 1}`, raw: chain(WINOGRAD4_MAX_LAYERS + 1) }];
  assert.ok(models.length >= 16, `${models.length} models`);
  let nodes = 0;
  const kinds = new Set<string>();
  for (const { name, raw } of models) {
    const g = optimize(raw);
    // the rule counted the graph before the passes, now the one that runs: the same side of the bound here
    assert.is(winogradLayers(raw) > WINOGRAD4_MAX_LAYERS, winogradLayers(g) > WINOGRAD4_MAX_LAYERS, name);
    for (const [tname, t] of tunings(g)) {
      for (const f16 of [false, true]) {
        for (const given of [false, true]) {
          const was = oldTable(raw, g, t, f16, given);
          const now = newTable(g, given ? asGiven({ ...t }) : t, f16);
          assert.equal(now, was, `${name}, ${tname}${f16 ? ', f16' : ''}${given ? ', given' : ''}`);
          nodes += now.length;
          for (const v of now) kinds.add(v.kind);
        }
      }
    }
  }
  assert.equal([...kinds].sort(), ['depthwise', 'direct', 'tiled', 'winograd2', 'winograd4']);
  console.log(`  ${models.length} models, ${nodes} conv decisions compared`);
});

Table.run();
