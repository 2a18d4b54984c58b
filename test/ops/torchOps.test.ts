// Every engine op against PyTorch's own op (fixtures by tools/make_op_fixtures.py), run the way models run
// it: a one-op graph (plus what the op needs around it) through the registry, the passes, the memory
// planner and compilePlan, in f32 and in f16. Our CPU references are tested against the same kernels
// elsewhere; this catches a misreading the reference and the kernel would share.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { GraphBuilder, type Graph, type Shape, type ValueId } from '../../src/ir/graph.js';
import type { ConvParams } from '../../src/ir/params.js';
import { parseSafetensors, type Safetensors } from '../../src/weights/safetensors.js';
import { testDevice } from '../helpers.js';
import { runGraph } from './runGraph.js';
import { optimize } from '../../src/compiler/passes/index.js';
import { type ConvAlgo, tuningFor } from '../../src/compiler/tuning.js';
import { adapterOf } from '../../src/gpu/device.js';
import { skip } from '../skip.js';

const PATH = 'test/fixtures/ops/ops.safetensors';
const HINT = 'run `/usr/bin/python3 tools/make_op_fixtures.py`';
// f32: sums of at most 128 x 9 products in another order than float64; f16 storage: one rounding of
// 2^-11 relative on each stored input, weight and output
const ATOL = { f32: 2e-5, f16: 1.5e-2 };
const RTOL = { f32: 2e-5, f16: 4e-3 };

type Spec = Record<string, unknown> & { op: string };

function load(): { st: Safetensors; cases: Record<string, Spec> } {
  if (!existsSync(PATH)) throw new Error(`${PATH} is missing: ${HINT}`);
  const st = parseSafetensors(readFileSync(PATH), PATH);
  return { st, cases: JSON.parse(st.metadata.cases) as Record<string, Spec> };
}

/** The graph of one case: the input, the op, and (for two-input ops) the other operand concatenated
 *  into the input's channels and split off again by a 1x1 identity conv. */
function graphOf(name: string, spec: Spec, st: Safetensors): { g: Graph; input: Float32Array; shape: Shape } {
  const t = (k: string) => st.getF32(`${name}.${k}`);
  const shapeOf = (k: string) => st.tensors.get(`${name}.${k}`)!.shape as number[];
  const convP = (k: string): ConvParams => ({ weight: t(`${k}weight`), shape: shapeOf(`${k}weight`) as ConvParams['shape'], bias: t(`${k}bias`) });
  const b = new GraphBuilder();
  let shape = shapeOf('input') as Shape;
  let input = t('input');
  let x: ValueId;
  /** a second operand travels in the input's extra channels; identity 1x1 convs pick each part */
  const split = (other: string): [ValueId, ValueId] => {
    const o = t(other);
    const [N, C, H, W] = shape;
    const [, C2] = shapeOf(other);
    const both = new Float32Array(o.length + input.length);
    for (let n = 0; n < N; n++) {
      both.set(input.subarray(n * C * H * W, (n + 1) * C * H * W), n * (C + C2) * H * W);
      both.set(o.subarray(n * C2 * H * W, (n + 1) * C2 * H * W), (n * (C + C2) + C) * H * W);
    }
    input = both;
    shape = [N, C + C2, H, W];
    const xin = b.value('input', C + C2);
    const pick = (from: number, count: number, label: string) => {
      const w = new Float32Array(count * (C + C2));
      for (let i = 0; i < count; i++) w[i * (C + C2) + from + i] = 1;
      return b.conv2d(label, xin, { weight: w, shape: [count, C + C2, 1, 1] });
    };
    x = xin;
    return [pick(0, C, 'pick.input'), pick(C, C2, `pick.${other}`)];
  };
  let y: ValueId;
  if (spec.op === 'conv2d') {
    const p = convP('');
    const o = { stride: spec.stride as number, padding: spec.padding as [number, number, number, number], groups: spec.groups as number };
    if (spec.residual) {
      const [a, r] = split('residual');
      y = b.add2('add', b.conv2d('conv', a, p, o), r);
    } else {
      x = b.value('input', shape[1]);
      y = b.conv2d('conv', x, p, o);
    }
    if (spec.activation !== 'none') y = b.activation('act', y, spec.activation as 'relu');
  } else if (spec.op === 'add') {
    const [a, c] = split('other');
    y = b.add2('add', a, c, spec.activation as 'relu');
  } else {
    x = b.value('input', shape[1]);
    if (spec.op === 'maxPool2d') y = b.maxPool2d('pool', x, spec.kernel as number, spec.stride as number, spec.padding as number);
    else if (spec.op === 'resize') {
      y = b.resize('resize', x, spec.size as [number, number], spec.mode as 'nearest');
    } else if (spec.op === 'globalAvgPool') y = b.globalAvgPool('gap', x);
    else if (spec.op === 'softmax') y = b.softmax('softmax', x, spec.log as boolean);
    else if (spec.op === 'activation') y = b.activation('act', x, spec.fn as 'relu');
    else if (spec.op === 'scse') {
      let c = b.globalAvgPool('cSE.0', x);
      c = b.relu('cSE.2', b.conv2d('cSE.1', c, convP('cse1.')));
      c = b.sigmoid('cSE.4', b.conv2d('cSE.3', c, convP('cse3.')));
      const s = b.sigmoid('sSE.1', b.conv2d('sSE.0', x, convP('sse.')));
      y = b.scseGate('scse', x, c, s);
    } else if (spec.op === 'se') {
      let gte = b.globalAvgPool('se.pool', x);
      gte = b.activation('se.silu', b.conv2d('se.reduce', gte, convP('reduce.')), 'silu');
      gte = b.sigmoid('se.sigmoid', b.conv2d('se.expand', gte, convP('expand.')));
      y = b.channelScale('se.scale', x, gte);
      if (spec.project) y = b.conv2d('project', y, convP('project.'));
    } else throw new Error(`${name}: unknown op ${spec.op} in the fixture`);
  }
  return { g: b.finish(x!, y), input, shape };
}

