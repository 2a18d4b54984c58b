// The brain-segmentation U-Net (mateuszbuda/brain-segmentation-pytorch, `unet.py`) as an architecture
// plug-in: its state_dict names, their mapping onto UNetParams, and the graph. The architecture (in/out
// channels, init_features, depth) is inferred from the tensors themselves, so a checkpoint needs no
// config file; everything else is then checked against that inference, through a TensorReader.
import { GraphBuilder, type Graph, type ValueId } from '../ir/graph.js';
import type { BatchNormParams, ConvParams } from '../ir/params.js';
import { SafetensorsError, type Safetensors } from '../weights/safetensors.js';
import { TensorReader } from './reader.js';
import type { Architecture } from './types.js';
import { UnsupportedError } from '../errors.js';

/** [conv3x3 (no bias) -> BN -> ReLU] x 2, as `UNet._block` of brain-segmentation-pytorch. */
export interface UNetBlockParams {
  conv1: ConvParams;
  norm1: BatchNormParams;
  conv2: ConvParams;
  norm2: BatchNormParams;
}

/** The whole network. Level i (0-based) is PyTorch's `encoder{i+1}`, `upconv{i+1}`, `decoder{i+1}`. */
export interface UNetParams {
  inChannels: number;
  outChannels: number;
  /** init_features: channels of encoder1; level i has features * 2^i. */
  features: number;
  /** number of encoder levels (4 in the brain-MRI U-Net). */
  depth: number;
  encoders: UNetBlockParams[];
  bottleneck: UNetBlockParams;
  /** ConvTranspose2d k=2 s=2 with bias, weight [inC, outC, 2, 2]. */
  upconvs: ConvParams[];
  decoders: UNetBlockParams[];
  /** final Conv2d 1x1 with bias, weight [outChannels, features, 1, 1]. */
  head: ConvParams;
}

/** PyTorch's BatchNorm2d default; the brain U-Net never overrides it and the state_dict does not store it. */
const BN_EPS = 1e-5;
/** features * 2^depth must stay a sane channel count; a key like "encoder999.x" should produce an
 *  error, not a loop over a billion expected names. */
const MAX_DEPTH = 12;
const BN_FIELDS = ['weight', 'bias', 'running_mean', 'running_var'] as const;

const fmtShape = (s: readonly number[]) => `[${s.join(', ')}]`;

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
  return unetParamsFrom(new TensorReader(st));
}

