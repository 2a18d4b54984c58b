// The demo page: load a U-Net, drop images, see probability heatmap and mask. Bundled by web/build.ts into
// dist/web/app.js. Everything runs in the page: images never leave the machine.
import { type AdapterSummary, type Model, NoAdapterError, describeDevice, getDevice, loadModel } from '../src/index.js';
import { type LegendEntry, classColors, classOverlay, classProbabilities, isMultiClass, legend, argmaxLabels, maskProbabilities } from '../src/io/classes.js';
import { type RgbaImage, channelOf, imageToTensor, maskFromProbabilities } from './preprocess.js';
import { VIRIDIS_CSS, heatmap, overlay, rgbToRgba } from './render.js';

/**
 * The model loaded at start, relative to the page (web/server.ts serves assets/ and test/fixtures/ too).
 * The one line to change for another default, e.g. 'fixtures/b2_rgb.weights.safetensors' (a PyTorch test
 * fixture with random weights: the page then says so).
 */
export const DEFAULT_MODEL_URL = 'assets/demo/nuclei_unet.safetensors';
/** Images for the "Try the samples" button: held-out images of the demo model (assets/demo/README.md). */
const SAMPLE_URLS = Array.from({ length: 8 }, (_, i) => `assets/demo/samples/nuclei_0${i + 1}.png`);

/** Larger images are scaled down (by the browser) so their long side is this many pixels. */
const MAX_SIDE = 512;

interface Result {
  name: string;
  width: number;
  height: number;
  /** probabilities, one Float32Array per output channel (multi-class models: per class) */
  probs: Float32Array[];
  /** multi-class models: the class of each pixel (argmax) and the pixels of each class */
  labels?: Uint8Array;
  classes?: LegendEntry[];
  /** model.run in ms (GPU work and readback); the first run of a size also compiles that size's plan */
  runMs: number;
  firstOfSize: boolean;
}

interface Entry {
  name: string;
  image: RgbaImage;
  result?: Result;
  card: HTMLElement;
}

type State = 'starting' | 'ready' | 'busy' | 'error' | 'unsupported';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  unsupported: $<HTMLDivElement>('unsupported'),
  adapter: $<HTMLElement>('adapter'),
  model: $<HTMLElement>('model'),
  modelNote: $<HTMLElement>('model-note'),
  modelDescription: $<HTMLElement>('model-description'),
  modelFile: $<HTMLInputElement>('model-file'),
  modelDefault: $<HTMLButtonElement>('model-default'),
  imageFiles: $<HTMLInputElement>('image-files'),
  sample: $<HTMLButtonElement>('sample'),
  drop: $<HTMLElement>('drop'),
  threshold: $<HTMLInputElement>('threshold'),
  thresholdValue: $<HTMLOutputElement>('threshold-value'),
  opacity: $<HTMLInputElement>('opacity'),
  opacityValue: $<HTMLOutputElement>('opacity-value'),
  channelLabel: $<HTMLElement>('channel-label'),
  channel: $<HTMLSelectElement>('channel'),
  message: $<HTMLElement>('message'),
  results: $<HTMLElement>('results'),
  legend: $<HTMLElement>('legend'),
};

let device: GPUDevice | undefined;
let model: Model | undefined;
let modelName = '';
const entries: Entry[] = [];
const compiledSizes = new Set<string>();
/** work (model loads, runs) one after another */
let queue: Promise<unknown> = Promise.resolve();

/** What the browser tests read (and a person can poke at in the console). */
const demo = {
  state: 'starting' as State,
  adapter: undefined as AdapterSummary | undefined,
  featureLevel: '',
  modelInfo: undefined as Model['info'] | undefined,
  results: [] as Result[],
  /** the last error shown, '' if none */
  error: '',
};
(globalThis as unknown as { unetDemo: typeof demo }).unetDemo = demo;

function setState(s: State): void {
  demo.state = s;
  document.body.dataset.state = s;
}

function say(text: string, kind: 'info' | 'error' = 'info'): void {
  ui.message.textContent = text;
  ui.message.className = kind;
  if (kind === 'error') demo.error = text;
}

function enqueue(what: string, fn: () => Promise<void>): Promise<void> {
  const run = queue.then(async () => {
    setState('busy');
    try {
      await fn();
      setState('ready');
    } catch (e) {
      console.error(e);
      say(`${what}: ${(e as Error).message}`, 'error');
      setState(model ? 'ready' : 'error');
    }
  });
  queue = run;
  return run;
}

// --- WebGPU -------------------------------------------------------------------------------------------

/**
 * ?featureLevel=core|compatibility decides. Otherwise core WebGPU, unless the core adapter is a software
 * fallback (SwiftShader) and a compatibility-mode adapter that is not one exists (Chromium on Linux with
 * --use-webgpu-adapter=opengles offers both: OpenGL ES on the real driver, or on Mesa's lavapipe, is faster).
 */