const Ops = suite<{ device: GPUDevice }>('ops vs PyTorch');
Ops.before(async (ctx) => {
  ctx.device = await testDevice();
});
Ops.after((ctx) => ctx.device.destroy());

const { st, cases } = load();
// convs also run with each algorithm the tuner may pick (where it applies; the rest run direct), in f32
const ALGOS: (ConvAlgo | 'default')[] = ['default', 'direct', 'winograd2', 'winograd4', 'tiled'];
for (const [name, spec] of Object.entries(cases)) {
  for (const [precision, algo] of [['f32', 'default'], ['f16', 'default'], ...(spec.op === 'conv2d' ? ALGOS.slice(1).map((a) => ['f32', a]) : [])] as [
    'f32' | 'f16',
    ConvAlgo | 'default',
  ][]) {
    Ops(`${name} ${JSON.stringify(spec)} ${precision}${algo === 'default' ? '' : ` ${algo}`}`, async ({ device }) => {
      if (precision === 'f16' && !device.features.has('shader-f16')) return skip(`${name} f16: the adapter has no shader-f16`);
      const { g, input, shape } = graphOf(name, spec, st);
      // a conv's activation runs in its epilogue (fuseActivation), not as a pass of its own
      if (spec.op === 'conv2d' && spec.activation !== 'none') {
        const left = optimize(g).nodes.filter((n) => n.op.kind === 'activation');
        assert.is(left.length, 0, `${name}: ${spec.activation} not fused into the conv: ${left.map((n) => n.name)}`);
      }
      const want = st.getF32(`${name}.output`);
      const base = tuningFor(device, adapterOf(device));
      const tuning =
        algo === 'default'
          ? base
          : { ...base, conv2d: algo === 'tiled' ? { tilePixels: 8, tileC4: 16, workgroupSize: 64, weights: 'load' as const, algo } : { ...base.conv2d, algo } };
      const got = await runGraph(device, g, input, shape, precision === 'f16', tuning);
      assert.is(got.length, want.length, `${name}: ${got.length} outputs, torch has ${want.length}`);
      let worst = -1;
      let worstExcess = 0;
      let maxAbs = 0;
      // f16 storage holds |v| <= 65504: the elementwise cases' extreme inputs (1e5, 3e38) are f32-only;
      // and it rounds each stored value by up to 2^-11 of it: a case with inputs of 300 (the large
      // logits) gets that much more absolute slack (two roundings of its largest input)
      const inF16 = (i: number) => precision === 'f32' || !(spec.op === 'activation' && Math.abs(input[i]) > 6e4);
      const inputScale = input.reduce((m, v) => (Math.abs(v) <= 6e4 ? Math.max(m, Math.abs(v)) : m), 0);
      const atol = ATOL[precision] + (precision === 'f16' ? 2 ** -10 * inputScale : 0);
      for (let i = 0; i < want.length; i++) {
        if (!inF16(i)) continue;
        const d = Math.abs(got[i] - want[i]);
        maxAbs = Math.max(maxAbs, d);
        const excess = d - (atol + RTOL[precision] * Math.abs(want[i]));
        if (!(excess <= worstExcess)) [worst, worstExcess] = [i, excess];
      }
      assert.ok(worst < 0, `${name} ${precision}: |gpu - torch| at ${worst}: gpu ${got[worst]}, torch ${want[worst]} (atol ${atol}, rtol ${RTOL[precision]})`);
    });
  }
}

Ops.run();
