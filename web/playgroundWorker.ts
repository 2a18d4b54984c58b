// The playground's side of the worker (web/worker.ts serves these methods): describe a configuration
// (no GPU), build it (src/playground.ts buildModel), time it at 256 / 512 / 1024 and per layer, export smp's
// config.json and the state_dict, and hand the built model to the app's cards. One model is kept, the last
// one built; it is built again only when the options or the weights change.
import {
  type Model,
  type ModelOptions,
  type ModelWeights,
  buildModel,
  checkModelOptions,
  defaultModelOptions,
  describeModel,
  modelOptionChoices,
  modelSafetensors,
  setModelOption,
  optionsOfModel,
  smpConfig,
  smpConfigJson,
} from '../src/index.js';
import { profileSteps } from '../src/compiler/profile.js';
import { exceeds } from '../src/tiling/budget.js';
import type { LayerTimes, MeasureProgress, PlaygroundBuilt, PlaygroundTimes, PlaygroundView, PlaygroundWeights, SizeTime } from './protocol.js';
import type { CallContext } from './rpc.js';

/** What the worker lends the playground: its device, its GPU queue (one piece of GPU work at a time) and the app's model. */
export interface WorkerEnv {
  device(): GPUDevice;
  onGpu<T>(signal: AbortSignal, f: () => Promise<T>): Promise<T>;
  appModel(): Model | undefined;
}

/** A size whose run took longer than this is the last one measured: the next (4× the pixels) would take minutes. */
const SLOW_RUN_MS = 8000;
/** Timed runs per size: at most this many, and no more once TIME_PER_SIZE_MS has passed (at least one). */
const MAX_RUNS = 5;
const TIME_PER_SIZE_MS = 4000;
/** per-layer times at no more than this size (a software adapter takes seconds a layer beyond it) */
const PROFILE_MAX_SIDE = 512;

let built: { key: string; model: Model; summary: PlaygroundBuilt } | undefined;
/** the last URL fetched for an encoder, so a rebuild with another seed or an export does not fetch it again */
let fetched: { url: string; bytes: Uint8Array } | undefined;

/** The options the page sent, completed from the architecture's defaults (a link may name only some). When
 *  one field just changed, the fields that follow it come along (setModelOption: a new depth resizes smp's
 *  decoder channels, a new architecture starts from its defaults). */
export function completeOptions(partial: Partial<ModelOptions>, change?: { field: keyof ModelOptions; previous: ModelOptions }): ModelOptions {
  if (change && partial[change.field] !== undefined)
    return setModelOption({ ...change.previous, ...partial, [change.field]: change.previous[change.field] }, change.field, partial[change.field]!);
  return { ...defaultModelOptions(partial.architecture ?? 'Unet'), ...partial };
}

export interface DescribeArgs {
  options: Partial<ModelOptions>;
  /** the field the person just changed, and the options before */
  change?: { field: keyof ModelOptions; previous: ModelOptions };
  /** pixels a side */
  size: number;
}

export function describe({ options, change, size }: DescribeArgs): PlaygroundView & { options: ModelOptions } {
  const o = completeOptions(options, change);
  const choices = modelOptionChoices(o);
  const problems: PlaygroundView['problems'] = checkModelOptions(o);
  if (!(Number.isSafeInteger(size) && size >= 1 && size <= 16384))
    problems.push({ field: 'size', message: `the input size must be a whole number from 1 to 16384, not ${size}` });
  if (problems.length) return { options: o, choices, problems };
  // smp's config.json exists for smp's classes only (not the brain U-Net, not nnU-Net)
  const config = o.architecture === 'Unet' || o.architecture === 'UnetPlusPlus' ? smpConfig(o) : undefined;
  return { options: o, choices, problems, description: describeModel(o, [size, size]), ...(config ? { config } : {}) };
}

async function weightsOf(w: PlaygroundWeights, signal: AbortSignal): Promise<ModelWeights> {
  if (w.kind === 'random') return { random: { seed: w.seed } };
  if (w.kind === 'file') return { encoder: { bytes: new Uint8Array(await w.blob.arrayBuffer()), name: w.name, seed: w.seed } };
  const name = decodeURIComponent(new URL(w.url).pathname.split('/').pop() || w.url);
  if (fetched?.url === w.url) return { encoder: { bytes: fetched.bytes, name, seed: w.seed } };
  let r: Response;
  try {
    r = await fetch(w.url, { signal });
  } catch (e) {
    if (signal.aborted) throw e;
    throw new Error(
      `${w.url}: could not be fetched (${(e as Error).message}; a server that does not allow other sites' pages (CORS) cannot be read from here: download the file and choose it instead)`,
    );
  }
  if (!r.ok) throw new Error(`${w.url}: could not be fetched (HTTP ${r.status} ${r.statusText})`);
  fetched = { url: w.url, bytes: new Uint8Array(await r.arrayBuffer()) };
  return { encoder: { bytes: fetched.bytes, name, seed: w.seed } };
}

const weightsLabel = (w: PlaygroundWeights) =>
  w.kind === 'random' ? `random (seed ${w.seed})` : `${w.kind === 'file' ? w.name : w.url} encoder, random decoder (seed ${w.seed})`;

