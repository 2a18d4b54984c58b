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
import { f32ToF16Bits } from '../weights/safetensors.js';

function toF16(a: Float32Array): Uint16Array {
  const out = new Uint16Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = f32ToF16Bits(a[i]);
  return out;
}

export interface ParamStore {
  buffer: GPUBuffer;
  sizeBytes: number;
  /** node name -> its parameter tensors, in binding order after the input */
  ranges: Map<string, BufferRange[]>;
}

/** With `f16`, conv weights are stored as f16 (biases stay f32: they are few, and added once). */
export function uploadParams(device: GPUDevice, g: Graph, tuning: Tuning, f16 = false): ParamStore {
  const weights = (w: Float32Array) => (f16 ? toF16(w) : w);
  const align = device.limits.minStorageBufferOffsetAlignment;
  const packed: { node: string; arrays: (Float32Array | Uint16Array)[] }[] = [];
  for (const node of g.nodes) {
    const op = node.op;
    const input = g.values[node.inputs[0]];
    const cin4 = storageC4(input);
    if (op.kind === 'conv2d') {
      const p = packConv2dWeights(op.params, cin4, tileFor(tuning, g, node).tileC4, channelPos(input));
      packed.push({ node: node.name, arrays: [weights(p.weight), p.bias] });
    } else if (op.kind === 'convTranspose2x2') {
      const p = packConvTranspose2x2Weights(op.params, cin4, tileFor(tuning, g, node).tileC4, channelPos(input));
      packed.push({ node: node.name, arrays: [weights(p.weight), p.bias] });
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
  const all = new Uint8Array(sizeBytes);
  packed.forEach((p, i) => p.arrays.forEach((a, j) => all.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), offsets[i][j])));
  const buffer = createBuffer(device, 'weights', sizeBytes, GPUBufferUsage.STORAGE, all);
  const ranges = new Map(
    packed.map((p, i) => [p.node, p.arrays.map((a, j) => ({ buffer, offset: offsets[i][j], size: a.byteLength }))]),
  );
  return { buffer, sizeBytes, ranges };
}
