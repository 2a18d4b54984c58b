// Activation memory planning.
//
// Every value that is not placed inside another (placeConcat) is a *root* and needs storage. A root is
// live from the first step that writes it (or writes a slice placed in it) to the last step that reads it
// (or reads a slice placed in it); the skip connections of a U-Net are therefore live from their encoder
// block to their decoder block. All roots share one arena (one buffer, or several of maxBufferSize where it
// is larger, no root straddling two): roots are placed largest first, each at
// the lowest offset that does not overlap a root whose lifetime overlaps its own ("greedy by size", as in
// TFLite's arena planner). Two roots alive at the same step never share bytes, which also keeps a step's
// read and write bindings disjoint, as WebGPU requires of writable storage bindings in one dispatch.
import { type Graph, type Shape, type ValueId, positions, storageC4 } from '../ir/graph.js';
import { InputError } from '../errors.js';

export interface Allocation {
  root: ValueId;
  offset: number;
  sizeBytes: number;
  firstStep: number;
  lastStep: number;
}

/** Arena offset -> the buffer holding it (arena buffers are chunkBytes each, the last one shorter) and the
 *  offset inside that buffer. */
export function chunkOf(offset: number, chunkBytes: number): { index: number; offset: number } {
  if (!Number.isFinite(chunkBytes)) return { index: 0, offset };
  const index = Math.floor(offset / chunkBytes);
  return { index, offset: offset - index * chunkBytes };
}

export interface MemoryPlan {
  /** storage of each root value */
  allocations: Map<ValueId, Allocation>;
  /** for every value: its root and the vec4 offset of its channels inside the root's pixels */
  location: Map<ValueId, { root: ValueId; c4Offset: number }>;
  /** bytes of the arena buffer: the activations, then the scratch area */
  arenaBytes: number;
  /** what the roots would take without reuse, for comparison */
  unsharedBytes: number;
  /** bytes of the scratch area at the arena's end (0 when no node needs one) */
  scratchBytes: number;
  /** each node's scratch regions (OpDef.scratch) as arena byte ranges, by node name; nodes run one after
   *  another, so they all share the one area */
  scratch: Map<string, { offset: number; size: number }[]>;
}

/**
 * `steps` lists, in execution order, the values each step reads and writes (elided nodes excluded).
 * `alignment` is the binding offset alignment (minStorageBufferOffsetAlignment).
 */
export function planMemory(
  g: Graph,
  shapes: Map<ValueId, Shape>,
  steps: { reads: ValueId[]; writes: ValueId[] }[],
  alignment: number,
  /** bytes of one stored vec4: 16 for f32 activations, 8 for f16 */
  vec4Bytes = 16,
  /** the arena is held in buffers of at most this many bytes (maxBufferSize, aligned down; see chunkOf):
   *  no root may straddle a multiple of it */
  chunkBytes = Number.POSITIVE_INFINITY,
): MemoryPlan {
  const location = new Map<ValueId, { root: ValueId; c4Offset: number }>();
  const locate = (id: ValueId): { root: ValueId; c4Offset: number } => {
    let loc = location.get(id);
    if (!loc) {
      const p = g.values[id].placement;
      if (p) {
        const parent = locate(p.parent);
        loc = { root: parent.root, c4Offset: parent.c4Offset + p.c4Offset };
      } else loc = { root: id, c4Offset: 0 };
      location.set(id, loc);
    }
    return loc;
  };

  const live = new Map<ValueId, { first: number; last: number }>();
  steps.forEach((s, i) => {
    for (const v of [...s.reads, ...s.writes]) {
      const r = locate(v).root;
      const l = live.get(r);
      if (l) l.last = i;
      else live.set(r, { first: i, last: i });
    }
  });

  const align = (n: number) => Math.ceil(n / alignment) * alignment;
  const roots = [...live.entries()].map(([root, l]) => {
    return { root, sizeBytes: positions(shapes.get(root)!) * storageC4(g.values[root]) * vec4Bytes, firstStep: l.first, lastStep: l.last };
  });
  roots.sort((a, b) => b.sizeBytes - a.sizeBytes || a.firstStep - b.firstStep);

  const placed: Allocation[] = [];
  let arenaBytes = 0;
  for (const r of roots) {
    if (r.sizeBytes > chunkBytes)
      throw new InputError(`${g.values[r.root].name}: needs ${r.sizeBytes} bytes, more than one buffer may hold (maxBufferSize, ${chunkBytes})`);
    const overlapping = placed.filter((p) => p.firstStep <= r.lastStep && r.firstStep <= p.lastStep).sort((a, b) => a.offset - b.offset);
    // the lowest offset that overlaps no live root and stays inside one chunk: every offset below the end of
    // a root it clashes with clashes too, so jumping to that end skips no place that fits
    let offset = 0;
    for (;;) {
      if (Math.floor(offset / chunkBytes) !== Math.floor((offset + r.sizeBytes - 1) / chunkBytes)) offset = Math.ceil(offset / chunkBytes) * chunkBytes;
      const clash = overlapping.find((p) => offset < p.offset + p.sizeBytes && p.offset < offset + r.sizeBytes);
      if (!clash) break;
      offset = align(clash.offset + clash.sizeBytes);
    }
    const a = { ...r, offset };
    placed.push(a);
    arenaBytes = Math.max(arenaBytes, offset + r.sizeBytes);
  }
  return {
    allocations: new Map(placed.map((a) => [a.root, a])),
    location,
    arenaBytes,
    unsharedBytes: roots.reduce((s, r) => s + r.sizeBytes, 0),
    scratchBytes: 0,
    scratch: new Map(),
  };
}
