// The demo page's worker (bundled by web/build.ts into dist/web/worker.js): it owns the GPU device and the
// model, decodes the images (createImageBitmap + OffscreenCanvas), segments them at their full size, keeps
// the full-size results for the downloads and sends the page previews. The page stays responsive whatever
// the image size; every call can be cancelled (web/rpc.ts).
import { type Model, NoAdapterError, type RawImage, type SegmentResult, describeDevice, getDevice, loadModel } from '../src/index.js';
import { classColors, isMultiClass, legend } from '../src/io/classes.js';
import { describeNormalization } from '../src/io/preprocess.js';
import { profileSteps } from '../src/compiler/profile.js';
import { exceeds } from '../src/tiling/budget.js';
import { readImageFile } from './decode.js';
import { type ModelFile, readModelFiles } from './modelFiles.js';
import {
  type AdapterLine,
  type CostAt,
  type DownloadArgs,
  type FeatureLevel,
  type LayerTimes,
  type ModelSummary,
  type SegmentArgs,
  type Preview,
  type SegmentProgress,
  type SegmentSummary,
  GPU_BUDGET_BYTES,
  PREVIEW_SIDE,
} from './protocol.js';
import { type CallContext, Transfer, serve } from './rpc.js';
import { type Stored, downloadFile } from './downloads.js';
import { nnunetSettings } from '../src/arch/nnunet/index.js';
import { type NnunetFiles, nnunetZipFiles } from '../src/arch/nnunet/folder.js';
import type { NnunetConfig } from '../src/arch/nnunet/plans.js';
import { nnunetModelSource } from '../src/nnunetSource.js';
import type { NnunetSegmentResult } from '../src/nnunetSegment.js';
import { caseImage, segmentCase } from './nnunetPredict.js';
import type { CaseArgs, CaseProgress, CaseSummary, NnunetRequest, NnunetSummary, VolumeLabel } from './protocol.js';
import { playgroundHandlers, takeBuilt } from './playgroundWorker.js';

let device: GPUDevice | undefined;
let model: Model | undefined;
/** the loaded model's nnU-Net configuration, when it is an nnU-Net model (it then segments volumes only) */
let nnunet: { config: NnunetConfig; labels: VolumeLabel[] } | undefined;
/** the finished cases, by the page's key: what the download writes */
const cases = new Map<string, { name: string; result: NnunetSegmentResult }>();
const results = new Map<string, Stored>();
const compiledSizes = new Set<string>();
/** what the worker is doing, for the page's tests: the result being computed, runs ended by a cancel, and
 *  the most windows a cancelled run reported after its cancel (the run stops at its next window batch) */
const status = { running: null as string | null, cancelled: 0, windowsAfterCancel: 0 };
/** GPU work (loads, runs, profiles) one after another, so progress and cancellation mean something */
let gpuQueue: Promise<unknown> = Promise.resolve();

function onGpu<T>(signal: AbortSignal, f: () => Promise<T>): Promise<T> {
  const run = gpuQueue.then(() => {
    signal.throwIfAborted();
    return f();
  });
  gpuQueue = run.catch(() => undefined);
  return run;
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|software|microsoft basic render/i;

/** Core WebGPU unless ?featureLevel= says otherwise, or the core adapter is a software fallback and a
 *  compatibility-mode one is not (Chromium on Linux with --use-webgpu-adapter=opengles offers both). */
async function openDevice(asked: FeatureLevel | undefined): Promise<GPUDevice> {
  if (asked) return getDevice({ featureLevel: asked });
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) throw new NoAdapterError('this browser does not expose WebGPU to workers (navigator.gpu is missing)');
  const isFallback = (a: GPUAdapter | null) => a?.info.isFallbackAdapter ?? false;
  const core = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (core && !isFallback(core)) return getDevice();
  const compat = await gpu.requestAdapter({ powerPreference: 'high-performance', featureLevel: 'compatibility' } as GPURequestAdapterOptions);
  if (compat && (!core || !isFallback(compat))) return getDevice({ featureLevel: 'compatibility' });
  return getDevice();
}

