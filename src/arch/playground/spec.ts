// The state_dict of a model built from options, as a list of tensors (key, shape, how smp / PyTorch
// initialises it), in the order the modules are built. The shapes come from the engine's own graph builders
// (src/arch/smp, src/arch/brainUnet.ts) run over a reader that records what they ask for, so the list cannot
// drift from what the loader reads; what smp keeps but never runs is added here, each with its reason.
import { GraphBuilder } from '../../ir/graph.js';
import type { BatchNormParams, ConvParams } from '../../ir/params.js';
import type { Safetensors } from '../../weights/safetensors.js';
import { unetTensorNames } from '../brainUnet.js';
import { buildNnunetNetwork } from '../nnunet/network.js';
import { TensorReader } from '../reader.js';
import { DECODERS } from '../smp/decoders/index.js';
import { encoderOf } from '../smp/encoders/index.js';
import { segmentationHead } from '../smp/head.js';
import type { SmpSettings } from '../smp/types.js';
import { nnunetNetworkOf } from './nnunet.js';
import { SCSE_REDUCTION, isSmp } from './options.js';
import type { ModelOptions } from './types.js';

/**
 * How a tensor starts out, as smp's Unet(encoder_weights=None) initialises it:
 *  - 'default': PyTorch's Conv2d / ConvTranspose2d reset_parameters (kaiming_uniform a=sqrt(5): U(+-1/sqrt(fan_in)));
 *    its bias U(+-1/sqrt(fan_in)) (EfficientNet, the brain U-Net, a patched first conv)
 *  - 'fanOutNormal': torchvision's ResNet / MobileNetV2 convs: kaiming_normal_(mode='fan_out', relu)
 *  - 'decoder': smp's initialize_decoder: kaiming_uniform_(mode='fan_in', relu), bias 0
 *  - 'head': smp's initialize_head: xavier_uniform_, bias 0
 *  - 'heNormal': nnU-Net's InitWeights_He(1e-2) (get_network_from_plans applies network.initialize):
 *    kaiming_normal_(a=0.01), mode fan_in, on every Conv / ConvTranspose weight; their biases 0
 *  - 'one' / 'zero': BatchNorm weight / bias and running_var / running_mean; 'count': num_batches_tracked (I64 0)
 */
export type InitKind = 'default' | 'defaultBias' | 'fanOutNormal' | 'heNormal' | 'decoder' | 'head' | 'one' | 'zero' | 'count';

export interface TensorSpec {
  key: string;
  shape: number[];
  init: InitKind;
  /** fan_in of the weight the tensor belongs to (a bias's: its conv's), for 'default' / 'defaultBias' */
  fanIn: number;
  fanOut: number;
  /** encoder / decoder / head */
  part: 'encoder' | 'decoder' | 'head';
}

type Recorded =
  | { kind: 'conv'; name: string; shape: [number, number, number, number]; bias: boolean; biasLength: number }
  | { kind: 'norm'; name: string; channels: number }
  | { kind: 'tensor'; name: string; shape: number[] };

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** A reader that hands out zeros of any shape asked for and records the requests, in call order: the
 *  builders' own list of tensors. */
class RecordingReader extends TensorReader {
  readonly items: Recorded[] = [];

  constructor() {
    super(emptySafetensors('<recording>'));
  }

  override conv(name: string, shape: [number, number, number, number], bias: boolean, biasLength = shape[0]): ConvParams {
    this.items.push({ kind: 'conv', name, shape, bias, biasLength });
    const p: ConvParams = { weight: new Float32Array(0), shape };
    if (bias) p.bias = new Float32Array(0);
    return p;
  }

  override tensor(name: string, shape: readonly number[]): Float32Array {
    this.items.push({ kind: 'tensor', name, shape: [...shape] });
    return new Float32Array(numel(shape));
  }

  override batchNorm(name: string, channels: number, eps: number): BatchNormParams {
    this.items.push({ kind: 'norm', name, channels });
    const z = new Float32Array(channels);
    return { weight: z, bias: z, runningMean: z, runningVar: z, eps };
  }
}

