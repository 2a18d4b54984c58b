// The op registry and the graph's structural rules: every op kind has an entry; an op nobody handles
// is an error, never a skip; node names are unique; weights split across buffers under the binding
// limit; the residual add folds into the conv that computes it; gapped concat storage is only made for
// readers that can read it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GraphBuilder, type Graph, type Op } from '../../src/ir/graph.js';
import { layoutParams } from '../../src/compiler/params.js';
import { optimize } from '../../src/compiler/passes/index.js';
import { OPS, inferShapes, runSteps } from '../../src/ops/index.js';
import type { ConvParams } from '../../src/ir/params.js';

const conv = (cout: number, cin: number, k: number, bias = true): ConvParams => ({
  weight: new Float32Array(cout * cin * k * k).fill(0.1),
  shape: [cout, cin, k, k],
  bias: bias ? new Float32Array(cout) : undefined,
});

const R = suite('op registry');

R('every op kind of the IR has an entry, and nothing else does', () => {
  // the kinds of the Op union, written out: a kind added to the IR without an entry is a type error in
  // src/ops/index.ts; this list keeps the test honest about which kinds exist
  const kinds: Op['kind'][] = [
    'conv2d',
    'convTranspose2x2',
    'batchNorm',
    'activation',
    'maxPool2d',
    'resize',
    'concat',
    'add',
    'globalAvgPool',
    'softmax',
    'conv3d',
    'convTransposeStrided',
    'instanceNorm',
    'avgPool',
    'scseGate',
    'channelScale',
  ];
  assert.equal(Object.keys(OPS).sort(), [...kinds].sort());
});

R('an op kind with no entry is an error naming it, in shape inference and in planning', () => {
  const b = new GraphBuilder();
  const x = b.value('input', 4);
  const y = b.relu('r', x);
  const g = b.finish(x, y);
  const bad: Graph = { ...g, nodes: [{ ...g.nodes[0], op: { kind: 'gelu' } as unknown as Op }] };
  assert.throws(
    () => inferShapes(bad, [1, 4, 8, 8]),
    (e: Error & { code?: string }) => e.code === 'UNSUPPORTED' && /r: unknown op "gelu": no registry entry handles it/.test(e.message),
  );
  assert.throws(() => runSteps(bad), /unknown op "gelu"/);
  // a name that exists on Object.prototype is not an entry either
  const proto: Graph = { ...g, nodes: [{ ...g.nodes[0], op: { kind: 'toString' } as unknown as Op }] };
  assert.throws(() => inferShapes(proto, [1, 4, 8, 8]), /unknown op "toString"/);
});

