// Seeded random weights with the distributions smp's Unet(encoder_weights=None) (or nnU-Net) starts from (spec.ts's
// InitKind). The generator is ours (mulberry32), not PyTorch's: the same seed gives the same bits here, not
// the bits torch.manual_seed would give. Each tensor draws from its own stream (the seed mixed with its
// key), so the decoder's weights do not depend on whether the encoder came from a file.
import { mulberry32 } from '../random.js';
import type { TensorSpec } from './spec.js';

/** FNV-1a of a key, to give each tensor its own stream */
function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** the stream of one tensor: a seed (any safe integer, its high bits folded in) and the key */
function streamOf(seed: number, key: string): () => number {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 2 ** 32) >>> 0;
  return mulberry32((Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) ^ hashKey(key)) >>> 0);
}

/** InitWeights_He's neg_slope as nnU-Net's networks' initialize passes it */
const HE_NEG_SLOPE = 1e-2;

/** N(0, std^2) into data: Marsaglia's polar method, both values of each pair (no trigonometry: an encoder's
 *  millions of weights take a second) */
function fillNormal(data: Float32Array, uniform: () => number, std: number): void {
  const n = data.length;
  for (let i = 0; i < n; i += 2) {
    let u: number;
    let v: number;
    let q: number;
    do {
      u = 2 * uniform() - 1;
      v = 2 * uniform() - 1;
      q = u * u + v * v;
    } while (q >= 1 || q === 0);
    const f = std * Math.sqrt((-2 * Math.log(q)) / q);
    data[i] = u * f;
    if (i + 1 < n) data[i + 1] = v * f;
  }
}

/** The tensor's values (F32); num_batches_tracked is written as I64 zeros elsewhere. */
export function initTensor(t: TensorSpec, seed: number): Float32Array {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  const next = streamOf(seed, t.key);
  /** [0, 1) */
  const uniform = () => next() / 4294967296;
  const fillUniform = (bound: number) => {
    for (let i = 0; i < n; i++) data[i] = (2 * uniform() - 1) * bound;
  };
  switch (t.init) {
    case 'one':
      data.fill(1);
      break;
    case 'zero':
    case 'count':
      break;
    case 'default':
    case 'defaultBias':
      // kaiming_uniform_(a=sqrt(5)): gain sqrt(2 / 6), bound sqrt(3) * gain / sqrt(fan_in) = 1 / sqrt(fan_in);
      // the bias: U(+-1/sqrt(fan_in)) of its conv's fan_in
      fillUniform(t.fanIn > 0 ? 1 / Math.sqrt(t.fanIn) : 0);
      break;
    case 'decoder':
      // kaiming_uniform_(mode='fan_in', nonlinearity='relu'): bound sqrt(3) * sqrt(2) / sqrt(fan_in)
      fillUniform(Math.sqrt(6 / t.fanIn));
      break;
    case 'head':
      // xavier_uniform_ (gain 1): bound sqrt(6 / (fan_in + fan_out))
      fillUniform(Math.sqrt(6 / (t.fanIn + t.fanOut)));
      break;
    case 'fanOutNormal':
      // kaiming_normal_(mode='fan_out', nonlinearity='relu'): std sqrt(2 / fan_out)
      fillNormal(data, uniform, Math.sqrt(2 / t.fanOut));
      break;
    case 'heNormal':
      // nnU-Net's InitWeights_He(1e-2): kaiming_normal_(a=0.01) with mode fan_in, leaky_relu: std
      // sqrt(2 / (1 + a^2)) / sqrt(fan_in)
      fillNormal(data, uniform, Math.sqrt(2 / (1 + HE_NEG_SLOPE ** 2)) / Math.sqrt(t.fanIn));
      break;
  }
  return data;
}
