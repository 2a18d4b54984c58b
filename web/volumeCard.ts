// One card per nnU-Net case on the demo page: its name and channel files, progress over the windows with a
// Cancel button, then a slice viewer (axial, coronal and sagittal views of the first channel, a slider per
// view, the label overlay at the page's opacity), the legend with dataset.json's label names and each label's
// share, and the <case>.nii.gz download; or the case's problem in plain words. DOM only: the worker
// (web/worker.ts) reads and segments the volume.
import { button, cardControls, h } from './cards.js';
import type { CaseImage, CaseProgress, CaseSummary, VolumeLabel } from './protocol.js';

export type VolumeState = 'queued' | 'reading' | 'running' | 'done' | 'error' | 'cancelled';

export interface VolumeActions {
  cancel(card: VolumeCard): void;
  remove(card: VolumeCard): void;
  retry(card: VolumeCard): void;
  download(card: VolumeCard): void;
}

/** A view: the slice axis (in the NIfTI's x, y, z) and the two axes across it (columns, rows). */
const VIEWS = [
  { name: 'axial', axis: 2, u: 0, v: 1 },
  { name: 'coronal', axis: 1, u: 0, v: 2 },
  { name: 'sagittal', axis: 0, u: 1, v: 2 },
] as const;

export class VolumeCard {
  readonly el: HTMLElement;
  state: VolumeState = 'queued';
  image?: CaseImage;
  result?: CaseSummary;
  error = '';
  abort?: AbortController;
  /** the slice shown in each view */
  readonly slices = [0, 0, 0];
  private readonly q = <T extends Element>(s: string) => this.el.querySelector(s) as T;

  constructor(
    readonly key: string,
    readonly name: string,
    readonly files: { name: string; blob: Blob }[],
    actions: VolumeActions,
  ) {
    const controls = cardControls<VolumeCard>(this, name, actions);
    const views = VIEWS.map((v, i) => {
      const slider = document.createElement('input');
      Object.assign(slider, { type: 'range', className: `slice ${v.name}`, min: '0', max: '0', value: '0' });
      slider.setAttribute('aria-label', `${v.name} slice of ${name}`);
      slider.addEventListener('input', () => {
        this.slices[i] = Number(slider.value);
        this.drawView(i);
      });
      const figure = document.createElement('figure');
      figure.className = `view ${v.name}`;
      const canvas = document.createElement('canvas');
      canvas.className = v.name;
      const caption = document.createElement('figcaption');
      const index = document.createElement('output');
      index.className = 'slice-index';
      caption.append(v.name, ' ', index, slider);
      figure.append(canvas, caption);
      return figure;
    });
    this.el = h(
      'article',
      { className: 'result volume' },
      h(
        'header',
        {},
        h(
          'h2',
          {},
          h('span', { className: 'name', textContent: `${name}` }),
          ' ',
          h('span', { className: 'stats', textContent: files.map((f) => f.name).join(' + ') }),
        ),
        controls.actions,
      ),
      controls.status,
      controls.error,
      h('div', { className: 'views' }, ...views),
      h('ul', { className: 'classes' }),
      h(
        'div',
        { className: 'downloads' },
        button(`Download ${name}.nii.gz`, 'dl-nifti', () => actions.download(this), `Download ${name}.nii.gz`),
      ),
    );
    this.el.dataset.name = name;
    this.setState('queued', 'waiting for the model…');
  }

  setState(state: VolumeState, text = ''): void {
    this.state = state;
    this.el.dataset.state = state;
    const running = state === 'queued' || state === 'reading' || state === 'running';
    this.q<HTMLElement>('.status').hidden = !running && state !== 'cancelled';
    this.q<HTMLElement>('progress').hidden = !running;
    this.q<HTMLButtonElement>('button.cancel').hidden = !running;
    this.q<HTMLElement>('.progress-text').textContent = text;
    this.q<HTMLElement>('button.retry').hidden = running || state === 'done';
    this.q<HTMLElement>('.downloads').hidden = state !== 'done';
    this.q<HTMLElement>('.views').hidden = !this.image;
    if (state !== 'error') this.q<HTMLElement>('.error').textContent = '';
  }