async function init({ featureLevel }: { featureLevel?: FeatureLevel }): Promise<AdapterLine> {
  device = await openDevice(featureLevel);
  const a = describeDevice(device);
  const name = [a.vendor, a.architecture, a.description].filter(Boolean).join(' · ');
  const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  return {
    name,
    // Core devices have 'core-features-and-limits'; a compatibility-mode adapter lacks it.
    featureLevel: a.features.includes('core-features-and-limits') ? 'core' : 'compatibility',
    software: SOFTWARE.test(name) || (info as GPUAdapterInfo & { isFallbackAdapter?: boolean })?.isFallbackAdapter === true,
    features: ['shader-f16', 'subgroups', 'timestamp-query'].filter((f) => device!.features.has(f)),
    limits: { maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize, maxBufferSize: device.limits.maxBufferSize },
  };
}

function needDevice(): GPUDevice {
  if (!device) throw new Error('WebGPU is not available here: nothing can run');
  return device;
}

function needModel(): Model {
  if (!model) throw new Error('no model is loaded: load one first');
  return model;
}

// --- model --------------------------------------------------------------------------------------------

/** a URL, dropped files, or the model the playground built (its configuration key: web/playgroundState.ts) */
type ModelRequest = { url: string } | { files: { name: string; path: string; blob: Blob }[] } | { playground: string; name: string };

async function setModel(req: ModelRequest, ctx: CallContext): Promise<ModelSummary> {
  const d = needDevice();
  if ('playground' in req)
    return onGpu(ctx.signal, async () => {
      const next = takeBuilt(req.playground);
      model?.dispose();
      model = next;
      nnunet = undefined;
      compiledSizes.clear();
      return summary(next, req.name, [
        "built by the playground: its weights are random (or an encoder's without a trained decoder), so its masks show the engine at work, not a segmentation",
      ]);
    });
  const files: ModelFile[] =
    'url' in req
      ? [{ name: req.url.split('/').pop()!, path: req.url, bytes: async () => fetchBytes(req.url, ctx.signal) }]
      : req.files.map((f) => ({ name: f.name, path: f.path, bytes: async () => new Uint8Array(await f.blob.arrayBuffer()) }));
  const read = await readModelFiles(files);
  ctx.signal.throwIfAborted();
  return onGpu(ctx.signal, async () => {
    const next = await loadModel(d, {
      weights: read.weights,
      config: read.config,
      name: read.name,
      ...(read.configName ? { configName: read.configName } : {}),
    });
    model?.dispose();
    model = next;
    nnunet = undefined;
    compiledSizes.clear();
    return summary(next, read.name, read.notes);
  });
}

async function fetchBytes(url: string, signal: AbortSignal): Promise<Uint8Array> {
  const r = await fetch(url, { signal });
  if (!r.ok) throw new Error(`${url.split('/').pop()}: could not be fetched (HTTP ${r.status} ${r.statusText})`);
  return new Uint8Array(await r.arrayBuffer());
}

function summary(m: Model, name: string, notes: string[]): ModelSummary {
  const i = m.info;
  const multi = isMultiClass(i);
  // as model.segment converts them (src/io/preprocess.ts channelPlanes)
  const channels =
    i.inChannels === 3
      ? 'RGB (a gray image repeated into 3 channels)'
      : i.inChannels === 1
        ? 'gray (an RGB image becomes its luma, 0.299 R + 0.587 G + 0.114 B)'
        : `${i.inChannels} channels (images with other channel counts are refused)`;
  return {
    ...i,
    name,
    notes,
    multiClass: multi,
    preprocessingText: `${channels}; ${describeNormalization(i.preprocessing)}`,
    classColors: multi ? classColors(i.classes) : [],
    // tools/make_fixtures.py and make_smp_fixtures.py sign their files: random-weight test models
    randomWeights: /make_(smp_)?fixtures\.py/.test(i.metadata.script ?? ''),
    canProfile: m.device.features.has('timestamp-query'),
  };
}

/** GFLOP are counted on a plan of this size and scaled by the pixels. */
const FLOP_SIDE = 256;

