// The model playground (/playground, the toolbar's Playground button): a form of a U-Net's options whose
// every change is described by the worker (valid values with why the others are not, exact parameters,
// GFLOP, GPU memory, the diagram), timed there on this device on request, pinned side by side, and
// exported as smp's config.json and model.safetensors. The form's state lives in the URL hash. DOM only:
// the worker (web/playgroundWorker.ts) does the describing, building and timing.
import type { ModelDescription, ModelOptions } from '../src/index.js';
import type { Client } from './rpc.js';
import { save } from './save.js';
import type { MeasureProgress, OptionChoice, PlaygroundBuilt, PlaygroundTimes, PlaygroundView, PlaygroundWeights } from './protocol.js';
import { networkSvg, timesChart, LINE_COLORS } from './playgroundDiagram.js';
import { type WeightsChoice, OPTION_FIELDS, channelsText, configKey, fromHash, parseChannels, shortName, toHash, weightsText } from './playgroundState.js';

/** The sizes measured and compared (pixels a side). */
export const SIZES = [256, 512, 1024] as const;
/** Pinned configurations at most (the chart's colours). */
export const MAX_PINNED = LINE_COLORS.length;

/** What the page lends the playground. */
export interface PlaygroundHost {
  /** the worker's client once the device is open; undefined where WebGPU is not available */
  ready: Promise<Client | undefined>;
  /** hands the built model `key` to the app's cards and shows them */
  useModel(key: string, name: string): void;
}

/** A pinned configuration: its figures at each size, and its times when it was measured. */
export interface Pinned {
  key: string;
  name: string;
  options: ModelOptions;
  weights: string;
  parameters: number;
  buffers: number;
  /** by size */
  gflop: number[];
  memoryBytes: number[];
  ms: (number | undefined)[];
}

const SELECTS = ['architecture', 'encoder', 'depth', 'attention', 'upsampling', 'decoderNorm', 'activation'] as const;
/** what a select shows for a value whose name is not what people call it */
const VALUE_NAMES: Record<string, string> = { 'nnunet-plain': 'nnU-Net Plain (2D)' };
const MiB = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const count = (n: number) => n.toLocaleString('en-US');
const isAbort = (e: unknown) => e instanceof Error && e.name === 'AbortError';
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function cell(tag: 'td' | 'th', text: string, attrs: Record<string, string> = {}): HTMLTableCellElement {
  const c = document.createElement(tag);
  c.textContent = text;
  for (const [k, v] of Object.entries(attrs)) c.setAttribute(k, v);
  return c;
}

export class Playground {
  private client: Client | undefined;
  private started = false;
  /** the newest describe answer, for the form's options as the worker completed them */
  private view: (PlaygroundView & { options: ModelOptions }) | undefined;
  private times: PlaygroundTimes | undefined;
  private readonly pinned: Pinned[] = [];
  private file: File | undefined;
  /** answers older than the newest request are dropped (the form moved on) */
  private asked = 0;
  private measuring: AbortController | undefined;
  /** what the browser tests read */
  readonly state = {
    busy: 0,
    error: '',
    /** the last export: its name and, for config.json, its text */
    exported: undefined as { name: string; text?: string; bytes: number } | undefined,
    built: undefined as PlaygroundBuilt | undefined,
  };

  constructor(private readonly host: PlaygroundHost) {
    (globalThis as unknown as { unetPlayground: unknown }).unetPlayground = this.hooks();
  }

  private hooks() {
    const self = this;
    return {
      get view() {
        return self.view;
      },
      get times() {
        return self.times;
      },
      get pinned() {
        return self.pinned;
      },
      get key() {
        return self.key();
      },
      state: this.state,
    };
  }

  /** Shows the form for the hash's configuration (the first time: wires the controls). */
  async open(): Promise<void> {
    if (!this.started) {
      this.started = true;
      this.wire();
    }
    this.client = await this.host.ready;
    if (!this.client) return this.say('WebGPU is not available here: the playground needs the page’s worker (see above).', 'error');
    await this.fromHash();
  }

  // --- the form ------------------------------------------------------------------------------------

