// One banded-vs-whole case for the layer tests in this folder: the graph a case builds is compiled once as
// one pass and once under a binding limit that is a fraction of its largest value, the nodes it names must
// run in several bands, and the two outputs must match bit for bit.
import * as assert from 'uvu/assert';
import { GraphBuilder, type Graph, type Shape, type ValueId } from '../../src/ir/graph.js';
import type { ConvNdParams } from '../../src/ir/params.js';
import { optimize } from '../../src/compiler/passes/index.js';
import { memoryPlanOf } from '../../src/compiler/plan.js';
import { tuningFor } from '../../src/compiler/tuning.js';
import { adapterOf } from '../../src/gpu/device.js';
import { randArray, rng } from '../helpers.js';
import { bandedVsWhole, firstBitDifference } from './run.js';

export const numel = (s: Shape): number => s.reduce((a, b) => a * b, 1);

export interface BandedCase {
  name: string;
  /** the input shape, [N, C, H, W] or [N, C, D, H, W] */
  shape: Shape;
  build(b: GraphBuilder, x: ValueId): ValueId;
  /** nodes of the optimized graph that must run in more than one band */
  banded: string[];
  /** the binding limit as a fraction of the largest value's bytes (default 1/5) */
  fraction?: number;
}

/** Random conv weights [out, in, ...kernel] (or [in, out, ...kernel] for a transposed conv) and a bias of
 *  `biasChannels`, scaled so sums of many taps stay near 1. */
export function convParams(seed: number, shape: number[], biasChannels: number): ConvNdParams {
  const r = rng(seed);
  const fanIn = numel(shape) / biasChannels;
  const scale = 1 / Math.sqrt(fanIn);
  return { weight: randArray(r, numel(shape), -scale, scale), shape, bias: randArray(r, biasChannels, -0.5, 0.5) };
}

/**
 * Runs case `c` (seeded by `seed`) in f32 or f16 storage and asserts: its `banded` nodes run in more than
 * one band under the limit, the one-pass output is not all zeros, and the banded output has the same bits.
 * Returns how many nodes ran in bands.
 */
export async function checkBanded(device: GPUDevice, c: BandedCase, seed: number, f16: boolean): Promise<number> {
  const name = `${c.name} [${c.shape}]${f16 ? ' f16' : ''}`;
  const b = new GraphBuilder();
  const x = b.value('input', c.shape[1]);
  const g: Graph = b.finish(x, c.build(b, x));
  const tuning = tuningFor(device, adapterOf(device));
  const alignment = device.limits.minStorageBufferOffsetAlignment;
  // the limit: a fraction of the largest value (NHWC4 storage), so the named nodes run in several bands
  const opt = optimize(g);
  const { shapes } = memoryPlanOf(opt, c.shape, alignment, f16, tuning);
  const vec4Bytes = f16 ? 8 : 16;
  const largest = Math.max(...[...shapes.values()].map((s) => (numel(s) / s[1]) * Math.ceil(s[1] / 4) * vec4Bytes));
  const bindingLimit = Math.max(256, Math.floor(largest * (c.fraction ?? 1 / 5)));
  const { bands } = memoryPlanOf(opt, c.shape, alignment, f16, tuning, bindingLimit);
  for (const n of c.banded) assert.ok((bands.get(n)?.length ?? 0) > 1, `${name}: ${n} runs in bands (banded: ${[...bands.keys()].join(', ')})`);

  const input = randArray(rng(seed), numel(c.shape), -2, 2);
  const r = await bandedVsWhole(device, g, input, c.shape, { bindingLimit, f16, tuning });
  assert.is(r.bands, bands.size, `${name}: banded nodes`);
  assert.ok(r.bands > 0, `${name}: some node runs in bands`);
  assert.ok(
    r.whole.some((v) => v !== 0),
    `${name}: the one-pass output is not all zeros`,
  );
  const k = firstBitDifference(r.whole, r.banded);
  assert.is(k, -1, `${name}: banded differs from one pass at element ${k} of ${r.whole.length}: ${r.banded[k]} vs ${r.whole[k]}`);
  return r.bands;
}