async function openDevice(gpu: GPU): Promise<GPUDevice> {
  const asked = new URLSearchParams(location.search).get('featureLevel');
  if (asked === 'core' || asked === 'compatibility') return getDevice({ featureLevel: asked });
  const isFallback = (a: GPUAdapter | null) => a?.info.isFallbackAdapter ?? false;
  const core = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (core && !isFallback(core)) return getDevice();
  const compat = await gpu.requestAdapter({ powerPreference: 'high-performance', featureLevel: 'compatibility' } as GPURequestAdapterOptions);
  if (compat && (!core || !isFallback(compat))) return getDevice({ featureLevel: 'compatibility' });
  return getDevice();
}

function showUnsupported(reason: string): void {
  setState('unsupported');
  ui.unsupported.hidden = false;
  ui.unsupported.querySelector('.reason')!.textContent = reason;
  ui.adapter.textContent = 'none';
  for (const el of document.querySelectorAll<HTMLInputElement | HTMLButtonElement>('input, button, select')) el.disabled = true;
}

function showAdapter(d: GPUDevice): void {
  const a = describeDevice(d);
  demo.adapter = a;
  // Core devices have 'core-features-and-limits'; a compatibility-mode adapter lacks it.
  demo.featureLevel = a.features.includes('core-features-and-limits') ? 'core' : 'compatibility';
  const name = [a.vendor, a.architecture, a.description].filter(Boolean).join(' · ') || 'an adapter the browser does not name';
  const notable = ['subgroups', 'shader-f16', 'timestamp-query'].filter((f) => a.features.includes(f));
  ui.adapter.textContent = `${name} — ${demo.featureLevel} WebGPU` + (notable.length ? `, ${notable.join(', ')}` : '');
  d.lost.then((info) => {
    if (info.reason !== 'destroyed') showUnsupported(`the GPU device was lost (${info.message || info.reason}); reload the page`);
  });
}

// --- model --------------------------------------------------------------------------------------------

async function setModel(bytes: ArrayBuffer, name: string): Promise<void> {
  const next = await loadModel(device!, bytes);
  model?.dispose();
  model = next;
  modelName = name;
  compiledSizes.clear();
  const i = next.info;
  demo.modelInfo = i;
  const multi = isMultiClass(i);
  const what =
    i.architecture === 'brain-unet'
      ? `U-Net ${i.inChannels}→${i.outChannels} channels, ${i.features} features, depth ${i.depth}`
      : `${i.architecture} (${i.encoder}, depth ${i.depth}) ${i.inChannels}→${i.classes} ${multi ? 'classes' : 'channels'}, ${i.activation}`;
  ui.model.textContent =
    `${name}: ${what}, ${(i.parameters / 1e6).toFixed(2)} M parameters, input ${i.preprocessing.kind}; ` +
    (i.sizeMultiple > 1 ? `runs at multiples of ${i.sizeMultiple} px (mirror-padded)` : 'runs at any size');
  // tools/make_fixtures.py signs its files: those are random-weight test models, not trained ones.
  const isFixture = i.metadata.script === 'tools/make_fixtures.py';
  ui.modelNote.hidden = !isFixture;
  ui.modelDescription.textContent = i.metadata.description ?? '';
  ui.modelDescription.hidden = !i.metadata.description;
  const colors = classColors(i.outChannels);
  ui.channel.replaceChildren(...Array.from({ length: i.outChannels }, (_, c) => new Option(multi ? `${c} (${colors[c].name})` : `${c}`, `${c}`)));
  ui.channelLabel.hidden = i.outChannels < 2;
  ui.channelLabel.firstChild!.textContent = multi ? 'Class ' : 'Output channel ';
  // multi-class models have no threshold: each pixel is its most likely class
  ui.threshold.disabled = multi;
  say(`Loaded ${name}.` + (entries.length ? ' Running it on the images…' : ' Drop images, or pick some.'));
  for (const e of entries) await segment(e);
  if (entries.length) say(`Loaded ${name}; ran it on ${entries.length} image${entries.length > 1 ? 's' : ''}.`);
}

function loadModelFromUrl(url: string): Promise<void> {
  return enqueue(`loading ${url}`, async () => {
    say(`Loading ${url}…`);
    const r = await fetch(url);
    if (!r.ok) throw new Error(`HTTP ${r.status} ${r.statusText}`);
    await setModel(await r.arrayBuffer(), url.split('/').pop()!);
  });
}

function loadModelFromFile(file: File): Promise<void> {
  return enqueue(`loading ${file.name}`, async () => setModel(await file.arrayBuffer(), file.name));
}

// --- images -------------------------------------------------------------------------------------------