  private select(k: string): HTMLSelectElement {
    return $(`pg-${k}`);
  }

  private size(): number {
    const v = document.querySelector<HTMLInputElement>('input[name="size"]:checked')?.value ?? '256';
    return v === 'custom' ? Number($<HTMLInputElement>('pg-custom-size').value) : Number(v);
  }

  private setSize(n: number): void {
    const fixed = (SIZES as readonly number[]).includes(n);
    for (const r of document.querySelectorAll<HTMLInputElement>('input[name="size"]')) r.checked = r.value === (fixed ? String(n) : 'custom');
    if (!fixed) $<HTMLInputElement>('pg-custom-size').value = String(n);
  }

  /** The options as the form shows them (text fields as typed: the worker completes and checks them). */
  private formOptions(): Partial<ModelOptions> {
    const o: Record<string, unknown> = {};
    for (const k of SELECTS) {
      const s = this.select(k);
      if (s.value !== '') o[k] = k === 'depth' ? Number(s.value) : s.value;
    }
    const channels = parseChannels($<HTMLInputElement>('pg-decoderChannels').value);
    if (channels) o.decoderChannels = channels;
    for (const k of ['inChannels', 'classes'] as const) {
      const v = $<HTMLInputElement>(`pg-${k}`).value;
      if (/^\d+$/.test(v)) o[k] = Number(v);
    }
    return o as Partial<ModelOptions>;
  }

  private seed(): number {
    const v = Number($<HTMLInputElement>('pg-seed').value);
    return Number.isSafeInteger(v) && v >= 0 ? v : 0;
  }

  private weightsKind(): 'random' | 'pretrained' {
    return $<HTMLInputElement>('pg-weights-pretrained').checked ? 'pretrained' : 'random';
  }

  /** The weights for the worker (the file as a Blob; the URL fetched there, only when building), or why not yet. */
  private weights(): PlaygroundWeights | string {
    const seed = this.seed();
    if (this.weightsKind() === 'random') return { kind: 'random', seed };
    if (this.view?.options.architecture === 'nnunet-plain') return 'nnU-Net Plain has no pretrained encoder: choose Random weights';
    const url = $<HTMLInputElement>('pg-encoder-url').value.trim();
    if (url) {
      try {
        const u = new URL(url, location.href);
        if (u.protocol !== 'https:' && u.protocol !== 'http:') return `the encoder URL must be http(s), not ${u.protocol}`;
        return { kind: 'url', seed, url: u.href };
      } catch {
        return `${url} is not a URL`;
      }
    }
    if (this.file) return { kind: 'file', seed, name: this.file.name, blob: this.file };
    return 'Pretrained encoder: choose the encoder’s file, or type its URL';
  }

  private weightsChoice(w: PlaygroundWeights): WeightsChoice {
    return w.kind === 'file' ? { kind: 'file', seed: w.seed, name: w.name, bytes: w.blob.size } : w;
  }

  /** The key of the configuration in the form, undefined while it cannot be built. */
  private key(): string | undefined {
    const w = this.weights();
    if (!this.view || this.view.problems.length || typeof w === 'string') return undefined;
    return configKey(this.view.options, this.weightsChoice(w));
  }

  private async fromHash(): Promise<void> {
    const h = fromHash(location.hash);
    if (h.seed !== undefined) $<HTMLInputElement>('pg-seed').value = String(h.seed);
    if (h.size !== undefined) this.setSize(h.size);
    await this.describe(h.options);
  }

  /** Asks the worker about `options` (the field just changed decides what follows it), then shows the answer. */
  private async describe(options: Partial<ModelOptions>, changed?: keyof ModelOptions): Promise<void> {
    if (!this.client) return;
    const n = ++this.asked;
    try {
      const change = changed && this.view ? { field: changed, previous: this.view.options } : undefined;
      const v = await this.track(this.client.call<PlaygroundView & { options: ModelOptions }>('pgDescribe', { options, change, size: this.size() }));
      if (n !== this.asked) return;
      this.view = v;
      this.show(v);
    } catch (e) {
      if (n === this.asked) this.say(`describing the model: ${(e as Error).message}`, 'error');
    }
  }

