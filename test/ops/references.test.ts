// The CPU references of the ops smp models added (src/kernels/reference) against PyTorch's fixtures, and
// the GPU kernels against those references on seeded random inputs at odd shapes, channel counts that
// are not multiples of 4, and batch 2.
import { suite } from 'uvu';
import { readFileSync } from 'node:fs';
import { GraphBuilder } from '../../src/ir/graph.js';
import { add } from '../../src/kernels/reference/add.js';
import { channelSoftmax } from '../../src/kernels/reference/channelSoftmax.js';
import { conv2d } from '../../src/kernels/reference/conv2d.js';
import { globalAvgPool } from '../../src/kernels/reference/globalAvgPool.js';
import { maxPool2d } from '../../src/kernels/reference/maxPool2d.js';
import { resize } from '../../src/kernels/reference/resize.js';
import { scseGate } from '../../src/kernels/reference/scseGate.js';
import { unary } from '../../src/kernels/reference/unary.js';
import type { Tensor } from '../../src/kernels/reference/tensor.js';
import { parseSafetensors } from '../../src/weights/safetensors.js';
import { assertClose, randArray, randTensor, rng, testDevice } from '../helpers.js';
import { runGraph } from './runGraph.js';

const ATOL = 2e-5;
const RTOL = 2e-5;

// ---

const Ref = suite('CPU references vs PyTorch');
const st = parseSafetensors(readFileSync('test/fixtures/ops/ops.safetensors'), 'ops.safetensors');
const cases = JSON.parse(st.metadata.cases) as Record<string, Record<string, unknown>>;
const tensor = (k: string): Tensor => ({ data: st.getF32(k), shape: st.tensors.get(k)!.shape as Tensor['shape'] });

/** x zero-padded by [top, bottom, left, right] (F.pad's order is left, right, top, bottom). */
function zeroPad(x: Tensor, [top, bottom, left, right]: number[]): Tensor {
  const [N, C, H, W] = x.shape;
  const [HP, WP] = [H + top + bottom, W + left + right];
  const y: Tensor = { data: new Float32Array(N * C * HP * WP), shape: [N, C, HP, WP] };
  for (let nc = 0; nc < N * C; nc++)
    for (let h = 0; h < H; h++) y.data.set(x.data.subarray((nc * H + h) * W, (nc * H + h + 1) * W), (nc * HP + h + top) * WP + left);
  return y;
}

/** x * gate, gate [N, C, 1, 1] broadcast over H x W. */
function scaleChannels(x: Tensor, gate: Tensor): Tensor {
  const [N, C, H, W] = x.shape;
  return { data: x.data.map((v, i) => v * gate.data[(Math.floor(i / (H * W)) % C) + Math.floor(i / (C * H * W)) * C]), shape: [N, C, H, W] };
}

/** The CPU reference computation of one fixture case, composed of src/kernels/reference ops. */
function reference(name: string, spec: Record<string, unknown>): Tensor {
  const x = tensor(`${name}.input`);
  const param = (p: string) => {
    const w = tensor(`${name}.${p}.weight`);
    return { weight: w.data, shape: w.shape, bias: st.getF32(`${name}.${p}.bias`) };
  };
  switch (spec.op) {
    case 'maxPool2d':
      return maxPool2d(x, spec.kernel as number, spec.stride as number, spec.padding as number);
    case 'resize':
      return resize(x, ...(spec.size as [number, number]), spec.mode as 'nearest');
    case 'globalAvgPool':
      return globalAvgPool(x);
    case 'softmax':
      return channelSoftmax(x, spec.log as boolean);
    case 'add':
      return add(x, tensor(`${name}.other`), spec.activation as 'relu');
    case 'activation':
      return unary(spec.fn as 'relu', x);
    case 'conv2d': {
      const w = tensor(`${name}.weight`);
      const p = { weight: w.data, shape: w.shape, bias: st.getF32(`${name}.bias`) };
      const residual = spec.residual ? tensor(`${name}.residual`) : undefined;
      const padding = spec.padding as number[];
      const symmetric = padding.every((v) => v === padding[0]);
      const input = symmetric ? x : zeroPad(x, padding);
      return conv2d(input, p, {
        stride: spec.stride as number,
        padding: symmetric ? padding[0] : 0,
        groups: spec.groups as number,
        activation: spec.activation as 'relu',
        residual,
      });
    }
    case 'scse': {
      const cse = conv2d(conv2d(globalAvgPool(x), param('cse1'), { activation: 'relu' }), param('cse3'), { activation: 'sigmoid' });
      return scseGate(x, cse, conv2d(x, param('sse'), { activation: 'sigmoid' }));
    }
    case 'se': {
      const gate = conv2d(conv2d(globalAvgPool(x), param('reduce'), { activation: 'silu' }), param('expand'), { activation: 'sigmoid' });
      const y = scaleChannels(x, gate);
      return spec.project ? conv2d(y, param('project')) : y;
    }
    default:
      throw new Error(`${name}: no CPU reference for op ${JSON.stringify(spec.op)}: add it to reference() in test/ops/references.test.ts`);
  }
}

// every case, so a fixture op without a reference fails here instead of going unchecked
for (const [name, spec] of Object.entries(cases)) {
  Ref(`${name}: reference = torch`, () => void assertClose(reference(name, spec).data, st.getF32(`${name}.output`), ATOL, RTOL, name));
}

// ---

