// The demo page (bundled by web/build.ts into dist/web/app.js): load a U-Net, drop images, see and download
// their masks. The work happens in a module worker (web/worker.ts, dist/web/worker.js) that owns the GPU
// device and the model; this script keeps the page: the toolbar, the model panel and one card per image.
// At /playground (or after the toolbar's Playground button) it shows the model playground (web/playground.ts).
import { Card, legendItem } from './cards.js';
import { type PathFile, filesFromDrop, filesFromInput, sortFiles } from './drop.js';
import { ModelPanel } from './modelPanel.js';
import { Playground } from './playground.js';
import type {
  AdapterLine,
  CaseProgress,
  CaseSummary,
  CostAt,
  DownloadKind,
  LayerTimes,
  ModelSummary,
  NnunetSummary,
  SegmentProgress,
  SegmentSummary,
} from './protocol.js';
import { Client, WorkerError } from './rpc.js';
import { save } from './save.js';
import { VolumeCard } from './volumeCard.js';
import { type NnunetDrop, groupCases, splitDrop } from './volumeFiles.js';

/**
 * The model loaded at start, relative to the page (web/server.ts serves assets/ and test/fixtures/ too).
 * The one line to change for another default, e.g. 'fixtures/b2_rgb.weights.safetensors' (a PyTorch test
 * fixture with random weights: the page then says so).
 */
export const DEFAULT_MODEL_URL = 'assets/demo/nuclei_unet.safetensors';
/** Images for the "Try the samples" button: held-out images of the demo model (assets/demo/README.md). */
const SAMPLE_URLS = Array.from({ length: 8 }, (_, i) => `assets/demo/samples/nuclei_0${i + 1}.png`);

type State = 'starting' | 'ready' | 'busy' | 'unsupported';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  unsupported: $<HTMLDivElement>('unsupported'),
  adapter: $<HTMLElement>('adapter'),
  modelDefault: $<HTMLButtonElement>('model-default'),
  imageFiles: $<HTMLInputElement>('image-files'),
  modelFiles: $<HTMLInputElement>('model-files'),
  modelFolder: $<HTMLInputElement>('model-folder'),
  drop: $<HTMLElement>('drop'),
  threshold: $<HTMLInputElement>('threshold'),
  thresholdValue: $<HTMLOutputElement>('threshold-value'),
  opacity: $<HTMLInputElement>('opacity'),
  opacityValue: $<HTMLOutputElement>('opacity-value'),
  channelLabel: $<HTMLElement>('channel-label'),
  channelName: $<HTMLElement>('channel-name'),
  channel: $<HTMLSelectElement>('channel'),
  tile: $<HTMLSelectElement>('tile'),
  volumes: $<HTMLElement>('volumes'),
  volumeFiles: $<HTMLInputElement>('volume-files'),
  stepSize: $<HTMLSelectElement>('step-size'),
  mirroring: $<HTMLInputElement>('mirroring'),
  message: $<HTMLElement>('message'),
  results: $<HTMLElement>('results'),
};
const panel = new ModelPanel($('model-panel'));

// --- views: the app (/) and the model playground (/playground, the Playground button) ------------------

let clientReady: (c: Client | undefined) => void = () => {};
const playground = new Playground({
  ready: new Promise((ok) => (clientReady = ok)),
  useModel: (key, name) => {
    showView('app');
    void loadModel({ playground: key, name }, name);
  },
});

function showView(view: 'app' | 'playground', push = true): void {
  document.body.dataset.view = view;
  $('playground').hidden = view !== 'playground';
  $('show-playground').setAttribute('aria-pressed', String(view === 'playground'));
  // relative, so the page works under any prefix; the playground's hash is its form (web/playgroundState.ts)
  if (push)
    history.pushState(null, '', view === 'playground' ? new URL('playground', location.href).pathname + location.hash : new URL('./', location.href).pathname);
  if (view === 'playground') void playground.open();
}