  private show(v: PlaygroundView & { options: ModelOptions }): void {
    const o = v.options;
    for (const k of SELECTS) this.fill(this.select(k), v.choices[k], o[k]);
    $<HTMLInputElement>('pg-decoderChannels').value = channelsText(o.decoderChannels);
    // suggestions: the sets that can be chosen now (typing any other list is fine: the worker checks it)
    const sets = (v.choices.decoderChannels ?? []).filter((c) => c.allowed && Array.isArray(c.value));
    $('pg-decoderChannels-list').replaceChildren(...sets.map((c) => new Option(channelsText(c.value as number[]))));
    $<HTMLInputElement>('pg-inChannels').value = String(o.inChannels);
    $<HTMLInputElement>('pg-classes').value = String(o.classes);
    const byField = new Map<string, string[]>();
    for (const p of v.problems) byField.set(p.field, [...(byField.get(p.field) ?? []), p.message]);
    for (const k of OPTION_FIELDS) $(`pg-${k}-why`).textContent = (byField.get(k) ?? []).join('; ');
    for (const k of OPTION_FIELDS) $(`pg-${k}`).setAttribute('aria-invalid', String(byField.has(k)));
    const w = this.weights();
    const problems = [...v.problems.map((p) => `${label(p.field)}: ${p.message}`), ...(typeof w === 'string' ? [w] : [])];
    $('pg-problems').replaceChildren(...problems.map((t) => Object.assign(document.createElement('li'), { textContent: t })));
    history.replaceState(history.state, '', toHash({ options: o, seed: this.seed(), size: this.size() }));
    this.figures(v.description);
    this.diagram(v.description);
    const ok = this.key() !== undefined;
    for (const id of ['pg-measure', 'pg-export-weights', 'pg-use']) $<HTMLButtonElement>(id).disabled = !ok || this.measuring !== undefined;
    const config = $<HTMLButtonElement>('pg-export-config');
    config.disabled = !v.config;
    config.title = v.config
      ? "smp's config.json: Unet(**config) or smp.from_pretrained builds this network"
      : v.problems.length
        ? 'fix the options first'
        : `${o.architecture === 'nnunet-plain' ? 'nnU-Net Plain' : 'the brain U-Net'} is not an smp model: smp has no config.json for it (model.safetensors has its weights)`;
    this.pinButton();
    if (this.times && this.times.key !== this.key()) this.showTimes(undefined);
  }

  /** A select's values from the worker's choices: a value that cannot be chosen is disabled, with why. */
  private fill(s: HTMLSelectElement, choices: OptionChoice[] | undefined, value: unknown): void {
    const list = choices?.length ? choices : [{ value, allowed: true }];
    s.replaceChildren(
      ...list.map((c) => {
        const text = String(c.value);
        const current = String(value) === text;
        const name = VALUE_NAMES[text] ?? text;
        // the current value's problem is written under the field: its option keeps its plain name
        const opt = new Option(c.allowed || current ? name : `${name} — ${c.why ?? 'not with these options'}`, text, false, current);
        opt.disabled = !c.allowed;
        if (c.why) opt.title = c.why;
        return opt;
      }),
    );
    s.value = String(value);
    // one value and nothing else to choose (the brain U-Net's encoder): nothing to change here
    s.disabled = list.length === 1 && !choices?.length;
  }

