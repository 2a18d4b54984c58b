// Maps the state_dict of the brain-segmentation U-Net (mateuszbuda/brain-segmentation-pytorch,
// `unet.py`) onto UNetParams. The architecture is inferred from the tensors themselves, so a
// checkpoint needs no config file; everything else is then checked against that inference.

import { SafetensorsError, type Safetensors, type DType } from './safetensors.js';
import type { BatchNormParams, ConvParams, UNetBlockParams, UNetParams } from './types.js';

/** PyTorch's BatchNorm2d default; the brain U-Net never overrides it and the state_dict does not store it. */
const BN_EPS = 1e-5;
/** features * 2^depth must stay a sane channel count; a key like "encoder999.x" should produce an
 *  error, not a loop over a billion expected names. */
const MAX_DEPTH = 12;
const FLOAT_DTYPES: ReadonlySet<DType> = new Set<DType>(['F32', 'F16', 'BF16', 'F64']);
const BN_FIELDS = ['weight', 'bias', 'running_mean', 'running_var'] as const;

const fmtShape = (s: readonly number[]) => `[${s.join(', ')}]`;
const q = (s: string) => JSON.stringify(s);

/** Prefixes of each block: `encoder{i}.enc{i}`, `bottleneck.bottleneck`, `decoder{i}.dec{i}`. */
const encPrefix = (i: number) => `encoder${i}.enc${i}`;
const decPrefix = (i: number) => `decoder${i}.dec${i}`;
const BOTTLENECK = 'bottleneck.bottleneck';

function blockNames(out: Map<string, number[]>, prefix: string, inC: number, c: number): void {
  out.set(`${prefix}conv1.weight`, [c, inC, 3, 3]);
  for (const f of BN_FIELDS) out.set(`${prefix}norm1.${f}`, [c]);
  out.set(`${prefix}conv2.weight`, [c, c, 3, 3]);
  for (const f of BN_FIELDS) out.set(`${prefix}norm2.${f}`, [c]);
}

/** Expected tensor names -> shapes (without num_batches_tracked), in the order PyTorch's
 *  state_dict() lists them, so synthetic files look like converted real ones. */
export function unetTensorNames(inC: number, outC: number, features: number, depth: number): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const ch = (i: number) => features * 2 ** (i - 1); // channels of level i (1-based)
  for (let i = 1; i <= depth; i++) blockNames(m, encPrefix(i), i === 1 ? inC : ch(i - 1), ch(i));
  blockNames(m, BOTTLENECK, ch(depth), ch(depth + 1));
  for (let i = depth; i >= 1; i--) {
    m.set(`upconv${i}.weight`, [ch(i + 1), ch(i), 2, 2]);
    m.set(`upconv${i}.bias`, [ch(i)]);
    blockNames(m, decPrefix(i), 2 * ch(i), ch(i));
  }
  m.set('conv.weight', [outC, features, 1, 1]);
  m.set('conv.bias', [outC]);
  return m;
}

/** The BatchNorm buffers that PyTorch saves but eval mode never reads. */
function batchCounterNames(depth: number): Set<string> {
  const s = new Set<string>();
  const prefixes = [BOTTLENECK];
  for (let i = 1; i <= depth; i++) prefixes.push(encPrefix(i), decPrefix(i));
  for (const p of prefixes) s.add(`${p}norm1.num_batches_tracked`).add(`${p}norm2.num_batches_tracked`);
  return s;
}