let client: Client | undefined;
let model: ModelSummary | undefined;
/** the loaded nnU-Net model (then `model` is undefined: the page segments volumes) */
let nnunetModel: NnunetSummary | undefined;
/** the nnU-Net cases, newest first */
const volumeCards: VolumeCard[] = [];
/** the model being loaded, if any: images wait for it */
let modelLoading: Promise<unknown> = Promise.resolve();
let cost: CostAt | undefined;
/** newest first, as shown */
const cards: Card[] = [];
let inFlight = 0;

/** What the browser tests read (and a person can poke at in the console). */
const demo = {
  state: 'starting' as State,
  adapter: undefined as AdapterLine | undefined,
  featureLevel: '',
  modelInfo: undefined as ModelSummary | undefined,
  /** the finished results; probs are the previews' (the full size when it is at most PREVIEW_SIDE) */
  get results() {
    return cards.filter((c) => c.result).map((c) => resultView(c, c.result!));
  },
  get cards() {
    return cards.map((c) => ({ name: c.name, state: c.state, error: c.error }));
  },
  cost: undefined as CostAt | undefined,
  /** what the worker is doing (web/worker.ts status) */
  workerStatus: () => client?.call<{ running: string | null; cancelled: number; windowsAfterCancel: number }>('status', {}),
  layers: undefined as LayerTimes | undefined,
  /** the last error shown in the status line, '' if none */
  error: '',
  /** the loaded nnU-Net model */
  nnunet: undefined as NnunetSummary | undefined,
  /** the nnU-Net cases: state, the label map (x fastest) and its [Z, Y, X] shape when done */
  get volumes() {
    return volumeCards.map((c) => ({
      name: c.name,
      state: c.state,
      error: c.error,
      dims: c.image?.dims,
      shape: c.result?.shape,
      labels: c.result?.labels,
      counts: c.result?.counts,
      windows: c.result?.windows,
      runMs: c.result?.runMs,
    }));
  },
};
(globalThis as unknown as { unetDemo: typeof demo }).unetDemo = demo;

function resultView(c: Card, r: SegmentSummary) {
  const n = r.preview.width * r.preview.height;
  return {
    name: c.name,
    width: r.width,
    height: r.height,
    preview: [r.preview.width, r.preview.height],
    probs: Array.from({ length: r.classes }, (_, k) => r.preview.probabilities.subarray(k * n, (k + 1) * n)),
    labels: r.kind === 'classes' ? r.preview.mask : undefined,
    classes: r.legend,
    runMs: r.runMs,
    tiling: r.tiling,
  };
}

function setState(s: State): void {
  demo.state = s;
  document.body.dataset.state = s;
}

/** Counts the calls in flight: the page is 'busy' while there are any. */
async function track<T>(p: Promise<T>): Promise<T> {
  inFlight++;
  if (demo.state !== 'unsupported') setState('busy');
  try {
    return await p;
  } finally {
    if (--inFlight === 0 && demo.state !== 'unsupported') setState('ready');
  }
}

function say(text: string, kind: 'info' | 'error' = 'info'): void {
  ui.message.textContent = text;
  ui.message.className = kind;
  if (kind === 'error') demo.error = text;
}

/** An error's message, starting with the file it is about (`name`, unless it names one of `files`). */
function wording(e: unknown, name: string, files: string[] = []): string {
  const m = e instanceof Error ? e.message : String(e);
  return [name, ...files].some((f) => m.startsWith(`${f}:`)) ? m : `${name}: ${m}`;
}

const isAbort = (e: unknown) => e instanceof Error && e.name === 'AbortError';

// --- WebGPU -------------------------------------------------------------------------------------------

function showUnsupported(reason: string): void {
  clientReady(undefined);
  setState('unsupported');
  ui.unsupported.hidden = false;
  ui.unsupported.querySelector('.reason')!.textContent = reason;
  ui.adapter.textContent = 'none';
  for (const el of document.querySelectorAll<HTMLInputElement | HTMLButtonElement>('input, button, select')) el.disabled = true;
  say('WebGPU is not available here: nothing can run (see above).', 'error');
}