function emptySafetensors(source: string): Safetensors {
  return { source, metadata: {}, tensors: new Map(), bytes: new Uint8Array(0), getF32: () => new Float32Array(0) };
}

/** The settings the smp plug-in reads from a config, for the options. */
export function smpSettingsOf(o: ModelOptions): SmpSettings {
  return {
    decoder: DECODERS.find((d) => d.modelClass === o.architecture)!,
    encoderName: o.encoder,
    depth: o.depth,
    decoderChannels: o.decoderChannels,
    useNorm: o.decoderNorm === 'batchnorm',
    attention: o.attention === 'scse' ? 'scse' : null,
    interpolation: o.upsampling,
    inChannels: o.inChannels,
    classes: o.classes,
    activation: o.activation,
    inferred: [],
  };
}

/** conv weight [out, in/groups, k, k]: PyTorch's fan_in = in/groups * k * k, fan_out = out * k * k */
function convSpecs(
  out: TensorSpec[],
  c: Omit<Extract<Recorded, { kind: 'conv' }>, 'kind'>,
  weightInit: InitKind,
  biasInit: InitKind,
  part: TensorSpec['part'],
): void {
  const rf = c.shape[2] * c.shape[3];
  // ConvTranspose2d's weight is [in, out, k, k]: PyTorch's _calculate_fan_in_and_fan_out reads dim 1 as fan_in
  const fanIn = c.shape[1] * rf;
  const fanOut = c.shape[0] * rf;
  out.push({ key: `${c.name}.weight`, shape: [...c.shape], init: weightInit, fanIn, fanOut, part });
  if (c.bias) out.push({ key: `${c.name}.bias`, shape: [c.biasLength], init: biasInit, fanIn, fanOut, part });
}

function normSpecs(out: TensorSpec[], name: string, channels: number, part: TensorSpec['part']): void {
  const s = (field: string, init: InitKind, shape = [channels]): TensorSpec => ({ key: `${name}.${field}`, shape, init, fanIn: 0, fanOut: 0, part });
  out.push(s('weight', 'one'), s('bias', 'zero'), s('running_mean', 'zero'), s('running_var', 'one'), s('num_batches_tracked', 'count', []));
}

/** The smp encoder's tensors at in_channels 3 or the options' (all stages: smp keeps those past the depth). */
function encoderSpecs(o: ModelOptions, inChannels = o.inChannels): TensorSpec[] {
  const enc = encoderOf(o.encoder);
  const r = new RecordingReader();
  const b = new GraphBuilder();
  enc.build(b, r, b.value('input', inChannels), o.encoder, enc.maxDepth, 'encoder.');
  const efficientnet = o.encoder.startsWith('efficientnet');
  const init: InitKind = efficientnet ? 'default' : 'fanOutNormal';
  const out: TensorSpec[] = [];
  // torchvision registers a block's downsample after its convs (the builder asks for it first): the
  // state_dict lists it last, so it is held back until the block's other modules are out
  const block = (name: string) => /^encoder\.layer\d+\.\d+\./.exec(name)?.[0];
  let held: Recorded[] = [];
  const emit = (it: Recorded) =>
    it.kind === 'conv' ? convSpecs(out, it, init, 'defaultBias', 'encoder') : it.kind === 'norm' && normSpecs(out, it.name, it.channels, 'encoder');
  for (const it of r.items) {
    if (held.length && block(it.name) !== block(held[0].name)) held = (held.forEach(emit), []);
    if (it.name.includes('.downsample.')) held.push(it);
    else emit(it);
  }
  held.forEach(emit);
  if (efficientnet) {
    // _conv_head (1x1 to round_filters(1280)) and _bn1: in smp's state_dict, never run by its encoder
    const last = r.items.filter((c) => c.name.endsWith('._project_conv')).at(-1) as Extract<Recorded, { kind: 'conv' }>;
    const headC = roundFilters(1280, EFFICIENTNET_WIDTH[o.encoder]);
    convSpecs(out, { name: 'encoder._conv_head', shape: [headC, last.shape[0], 1, 1], bias: false, biasLength: 0 }, 'default', 'defaultBias', 'encoder');
    normSpecs(out, 'encoder._bn1', headC, 'encoder');
  }
  // smp's patch_first_conv re-initialises the stem when in_channels != 3 (reset_parameters)
  if (inChannels !== 3) out[0] = { ...out[0], init: 'default' };
  return out;
}

