// One card per image on the demo page: its name, progress (windows done / total) with a Cancel button
// while it runs, then the image, the probability heatmap and the overlay (previews), the class legend of
// a multi-class model, and the downloads; or the file's error in plain words. DOM only: the worker
// (web/worker.ts) does the work.
import { type RgbaImage, renderOverlay } from '../src/io/render.js';
import type { LegendEntry } from '../src/io/classes.js';
import type { DownloadKind, Preview, SegmentProgress, SegmentSummary } from './protocol.js';
import { VIRIDIS_CSS, heatmap } from './render.js';
import { atThreshold } from './segmentation.js';

export type CardState = 'queued' | 'decoding' | 'running' | 'done' | 'error' | 'cancelled';

/** What the sliders and the class selector say, for drawing. */
export interface View {
  threshold: number;
  opacity: number;
  channel: number;
}

export interface CardActions {
  cancel(card: Card): void;
  remove(card: Card): void;
  retry(card: Card): void;
  download(card: Card, kind: DownloadKind): void;
}

export const h = <K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]) => {
  const el = Object.assign(document.createElement(tag), props);
  el.append(...children);
  return el;
};

export const button = (text: string, cls: string, onclick: () => void, label?: string) =>
  h('button', { type: 'button', className: cls, textContent: text, onclick, ...(label ? { ariaLabel: label } : {}) });

/** What an image card and a volume card (web/volumeCard.ts) both show: Run again and Remove for the header, the
 *  progress with its Cancel button, and the line for the error. */
export function cardControls<C>(card: C, name: string, actions: { cancel(card: C): void; remove(card: C): void; retry(card: C): void }) {
  return {
    actions: h(
      'span',
      { className: 'card-actions' },
      button('Run again', 'retry', () => actions.retry(card), `Run ${name} again`),
      button('Remove', 'remove', () => actions.remove(card), `Remove ${name}`),
    ),
    status: h(
      'div',
      { className: 'status' },
      h('progress', { max: 1 }),
      h('span', { className: 'progress-text' }),
      button('Cancel', 'cancel', () => actions.cancel(card), `Cancel ${name}`),
    ),
    error: h('p', { className: 'error', role: 'alert' }),
  };
}

export class Card {
  readonly el: HTMLElement;
  state: CardState = 'queued';
  result?: SegmentSummary;
  error = '';
  /** the file itself is the problem (not an image): running it again cannot help */
  badFile = false;
  /** aborts the card's call in the worker */
  abort?: AbortController;
  private readonly q = <T extends Element>(s: string) => this.el.querySelector(s) as T;

  constructor(
    readonly key: string,
    readonly name: string,
    readonly file: Blob,
    actions: CardActions,
  ) {
    const figure = (cls: string, caption: string | Node) => h('figure', {}, h('canvas', { className: cls }), h('figcaption', {}, caption));
    const scale = h('span', { className: 'scale' }, '0', h('i'), '1');
    (scale.querySelector('i') as HTMLElement).style.background = VIRIDIS_CSS;
    const controls = cardControls<Card>(this, name, actions);
    this.el = h(
      'article',
      { className: 'result' },
      h('header', {}, h('h2', {}, h('span', { className: 'name', textContent: name }), ' ', h('span', { className: 'stats' })), controls.actions),
      controls.status,
      controls.error,
      h(
        'div',
        { className: 'panes' },
        figure('image', 'Image'),
        figure('heatmap', h('span', {}, 'Probability ', scale)),
        figure('overlay', h('span', {}, 'Overlay ', h('span', { className: 'coverage' }))),
      ),
      h('ul', { className: 'classes', hidden: true }),
      h(
        'div',
        { className: 'downloads' },
        'Download (full size): ',
        button('Mask PNG', 'dl-mask', () => actions.download(this, 'mask')),
        button('Overlay PNG', 'dl-overlay', () => actions.download(this, 'overlay')),
        button('Probabilities (16-bit PNG)', 'dl-probs', () => actions.download(this, 'probs')),
      ),
    );
    this.el.dataset.key = key;
    this.el.dataset.name = name;
    this.q<HTMLElement>('.panes').hidden = true; // until the image is decoded
    this.setState('queued', 'waiting for the model…');
  }

  setState(state: CardState, text = ''): void {
    this.state = state;
    this.el.dataset.state = state;
    this.q<HTMLElement>('.progress-text').textContent = text;
    const busy = state === 'queued' || state === 'decoding' || state === 'running';
    this.q<HTMLElement>('.status').hidden = !(busy || state === 'cancelled');
    this.q<HTMLElement>('progress').hidden = !busy;
    this.q<HTMLButtonElement>('button.cancel').hidden = !busy;
    // the file itself cannot get better; a cancelled run, a failed one or a done one (other windows, another
    // model) can be run again
    this.q<HTMLButtonElement>('button.retry').hidden = busy || (state === 'error' && this.badFile);
    this.q<HTMLElement>('.downloads').hidden = state !== 'done';
    if (state !== 'error') this.q<HTMLElement>('.error').textContent = '';
    if (busy) this.q<HTMLProgressElement>('progress').removeAttribute('value'); // indeterminate until windows are counted
  }