function adapterText(a: AdapterLine): string {
  const name = a.name || 'an adapter the browser does not name';
  const kind = a.software ? ' — a software adapter (the CPU draws for it): slow' : a.name ? '' : ' (the browser does not say whether it is a GPU or software)';
  const level = a.featureLevel === 'core' ? 'core WebGPU' : 'compatibility WebGPU (the OpenGL ES subset)';
  const features = a.features.length ? `with ${a.features.join(', ')}` : 'without shader-f16, subgroups or timestamp queries';
  return `${name}${kind}; ${level}, ${features}`;
}

async function start(): Promise<void> {
  if (!isSecureContext) return showUnsupported('WebGPU needs a secure context: open the page from http://127.0.0.1, http://localhost or https://.');
  if (!('gpu' in navigator) || !navigator.gpu) return showUnsupported('This browser does not expose WebGPU (navigator.gpu is missing).');
  const worker = new Worker(new URL('worker.js', import.meta.url), { type: 'module', name: 'webgpu-unet' });
  client = new Client(worker);
  worker.onerror = (ev) => {
    client?.failAll(new Error(`the worker stopped: ${ev.message || 'unknown error'}`));
    showUnsupported(`The page's worker failed to start or crashed (${ev.message || 'unknown error'}): reload the page.`);
  };
  const asked = new URLSearchParams(location.search).get('featureLevel');
  try {
    const a = await client.call<AdapterLine>('init', { featureLevel: asked === 'core' || asked === 'compatibility' ? asked : undefined });
    demo.adapter = a;
    demo.featureLevel = a.featureLevel;
    ui.adapter.textContent = adapterText(a);
    setState('ready');
    clientReady(client);
    void client.call<string>('lost', {}).then((why) => showUnsupported(`The GPU device was lost (${why}): reload the page to start again.`));
  } catch (e) {
    const m = (e as Error).message;
    return showUnsupported(
      e instanceof WorkerError && e.name === 'NoAdapterError'
        ? `The browser has WebGPU but offers no adapter (GPU blocklisted or WebGPU disabled): ${m}`
        : `Could not open a WebGPU device: ${m}`,
    );
  }
  await loadModel({ url: DEFAULT_MODEL_URL }, DEFAULT_MODEL_URL.split('/').pop()!);
}

// --- model --------------------------------------------------------------------------------------------

function loadModel(
  req: { url: string } | { files: { name: string; path: string; blob: Blob }[] } | { playground: string; name: string },
  label: string,
): Promise<unknown> {
  if (!client) return Promise.resolve(say('WebGPU is not available here: nothing can run (see above).', 'error'));
  say(`Loading ${label}…`);
  // the worker resolves URLs against its own (dist/web/worker.js): make them absolute here
  if ('url' in req) req = { url: new URL(req.url, location.href).href };
  const load = track(client.call<ModelSummary>('setModel', req)).then(
    async (m) => {
      model = m;
      demo.modelInfo = m;
      nnunetModel = undefined;
      demo.nnunet = undefined;
      document.body.dataset.kind = 'image';
      cost = undefined;
      const multi = m.multiClass;
      ui.channel.replaceChildren(...m.classColors.map((c, i) => new Option(`${i} (${c.name})`, `${i}`)));
      if (!multi) ui.channel.replaceChildren(...Array.from({ length: m.classes }, (_, i) => new Option(`${i}`, `${i}`)));
      ui.channelLabel.hidden = m.classes < 2;
      ui.channelName.textContent = multi ? 'Class' : 'Output channel';
      ui.threshold.disabled = multi; // each pixel is its most likely class: no threshold
      panel.show(m);
      const rerun = cards.filter((c) => !c.badFile);
      say(`Loaded ${m.name}.` + (rerun.length ? ` Running it on ${rerun.length} image${rerun.length > 1 ? 's' : ''}…` : ' Drop images, or open some.'));
      await updateCost();
      for (const c of rerun) void runCard(c);
    },
    (e) => {
      if (isAbort(e)) return;
      const text = wording(e, label, 'files' in req ? req.files.flatMap((f) => [f.name, f.path]) : []);
      panel.error(text, model?.name);
      say(text, 'error');
    },
  );
  modelLoading = load;
  return load;
}