/** The model for `key`, built now unless it is the one kept. Runs on the GPU queue's turn. */
async function ensureBuilt(env: WorkerEnv, args: BuildArgs, ctx: CallContext): Promise<{ model: Model; summary: PlaygroundBuilt }> {
  if (built?.key === args.key) return built;
  const o = completeOptions(args.options);
  ctx.progress({ phase: 'building' } satisfies MeasureProgress);
  const weights = await weightsOf(args.weights, ctx.signal);
  const t0 = performance.now();
  const model = await buildModel(env.device(), o, { weights });
  built?.model.dispose();
  const i = model.info;
  const summary: PlaygroundBuilt = {
    key: args.key,
    title: i.title,
    parameters: i.parameters,
    buffers: i.buffers,
    weightBytes: i.weightBytes,
    weights: weightsLabel(args.weights),
    buildMs: performance.now() - t0,
  };
  built = { key: args.key, model, summary };
  return built;
}

export interface BuildArgs {
  key: string;
  options: ModelOptions;
  weights: PlaygroundWeights;
}

/** Noise in [-1, 1) from a fixed seed: every measurement runs on the same input. */
function noise(n: number): Float32Array {
  const out = new Float32Array(n);
  let s = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function timeSizes(m: Model, sizes: number[], ctx: CallContext): Promise<SizeTime[]> {
  const C = m.info.inChannels;
  const out: SizeTime[] = [];
  let slow: { size: number; ms: number } | undefined;
  for (const size of [...sizes].sort((a, b) => a - b)) {
    const shape = [1, C, size, size];
    if (slow) {
      out.push({
        size,
        skipped: `not run: one run at ${slow.size}×${slow.size} took ${(slow.ms / 1000).toFixed(1)} s, and ${size}×${size} has ${((size / slow.size) ** 2).toFixed(0)}× the pixels`,
      });
      continue;
    }
    const why = exceeds(m.estimate(shape), m.device.limits);
    if (why) {
      out.push({ size, skipped: `does not fit this device in one pass: ${why}` });
      continue;
    }
    const input = { data: noise(C * size * size), shape };
    ctx.progress({ phase: 'compiling', size } satisfies MeasureProgress);
    // the first run compiles the plan for this size: not timed
    await m.run(input, { tile: false, signal: ctx.signal });
    const runs: number[] = [];
    const start = performance.now();
    while (runs.length < MAX_RUNS && (runs.length === 0 || performance.now() - start < TIME_PER_SIZE_MS)) {
      const t0 = performance.now();
      await m.run(input, { tile: false, signal: ctx.signal });
      runs.push(performance.now() - t0);
      ctx.progress({ phase: 'running', size, run: runs.length, ms: runs.at(-1)! } satisfies MeasureProgress);
    }
    const ms = median(runs);
    out.push({ size, ms, runs });
    if (ms > SLOW_RUN_MS) slow = { size, ms };
  }
  return out;
}

async function layerTimes(m: Model, sizes: SizeTime[]): Promise<Pick<PlaygroundTimes, 'layers' | 'layersNote'>> {
  if (!m.device.features.has('timestamp-query')) return { layersNote: 'This adapter has no timestamp queries: per-layer GPU times are not available here.' };
  const first = sizes.find((s) => s.ms !== undefined && s.size <= PROFILE_MAX_SIDE);
  if (!first) return { layersNote: `Per-layer GPU times are taken at ${PROFILE_MAX_SIDE}×${PROFILE_MAX_SIDE} or less: measure at such a size.` };
  const plan = m.plan([1, m.info.inChannels, first.size, first.size]);
  // one repetition when a run takes seconds (software adapters), the median of 3 otherwise
  const r = await profileSteps(m.device, plan.steps, first.ms! > 2000 ? 1 : 3);
  return {
    layers: {
      method: r.method,
      width: first.size,
      height: first.size,
      layers: r.times.map((t) => ({ label: t.label, detail: t.detail, ms: t.ms, gflop: t.flops / 1e9 })),
    } satisfies LayerTimes,
  };
}

/** The worker's playground methods. */
export function playgroundHandlers(env: WorkerEnv) {
  return {
    pgDescribe: describe,
    pgBuild: (args: BuildArgs, ctx: CallContext) => env.onGpu(ctx.signal, async () => (await ensureBuilt(env, args, ctx)).summary),
    pgMeasure: (args: BuildArgs & { sizes: number[] }, ctx: CallContext): Promise<PlaygroundTimes> =>
      env.onGpu(ctx.signal, async () => {
        const { model, summary } = await ensureBuilt(env, args, ctx);
        const sizes = await timeSizes(model, args.sizes, ctx);
        return { key: args.key, built: summary, sizes, ...(await layerTimes(model, sizes)) };
      }),
    /** config.json as smp's save_pretrained writes it; model.safetensors: the state_dict of these weights */
    pgExport: async (args: BuildArgs & { kind: 'config' | 'weights' }, ctx: CallContext) => {
      const o = completeOptions(args.options);
      if (args.kind === 'config') return { name: 'config.json', bytes: new TextEncoder().encode(smpConfigJson(o)) };
      const weights = await weightsOf(args.weights, ctx.signal);
      return { name: 'model.safetensors', bytes: modelSafetensors(o, weights) };
    },
    /** the app's model's options, for the form; why not, when it has none (an nnU-Net model) */
    pgFromModel: (): { options: ModelOptions; name: string } | { why: string } => {
      const m = env.appModel();
      if (!m) return { why: 'the app has no model loaded' };
      const options = optionsOfModel(m);
      return options ? { options, name: m.info.source } : { why: `${m.info.title} is not a model the playground builds` };
    },
  };
}

/** The built model for the app's cards (web/worker.ts setModel { playground }): the playground lets go of it. */
export function takeBuilt(key: string): Model {
  if (built?.key !== key) throw new Error('the playground has not built this configuration yet: build it first');
  const m = built.model;
  built = undefined;
  return m;
}