function costAt({ width, height }: { width: number; height: number }): CostAt {
  const m = needModel();
  const C = m.info.inChannels;
  const perPixel = m.plan([1, C, FLOP_SIDE, FLOP_SIDE]).steps.reduce((s, st) => s + st.flops, 0) / FLOP_SIDE ** 2;
  const e = m.estimate([1, C, height, width]);
  const why = exceeds(e, m.device.limits, GPU_BUDGET_BYTES);
  return { width, height, gflop: (perPixel * width * height) / 1e9, onePassBytes: e.totalBytes, ...(why ? { tiledBecause: why } : {}) };
}

async function profile({ width, height }: { width: number; height: number }, ctx: CallContext): Promise<LayerTimes> {
  const m = needModel();
  return onGpu(ctx.signal, async () => {
    const plan = m.plan([1, m.info.inChannels, height, width]);
    const r = await profileSteps(m.device, plan.steps);
    return { method: r.method, width, height, layers: r.times.map((t) => ({ label: t.label, detail: t.detail, ms: t.ms, gflop: t.flops / 1e9 })) };
  });
}

// --- nnU-Net ------------------------------------------------------------------------------------------

/** The dropped files as the listing src/arch/nnunet/folder.ts reads: each read() takes one Blob's bytes. */
function listing(req: Extract<NnunetRequest, { files: unknown }>): NnunetFiles {
  const byPath = new Map(req.files.map((f) => [f.path, f.blob]));
  return {
    source: req.source,
    paths: [...byPath.keys()],
    read: async (path) => {
      const blob = byPath.get(path);
      if (!blob) throw new Error(`${req.source}/${path} is missing`);
      return new Uint8Array(await blob.arrayBuffer());
    },
  };
}

/** dataset.json's labels with their colours (src/io/classes.ts, by label value), background first. */
function labelsOf(c: NnunetConfig): VolumeLabel[] {
  const entries = Object.entries(c.labels);
  const named: { value: number; name: string }[] = [];
  if (c.regions) {
    // a region model writes regions_class_order's value where the region wins; its name is dataset.json's key
    named.push({ value: 0, name: entries.find(([, v]) => v === 0)?.[0] ?? 'background' });
    const regions = entries.filter(([, v]) => v !== 0);
    regions.forEach(([k], i) => named.push({ value: c.regionsClassOrder?.[i] ?? i + 1, name: k }));
  } else {
    for (const [k, v] of entries) if (typeof v === 'number' && v !== c.ignoreLabel) named.push({ value: v, name: k });
    named.sort((a, b) => a.value - b.value);
  }
  const colors = classColors(Math.max(...named.map((l) => l.value)) + 1);
  return named.map((l) => ({ ...l, rgb: colors[l.value].rgb }));
}

async function setNnunet(req: NnunetRequest, ctx: CallContext): Promise<NnunetSummary> {
  const d = needDevice();
  const files = 'zip' in req ? nnunetZipFiles(new Uint8Array(await req.zip.arrayBuffer()), req.source) : listing(req);
  const source = await nnunetModelSource(files);
  ctx.signal.throwIfAborted();
  return onGpu(ctx.signal, async () => {
    const next = await loadModel(d, { weights: source.weights, config: source.config, name: source.name });
    const config = nnunetSettings(source.config, source.name);
    model?.dispose();
    model = next;
    compiledSizes.clear();
    nnunet = { config, labels: labelsOf(config) };
    const c = source.config.nnunet;
    return {
      name: source.name,
      title: next.info.title,
      configuration: config.configuration,
      channels: config.channelNames,
      labels: nnunet.labels,
      regions: config.regions !== undefined,
      patchSize: config.patchSize,
      spacing: config.spacing,
      folds: c.folds,
      mirroringAxes: c.mirroringAxes ?? null,
      parameters: next.info.parameters,
      notes: source.notes,
    };
  });
}