/** Decodes with the browser's own decoder; images larger than MAX_SIDE are scaled down. */
async function decode(blob: Blob): Promise<RgbaImage> {
  const probe = await createImageBitmap(blob);
  const scale = Math.min(1, MAX_SIDE / Math.max(probe.width, probe.height));
  const width = Math.max(1, Math.round(probe.width * scale));
  const height = Math.max(1, Math.round(probe.height * scale));
  probe.close();
  // No colour management and no premultiplication, so a PNG's pixel values come through unchanged.
  const bitmap = await createImageBitmap(blob, {
    colorSpaceConversion: 'none',
    premultiplyAlpha: 'none',
    ...(scale < 1 ? { resizeWidth: width, resizeHeight: height, resizeQuality: 'high' as const } : {}),
  });
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const { data } = ctx.getImageData(0, 0, width, height);
  return { data, width, height };
}

function addImages(files: Iterable<File>): Promise<void> {
  const images = [...files].filter((f) => f.type.startsWith('image/') || /\.(png|jpe?g|gif|bmp|webp|avif)$/i.test(f.name));
  if (!images.length) {
    say('No image among the dropped files (PNG, JPEG, WebP, GIF, BMP, AVIF).', 'error');
    return Promise.resolve();
  }
  return enqueue('segmenting', async () => {
    for (const file of images) {
      let image: RgbaImage;
      try {
        image = await decode(file);
      } catch {
        say(`${file.name}: this browser cannot decode it as an image`, 'error');
        continue;
      }
      const entry: Entry = { name: file.name, image, card: makeCard(file.name) };
      entries.push(entry);
      ui.results.prepend(entry.card);
      await segment(entry);
    }
    say(`${entries.length} image${entries.length > 1 ? 's' : ''} segmented with ${modelName}.`);
  });
}

async function segment(e: Entry): Promise<void> {
  if (!model) throw new Error('no model loaded');
  const { inChannels, outChannels, activation, preprocessing } = model.info;
  const x = imageToTensor(e.image, { inChannels, normalization: preprocessing });
  const key = x.shape.join('x');
  say(`Running ${modelName} on ${e.name}…` + (compiledSizes.has(key) ? '' : ' (first run at this size: compiling the shaders, slow on a software adapter)'));
  const t0 = performance.now();
  const y = await model.run(x);
  const runMs = performance.now() - t0;
  const firstOfSize = !compiledSizes.has(key);
  compiledSizes.add(key);
  const n = e.image.width * e.image.height;
  const result: Result = { name: e.name, width: e.image.width, height: e.image.height, probs: [], runMs, firstOfSize };
  if (isMultiClass(model.info)) {
    const p = classProbabilities(y.data, outChannels, n, activation);
    result.probs = Array.from({ length: outChannels }, (_, c) => p.subarray(c * n, (c + 1) * n));
    result.labels = argmaxLabels(y.data, outChannels, n);
    result.classes = legend(result.labels, outChannels);
  } else {
    // sigmoid outputs are probabilities already; tanh and logits are mapped to [0, 1] as unet segment does
    result.probs = Array.from({ length: outChannels }, (_, c) => (activation === 'sigmoid' ? channelOf(y, c) : maskProbabilities(channelOf(y, c), activation)));
  }
  e.result = result;
  demo.results = entries.filter((v) => v.result).map((v) => v.result!);
  draw(e);
}

// --- drawing ------------------------------------------------------------------------------------------

function makeCard(name: string): HTMLElement {
  const card = document.createElement('article');
  card.className = 'result';
  const figure = (cls: string, caption: string) =>
    `<figure><canvas class="${cls}"></canvas><figcaption>${caption}</figcaption></figure>`;
  card.innerHTML =
    `<h2><span class="name"></span> <span class="stats"></span></h2><div class="panes">` +
    figure('image', 'Image') +
    figure('heatmap', 'Probability <span class="scale"><span>0</span><i></i><span>1</span></span>') +
    figure('overlay', 'Mask overlay <span class="coverage"></span>') +
    `</div><ul class="classes" hidden></ul>`;
  card.querySelector('.name')!.textContent = name;
  (card.querySelector('.scale i') as HTMLElement).style.background = VIRIDIS_CSS;
  return card;
}

function paint(canvas: HTMLCanvasElement, img: RgbaImage): void {
  canvas.width = img.width;
  canvas.height = img.height;
  canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(img.data), img.width, img.height), 0, 0);
}

