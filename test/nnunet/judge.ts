// The nnU-Net predictor fixtures (tools/nnunet_predict.py, tools/nnunet_predict_png.py): a case's case.json and
// reference.safetensors, and how close our labels and probabilities come to what nnU-Net wrote.
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { type Safetensors, parseSafetensors } from '../../src/weights/safetensors.js';

/** case.json: how the script ran nnU-Net on the case. */
export interface CaseJson {
  results: string;
  folds: number[];
  use_mirroring: boolean;
  tile_step_size: number;
  channels: string[];
  checkpoint: string;
}

/** Readers for the cases under `dir`; `hint` (how to regenerate them) goes into their errors. */
export function fixtureCases(dir: string, hint: string) {
  return {
    caseJson: (name: string) => JSON.parse(readFileSync(`${dir}/${name}/case.json`, 'utf8')) as CaseJson,
    reference: (name: string) => parseSafetensors(readFileSync(`${dir}/${name}/reference.safetensors`), hint),
    int32(st: Safetensors, name: string): Int32Array {
      const t = st.tensors.get(name);
      assert.ok(t && t.dtype === 'I32', `${name}: expected an I32 tensor; ${hint}`);
      return new Int32Array(st.bytes.slice(t.byteOffset, t.byteOffset + t.byteLength).buffer);
    },
  };
}

/** The fraction of equal labels. */
export function agreement(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

/** max |a - b|; a NaN anywhere makes it infinite. */
export function maxAbs(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return Number.isNaN(m) ? Number.POSITIVE_INFINITY : m;
}
