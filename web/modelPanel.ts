// The model playground's panel: what the loaded model is (architecture, encoder, depth, decoder channels,
// classes and their colours, activation, parameters, GFLOP and GPU memory at the current image size),
// the preprocessing it gets, and per-layer GPU times. DOM only.
import { legendItem } from './cards.js';
import type { CostAt, LayerTimes, ModelSummary } from './protocol.js';
import { WEIGHTS_LABEL, describeWeightBytes } from '../src/infoText.js';

const MiB = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

function row(term: string, value: string): HTMLElement[] {
  return [Object.assign(document.createElement('dt'), { textContent: term }), Object.assign(document.createElement('dd'), { textContent: value })];
}

/** The rows of the architecture table. */
export function modelRows(m: ModelSummary, cost?: CostAt): [string, string][] {
  const rows: [string, string][] = [
    ['architecture', m.name],
    ['encoder', m.encoder],
    ['depth', String(m.depth)],
    ['decoder channels', m.decoderChannels.join(', ')],
  ];
  if (m.attention) rows.push(['attention', m.attention]);
  rows.push(
    ['up-sampling', m.upsampling],
    ['input', `${m.inChannels} channel${m.inChannels > 1 ? 's' : ''}`],
    ['classes', `${m.classes}${m.multiClass ? ' (one class per pixel)' : m.classes > 1 ? ' (independent masks)' : ' (a mask)'}`],
    ['activation', m.activation],
    ['parameters', m.parameters.toLocaleString('en-US')],
    [WEIGHTS_LABEL, describeWeightBytes(m)],
  );
  if (cost) {
    rows.push(['GFLOP', `${cost.gflop.toFixed(2)} at ${cost.width}×${cost.height}`]);
    rows.push([
      'GPU memory',
      `${MiB(cost.onePassBytes)} for one pass at ${cost.width}×${cost.height}` +
        (cost.tiledBecause ? ` — too much (${cost.tiledBecause}): runs in windows` : ''),
    ]);
  }
  rows.push(['sizes', m.sizeMultiple > 1 ? `any (padded to multiples of ${m.sizeMultiple}, cropped back)` : 'any, as it is']);
  if (m.inferred.length) rows.push(['read from the tensors', m.inferred.join(', ')]);
  return rows;
}

export class ModelPanel {
  constructor(private readonly el: HTMLElement) {}

  private q<T extends Element>(s: string): T {
    return this.el.querySelector(s) as T;
  }

  show(m: ModelSummary, cost?: CostAt): void {
    this.q<HTMLElement>('#model').textContent = m.name;
    this.q<HTMLElement>('#model-error').textContent = '';
    this.q<HTMLElement>('#model-arch').replaceChildren(...modelRows(m, cost).flatMap(([k, v]) => row(k, v)));
    this.q<HTMLElement>('#model-preprocessing').textContent = m.preprocessingText;
    this.q<HTMLElement>('#model-input').hidden = false;
    this.q<HTMLElement>('#layers').hidden = false;
    const notes = [...m.notes, ...m.warnings.map((w) => `warning: ${w}`)];
    this.q<HTMLElement>('#model-notes').replaceChildren(...notes.map((n) => Object.assign(document.createElement('li'), { textContent: n })));
    const description = m.metadata.description ?? '';
    this.q<HTMLElement>('#model-description').textContent = description;
    this.q<HTMLElement>('#model-description').hidden = !description;
    this.q<HTMLElement>('#model-note').hidden = !m.randomWeights;
    const legend = this.q<HTMLElement>('#model-classes');
    legend.hidden = !m.multiClass;
    legend.querySelector('ul')!.replaceChildren(...m.classColors.map((c, i) => legendItem({ class: i, color: c.name, rgb: c.rgb })));
    this.q<HTMLButtonElement>('#profile').disabled = !m.canProfile;
    this.q<HTMLElement>('#profile-note').textContent = m.canProfile
      ? 'GPU time of each layer, from timestamp queries.'
      : 'This adapter has no timestamp queries: per-layer GPU times are not available here.';
    this.q<HTMLElement>('#profile-table').replaceChildren();
  }

  error(message: string, still?: string): void {
    this.q<HTMLElement>('#model-error').textContent = message + (still ? ` (still using ${still})` : '');
  }

  layers(t: LayerTimes): void {
    const total = t.layers.reduce((s, l) => s + l.ms, 0);
    const head = document.createElement('tr');
    for (const c of ['layer', 'shapes', 'ms', 'share', 'GFLOP/s']) head.append(Object.assign(document.createElement('th'), { textContent: c, scope: 'col' }));
    const rows = t.layers.map((l) => {
      const tr = document.createElement('tr');
      const cells = [
        l.label,
        l.detail,
        l.ms.toFixed(3),
        `${((100 * l.ms) / total).toFixed(1)}%`,
        l.ms > 0 && l.gflop > 0 ? (l.gflop / (l.ms / 1e3)).toFixed(1) : '',
      ];
      for (const c of cells) tr.append(Object.assign(document.createElement('td'), { textContent: c }));
      return tr;
    });
    const caption = Object.assign(document.createElement('caption'), {
      textContent: `${t.layers.length} layers at ${t.width}×${t.height}: ${total.toFixed(2)} ms in all (${t.method}, median of 3)`,
    });
    this.q<HTMLElement>('#profile-table').replaceChildren(caption, head, ...rows);
  }
}
