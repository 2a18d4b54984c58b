// EfficientNet-b0 ... b7 encoders as smp uses them (smp `encoders/efficientnet.py` over its own
// `_efficientnet.py`, not timm's): stem conv 3x3 stride 2 -> BatchNorm -> SiLU (feature 1), then the
// MBConv blocks in order, the output of block i being a feature when i is in the variant's out_indexes.
// MBConv: [expand 1x1 -> BN -> SiLU] (expand ratio != 1) -> depthwise kxk (stride) -> BN -> SiLU ->
// squeeze-excite (avg pool -> 1x1 reduce with bias -> SiLU -> 1x1 expand with bias -> sigmoid -> x *
// gate) -> project 1x1 -> BN, + the block's input when stride 1 and in == out (drop-connect is training
// only). BatchNorm eps 1e-3. Every conv with k > 1 pads "same" TensorFlow-style, computed once from the
// variant's nominal image size (tracked through the strides with ceil(size / stride)) and applied
// unchanged to any real input: often one more row / column at the bottom / right.
// `_conv_head` and `_bn1` stay in smp's state_dict but never run; `_fc` is deleted.
import type { GraphBuilder, Padding4, ValueId } from '../../../ir/graph.js';
import type { TensorReader } from '../../reader.js';
import type { SmpEncoder } from './types.js';
import { UnsupportedError } from '../../../errors.js';

const BN_EPS = 1e-3;

/** width coefficient, depth coefficient, nominal image size (efficientnet_params) */
const VARIANTS: Record<string, [number, number, number]> = {
  'efficientnet-b0': [1.0, 1.0, 224],
  'efficientnet-b1': [1.0, 1.1, 240],
  'efficientnet-b2': [1.1, 1.2, 260],
  'efficientnet-b3': [1.2, 1.4, 300],
  'efficientnet-b4': [1.4, 1.8, 380],
  'efficientnet-b5': [1.6, 2.2, 456],
  'efficientnet-b6': [1.8, 2.6, 528],
  'efficientnet-b7': [2.0, 3.1, 600],
};

/** smp's out_indexes: the blocks whose outputs are features 2..5 */
const OUT_INDEXES: Record<string, number[]> = {
  'efficientnet-b0': [2, 4, 8, 15],
  'efficientnet-b1': [4, 7, 15, 22],
  'efficientnet-b2': [4, 7, 15, 22],
  'efficientnet-b3': [4, 7, 17, 25],
  'efficientnet-b4': [5, 9, 21, 31],
  'efficientnet-b5': [7, 12, 26, 38],
  'efficientnet-b6': [8, 14, 30, 44],
  'efficientnet-b7': [10, 17, 37, 54],
};

/** The base stages: repeats, kernel, stride, expand ratio, in, out (blocks_args r_k_s_e_i_o, se 0.25). */
const STAGES: [number, number, number, number, number, number][] = [
  [1, 3, 1, 1, 32, 16],
  [2, 3, 2, 6, 16, 24],
  [2, 5, 2, 6, 24, 40],
  [3, 3, 2, 6, 40, 80],
  [3, 5, 1, 6, 80, 112],
  [4, 5, 2, 6, 112, 192],
  [1, 3, 1, 6, 192, 320],
];
const SE_RATIO = 0.25;

/** round_filters with depth_divisor 8 and min_depth unset */
function roundFilters(filters: number, width: number): number {
  const f = filters * width;
  let n = Math.max(8, Math.floor(Math.trunc(f + 4) / 8) * 8);
  if (n < 0.9 * f) n += 8;
  return n;
}

interface Block {
  inF: number;
  outF: number;
  k: number;
  stride: number;
  expand: number;
}

function blocksOf(name: string): Block[] {
  const [width, depthCoef] = VARIANTS[name];
  const blocks: Block[] = [];
  for (const [r, k, s, e, i, o] of STAGES) {
    const inF = roundFilters(i, width);
    const outF = roundFilters(o, width);
    const repeats = Math.ceil(depthCoef * r);
    blocks.push({ inF, outF, k, stride: s, expand: e });
    for (let j = 1; j < repeats; j++) blocks.push({ inF: outF, outF, k, stride: 1, expand: e });
  }
  return blocks;
}

/** Conv2dStaticSamePadding for a k x k conv of `stride` on a `size` x `size` image: [top, bottom, left, right]. */
export function staticSamePadding(size: number, k: number, stride: number): Padding4 {
  const out = Math.ceil(size / stride);
  const pad = Math.max((out - 1) * stride + k - size, 0);
  const a = Math.floor(pad / 2);
  return [a, pad - a, a, pad - a];
}

