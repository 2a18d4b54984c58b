// `unet bench` and bench/peers.ts without timing anything: statistics, the interleaving order, the output
// check, and the tables made from hand-written results; then one quick run of `unet bench` on an nnU-Net 3D
// results folder.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { benchInput, compare, interleaved, summarize } from '../../src/cli/benchTime.js';
import { type BenchReport, formatBench } from '../../src/cli/benchTable.js';
import { unet } from '../cliRun.js';
import { DEFAULT_TUNING } from '../../src/compiler/tuning.js';
import { formatPeers } from '../../bench/peers.js';

const Stats = suite('bench statistics');

Stats('summarize: nearest-rank median, p10, p90 of 1..10 (ranks ceil(0.5*10)=5, ceil(0.1*10)=1, ceil(0.9*10)=9)', () => {
  assert.equal(summarize([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]), { median: 5, p10: 1, p90: 9, n: 10 });
});

Stats('summarize: one sample is every percentile', () => {
  assert.equal(summarize([42]), { median: 42, p10: 42, p90: 42, n: 1 });
});

Stats('interleaved: every contender once per round, order rotating, warm-up rounds not kept', async () => {
  const order: string[] = [];
  const contender = (name: string, ms: number) => ({ name, once: async () => (order.push(name), ms) });
  const times = await interleaved([contender('a', 1), contender('b', 2), contender('c', 3)], 1, 2);
  assert.equal(order, ['a', 'b', 'c', 'b', 'c', 'a', 'c', 'a', 'b']);
  assert.equal(
    [...times],
    [
      ['a', [1, 1]],
      ['b', [2, 2]],
      ['c', [3, 3]],
    ],
  );
});

Stats('compare: max |Δ|, relative to max(1, max |want|), and the labels: sigmoid masks at 0.5, logits by argmax', () => {
  // one output: 0.4 vs 0.6 straddles 0.5
  assert.equal(compare([0.4, 0.9], [0.6, 0.9]), { maxAbs: 0.19999999999999996, maxRel: 0.19999999999999996, maskAgreement: 0.5 });
  // [N=2, C=2, 2 positions]: image 0 argmax (c1, c0) vs (c1, c1); image 1 agrees; |Δ| 3 on a scale of 20
  const got = [0, 5, 1, 2, /* image 1 */ 20, 0, 0, 1];
  const want = [0, 2, 1, 3, /* image 1 */ 20, 0, 0, 1];
  const c = compare(got, want, 2, 2);
  assert.equal(c, { maxAbs: 3, maxRel: 3 / 20, maskAgreement: 3 / 4 });
});

Stats('benchInput: a volume [D, H, W] is N x C x D x H x W; an image is unchanged by the volume form', () => {
  assert.is(benchInput(2, 3, [4, 5, 6], 1).length, 2 * 3 * 4 * 5 * 6);
  assert.equal(benchInput(1, 2, [8, 8], 5), benchInput(1, 2, 8, 5));
  const v = benchInput(1, 1, [3, 8, 8], 5);
  // the depth wave makes the slices differ
  assert.not.equal(v.subarray(0, 64), v.subarray(64, 128));
});

Stats.run();

// ---

const Tables = suite('bench tables');

const stats = (median: number, p10: number, p90: number) => ({ median, p10, p90, n: 10 });

