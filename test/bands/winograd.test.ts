// Winograd F(2x2,3x3) and F(4x4,3x3) convs run in bands of output rows (issue 21) give the bits of one pass.
// Plans: each graph compiles once as one pass and once under a binding limit that makes its convs run in
// bands (test/bands/run.ts), with the Winograd variant forced through the tuning (weights by load, and by
// subgroup broadcast where the adapter has a fixed subgroup size); batch 2, odd heights, uneven padding, a
// fused residual and activation, an output that is a concat's channel slice, a concatenated input, limits
// that give bands of different sizes (some limited by the scratch V and M), and f16 (where the same convs
// run direct: convVariant.ts). Kernel: each band is bound as the plan binds it, the input over the rows the
// band reads (its halo included), the output and the residual over the band's rows, every binding from the
// 256-byte aligned offset below its first row, so the views' offsets come out negative; a store outside
// the band or a wrong tile changes bits, and a band that stores nothing leaves zeros. Bands start on tile
// rows (conv2d's bandStart: row % HO a multiple of 4), have odd row counts and cross images; scratch-sized
// passes of tile rows run inside them too, and also in f16 storage, which the kernel has.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type BufferRange, type Nhwc4View, type Step, c4, encodeSteps } from '../../src/kernels/common.js';
import type { Activation } from '../../src/ir/types.js';
import { type WinogradTile, packWinogradWeights, setWinogradScratchBytes, winogradLayout, winogradSteps } from '../../src/kernels/winograd.js';
import { createBuffer, readBack } from '../../src/gpu/buffers.js';
import { f32ToF16Bits } from '../../src/weights/safetensors.js';
import { weightsFor } from '../../src/ops/registry.js';
import { randArray, rng, testDevice } from '../helpers.js';
import { skip } from '../skip.js';
import type { GraphBuilder, Shape, ValueId } from '../../src/ir/graph.js';
import type { ConvParams } from '../../src/ir/params.js';
import { optimize } from '../../src/compiler/passes/index.js';
import { memoryPlanOf } from '../../src/compiler/plan.js';
import { type ConvAlgo, type ConvTile, type Tuning, fixedSubgroupSize, tuningFor } from '../../src/compiler/tuning.js';
import { adapterOf } from '../../src/gpu/device.js';
import { convVariantOf } from '../../src/ops/convVariant.js';
import { assertSameBits, convParams, graphOf, largestValueBytes, numel } from './bandedCase.js';
import { bandedVsWhole } from './run.js';

/** minStorageBufferOffsetAlignment's default (WebGPU spec, "Limits"): where a window's binding may start */
const ALIGN = 256;
const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

interface Case {
  N: number;
  cin4: number;
  cout: number;
  H: number;
  W: number;
  padding: [number, number, number, number];
  activation: Activation;
  residual: boolean;
  /** the output as a channel slice (a concat's part): vec4s before and after it in each pixel */
  slice: [number, number];
  /** the input pixel's vec4 stride and offset (a slice of a wider value, e.g. a skip connection's concat) */
  input: Nhwc4View;
  /** band sizes, in allowed band starts (see bandsOf) */
  steps: number[];
  /** also in f16 storage (the kernel has it, though f16 models run convs direct: convVariant.ts) */
  f16: boolean;
}

const cases: Case[] = [
  // H = 30: images end inside a tile row of F(4x4); bands of 3, 9, 7, ... rows
  {
    N: 2,
    cin4: 3,
    cout: 12,
    H: 30,
    W: 13,
    padding: [1, 1, 1, 1],
    activation: 'relu',
    residual: true,
    slice: [1, 2],
    input: { c4Stride: 3, c4Offset: 0 },
    steps: [1, 2, 3, 1],
    f16: false,
  },
  // H = 37, uneven padding, a leaky ReLU, cout not a multiple of 4, the input a slice of a wider value
  {
    N: 2,
    cin4: 2,
    cout: 7,
    H: 37,
    W: 9,
    padding: [0, 2, 1, 0],
    activation: 'leakyRelu:0.1',
    residual: false,
    slice: [0, 1],
    input: { c4Stride: 4, c4Offset: 1 },
    steps: [2, 1, 4],
    f16: true,
  },
  // no padding: HO = 35, one image, the residual and a sigmoid
  {
    N: 1,
    cin4: 4,
    cout: 16,
    H: 37,
    W: 11,
    padding: [0, 0, 0, 0],
    activation: 'sigmoid',
    residual: true,
    slice: [2, 0],
    input: { c4Stride: 4, c4Offset: 0 },
    steps: [3, 1, 2],
    f16: false,
  },
];