/** efficientnet_params width coefficients (src/arch/smp/encoders/efficientnet.ts holds the full table) */
const EFFICIENTNET_WIDTH: Record<string, number> = {
  'efficientnet-b0': 1.0,
  'efficientnet-b1': 1.0,
  'efficientnet-b2': 1.1,
  'efficientnet-b3': 1.2,
  'efficientnet-b4': 1.4,
  'efficientnet-b5': 1.6,
  'efficientnet-b6': 1.8,
  'efficientnet-b7': 2.0,
};

/** efficientnet-pytorch's round_filters (depth_divisor 8) */
function roundFilters(filters: number, width: number): number {
  const f = filters * width;
  let n = Math.max(8, Math.floor(Math.trunc(f + 4) / 8) * 8);
  if (n < 0.9 * f) n += 8;
  return n;
}

/** The decoder's and head's tensors, in build order, with the last block's attention1 that smp builds but
 *  never applies (it has no skip to attend to). */
function decoderSpecs(o: ModelOptions): TensorSpec[] {
  const s = smpSettingsOf(o);
  const r = new RecordingReader();
  const b = new GraphBuilder();
  const features = encoderOf(o.encoder).build(b, new RecordingReader(), b.value('input', o.inChannels), o.encoder, o.depth, 'encoder.');
  const last = s.decoder.block(o.depth - 1);
  // the channels reaching the last block: the previous block's output (or the deepest feature at depth 1)
  const lastIn = o.depth > 1 ? o.decoderChannels[o.depth - 2] : b.channels(features[o.depth]);
  const x = s.decoder.build(b, r, features, s);
  segmentationHead(b, r, x, o.classes, o.activation);
  const out: TensorSpec[] = [];
  for (const it of r.items) {
    // smp builds the last block's attention1 before its conv1 (registration order), never applying it
    if (o.attention === 'scse' && it.name === `${last}.conv1.0`) scseSpecs(out, `${last}.attention1`, lastIn);
    const head = it.name.startsWith('segmentation_head.');
    if (it.kind === 'conv') convSpecs(out, it, head ? 'head' : 'decoder', 'zero', head ? 'head' : 'decoder');
    else if (it.kind === 'norm') normSpecs(out, it.name, it.channels, 'decoder');
  }
  return out;
}

/** SCSE tensors of an attention module not in the graph (smp's last-block attention1). */
function scseSpecs(out: TensorSpec[], name: string, C: number): void {
  const mid = Math.floor(C / SCSE_REDUCTION);
  const p = `${name}.attention`;
  const conv = (n: string, cout: number, cin: number) =>
    convSpecs(out, { name: `${p}.${n}`, shape: [cout, cin, 1, 1], bias: true, biasLength: cout }, 'decoder', 'zero', 'decoder');
  conv('cSE.1', mid, C);
  conv('cSE.3', C, mid);
  conv('sSE.0', 1, C);
}

/** The brain U-Net's tensors (mateuszbuda's UNet: PyTorch's default init everywhere). */
function brainSpecs(o: ModelOptions): TensorSpec[] {
  const out: TensorSpec[] = [];
  const names = unetTensorNames(o.inChannels, o.classes, o.decoderChannels[0], o.depth);
  for (const [key, shape] of names) {
    const field = key.slice(key.lastIndexOf('.') + 1);
    const module = key.slice(0, key.lastIndexOf('.'));
    const part: TensorSpec['part'] = key.startsWith('conv.') ? 'head' : key.startsWith('encoder') ? 'encoder' : 'decoder';
    if (shape.length === 4) {
      const rf = shape[2] * shape[3];
      out.push({ key, shape: [...shape], init: 'default', fanIn: shape[1] * rf, fanOut: shape[0] * rf, part });
    } else if (/norm\d$/.test(module)) {
      if (field === 'weight') normSpecs(out, module, shape[0], part);
    } else {
      const w = names.get(`${module}.weight`)!;
      const rf = w[2] * w[3];
      out.push({ key, shape: [...shape], init: 'defaultBias', fanIn: w[1] * rf, fanOut: w[0] * rf, part });
    }
  }
  return out;
}

