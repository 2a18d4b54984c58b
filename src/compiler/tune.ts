// Measured tuning: every candidate configuration of the conv kernels runs the model's real layers on
// this adapter, timed per layer (src/compiler/profile.ts), and each layer keeps its fastest. The result is
// cached per adapter (Platform.cache) so later loads on the same adapter use it without measuring.
import { platform } from '../gpu/platform.js';
import type { Graph, Shape } from '../ir/graph.js';
import { uploadParams } from './params.js';
import { compilePlan } from './plan.js';
import { profileSteps } from './profile.js';
import { type ConvTile, type TunedKernel, type Tuning, candidates, describeTile, fixedSubgroupSize } from './tuning.js';
import { isSoftwareAdapter } from '../gpu/device.js';
import { layerKey, withDef } from '../ops/index.js';
import { WINOGRAD4_MAX_LAYERS, convVariantOf, describeConvVariant, ruledTile, winograd4Fits, winogradLayers } from '../ops/convVariant.js';

export { WINOGRAD4_MAX_LAYERS, describeTile, winogradLayers };

/** `t` with every conv tile as the model-wide F(4x4,3x3) rule lets it run in `g` (ruledTile): the base
 *  `unet tune` measures from is then one of the candidates it offers. */
export function fitWinograd(t: Tuning, g: Graph): Tuning {
  if (winograd4Fits(g)) return t;
  const fit = (c: ConvTile): ConvTile => ruledTile(c, false);
  return { ...t, conv2d: fit(t.conv2d), layers: t.layers && Object.fromEntries(Object.entries(t.layers).map(([k, c]) => [k, fit(c)])) };
}

/** Bump when the candidates or the kernels they configure change meaning: older caches are then ignored. */
export const TUNING_FORMAT = 3;

export interface LayerResult {
  key: string;
  kernel: TunedKernel;
  /** ms of this layer (summed over the layers that share the key) for each candidate, in candidates() order */
  ms: number[];
  best: ConvTile;
  bestMs: number;
  /** ms with the configuration the tuning started from */
  baselineMs: number;
  /** what the layer runs as with `best` (src/ops/convVariant.ts): a Winograd tile runs a 1x1 conv direct */
  variant: string;
}

export interface TuneResult {
  tuning: Tuning;
  layers: LayerResult[];
  inputShape: Shape;
}

const sameTile = (a: ConvTile, b: ConvTile) =>
  a.tilePixels === b.tilePixels &&
  a.tileC4 === b.tileC4 &&
  a.workgroupSize === b.workgroupSize &&
  a.weights === b.weights &&
  (a.algo ?? 'direct') === (b.algo ?? 'direct');

/**
 * Times every candidate of both conv kernels on `g` (optimized) at `inputShape`, starting from `base`.
 * Each kernel's default becomes the candidate with the least total time; layers whose own best differs
 * get an entry in `layers`.
 */