export function unetParamsFrom(r: TensorReader): UNetParams {
  const header = 'not a brain-segmentation U-Net state_dict';
  const first = r.shape('encoder1.enc1conv1.weight');
  const head = r.shape('conv.weight');
  const cannot: string[] = [];
  if (!first) cannot.push(`no "encoder1.enc1conv1.weight" tensor, so in_channels and init_features cannot be inferred`);
  else if (first.length !== 4 || first[0] === 0 || first[1] === 0) {
    cannot.push(`"encoder1.enc1conv1.weight" has shape ${fmtShape(first)}, expected [init_features, in_channels, 3, 3]`);
  }
  if (!head) cannot.push(`no "conv.weight" tensor, so out_channels cannot be inferred`);
  else if (head.length !== 4 || head[0] === 0) {
    cannot.push(`"conv.weight" has shape ${fmtShape(head)}, expected [out_channels, init_features, 1, 1]`);
  }
  // Depth is the highest encoder index present (not the count of consecutive ones), so a
  // checkpoint with a level's tensors missing reports them as missing instead of as unexpected.
  let depth = 0;
  for (const k of r.keys) {
    const m = /^encoder(\d+)\./.exec(k);
    if (m) depth = Math.max(depth, Number(m[1]));
  }
  if (depth > MAX_DEPTH) cannot.push(`found "encoder${depth}.*", but depth above ${MAX_DEPTH} is not supported`);
  if (cannot.length > 0) {
    const more = r.prefix ? ` (after stripping "${r.prefix}")` : '';
    throw new SafetensorsError(`${r.source}: ${header}${more}: ${cannot.join('; ')}`);
  }
  const features = first![0];
  const inChannels = first![1];
  const outChannels = head![0];

  const expected = unetTensorNames(inChannels, outChannels, features, depth);
  // num_batches_tracked is accepted in any dtype and shape: eval-mode BatchNorm never reads it.
  const optional = batchCounterNames(depth);
  r.skip((k) => optional.has(k));
  const conv = (name: string, bias: boolean): ConvParams =>
    r.conv(name, expected.get(`${name}.weight`) as ConvParams['shape'], bias, expected.get(`${name}.bias`)?.[0]);
  const bn = (name: string): BatchNormParams => r.batchNorm(name, expected.get(`${name}.weight`)![0], BN_EPS);
  const block = (p: string): UNetBlockParams => ({
    conv1: conv(`${p}conv1`, false),
    norm1: bn(`${p}norm1`),
    conv2: conv(`${p}conv2`, false),
    norm2: bn(`${p}norm2`),
  });
  // read in state_dict order, so problems are listed as PyTorch lists the keys
  const levels = Array.from({ length: depth }, (_, j) => j + 1);
  const encoders = levels.map((i) => block(encPrefix(i)));
  const bottleneck = block(BOTTLENECK);
  const upconvs: ConvParams[] = [];
  const decoders: UNetBlockParams[] = [];
  for (let i = depth; i >= 1; i--) {
    upconvs[i - 1] = conv(`upconv${i}`, true);
    decoders[i - 1] = block(decPrefix(i));
  }
  const headConv = conv('conv', true);
  r.finish(header);
  return { inChannels, outChannels, features, depth, encoders, bottleneck, upconvs, decoders, head: headConv };
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

function block(b: GraphBuilder, x: ValueId, p: UNetBlockParams, module: string, prefix: string): ValueId {
  x = b.conv2d(`${module}.${prefix}conv1`, x, p.conv1, { padding: 1 });
  x = b.batchNorm(`${module}.${prefix}norm1`, x, p.norm1);
  x = b.relu(`${module}.${prefix}relu1`, x);
  x = b.conv2d(`${module}.${prefix}conv2`, x, p.conv2, { padding: 1 });
  x = b.batchNorm(`${module}.${prefix}norm2`, x, p.norm2);
  return b.relu(`${module}.${prefix}relu2`, x);
}

/** The graph, node names following the PyTorch modules: encoder1.enc1conv1, ..., upconv4, decoder4, conv. */
export function buildUNet(p: UNetParams): Graph {
  const b = new GraphBuilder();
  const input = b.value('input', p.inChannels);
  const skips: ValueId[] = [];
  let x = input;
  for (let i = 1; i <= p.depth; i++) {
    const enc = block(b, x, p.encoders[i - 1], `encoder${i}`, `enc${i}`);
    skips.push(enc);
    x = b.maxPool2d(`pool${i}`, enc, 2);
  }
  x = block(b, x, p.bottleneck, 'bottleneck', 'bottleneck');
  for (let i = p.depth; i >= 1; i--) {
    const up = b.convTranspose2x2(`upconv${i}`, x, p.upconvs[i - 1]);
    // torch.cat((dec, enc), dim=1): the up-sampled map first, then the skip connection
    const cat = b.concat(`cat${i}`, [up, skips[i - 1]]);
    x = block(b, cat, p.decoders[i - 1], `decoder${i}`, `dec${i}`);
  }
  const logits = b.conv2d('conv', x, p.head);
  return b.finish(input, b.sigmoid('sigmoid', logits));
}

/** H and W must be multiples of this (each level halves them, and the decoder doubles them back). */
export const unetSizeMultiple = (p: Pick<UNetParams, 'depth'>): number => 2 ** p.depth;

export const brainUnet: Architecture = {
  name: 'brain-unet',
  detect: (keys) => keys.includes('encoder1.enc1conv1.weight') || (keys.includes('conv.weight') && keys.some((k) => /^encoder\d+\.enc\d+conv/.test(k))),
  build(reader, config, options) {
    if (options.activation && options.activation !== 'sigmoid') {
      throw new UnsupportedError(
        `${reader.source}: the brain-segmentation U-Net ends in a sigmoid; activation ${JSON.stringify(options.activation)} is not supported for it`,
      );
    }
    const p = unetParamsFrom(reader);
    return {
      graph: buildUNet(p),
      info: {
        architecture: 'brain-unet',
        family: 'brain-unet',
        name: 'brain U-Net',
        variant: `init_features ${p.features}`,
        title: `brain U-Net init_features ${p.features}`,
        reference: { option: '--weights', config: false },
        encoder: 'unet',
        depth: p.depth,
        decoderChannels: Array.from({ length: p.depth }, (_, j) => p.features * 2 ** (p.depth - 1 - j)),
        attention: null,
        upsampling: 'transposed-conv',
        inChannels: p.inChannels,
        classes: p.outChannels,
        activation: 'sigmoid',
        preprocessing: { kind: 'zscore' },
        sizeMultiple: unetSizeMultiple(p),
        inferred: config ? [] : ['in_channels', 'classes', 'init_features', 'depth'],
        features: p.features,
        unused: [],
      },
    };
  },
};
