// Whole models in bands (issue 21): each fixture model (brain U-Net, smp Unet on ResNet / ResNeXt /
// EfficientNet / MobileNet with scse and bilinear decoders, UnetPlusPlus, nnU-Net 2D and 3D networks) is
// loaded twice, once as it runs by default and once with a binding limit small enough that most of its
// layers run in bands, and the two outputs on the fixture's input must agree bit for bit. The fixtures'
// outputs are PyTorch's, so the banded run is also checked against PyTorch at the fixture's tolerance.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { loadModel } from '../../src/load.js';
import { parseSafetensors } from '../../src/weights/safetensors.js';
import { randArray, rng, testDevice } from '../helpers.js';
import { skip } from '../skip.js';
import { firstBitDifference } from './run.js';

const test = suite('bands: whole models');

// [model path, io fixture, f16 too]
const CASES: [string, string, boolean][] = [
  ['test/fixtures/b2_rgb.weights.safetensors', 'test/fixtures/b2_rgb.io.safetensors', true],
  ['test/fixtures/smp/r18_odd_tanh', 'test/fixtures/smp/r18_odd_tanh.io.safetensors', true],
  ['test/fixtures/smp/r34_d4_scse_bilinear', 'test/fixtures/smp/r34_d4_scse_bilinear.io.safetensors', false],
  ['test/fixtures/smp/eb0_d5_sigmoid', 'test/fixtures/smp/eb0_d5_sigmoid.io.safetensors', true],
  ['test/fixtures/smp/mnv2_d3_in4_scse', 'test/fixtures/smp/mnv2_d3_in4_scse.io.safetensors', false],
  ['test/fixtures/smp/pp_eb0_d3_scse_200x152', 'test/fixtures/smp/pp_eb0_d3_scse_200x152.io.safetensors', false],
  ['test/fixtures/smp/r50_d3_nonorm', 'test/fixtures/smp/r50_d3_nonorm.io.safetensors', false],
  ['test/fixtures/nnunet/plain2d', 'test/fixtures/nnunet/plain2d.io.safetensors', false],
  ['test/fixtures/nnunet/plain3d_bn_relu', 'test/fixtures/nnunet/plain3d_bn_relu.io.safetensors', false],
  ['test/fixtures/nnunet/resenc3d_bottleneck', 'test/fixtures/nnunet/resenc3d_bottleneck.io.safetensors', false],
];

for (const [path, io, f16] of CASES) {
  for (const precision of f16 ? (['f32', 'f16'] as const) : (['f32'] as const)) {
    test(`${path} (${precision}): banded == one pass, bit for bit`, async () => {
      if (!existsSync(io)) return skip(`${io} is missing (tools/ writes it)`);
      const device = await testDevice();
      const t = parseSafetensors(readFileSync(io), io);
      const whole = await loadModel(device, path, { precision });
      // the fixture's input, else (where a layer's fixed scratch passes every fraction of the fixture's small
      // values: a squeeze-excite's running sums are 2 KiB a vec4 group, Winograd's one tile row of a 2048-channel
      // layer) a seeded input of twice its size
      const fixture = [...t.tensors.get('input')!.shape];
      const twice = fixture.map((d, i) => (i < 2 ? d : 2 * d));
      let banded: Awaited<ReturnType<typeof loadModel>> | undefined;
      let shape = fixture;
      let data = t.getF32('input');
      for (const s of [fixture, twice]) {
        // the smallest of a few fractions of the largest value under which the model runs in bands (a band
        // needs at least one row of its output and its inputs' halo, Winograd's scratch for a tile row, and a
        // 3D conv's halo of two slices)
        const largest = whole.estimate(s).largestActivationBytes;
        for (const f of [1 / 6, 1 / 4, 1 / 3, 1 / 2, 3 / 4, 0.9]) {
          const m = await loadModel(device, path, { precision, maxBindingBytes: Math.max(4096, Math.floor((largest * f) / 256) * 256) });
          const taken = (() => {
            try {
              return m.runPath(s).path;
            } catch {
              return 'none';
            }
          })();
          if (taken === 'bands') {
            banded = m;
            break;
          }
          m.dispose();
        }
        if (banded) {
          if (s !== fixture) {
            shape = s;
            data = randArray(
              rng(5),
              s.reduce((a, b) => a * b, 1),
              -2,
              2,
            );
          }
          break;
        }
      }
      try {
        assert.ok(banded, 'no limit made the model run in bands');
        const path1 = whole.runPath(shape);
        const path2 = banded.runPath(shape);
        assert.is(path1.path, 'one pass', path1.why);
        assert.ok(path2.estimate.bandedNodes >= 2, `${path2.estimate.bandedNodes} layers in bands`);
        const a = await whole.run({ data, shape }, { tile: false });
        const b = await banded.run({ data, shape }, { tile: false });
        const at = firstBitDifference(a.data, b.data);
        assert.is(at, -1, at >= 0 ? `element ${at}: one pass ${a.data[at]}, banded ${b.data[at]}` : '');
      } finally {
        whole.dispose();
        banded?.dispose();
      }
    });
  }
}

test('runPath: one pass, bands, windows, each with its reason', async () => {
  const device = await testDevice();
  const path = 'test/fixtures/b2_rgb.weights.safetensors';
  const model = await loadModel(device, path, { maxBindingBytes: 65536 });
  try {
    const small = model.runPath([1, 3, 16, 16]);
    assert.is(small.path, 'one pass', small.why);
    assert.match(small.why, /every binding fits the 0\.1 MiB binding limit/);
    const big = model.runPath([1, 3, 96, 80]);
    assert.is(big.path, 'bands', big.why);
    assert.match(big.why, /^\d+ layers pass the 0\.1 MiB binding limit and run in \d+ bands of rows \(the same result as one pass\)/);
    const windows = model.runPath([1, 3, 96, 80], { tile: { memoryBudgetBytes: 2 ** 18 } });
    assert.is(windows.path, 'windows', windows.why);
    assert.match(windows.why, /more than the budget of 0\.3 MiB: windows of \d+x\d+ in batches of \d+/);
  } finally {
    model.dispose();
  }
});

test.run();