export async function tuneGraph(
  device: GPUDevice,
  adapter: GPUAdapter | undefined,
  g: Graph,
  inputShape: Shape,
  base: Tuning,
  reps = 3,
  progress: (message: string) => void = () => {},
  candidatesOf: (kernel: TunedKernel, subgroupSize?: number, software?: boolean) => ConvTile[] = candidates,
  /** measure with f16 storage, as an f16 model runs */
  f16 = false,
): Promise<TuneResult> {
  const subgroupSize = fixedSubgroupSize(device, adapter);
  const tuning: Tuning = { ...base, layers: {} };
  const results: LayerResult[] = [];
  const kernelOf = (node: Graph['nodes'][number]) => withDef(node, (_op, def) => def.tuning?.kernel);
  const kernels = [...new Set(g.nodes.map(kernelOf).filter((k): k is TunedKernel => k !== undefined))];
  for (const kernel of kernels) {
    // only candidates the model-wide rule runs as they are (no F(4x4,3x3) in a model too deep for it)
    const fits = winograd4Fits(g);
    const cands = candidatesOf(kernel, subgroupSize, isSoftwareAdapter(device)).filter((c) => ruledTile(c, fits) === c);
    const perKey = new Map<string, number[]>();
    const nodeOf = new Map<string, Graph['nodes'][number]>();
    const runs: Tuning[] = [];
    for (const [i, cand] of cands.entries()) {
      progress(`${kernel} ${i + 1}/${cands.length}: ${describeTile(cand)}`);
      const t: Tuning = { ...base, layers: undefined, [kernel]: cand };
      runs.push(t);
      const params = uploadParams(device, g, t, f16);
      const plan = compilePlan(device, g, params, t, inputShape, undefined, f16);
      try {
        await plan.run(new Float32Array(inputShape.reduce((a, b) => a * b, 1))); // compiles
        const { times } = await profileSteps(device, plan.steps, reps);
        for (const node of g.nodes) {
          const key = layerKey(g, node);
          if (!key || kernelOf(node) !== kernel) continue;
          // a node's steps are labelled with its name, then a space and the part (winograd's three steps)
          const ms = times.filter((s) => s.label === node.name || s.label.startsWith(node.name + ' ')).reduce((a, s) => a + s.ms, 0);
          const row = perKey.get(key) ?? new Array(cands.length).fill(0);
          row[i] += ms;
          perKey.set(key, row);
          if (!nodeOf.has(key)) nodeOf.set(key, node);
        }
      } finally {
        plan.dispose();
        params.destroy();
      }
    }
    const totals = cands.map((_, i) => [...perKey.values()].reduce((s, row) => s + row[i], 0));
    const bestTotal = totals.indexOf(Math.min(...totals));
    tuning[kernel] = cands[bestTotal];
    const baseIndex = cands.findIndex((c) => sameTile(c, base[kernel]));
    for (const [key, ms] of perKey) {
      const best = ms.indexOf(Math.min(...ms));
      if (best !== bestTotal) tuning.layers![key] = cands[best];
      const node = nodeOf.get(key)!;
      const variant = node.op.kind === 'conv2d' ? describeConvVariant(convVariantOf(g, node, runs[best], f16)) : describeTile(cands[best]);
      results.push({ key, kernel, ms, best: cands[best], bestMs: ms[best], baselineMs: baseIndex >= 0 ? ms[baseIndex] : NaN, variant });
    }
  }
  return { tuning, layers: results, inputShape };
}

/** Cache entry name for an adapter: its identity, so another GPU or driver never reads this one's. */
export function tuningCacheName(adapter: GPUAdapter | undefined): string {
  const i = adapter?.info;
  const id = [i?.vendor, i?.architecture, i?.device, i?.description].join('|');
  let h = 2166136261;
  for (let k = 0; k < id.length; k++) h = Math.imul(h ^ id.charCodeAt(k), 16777619) >>> 0;
  return `tuning-v${TUNING_FORMAT}-${h.toString(16).padStart(8, '0')}.json`;
}

interface CacheEntry {
  format: number;
  adapter: string;
  /** per model architecture: layer keys differ between models */
  tunings: Record<string, Tuning>;
}

/** The cached tuning for this adapter and model architecture, if `unet tune` stored one. */
export async function cachedTuning(adapter: GPUAdapter | undefined, architecture: string): Promise<Tuning | undefined> {
  const text = await platform().cache?.read(tuningCacheName(adapter));
  if (!text) return undefined;
  try {
    const entry = JSON.parse(text) as CacheEntry;
    return entry.format === TUNING_FORMAT ? entry.tunings?.[architecture] : undefined;
  } catch {
    return undefined; // a damaged entry is ignored, and replaced by the next `unet tune`
  }
}

/** Stores a tuning for this adapter and architecture; returns where it went. */
export async function storeTuning(adapter: GPUAdapter | undefined, architecture: string, tuning: Tuning): Promise<string | undefined> {
  const cache = platform().cache;
  if (!cache) return undefined;
  const name = tuningCacheName(adapter);
  let entry: CacheEntry = { format: TUNING_FORMAT, adapter: adapter?.info.description ?? '', tunings: {} };
  try {
    const old = JSON.parse((await cache.read(name)) ?? '') as CacheEntry;
    if (old.format === TUNING_FORMAT) entry = { ...old, tunings: { ...old.tunings } };
  } catch {
    // no entry yet, or a damaged one: start afresh
  }
  entry.tunings[architecture] = tuning;
  return cache.write(name, JSON.stringify(entry, null, 1));
}
