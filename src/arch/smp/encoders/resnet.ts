// ResNet and ResNeXt encoders as smp uses them (smp `encoders/resnet.py` over torchvision's ResNet):
// f1 = relu(bn1(conv1(x))) with conv1 7x7 stride 2 padding 3; f2 = layer1(maxpool(f1)) with max_pool2d
// 3x3 stride 2 padding 1; f3..f5 = layer2..layer4. Blocks are torchvision's: BasicBlock (3x3, 3x3) or
// Bottleneck (1x1, 3x3 with the stride and the groups, 1x1 to 4x), a downsample (1x1 conv with the
// stride + BN) where the shape changes, then out + identity and ReLU. BatchNorm eps is PyTorch's 1e-5.
// `fc.*` is deleted by smp and must not be in the state_dict.
import type { GraphBuilder, ValueId } from '../../../ir/graph.js';
import type { TensorReader } from '../../reader.js';
import type { SmpEncoder } from './types.js';

const BN_EPS = 1e-5;

interface ResNetSpec {
  bottleneck: boolean;
  layers: [number, number, number, number];
  groups: number;
  widthPerGroup: number;
}

const SPECS: Record<string, ResNetSpec> = {
  resnet18: { bottleneck: false, layers: [2, 2, 2, 2], groups: 1, widthPerGroup: 64 },
  resnet34: { bottleneck: false, layers: [3, 4, 6, 3], groups: 1, widthPerGroup: 64 },
  resnet50: { bottleneck: true, layers: [3, 4, 6, 3], groups: 1, widthPerGroup: 64 },
  resnet101: { bottleneck: true, layers: [3, 4, 23, 3], groups: 1, widthPerGroup: 64 },
  resnet152: { bottleneck: true, layers: [3, 8, 36, 3], groups: 1, widthPerGroup: 64 },
  resnext50_32x4d: { bottleneck: true, layers: [3, 4, 6, 3], groups: 32, widthPerGroup: 4 },
  resnext101_32x4d: { bottleneck: true, layers: [3, 4, 23, 3], groups: 32, widthPerGroup: 4 },
  resnext101_32x8d: { bottleneck: true, layers: [3, 4, 23, 3], groups: 32, widthPerGroup: 8 },
};

const PLANES = [64, 128, 256, 512];

function block(b: GraphBuilder, r: TensorReader, x: ValueId, spec: ResNetSpec, name: string, planes: number, stride: number): ValueId {
  const cin = b.channels(x);
  const expansion = spec.bottleneck ? 4 : 1;
  const cout = planes * expansion;
  // the identity branch first: fuseResidual folds the add into the conv computed after it
  let identity = x;
  if (stride !== 1 || cin !== cout) {
    identity = b.conv2d(`${name}.downsample.0`, x, r.conv(`${name}.downsample.0`, [cout, cin, 1, 1], false), { stride });
    identity = b.batchNorm(`${name}.downsample.1`, identity, r.batchNorm(`${name}.downsample.1`, cout, BN_EPS));
  }
  let y: ValueId;
  if (spec.bottleneck) {
    const width = Math.floor(planes * (spec.widthPerGroup / 64)) * spec.groups;
    y = b.conv2d(`${name}.conv1`, x, r.conv(`${name}.conv1`, [width, cin, 1, 1], false));
    y = b.relu(`${name}.relu1`, b.batchNorm(`${name}.bn1`, y, r.batchNorm(`${name}.bn1`, width, BN_EPS)));
    y = b.conv2d(`${name}.conv2`, y, r.conv(`${name}.conv2`, [width, width / spec.groups, 3, 3], false), { stride, padding: 1, groups: spec.groups });
    y = b.relu(`${name}.relu2`, b.batchNorm(`${name}.bn2`, y, r.batchNorm(`${name}.bn2`, width, BN_EPS)));
    y = b.conv2d(`${name}.conv3`, y, r.conv(`${name}.conv3`, [cout, width, 1, 1], false));
    y = b.batchNorm(`${name}.bn3`, y, r.batchNorm(`${name}.bn3`, cout, BN_EPS));
  } else {
    y = b.conv2d(`${name}.conv1`, x, r.conv(`${name}.conv1`, [planes, cin, 3, 3], false), { stride, padding: 1 });
    y = b.relu(`${name}.relu1`, b.batchNorm(`${name}.bn1`, y, r.batchNorm(`${name}.bn1`, planes, BN_EPS)));
    y = b.conv2d(`${name}.conv2`, y, r.conv(`${name}.conv2`, [planes, planes, 3, 3], false), { padding: 1 });
    y = b.batchNorm(`${name}.bn2`, y, r.batchNorm(`${name}.bn2`, planes, BN_EPS));
  }
  return b.relu(`${name}.relu`, b.add2(`${name}.add`, y, identity));
}

