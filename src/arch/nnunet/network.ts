// nnU-Net's networks, dynamic_network_architectures' PlainConvUNet and ResidualEncoderUNet (2D and 3D), as
// the graph their forward runs with deep supervision off, reading the state_dict by the names PyTorch gives
// it. What each block computes follows the upstream source:
//   building_blocks/simple_conv_blocks.py  ConvDropoutNormReLU: conv (padding (k - 1) // 2 per axis) ->
//                                          [dropout: none at inference] -> norm -> nonlin (or nonlin, then
//                                          norm, with nonlin_first); StackedConvBlocks: the first conv strided
//   building_blocks/plain_conv_encoder.py  stage s = StackedConvBlocks(n_conv_per_stage[s], stride strides[s])
//   building_blocks/residual_encoders.py   stem (one conv block, stem_channels), then stage s =
//                                          StackedResidualBlocks(n_blocks_per_stage[s], initial stride strides[s])
//   building_blocks/residual.py            BasicBlockD: nonlin2(norm(conv2(conv1(x))) + skip(x)), BottleneckD:
//                                          1x1 -> kxk (strided) -> 1x1; skip = [AvgPool(stride)] + [1x1 conv (no
//                                          bias) + norm] when the stride or the width changes
//   building_blocks/unet_decoder.py        per stage: ConvTranspose (kernel = stride = the encoder stage's),
//                                          cat((up, skip), 1), StackedConvBlocks; seg_layers[-1] (1x1, bias) last
// The state_dict repeats every conv and norm under `all_modules.<i>` (the same tensors, registered twice)
// and the encoder under `decoder.encoder.` (the decoder keeps a reference to it): those copies are accepted
// and not read, as are the deep-supervision heads seg_layers[0 .. n-3].
import type { GraphBuilder, ValueId } from '../../ir/graph.js';
import type { ConvNdParams, InstanceNormParams } from '../../ir/params.js';
import { type Activation, leakyRelu } from '../../ir/types.js';
import type { TensorReader } from '../reader.js';
import type { NnunetNetwork } from './plans.js';

export type { NnunetNetwork };

/** The total stride of the encoder per spatial axis: input sizes must be multiples of it. */
export function totalStrides(net: NnunetNetwork): number[] {
  return net.strides.reduce((acc, s) => acc.map((a, i) => a * s[i]), new Array<number>(net.dims).fill(1));
}

/** Keys of the state_dict that the network holds but inference never reads. */
export function isUnusedKey(key: string, net: NnunetNetwork): boolean {
  if (key.includes('.all_modules.') || key.startsWith('decoder.encoder.')) return true;
  const m = /^decoder\.seg_layers\.(\d+)\./.exec(key);
  return m !== null && Number(m[1]) < net.nStages - 2;
}

export interface NetworkOptions {
  /** prefix of the tensors' names (one fold of an ensemble: 'fold_0.'), and of the nodes' */
  prefix?: string;
  /** scales the logits (1 / folds: an ensemble's sum of scaled logits is their mean) */
  scale?: number;
}