/** Bands of the N * HO output rows: each starts where conv2d's bandStart allows ((row % HO) % 4 == 0),
 *  taking `steps` allowed starts at a time, cyclically. */
function bandsOf(N: number, HO: number, steps: number[]): { row0: number; rows: number }[] {
  const starts: number[] = [];
  for (let r = 0; r < N * HO; r++) if ((r % HO) % 4 === 0) starts.push(r);
  const bands: { row0: number; rows: number }[] = [];
  for (let i = 0, k = 0; i < starts.length; i += steps[k++ % steps.length]) {
    const next = starts[i + steps[k % steps.length]] ?? N * HO;
    bands.push({ row0: starts[i], rows: next - starts[i] });
  }
  return bands;
}

/** The binding of flat rows [lo, hi) of a value stored as `view` (rows of W pixels), as the plan makes it:
 *  from the aligned byte at or below the first row's first vec4 to the end of the last row, with the
 *  window's start folded into the view's offset. */
function windowOf(buffer: GPUBuffer, view: Nhwc4View, W: number, vec4Bytes: number, lo: number, hi: number): { range: BufferRange; view: Nhwc4View } {
  const start = Math.floor(((lo * W * view.c4Stride + view.c4Offset) * vec4Bytes) / ALIGN) * ALIGN;
  const end = hi * W * view.c4Stride * vec4Bytes;
  return { range: { buffer, offset: start, size: end - start }, view: { c4Stride: view.c4Stride, c4Offset: view.c4Offset - start / vec4Bytes } };
}

/** Random activations in every lane of `vec4s` vec4s, as f32 or as f16 bits. */
function activations(device: GPUDevice, rand: () => number, vec4s: number, f16: boolean): GPUBuffer {
  const values = randArray(rand, vec4s * 4);
  const data = f16 ? Uint16Array.from(values, f32ToF16Bits) : values;
  return createBuffer(device, 'test activations', Math.ceil(data.byteLength / 4) * 4, STORAGE(), data);
}