const Gpu = suite<{ device: GPUDevice }>('GPU vs CPU references, random inputs');
Gpu.before(async (ctx) => {
  ctx.device = await testDevice();
});
Gpu.after((ctx) => ctx.device.destroy());

const one = (build: (b: GraphBuilder, x: number) => number, C: number) => {
  const b = new GraphBuilder();
  const x = b.value('input', C);
  return b.finish(x, build(b, x));
};

for (const [k, s, p, shape] of [
  [3, 2, 1, [2, 7, 11, 9]],
  [3, 1, 1, [1, 5, 6, 7]],
  [2, 2, 0, [1, 6, 9, 5]],
  [5, 3, 2, [1, 3, 13, 10]],
] as const) {
  Gpu(`maxPool2d k${k} s${s} p${p} [${shape}]`, async ({ device }) => {
    const x = randTensor(rng(11 + k * 10 + s), [...shape] as Tensor['shape']);
    const got = await runGraph(
      device,
      one((b, v) => b.maxPool2d('pool', v, k, s, p), shape[1]),
      x.data,
      x.shape,
    );
    assertClose(got, maxPool2d(x, k, s, p).data, ATOL, RTOL, 'maxPool2d');
  });
}

for (const mode of ['nearest', 'bilinear'] as const) {
  for (const [shape, size] of [
    [
      [2, 6, 7, 5],
      [13, 11],
    ],
    [
      [1, 3, 4, 9],
      [7, 17],
    ],
    [
      [1, 5, 12, 10],
      [5, 7],
    ],
  ] as const) {
    Gpu(`resize ${mode} [${shape}] -> ${size.join('x')}`, async ({ device }) => {
      const x = randTensor(rng(21 + size[0]), [...shape] as Tensor['shape']);
      const got = await runGraph(
        device,
        one((b, v) => b.resize('up', v, [size[0], size[1]], mode), shape[1]),
        x.data,
        x.shape,
      );
      assertClose(got, resize(x, size[0], size[1], mode).data, ATOL, RTOL, `resize ${mode}`);
    });
  }
}

Gpu('globalAvgPool [2,7,33,17], softmax and log_softmax over 7 channels', async ({ device }) => {
  const x = randTensor(rng(31), [2, 7, 33, 17], -5, 5);
  assertClose(
    await runGraph(
      device,
      one((b, v) => b.globalAvgPool('gap', v), 7),
      x.data,
      x.shape,
    ),
    globalAvgPool(x).data,
    ATOL,
    RTOL,
    'globalAvgPool',
  );
  for (const log of [false, true]) {
    assertClose(
      await runGraph(
        device,
        one((b, v) => b.softmax('sm', v, log), 7),
        x.data,
        x.shape,
      ),
      channelSoftmax(x, log).data,
      ATOL,
      RTOL,
      `softmax log=${log}`,
    );
  }
});

Gpu('grouped conv C=32 groups 8 (4 per group) k3 s2 p1 + residual-free relu, and groups 2 with 8 per group', async ({ device }) => {
  for (const [C, groups, stride] of [
    [32, 8, 2],
    [16, 2, 1],
  ] as const) {
    const rand = rng(41 + groups);
    const x = randTensor(rand, [2, C, 9, 7]);
    const p = {
      weight: randArray(rand, C * (C / groups) * 9, -0.3, 0.3),
      shape: [C, C / groups, 3, 3] as [number, number, number, number],
      bias: randArray(rand, C),
    };
    const got = await runGraph(
      device,
      one((b, v) => b.relu('relu', b.conv2d('conv', v, p, { stride, padding: 1, groups })), C),
      x.data,
      x.shape,
    );
    assertClose(got, conv2d(x, p, { stride, padding: 1, groups, activation: 'relu' }).data, ATOL, RTOL, `groups ${groups}`);
  }
});

Gpu('scse gate and add+relu on 6 channels (a padded vec4)', async ({ device }) => {
  const rand = rng(51);
  const x = randTensor(rand, [1, 6, 5, 7]);
  // cse and sse from x by 1x1 convs, as in smp; the references take the same intermediate values
  const pc = { weight: randArray(rand, 36, -0.5, 0.5), shape: [6, 6, 1, 1] as [number, number, number, number], bias: randArray(rand, 6) };
  const ps = { weight: randArray(rand, 6, -0.5, 0.5), shape: [1, 6, 1, 1] as [number, number, number, number], bias: randArray(rand, 1) };
  const g = one((b, v) => b.scseGate('scse', v, b.sigmoid('cs', b.conv2d('c', b.globalAvgPool('gap', v), pc)), b.sigmoid('ss', b.conv2d('s', v, ps))), 6);
  const cse = conv2d(globalAvgPool(x), pc, { activation: 'sigmoid' });
  const sse = conv2d(x, ps, { activation: 'sigmoid' });
  assertClose(await runGraph(device, g, x.data, x.shape), scseGate(x, cse, sse).data, ATOL, RTOL, 'scse');
  // add of two conv outputs (the first folds into the second conv as its residual)
  const pa = { weight: randArray(rand, 36 * 9, -0.3, 0.3), shape: [6, 6, 3, 3] as [number, number, number, number], bias: randArray(rand, 6) };
  const ga = one((b, v) => b.add2('add', b.conv2d('a', v, pa, { padding: 1 }), v, 'relu'), 6);
  assertClose(await runGraph(device, ga, x.data, x.shape), add(conv2d(x, pa, { padding: 1 }), x, 'relu').data, ATOL, RTOL, 'add');
});

Ref.run();
Gpu.run();