/** Builds the forward of `net` on `input`, reading its tensors through `r`; returns the logits. */
export function buildNnunetNetwork(b: GraphBuilder, reader: TensorReader, net: NnunetNetwork, input: ValueId, o: NetworkOptions = {}): ValueId {
  const prefix = o.prefix ?? '';
  const act: Activation | undefined = net.nonlin ? (net.nonlin.kind === 'relu' ? 'relu' : leakyRelu(net.nonlin.slope)) : undefined;
  reader.skip((k) => k.startsWith(prefix) && isUnusedKey(k.slice(prefix.length), net));
  // tensors and nodes are named by the network's own names, under the prefix
  const r = {
    tensor: (name: string, shape: number[]) => reader.tensor(prefix + name, shape),
    batchNorm: (name: string, c: number, eps: number) => reader.batchNorm(prefix + name, c, eps),
  };

  /** nn.ConvNd, padding (k - 1) // 2 per axis. */
  const conv = (name: string, x: ValueId, cout: number, kernel: number[], stride: number[], bias: boolean): ValueId => {
    const cin = b.channels(x);
    const shape = [cout, cin, ...kernel];
    const params: ConvNdParams = { weight: r.tensor(`${name}.weight`, shape), shape };
    if (bias) params.bias = r.tensor(`${name}.bias`, [cout]);
    const padding = kernel.map((k) => (k - 1) >> 1);
    if (net.dims === 3) return b.conv3d(prefix + name, x, params, { stride, padding });
    return b.conv2d(
      prefix + name,
      x,
      { ...params, shape: shape as [number, number, number, number] },
      { stride: [stride[0], stride[1]], padding: [padding[0], padding[1]] },
    );
  };

  const norm = (name: string, x: ValueId): ValueId => {
    const n = net.norm!;
    const c = b.channels(x);
    if (n.kind === 'batch') return b.batchNorm(prefix + name, x, r.batchNorm(name, c, n.eps));
    const p: InstanceNormParams = n.affine
      ? { weight: r.tensor(`${name}.weight`, [c]), bias: r.tensor(`${name}.bias`, [c]), eps: n.eps }
      : { weight: new Float32Array(c).fill(1), bias: new Float32Array(c), eps: n.eps };
    return b.instanceNorm(prefix + name, x, p);
  };

  /** ConvDropoutNormReLU; `withNonlin` false for the blocks built with nonlin None (a residual block's
   *  last conv, the skip projection). */
  const convBlock = (
    block: string,
    x: ValueId,
    cout: number,
    kernel: number[],
    stride: number[],
    bias: boolean,
    withNonlin = true,
    nonlinFirst = false,
  ): ValueId => {
    let y = conv(`${block}.conv`, x, cout, kernel, stride, bias);
    const nonlin = withNonlin && act ? (v: ValueId) => b.activation(`${prefix}${block}.nonlin`, v, act) : undefined;
    if (nonlinFirst && net.norm && nonlin) return norm(`${block}.norm`, nonlin(y));
    if (net.norm) y = norm(`${block}.norm`, y);
    return nonlin ? nonlin(y) : y;
  };

  const stacked = (block: string, x: ValueId, n: number, cout: number, kernel: number[], stride: number[], nonlinFirst: boolean): ValueId => {
    const ones = stride.map(() => 1);
    for (let i = 0; i < n; i++) x = convBlock(`${block}.convs.${i}`, x, cout, kernel, i === 0 ? stride : ones, net.convBias, true, nonlinFirst);
    return x;
  };

  const residualBlock = (block: string, x: ValueId, cout: number, kernel: number[], stride: number[], bottleneck?: number): ValueId => {
    const ones = stride.map(() => 1);
    let y: ValueId;
    if (net.block === 'BottleneckD') {
      y = convBlock(`${block}.conv1`, x, bottleneck!, ones, ones, net.convBias);
      y = convBlock(`${block}.conv2`, y, bottleneck!, kernel, stride, net.convBias);
      y = convBlock(`${block}.conv3`, y, cout, ones, ones, net.convBias, false);
    } else {
      y = convBlock(`${block}.conv1`, x, cout, kernel, stride, net.convBias);
      y = convBlock(`${block}.conv2`, y, cout, kernel, ones, net.convBias, false);
    }
    const strided = stride.some((s) => s !== 1);
    let skip = x;
    if (strided) skip = b.avgPool(`${prefix}${block}.skip.0`, skip, stride);
    if (b.channels(x) !== cout) skip = convBlock(`${block}.skip.${strided ? 1 : 0}`, skip, cout, ones, ones, false, false);
    const sum = b.add2(`${prefix}${block}.add`, y, skip);
    return act ? b.activation(`${prefix}${block}.nonlin2`, sum, act) : sum;
  };

  // encoder: the output of every stage is a skip
  const skips: ValueId[] = [];
  let x = input;
  if (net.className === 'PlainConvUNet') {
    for (let s = 0; s < net.nStages; s++) {
      x = stacked(`encoder.stages.${s}.0`, x, net.nConvPerStage[s], net.featuresPerStage[s], net.kernelSizes[s], net.strides[s], net.nonlinFirst);
      skips.push(x);
    }
  } else {
    const ones = net.strides[0].map(() => 1);
    x = stacked('encoder.stem', x, 1, net.stemChannels ?? net.featuresPerStage[0], net.kernelSizes[0], ones, false);
    for (let s = 0; s < net.nStages; s++) {
      for (let j = 0; j < net.nConvPerStage[s]; j++) {
        const stride = j === 0 ? net.strides[s] : ones;
        x = residualBlock(`encoder.stages.${s}.blocks.${j}`, x, net.featuresPerStage[s], net.kernelSizes[s], stride, net.bottleneckChannels?.[s]);
      }
      skips.push(x);
    }
  }

  // decoder: the ResidualEncoderUNet's decoder is built without nonlin_first
  const decoderNonlinFirst = net.className === 'PlainConvUNet' && net.nonlinFirst;
  let low = skips[skips.length - 1];
  for (let s = 1; s < net.nStages; s++) {
    const skip = skips[net.nStages - 1 - s];
    const skipC = b.channels(skip);
    const stride = net.strides[net.nStages - s];
    const name = `decoder.transpconvs.${s - 1}`;
    const shape = [b.channels(low), skipC, ...stride];
    const params: ConvNdParams = { weight: r.tensor(`${name}.weight`, shape), shape };
    if (net.convBias) params.bias = r.tensor(`${name}.bias`, [skipC]);
    const up = b.convTransposeStrided(prefix + name, low, params);
    const cat = b.concat(`${prefix}decoder.cat.${s - 1}`, [up, skip]);
    low = stacked(
      `decoder.stages.${s - 1}`,
      cat,
      net.nConvPerStageDecoder[s - 1],
      skipC,
      net.kernelSizes[net.nStages - 1 - s],
      stride.map(() => 1),
      decoderNonlinFirst,
    );
  }
  const ones = net.strides[0].map(() => 1);
  const head = `decoder.seg_layers.${net.nStages - 2}`;
  const scale = o.scale ?? 1;
  if (scale === 1) return conv(head, low, net.numClasses, ones, ones, true);
  const shape = [net.numClasses, b.channels(low), ...ones];
  const params: ConvNdParams = {
    weight: r.tensor(`${head}.weight`, shape).map((v) => v * scale),
    shape,
    bias: r.tensor(`${head}.bias`, [net.numClasses]).map((v) => v * scale),
  };
  if (net.dims === 3) return b.conv3d(prefix + head, low, params, { stride: ones, padding: ones.map(() => 0) });
  return b.conv2d(prefix + head, low, { ...params, shape: shape as [number, number, number, number] });
}