async function runCase(args: CaseArgs, ctx: CallContext): Promise<Transfer<CaseSummary>> {
  const m = needModel();
  if (!nnunet) throw new Error(`${args.name}: the loaded model is not an nnU-Net model: drop an nnU-Net results folder (or its zip) first`);
  const { labels } = nnunet;
  ctx.progress({ phase: 'reading' } satisfies CaseProgress);
  const t0 = performance.now();
  const channels: Uint8Array[] = [];
  for (const f of args.files) channels.push(new Uint8Array(await f.blob.arrayBuffer()));
  ctx.signal.throwIfAborted();
  let image: CaseProgress & { phase: 'read' };
  try {
    image = { phase: 'read', image: caseImage(channels[0]).image };
  } catch (e) {
    throw new Error(`${args.files[0].name}: ${(e as Error).message}`);
  }
  ctx.progress(image, [image.image.gray.buffer as ArrayBuffer]);
  return onGpu(ctx.signal, async () => {
    status.running = args.key;
    let [done, doneAtCancel] = [0, 0];
    ctx.signal.addEventListener('abort', () => (doneAtCancel = done), { once: true });
    try {
      const result = await segmentCase(m, channels, {
        stepSize: args.stepSize,
        mirroring: args.mirroring,
        signal: ctx.signal,
        onProgress: (p) => {
          done = p.done;
          if (ctx.signal.aborted) status.windowsAfterCancel = Math.max(status.windowsAfterCancel, done - doneAtCancel);
          ctx.progress({ phase: 'running', done: p.done, total: p.total } satisfies CaseProgress);
        },
      });
      cases.set(args.key, { name: args.name, result });
      const counts = new Map<number, number>();
      for (const v of result.labels) counts.set(v, (counts.get(v) ?? 0) + 1);
      const out: CaseSummary = {
        labels: result.labels.slice(),
        shape: result.shape,
        counts: labels.map((l) => ({ value: l.value, voxels: counts.get(l.value) ?? 0 })),
        timings: result.timings,
        windows: result.windows,
        runMs: performance.now() - t0,
      };
      return new Transfer(out, [out.labels.buffer as ArrayBuffer]);
    } catch (e) {
      if (ctx.signal.aborted) status.cancelled++;
      throw e;
    } finally {
      status.running = null;
    }
  });
}

/** <case>.nii.gz, as nnUNetv2_predict names it: the labels with the first channel's header. */
function downloadCase({ key }: { key: string }): Transfer<{ name: string; bytes: Uint8Array }> {
  const c = cases.get(key);
  if (!c) throw new Error('this result is gone (cleared, or the page was reloaded): run the case again');
  const bytes = c.result.nifti();
  return new Transfer({ name: `${c.name}.nii.gz`, bytes }, [bytes.buffer as ArrayBuffer]);
}

// --- images -------------------------------------------------------------------------------------------

async function segment({ file, name, key, tile }: SegmentArgs, ctx: CallContext): Promise<Transfer<SegmentSummary>> {
  needDevice();
  if (nnunet) throw new Error(`${name}: the loaded model is an nnU-Net model, which segments NIfTI volumes (.nii, .nii.gz): load an image model for images`);
  ctx.progress({ phase: 'decoding' } satisfies SegmentProgress);
  const t0 = performance.now();
  const pixels = await readImageFile(file, name, ctx.signal);
  const decodeMs = performance.now() - t0;
  ctx.progress({ phase: 'decoded', preview: previewOf(pixels) } satisfies SegmentProgress);
  return onGpu(ctx.signal, async () => {
    status.running = key;
    try {
      const { summary, result } = await segmentNow(pixels, tile, ctx);
      results.set(key, { name, pixels, result });
      const p = summary.preview;
      return new Transfer({ ...summary, decodeMs }, [p.image.buffer, p.probabilities.buffer, p.mask.buffer] as Transferable[]);
    } catch (e) {
      if (ctx.signal.aborted) status.cancelled++;
      throw e;
    } finally {
      status.running = null;
    }
  });
}

