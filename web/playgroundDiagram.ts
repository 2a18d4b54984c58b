// The playground's drawings, as SVG built from data: the network (describeModel's stages: encoder stages,
// decoder blocks, skips and head with their feature-map shapes), and the pinned configurations' ms-vs-size
// chart. DOM only; the text versions sit beside them (web/playground.ts).
import type { DescribedStage, ModelDescription } from '../src/index.js';

const SVG = 'http://www.w3.org/2000/svg';

function el<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}, text?: string): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

const BOX_W = 150;
const BOX_H = 40;
const COL = 190;
const ROW = 54;
const PAD = 14;

/** C×H×W of a stage's output. */
export const shapeText = (s: DescribedStage) => `${s.shape[1]}×${s.shape[2]}×${s.shape[3]}`;

/**
 * Where each box goes. The input and the encoder stages take the first column, one row each, a row a level
 * deeper (usually half the size). A decoder block sits in the row of the encoder stage it takes a skip from
 * (one row up from its input when it takes none); its column is that of its inputs from other rows and one
 * past those from its own row. A U-Net draws as a U (the encoder down the left, the decoder up the right,
 * each skip level across); UNet++'s nested blocks fill the triangle between. The head follows its input.
 */
export function layout(stages: readonly DescribedStage[]): Map<string, { col: number; row: number }> {
  const at = new Map<string, { col: number; row: number }>();
  const kind = new Map(stages.map((s) => [s.id, s.kind]));
  let encoderRow = -1;
  const scaleRow = (s: DescribedStage, input: DescribedStage) => Math.max(0, Math.round(Math.log2(input.shape[2] / Math.max(1, s.shape[2]))));
  const input = stages[0];
  for (const s of stages) {
    if (s.kind === 'input' || s.kind === 'encoder') {
      encoderRow = Math.max(scaleRow(s, input), encoderRow + 1);
      at.set(s.id, { col: 0, row: encoderRow });
    }
  }
  let lastCol = 0;
  for (const s of stages) {
    if (s.kind !== 'decoder' && s.kind !== 'head') continue;
    const from = s.from !== undefined ? at.get(s.from) : undefined;
    const encoderSkips = s.skips.filter((k) => kind.get(k) !== 'decoder').map((k) => at.get(k)?.row ?? 0);
    const row = s.kind === 'head' ? (from?.row ?? 0) : encoderSkips.length ? Math.max(...encoderSkips) : Math.max(0, (from?.row ?? 1) - 1);
    let col = 1;
    for (const k of [s.from, ...s.skips]) {
      const p = k !== undefined && kind.get(k) === 'decoder' ? at.get(k) : undefined;
      if (p) col = Math.max(col, p.row === row ? p.col + 1 : p.col);
    }
    if (s.kind === 'head') col = lastCol + 1;
    lastCol = Math.max(lastCol, col);
    at.set(s.id, { col, row });
  }
  return at;
}

/** The network as an SVG: a box per stage (kind, label, C×H×W), an arrow from its input, dashed skips. */
export function networkSvg(d: ModelDescription): SVGSVGElement {
  const at = layout(d.stages);
  const cols = Math.max(...[...at.values()].map((p) => p.col)) + 1;
  const rows = Math.max(...[...at.values()].map((p) => p.row)) + 1;
  const [W, H] = [cols * COL + 2 * PAD - (COL - BOX_W), rows * ROW + 2 * PAD - (ROW - BOX_H)];
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-labelledby': 'pg-svg-title pg-svg-desc', class: 'pg-network' });
  svg.append(
    el('title', { id: 'pg-svg-title' }, `Diagram of ${d.title} at ${d.input[0]}×${d.input[1]}`),
    el(
      'desc',
      { id: 'pg-svg-desc' },
      'Encoder stages go down, decoder blocks come back up; dashed lines are skip connections. The text version follows the drawing.',
    ),
    arrowHead(),
  );
  const box = (id: string) => {
    const p = at.get(id)!;
    return { x: PAD + p.col * COL, y: PAD + p.row * ROW };
  };
  const edges = el('g', { class: 'edges' });
  for (const s of d.stages) {
    const b = box(s.id);
    if (s.from !== undefined && at.has(s.from)) edges.append(edge(box(s.from), b, false));
    for (const k of s.skips) if (at.has(k)) edges.append(edge(box(k), b, true));
  }
  const boxes = el('g', { class: 'boxes' });
  for (const s of d.stages) {
    const b = box(s.id);
    const g = el('g', { class: `stage ${s.kind}`, 'data-id': s.id, transform: `translate(${b.x} ${b.y})` });
    g.append(
      el('title', {}, `${s.label}${s.module ? ` (${s.module})` : ''}: output ${shapeText(s)}, ${s.parameters.toLocaleString('en-US')} parameters`),
      el('rect', { width: BOX_W, height: BOX_H, rx: 5 }),
      el('text', { x: BOX_W / 2, y: 16, 'text-anchor': 'middle', class: 'name' }, s.label.length > 24 ? `${s.label.slice(0, 23)}…` : s.label),
      el('text', { x: BOX_W / 2, y: 31, 'text-anchor': 'middle', class: 'shape' }, shapeText(s)),
    );
    boxes.append(g);
  }
  svg.append(edges, boxes);
  return svg;
}

