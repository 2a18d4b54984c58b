// 2D natural-image nnU-Net datasets (file_ending .png, NaturalImage2DIO) against nnU-Net's own predictor (fixtures:
// tools/nnunet_predict_png.py, test/fixtures/nnunet_predict_png): an RGB PNG (one file, three channels) and a gray
// one read as skimage.io.imread reads them ([C, 1, Y, X], spacing 999 x 1 x 1), labels and probabilities equal to
// nnUNetv2_predict's (float32-accumulation judge: labels >= 99.9%, probabilities within 2e-3), the segmentation
// written as its gray uint8 PNG; the decoder's sample values beside what skimage gives (16-bit gray raw, 16-bit RGB
// high bytes, 2- and 4-bit gray scaled, Adam7); `unet predict` and `unet segment --weights` on PNG folders.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { unzipSync, zlibSync } from 'fflate';
import { loadModel } from '../../src/load.js';
import type { NnunetSegmentResult } from '../../src/nnunetSegment.js';
import { decodeNaturalPng, encodeSegmentationPng, stackNaturalImages } from '../../src/nnunet/naturalImage.js';
import { encodeNpy } from '../../src/io/npz.js';
import { pngChunk, PNG_SIGNATURE } from '../../src/io/png.js';
import { resolveLimits } from '../../src/limits.js';
import { tempDirs, unet } from '../cliRun.js';
import { testDevice } from '../helpers.js';
import { agreement, fixtureCases, maxAbs } from './judge.js';

const DIR = 'test/fixtures/nnunet_predict_png';
const HINT = 'regenerate with tools/nnunet_predict_png.py';
const LIMITS = resolveLimits();

const { caseJson, reference, int32 } = fixtureCases(DIR, HINT);