function report(o: Partial<BenchReport> = {}): BenchReport {
  return {
    engine: 'webgpu-unet 0.1.0',
    adapter: { description: 'llvmpipe: Mesa 25.0.7', vendor: 'mesa', architecture: 'software', device: 'llvmpipe', timestampQuery: true },
    dawn: { package: 'webgpu', version: '0.6.2' },
    model: {
      architecture: 'brain-unet',
      features: 32,
      inChannels: 3,
      classes: 1,
      activation: 'sigmoid',
      depth: 4,
      precision: 'f32',
      parameters: 7.76e6,
      weightBytes: 31e6,
      loadMs: 10,
    } as unknown as BenchReport['model'],
    tuning: DEFAULT_TUNING,
    runs: 10,
    warmup: 10,
    configs: [
      {
        size: 256,
        batch: 1,
        firstMs: 2205,
        gpu: stats(1200, 1150, 1300),
        throughput: stats(1210, 1190, 1250),
        e2e: stats(1384, 1300, 1703),
        gflop: 24.3,
        arenaBytes: 31 * 2 ** 20,
        unsharedBytes: 81.8 * 2 ** 20,
        check: { maxAbs: 3.6e-7, maskAgreement: 1 },
        torch: stats(451, 440, 470),
      },
      { size: 512, batch: 16, skipped: 'an activation needs 512.0 MiB, more than maxStorageBufferBindingSize (128.0 MiB)' },
    ],
    ...o,
  };
}

Tables('formatBench: one row per configuration, GPU / throughput / e2e as median (p10–p90), GFLOP/s from the medians', () => {
  const text = formatBench(report());
  assert.match(text, /adapter: vendor mesa, architecture software, device llvmpipe; driver: llvmpipe: Mesa 25\.0\.7; Dawn: webgpu 0\.6\.2/);
  const row = text.split('\n').find((l) => l.startsWith('1x3x256x256'))!;
  // 24.3 GFLOP in 1.200 s = 20.3 GFLOP/s (GPU), in 1.384 s = 17.6 (e2e); torch 451 / 1384 = 0.33x
  assert.equal(row.split(/\s{2,}/), [
    '1x3x256x256',
    '2205',
    '1200 (1150–1300)',
    '1210 (1190–1250)',
    '1384 (1300–1703)',
    '24.30',
    '20.3',
    '17.6',
    '451 (440–470)',
    '0.33x',
  ]);
  assert.match(text, /16x3x512x512\s+skipped: an activation needs 512\.0 MiB/);
  assert.match(text, /1x3x256x256\s+31\.0\s+81\.8\s+3\.6e-7\s+100\.000%/);
  assert.not.match(text, /recommended/);
});

