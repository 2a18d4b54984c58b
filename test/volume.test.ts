// The library's pieces under `unet segment`: segmentPixels (model.segment once the image is read) and
// segmentVolume (a NIfTI volume slice by slice). Each slice of a volume must come out as model.segment
// gives it for the same slice as an image: along every axis, after the volume's min..max is mapped onto
// 0..255, for a mask model (demo, 1 -> 1 sigmoid) and a multi-class one (smp, 3 -> 2 logsoftmax).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { decodeImage } from '../src/io/image.js';
import { readNifti, type Axis, type Volume } from '../src/io/nifti.js';
import { getDevice, loadModel, type Model, type RawImage } from '../src/node.js';
import { segmentPixels } from '../src/segment.js';
import { checkFiniteVolume, segmentVolume } from '../src/volume.js';
import { makeNifti } from './io/makeNifti.js';
import { rejectsWith } from './helpers.js';
import { skip } from './skip.js';

const DEMO = 'assets/demo/nuclei_unet.safetensors'; // brain U-Net layout, 1 -> 1 sigmoid, zscore
const SMP = 'test/fixtures/smp/r50_d3_nonorm'; // resnet50, depth 3, 3 -> 2 classes, logsoftmax, imagenet

/** A uint8 (datatype 2) or float32 (16) volume of `values`, x fastest, read back as the CLI reads it. */
function volume(dims: [number, number, number], values: ArrayLike<number>, datatype: 2 | 16 = 2): Volume {
  return readNifti(makeNifti({ dims, datatype, values }));
}

/** The corner of a demo sample as nx * ny * nz gray values: slice z starts 40 * z pixels further right. */
function sampleValues([nx, ny, nz]: [number, number, number]): Uint8Array {
  const img = decodeImage(readFileSync('assets/demo/samples/nuclei_02.png'));
  return Uint8Array.from({ length: nx * ny * nz }, (_, j) => {
    const [x, y, z] = [j % nx, Math.floor(j / nx) % ny, Math.floor(j / (nx * ny))];
    return img.data[y * img.width + x + 40 * z];
  });
}

/**
 * Slice k along `axis` as an image, written out by hand: the voxel of (x, y, z) is x + nx * y + nx * ny * z;
 * axial (2) slices are nx wide and ny high, coronal (1) nx by nz, sagittal (0) ny by nz.
 */
function sliceOf(values: ArrayLike<number>, [nx, ny, nz]: [number, number, number], axis: Axis, k: number): { image: RawImage; voxel: number[] } {
  const [width, height] = axis === 2 ? [nx, ny] : axis === 1 ? [nx, nz] : [ny, nz];
  const voxel = Array.from({ length: width * height }, (_, p) => {
    const [u, v] = [p % width, Math.floor(p / width)];
    if (axis === 2) return u + nx * v + nx * ny * k;
    if (axis === 1) return u + nx * k + nx * ny * v;
    return k + nx * u + nx * ny * v;
  });
  return { image: { width, height, channels: 1, data: Uint8Array.from(voxel, (i) => values[i]) }, voxel };
}

const Vol = suite<{ device: GPUDevice; demo: Model }>('segmentVolume: each slice as model.segment gives it');
Vol.before(async (ctx) => {
  ctx.device = await getDevice();
  ctx.demo = await loadModel(ctx.device, DEMO);
});
Vol.after((ctx) => {
  ctx.demo.dispose();
  ctx.device.destroy();
});

const DIMS: [number, number, number] = [24, 20, 18];

for (const axis of [2, 1, 0] as Axis[]) {
  Vol(`demo 24x20x18 uint8, axis ${axis}, zscore: probabilities and masks of every slice = model.segment of it`, async ({ demo }) => {
    const values = sampleValues(DIMS);
    const seen: number[] = [];
    const r = await segmentVolume(demo, volume(DIMS, values), { axis, normalization: { kind: 'zscore' }, onSlice: (k, count) => seen.push(k, count) });
    const count = DIMS[axis];
    assert.equal(
      seen,
      Array.from({ length: 2 * count }, (_, i) => (i % 2 ? count : i / 2)),
    );
    assert.is(r.kind, 'mask');
    assert.equal(r.dims, DIMS);
    for (let k = 0; k < count; k++) {
      const { image, voxel } = sliceOf(values, DIMS, axis, k);
      const want = await demo.segment(image, { normalize: { kind: 'zscore' } });
      voxel.forEach((v, p) => {
        if (r.probabilities[v] !== want.probabilities[p] || r.mask[v] !== want.mask[p]) {
          assert.unreachable(
            `slice ${k} pixel ${p} (voxel ${v}): ${r.probabilities[v]} / ${r.mask[v]}, model.segment ${want.probabilities[p]} / ${want.mask[p]}`,
          );
        }
      });
    }
    const on = r.mask.reduce((a, m) => a + m, 0);
    assert.ok(on > 0 && on < r.mask.length, 'both foreground and background occur');
    assert.equal(r.foreground, [on / r.mask.length]);
    assert.equal(r.masks, [r.mask]);
    assert.equal(r.notes, []);
  });
}