R('node names are unique; a conv whose weight does not fit its input is refused', () => {
  const b = new GraphBuilder();
  const x = b.value('input', 3);
  b.relu('a', x);
  assert.throws(() => b.relu('a', x), /two nodes named "a"/);
  assert.throws(() => b.conv2d('c', x, conv(8, 4, 3)), /does not fit input's 3 channels/);
  assert.throws(() => b.conv2d('g', x, conv(8, 1, 3), { groups: 2 }), /groups 2/);
});

R('shape rules: conv k7 s2 p3, max_pool2d k3 s2 p1, resize to another value, global pool (50x70 -> 25x35 -> 13x18)', () => {
  const b = new GraphBuilder();
  const x = b.value('input', 3);
  const c = b.conv2d('conv1', x, conv(8, 3, 7, false), { stride: 2, padding: 3 });
  const p = b.maxPool2d('pool', c, 3, 2, 1);
  const up = b.resize('up', p, x, 'nearest');
  const gp = b.globalAvgPool('gap', up);
  const s = inferShapes(b.finish(x, gp), [2, 3, 50, 70]);
  assert.equal(
    [s.get(c), s.get(p), s.get(up), s.get(gp)],
    [
      [2, 8, 25, 35],
      [2, 8, 13, 18],
      [2, 8, 50, 70],
      [2, 8, 1, 1],
    ],
  );
  // an input too small for an op is an error, not a zero-size tensor
  const p0 = b.maxPool2d('pool0', x, 3, 2, 0);
  assert.throws(
    () => inferShapes(b.finish(x, p0), [1, 3, 2, 2]),
    (e: Error & { code?: string }) => e.code === 'INPUT' && /pool0: output would be \[1,3,0,0\]/.test(e.message),
  );
  // inputs that differ in size (an input size the network cannot take) are an InputError too
  const half = b.maxPool2d('half', x, 2, 2, 0);
  const joined = b.concat('joined', [x, half]);
  assert.throws(
    () => inferShapes(b.finish(x, joined), [1, 3, 8, 8]),
    (e: Error & { code?: string }) => e.code === 'INPUT' && /joined: inputs differ in size \(\[1,3,8,8\] vs \[1,3,4,4\]\)/.test(e.message),
  );
});

// ---

const P = suite('weights in several buffers');

P('layoutParams fills buffers in order, none over the limit; a tensor larger than the limit is an error naming the layer', () => {
  const a = (n: number) => new Float32Array(n);
  const packed = [
    { node: 'l1', arrays: [a(30), a(2)] },
    { node: 'l2', arrays: [a(20)] },
    { node: 'l3', arrays: [a(25), a(1)] },
  ];
  // 256-byte limit, 16-byte alignment: [120 + 8] [80 + 100 (+4)] ...
  const { sizes, at } = layoutParams(packed, 16, 256);
  assert.ok(
    sizes.every((s) => s <= 256),
    `sizes ${sizes}`,
  );
  assert.ok(sizes.length >= 2);
  for (const [i, p] of packed.entries()) {
    for (const [j, arr] of p.arrays.entries()) {
      const { buffer, offset } = at[i][j];
      assert.is(offset % 16, 0);
      assert.ok(offset + arr.byteLength <= sizes[buffer]);
    }
  }
  assert.throws(() => layoutParams([{ node: 'huge', arrays: [a(100)] }], 16, 256), /huge: a packed weight tensor of 400 bytes is larger than/);
});

// ---

const F = suite('passes: residual and concat');

/** A ResNet BasicBlock with a downsample: relu(bn2(conv2(relu(bn1(conv1(x))))) + bn(down(x))). */
function basicBlock(): Graph {
  const b = new GraphBuilder();
  const bn = (c: number) => ({
    weight: new Float32Array(c).fill(1),
    bias: new Float32Array(c),
    runningMean: new Float32Array(c),
    runningVar: new Float32Array(c).fill(1),
    eps: 1e-5,
  });
  const x = b.value('input', 4);
  const id = b.batchNorm('down.1', b.conv2d('down.0', x, conv(8, 4, 1, false), { stride: 2 }), bn(8));
  let y = b.relu('relu1', b.batchNorm('bn1', b.conv2d('conv1', x, conv(8, 4, 3, false), { stride: 2, padding: 1 }), bn(8)));
  y = b.batchNorm('bn2', b.conv2d('conv2', y, conv(8, 8, 3, false), { padding: 1 }), bn(8));
  return b.finish(x, b.relu('relu', b.add2('add', y, id)));
}

F('add(conv2, downsample) + relu become one conv with a residual input and a relu epilogue', () => {
  const g = optimize(basicBlock());
  assert.equal(
    g.nodes.map((n) => n.op.kind),
    ['conv2d', 'conv2d', 'conv2d'],
  );
  const last = g.nodes[2];
  assert.ok(
    last.op.kind === 'conv2d' && last.op.residual === true && last.op.activation === 'relu',
    JSON.stringify(last.op.kind === 'conv2d' && [last.op.residual, last.op.activation]),
  );
  assert.is(last.inputs[1], g.nodes[0].output, 'the residual is the downsample branch');
  assert.is(last.output, g.output);
  // liveness: the residual is read by the conv that adds it
  const steps = runSteps(g);
  assert.ok(steps[2].reads.includes(g.nodes[0].output));
});

F('a concat with vec4 gaps stays a copy when a reader cannot read gaps (scse gate); dense concats are elided', () => {
  const build = (c: number) => {
    const b = new GraphBuilder();
    const x = b.value('input', c);
    const a1 = b.conv2d('a', x, conv(c, c, 3), { padding: 1 });
    const a2 = b.conv2d('b', x, conv(c, c, 3), { padding: 1 });
    const cat = b.concat('cat', [a1, a2]);
    const gap = b.globalAvgPool('gap', cat);
    const cse = b.conv2d('cse', gap, conv(2 * c, 2 * c, 1));
    const sse = b.conv2d('sse', cat, conv(1, 2 * c, 1));
    return optimize(b.finish(x, b.scseGate('gate', cat, cse, sse)));
  };
  const concatOf = (g: Graph) => g.nodes.find((n) => n.name === 'cat')!;
  assert.equal(concatOf(build(6)).op, { kind: 'concat' }, '6 + 6 channels: gapped storage, copied');
  assert.equal(concatOf(build(8)).op, { kind: 'concat', elided: true }, '8 + 8 channels: dense, elided');
});

F('squeeze-excite: the channel scale folds into the 1x1 project conv that reads it (the scaled tensor is never stored)', () => {
  const b = new GraphBuilder();
  const x = b.value('input', 8);
  const dw = b.activation('dw.silu', b.conv2d('dw', x, { weight: new Float32Array(8 * 9), shape: [8, 1, 3, 3] }, { padding: 1, groups: 8 }), 'silu');
  const gate = b.sigmoid(
    'se.sig',
    b.conv2d('se.expand', b.activation('se.silu', b.conv2d('se.reduce', b.globalAvgPool('se.pool', dw), conv(2, 8, 1)), 'silu'), conv(8, 2, 1)),
  );
  const project = b.conv2d('project', b.channelScale('se.scale', dw, gate), conv(4, 8, 1));
  const g = optimize(b.finish(x, project));
  assert.not.ok(g.nodes.some((n) => n.op.kind === 'channelScale'));
  const p = g.nodes.find((n) => n.name.startsWith('project'))!;
  assert.ok(p.op.kind === 'conv2d' && p.op.inputScale === true);
  assert.equal(p.inputs, [g.nodes.find((n) => n.name.startsWith('dw'))!.output, g.nodes.find((n) => n.name.startsWith('se.expand'))!.output]);
});

R.run();
P.run();
F.run();
