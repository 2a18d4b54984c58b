// nnU-Net's preprocessing steps against nnU-Net's own functions: test/fixtures/nnunet_steps/steps.safetensors
// (written by tools/nnunet_steps.py from nnU-Net's source, with Debian's scipy and skimage) holds crop_to_nonzero,
// each normalization scheme, resample_data_or_seg_to_shape (isotropic, separate z, segmentations, probabilities,
// a 2d configuration) and whole run_case_npy cases. Resampled arrays within 1e-4 * max(1, |ref|) (the issue's
// bound); crop boxes and label maps exactly; normalized values within a few float32 ulps.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { nnunetConfig } from '../../src/arch/nnunet/plans.js';
import { cropToNonzero, uncrop } from '../../src/nnunet/crop.js';
import { normalizeChannel } from '../../src/nnunet/normalize.js';
import { preprocessCase } from '../../src/nnunet/preprocess.js';
import { computeNewShape, resampleDataOrSegToShape, separateZAxis } from '../../src/nnunet/resample.js';
import { UnsupportedError } from '../../src/errors.js';
import { parseSafetensors } from '../../src/weights/safetensors.js';

const FILE = 'test/fixtures/nnunet_steps/steps.safetensors';
const HINT = 'regenerate with /usr/bin/python3 tools/nnunet_steps.py --sources DIR (see its docstring)';

// biome-ignore lint/suspicious/noExplicitAny: the cases are JSON written by the tool, read field by field
type Case = Record<string, any>;
const st = existsSync(FILE) ? parseSafetensors(readFileSync(FILE), FILE) : undefined;
const CASES: Case[] = st ? JSON.parse(st.metadata.cases) : [];
const byFn = (pred: (c: Case) => boolean) => CASES.filter(pred);
const get = (name: string) => st!.getF32(name);

/** max |got - want| / max(1, |want|), with the worst index */
function relMax(got: ArrayLike<number>, want: ArrayLike<number>): { err: number; at: number } {
  assert.is(got.length, want.length, 'lengths differ');
  let err = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i]));
    if (!(e <= err)) {
      err = e;
      at = i;
    }
  }
  return { err: Number.isNaN(err) ? Number.POSITIVE_INFINITY : err, at };
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): number {
  const { err, at } = relMax(got, want);
  assert.ok(err <= tol, `${what}: max |Δ| / max(1, |ref|) = ${err} > ${tol} at ${at} (got ${got[at]}, want ${want[at]})`);
  return err;
}

function expectExact(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.is(got.length, want.length, `${what}: lengths`);
  let bad = 0;
  let first = -1;
  for (let i = 0; i < want.length; i++)
    if (got[i] !== want[i]) {
      bad++;
      if (first < 0) first = i;
    }
  assert.is(bad, 0, `${what}: ${bad} of ${want.length} values differ, first at ${first} (got ${got[first]}, want ${want[first]})`);
}

const Fixture = suite('nnU-Net preprocessing fixtures');
Fixture('the fixture is there', () => {
  assert.ok(st, `${FILE} is missing: ${HINT}`);
  assert.ok(CASES.length >= 20, `expected >= 20 cases in ${FILE}, found ${CASES.length}: ${HINT}`);
});
Fixture.run();

// ---

const Crop = suite('crop_to_nonzero');
for (const c of byFn((c) => c.fn === 'crop_to_nonzero')) {
  Crop(`${c.name} ${c.shape.join('x')}`, () => {
    const r = cropToNonzero(get(`${c.name}.input`), c.shape);
    assert.equal(r.bbox, c.bbox);
    expectExact(r.data, get(`${c.name}.data`), `${c.name} data`);
    expectExact(r.seg, get(`${c.name}.seg`), `${c.name} seg`);
  });
}
Crop('uncrop puts the box back and fills the outside per channel', () => {
  // 2 channels of a 1x2x2 box at z 1, y 1..3, x 0..2 of [2, 3, 3]
  const cropped = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  const out = uncrop(
    cropped,
    2,
    [
      [1, 2],
      [1, 3],
      [0, 2],
    ],
    [2, 3, 3],
    [1, 0],
  );
  const want = new Float32Array(36);
  want.fill(1, 0, 18); // channel 0 (background probability) is 1 outside
  want.set([1, 2, 1, 3, 4, 1], 9 + 3); // z 1, rows y 1 and 2: x 0..1 from the box, x 2 filled
  want.set([5, 6, 0, 7, 8, 0], 18 + 9 + 3);
  assert.equal([...out], [...want]);
});
Crop.run();

