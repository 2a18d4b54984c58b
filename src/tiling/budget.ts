// Deciding whether an input runs in one pass or in sliding windows, by numbers: the memory a compiled
// plan would take (its activation arena from the same liveness planner compilePlan uses, plus the NCHW
// input, output and readback buffers) against the device's limits and the caller's budget. Nothing is
// allocated to find out.
// Browser-safe: no Node imports.
import { type Graph, type Shape, positions } from '../ir/graph.js';
import { memoryPlanOf } from '../compiler/plan.js';
import type { Tuning } from '../compiler/tuning.js';
import type { SlidingWindowSettings } from './sliding.js';
import { type Blend, windowStarts } from './windows.js';
import { InputError, UnsupportedError, didYouMean } from '../errors.js';
import { shownValue } from '../limits.js';

export interface TileOptions {
  /** window size (H and W, or one number for both); default: the largest of 512, 384, 256, ... that
   *  fits the limits and the budget, clamped to the image */
  roi?: number | [number, number];
  /** fraction of a window shared with its neighbour, 0 <= overlap < 1 (default 0.25) */
  overlap?: number;
  /** how overlapping window outputs are blended (default 'gaussian') */
  blend?: Blend;
  /** gaussian sigma as a fraction of the roi (default 0.125) */
  sigmaScale?: number;
  /** windows per forward pass (default: up to 4, as many as fit) */
  batch?: number;
  /** most bytes one plan (activation arena + input, output and readback buffers) may take on the GPU;
   *  the weights (info.weightBytes) are not counted. Default: only the device's limits apply */
  memoryBudgetBytes?: number;
  /** 'auto': tile only when the whole input does not fit (limits or budget); 'always': tile. Default
   *  'always' when roi is given, else 'auto' */
  mode?: 'auto' | 'always';
}

export interface DeviceLimits {
  /** no longer decides one pass against windows (layers past it run in bands); kept for callers */
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  minStorageBufferOffsetAlignment: number;
}

