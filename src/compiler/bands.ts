// Bands: running a node whose bindings would pass the binding limit as several dispatch sets, each binding
// only the rows it touches. Activations live in one arena buffer that may be far larger than one binding
// (maxBufferSize is 4 GiB where maxStorageBufferBindingSize is 128 MiB), so a 400 MB feature map is stored
// whole; what must stay under the limit is each binding, and a binding is a window of rows.
//
// A value's storage is flat rows of W pixels (the last spatial axis): row r of [N, C, H, W] is (n, y), of
// [N, C, D, H, W] it is (n, d, y). A band of a node is a range of its output rows; it binds, of each input,
// the rows its output rows read (OpDef.reach, clamped to the input), of its output the band's rows. The
// kernels compute with global coordinates, so a band's rows get exactly the bits one pass gives them; ops
// that reduce over every row (OpDef.banding 'reduce') accumulate band after band in the same order.
//
// Bands are planned greedily: each band takes as many rows as keep every window (and the node's scratch)
// within the limit, and ends where the op allows a band to start (OpDef.bandStart).
import { InputError } from '../errors.js';
import { type Band, type Graph, type Node, type Shape, type ValueId, storageC4 } from '../ir/graph.js';
import type { BufferRange, Nhwc4View } from '../kernels/common.js';
import { withDef } from '../ops/index.js';

import { type MemoryPlan, chunkOf } from './memory.js';

/** Flat rows of a value of this shape: N times every spatial extent but the last. */
export function rowsOf(shape: Shape): number {
  let rows = shape[0];
  for (let i = 2; i < shape.length - 1; i++) rows *= shape[i];
  return rows;
}

/** Row r of `shape` as [n, ...coordinates along every spatial axis but the last]. */
function coordsOf(shape: Shape, r: number): number[] {
  const out: number[] = [];
  for (let i = shape.length - 2; i >= 2; i--) {
    out.unshift(r % shape[i]);
    r = Math.floor(r / shape[i]);
  }
  out.unshift(r);
  return out;
}

/** The flat row of [n, ...coordinates] in `shape`. */
function rowAt(shape: Shape, coords: number[]): number {
  let r = coords[0];
  for (let i = 2; i < shape.length - 1; i++) r = r * shape[i] + coords[i - 1];
  return r;
}

export type RowReach = 'all' | ((axis: number, o: number) => [number, number]);

/** What input `k` of `node` reads of its rows, per output row (see OpDef.reach). */
export function reachOf(node: Node, k: number, input: Shape, output: Shape): RowReach {
  return withDef(node, (op, def) => {
    const same = input.length === output.length && input.every((d, i) => i < 2 || d === output[i]);
    if (def.reach) return def.reach(op, k, { input, output });
    if (same) return (_axis: number, o: number): [number, number] => [o, o];
    return 'all';
  });
}

/**
 * The input rows [first, last] (inclusive) the output rows [r0, r1) read through `reach`, for an input of
 * shape `input` and an output of shape `output`. Walks the rows once: along two banded axes (3D) the rows a
 * band reads are not an interval of the band's ends.
 */
export class ReachTracker {
  private lo = Number.POSITIVE_INFINITY;
  private hi = -1;
  constructor(
    private readonly reach: (axis: number, o: number) => [number, number],
    private readonly input: Shape,
    private readonly output: Shape,
  ) {}

  add(r: number): void {
    const [n, ...o] = coordsOf(this.output, r);
    const lo = [n];
    const hi = [n];
    for (let a = 0; a < o.length; a++) {
      const extent = this.input[2 + a];
      const [l, h] = this.reach(a, o[a]);
      lo.push(Math.min(Math.max(l, 0), extent - 1));
      hi.push(Math.min(Math.max(h, 0), extent - 1));
    }
    this.lo = Math.min(this.lo, rowAt(this.input, lo));
    this.hi = Math.max(this.hi, rowAt(this.input, hi));
  }

  /** [first, last + 1) */
  get rows(): [number, number] {
    return [this.lo, this.hi + 1];
  }
}

/** Where values live: enough of the memory plan to cut windows out of it. */
export interface Storage {
  g: Graph;
  shapes: Map<ValueId, Shape>;
  memory: MemoryPlan;
  alignment: number;
  vec4Bytes: number;
  /** bytes of each arena buffer (memory.ts chunkOf; Infinity: one buffer) */
  chunkBytes: number;
}