function arrowHead(): SVGDefsElement {
  const defs = el('defs');
  const marker = el('marker', { id: 'pg-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: 'auto-start-reverse' });
  marker.append(el('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow' }));
  defs.append(marker);
  return defs;
}

/** Down or up a column: edge to edge, straight; across columns: right side to left side; along a row over
 *  other boxes: an arc above them. */
function edge(a: { x: number; y: number }, b: { x: number; y: number }, skip: boolean): SVGPathElement {
  let d: string;
  const [ay, by] = [a.y + BOX_H / 2, b.y + BOX_H / 2];
  if (a.x === b.x) {
    const x = a.x + BOX_W / 2;
    d = b.y > a.y ? `M${x},${a.y + BOX_H} L${x},${b.y}` : `M${x},${a.y} L${x},${b.y + BOX_H}`;
  } else if (a.y !== b.y || b.x - a.x <= COL) {
    const [x1, x2] = [a.x + BOX_W, b.x];
    const mid = (x1 + x2) / 2;
    d = a.y === b.y ? `M${x1},${ay} L${x2},${by}` : `M${x1},${ay} C${mid},${ay} ${mid},${by} ${x2},${by}`;
  } else {
    // within the gap between rows (and the top padding): longer arcs rise higher
    const lift = Math.min(ROW - BOX_H - 2, 4 + 2 * ((b.x - a.x) / COL));
    d = `M${a.x + BOX_W / 2},${a.y} C${a.x + BOX_W / 2},${a.y - lift} ${b.x + BOX_W / 2},${b.y - lift} ${b.x + BOX_W / 2},${b.y}`;
  }
  return el('path', { d, class: skip ? 'skip' : 'flow', 'marker-end': 'url(#pg-arrow)' });
}

// --- the pinned configurations' chart -----------------------------------------------------------------

export interface ChartLine {
  name: string;
  /** [size, ms], sizes ascending */
  points: [number, number][];
}

/** Six lines at most: colour-blind-safe hues (Okabe–Ito), one a pinned configuration. */
export const LINE_COLORS = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#d55e00', '#56b4e9'];

/** ms against the input size (both axes logarithmic: each size has 4× the pixels of the last), one line a
 *  configuration, with its points marked and a legend. */
export function timesChart(lines: readonly ChartLine[], sizes: readonly number[]): SVGSVGElement {
  const [W, H, L, R, T, B] = [560, 260, 56, 28, 12, 40];
  const svg = el('svg', {
    viewBox: `0 0 ${W} ${H + 22 * Math.ceil(lines.length / 2)}`,
    role: 'img',
    'aria-labelledby': 'pg-chart-title',
    class: 'pg-chart-svg',
  });
  svg.append(
    el('title', { id: 'pg-chart-title' }, 'Median ms of one forward against the input size, one line a pinned configuration (the table above has the numbers)'),
  );
  const all = lines.flatMap((l) => l.points.map((p) => p[1])).filter((v) => v > 0);
  if (!all.length) all.push(1, 1000);
  const [lo, hi] = [10 ** Math.floor(Math.log10(Math.min(...all))), 10 ** Math.ceil(Math.log10(Math.max(...all)))];
  const x = (s: number) => L + ((Math.log2(s) - Math.log2(sizes[0])) / Math.max(1, Math.log2(sizes.at(-1)! / sizes[0]))) * (W - L - R);
  const y = (ms: number) => T + (1 - (Math.log10(ms) - Math.log10(lo)) / Math.max(1, Math.log10(hi / lo))) * (H - T - B);
  const axes = el('g', { class: 'axes' });
  for (const s of sizes) {
    axes.append(el('line', { x1: x(s), x2: x(s), y1: T, y2: H - B, class: 'grid' }));
    axes.append(el('text', { x: x(s), y: H - B + 16, 'text-anchor': 'middle' }, `${s}²`));
  }
  for (let v = lo; v <= hi * 1.001; v *= 10) {
    axes.append(el('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }));
    axes.append(el('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, v >= 1000 ? `${v / 1000} s` : `${v} ms`));
  }
  axes.append(el('text', { x: (L + W - R) / 2, y: H - 6, 'text-anchor': 'middle', class: 'axis-name' }, 'input size (pixels)'));
  svg.append(axes);
  if (all.length === 2 && !lines.some((l) => l.points.length))
    svg.append(el('text', { x: (L + W - R) / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' }, 'No times yet: measure a configuration, then pin it.'));
  lines.forEach((l, i) => {
    const color = LINE_COLORS[i % LINE_COLORS.length];
    const pts = l.points.filter((p) => p[1] > 0);
    const g = el('g', { class: 'line', 'data-name': l.name });
    if (pts.length > 1)
      g.append(el('polyline', { points: pts.map(([s, ms]) => `${x(s)},${y(ms)}`).join(' '), stroke: color, fill: 'none', 'stroke-width': 2 }));
    for (const [s, ms] of pts) {
      const dot = el('circle', { cx: x(s), cy: y(ms), r: 4, fill: color });
      dot.append(el('title', {}, `${l.name}: ${ms.toFixed(1)} ms at ${s}×${s}`));
      g.append(dot);
    }
    const [lx, ly] = [L + (i % 2) * ((W - L) / 2), H + 14 + 22 * Math.floor(i / 2)];
    g.append(el('rect', { x: lx, y: ly - 9, width: 14, height: 4, fill: color }));
    g.append(el('text', { x: lx + 20, y: ly - 3, class: 'legend' }, `${i + 1}. ${l.name.length > 38 ? `${l.name.slice(0, 37)}…` : l.name}`));
    svg.append(g);
  });
  return svg;
}