Tables('formatBench: says when warm-ups are fewer than recommended and when GPU time cannot be measured', () => {
  const text = formatBench(report({ warmup: 2, adapter: { ...report().adapter, timestampQuery: false } }));
  assert.match(text, /after 2 warm-ups \(fewer than the 10 recommended, by --warmup/);
  assert.match(text, /not measured: the adapter has no timestamp-query/);
  assert.match(text, /between consecutive ends \(seen on the CPU\)/);
});

Tables('formatPeers: each engine over ours, checks against PyTorch, and why an engine did not run', () => {
  const header = {
    adapter: 'llvmpipe',
    dawn: 'webgpu 0.6.2',
    ort: 'onnxruntime-node 1.30.0',
    torch: 'PyTorch 1.13 on cpu',
    model: 'brain-unet init_features 32, 3 -> 1 sigmoid',
    runs: 10,
    warmup: 10,
  };
  const check = { maxAbs: 2e-7, maskAgreement: 1 };
  const text = formatPeers(
    header,
    ['ours', 'ORT WebGPU', 'PyTorch CPU', 'PyTorch CUDA tf32'],
    [
      {
        size: 256,
        batch: 1,
        gflop: 24.3,
        results: {
          ours: { stats: stats(1000, 900, 1100), check },
          'ORT WebGPU': { stats: stats(4500, 4000, 5000), check, vsOurs: 1e-7 },
          'PyTorch CPU': { stats: stats(450, 400, 500), vsOurs: 2e-7 },
          'PyTorch CUDA tf32': { missing: 'no PyTorch at python3' },
        },
      },
    ],
  );
  const row = text.split('\n').find((l) => l.startsWith('256²'))!;
  // ORT 4500 / 1000 = 4.50; PyTorch 450 / 1000 = 0.45; 24.3 GFLOP / 1 s = 24.3 GFLOP/s
  assert.equal(row.trim().split(/\s{2,}/), ['256²', '1', '1000 (900–1100)', '24.3', '4500 (4000–5000)', '4.50', '450 (400–500)', '0.45', 'n/a']);
  assert.match(text, /256²\s+1\s+2\.0e-7 \(100\.00%\)\s+2\.0e-7 \(100\.00%\) \/ 1\.0e-7\s+reference \/ 2\.0e-7\s+n\/a/);
  assert.match(text, /PyTorch CUDA tf32: not run: no PyTorch at python3/);
});

Tables.run();

// ---

const Nnunet = suite('unet bench on an nnU-Net 3D results folder');

Nnunet('16x16x32 of plain3d_aniso: one row with GFLOP and GPU MiB; PyTorch skipped without --dna; a size rounded up to the strides', () => {
  // prettier-ignore
  const r = unet(
    'bench',
    '--weights',
    'test/fixtures/nnunet/plain3d_aniso',
    '--sizes',
    '16x16x32,10',
    '--batches',
    '1',
    '--runs',
    '1',
    '--warmup',
    '0',
    '--layers',
    'none',
  );
  const why = `exit ${r.code}, stderr:\n${r.stderr}\nstdout:\n${r.stdout}`;
  assert.is(r.code, 0, why);
  assert.match(r.stderr, /PyTorch skipped: it builds an nnU-Net network with dynamic_network_architectures; give --dna PATH/, why);
  assert.match(r.stdout, /model: nnU-Net PlainConvUNet 3d_fullres/, why);
  assert.match(r.stdout, /conv3d \{/, why);
  // input, first, GPU, throughput, e2e, GFLOP, GFLOP/s GPU, GFLOP/s e2e (no torch columns)
  const row = r.stdout.split('\n').find((l) => l.startsWith('1x2x16x16x32 '));
  assert.ok(row, why);
  const cells = row!.trim().split(/\s{2,}/);
  assert.is(cells.length, 8, why);
  assert.ok(Number(cells[5]) > 0, `GFLOP ${cells[5]}`);
  // 10^3 is run as 12x16x16 (strides [4, 16, 16])
  assert.match(r.stdout, /--sizes 10x10x10 rounded up to 12x16x16 \(this network takes multiples of \[4,16,16\], its strides\)/, why);
  assert.match(r.stdout, /1x2x12x16x16 /, why);
  const mem = r.stdout.split('\n').find((l) => /^1x2x16x16x32\s+[\d.]+\s+[\d.]+\s+not checked/.test(l));
  assert.ok(mem, `memory row: ${why}`);
  assert.ok(
    Number(
      mem!
        .trim()
        .split(/\s{2,}/)
        .at(-1),
    ) > 0,
    `GPU MiB: ${mem}`,
  );
});

Nnunet('sizes that do not fit one pass are skipped saying which limit, with what model.estimate gives', () => {
  // the first stage's 2 channels (a vec4) at 512x1024x1024 are 8 GiB, over any adapter's maxBufferSize here (a value is never split across buffers)
  const r = unet('bench', '--weights', 'test/fixtures/nnunet/plain3d_aniso', '--sizes', '512x1024x1024', '--batches', '1', '--runs', '1', '--layers', 'none');
  const why = `exit ${r.code}, stderr:\n${r.stderr}\nstdout:\n${r.stdout}`;
  assert.is(r.code, 0, why);
  assert.match(r.stdout, /1x2x512x1024x1024\s+skipped: .*needs \d+ bytes, more than one buffer may hold \(maxBufferSize/, why);
  assert.match(r.stdout, /1x2x512x1024x1024: model\.estimate: largest activation [\d.]+ MiB, arena [\d.]+ MiB, in all [\d.]+ MiB/, why);
});

Nnunet('DxHxW is refused for a 2D model', () => {
  const r = unet('bench', '--sizes', '8x8x8', '--runs', '1', '--layers', 'none', '--no-torch');
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /--sizes 8x8x8: DxHxW is for a 3D model/);
});

Nnunet.run();
