// Parameter types shared by the weight readers (src/weights), the architectures (src/arch), the graph
// (src/compiler) and the kernels (src/kernels): plain f32 arrays in PyTorch's layouts. A neutral module, so
// none of those layers imports another's internals for them.

/** A convolution's parameters. `weight` is row-major in PyTorch's layout:
 *  Conv2d: [outChannels, inChannels / groups, kH, kW]; ConvTranspose2d: [inChannels, outChannels, kH, kW]. */
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