export interface PlanEstimate {
  /** NCHW input shape, and the size it runs at after padding */
  shape: Shape;
  padded: [number, number];
  arenaBytes: number;
  /** the largest single activation (past the binding limit, the nodes touching it run in bands) */
  largestActivationBytes: number;
  /** the binding limit the estimate was made for, and the nodes that run in bands under it with their
   *  total band count (0 and 0: every binding fits, one plain pass) */
  bindingLimit: number;
  bandedNodes: number;
  bands: number;
  /** why the plan cannot run at all (a single row past the binding limit even in a band of one row, a
   *  value past maxBufferSize), if so */
  unbandable?: string;
  inputBytes: number;
  /** output buffer; the readback buffer is as large again */
  outputBytes: number;
  /** arena + input + 2 x output (shape uniforms, a few KiB, excluded) */
  totalBytes: number;
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** What compilePlan would allocate for `shape` run at `padded` (its memory plan, reproduced), with the
 *  bands its nodes need under `bindingLimit` (default: none, every binding whole). */
export function estimatePlan(
  g: Graph,
  shape: Shape,
  padded: [number, number],
  f16: boolean,
  alignment: number,
  tuning?: Tuning,
  bindingLimit = Number.POSITIVE_INFINITY,
  /** the device's maxBufferSize: a larger arena is held in several buffers, a larger single value cannot be */
  maxBufferSize = Number.POSITIVE_INFINITY,
): PlanEstimate {
  // 3D inputs run unpadded: their size must already fit the network
  const runs = shape.length === 4 ? [shape[0], shape[1], padded[0], padded[1]] : shape;
  let planned: ReturnType<typeof memoryPlanOf>;
  let unbandable: string | undefined;
  try {
    planned = memoryPlanOf(g, runs, alignment, f16, tuning, bindingLimit, maxBufferSize);
  } catch (e) {
    if (!(e instanceof InputError) || (!Number.isFinite(bindingLimit) && !Number.isFinite(maxBufferSize))) throw e;
    // the memory figures without bands; the reason says why the bands do not work
    unbandable = e.message;
    planned = memoryPlanOf(g, runs, alignment, f16, tuning);
  }
  const { shapes, memory, bands } = planned;
  const out = shapes.get(g.output)!;
  const inputBytes = shape.reduce((a, b) => a * b, 4);
  // with padding the output is cropped back to the input's size
  const outputBytes = (shape.length === 4 ? positions(shape) : positions(out)) * out[1] * 4;
  let largest = 0;
  for (const a of memory.allocations.values()) largest = Math.max(largest, a.sizeBytes);
  return {
    shape,
    padded,
    arenaBytes: memory.arenaBytes,
    largestActivationBytes: largest,
    bindingLimit,
    bandedNodes: bands.size,
    bands: [...bands.values()].reduce((a, b) => a + b.length, 0),
    ...(unbandable ? { unbandable } : {}),
    inputBytes,
    outputBytes,
    totalBytes: memory.arenaBytes + inputBytes + 2 * outputBytes,
  };
}

/** Why a plan of this estimate cannot run on these limits / within this budget; undefined if it can.
 *  Bindings past maxStorageBufferBindingSize are not a reason: those nodes run in bands. */
export function exceeds(e: PlanEstimate, limits: DeviceLimits, budget?: number): string | undefined {
  if (e.unbandable) return e.unbandable;
  // the arena may take several buffers (a single value past maxBufferSize is in `unbandable`)
  const max = limits.maxBufferSize;
  if (e.inputBytes > max) return `the input buffer needs ${mib(e.inputBytes)}, more than maxBufferSize (${mib(max)})`;
  if (e.outputBytes > max) return `the output buffer needs ${mib(e.outputBytes)}, more than maxBufferSize (${mib(max)})`;
  if (budget !== undefined && e.totalBytes > budget) return `it needs ${mib(e.totalBytes)} of GPU memory, more than the budget of ${mib(budget)}`;
  return undefined;
}

export type TileSetting = 'auto' | false | TileOptions | undefined;

export type TilingDecision = { tiled: false; estimate: PlanEstimate } | { tiled: true; settings: SlidingWindowSettings; estimate: PlanEstimate; why: string };

const ROI_CANDIDATES = [1024, 768, 512, 384, 256, 192, 128, 96, 64, 48, 32, 16, 8, 4, 2, 1];
const DEFAULT_BATCH = 4;

/** A tile option the caller got wrong. */
function fail(msg: string): never {
  throw new InputError(`tile: ${msg}`);
}

const shown = (v: unknown) => shownValue(v);

/** The tile options, checked, as a copy: a getter runs once, here (one that throws is an InputError). */
function checkOptions(tile: TileOptions): TileOptions {
  if (typeof tile !== 'object' || tile === null || Array.isArray(tile)) fail(`must be 'auto', false or an object of options, found ${shown(tile)}`);
  let t: TileOptions;
  try {
    t = { ...tile };
  } catch (e) {
    throw new InputError(`tile: its options cannot be read (${e instanceof Error ? e.message.split('\n')[0] : typeof e})`, { cause: e });
  }
  const known = ['roi', 'overlap', 'blend', 'sigmaScale', 'batch', 'memoryBudgetBytes', 'mode'];
  for (const k of Object.keys(t))
    if (!known.includes(k)) throw new UnsupportedError(`tile: unknown option ${shown(k)}${didYouMean(k, known)} (known: ${known.join(', ')})`);
  const posInt = (v: unknown) => Number.isSafeInteger(v) && (v as number) > 0;
  if (t.roi !== undefined && !(posInt(t.roi) || (Array.isArray(t.roi) && t.roi.length === 2 && t.roi.every(posInt)))) {
    fail(`roi must be a positive integer or [h, w] of them, found ${shown(t.roi)}`);
  }
  if (t.overlap !== undefined && !(typeof t.overlap === 'number' && t.overlap >= 0 && t.overlap < 1))
    fail(`overlap must be a number with 0 <= overlap < 1, found ${shown(t.overlap)}`);
  if (t.blend !== undefined && t.blend !== 'constant' && t.blend !== 'gaussian') fail(`blend must be 'constant' or 'gaussian', found ${shown(t.blend)}`);
  if (t.sigmaScale !== undefined && !(typeof t.sigmaScale === 'number' && t.sigmaScale > 0 && Number.isFinite(t.sigmaScale)))
    fail(`sigmaScale must be a positive number, found ${shown(t.sigmaScale)}`);
  if (t.batch !== undefined && !posInt(t.batch)) fail(`batch must be a positive integer, found ${shown(t.batch)}`);
  if (t.memoryBudgetBytes !== undefined && !(typeof t.memoryBudgetBytes === 'number' && t.memoryBudgetBytes > 0 && !Number.isNaN(t.memoryBudgetBytes)))
    fail(`memoryBudgetBytes must be a positive number, found ${shown(t.memoryBudgetBytes)}`);
  if (t.mode !== undefined && t.mode !== 'auto' && t.mode !== 'always') fail(`mode must be 'auto' or 'always', found ${shown(t.mode)}`);
  return t;
}

/**
 * One pass or windows for input `shape`. `estimate(shape)` is the plan estimate of a shape (padded as the
 * model pads it). Windows: the requested roi and batch, or the largest roi (then batch) that fits.
 */
export function decideTiling(
  shape: Shape,
  tile: TileSetting,
  estimate: (s: Shape) => PlanEstimate,
  limits: DeviceLimits,
  sizeMultiple: number,
): TilingDecision {
  const whole = estimate(shape);
  if (shape.length === 5) {
    // 3D volumes run in one pass here; nnU-Net's predictor runs them in its own Gaussian windows
    const why = exceeds(whole, limits, tile && tile !== 'auto' ? checkOptions(tile).memoryBudgetBytes : undefined);
    if (why) throw new UnsupportedError(`input [${shape}] does not fit one pass: ${why}; 3D inputs run in one pass (use a smaller volume)`);
    return { tiled: false, estimate: whole };
  }
  if (tile === false) {
    const why = exceeds(whole, limits);
    if (why) throw new UnsupportedError(`input [${shape}] does not fit one pass: ${why}; run it in tiles (tile: 'auto')`);
    return { tiled: false, estimate: whole };
  }
  const t = checkOptions(tile === undefined || tile === 'auto' ? {} : tile);
  const budget = t.memoryBudgetBytes;
  const mode = t.mode ?? (t.roi !== undefined ? 'always' : 'auto');
  const why = exceeds(whole, limits, budget);
  if (mode === 'auto' && !why) return { tiled: false, estimate: whole };

  const [N, C, H, W] = shape;
  const overlap = t.overlap ?? 0.25;
  const blend = t.blend ?? 'gaussian';
  const sigmaScale = t.sigmaScale ?? 0.125;
  const rois: [number, number][] =
    t.roi !== undefined
      ? [typeof t.roi === 'number' ? [t.roi, t.roi] : [t.roi[0], t.roi[1]]]
      : ROI_CANDIDATES.filter((r) => r % sizeMultiple === 0 || r < sizeMultiple).map((r) => [r, r]);
  let smallest: { roi: [number, number]; batch: number; why: string } | undefined;
  for (const r of rois) {
    const roi: [number, number] = [Math.min(r[0], H), Math.min(r[1], W)];
    const windows = N * windowCount(H, roi[0], overlap) * windowCount(W, roi[1], overlap);
    const batches = t.batch !== undefined ? [t.batch] : [DEFAULT_BATCH, 3, 2, 1];
    for (const b of batches) {
      // as few passes as batches of b need, with the windows spread evenly over them (a last, partial
      // batch is padded with blank windows: 9 windows at up to 4 run as 3 x 3, not 4 + 4 + 1 + 3 blank)
      const batch = t.batch !== undefined ? Math.min(b, windows) : Math.ceil(windows / Math.ceil(windows / b));
      const e = estimate([batch, C, roi[0], roi[1]]);
      const over = exceeds(e, limits, budget);
      if (!over) {
        return { tiled: true, settings: { roi, overlap, blend, sigmaScale, batch }, estimate: e, why: why ?? 'tiles requested' };
      }
      smallest = { roi, batch, why: over };
    }
  }
  const s = smallest!;
  throw new UnsupportedError(
    `tile: input [${shape}] does not fit one pass (${why ?? 'tiles requested'}), and windows of ${s.roi.join('x')} in batches of ${s.batch} do not fit either: ${s.why}`,
  );
}

const windowCount = (size: number, roi: number, overlap: number) => windowStarts(size, roi, overlap).length;