export const resnetEncoder: SmpEncoder = {
  names: Object.keys(SPECS),
  maxDepth: 5,
  stemKey: 'conv1.weight',
  unused: (_name, depth, prefix) =>
    depth < 5 ? [`${prefix}layer${Math.max(depth, 1)}.* … ${prefix}layer4.* (stages past encoder_depth ${depth}: smp keeps them, never runs them)`] : [],
  preprocessing: { kind: 'imagenet' },

  outChannels(name, inChannels) {
    const e = SPECS[name].bottleneck ? 4 : 1;
    return [inChannels, 64, 64 * e, 128 * e, 256 * e, 512 * e];
  },

  infer(r, prefix) {
    if (!r.has(`${prefix}conv1.weight`) || !r.has(`${prefix}layer1.0.conv1.weight`)) return undefined;
    const counts = [1, 2, 3, 4].map((l) => {
      const ids = new Set<number>();
      const re = new RegExp(`^${prefix.replace(/\./g, '\\.')}layer${l}\\.(\\d+)\\.`);
      for (const k of r.keys) {
        const m = re.exec(k);
        if (m) ids.add(Number(m[1]));
      }
      return ids.size;
    });
    const bottleneck = r.has(`${prefix}layer1.0.conv3.weight`);
    const width = r.shape(`${prefix}layer1.0.conv1.weight`)?.[0] ?? 64;
    const perGroup = r.shape(`${prefix}layer1.0.conv2.weight`)?.[1] ?? width;
    const groups = Math.max(1, Math.round(width / perGroup));
    const widthPerGroup = (width / groups) * (64 / PLANES[0]);
    const found = Object.entries(SPECS).find(
      ([, s]) =>
        s.bottleneck === bottleneck && s.layers.every((n, i) => n === counts[i]) && s.groups === groups && (groups === 1 || s.widthPerGroup === widthPerGroup),
    );
    return found?.[0];
  },

  build(b, r, x, name, depth, prefix) {
    const spec = SPECS[name];
    const features = [x];
    const cin = b.channels(x);
    let y = b.conv2d(`${prefix}conv1`, x, r.conv(`${prefix}conv1`, [64, cin, 7, 7], false), { stride: 2, padding: 3 });
    y = b.relu(`${prefix}relu`, b.batchNorm(`${prefix}bn1`, y, r.batchNorm(`${prefix}bn1`, 64, BN_EPS)));
    features.push(y);
    for (let l = 0; l < 4; l++) {
      const layer = `${prefix}layer${l + 1}`;
      if (l + 2 > depth) {
        // smp keeps the stages past the depth in the module (and so in the state_dict); they never run
        r.skip((k) => k.startsWith(`${layer}.`));
        continue;
      }
      if (l === 0) y = b.maxPool2d(`${prefix}maxpool`, y, 3, 2, 1);
      for (let i = 0; i < spec.layers[l]; i++) y = block(b, r, y, spec, `${layer}.${i}`, PLANES[l], i === 0 && l > 0 ? 2 : 1);
      features.push(y);
    }
    return features;
  },
};