/** The cost figures at the newest image's size (256×256 before any). */
async function updateCost(): Promise<void> {
  if (!client || !model) return;
  const r = cards.find((c) => c.result)?.result;
  const size = { width: r?.width ?? 256, height: r?.height ?? 256 };
  if (cost && cost.width === size.width && cost.height === size.height) return;
  try {
    cost = await client.call<CostAt>('costAt', size);
    demo.cost = cost;
    panel.show(model, cost);
  } catch (e) {
    console.warn(`cost at ${size.width}×${size.height}: ${(e as Error).message}`);
  }
}

async function profileLayers(): Promise<void> {
  if (!client || !model) return;
  const r = cards.find((c) => c.result)?.result;
  // at most 512 × 512: a software adapter takes seconds a layer beyond that
  const size = { width: Math.min(r?.width ?? 256, 512), height: Math.min(r?.height ?? 256, 512) };
  say(`Timing each layer at ${size.width}×${size.height}…`);
  try {
    const t = await track(client.call<LayerTimes>('profile', size));
    demo.layers = t;
    panel.layers(t);
    say(`Timed ${t.layers.length} layers at ${t.width}×${t.height}.`);
  } catch (e) {
    say(`timing the layers: ${(e as Error).message}`, 'error');
  }
}

// --- images -------------------------------------------------------------------------------------------