/**
 * nnU-Net's PlainConvUNet: the tensors the plug-in reads (recorded from its builder), the deep-supervision
 * heads decoder.seg_layers[0 .. n-3] that dna always builds (unet_decoder.py: "so that we can always load
 * parameters"), in the state_dict's order: encoder, decoder.stages, decoder.transpconvs, decoder.seg_layers.
 * The state_dict's second names of the same tensors (all_modules.*, decoder.encoder.*) are left out:
 * parameters() counts each tensor once.
 */
function nnunetSpecs(o: ModelOptions): TensorSpec[] {
  const net = nnunetNetworkOf(o);
  const r = new RecordingReader();
  const b = new GraphBuilder();
  buildNnunetNetwork(b, r, net, b.value('input', o.inChannels));
  const items = [...r.items];
  const last = net.nStages - 2;
  for (let j = 0; j < last; j++) {
    const cin = net.featuresPerStage[net.nStages - 2 - j];
    items.push({ kind: 'tensor', name: `decoder.seg_layers.${j}.weight`, shape: [net.numClasses, cin, 1, 1] });
    items.push({ kind: 'tensor', name: `decoder.seg_layers.${j}.bias`, shape: [net.numClasses] });
  }
  const rank = (key: string) => ['encoder.', 'decoder.stages.', 'decoder.transpconvs.', 'decoder.seg_layers.'].findIndex((p) => key.startsWith(p));
  const segIndex = (key: string) => Number(/^decoder\.seg_layers\.(\d+)\./.exec(key)?.[1] ?? 0);
  const out: TensorSpec[] = [];
  for (const it of items) {
    const part: TensorSpec['part'] = it.name.startsWith('encoder.') ? 'encoder' : it.name.startsWith('decoder.seg_layers.') ? 'head' : 'decoder';
    if (it.kind === 'norm') normSpecs(out, it.name, it.channels, part);
    else if (it.kind === 'conv') convSpecs(out, it, 'heNormal', 'zero', part);
    else if (it.shape.length === 4) {
      // Conv2d [out, in, k, k] and ConvTranspose2d [in, out, k, k]: PyTorch's fan_in reads dim 1 of both
      const rf = it.shape[2] * it.shape[3];
      out.push({ key: it.name, shape: it.shape, init: 'heNormal', fanIn: it.shape[1] * rf, fanOut: it.shape[0] * rf, part });
    } else {
      // a conv's bias (0), or InstanceNorm2d's affine weight (1) and bias (0)
      const init: InitKind = /\.norm\.weight$/.test(it.name) ? 'one' : 'zero';
      out.push({ key: it.name, shape: it.shape, init, fanIn: 0, fanOut: 0, part });
    }
  }
  return out
    .map((t, i) => ({ t, i }))
    .sort((a, b) => rank(a.t.key) - rank(b.t.key) || segIndex(a.t.key) - segIndex(b.t.key) || a.i - b.i)
    .map(({ t }) => t);
}

/** Every tensor of the model's state_dict. */
export function stateDictSpec(o: ModelOptions): TensorSpec[] {
  if (o.architecture === 'nnunet-plain') return nnunetSpecs(o);
  if (!isSmp(o)) return brainSpecs(o);
  return [...encoderSpecs(o), ...decoderSpecs(o)];
}

/** The encoder's tensors at in_channels 3: what a pretrained file must hold (before patch_first_conv). */
export function pretrainedEncoderSpec(o: ModelOptions): TensorSpec[] {
  return encoderSpecs(o, 3);
}

/** parameters() and buffers() element counts of a spec (num_batches_tracked: one element each). */
export function countSpec(specs: readonly TensorSpec[]): { parameters: number; buffers: number } {
  let parameters = 0;
  let buffers = 0;
  for (const t of specs) {
    if (t.init === 'count') buffers += 1;
    else if (t.key.endsWith('.running_mean') || t.key.endsWith('.running_var')) buffers += numel(t.shape);
    else parameters += numel(t.shape);
  }
  return { parameters, buffers };
}
