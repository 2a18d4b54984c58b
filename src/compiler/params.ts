// Packs every node's parameters into its kernel's layout (each op's registry entry knows how) and uploads
// them once, at model load. Packing depends on the graph (input channel segments) and the tuning (output
// channel padding), not on the input shape, so all plans of a model share these buffers.
// Tensors go into as few buffers as fit: each buffer at most maxStorageBufferBindingSize (and
// maxBufferSize), each tensor starting at a multiple of the binding offset alignment so it can be bound
// alone. A ResNet-152 encoder's 268 MB of weights thus spans several buffers on a 128 MiB-binding adapter.
import { createBuffer } from '../gpu/buffers.js';
import type { BufferRange } from '../kernels/common.js';
import type { ParamArray } from '../ops/registry.js';
import { tileFor, withDef } from '../ops/index.js';
import type { Graph } from '../ir/graph.js';
import type { Tuning } from './tuning.js';

export interface ParamStore {
  buffers: GPUBuffer[];
  sizeBytes: number;
  /** node name -> its parameter tensors, in binding order after the input */
  ranges: Map<string, BufferRange[]>;
  destroy(): void;
}

export interface PackedParams {
  node: string;
  arrays: ParamArray[];
}

/** Every node's packed parameters, in graph order. */
export function packParams(g: Graph, tuning: Tuning, f16 = false): PackedParams[] {
  const packed: PackedParams[] = [];
  for (const node of g.nodes) {
    const arrays = withDef(node, (op, def) => def.pack?.(op, { g, node, tuning, f16, tile: tileFor(tuning, g, node) }));
    if (arrays?.length) packed.push({ node: node.name, arrays });
  }
  return packed;
}

/** Assigns each array a buffer and offset: buffers fill in order, none over `maxBytes`. */
export function layoutParams(packed: PackedParams[], alignment: number, maxBytes: number): { sizes: number[]; at: { buffer: number; offset: number }[][] } {
  const sizes: number[] = [0];
  const at = packed.map((p) =>
    p.arrays.map((a) => {
      if (a.byteLength > maxBytes) {
        throw new Error(`${p.node}: a packed weight tensor of ${a.byteLength} bytes is larger than this adapter's maxStorageBufferBindingSize (${maxBytes})`);
      }
      let b = sizes.length - 1;
      if (sizes[b] + a.byteLength > maxBytes) sizes.push(0), b++;
      const offset = sizes[b];
      sizes[b] = Math.ceil((offset + a.byteLength) / alignment) * alignment;
      return { buffer: b, offset };
    }),
  );
  return { sizes, at };
}

/** With `f16`, weights are stored as f16 where the op's entry says so. */
export function uploadParams(device: GPUDevice, g: Graph, tuning: Tuning, f16 = false): ParamStore {
  const packed = packParams(g, tuning, f16);
  const align = device.limits.minStorageBufferOffsetAlignment;
  const maxBytes = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const { sizes, at } = layoutParams(packed, align, Math.floor(maxBytes / align) * align);
  const buffers = sizes.map((size, b) => {
    const all = new Uint8Array(Math.max(size, 4));
    packed.forEach((p, i) =>
      p.arrays.forEach((a, j) => {
        if (at[i][j].buffer === b) all.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at[i][j].offset);
      }),
    );
    return createBuffer(device, sizes.length > 1 ? `weights ${b + 1}/${sizes.length}` : 'weights', all.byteLength, GPUBufferUsage.STORAGE, all);
  });
  const ranges = new Map(
    packed.map((p, i) => [p.node, p.arrays.map((a, j) => ({ buffer: buffers[at[i][j].buffer], offset: at[i][j].offset, size: a.byteLength }))]),
  );
  return {
    buffers,
    sizeBytes: buffers.reduce((s, b) => s + b.size, 0),
    ranges,
    destroy: () => buffers.forEach((b) => b.destroy()),
  };
}