async function keyOf(file: Blob): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', await file.arrayBuffer());
  return [...new Uint8Array(digest).subarray(0, 16)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function addFiles(all: PathFile[]): Promise<void> {
  if (demo.state === 'unsupported')
    return say(`${all.map((f) => f.path).join(', ')}: not opened — WebGPU is not available here, so nothing can run (see above).`, 'error');
  const { model: nnunetDrop, volumes, rest: files } = splitDrop(all);
  if (nnunetDrop) void loadNnunet(nnunetDrop);
  if (volumes.length) void addVolumes(volumes);
  if (!files.length) return;
  const { model: modelFiles, images } = sortFiles(files);
  if (modelFiles.length) {
    const folder = modelFiles[0].path.includes('/') ? modelFiles[0].path.split('/')[0] + '/' : '';
    void loadModel(
      { files: modelFiles.map((f) => ({ name: f.file.name, path: f.path, blob: f.file })) },
      folder || modelFiles.map((f) => f.file.name).join(' + '),
    );
  }
  const added: Card[] = [];
  const same: string[] = [];
  for (const { file, path } of images) {
    const key = await keyOf(file);
    const existing = cards.find((c) => c.key === key);
    if (existing) {
      same.push(`${path} is the same image as ${existing.name}`);
      existing.el.classList.add('flash');
      setTimeout(() => existing.el.classList.remove('flash'), 1500);
      continue;
    }
    const card = new Card(key, path, file, { cancel, remove, retry: (c) => void runCard(c), download });
    cards.unshift(card);
    ui.results.prepend(card.el);
    added.push(card);
  }
  if (same.length) say(`${same.join('; ')}: already shown, not added again.`);
  await Promise.all(added.map(runCard));
  if (added.length) {
    const ok = added.filter((c) => c.state === 'done').length;
    const bad = added.filter((c) => c.state === 'error').length;
    say(
      `${ok} of ${added.length} image${added.length > 1 ? 's' : ''} segmented${bad ? `; ${bad} could not be (see ${bad > 1 ? 'their cards' : 'its card'})` : ''}` +
        (model ? ` with ${model.name}.` : '.'),
      bad && !ok ? 'error' : 'info',
    );
  }
}

async function runCard(card: Card): Promise<void> {
  if (!client) return;
  card.abort?.abort();
  const abort = new AbortController();
  card.abort = abort;
  card.setState('queued', 'waiting for the model…');
  await track(modelLoading.catch(() => undefined));
  if (abort.signal.aborted) return;
  if (!model) return card.fail(`${card.name}: no model is loaded (load one above)`);
  try {
    const r = await track(
      client.call<SegmentSummary>(
        'segment',
        { file: card.file, name: card.name, key: card.key, tile: ui.tile.value === 'auto' ? 'auto' : Number(ui.tile.value) },
        { signal: abort.signal, onProgress: (p: SegmentProgress) => card.progress(p) },
      ),
    );
    card.done(r);
    card.draw(view());
    await updateCost();
  } catch (e) {
    if (isAbort(e)) {
      if (cards.includes(card)) card.setState('cancelled', 'cancelled');
    } else card.fail(wording(e, card.name), ['ImageError', 'LimitError'].includes((e as Error).name)); // the file itself: another model cannot help
  }
}

function cancel(card: Card): void {
  card.abort?.abort();
}

function remove(card: Card): void {
  card.abort?.abort();
  const i = cards.indexOf(card);
  if (i >= 0) cards.splice(i, 1);
  const next = cards[i] ?? cards[i - 1];
  card.el.remove();
  void client?.call('forget', { keys: [card.key] });
  (next?.el.querySelector<HTMLButtonElement>('button.remove') ?? $('open-images')).focus();
}

function clearAll(): void {
  for (const c of volumeCards.splice(0)) {
    c.abort?.abort();
    c.el.remove();
    void client?.call('forget', { keys: [c.key] });
  }
  for (const c of [...cards]) {
    c.abort?.abort();
    c.el.remove();
  }
  void client?.call('forget', { keys: cards.map((c) => c.key) });
  cards.length = 0;
  say('Results cleared.');
}

async function download(card: Card, kind: DownloadKind): Promise<void> {
  if (!client) return;
  try {
    const f = await track(client.call<{ name: string; bytes: Uint8Array }>('download', { key: card.key, kind, ...view() }));
    save(f, 'image/png');
    say(`Saved ${f.name}.`);
  } catch (e) {
    say(wording(e, card.name), 'error');
  }
}

// --- nnU-Net volumes ----------------------------------------------------------------------------------

function loadNnunet(drop: NnunetDrop): Promise<unknown> {
  if (!client) return Promise.resolve(say('WebGPU is not available here: nothing can run (see above).', 'error'));
  say(`Loading the nnU-Net model ${drop.source}…`);
  const req =
    'zip' in drop ? { source: drop.source, zip: drop.zip.file } : { source: drop.source, files: drop.files.map((f) => ({ path: f.path, blob: f.file })) };
  const load = track(client.call<NnunetSummary>('setNnunet', req)).then(
    (m) => {
      nnunetModel = m;
      demo.nnunet = m;
      model = undefined;
      demo.modelInfo = undefined;
      document.body.dataset.kind = 'nnunet';
      showNnunet(m);
      const rerun = volumeCards.filter((c) => c.state !== 'done');
      say(
        `Loaded ${m.name} (${m.configuration}).` +
          (rerun.length ? ` Running it on ${rerun.length} case${rerun.length > 1 ? 's' : ''}…` : ' Drop NIfTI volumes, or open some.'),
      );
      for (const c of rerun) void runVolume(c);
    },
    (e) => {
      if (isAbort(e)) return;
      const text = wording(e, drop.source);
      panel.error(text, nnunetModel?.name ?? model?.name);
      say(text, 'error');
    },
  );
  modelLoading = load;
  return load;
}

/** The model panel for an nnU-Net model: what it is, its channels and its labels. */
function showNnunet(m: NnunetSummary): void {
  const q = <T extends HTMLElement>(s: string) => document.querySelector(s) as T;
  q('#model').textContent = m.name;
  q('#model-error').textContent = '';
  const rows: [string, string][] = [
    ['architecture', m.title],
    ['configuration', m.configuration],
    ['folds', m.folds.join(', ')],
    ['input', m.channels.map((c, i) => `${String(i).padStart(4, '0')} ${c}`).join(', ')],
    ['labels', `${m.labels.length}${m.regions ? ' (regions)' : ''}`],
    ['patch', m.patchSize.join(' × ')],
    ['spacing', m.spacing.join(' × ')],
    ['mirroring', m.mirroringAxes?.length ? `axes ${m.mirroringAxes.join(', ')}` : 'none'],
    ['parameters', m.parameters.toLocaleString('en-US')],
  ];
  q('#model-arch').replaceChildren(
    ...rows.flatMap(([k, v]) => [
      Object.assign(document.createElement('dt'), { textContent: k }),
      Object.assign(document.createElement('dd'), { textContent: v }),
    ]),
  );
  q('#model-input').hidden = true;
  q('#layers').hidden = true;
  q('#model-description').hidden = true;
  q('#model-note').hidden = true;
  const legend = q('#model-classes');
  legend.hidden = false;
  legend.querySelector('ul')!.replaceChildren(...m.labels.map((l) => legendItem({ class: l.value, color: l.name, rgb: l.rgb })));
  q('#model-notes').replaceChildren(...m.notes.map((n) => Object.assign(document.createElement('li'), { textContent: n })));
  ui.volumes.hidden = false;
}

async function addVolumes(files: PathFile[]): Promise<void> {
  await modelLoading.catch(() => undefined);
  if (!nnunetModel)
    return say(`${files.map((f) => f.path).join(', ')}: NIfTI volumes need an nnU-Net model: drop its results folder (or its zip) first.`, 'error');
  const { cases, problems } = groupCases(files, nnunetModel.channels);
  ui.volumes.hidden = false;
  const added: VolumeCard[] = [];
  const list = ui.volumes.querySelector('.cases')!;
  for (const c of cases) {
    const card = new VolumeCard(
      `case:${c.id}:${crypto.randomUUID()}`,
      c.id,
      c.files.map((f) => ({ name: f.file.name, blob: f.file })),
      { cancel: (k) => k.abort?.abort(), remove: removeVolume, retry: (k) => void runVolume(k), download: downloadVolume },
    );
    volumeCards.unshift(card);
    list.prepend(card.el);
    added.push(card);
  }
  for (const p of problems) {
    const card = new VolumeCard(`case:${p.id}:${crypto.randomUUID()}`, p.id, [], {
      cancel: () => {},
      remove: removeVolume,
      retry: () => {},
      download: () => {},
    });
    card.fail(p.text);
    volumeCards.unshift(card);
    list.prepend(card.el);
  }
  for (const c of added) await runVolume(c);
  if (added.length || problems.length) {
    const ok = added.filter((c) => c.state === 'done').length;
    say(
      `${ok} of ${added.length + problems.length} case${added.length + problems.length > 1 ? 's' : ''} segmented with ${nnunetModel.name}` +
        (problems.length || ok < added.length ? ' (see the cards for the others).' : '.'),
      ok ? 'info' : 'error',
    );
  }
}

async function runVolume(card: VolumeCard): Promise<void> {
  if (!client || !card.files.length) return;
  card.abort?.abort();
  const abort = new AbortController();
  card.abort = abort;
  card.setState('queued', 'waiting for the model…');
  await track(modelLoading.catch(() => undefined));
  if (abort.signal.aborted) return;
  const m = nnunetModel;
  if (!m) return card.fail(`${card.name}: no nnU-Net model is loaded (drop its results folder or zip)`);
  try {
    const r = await track(
      client.call<CaseSummary>(
        'runCase',
        { key: card.key, name: card.name, files: card.files, stepSize: Number(ui.stepSize.value), mirroring: ui.mirroring.checked },
        { signal: abort.signal, onProgress: (p: CaseProgress) => card.progress(p) },
      ),
    );
    card.done(r, m.labels, Number(ui.opacity.value));
  } catch (e) {
    if (isAbort(e)) {
      if (volumeCards.includes(card)) card.setState('cancelled', 'cancelled');
    } else
      card.fail(
        wording(
          e,
          card.name,
          card.files.map((f) => f.name),
        ),
      );
  }
}

function removeVolume(card: VolumeCard): void {
  card.abort?.abort();
  const i = volumeCards.indexOf(card);
  if (i >= 0) volumeCards.splice(i, 1);
  card.el.remove();
  void client?.call('forget', { keys: [card.key] });
}

async function downloadVolume(card: VolumeCard): Promise<void> {
  if (!client) return;
  try {
    const f = await track(client.call<{ name: string; bytes: Uint8Array }>('downloadCase', { key: card.key }));
    save(f, 'application/gzip');
    say(`Saved ${f.name}.`);
  } catch (e) {
    say(wording(e, card.name), 'error');
  }
}

// --- drawing ------------------------------------------------------------------------------------------

function view() {
  return { threshold: Number(ui.threshold.value), opacity: Number(ui.opacity.value), channel: Number(ui.channel.value) || 0 };
}

let redrawQueued = false;
/** Redraws every card once per frame at most, however fast the sliders move. */
function redrawAll(): void {
  ui.thresholdValue.value = Number(ui.threshold.value).toFixed(2);
  ui.opacityValue.value = Number(ui.opacity.value).toFixed(2);
  if (redrawQueued) return;
  redrawQueued = true;
  requestAnimationFrame(() => {
    redrawQueued = false;
    const v = view();
    for (const c of cards) c.draw(v);
    for (const c of volumeCards) c.draw(v.opacity);
  });
}

// --- wiring -------------------------------------------------------------------------------------------

function wire(): void {
  ui.threshold.addEventListener('input', redrawAll);
  ui.opacity.addEventListener('input', redrawAll);
  ui.channel.addEventListener('change', redrawAll);
  const picker = (button: string, input: HTMLInputElement) => {
    $(button).addEventListener('click', () => input.click());
    input.addEventListener('change', () => {
      const files = filesFromInput(input);
      input.value = '';
      void addFiles(files);
    });
  };
  picker('open-images', ui.imageFiles);
  picker('open-model', ui.modelFiles);
  picker('open-folder', ui.modelFolder);
  picker('open-volumes', ui.volumeFiles);
  $('clear').addEventListener('click', clearAll);
  $('show-playground').addEventListener('click', () => showView(document.body.dataset.view === 'playground' ? 'app' : 'playground'));
  window.addEventListener('popstate', () => showView(location.pathname.endsWith('/playground') ? 'playground' : 'app', false));
  $('profile').addEventListener('click', () => void profileLayers());
  ui.modelDefault.addEventListener('click', () => void loadModel({ url: DEFAULT_MODEL_URL }, DEFAULT_MODEL_URL.split('/').pop()!));
  $('sample').addEventListener('click', async () => {
    try {
      const files = await Promise.all(
        SAMPLE_URLS.map(async (url) => {
          const r = await fetch(url);
          if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
          const name = url.split('/').pop()!;
          return { file: new File([await r.blob()], name, { type: 'image/png' }), path: name };
        }),
      );
      await addFiles(files);
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
    if (ev.dataTransfer) void filesFromDrop(ev.dataTransfer).then(addFiles);
  });
}

redrawAll();
wire();
showView(location.pathname.endsWith('/playground') ? 'playground' : 'app', false);
void start();