export function unetParamsFromSafetensors(st: Safetensors): UNetParams {
  const header = `${st.source}: not a brain-segmentation U-Net state_dict`;

  // A model wrapped in nn.DataParallel saves every key as "module.<key>".
  const all = [...st.tensors.keys()];
  const prefix = all.length > 0 && all.every((k) => k.startsWith('module.')) ? 'module.' : '';
  const byName = new Map([...st.tensors].map(([k, v]) => [k.slice(prefix.length), v]));

  const first = byName.get('encoder1.enc1conv1.weight');
  const head = byName.get('conv.weight');
  const cannot: string[] = [];
  if (!first) cannot.push(`no "encoder1.enc1conv1.weight" tensor, so in_channels and init_features cannot be inferred`);
  else if (first.shape.length !== 4 || first.shape[0] === 0 || first.shape[1] === 0) {
    cannot.push(`"encoder1.enc1conv1.weight" has shape ${fmtShape(first.shape)}, expected [init_features, in_channels, 3, 3]`);
  }
  if (!head) cannot.push(`no "conv.weight" tensor, so out_channels cannot be inferred`);
  else if (head.shape.length !== 4 || head.shape[0] === 0) {
    cannot.push(`"conv.weight" has shape ${fmtShape(head.shape)}, expected [out_channels, init_features, 1, 1]`);
  }
  // Depth is the highest encoder index present (not the count of consecutive ones), so a
  // checkpoint with a level's tensors missing reports them as missing instead of as unexpected.
  let depth = 0;
  for (const k of byName.keys()) {
    const m = /^encoder(\d+)\./.exec(k);
    if (m) depth = Math.max(depth, Number(m[1]));
  }
  if (depth > MAX_DEPTH) cannot.push(`found "encoder${depth}.*", but depth above ${MAX_DEPTH} is not supported`);
  if (cannot.length > 0) {
    const more = prefix ? ` (after stripping "${prefix}")` : '';
    throw new SafetensorsError(`${header}${more}: ${cannot.join('; ')}`);
  }
  const features = first!.shape[0];
  const inChannels = first!.shape[1];
  const outChannels = head!.shape[0];

  const expected = unetTensorNames(inChannels, outChannels, features, depth);
  const optional = batchCounterNames(depth);
  const problems: string[] = [];
  for (const [name, shape] of expected) {
    const t = byName.get(name);
    if (!t) {
      problems.push(`missing ${q(name)} ${fmtShape(shape)}`);
      continue;
    }
    if (t.shape.length !== shape.length || t.shape.some((d, j) => d !== shape[j])) {
      problems.push(`${q(name)} has shape ${fmtShape(t.shape)}, expected ${fmtShape(shape)}`);
    }
    if (!FLOAT_DTYPES.has(t.dtype)) problems.push(`${q(name)} is ${t.dtype}, expected a float dtype (F32, F16, BF16 or F64)`);
  }
  // num_batches_tracked is accepted in any dtype and shape: eval-mode BatchNorm never reads it.
  for (const name of byName.keys()) {
    if (!expected.has(name) && !optional.has(name)) problems.push(`unexpected ${q(prefix + name)}`);
  }
  if (problems.length > 0) {
    const n = problems.length;
    throw new SafetensorsError(`${header} (${n} problem${n === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }

  const f32 = (name: string) => st.getF32(prefix + name);
  const conv = (name: string, bias: boolean): ConvParams => {
    const p: ConvParams = { weight: f32(`${name}.weight`), shape: expected.get(`${name}.weight`) as ConvParams['shape'] };
    if (bias) p.bias = f32(`${name}.bias`);
    return p;
  };
  const bn = (name: string): BatchNormParams => ({
    weight: f32(`${name}.weight`),
    bias: f32(`${name}.bias`),
    runningMean: f32(`${name}.running_mean`),
    runningVar: f32(`${name}.running_var`),
    eps: BN_EPS,
  });
  const block = (p: string): UNetBlockParams => ({
    conv1: conv(`${p}conv1`, false),
    norm1: bn(`${p}norm1`),
    conv2: conv(`${p}conv2`, false),
    norm2: bn(`${p}norm2`),
  });
  const levels = Array.from({ length: depth }, (_, j) => j + 1);
  return {
    inChannels,
    outChannels,
    features,
    depth,
    encoders: levels.map((i) => block(encPrefix(i))),
    bottleneck: block(BOTTLENECK),
    upconvs: levels.map((i) => conv(`upconv${i}`, true)),
    decoders: levels.map((i) => block(decPrefix(i))),
    head: conv('conv', true),
  };
}

/** Every element of every conv weight and bias and of BN weight, bias, running_mean and
 *  running_var. (PyTorch's parameters() excludes the running statistics, so this is larger than
 *  sum(p.numel() for p in model.parameters()) by twice the BN channel count.) */
export function countParameters(p: UNetParams): number {
  const conv = (c: ConvParams) => c.weight.length + (c.bias?.length ?? 0);
  const bn = (b: BatchNormParams) => b.weight.length + b.bias.length + b.runningMean.length + b.runningVar.length;
  const block = (b: UNetBlockParams) => conv(b.conv1) + bn(b.norm1) + conv(b.conv2) + bn(b.norm2);
  let n = block(p.bottleneck) + conv(p.head);
  for (const b of p.encoders) n += block(b);
  for (const b of p.decoders) n += block(b);
  for (const u of p.upconvs) n += conv(u);
  return n;
}

/** Every parameter array with its state_dict name (BatchNorm's eps excluded). */
export function namedParameters(p: UNetParams): [string, Float32Array][] {
  const out: [string, Float32Array][] = [];
  const conv = (name: string, c: ConvParams) => {
    out.push([`${name}.weight`, c.weight]);
    if (c.bias) out.push([`${name}.bias`, c.bias]);
  };
  const bn = (name: string, b: BatchNormParams) =>
    out.push([`${name}.weight`, b.weight], [`${name}.bias`, b.bias], [`${name}.running_mean`, b.runningMean], [`${name}.running_var`, b.runningVar]);
  const block = (prefix: string, b: UNetBlockParams) => {
    conv(`${prefix}conv1`, b.conv1);
    bn(`${prefix}norm1`, b.norm1);
    conv(`${prefix}conv2`, b.conv2);
    bn(`${prefix}norm2`, b.norm2);
  };
  p.encoders.forEach((b, i) => block(encPrefix(i + 1), b));
  block(BOTTLENECK, p.bottleneck);
  p.upconvs.forEach((u, i) => conv(`upconv${i + 1}`, u));
  p.decoders.forEach((b, i) => block(decPrefix(i + 1), b));
  conv('conv', p.head);
  return out;
}

/**
 * NaN / Inf in the weights, as one line (undefined when every value is finite). Not an error: such a
 * file loads, but its outputs are likely NaN where those weights reach.
 */
export function nonFiniteWarning(p: UNetParams, source: string): string | undefined {
  const bad: string[] = [];
  let tensors = 0;
  for (const [name, a] of namedParameters(p)) {
    let nan = 0;
    let inf = 0;
    let first = -1;
    for (let i = 0; i < a.length; i++) {
      const v = a[i];
      if (v - v !== 0) {
        if (Number.isNaN(v)) nan++;
        else inf++;
        if (first < 0) first = i;
      }
    }
    if (nan + inf === 0) continue;
    tensors++;
    if (bad.length < 4) {
      const what = [nan ? `${nan} NaN` : '', inf ? `${inf} Inf` : ''].filter(Boolean).join(' and ');
      bad.push(`${q(name)} has ${what} (first at index ${first})`);
    }
  }
  if (tensors === 0) return undefined;
  const more = tensors > bad.length ? `, and ${tensors - bad.length} more tensor${tensors - bad.length === 1 ? '' : 's'}` : '';
  return `${source}: weights hold NaN or Inf values: ${bad.join('; ')}${more}; outputs may be NaN`;
}