  private figures(d: ModelDescription | undefined): void {
    $('pg-figures-at').textContent = d ? `at ${d.input[0]}×${d.input[1]}${d.padded[0] !== d.input[0] ? ` (runs at ${d.padded[0]}×${d.padded[1]})` : ''}` : '';
    if (!d) return void $('pg-figures').replaceChildren();
    const m = d.memory;
    const rows: [string, string, string?][] = [
      ['Model', d.title],
      ['Parameters', count(d.parameters), 'parameters'],
      ['Buffers', count(d.buffers), 'buffers'],
      ['Encoder · decoder · head', `${count(d.parameterGroups.encoder)} · ${count(d.parameterGroups.decoder)} · ${count(d.parameterGroups.head)}`],
      ['GFLOP', d.gflop.toFixed(2), 'gflop'],
      ['GPU memory', `${MiB(m.totalBytes)} for one pass`, 'memory'],
      ['weights', MiB(m.weightsBytes)],
      ['activations', MiB(m.activationsBytes)],
      ['scratch', MiB(m.scratchBytes)],
      ['input + output', MiB(m.inputBytes + 2 * m.outputBytes)],
    ];
    if (d.unused.length) rows.push(['never run', d.unused.join('; ')]);
    $('pg-figures').replaceChildren(
      ...rows.flatMap(([k, v, id]) => {
        const dd = Object.assign(document.createElement('dd'), { textContent: v });
        if (id) dd.id = `pg-${id}`;
        return [Object.assign(document.createElement('dt'), { textContent: k }), dd];
      }),
    );
  }

  private diagram(d: ModelDescription | undefined): void {
    $('pg-diagram-at').textContent = d ? `at ${d.input[0]}×${d.input[1]}: channels × height × width` : '';
    $('pg-diagram').replaceChildren(...(d ? [networkSvg(d)] : []));
    const lines = d ? d.text.split('\n').filter(Boolean) : [];
    $('pg-diagram-text').replaceChildren(...lines.map((t) => Object.assign(document.createElement('li'), { textContent: t })));
  }

  // --- measuring ------------------------------------------------------------------------------------

  private buildArgs() {
    const w = this.weights();
    const key = this.key();
    if (!this.view || key === undefined || typeof w === 'string') return undefined;
    return { key, options: this.view.options, weights: w };
  }

  private async measure(): Promise<void> {
    const args = this.buildArgs();
    if (!args || !this.client) return;
    const sizes = [...document.querySelectorAll<HTMLInputElement>('input[name="measure-size"]:checked')].map((c) => Number(c.value));
    if (!sizes.length) return this.say('Tick at least one size to measure at.', 'error');
    const abort = new AbortController();
    this.measuring = abort;
    this.busyButtons(true);
    this.say('Building the model…');
    try {
      const t = await this.track(
        this.client.call<PlaygroundTimes>(
          'pgMeasure',
          { ...args, sizes },
          {
            signal: abort.signal,
            onProgress: (p: MeasureProgress) =>
              this.say(
                p.phase === 'building'
                  ? 'Building the model…'
                  : p.phase === 'compiling'
                    ? `Compiling for ${p.size}×${p.size} (the first run is not timed)…`
                    : `${p.size}×${p.size}: run ${p.run} took ${p.ms.toFixed(1)} ms…`,
              ),
          },
        ),
      );
      this.state.built = t.built;
      this.showTimes(t);
      const done = t.sizes.filter((s) => s.ms !== undefined);
      this.say(`Measured ${t.built.title}: ${done.map((s) => `${s.ms!.toFixed(1)} ms at ${s.size}×${s.size}`).join(', ') || 'no size fits'}.`);
    } catch (e) {
      this.say(isAbort(e) ? 'Measuring cancelled.' : `measuring: ${(e as Error).message}`, isAbort(e) ? 'info' : 'error');
    } finally {
      this.measuring = undefined;
      this.busyButtons(false);
    }
  }

  private busyButtons(busy: boolean): void {
    $('pg-cancel').hidden = !busy;
    const ok = this.key() !== undefined;
    for (const id of ['pg-measure', 'pg-export-weights', 'pg-use']) $<HTMLButtonElement>(id).disabled = busy || !ok;
    if (busy) $('pg-cancel').focus();
    else if (document.activeElement === document.body || document.activeElement?.id === 'pg-cancel') $('pg-measure').focus();
  }