// ---

const Norm = suite('normalization schemes');
for (const c of byFn((c) => c.fn.endsWith('Normalization'))) {
  Norm(`${c.name} (${c.fn}, use_mask_for_norm ${c.use_mask_for_norm})`, () => {
    const image = get(`${c.name}.input`).slice();
    normalizeChannel(image, get(`${c.name}.seg`), { scheme: c.fn, useMaskForNorm: c.use_mask_for_norm, intensity: c.intensityproperties }, c.name);
    // float32 statistics reduced in another order: a few ulps of the normalized values
    const err = expectClose(image, get(`${c.name}.output`), 2e-6, c.name);
    console.log(`  ${c.name}: max |Δ| / max(1, |ref|) = ${err.toExponential(2)}`);
  });
}
Norm('an unknown scheme is refused, naming it', () => {
  assert.throws(
    () => normalizeChannel(new Float32Array(4), undefined, { scheme: 'MyNormalization' }, 'channel 0'),
    (e: unknown) => e instanceof UnsupportedError && /MyNormalization/.test(e.message),
  );
});
Norm.run();

// ---

const Resample = suite('resample_data_or_seg_to_shape');
for (const c of byFn((c) => c.fn === 'resample_data_or_seg_to_shape')) {
  Resample(`${c.name} ${c.shape.join('x')} -> ${c.new_shape.join('x')} ${JSON.stringify(c.kwargs)}`, () => {
    const kw = c.kwargs;
    assert.equal(computeNewShape(c.shape.slice(1), c.current_spacing, c.new_spacing), c.new_shape);
    assert.is(separateZAxis(kw.force_separate_z, c.current_spacing, c.new_spacing), c.separate_z_axis);
    const t0 = performance.now();
    const out = resampleDataOrSegToShape(get(`${c.name}.input`), c.shape, c.new_shape, c.current_spacing, c.new_spacing, {
      isSeg: kw.is_seg,
      order: kw.order,
      orderZ: kw.order_z,
      forceSeparateZ: kw.force_separate_z,
    });
    const ms = performance.now() - t0;
    if (kw.is_seg) expectExact(out, get(`${c.name}.output`), c.name);
    else {
      const err = expectClose(out, get(`${c.name}.output`), 1e-4, c.name);
      console.log(`  ${c.name}: max |Δ| / max(1, |ref|) = ${err.toExponential(2)} (${ms.toFixed(1)} ms)`);
    }
  });
}
Resample('compute_new_shape rounds half to even as Python', () => {
  // 2.5 -> 2 and 3.5 -> 4: shape 5 at spacing 1 -> 2 (x0.5), shape 7 at spacing 1 -> 2 (x0.5)
  assert.equal(computeNewShape([5, 7, 9], [1, 1, 1], [2, 2, 2]), [2, 4, 4]);
});
Resample.run();

// ---

const Whole = suite('run_case_npy');
for (const c of byFn((c) => c.fn === 'run_case_npy')) {
  Whole(`${c.name} (${c.configuration}) ${c.shape.join('x')} spacing ${c.spacing.join(',')}`, () => {
    const config = nnunetConfig(c.plans, c.dataset, c.configuration);
    const r = preprocessCase(get(`${c.name}.input`), c.shape, c.spacing, config, { withSeg: true });
    assert.equal(r.shape, c.output_shape);
    assert.equal(r.properties.shapeBeforeCropping, c.shape_before_cropping);
    assert.equal(r.properties.bboxUsedForCropping, c.bbox_used_for_cropping);
    assert.equal(r.properties.shapeAfterCroppingAndBeforeResampling, c.shape_after_cropping_and_before_resampling);
    const err = expectClose(r.data, get(`${c.name}.output`), 1e-4, c.name);
    expectExact(r.seg!, get(`${c.name}.seg`), `${c.name} seg`);
    console.log(`  ${c.name}: max |Δ| / max(1, |ref|) = ${err.toExponential(2)}`);
  });
}
Whole.run();
