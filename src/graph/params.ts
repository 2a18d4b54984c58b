// Packs every node's parameters into the kernels' layouts and uploads them once, into one buffer, at
// model load. Each tensor starts at a multiple of the binding offset alignment so it can be bound alone.
// Packing depends on the graph (input channel segments) and the tuning (output channel padding), not on
// the input shape, so all plans of a model share this buffer.
import { createBuffer } from '../gpu/buffers.js';
import type { BufferRange } from '../kernels/common.js';
import { packBatchNormParams } from '../kernels/batchNorm.js';
import { packConv2dWeights } from '../kernels/conv2d.js';
import { packConvTranspose2x2Weights } from '../kernels/convTranspose2x2.js';
import { type Graph, channelPos, storageC4 } from './ir.js';
import { type Tuning, tileFor } from './tuning.js';

export interface ParamStore {
  buffer: GPUBuffer;
  sizeBytes: number;
  /** node name -> its parameter tensors, in binding order after the input */
  ranges: Map<string, BufferRange[]>;
}

export function uploadParams(device: GPUDevice, g: Graph, tuning: Tuning): ParamStore {
  const align = device.limits.minStorageBufferOffsetAlignment;
  const packed: { node: string; arrays: Float32Array[] }[] = [];
  for (const node of g.nodes) {
    const op = node.op;
    const input = g.values[node.inputs[0]];
    const cin4 = storageC4(input);
    if (op.kind === 'conv2d') {
      const p = packConv2dWeights(op.params, cin4, tileFor(tuning, g, node).tileC4, channelPos(input));
      packed.push({ node: node.name, arrays: [p.weight, p.bias] });
    } else if (op.kind === 'convTranspose2x2') {
      const p = packConvTranspose2x2Weights(op.params, cin4, tileFor(tuning, g, node).tileC4, channelPos(input));
      packed.push({ node: node.name, arrays: [p.weight, p.bias] });
    } else if (op.kind === 'batchNorm') {
      if (input.segments) throw new Error(`${node.name}: batchNorm of a concatenated value is not supported`);
      packed.push({ node: node.name, arrays: [packBatchNormParams(op.params, cin4)] });
    }
  }
  let sizeBytes = 0;
  const offsets = packed.map((p) =>
    p.arrays.map((a) => {
      const offset = sizeBytes;
      sizeBytes = Math.ceil((offset + a.byteLength) / align) * align;
      return offset;
    }),
  );
  const all = new Float32Array(sizeBytes / 4);
  packed.forEach((p, i) => p.arrays.forEach((a, j) => all.set(a, offsets[i][j] / 4)));
  const buffer = createBuffer(device, 'weights', sizeBytes, GPUBufferUsage.STORAGE, all);
  const ranges = new Map(
    packed.map((p, i) => [p.node, p.arrays.map((a, j) => ({ buffer, offset: offsets[i][j], size: a.byteLength }))]),
  );
  return { buffer, sizeBytes, ranges };
}