  private showTimes(t: PlaygroundTimes | undefined): void {
    this.times = t;
    const table = $<HTMLTableElement>('pg-times');
    if (!t) {
      $('pg-measured-note').textContent = 'Not measured yet: press “Measure on this device”.';
      table.replaceChildren();
      $('pg-layers').replaceChildren();
      return;
    }
    $('pg-measured-note').textContent =
      `${t.built.title}, ${t.built.weights}: the median of the timed runs of one forward (upload, GPU, read back), after one untimed run that compiles the plan.`;
    const head = document.createElement('tr');
    for (const c of ['size', 'median ms', 'runs (ms)', 'note']) head.append(cell('th', c, { scope: 'col' }));
    const rows = t.sizes.map((s) => {
      const tr = document.createElement('tr');
      tr.dataset.size = String(s.size);
      tr.append(
        cell('th', `${s.size}×${s.size}`, { scope: 'row' }),
        cell('td', s.ms !== undefined ? s.ms.toFixed(1) : '—'),
        cell('td', s.runs?.map((r) => r.toFixed(1)).join(', ') ?? ''),
        cell('td', s.skipped ?? ''),
      );
      return tr;
    });
    table.replaceChildren(head, ...rows);
    this.layerBars(t);
  }

  /** Per-layer GPU time as bars (a table: a screen reader reads the numbers), or why there are none. */
  private layerBars(t: PlaygroundTimes): void {
    const box = $('pg-layers');
    if (!t.layers) return void box.replaceChildren(Object.assign(document.createElement('p'), { className: 'note', textContent: t.layersNote ?? '' }));
    const l = t.layers;
    const total = l.layers.reduce((s, x) => s + x.ms, 0);
    const max = Math.max(...l.layers.map((x) => x.ms), 1e-9);
    const table = document.createElement('table');
    table.className = 'pg-table pg-bars';
    table.append(
      Object.assign(document.createElement('caption'), {
        textContent: `Per-layer GPU time at ${l.width}×${l.height}: ${l.layers.length} layers, ${total.toFixed(2)} ms in all (${l.method})`,
      }),
    );
    const head = document.createElement('tr');
    for (const c of ['layer', 'ms', 'GPU time']) head.append(cell('th', c, { scope: 'col' }));
    table.append(head);
    for (const x of l.layers) {
      const tr = document.createElement('tr');
      const bar = document.createElement('td');
      const fill = Object.assign(document.createElement('span'), { className: 'bar', title: `${x.detail}: ${x.ms.toFixed(3)} ms` });
      fill.style.width = `${(100 * x.ms) / max}%`;
      bar.append(fill);
      tr.append(cell('td', x.label, { title: x.detail }), cell('td', x.ms.toFixed(3)), bar);
      table.append(tr);
    }
    box.replaceChildren(table);
  }

  // --- pin and compare ------------------------------------------------------------------------------

  private pinButton(): void {
    const b = $<HTMLButtonElement>('pg-pin');
    const key = this.key();
    const why =
      key === undefined
        ? 'fix the options first'
        : this.pinned.length >= MAX_PINNED
          ? `${MAX_PINNED} are pinned: remove one first`
          : this.pinned.some((p) => p.key === key)
            ? 'this configuration is pinned already'
            : '';
    b.disabled = why !== '';
    b.title = why || 'add this configuration to the table and the chart below';
  }

  private async pin(): Promise<void> {
    const key = this.key();
    const w = this.weights();
    if (!this.view || !this.client || key === undefined || typeof w === 'string' || this.pinned.length >= MAX_PINNED) return;
    const options = this.view.options;
    // the figures at every compared size (no GPU: describeModel)
    const at = await Promise.all(SIZES.map((size) => this.client!.call<PlaygroundView>('pgDescribe', { options, size })));
    const ds = at.map((v) => v.description!);
    const times = this.times?.key === key ? this.times : undefined;
    this.pinned.push({
      key,
      name: shortName(options),
      options,
      weights: weightsText(this.weightsChoice(w)),
      parameters: ds[0].parameters,
      buffers: ds[0].buffers,
      gflop: ds.map((d) => d.gflop),
      memoryBytes: ds.map((d) => d.memory.totalBytes),
      ms: SIZES.map((s) => times?.sizes.find((x) => x.size === s)?.ms),
    });
    this.compare();
    this.pinButton();
    this.say(`Pinned ${shortName(options)}${times ? '' : ' (not measured: its times stay empty)'}.`);
  }