  progress(p: CaseProgress): void {
    const bar = this.q<HTMLProgressElement>('progress');
    if (p.phase === 'reading') {
      this.setState('reading', 'reading the volume…');
      return;
    }
    if (p.phase === 'read') {
      this.image = p.image;
      this.result = undefined;
      const [nx, ny, nz] = p.image.dims;
      VIEWS.forEach((v, i) => {
        const n = p.image.dims[v.axis];
        this.slices[i] = Math.floor(n / 2);
        const slider = this.q<HTMLInputElement>(`input.slice.${v.name}`);
        slider.max = String(n - 1);
        slider.value = String(this.slices[i]);
      });
      this.setState('running', `${nx} × ${ny} × ${nz} voxels; preprocessing…`);
      this.draw(0);
      return;
    }
    bar.value = p.total ? p.done / p.total : 0;
    this.el.dataset.done = String(p.done);
    this.el.dataset.total = String(p.total);
    this.setState('running', `window batch ${p.done} of ${p.total}`);
  }

  done(r: CaseSummary, labels: VolumeLabel[], opacity: number): void {
    this.result = r;
    const t = r.timings;
    this.setState('done');
    const total = r.labels.length;
    this.q<HTMLElement>('.stats').textContent =
      `${this.files.map((f) => f.name).join(' + ')} — ${(r.runMs / 1000).toFixed(1)} s (preprocessing ${(t.preprocessMs / 1000).toFixed(1)} s, ` +
      `${r.windows.batches} window batch${r.windows.batches > 1 ? 'es' : ''} ${(t.windowsMs / 1000).toFixed(1)} s, export ${(t.exportMs / 1000).toFixed(1)} s)`;
    const items = labels.map((l) => {
      const voxels = r.counts.find((c) => c.value === l.value)?.voxels ?? 0;
      const swatch = h('i', { className: l.value === 0 ? 'swatch background' : 'swatch' });
      swatch.style.background = `rgb(${l.rgb.join(',')})`;
      return h('li', {}, swatch, `${l.value} ${l.name}: ${((100 * voxels) / total).toFixed(1)}%`);
    });
    this.q<HTMLElement>('ul.classes').replaceChildren(...items);
    this.draw(opacity, labels);
  }

  fail(text: string): void {
    this.error = text;
    this.setState('error');
    this.q<HTMLElement>('.error').textContent = text;
  }

  private colors: Uint8Array = new Uint8Array(0);
  private opacity = 0;

  /** Draws the three views: the image, and the labels at `opacity` when there are some. */
  draw(opacity: number, labels?: VolumeLabel[]): void {
    this.opacity = opacity;
    if (labels) {
      const max = Math.max(0, ...labels.map((l) => l.value));
      this.colors = new Uint8Array(3 * (max + 1));
      for (const l of labels) this.colors.set(l.rgb, 3 * l.value);
    }
    for (let i = 0; i < VIEWS.length; i++) this.drawView(i);
  }

  /** One view: slice `slices[i]`, rows flipped so that the last row of the volume is at the top. */
  drawView(i: number): void {
    const img = this.image;
    if (!img) return;
    const v = VIEWS[i];
    const dims = img.dims;
    const [W, H] = [dims[v.u], dims[v.v]];
    const k = Math.min(this.slices[i], dims[v.axis] - 1);
    const stride = [1, dims[0], dims[0] * dims[1]];
    const canvas = this.q<HTMLCanvasElement>(`canvas.${v.name}`);
    canvas.width = W;
    canvas.height = H;
    canvas.style.aspectRatio = `${W * img.spacing[v.u]} / ${H * img.spacing[v.v]}`;
    const out = new ImageData(W, H);
    const labels = this.result?.labels;
    const a = this.opacity;
    let labelled = 0;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const voxel = x * stride[v.u] + (H - 1 - y) * stride[v.v] + k * stride[v.axis];
        const g = img.gray[voxel];
        const o = 4 * (y * W + x);
        const l = labels ? labels[voxel] : 0;
        if (l > 0 && 3 * l < this.colors.length) {
          labelled++;
          for (let c = 0; c < 3; c++) out.data[o + c] = Math.round(g * (1 - a) + this.colors[3 * l + c] * a);
        } else out.data.fill(g, o, o + 3);
        out.data[o + 3] = 255;
      }
    }
    canvas.getContext('2d')!.putImageData(out, 0, 0);
    canvas.dataset.labelled = String(labelled);
    canvas.dataset.slice = String(k);
    this.q<HTMLOutputElement>(`.view.${v.name} output`).value = `${k + 1} / ${dims[v.axis]}`;
  }
}