export const efficientnetEncoder: SmpEncoder = {
  names: Object.keys(VARIANTS),
  maxDepth: 5,
  stemKey: '_conv_stem.weight',
  unused(name, depth, prefix) {
    const head = `${prefix}_conv_head.*, ${prefix}_bn1.* (smp keeps them; its encoder never runs them)`;
    if (depth === 5) return [head];
    const last = OUT_INDEXES[name][depth - 2];
    return [`${prefix}_blocks.${last + 1}.* and later (past encoder_depth ${depth})`, head];
  },
  preprocessing: { kind: 'imagenet' },

  outChannels(name, inChannels) {
    const blocks = blocksOf(name);
    return [inChannels, roundFilters(32, VARIANTS[name][0]), ...OUT_INDEXES[name].map((i) => blocks[i].outF)];
  },

  infer(r, prefix) {
    const stem = r.shape(`${prefix}_conv_stem.weight`);
    if (!stem) return undefined;
    let count = 0;
    const re = new RegExp(`^${prefix.replace(/\./g, '\\.')}_blocks\\.(\\d+)\\.`);
    for (const k of r.keys) {
      const m = re.exec(k);
      if (m) count = Math.max(count, Number(m[1]) + 1);
    }
    const lastOut = r.shape(`${prefix}_blocks.${count - 1}._project_conv.weight`)?.[0];
    return Object.keys(VARIANTS).find((n) => {
      const blocks = blocksOf(n);
      return roundFilters(32, VARIANTS[n][0]) === stem[0] && blocks.length === count && blocks[blocks.length - 1].outF === lastOut;
    });
  },

  build(b: GraphBuilder, r: TensorReader, x: ValueId, name: string, depth: number, prefix: string): ValueId[] {
    if (depth < 2) throw new UnsupportedError(`${r.source}: ${name} needs encoder_depth 2 to 5 (smp refuses ${depth})`);
    const [width, , nominal] = VARIANTS[name];
    const blocks = blocksOf(name);
    const outIndexes = OUT_INDEXES[name];
    let size = nominal;
    const cin = b.channels(x);
    const stemC = roundFilters(32, width);
    let y = b.conv2d(`${prefix}_conv_stem`, x, r.conv(`${prefix}_conv_stem`, [stemC, cin, 3, 3], false), { stride: 2, padding: staticSamePadding(size, 3, 2) });
    size = Math.ceil(size / 2);
    y = b.activation(`${prefix}_swish`, b.batchNorm(`${prefix}_bn0`, y, r.batchNorm(`${prefix}_bn0`, stemC, BN_EPS)), 'silu');
    const features = [x, y];
    let i = 0;
    for (; i < blocks.length && features.length <= depth; i++) {
      const { inF, outF, k, stride, expand } = blocks[i];
      const p = `${prefix}_blocks.${i}`;
      const input = y;
      const C = inF * expand;
      let h = input;
      if (expand !== 1) {
        h = b.conv2d(`${p}._expand_conv`, h, r.conv(`${p}._expand_conv`, [C, inF, 1, 1], false));
        h = b.activation(`${p}._swish0`, b.batchNorm(`${p}._bn0`, h, r.batchNorm(`${p}._bn0`, C, BN_EPS)), 'silu');
      }
      h = b.conv2d(`${p}._depthwise_conv`, h, r.conv(`${p}._depthwise_conv`, [C, 1, k, k], false), {
        stride,
        padding: staticSamePadding(size, k, stride),
        groups: C,
      });
      size = Math.ceil(size / stride);
      h = b.activation(`${p}._swish1`, b.batchNorm(`${p}._bn1`, h, r.batchNorm(`${p}._bn1`, C, BN_EPS)), 'silu');
      const sq = Math.max(1, Math.floor(inF * SE_RATIO));
      let g = b.globalAvgPool(`${p}._se_pool`, h);
      g = b.activation(`${p}._se_swish`, b.conv2d(`${p}._se_reduce`, g, r.conv(`${p}._se_reduce`, [sq, C, 1, 1], true)), 'silu');
      g = b.sigmoid(`${p}._se_sigmoid`, b.conv2d(`${p}._se_expand`, g, r.conv(`${p}._se_expand`, [C, sq, 1, 1], true)));
      h = b.channelScale(`${p}._se_scale`, h, g);
      h = b.conv2d(`${p}._project_conv`, h, r.conv(`${p}._project_conv`, [outF, C, 1, 1], false));
      h = b.batchNorm(`${p}._bn2`, h, r.batchNorm(`${p}._bn2`, outF, BN_EPS));
      y = stride === 1 && inF === outF ? b.add2(`${p}.skip`, h, input) : h;
      if (outIndexes.includes(i)) features.push(y);
    }
    // blocks past the depth, and the head smp keeps but never runs
    const skipped = (k: string) => {
      const m = new RegExp(`^${prefix.replace(/\./g, '\\.')}_blocks\\.(\\d+)\\.`).exec(k);
      return (m !== null && Number(m[1]) >= i) || k.startsWith(`${prefix}_conv_head.`) || k.startsWith(`${prefix}_bn1.`);
    };
    r.skip(skipped);
    return features;
  },
};