Vol('float32 volume 0..510, normalization none: min..max is mapped onto 0..255 (x 0.5 here), then v / 255 as for an image', async ({ demo }) => {
  const values = sampleValues(DIMS);
  values[0] = 0;
  values[1] = 255; // so the range is exactly 0..510
  const r = await segmentVolume(
    demo,
    volume(
      DIMS,
      Float32Array.from(values, (v) => 2 * v),
      16,
    ),
    { normalization: { kind: 'none' }, threshold: 0.3 },
  );
  for (const k of [0, 17]) {
    const { image, voxel } = sliceOf(values, DIMS, 2, k);
    const want = await demo.segment(image, { normalize: { kind: 'none' }, threshold: 0.3 });
    assert.ok(
      voxel.every((v, p) => r.probabilities[v] === want.probabilities[p] && r.mask[v] === want.mask[p]),
      `slice ${k} differs from model.segment`,
    );
  }
});

Vol('NaN / Inf voxels: a NiftiError naming how many and the first (x, y, z), before the model runs', async () => {
  const values = Array.from({ length: 4 * 3 * 2 }, (_, i) => i);
  values[1 + 4 * 2 + 12] = NaN; // x 1, y 2, z 1
  values[23] = Infinity;
  const vol = volume([4, 3, 2], values, 16);
  assert.throws(() => checkFiniteVolume(vol), /^holds 2 NaN or Inf voxels \(the first at x 1, y 2, z 1\); replace them \(with 0, say\) before segmenting$/);
  let runs = 0;
  const stub = { info: { inChannels: 1, classes: 1, activation: 'sigmoid' }, run: async () => (runs++, assert.unreachable('ran')) } as unknown as Model;
  await rejectsWith(segmentVolume(stub, vol, { normalization: { kind: 'zscore' } }), (e) => e.name === 'NiftiError' && e.code === 'INPUT', 'segmentVolume');
  assert.is(runs, 0);
  checkFiniteVolume(
    volume(
      [4, 3, 2],
      values.map((v) => (Number.isFinite(v) ? v : 0)),
      16,
    ),
  );
});

Vol('smp 3 -> 2 classes (logsoftmax, imagenet), 36x28x2: labels and class probabilities of each slice = model.segment of it', async ({ device }) => {
  if (!existsSync(`${SMP}/model.safetensors`)) return skip(`${SMP}/model.safetensors is missing: run /usr/bin/python3 tools/make_smp_fixtures.py --weights`);
  const dims: [number, number, number] = [36, 28, 2];
  const values = sampleValues(dims);
  values[0] = 0;
  values[1] = 255; // the range is 0..255: the mapping onto 0..255 changes nothing
  const model = await loadModel(device, SMP);
  try {
    const r = await segmentVolume(model, volume(dims, values), { normalization: { kind: 'imagenet' } });
    assert.is(r.kind, 'classes');
    assert.is(r.masks, undefined);
    assert.equal(r.notes, ['each slice repeated into 3 channels']);
    const voxels = 36 * 28 * 2;
    for (let k = 0; k < 2; k++) {
      const { image, voxel } = sliceOf(values, dims, 2, k);
      const want = await model.segment(image, { normalize: { kind: 'imagenet' } });
      assert.equal(want.notes, ['gray image repeated into 3 channels']);
      const n = voxel.length;
      for (let p = 0; p < n; p++) {
        const v = voxel[p];
        const same = r.mask[v] === want.mask[p] && r.probabilities[v] === want.probabilities[p] && r.probabilities[voxels + v] === want.probabilities[n + p];
        if (!same) assert.unreachable(`slice ${k} pixel ${p}: class ${r.mask[v]}, model.segment ${want.mask[p]}`);
      }
    }
    const ones = r.mask.reduce((a, m) => a + m, 0);
    assert.ok(ones > 0 && ones < voxels, 'both classes occur');
    assert.equal(r.foreground, [(voxels - ones) / voxels, ones / voxels]);
  } finally {
    model.dispose();
  }
});

Vol.run();

// ---

const Pix = suite<{ device: GPUDevice; demo: Model }>('segmentPixels: model.segment once the image is read');
Pix.before(async (ctx) => {
  ctx.device = await getDevice();
  ctx.demo = await loadModel(ctx.device, DEMO);
});
Pix.after((ctx) => {
  ctx.demo.dispose();
  ctx.device.destroy();
});

Pix('an RGB image and a 1-channel model: toGray false refuses it (the CLI without --gray), otherwise = model.segment with the raw output', async ({ demo }) => {
  const rgb: RawImage = { width: 20, height: 18, channels: 3, data: Uint8Array.from({ length: 20 * 18 * 3 }, (_, i) => (i * 29) % 256) };
  const how = { normalization: { kind: 'zscore' as const }, threshold: 0.5 };
  await rejectsWith(
    segmentPixels(demo, rgb, { ...how, toGray: false }),
    (e) => e.name === 'ChannelError' && /^image: is RGB and the model takes 1 channel: pass --gray/.test(e.message),
    'toGray false',
  );
  const { result, output } = await segmentPixels(demo, rgb, how, { tile: false });
  const want = await demo.segment(rgb, { tile: false });
  assert.equal(output.shape, [1, 1, 18, 20]);
  assert.equal(result.notes, ['RGB converted to gray']);
  assert.ok(
    result.probabilities.every((p, i) => p === want.probabilities[i] && p === output.data[i]),
    'sigmoid outputs are the probabilities, as model.segment gives them',
  );
  assert.equal(result.mask, want.mask);
});

Pix.run();