  private unpin(i: number): void {
    const [gone] = this.pinned.splice(i, 1);
    this.compare();
    this.pinButton();
    this.say(`Removed ${gone.name}.`);
    const buttons = document.querySelectorAll<HTMLButtonElement>('#pg-pinned button.remove');
    (buttons[Math.min(i, buttons.length - 1)] ?? $('pg-pin')).focus();
  }

  /** The pinned configurations side by side (one column each) and the ms-vs-size chart. */
  private compare(): void {
    const n = this.pinned.length;
    $('pg-pinned-count').textContent = n ? `(${n} of ${MAX_PINNED})` : `(none: press Pin, change options, pin again; up to ${MAX_PINNED})`;
    const table = $<HTMLTableElement>('pg-pinned');
    if (!n) {
      table.replaceChildren();
      $('pg-chart').replaceChildren();
      return;
    }
    const row = (name: string, values: (string | Node)[], cls = '') => {
      const tr = document.createElement('tr');
      if (cls) tr.className = cls;
      tr.append(cell('th', name, { scope: 'row' }));
      for (const v of values) {
        const td = document.createElement('td');
        td.append(v);
        tr.append(td);
      }
      return tr;
    };
    const head = document.createElement('tr');
    head.append(cell('th', 'configuration', { scope: 'col' }));
    this.pinned.forEach((p, i) => {
      const th = cell('th', `${i + 1}. ${p.name}`, { scope: 'col', 'data-key': p.key });
      th.style.borderTop = `4px solid ${LINE_COLORS[i]}`;
      head.append(th);
    });
    const ms = (v: number | undefined) => (v === undefined ? '—' : v.toFixed(1));
    table.replaceChildren(
      head,
      row(
        'weights',
        this.pinned.map((p) => p.weights),
      ),
      row(
        'parameters',
        this.pinned.map((p) => count(p.parameters)),
        'parameters',
      ),
      row(
        'buffers',
        this.pinned.map((p) => count(p.buffers)),
      ),
      ...SIZES.map((s, k) =>
        row(
          `GFLOP at ${s}²`,
          this.pinned.map((p) => p.gflop[k].toFixed(2)),
        ),
      ),
      ...SIZES.map((s, k) =>
        row(
          `GPU memory at ${s}²`,
          this.pinned.map((p) => MiB(p.memoryBytes[k])),
        ),
      ),
      ...SIZES.map((s, k) =>
        row(
          `ms at ${s}²`,
          this.pinned.map((p) => ms(p.ms[k])),
          'ms',
        ),
      ),
      row(
        '',
        this.pinned.map((p, i) => {
          const b = Object.assign(document.createElement('button'), { type: 'button', className: 'remove', textContent: 'Remove' });
          b.setAttribute('aria-label', `Remove ${i + 1}. ${p.name}`);
          b.addEventListener('click', () => this.unpin(i));
          return b;
        }),
      ),
    );
    const lines = this.pinned.map((p, i) => ({
      name: `${p.name}`,
      points: SIZES.flatMap((s, k) => (p.ms[k] !== undefined ? [[s, p.ms[k]!] as [number, number]] : [])),
      index: i,
    }));
    $('pg-chart').replaceChildren(timesChart(lines, SIZES));
  }

  // --- export, the app's model, the cards -----------------------------------------------------------

  private async exportFile(kind: 'config' | 'weights'): Promise<void> {
    const args = this.view && { options: this.view.options, weights: this.weights() };
    if (!this.client || !args || (kind === 'weights' && typeof args.weights === 'string')) return;
    this.say(kind === 'config' ? 'Writing config.json…' : 'Writing model.safetensors (every tensor smp has)…');
    try {
      const f = await this.track(this.client.call<{ name: string; bytes: Uint8Array }>('pgExport', { ...args, key: this.key(), kind }));
      this.state.exported = { name: f.name, bytes: f.bytes.length, ...(kind === 'config' ? { text: new TextDecoder().decode(f.bytes) } : {}) };
      save(f, kind === 'config' ? 'application/json' : 'application/octet-stream');
      this.say(`Saved ${f.name} (${count(f.bytes.length)} bytes).`);
    } catch (e) {
      this.say(`exporting: ${(e as Error).message}`, 'error');
    }
  }

