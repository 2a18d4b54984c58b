// A brain-segmentation U-Net state_dict with seeded random weights: what the benchmark and the tuner run
// when no trained weights are given. BatchNorm statistics are far from identity (as in a trained
// network) and conv weights kaiming-normal, so activations keep their scale through the depth.
import { writeSafetensors, type TensorToWrite } from '../weights/safetensors.js';
import { unetTensorNames } from './brainUnet.js';

/** mulberry32: a tiny seeded generator of uint32 values (the tests' seeded inputs use it too). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** mulberry32 + Box-Muller: small, seeded, good enough for weights. */
function normals(seed: number): () => number {
  const next = mulberry32(seed);
  // in (0, 1): log() of it is finite
  const uniform = () => (next() + 0.5) / 4294967296;
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

export interface RandomUNetOptions {
  inChannels?: number;
  outChannels?: number;
  features?: number;
  depth?: number;
  seed?: number;
}

/** The safetensors bytes of a random U-Net state_dict (defaults: the brain-MRI model's 3 -> 1, 32, depth 4). */
export function randomUNetSafetensors(o: RandomUNetOptions = {}): Uint8Array {
  const [inC, outC, features, depth] = [o.inChannels ?? 3, o.outChannels ?? 1, o.features ?? 32, o.depth ?? 4];
  const randn = normals(o.seed ?? 1);
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, shape] of unetTensorNames(inC, outC, features, depth)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const field = name.slice(name.lastIndexOf('.') + 1);
    if (name.includes('norm')) {
      for (let i = 0; i < n; i++) {
        if (field === 'weight') data[i] = (0.5 + Math.abs(randn()) * 0.5) * (randn() < -0.85 ? -1 : 1);
        else if (field === 'bias') data[i] = 0.3 * randn();
        else if (field === 'running_mean') data[i] = 0.5 * randn();
        else data[i] = 0.25 + 3.75 * Math.abs(Math.tanh(randn()));
      }
    } else if (field === 'bias') {
      for (let i = 0; i < n; i++) data[i] = 0.1 * randn();
    } else {
      // conv [out, in, kh, kw]: fan_in = in*kh*kw; conv_transpose [in, out, 2, 2]: each output sees `in` inputs
      const fanIn = name.startsWith('upconv') ? shape[0] : shape[1] * shape[2] * shape[3];
      const std = Math.sqrt((name === 'conv.weight' ? 1 : 2) / fanIn);
      for (let i = 0; i < n; i++) data[i] = std * randn();
    }
    tensors[name] = { shape, data };
  }
  return writeSafetensors(tensors, { source: 'webgpu-unet random weights', seed: String(o.seed ?? 1) });
}
