// nnU-Net's export (convert_predicted_logits_to_segmentation_with_correct_shape, return_probabilities=True)
// against its own code on random logits (fixtures: tools/nnunet_window_steps.py): labels (softmax, argmax) and
// regions (sigmoid, regions_class_order), cropping reverted, transpose_backward; no resampling (the logits
// have the cropped shape).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { nnunetConfig } from '../../src/arch/nnunet/plans.js';
import { exportPrediction } from '../../src/nnunet/export.js';
import { parseSafetensors } from '../../src/weights/safetensors.js';

const DIR = 'test/fixtures/nnunet_window';
const NETS = 'test/fixtures/nnunet';
const HINT = 'regenerate with tools/nnunet_window_steps.py';

const Export = suite('nnU-Net export vs convert_predicted_logits_to_segmentation_with_correct_shape');

for (const name of ['labels3d', 'regions2d']) {
  Export(`${name}: labels equal, probabilities within 1e-6`, () => {
    const st = parseSafetensors(readFileSync(`${DIR}/export_${name}.safetensors`), HINT);
    const meta = JSON.parse(st.metadata.case) as { dataset: string; configuration: string; shape_before_cropping: number[]; bbox: [number, number][] };
    const read = (f: string) => JSON.parse(readFileSync(`${NETS}/${meta.dataset}/${f}`, 'utf8'));
    const config = nnunetConfig(read('plans.json'), read('dataset.json'), meta.configuration);
    const shape = st.tensors.get('logits')!.shape;
    const got = exportPrediction(
      { data: st.getF32('logits'), shape },
      config,
      { spacing: [1, 1, 1], shapeAfterCropping: shape.slice(1), shapeBeforeCropping: meta.shape_before_cropping, bbox: meta.bbox },
      { probabilities: true },
    );
    const seg = st.getF32('segmentation');
    assert.equal(got.shape, st.tensors.get('segmentation')!.shape);
    let same = 0;
    for (let i = 0; i < seg.length; i++) if (got.segmentation[i] === seg[i]) same++;
    const probs = st.getF32('probabilities');
    let worst = 0;
    for (let i = 0; i < probs.length; i++) worst = Math.max(worst, Math.abs(got.probabilities![i] - probs[i]));
    console.log(`  ${name}: labels equal on ${same} / ${seg.length}, max |Δp| ${worst.toExponential(2)}`);
    assert.ok(same >= 0.999 * seg.length, `${name}: labels equal on ${same} of ${seg.length}`);
    assert.ok(worst <= 1e-6, `${name}: probabilities differ by ${worst}`);
  });
}

Export.run();