/** A PNG from raw (unfiltered) scanlines: filter byte 0 before each. */
function rawPng(width: number, height: number, depth: number, colorType: number, rows: number[][], interlace = 0): Uint8Array {
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr.set([depth, colorType, 0, 0, interlace], 8);
  const body = Uint8Array.from(rows.flatMap((r) => [0, ...r]));
  const parts = [Uint8Array.from(PNG_SIGNATURE), pngChunk('IHDR', ihdr), pngChunk('IDAT', zlibSync(body)), pngChunk('IEND', new Uint8Array())];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const Decode = suite('NaturalImage2DIO: PNG samples as skimage.io.imread gives them');

Decode('the fixtures read exactly as nnU-Net read them ([C, 1, Y, X] float32)', () => {
  for (const name of ['rgb2d', 'gray2d']) {
    const c = caseJson(name);
    const st = reference(name);
    const im = decodeNaturalPng(readFileSync(`${DIR}/${name}/${c.channels[0]}`), c.channels[0], LIMITS);
    const s = stackNaturalImages([im], c.channels);
    assert.equal(s.shape, st.tensors.get('input')!.shape, name);
    assert.equal(s.spacing, [999, 1, 1]);
    assert.equal(Array.from(s.data), Array.from(st.getF32('input')), `${name}: values`);
  }
});

Decode('bit depths and colour types (values checked with skimage 0.19 / Pillow 9)', () => {
  const px = (b: Uint8Array) => {
    const im = decodeNaturalPng(b, 'x.png', LIMITS);
    return [im.channels, Array.from(im.data)];
  };
  // 4-bit gray 0, 5, 10, 15 -> x17; 2-bit 0..3 -> x85; 1-bit -> x255
  assert.equal(px(rawPng(4, 1, 4, 0, [[0x05, 0xaf]])), [1, [0, 85, 170, 255]]);
  assert.equal(px(rawPng(4, 1, 2, 0, [[0b00011011]])), [1, [0, 85, 170, 255]]);
  assert.equal(px(rawPng(3, 1, 1, 0, [[0b10100000]])), [1, [255, 0, 255]]);
  // 16-bit gray: the uint16 values; 16-bit RGB(A): each sample's high byte
  assert.equal(px(rawPng(2, 1, 16, 0, [[0x12, 0x34, 0xff, 0xff]])), [1, [4660, 65535]]);
  assert.equal(px(rawPng(1, 1, 16, 2, [[0x12, 0x34, 0xab, 0xcd, 0x00, 0xff]])), [3, [18, 171, 0]]);
  assert.equal(px(rawPng(1, 1, 16, 6, [[0x12, 0x34, 0xab, 0xcd, 0x00, 0xff, 0x80, 0x80]])), [4, [18, 171, 0, 128]]);
  // RGBA 8-bit: 4 planes
  assert.equal(px(rawPng(2, 1, 8, 6, [[1, 2, 3, 4, 5, 6, 7, 8]])), [4, [1, 5, 2, 6, 3, 7, 4, 8]]);
  // Adam7, 3x3 gray: pass 1 (0,0); 4 (2,0); 5 (0,2) (2,2); 6 (1,0), (1,2); 7 row 1
  const v = (x: number, y: number) => 10 * y + x + 1;
  const inter = rawPng(3, 3, 8, 0, [[v(0, 0)], [v(2, 0)], [v(0, 2), v(2, 2)], [v(1, 0)], [v(1, 2)], [v(0, 1), v(1, 1), v(2, 1)]], 1);
  assert.equal(px(inter), [1, [1, 2, 3, 11, 12, 13, 21, 22, 23]]);
});

Decode('refused in one line: palette and gray + alpha, truncated data, maxPixels, mixed shapes', () => {
  assert.throws(() => decodeNaturalPng(rawPng(1, 1, 8, 3, [[0]]), 'p.png', LIMITS), /p\.png: a palette PNG: skimage versions read it/);
  assert.throws(() => decodeNaturalPng(rawPng(1, 1, 8, 4, [[0, 0]]), 'la.png', LIMITS), /la\.png: a gray \+ alpha PNG/);
  assert.throws(() => decodeNaturalPng(rawPng(4, 2, 8, 0, [[1, 2, 3, 4]]), 't.png', LIMITS), /t\.png: PNG image data holds 5 bytes, 4x2 pixels need 10/);
  assert.throws(
    () => decodeNaturalPng(rawPng(4, 1, 8, 0, [[1, 2, 3, 4]]), 'big.png', resolveLimits({ maxPixels: 3 })),
    /big\.png: 4x1 = 4 pixels exceeds maxPixels 3/,
  );
  const gray = decodeNaturalPng(rawPng(2, 1, 8, 0, [[1, 2]]), 'g', LIMITS);
  const rgb = decodeNaturalPng(rawPng(2, 1, 8, 2, [[1, 2, 3, 4, 5, 6]]), 'c', LIMITS);
  assert.throws(() => stackNaturalImages([rgb, gray], ['a_0000.png', 'a_0001.png']), /a_0001\.png: 1 channel of 2x1, a_0000\.png has 3 channels of 2x1/);
});

Decode('the segmentation PNG: gray, uint8 below 255, uint16 from 255', () => {
  const small = encodeSegmentationPng(Uint8Array.from([0, 1, 2, 254]), 2, 2);
  assert.equal([small[24], small[25]], [8, 0], 'bit depth 8, gray');
  assert.equal(Array.from(decodeNaturalPng(small, 's', LIMITS).data), [0, 1, 2, 254]);
  const wide = encodeSegmentationPng(Uint16Array.from([0, 255, 300, 1]), 2, 2);
  assert.equal([wide[24], wide[25]], [16, 0], 'bit depth 16, gray');
  assert.equal(Array.from(decodeNaturalPng(wide, 'w', LIMITS).data), [0, 255, 300, 1]);
});

Decode.run();

// ---

const Predict = suite<{ device: GPUDevice }>('nnU-Net model.segment on PNG cases vs nnUNetv2_predict');
Predict.before(async (ctx) => {
  ctx.device = await testDevice();
});
Predict.after((ctx) => ctx.device.destroy());

for (const name of ['rgb2d', 'gray2d']) {
  Predict(`${name}: labels, probabilities and the written PNG`, async ({ device }) => {
    const c = caseJson(name);
    const st = reference(name);
    const model = await loadModel(device, `${DIR}/${name}/${c.results}`, { nnunet: { folds: c.folds, checkpoint: c.checkpoint } });
    try {
      const started = performance.now();
      const r = (await model.segment(
        c.channels.map((f) => `${DIR}/${name}/${f}`),
        { mirroring: c.use_mirroring, stepSize: c.tile_step_size, probabilities: true },
      )) as NnunetSegmentResult;
      const ms = performance.now() - started;
      assert.equal(r.shape, st.tensors.get('segmentation')!.shape);
      assert.equal(r.spacing, [999, 1, 1]);
      const [a32, a16] = [agreement(r.labels, int32(st, 'segmentation_f32acc')), agreement(r.labels, int32(st, 'segmentation'))];
      const [d32, d16] = [maxAbs(r.probabilities!, st.getF32('probabilities_f32acc')), maxAbs(r.probabilities!, st.getF32('probabilities'))];
      console.log(
        `  ${name}: labels agree ${(100 * a32).toFixed(3)}% (f32-acc judge) / ${(100 * a16).toFixed(3)}% (half); max |Δp| ${d32.toExponential(2)} / ${d16.toExponential(2)}; ${ms.toFixed(0)} ms`,
      );
      assert.ok(a32 >= 0.999, `${name}: labels agree with nnU-Net (float32 accumulation) on ${a32} of pixels`);
      assert.ok(d32 <= 2e-3, `${name}: probabilities differ from nnU-Net's (float32 accumulation) by ${d32}`);
      assert.ok(a16 >= 0.99, `${name}: labels agree with nnU-Net (half accumulation) on ${a16} of pixels`);
      // <case>.png: 8-bit gray of the label values, as NaturalImage2DIO.write_seg
      const png = r.png!();
      assert.equal([png[24], png[25]], [8, 0]);
      const back = decodeNaturalPng(png, 'out', LIMITS);
      assert.equal([back.channels, back.height, back.width], [1, r.shape[1], r.shape[2]]);
      assert.equal(Array.from(back.data), Array.from(r.labels));
      // bytes in, the same labels out
      const fromBytes = (await model.segment(readFileSync(`${DIR}/${name}/${c.channels[0]}`), {
        mirroring: c.use_mirroring,
        stepSize: c.tile_step_size,
      })) as NnunetSegmentResult;
      assert.equal(Array.from(fromBytes.labels), Array.from(r.labels));
    } finally {
      model.dispose();
    }
  });
}

Predict('a gray PNG for the RGB model: one line naming the channels', async ({ device }) => {
  const model = await loadModel(device, `${DIR}/rgb2d/results`, { nnunet: { folds: [0] } });
  try {
    await model.segment(`${DIR}/gray2d/gray2d_0000.png`);
    assert.unreachable('expected a refusal');
  } catch (e) {
    assert.match((e as Error).message, /^volume: the PNG files hold 1 channel, the model takes 3 \(R, G, B\): a gray PNG is 1 channel, RGB 3, RGBA 4$/);
  } finally {
    model.dispose();
  }
});

Predict.run();

// ---

const temp = tempDirs('unet-predict-png-');
const Cli = suite('unet predict / unet segment on PNG cases');
Cli.after(() => temp.cleanup());

Cli('predict -i -o -m --save_probabilities: OUT/CASE.png (gray uint8 labels) and CASE.npz', () => {
  const out = temp.dir();
  const r = unet('predict', '-i', `${DIR}/rgb2d`, '-o', out, '-m', `${DIR}/rgb2d/results`, '-f', '0', '--save_probabilities');
  assert.is(r.code, 0, r.stderr);
  assert.equal(readdirSync(out).sort(), ['rgb2d.npz', 'rgb2d.png']);
  const st = reference('rgb2d');
  const png = readFileSync(join(out, 'rgb2d.png'));
  assert.equal([png[24], png[25]], [8, 0]);
  const labels = decodeNaturalPng(png, 'rgb2d.png', LIMITS).data;
  assert.ok(agreement(labels, int32(st, 'segmentation_f32acc')) >= 0.999);
  const npz = unzipSync(readFileSync(join(out, 'rgb2d.npz')));
  assert.equal(Object.keys(npz), ['probabilities.npy']);
  const probs = npz['probabilities.npy'];
  const header = encodeNpy({ data: new Float32Array(2 * 40 * 52), shape: [2, 1, 40, 52] });
  assert.equal(Array.from(probs.subarray(0, 128)), Array.from(header.subarray(0, 128)), 'float32 [2, 1, 40, 52]');
  const p = new Float32Array(probs.slice(probs.length - 4 * 2 * 40 * 52).buffer);
  assert.ok(maxAbs(p, st.getF32('probabilities_f32acc')) <= 2e-3);
});

Cli('segment IN --weights RESULTS --out-dir: a gray PNG case; a missing image is one line', () => {
  const out = temp.dir();
  const r = unet('segment', `${DIR}/gray2d`, '--weights', 'test/fixtures/nnunet/plain2d', '--out-dir', out, '--no-mirroring');
  assert.is(r.code, 0, r.stderr);
  assert.equal(readdirSync(out), ['gray2d.png']);
  const st = reference('gray2d');
  assert.ok(agreement(decodeNaturalPng(readFileSync(join(out, 'gray2d.png')), 'g', LIMITS).data, int32(st, 'segmentation_f32acc')) >= 0.999);
  // _0001 without _0000
  const input = temp.dir();
  copyFileSync(`${DIR}/gray2d/gray2d_0000.png`, join(input, 'case_0001.png'));
  const out2 = join(temp.dir(), 'out');
  const bad = unet('predict', '-i', input, '-o', out2, '-m', 'test/fixtures/nnunet/plain2d');
  assert.is(bad.code, 1, bad.stderr);
  assert.match(bad.stderr, /case: missing channel file case_0000\.png/);
});

Cli.run();