async function run(device: GPUDevice, steps: Step[], output: GPUBuffer): Promise<Uint8Array> {
  const read = createBuffer(device, 'test readback', output.size, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  device.pushErrorScope('validation');
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  encodeSteps(pass, steps);
  pass.end();
  enc.copyBufferToBuffer(output, 0, read, 0, output.size);
  device.queue.submit([enc.finish()]);
  const err = await device.popErrorScope();
  if (err) throw new Error(`validation: ${err.message}`);
  const bytes = new Uint8Array(await readBack(read, output.size));
  read.destroy();
  return bytes;
}

/** Index of the first differing 32-bit word, or -1. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const [x, y] = [new Uint32Array(a.buffer, a.byteOffset, a.length / 4), new Uint32Array(b.buffer, b.byteOffset, b.length / 4)];
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

/** A case's layer on the GPU: random input (every lane), weights, residual, and the specs of its views. */
function layer(device: GPUDevice, c: Case, m: WinogradTile, f16: boolean, seed: number) {
  const vec4Bytes = f16 ? 8 : 16;
  const rand = rng(seed);
  const { N, H, W, cin4, cout } = c;
  const cin = cin4 * 4 - 1;
  const HO = H + c.padding[0] + c.padding[1] - 2;
  const WO = W + c.padding[2] + c.padding[3] - 2;
  const outView: Nhwc4View = { c4Stride: c.slice[0] + c4(cout) + c.slice[1], c4Offset: c.slice[0] };
  const resView: Nhwc4View = { c4Stride: c4(cout), c4Offset: 0 };
  const input = activations(device, rand, N * H * W * c.input.c4Stride, f16);
  const residual = c.residual ? activations(device, rand, N * HO * WO * resView.c4Stride, f16) : undefined;
  const p = packWinogradWeights({ weight: randArray(rand, cout * cin * 9, -0.3, 0.3), shape: [cout, cin, 3, 3], bias: randArray(rand, cout) }, m, cin4);
  const weight = weightsFor(p.weight, f16);
  const params = {
    weight: { buffer: createBuffer(device, 'test weights', weight.byteLength, STORAGE(), weight) },
    gemmBias: { buffer: createBuffer(device, 'test gemm bias', p.gemmBias.byteLength, STORAGE(), p.gemmBias) },
    bias: { buffer: createBuffer(device, 'test bias', p.bias.byteLength, STORAGE(), p.bias) },
  };
  const spec = { m, N, H, W, cin, cin4, cout, padding: c.padding, activation: c.activation, workgroupSize: 64, f16 };
  const tile = { tilePixels: 2, tileC4: 1, workgroupSize: 64, weights: 'load' as const };
  const scratch = (bytes: number) => ({ buffer: createBuffer(device, 'test scratch', bytes, STORAGE()) });
  const output = () => createBuffer(device, 'test output', N * HO * WO * outView.c4Stride * vec4Bytes, STORAGE());
  /** The steps of one pass into `out`. */
  const whole = (out: GPUBuffer): Step[] => {
    const L = winogradLayout(spec, vec4Bytes);
    return winogradSteps(
      device,
      { ...spec, tile, input: c.input, output: outView, residual: residual && resView },
      { input: { buffer: input }, ...params, output: { buffer: out }, residual: residual && { buffer: residual }, v: scratch(L.vBytes), m: scratch(L.mBytes) },
    );
  };
  /** The steps of `band` into `out`, every value bound over the rows the band touches (or whole, where
   *  `wholeBindings`, so that a store outside the band lands in the buffer). */
  const banded = (out: GPUBuffer, band: { row0: number; rows: number }, wholeBindings = false): Step[] => {
    const B = winogradLayout({ ...spec, ...band }, vec4Bytes);
    // the input rows the band reads: output row y reads y - top .. y - top + 2, clamped to the image
    const first = band.row0;
    const last = band.row0 + band.rows - 1;
    const inLo = wholeBindings ? 0 : Math.floor(first / HO) * H + Math.max(0, (first % HO) - c.padding[0]);
    const inHi = wholeBindings ? N * H : Math.floor(last / HO) * H + Math.min(H - 1, (last % HO) - c.padding[0] + 2) + 1;
    const inW = windowOf(input, c.input, W, vec4Bytes, inLo, inHi);
    const [outLo, outHi] = wholeBindings ? [0, N * HO] : [first, last + 1];
    const outW = windowOf(out, outView, WO, vec4Bytes, outLo, outHi);
    const resW = residual && windowOf(residual, resView, WO, vec4Bytes, outLo, outHi);
    return winogradSteps(
      device,
      { ...spec, ...band, tile, input: inW.view, output: outW.view, residual: resW?.view },
      { input: inW.range, ...params, output: outW.range, residual: resW?.range, v: scratch(B.vBytes), m: scratch(B.mBytes) },
    );
  };
  const L = winogradLayout(spec, vec4Bytes);
  return { HO, WO, vec4Bytes, outView, L, output, whole, banded };
}

const K = suite<{ device: GPUDevice }>('winograd in bands: kernel');
K.before(async (ctx) => {
  ctx.device = await testDevice();
});
K.after((ctx) => ctx.device.destroy());

for (const [i, c] of cases.entries())
  for (const m of [2, 4] as WinogradTile[])
    for (const f16 of c.f16 ? [false, true] : [false])
      K(
        `case ${i}: F(${m}x${m},3x3) [${c.N},${c.cin4 * 4},${c.H},${c.W}] -> ${c.cout} padding [${c.padding}] ${c.activation}${c.residual ? ' +residual' : ''}${f16 ? ' f16' : ''}`,
        async ({ device }) => {
          if (f16 && !device.features.has('shader-f16')) return skip('f16 winograd bands: the adapter has no shader-f16');
          const l = layer(device, c, m, f16, 100 * i + 10 * m + (f16 ? 1 : 0));
          const wholeOut = l.output();
          const want = await run(device, l.whole(wholeOut), wholeOut);
          assert.ok(
            new Uint32Array(want.buffer).some((w) => w !== 0),
            'the whole pass wrote nothing',
          );
          // bands, with passes of at most 2 tile rows inside them, on scratch sized per band
          const bands = bandsOf(c.N, l.HO, c.steps);
          assert.ok(bands.length >= 4 && (l.HO % 2 === 0 || bands.some((b) => b.rows % 2 === 1)), `bands ${JSON.stringify(bands)}`);
          const old = setWinogradScratchBytes((2 * Math.max(l.L.vBytes, l.L.mBytes)) / l.L.bandRows);
          try {
            const bandedOut = l.output();
            const steps = bands.flatMap((band) => l.banded(bandedOut, band));
            assert.ok(steps.length > 3 * bands.length, `${steps.length} steps: some band runs several passes`);
            const at = firstDifference(await run(device, steps, bandedOut), want);
            assert.is(at, -1, `first differing word ${at} of ${want.length / 4}`);
          } finally {
            setWinogradScratchBytes(old);
          }
        },
      );

K('a band whose last tile passes its end stores only its own rows', async ({ device }) => {
  // F(4x4) rows 4..6 and F(2x2) rows 2..4 of image 1 (output row 37 is image 1's first): the last tile of
  // each is cut. Every value is bound whole here: the tile's input rows past the band's halo are read (the
  // plan never cuts a tile so: bands start on tile rows), and a store past the band would land in the
  // buffer. The band's rows get one pass's bits; all else stays zero.
  const c = cases[1];
  for (const [m, row0] of [
    [4, 41],
    [2, 39],
  ] as const) {
    const l = layer(device, c, m, false, 7);
    const wholeOut = l.output();
    const want = new Uint32Array((await run(device, l.whole(wholeOut), wholeOut)).buffer);
    const out = l.output();
    const got = new Uint32Array((await run(device, l.banded(out, { row0, rows: 3 }, true), out)).buffer);
    const words = l.WO * l.outView.c4Stride * 4;
    for (let w = 0; w < got.length; w++) {
      const inBand = w >= row0 * words && w < (row0 + 3) * words;
      const lane = Math.floor(w / 4) % l.outView.c4Stride;
      const written = inBand && lane >= l.outView.c4Offset && lane < l.outView.c4Offset + c4(c.cout);
      if (got[w] !== (written ? want[w] : 0))
        assert.unreachable(`F(${m}): word ${w} (row ${Math.floor(w / words)}) is ${got[w]}, expected ${written ? want[w] : 0}`);
    }
  }
});

K('a band that starts inside a tile is refused', () => {
  const spec = { m: 4 as const, N: 2, H: 30, W: 8, cin4: 2, cout: 8, padding: [1, 1, 1, 1] as const };
  assert.throws(() => winogradLayout({ ...spec, row0: 32, rows: 4 }, 16), /starts inside a tile/);
  assert.throws(() => winogradLayout({ ...spec, row0: 40, rows: 30 }, 16), /outside the output/);
  const L = winogradLayout({ ...spec, row0: 34, rows: 7 }, 16);
  assert.equal([L.tileRow0, L.tileRows], [8 + 1, 2]);
});

K.run();

// --- plans

/** A k x k conv2d of `cout` channels on x (seeded by the node's name). */
const conv = (b: GraphBuilder, name: string, x: ValueId, cout: number, k: number, padding: number | [number, number, number, number] = 0) =>
  b.conv2d(name, x, convParams(name.length * 7919 + cout * 31 + k, [cout, b.channels(x), k, k], cout) as ConvParams, { padding });

interface PlanCase {
  name: string;
  shape: Shape;
  build(b: GraphBuilder, x: ValueId): ValueId;
  /** binding limits, as fractions of the largest value's bytes */
  fractions: number[];
}

const PLAN_CASES: PlanCase[] = [
  { name: '3x3 pad 1 + relu', shape: [2, 12, 30, 13], build: (b, x) => b.relu('relu', conv(b, 'conv', x, 16, 3, 1)), fractions: [1 / 5, 1 / 3, 2 / 7] },
  {
    name: 'uneven padding, no padding, leaky ReLU',
    shape: [2, 8, 37, 9],
    build: (b, x) => conv(b, 'valid', b.activation('leaky', conv(b, 'uneven', x, 12, 3, [0, 2, 1, 0]), 'leakyRelu:0.1'), 7, 3),
    fractions: [1 / 4, 1 / 6],
  },
  {
    // the second conv's residual (the first's output) and ReLU fuse into it
    name: 'residual + relu epilogue',
    shape: [2, 16, 37, 11],
    build: (b, x) => {
      const c = conv(b, 'c', x, 16, 3, 1);
      return b.add2('res', conv(b, 'r', c, 16, 3, 1), c, 'relu');
    },
    fractions: [1 / 5, 1 / 7],
  },
  {
    // both 3x3 convs write channel slices of the concat (the first 6 channels leave a vec4 gap), which
    // the last conv reads
    name: 'outputs into a concat, a concatenated input',
    shape: [2, 12, 34, 10],
    build: (b, x) => conv(b, 'after', b.concat('cat', [conv(b, 'left', x, 6, 3, 1), conv(b, 'right', x, 12, 3, 1)]), 8, 3, 1),
    fractions: [1 / 5, 2 / 9],
  },
];

const P = suite<{ device: GPUDevice; tunings: [string, Tuning][] }>('winograd in bands: plans');
P.before(async (ctx) => {
  ctx.device = await testDevice();
  const base = tuningFor(ctx.device, adapterOf(ctx.device));
  const win = (algo: ConvAlgo, c: Partial<ConvTile>): Tuning => ({
    ...base,
    layers: {},
    conv2d: { tilePixels: 2, tileC4: 2, workgroupSize: 64, weights: 'load', ...c, algo },
  });
  const size = fixedSubgroupSize(ctx.device, adapterOf(ctx.device));
  ctx.tunings = [];
  for (const algo of ['winograd2', 'winograd4'] as const) {
    ctx.tunings.push([`${algo} load`, win(algo, { tilePixels: 4 })]);
    if (size) ctx.tunings.push([`${algo} subgroup/${size}`, win(algo, { tileC4: 4, weights: 'subgroup', subgroupSize: size })]);
  }
});
P.after((ctx) => ctx.device.destroy());

for (const c of PLAN_CASES)
  for (const f16 of [false, true])
    P(`${c.name} [${c.shape}]${f16 ? ' f16 (run direct)' : ''}`, async ({ device, tunings }) => {
      if (f16 && !device.features.has('shader-f16')) return skip('f16 plans: the adapter has no shader-f16');
      const g = graphOf(c);
      const opt = optimize(g);
      const input = randArray(rng(c.shape[2]), numel(c.shape), -2, 2);
      const alignment = device.limits.minStorageBufferOffsetAlignment;
      for (const [tname, tuning] of tunings) {
        const convs = opt.nodes.filter((n) => n.op.kind === 'conv2d');
        // f32 runs every conv here as Winograd; f16 runs them direct (with Winograd's band starts)
        for (const n of convs) assert.is(convVariantOf(opt, n, tuning, f16).kind.startsWith('winograd'), !f16, `${n.name} under ${tname}`);
        const { shapes } = memoryPlanOf(opt, c.shape, alignment, f16, tuning);
        const largest = largestValueBytes(shapes.values(), f16);
        for (const fraction of c.fractions) {
          const bindingLimit = Math.floor(largest * fraction);
          const what = `${tname} limit ${bindingLimit}`;
          // passes of tile rows whose V and M fit the limit: the op is not told the plan's limit, and its own
          // cap (WINOGRAD_SCRATCH_BYTES, 16 MiB) is far above these, where even the smallest band Winograd
          // allows (4 rows: 2 tile rows of F(2x2)) would not fit
          const old = setWinogradScratchBytes(bindingLimit);
          try {
            const { bands } = memoryPlanOf(opt, c.shape, alignment, f16, tuning, bindingLimit);
            for (const n of convs) {
              const nb = bands.get(n.name) ?? [];
              const HO = shapes.get(n.output)![2];
              assert.ok(nb.length > 1, `${what}: ${n.name} runs in bands`);
              assert.ok(
                nb.every((band) => (band.row0 % HO) % 4 === 0),
                `${what}: ${n.name}'s bands start on tile rows: ${JSON.stringify(nb)}`,
              );
            }
            const r = await bandedVsWhole(device, g, input, c.shape, { bindingLimit, f16, tuning });
            assert.ok(r.bands >= convs.length, `${what}: ${r.bands} nodes ran in bands`);
            assertSameBits(what, r);
          } finally {
            setWinogradScratchBytes(old);
          }
        }
      }
    });

P.run();