  progress(p: SegmentProgress): void {
    if (p.phase === 'decoding') {
      this.setState('decoding', 'decoding…');
      return;
    }
    if (p.phase === 'decoded') {
      this.showImage(p.preview);
      return;
    }
    const bar = this.q<HTMLProgressElement>('progress');
    this.setState('running', p.total > 1 ? `${p.width}×${p.height}: ${p.done} of ${p.total} windows` : `${p.width}×${p.height}: running…`);
    [this.el.dataset.done, this.el.dataset.total] = [String(p.done), String(p.total)];
    if (p.done > 0 || p.total > 1) {
      bar.max = p.total;
      bar.value = p.done;
    }
  }

  /** The image alone, while it runs: the result panes wait for the result. */
  private showImage(p: Preview): void {
    paint(this.q('canvas.image'), { data: p.image, width: p.width, height: p.height });
    this.q<HTMLElement>('.panes').hidden = false;
    for (const f of this.el.querySelectorAll<HTMLElement>('.panes figure:not(:first-child)')) f.hidden = true;
  }

  fail(message: string, badFile = false): void {
    this.error = message;
    this.badFile = badFile;
    this.setState('error');
    this.q<HTMLElement>('.error').textContent = message;
    this.q<HTMLElement>('.stats').textContent = '';
    this.q<HTMLElement>('.panes').hidden = true;
  }

  done(r: SegmentSummary): void {
    this.result = r;
    this.error = '';
    this.setState('done');
    this.q<HTMLElement>('.panes').hidden = false;
    for (const f of this.el.querySelectorAll<HTMLElement>('.panes figure')) f.hidden = false;
    const t = r.tiling ? ` · ${r.tiling.windows} window${r.tiling.windows > 1 ? 's' : ''} of ${r.tiling.roi[1]}×${r.tiling.roi[0]}` : '';
    const shown = r.preview.width !== r.width ? ` · previews at ${r.preview.width}×${r.preview.height}` : '';
    this.q<HTMLElement>('.stats').textContent =
      `${r.width}×${r.height} · ${r.runMs.toFixed(0)} ms${r.firstOfSize ? ' (first run at this size: includes compiling)' : ''}${t}${shown}`;
    const dlMask = this.q<HTMLButtonElement>('button.dl-mask');
    dlMask.textContent = r.kind === 'classes' ? 'Label map PNG' : 'Mask PNG';
  }

  /** Redraws the previews for the sliders' values. */
  draw(v: View): void {
    const r = this.result;
    if (!r) return;
    const p = r.preview;
    const image: RgbaImage = { data: p.image, width: p.width, height: p.height };
    paint(this.q('canvas.image'), image);
    const n = p.width * p.height;
    const c = Math.min(v.channel, r.classes - 1);
    paint(this.q('canvas.heatmap'), heatmap(p.probabilities.subarray(c * n, (c + 1) * n), p.width, p.height));
    const seg = atThreshold({ width: p.width, height: p.height, classes: r.classes, kind: r.kind, probabilities: p.probabilities, mask: p.mask }, v.threshold);
    paint(this.q('canvas.overlay'), renderOverlay(image, seg, { opacity: v.opacity }));
    const list = this.q<HTMLUListElement>('ul.classes');
    list.hidden = !r.legend;
    if (r.legend) {
      this.q<HTMLElement>('.coverage').textContent = `(${r.classes} classes)`;
      list.replaceChildren(...r.legend.map(legendItem));
      this.el.dataset.classPixels = r.legend.map((k) => k.pixels).join(',');
      return;
    }
    let on = 0;
    for (const m of seg.masks![c]) on += m;
    this.q<HTMLElement>('.coverage').textContent = `(${((100 * on) / n).toFixed(1)}% > ${v.threshold.toFixed(2)})`;
    this.el.dataset.maskPixels = String(on);
  }
}

function paint(canvas: HTMLCanvasElement, img: RgbaImage): void {
  canvas.width = img.width;
  canvas.height = img.height;
  canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(img.data), img.width, img.height), 0, 0);
}

/** One legend line: class index, colour swatch (class 0, the background, is not drawn), share of the pixels. */
export function legendItem(k: Pick<LegendEntry, 'class' | 'color' | 'rgb'> & { fraction?: number }): HTMLLIElement {
  const swatch = h('i', { className: k.class === 0 ? 'swatch background' : 'swatch' });
  swatch.style.background = `rgb(${k.rgb.join(',')})`;
  return h('li', {}, swatch, `${k.class} ${k.color}` + (k.fraction !== undefined ? `: ${(100 * k.fraction).toFixed(1)}%` : ''));
}
