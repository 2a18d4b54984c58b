// A pretrained encoder file, loaded the way smp loads encoder_weights="imagenet": torchvision's resnet* /
// resnext* / mobilenet_v2 .pth or efficientnet-pytorch's efficientnet-b*.pth, its classifier dropped as smp's
// encoders drop it (fc.*, _fc.*, classifier.1.*), every other key matched exactly (load_state_dict is
// strict), then smp's patch_first_conv for in_channels != 3. The tensors keep their bits.
import { extractStateDict, readCheckpoint, type CheckpointTensor } from '../../weights/checkpoint.js';
import { f16BitsToF32 } from '../../weights/safetensors.js';
import { WeightsError } from '../../errors.js';
import { quoted } from '../../limits.js';
import type { TensorSpec } from './spec.js';

/** File names each encoder family's pretrained weights come as (a hint for pickers; any name is read). */
export const ENCODER_FILE_PATTERNS: Readonly<Record<string, string>> = {
  resnet: 'torchvision resnet18-f37072fd.pth, resnet34-b627a593.pth, resnext50_32x4d-7cdf4587.pth, ...',
  efficientnet: 'efficientnet-pytorch efficientnet-b0-355c32eb.pth, ...',
  mobilenet_v2: 'torchvision mobilenet_v2-b0353104.pth, ...',
};

/** the classifier keys each encoder's load_state_dict pops (smp encoders/resnet.py, efficientnet.py, mobilenet.py) */
const DROPPED: readonly string[] = ['fc.weight', 'fc.bias', '_fc.weight', '_fc.bias', 'classifier.1.weight', 'classifier.1.bias'];

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

/** A tensor's elements as F32 (F16 / BF16 widen exactly); num_batches_tracked stays as its bytes. */
function asF32(t: CheckpointTensor, source: string): Float32Array {
  const dv = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const n = t.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (t.dtype === 'F32') for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
  else if (t.dtype === 'F16') for (let i = 0; i < n; i++) out[i] = f16BitsToF32(dv.getUint16(2 * i, true));
  else if (t.dtype === 'BF16') for (let i = 0; i < n; i++) out[i] = new Float32Array(new Uint32Array([dv.getUint16(2 * i, true) << 16]).buffer)[0];
  else throw new WeightsError(`${source}: ${quoted(t.name)} is ${t.dtype}, expected a float tensor`);
  return out;
}

export interface PretrainedEncoder {
  /** by spec key (encoder.<file key>): F32 values, or I64 bytes for num_batches_tracked */
  tensors: Map<string, Float32Array | Uint8Array>;
  /** what was dropped, for the model's metadata */
  dropped: string[];
}

/**
 * Reads `bytes` (a .pth file named `name`) as the encoder whose tensors at in_channels 3 are `spec`, then
 * patches the first conv to `inChannels` as smp does. A file of another encoder is a WeightsError naming the
 * file and the first key or shape that does not match.
 */
export function readPretrainedEncoder(bytes: Uint8Array, name: string, encoder: string, spec: readonly TensorSpec[], inChannels: number): PretrainedEncoder {
  const sd = extractStateDict(readCheckpoint(bytes, name), name);
  const byKey = new Map(sd.tensors.map((t) => [t.name, t]));
  const dropped = DROPPED.filter((k) => byKey.delete(k));
  const mismatch = (what: string) => new WeightsError(`${name}: not ${encoder}'s pretrained weights: ${what}`);
  const tensors = new Map<string, Float32Array | Uint8Array>();
  for (const s of spec) {
    const fileKey = s.key.slice('encoder.'.length);
    const t = byKey.get(fileKey);
    if (!t) {
      // BatchNorm fills in a missing num_batches_tracked when loading (state_dicts saved before it existed)
      if (s.init === 'count') continue;
      throw mismatch(
        `no ${quoted(fileKey)} ${fmt(s.shape)} (the file has ${sd.tensors.length} tensors${sd.tensors[0] ? `, the first ${quoted(sd.tensors[0].name)}` : ''})`,
      );
    }
    byKey.delete(fileKey);
    if (t.shape.length !== s.shape.length || t.shape.some((d, i) => d !== s.shape[i]))
      throw mismatch(`${quoted(fileKey)} has shape ${fmt(t.shape)}, expected ${fmt(s.shape)}`);
    if (s.init === 'count') {
      if (t.dtype !== 'I64') throw mismatch(`${quoted(fileKey)} is ${t.dtype}, expected I64`);
      tensors.set(s.key, t.data.slice());
    } else tensors.set(s.key, asF32(t, name));
  }
  const extra = [...byKey.keys()];
  if (extra.length) throw mismatch(`unexpected ${quoted(extra[0])}${extra.length > 1 ? ` and ${extra.length - 1} more` : ''}`);
  if (inChannels !== 3) {
    const stem = spec[0];
    tensors.set(stem.key, patchFirstConv(tensors.get(stem.key) as Float32Array, stem.shape, inChannels));
  }
  return { tensors, dropped };
}

/**
 * smp's patch_first_conv (encoders/_utils.py) with pretrained weights: one input channel takes the sum of
 * the three (weight.sum(1), summed in order in f32); any other count repeats them (channel i takes i % 3)
 * scaled by 3 / in_channels, a float32 multiply as torch does it.
 */
export function patchFirstConv(w: Float32Array, shape: readonly number[], inChannels: number): Float32Array {
  const [cout, cin, kh, kw] = shape;
  const k = kh * kw;
  const out = new Float32Array(cout * inChannels * k);
  const scale = Math.fround(cin / inChannels);
  for (let o = 0; o < cout; o++)
    for (let t = 0; t < k; t++) {
      if (inChannels === 1) {
        let s = 0;
        for (let c = 0; c < cin; c++) s = Math.fround(s + w[(o * cin + c) * k + t]);
        out[o * k + t] = s;
      } else for (let i = 0; i < inChannels; i++) out[(o * inChannels + i) * k + t] = Math.fround(w[(o * cin + (i % cin)) * k + t] * scale);
    }
  return out;
}