/** Bytes of one row of `v`'s root (all of its channels: a slice is bound with its neighbours). */
export function rowBytes(s: Storage, v: ValueId): number {
  const root = s.memory.location.get(v)!.root;
  const shape = s.shapes.get(root)!;
  return shape[shape.length - 1] * storageC4(s.g.values[root]) * s.vec4Bytes;
}

/** The byte window of rows [r0, r1) of `v` inside the arena, and the vec4 shift of its start. */
export function windowOf(s: Storage, v: ValueId, [r0, r1]: [number, number]): { offset: number; size: number; shift: number } {
  const loc = s.memory.location.get(v)!;
  const a = s.memory.allocations.get(loc.root)!;
  const rb = rowBytes(s, v);
  const start = a.offset + r0 * rb;
  const offset = Math.floor(start / s.alignment) * s.alignment;
  return { offset, size: a.offset + r1 * rb - offset, shift: (offset - a.offset) / s.vec4Bytes };
}

/** Bytes of `v`'s whole root: what an unbanded binding of it takes. */
export function wholeBytes(s: Storage, v: ValueId): number {
  return s.memory.allocations.get(s.memory.location.get(v)!.root)!.sizeBytes;
}

/** The range and view of `v` for a dispatch reading rows [r0, r1) of it ('all': the whole value). */
export function bindRows(s: Storage, arenas: readonly GPUBuffer[], v: ValueId, rows: [number, number] | 'all'): { range: BufferRange; view: Nhwc4View } {
  const loc = s.memory.location.get(v)!;
  const a = s.memory.allocations.get(loc.root)!;
  const c4Stride = storageC4(s.g.values[loc.root]);
  // a root never straddles two arena buffers (planMemory), so its windows sit in its own
  const at = chunkOf(a.offset, s.chunkBytes);
  const buffer = arenas[at.index];
  const base = a.offset - at.offset;
  if (rows === 'all') return { range: { buffer, offset: at.offset, size: a.sizeBytes }, view: { c4Stride, c4Offset: loc.c4Offset } };
  const w = windowOf(s, v, rows);
  return { range: { buffer, offset: w.offset - base, size: w.size }, view: { c4Stride, c4Offset: loc.c4Offset - w.shift } };
}

/** What a band of `node` binds: its output rows and, per input, the rows read ('all': the whole input). */
export interface BandWindows {
  band: Band;
  output: [number, number];
  inputs: ([number, number] | 'all')[];
}

/** The windows of output rows [r0, r1) of a 'rows' node. */
export function rowsBandWindows(s: Storage, node: Node, band: Band): BandWindows {
  const out = s.shapes.get(node.output)!;
  const inputs = node.inputs.map((v, k) => {
    const input = s.shapes.get(v)!;
    const reach = reachOf(node, k, input, out);
    if (reach === 'all') return 'all' as const;
    const t = new ReachTracker(reach, input, out);
    for (let r = band.row0; r < band.row0 + band.rows; r++) t.add(r);
    return t.rows;
  });
  return { band, output: [band.row0, band.row0 + band.rows], inputs };
}

/** The windows of a 'reduce' node's band of input rows: values of input 0's size bind those rows, others whole. */
export function reduceBandWindows(s: Storage, node: Node, band: Band): BandWindows {
  const base = s.shapes.get(node.inputs[0])!;
  const sameSize = (v: ValueId) => {
    const sh = s.shapes.get(v)!;
    return sh.length === base.length && sh.every((d, i) => i === 1 || d === base[i]);
  };
  const rows: [number, number] = [band.row0, band.row0 + band.rows];
  return { band, output: sameSize(node.output) ? rows : [0, rowsOf(s.shapes.get(node.output)!)], inputs: node.inputs.map((v) => (sameSize(v) ? rows : 'all')) };
}

/**
 * The bands of every node whose one-pass bindings (its values' whole roots, its scratch) would pass
 * `limit` bytes, by node name; nodes that fit are absent. `scratchOf(node, band)` gives the node's scratch
 * regions for a band (undefined: the whole output). A node that cannot be split finely enough is an
 * InputError naming it, the rows and the bytes (the caller may then fall back to windows).
 */
