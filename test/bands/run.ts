// Banded against whole: the same optimized graph compiled twice, once as one pass and once under a small
// binding limit that makes nodes run in bands (src/compiler/bands.ts), for the bit-for-bit tests.
import type { Graph, Shape } from '../../src/ir/graph.js';
import { uploadParams } from '../../src/compiler/params.js';
import { optimize } from '../../src/compiler/passes/index.js';
import { compilePlan } from '../../src/compiler/plan.js';
import { type Tuning, tuningFor } from '../../src/compiler/tuning.js';
import { adapterOf } from '../../src/gpu/device.js';

export interface BandedRun {
  whole: Float32Array;
  banded: Float32Array;
  /** nodes that ran in more than one band under the limit */
  bands: number;
  /** dispatches of the banded plan that convert the input or output in bands (layout steps) */
  layoutBands: number;
  /** buffers the banded plan's activations took */
  arenaBuffers: number;
}

export async function bandedVsWhole(
  device: GPUDevice,
  g: Graph,
  input: Float32Array,
  shape: Shape,
  o: { bindingLimit: number; bufferLimit?: number; f16?: boolean; tuning?: Tuning },
): Promise<BandedRun> {
  const tuning = o.tuning ?? tuningFor(device, adapterOf(device));
  const f16 = o.f16 ?? false;
  const opt = optimize(g);
  const params = uploadParams(device, opt, tuning, f16);
  const whole = compilePlan(device, opt, params, tuning, shape, undefined, f16);
  try {
    const banded = compilePlan(device, opt, params, tuning, shape, undefined, f16, { bindingLimit: o.bindingLimit, bufferLimit: o.bufferLimit });
    try {
      const layoutBands = banded.steps.filter((s) => s.label === 'input' || s.label === 'output').length - 2;
      const arenaBuffers = Math.max(1, Math.ceil(banded.memory.arenaBytes / Math.min(o.bufferLimit ?? Number.POSITIVE_INFINITY, device.limits.maxBufferSize)));
      return { whole: await whole.run(input), banded: await banded.run(input), bands: banded.bands.size, layoutBands, arenaBuffers };
    } finally {
      banded.dispose();
    }
  } finally {
    whole.dispose();
    params.destroy();
  }
}

/** Index of the first element whose bits differ (-1: none), for messages. */
export function firstBitDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}