function draw(e: Entry): void {
  const r = e.result;
  const q = <T extends Element>(s: string) => e.card.querySelector(s) as T;
  paint(q('canvas.image'), e.image);
  if (!r) return;
  const c = Math.min(Number(ui.channel.value) || 0, r.probs.length - 1);
  paint(q('canvas.heatmap'), heatmap(r.probs[c], r.width, r.height));
  q<HTMLElement>('.stats').textContent =
    `${r.width}×${r.height} · ${r.runMs.toFixed(1)} ms` + (r.firstOfSize ? ' (first run of this size: includes compiling)' : '');
  const list = q<HTMLUListElement>('ul.classes');
  list.hidden = !r.labels;
  if (r.labels && r.classes) {
    const colors = classColors(r.classes.length);
    const image = { width: r.width, height: r.height, channels: 4, data: e.image.data };
    paint(q('canvas.overlay'), rgbToRgba(classOverlay(image, r.labels, colors, Number(ui.opacity.value)), r.width, r.height));
    q<HTMLElement>('.coverage').textContent = `(${r.classes.length} classes)`;
    list.replaceChildren(...r.classes.map((k) => legendItem(k)));
    e.card.dataset.classPixels = r.classes.map((k) => k.pixels).join(',');
    return;
  }
  const threshold = Number(ui.threshold.value);
  const mask = maskFromProbabilities(r.probs[c], threshold);
  let on = 0;
  for (const m of mask) on += m;
  paint(q('canvas.overlay'), overlay(e.image, mask, Number(ui.opacity.value)));
  q<HTMLElement>('.coverage').textContent = `(${((100 * on) / mask.length).toFixed(1)}% ≥ ${threshold.toFixed(2)})`;
  e.card.dataset.maskPixels = String(on);
}

/** One legend line: class index, colour swatch (class 0, the background, is not drawn), share of the pixels. */
function legendItem(k: LegendEntry): HTMLLIElement {
  const li = document.createElement('li');
  const swatch = document.createElement('i');
  swatch.className = k.class === 0 ? 'swatch background' : 'swatch';
  swatch.style.background = `rgb(${k.rgb.join(',')})`;
  li.append(swatch, `${k.class} ${k.color}: ${(100 * k.fraction).toFixed(1)}%`);
  return li;
}

function redrawAll(): void {
  ui.thresholdValue.value = Number(ui.threshold.value).toFixed(2);
  ui.opacityValue.value = Number(ui.opacity.value).toFixed(2);
  for (const e of entries) draw(e);
}

// --- wiring -------------------------------------------------------------------------------------------

function wire(): void {
  ui.threshold.addEventListener('input', redrawAll);
  ui.opacity.addEventListener('input', redrawAll);
  ui.channel.addEventListener('change', redrawAll);
  ui.imageFiles.addEventListener('change', () => {
    void addImages(ui.imageFiles.files ?? []).then(() => (ui.imageFiles.value = ''));
  });
  ui.modelFile.addEventListener('change', () => {
    const f = ui.modelFile.files?.[0];
    if (f) void loadModelFromFile(f).then(() => (ui.modelFile.value = ''));
  });
  ui.modelDefault.addEventListener('click', () => void loadModelFromUrl(DEFAULT_MODEL_URL));
  ui.sample.addEventListener('click', async () => {
    try {
      const files = await Promise.all(
        SAMPLE_URLS.map(async (url) => {
          const r = await fetch(url);
          if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
          return new File([await r.blob()], url.split('/').pop()!, { type: 'image/png' });
        }),
      );
      await addImages(files);
    } catch (e) {
      say(`samples: ${(e as Error).message}`, 'error');
    }
  });
  // The whole window takes drops; the drop zone lights up while something is dragged over it.
  window.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    ui.drop.classList.add('over');
  });
  window.addEventListener('dragleave', (ev) => {
    if (!ev.relatedTarget) ui.drop.classList.remove('over');
  });
  window.addEventListener('drop', (ev) => {
    ev.preventDefault();
    ui.drop.classList.remove('over');
    const files = [...(ev.dataTransfer?.files ?? [])];
    const weights = files.find((f) => f.name.endsWith('.safetensors'));
    if (weights) void loadModelFromFile(weights);
    const images = files.filter((f) => f !== weights);
    if (images.length) void addImages(images);
  });
}

async function main(): Promise<void> {
  ui.legend.style.background = VIRIDIS_CSS;
  redrawAll();
  wire();
  if (!isSecureContext) {
    showUnsupported('WebGPU needs a secure context: open the page from http://127.0.0.1, http://localhost or https://.');
    return;
  }
  if (!navigator.gpu) {
    showUnsupported('This browser does not expose WebGPU (navigator.gpu is missing).');
    return;
  }
  try {
    device = await openDevice(navigator.gpu);
  } catch (e) {
    showUnsupported(e instanceof NoAdapterError ? 'The browser has WebGPU but offers no adapter (GPU blocklisted or WebGPU disabled).' : `Could not open a WebGPU device: ${(e as Error).message}`);
    return;
  }
  showAdapter(device);
  await loadModelFromUrl(DEFAULT_MODEL_URL);
}

void main();
