// Parameters of a U-Net as plain f32 arrays in PyTorch's layouts. This is the contract between
// src/weights (which fills it from a state_dict) and src/graph (which builds the network from it).

/** A convolution's parameters. `weight` is row-major in PyTorch's layout:
 *  Conv2d: [outChannels, inChannels, kH, kW]; ConvTranspose2d: [inChannels, outChannels, kH, kW]. */
export interface ConvParams {
  weight: Float32Array;
  shape: [number, number, number, number];
  bias?: Float32Array;
}

/** BatchNorm2d in eval mode: y = (x - runningMean) / sqrt(runningVar + eps) * weight + bias. */
export interface BatchNormParams {
  weight: Float32Array;
  bias: Float32Array;
  runningMean: Float32Array;
  runningVar: Float32Array;
  eps: number;
}

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
