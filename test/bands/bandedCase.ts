// One banded-vs-whole case for the layer tests in this folder: the graph a case builds is compiled once as
// one pass and once under a binding limit that is a fraction of its largest value, the nodes it names must
// run in several bands, and the two outputs must match bit for bit (checkBanded; bandedSuite runs a list).
// Tests that choose their own limits or kernels (conv2d, winograd, reduce) share its pieces: graphOf,
// largestValueBytes, assertSameBits.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GraphBuilder, type Graph, type Shape, type ValueId } from '../../src/ir/graph.js';
import type { ConvNdParams } from '../../src/ir/params.js';
import { optimize } from '../../src/compiler/passes/index.js';
import { memoryPlanOf } from '../../src/compiler/plan.js';
import { tuningFor } from '../../src/compiler/tuning.js';
import { adapterOf } from '../../src/gpu/device.js';
import { randArray, rng, testDevice } from '../helpers.js';
import { skip } from '../skip.js';
import { type BandedRun, bandedVsWhole, firstBitDifference } from './run.js';

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
  /** the input's range (default: the run's, see BandedOptions) */
  range?: [number, number];
  /** f16 too (default true; false where some node of the optimized graph has no f16 kernel) */
  f16?: boolean;
}

/** How a folder's cases run (test/bands/elementwise.test.ts sets both). */
export interface BandedOptions {
  /** the input's range where a case names none (default [-2, 2]) */
  range?: [number, number];
  /** keep the limit under the NCHW input's and output's bytes too, so the plan converts those in rows order */
  underIo?: boolean;
}

/** Random conv weights [out, in, ...kernel] (or [in, out, ...kernel] for a transposed conv) and a bias of
 *  `biasChannels`, scaled so sums of many taps stay near 1. */
export function convParams(seed: number, shape: number[], biasChannels: number): ConvNdParams {
  const r = rng(seed);
  const fanIn = numel(shape) / biasChannels;
  const scale = 1 / Math.sqrt(fanIn);
  return { weight: randArray(r, numel(shape), -scale, scale), shape, bias: randArray(r, biasChannels, -0.5, 0.5) };
}

/** The graph a case builds on an input of its shape's channels. */
export function graphOf(c: Pick<BandedCase, 'shape' | 'build'>): Graph {
  const b = new GraphBuilder();
  const x = b.value('input', c.shape[1]);
  return b.finish(x, c.build(b, x));
}

/** Bytes of the largest of `shapes` in NHWC4 storage: what the tests' binding limits are fractions of. */
export function largestValueBytes(shapes: Iterable<Shape>, f16: boolean): number {
  const vec4Bytes = f16 ? 8 : 16;
  return Math.max(...[...shapes].map((s) => (numel(s) / s[1]) * Math.ceil(s[1] / 4) * vec4Bytes));
}

/** Asserts that the one-pass output is not all zeros and that the banded output has its bits; `what` names the run. */
export function assertSameBits(what: string, r: Pick<BandedRun, 'whole' | 'banded'>): void {
  assert.ok(
    r.whole.some((v) => v !== 0),
    `${what}: the one-pass output is not all zeros`,
  );
  const k = firstBitDifference(r.whole, r.banded);
  assert.is(k, -1, `${what}: banded differs from one pass at element ${k} of ${r.whole.length}: ${r.banded[k]} vs ${r.whole[k]}`);
}

/**
 * Runs case `c` (seeded by `seed`) in f32 or f16 storage and asserts: its `banded` nodes run in more than
 * one band under the limit, the one-pass output is not all zeros, and the banded output has the same bits.
 * Returns how many nodes ran in bands.
 */
export async function checkBanded(device: GPUDevice, c: BandedCase, seed: number, f16: boolean, o: BandedOptions = {}): Promise<number> {
  const name = `${c.name} [${c.shape}]${f16 ? ' f16' : ''}`;
  const g = graphOf(c);
  const tuning = tuningFor(device, adapterOf(device));
  const alignment = device.limits.minStorageBufferOffsetAlignment;
  // the limit: a fraction of the largest value (NHWC4 storage), so the named nodes run in several bands
  const opt = optimize(g);
  const { shapes } = memoryPlanOf(opt, c.shape, alignment, f16, tuning);
  let limit = largestValueBytes(shapes.values(), f16) * (c.fraction ?? 1 / 5);
  if (o.underIo) limit = Math.min(limit, Math.min(numel(c.shape), numel(shapes.get(opt.output)!)) * 4 * 0.9);
  const bindingLimit = Math.max(256, Math.floor(limit));
  const { bands } = memoryPlanOf(opt, c.shape, alignment, f16, tuning, bindingLimit);
  for (const n of c.banded) assert.ok((bands.get(n)?.length ?? 0) > 1, `${name}: ${n} runs in bands (banded: ${[...bands.keys()].join(', ')})`);

  const [lo, hi] = c.range ?? o.range ?? [-2, 2];
  const input = randArray(rng(seed), numel(c.shape), lo, hi);
  const r = await bandedVsWhole(device, g, input, c.shape, { bindingLimit, f16, tuning });
  assert.is(r.bands, bands.size, `${name}: banded nodes`);
  assert.ok(r.bands > 0, `${name}: some node runs in bands`);
  assertSameBits(name, r);
  return r.bands;
}

/** Runs `cases` as uvu suite `title`: each in f32 and (where it says f16 and the adapter has shader-f16)
 *  in f16, case i seeded by `seed + i`. */
export function bandedSuite(title: string, cases: readonly BandedCase[], seed: number, o: BandedOptions = {}): void {
  const Bands = suite<{ device: GPUDevice }>(title);
  Bands.before(async (ctx) => {
    ctx.device = await testDevice();
  });
  Bands.after((ctx) => ctx.device.destroy());

  for (const [i, c] of cases.entries()) {
    for (const f16 of c.f16 === false ? [false] : [false, true]) {
      const name = `${c.name} [${c.shape}]${f16 ? ' f16' : ''}`;
      Bands(name, async ({ device }) => {
        if (f16 && !device.features.has('shader-f16')) return skip(`${name}: the adapter has no shader-f16`);
        await checkBanded(device, c, seed + i, f16, o);
      });
    }
  }
  Bands.run();
}
