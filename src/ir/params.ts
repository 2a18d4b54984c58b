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

/** A convolution with any number of spatial axes: `shape` is [outChannels, inChannels, ...kernel] for
 *  ConvNd, [inChannels, outChannels, ...kernel] for ConvTransposeNd (PyTorch's layouts, row-major). */
export interface ConvNdParams {
  weight: Float32Array;
  shape: number[];
  bias?: Float32Array;
}

/** InstanceNorm (affine): y = (x - mean) / sqrt(var + eps) * weight + bias, mean and biased var per (n, c)
 *  over all spatial positions. Without affine, weight is ones and bias zeros. */
export interface InstanceNormParams {
  weight: Float32Array;
  bias: Float32Array;
  eps: number;
}

/** BatchNorm2d in eval mode: y = (x - runningMean) / sqrt(runningVar + eps) * weight + bias. */
export interface BatchNormParams {
  weight: Float32Array;
  bias: Float32Array;
  runningMean: Float32Array;
  runningVar: Float32Array;
  eps: number;
}
