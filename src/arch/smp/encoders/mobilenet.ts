// smp's mobilenet_v2 encoder (smp `encoders/mobilenet.py`): torchvision's MobileNetV2, width 1.0, with
// `classifier` deleted. features.0: conv 3x3 stride 2 pad 1 -> BN -> ReLU6; features.1..17: inverted
// residuals; features.18: conv 1x1 320 -> 1280 -> BN -> ReLU6. Inverted residual: [expand 1x1 -> BN ->
// ReLU6] (expand ratio != 1) -> depthwise 3x3 (stride, pad 1) -> BN -> ReLU6 -> project 1x1 -> BN, + the
// block's input when stride 1 and in == out. The features are the outputs of features.{1, 3, 6, 13, 18}
// (smp's _out_indexes): 16, 24, 32, 96, 1280 channels at /2 ... /32. Convs have no bias; BatchNorm eps is
// PyTorch's 1e-5. smp keeps the modules past encoder_depth in the state_dict and never runs them.
import type { GraphBuilder, ValueId } from '../../../ir/graph.js';
import type { TensorReader } from '../../reader.js';
import type { SmpEncoder } from './types.js';

const BN_EPS = 1e-5;
const NAME = 'mobilenet_v2';
/** torchvision's inverted_residual_setting: expand ratio t, out channels c, repeats n, first stride s */
const SETTING: [number, number, number, number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];
const STEM_CHANNELS = 32;
const LAST_CHANNELS = 1280;
/** the modules of `features` whose outputs are features 1..5 */
const OUT_INDEXES = [1, 3, 6, 13, 18];

interface Block {
  cin: number;
  cout: number;
  stride: number;
  expand: number;
}

/** features.1 ... features.17 */
const BLOCKS: Block[] = (() => {
  const blocks: Block[] = [];
  let cin = STEM_CHANNELS;
  for (const [t, c, n, s] of SETTING) {
    for (let i = 0; i < n; i++) {
      blocks.push({ cin, cout: c, stride: i === 0 ? s : 1, expand: t });
      cin = c;
    }
  }
  return blocks;
})();

/** torchvision's Conv2dNormActivation: conv k x k (no bias, pad (k - 1) / 2) as `${name}.0`, BN `${name}.1`, ReLU6. */
function convBnRelu6(b: GraphBuilder, r: TensorReader, x: ValueId, name: string, cout: number, k: number, stride = 1, groups = 1): ValueId {
  const y = b.conv2d(`${name}.0`, x, r.conv(`${name}.0`, [cout, b.channels(x) / groups, k, k], false), { stride, padding: (k - 1) / 2, groups });
  return b.activation(`${name}.2`, b.batchNorm(`${name}.1`, y, r.batchNorm(`${name}.1`, cout, BN_EPS)), 'relu6');
}

function invertedResidual(b: GraphBuilder, r: TensorReader, x: ValueId, p: string, { cin, cout, stride, expand }: Block): ValueId {
  const hidden = cin * expand;
  let h = x;
  let i = 0;
  if (expand !== 1) h = convBnRelu6(b, r, h, `${p}.conv.${i++}`, hidden, 1);
  h = convBnRelu6(b, r, h, `${p}.conv.${i++}`, hidden, 3, stride, hidden);
  h = b.conv2d(`${p}.conv.${i}`, h, r.conv(`${p}.conv.${i}`, [cout, hidden, 1, 1], false));
  h = b.batchNorm(`${p}.conv.${i + 1}`, h, r.batchNorm(`${p}.conv.${i + 1}`, cout, BN_EPS));
  // fuseResidual adds the block's input in the project conv's epilogue
  return stride === 1 && cin === cout ? b.add2(`${p}.add`, h, x) : h;
}

export const mobilenetEncoder: SmpEncoder = {
  names: [NAME],
  maxDepth: 5,
  stemKey: 'features.0.0.weight',
  unused: (_name, depth, prefix) =>
    depth < 5
      ? [`${prefix}features.${OUT_INDEXES[depth - 1] + 1}.* … ${prefix}features.18.* (past encoder_depth ${depth}: smp keeps them, never runs them)`]
      : [],
  preprocessing: { kind: 'imagenet' },

  outChannels: (_name, inChannels) => [inChannels, ...OUT_INDEXES.map((i) => (i === 18 ? LAST_CHANNELS : BLOCKS[i - 1].cout))],

  infer(r, prefix) {
    const last = r.shape(`${prefix}features.18.0.weight`);
    return r.has(`${prefix}features.0.0.weight`) && last?.[0] === LAST_CHANNELS && last[1] === BLOCKS[BLOCKS.length - 1].cout ? NAME : undefined;
  },

  build(b, r, x, _name, depth, prefix) {
    const features = [x];
    let y = x;
    let i = 0;
    for (; features.length <= depth; i++) {
      const p = `${prefix}features.${i}`;
      if (i === 0) y = convBnRelu6(b, r, y, p, STEM_CHANNELS, 3, 2);
      else if (i === 18) y = convBnRelu6(b, r, y, p, LAST_CHANNELS, 1);
      else y = invertedResidual(b, r, y, p, BLOCKS[i - 1]);
      if (OUT_INDEXES.includes(i)) features.push(y);
    }
    // the modules past the depth stay in smp's state_dict
    const re = new RegExp(`^${prefix.replace(/\./g, '\\.')}features\\.(\\d+)\\.`);
    r.skip((k) => Number(re.exec(k)?.[1] ?? -1) >= i);
    return features;
  },
};