export function planBands(
  s: Storage,
  steps: readonly Node[],
  limit: number,
  scratchOf: (node: Node, band?: Band) => number[],
  where: string,
): Map<string, Band[]> {
  const plan = new Map<string, Band[]>();
  for (const node of steps) {
    const values = [node.output, ...node.inputs];
    const fits = values.every((v) => wholeBytes(s, v) <= limit) && scratchOf(node).every((b) => b <= limit);
    if (fits) continue;
    const banding = withDef(node, (_op, def) => def.banding ?? 'rows');
    const kind = withDef(node, (op) => op.kind);
    if (banding === 'none') {
      throw new InputError(
        `${where}: ${node.name} (${kind}) needs bindings of up to ${Math.max(...values.map((v) => wholeBytes(s, v)))} bytes, more than the binding limit (${limit}), and cannot run in bands`,
      );
    }
    // a reduce op's scratch (its running sums) serves every band: it must fit whole
    if (banding === 'reduce' && !scratchOf(node).every((b) => b <= limit)) tooSmall(where, node, 'its scratch', limit);
    const bands = banding === 'reduce' ? planReduceBands(s, node, limit, where) : planRowBands(s, node, limit, scratchOf, where);
    if (bands.length > 1) plan.set(node.name, bands);
  }
  return plan;
}

function tooSmall(where: string, node: Node, what: string, limit: number): never {
  throw new InputError(
    `${where}: ${node.name}: ${what} passes the binding limit (${limit} bytes) even in a band of one row; use windows (tile) or a smaller input`,
  );
}

function planRowBands(s: Storage, node: Node, limit: number, scratchOf: (node: Node, band?: Band) => number[], where: string): Band[] {
  const out = s.shapes.get(node.output)!;
  const total = rowsOf(out);
  const startOk = withDef(node, (op, def) => def.bandStart?.(op, out)) ?? (() => true);
  const reaches = node.inputs.map((v, k) => {
    const input = s.shapes.get(v)!;
    const reach = reachOf(node, k, input, out);
    if (reach === 'all' && wholeBytes(s, v) > limit) tooSmall(where, node, `its input ${s.g.values[v].name}, read whole`, limit);
    return { v, input, reach };
  });
  const fitsWindow = (v: ValueId, rows: [number, number]) => windowOf(s, v, rows).size <= limit;
  const bands: Band[] = [];
  let row0 = 0;
  while (row0 < total) {
    const trackers = reaches.map(({ v, input, reach }) => (reach === 'all' ? undefined : { v, t: new ReachTracker(reach, input, out) }));
    let end = 0; // the last end that fits and where a band may start (or the output's end)
    for (let r = row0; r < total; r++) {
      for (const x of trackers) x?.t.add(r);
      const rows1 = r + 1;
      const ok = fitsWindow(node.output, [row0, rows1]) && trackers.every((x) => !x || fitsWindow(x.v, x.t.rows));
      if (!ok) break;
      if (rows1 === total || startOk(rows1)) {
        const scratch = scratchOf(node, { row0, rows: rows1 - row0 });
        if (scratch.every((b) => b <= limit)) end = rows1;
        else if (end > 0) break;
      }
    }
    if (end === 0) tooSmall(where, node, `a band from row ${row0} (its output, an input's halo, or its scratch)`, limit);
    bands.push({ row0, rows: end - row0 });
    row0 = end;
  }
  return bands;
}

function planReduceBands(s: Storage, node: Node, limit: number, where: string): Band[] {
  const total = rowsOf(s.shapes.get(node.inputs[0])!);
  const bands: Band[] = [];
  let row0 = 0;
  while (row0 < total) {
    let end = row0;
    const fits = (rows: number) => {
      const w = reduceBandWindows(s, node, { row0, rows });
      const values: [ValueId, [number, number] | 'all'][] = [
        [node.output, w.output],
        ...node.inputs.map((v, k): [ValueId, [number, number] | 'all'] => [v, w.inputs[k]]),
      ];
      return values.every(([v, rows]) => (rows === 'all' ? wholeBytes(s, v) : windowOf(s, v, rows).size) <= limit);
    };
    // rows cost the same everywhere in a reduce band: grow by doubling, then bisect
    let lo = 0;
    let hi = 1;
    while (row0 + hi <= total && fits(hi)) {
      lo = hi;
      hi *= 2;
    }
    hi = Math.min(hi, total - row0 + 1);
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (fits(mid)) lo = mid;
      else hi = mid;
    }
    end = row0 + lo;
    if (end === row0) tooSmall(where, node, `a band from row ${row0}`, limit);
    bands.push({ row0, rows: end - row0 });
    row0 = end;
  }
  return bands;
}