async function segmentNow(pixels: RawImage, tile: SegmentArgs['tile'], ctx: CallContext) {
  const { width, height } = pixels;
  const m = needModel();
  const report = (done: number, total: number) => ctx.progress({ phase: 'running', width, height, done, total } satisfies SegmentProgress);
  report(0, 1);
  let [done, doneAtCancel] = [0, 0];
  ctx.signal.addEventListener('abort', () => (doneAtCancel = done), { once: true });
  const t1 = performance.now();
  const result = await m.segment(pixels, {
    tile: tile === 'auto' ? { memoryBudgetBytes: GPU_BUDGET_BYTES } : { roi: tile },
    onProgress: (p) => {
      done = p.done;
      if (ctx.signal.aborted) status.windowsAfterCancel = Math.max(status.windowsAfterCancel, done - doneAtCancel);
      report(p.done, p.total);
    },
    signal: ctx.signal, // the run stops at its next window batch; the model's queue waits for it
  });
  const runMs = performance.now() - t1;
  const sizeKey = `${width}x${height}`;
  const firstOfSize = !compiledSizes.has(sizeKey);
  compiledSizes.add(sizeKey);
  const t = result.tiling;
  const summary: Omit<SegmentSummary, 'decodeMs'> = {
    width,
    height,
    classes: result.classes,
    kind: result.kind,
    preview: previewOf(pixels, result),
    ...(result.kind === 'classes' ? { legend: legend(result.mask, result.classes) } : {}),
    notes: result.notes,
    runMs,
    firstOfSize,
    ...(t ? { tiling: { roi: t.roi, windows: t.windows, batch: t.batch, warning: t.warning } } : {}),
  };
  return { summary, result };
}

/** The nearest full-size pixel of each preview pixel, so the page never holds more than PREVIEW_SIDE² of
 *  them: of the image, and of the result when there is one. */
function previewOf(pixels: RawImage): Preview;
function previewOf(pixels: RawImage, r: SegmentResult): SegmentSummary['preview'];
function previewOf(pixels: RawImage, r?: SegmentResult): Preview | SegmentSummary['preview'] {
  const { width: W, height: H, channels } = pixels;
  const scale = Math.min(1, PREVIEW_SIDE / Math.max(W, H));
  const [w, h] = [Math.max(1, Math.round(W * scale)), Math.max(1, Math.round(H * scale))];
  const image = new Uint8ClampedArray(w * h * 4);
  const classes = r?.classes ?? 0;
  const probabilities = new Float32Array(classes * w * h);
  const mask = new Uint8Array(r ? w * h : 0);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(H - 1, Math.floor(((y + 0.5) * H) / h));
    for (let x = 0; x < w; x++) {
      const sx = Math.min(W - 1, Math.floor(((x + 0.5) * W) / w));
      const [i, j] = [y * w + x, sy * W + sx];
      for (let k = 0; k < 3; k++) image[4 * i + k] = pixels.data[channels === 1 ? j : channels * j + k];
      image[4 * i + 3] = 255;
      if (!r) continue;
      for (let c = 0; c < classes; c++) probabilities[c * w * h + i] = r.probabilities[c * W * H + j];
      mask[i] = r.mask[j];
    }
  }
  return r ? { width: w, height: h, image, probabilities, mask } : { width: w, height: h, image };
}

async function download(args: DownloadArgs): Promise<Transfer<{ name: string; bytes: Uint8Array }>> {
  const r = results.get(args.key);
  if (!r) throw new Error('this result is gone (cleared, or the page was reloaded): run the image again');
  const file = downloadFile(r, args);
  return new Transfer(file, [file.bytes.buffer as ArrayBuffer]);
}

serve(self as unknown as Parameters<typeof serve>[0], {
  ...playgroundHandlers({ device: needDevice, onGpu, appModel: () => (nnunet ? undefined : model) }),
  init,
  setModel,
  costAt,
  profile,
  segment,
  download,
  setNnunet,
  runCase,
  downloadCase,
  forget: ({ keys }: { keys: string[] }) =>
    void keys.forEach((k) => {
      results.delete(k);
      cases.delete(k);
    }),
  status: () => status,
  // answers when the device is lost (a driver reset, a GPU process crash), so the page can say so
  lost: async () => {
    const info = await needDevice().lost;
    return `${info.reason}${info.message ? `: ${info.message}` : ''}`;
  },
});