  private async fromModel(): Promise<void> {
    if (!this.client) return;
    const r = await this.client.call<{ options: ModelOptions; name: string } | { why: string }>('pgFromModel', {});
    const note = $('pg-from-model-note');
    if ('why' in r) {
      note.textContent = `Cannot: ${r.why}.`;
      return;
    }
    note.textContent = `The form holds ${r.name}'s options (its weights stay with the app: these are built random).`;
    $<HTMLInputElement>('pg-weights-random').checked = true;
    await this.describe(r.options);
  }

  private async use(): Promise<void> {
    const args = this.buildArgs();
    if (!args || !this.client) return;
    this.say('Building the model for the images…');
    try {
      const b = await this.track(this.client.call<PlaygroundBuilt>('pgBuild', args));
      this.state.built = b;
      this.host.useModel(b.key, `${shortName(args.options)} (${b.weights})`);
    } catch (e) {
      this.say(`building: ${(e as Error).message}`, 'error');
    }
  }

  // --- wiring ---------------------------------------------------------------------------------------

  private wire(): void {
    const again = (changed?: keyof ModelOptions) => void this.describe(this.formOptions(), changed);
    for (const k of SELECTS) this.select(k).addEventListener('change', () => again(k));
    for (const k of ['decoderChannels', 'inChannels', 'classes'] as const) $(`pg-${k}`).addEventListener('change', () => again(k));
    for (const r of document.querySelectorAll<HTMLInputElement>('input[name="size"]')) r.addEventListener('change', () => again());
    $('pg-custom-size').addEventListener('change', () => {
      for (const r of document.querySelectorAll<HTMLInputElement>('input[name="size"]')) r.checked = r.value === 'custom';
      again();
    });
    for (const id of ['pg-seed', 'pg-encoder-url', 'pg-weights-random', 'pg-weights-pretrained']) $(id).addEventListener('change', () => again());
    const picker = $<HTMLInputElement>('pg-encoder-file');
    $('pg-encoder-file-button').addEventListener('click', () => picker.click());
    picker.addEventListener('change', () => {
      this.file = picker.files?.[0];
      picker.value = '';
      $('pg-encoder-source').textContent = this.file ? `${this.file.name} (${count(this.file.size)} bytes)` : 'no file chosen';
      $<HTMLInputElement>('pg-encoder-url').value = '';
      $<HTMLInputElement>('pg-weights-pretrained').checked = true;
      again();
    });
    $('pg-form').addEventListener('submit', (ev) => ev.preventDefault());
    $('pg-measure').addEventListener('click', () => void this.measure());
    $('pg-cancel').addEventListener('click', () => this.measuring?.abort());
    $('pg-pin').addEventListener('click', () => void this.pin());
    $('pg-export-config').addEventListener('click', () => void this.exportFile('config'));
    $('pg-export-weights').addEventListener('click', () => void this.exportFile('weights'));
    $('pg-use').addEventListener('click', () => void this.use());
    $('pg-from-model').addEventListener('click', () => void this.fromModel());
    // a link pasted into the address bar (or back / forward within the hash)
    window.addEventListener('hashchange', () => {
      if (!$('playground').hidden) void this.fromHash();
    });
  }

  private async track<T>(p: Promise<T>): Promise<T> {
    this.state.busy++;
    $('playground').dataset.busy = 'true';
    try {
      return await p;
    } finally {
      if (--this.state.busy === 0) delete $('playground').dataset.busy;
    }
  }

  private say(text: string, kind: 'info' | 'error' = 'info'): void {
    const m = $('pg-message');
    m.textContent = text;
    m.className = kind;
    if (kind === 'error') this.state.error = text;
  }
}

/** The form's label of a field, as the page shows it. */
function label(field: string): string {
  if (field === 'size') return 'Input size';
  const el = document.querySelector(`label[for="pg-${field}"]`);
  return el?.textContent ?? field;
}
