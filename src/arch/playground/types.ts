// The playground's option and description types (src/playground.ts re-exports them).
import type { Tuning } from '../../compiler/tuning.js';

/** smp classes by their smp names, the brain-segmentation U-Net, and nnU-Net's 2D PlainConvUNet */
export type PlaygroundArchitecture = 'Unet' | 'UnetPlusPlus' | 'brain-unet' | 'nnunet-plain';

export interface ModelOptions {
  architecture: PlaygroundArchitecture;
  /** smp's encoder_name (every one SUPPORTED_ENCODERS has); 'unet' for the brain U-Net, 'plain' for nnU-Net */
  encoder: string;
  /** encoder_depth (the brain U-Net: its number of pooling levels; nnU-Net: n_stages) */
  depth: number;
  /** one per decoder block, deepest first (the brain U-Net: [init_features]; nnU-Net: features_per_stage,
   *  one per stage, the first stage first) */
  decoderChannels: number[];
  attention: 'none' | 'scse';
  upsampling: 'nearest' | 'bilinear';
  /** 'instancenorm': nnU-Net only (its InstanceNorm2d, the default there; 'batchnorm' is nnUNetTrainerBN's) */
  decoderNorm: 'batchnorm' | 'none' | 'instancenorm';
  inChannels: number;
  classes: number;
  activation: 'identity' | 'sigmoid' | 'softmax' | 'logsoftmax' | 'tanh';
}

/** One value of a field, and whether it can be chosen with the other fields as they are. */
export interface OptionChoice {
  value: unknown;
  allowed: boolean;
  /** why not, when not allowed */
  why?: string;
}

export interface OptionProblem {
  field: keyof ModelOptions;
  message: string;
}

/** Random weights (seeded: the same seed gives the same bits), or a pretrained encoder file (torchvision's
 *  resnet / resnext / mobilenet_v2 .pth, efficientnet-pytorch's .pth; the decoder and head random, seeded). */
export type ModelWeights = { random: { seed: number } } | { encoder: { bytes: Uint8Array; name: string; seed: number } };

export interface SmpConfigOptions {
  /** config.json's encoder_weights: null (default; Unet(**config) then downloads nothing) or e.g. 'imagenet' */
  encoderWeights?: string | null;
}

/** What describeModel assumes about the device; a loaded model's own values make its figures the plan's. */
export interface DescribeContext {
  /** take the tuning (the one loadModel picks by default for it) and the limits below from this device */
  device?: GPUDevice;
  /** default DEFAULT_TUNING (decides scratch for Winograd / tiled convs and the weights' packed size) */
  tuning?: Tuning;
  /** minStorageBufferOffsetAlignment, default 256 */
  alignment?: number;
  precision?: 'f32' | 'f16';
  /** maxStorageBufferBindingSize and maxBufferSize (WebGPU's defaults, 128 and 256 MiB): weights are
   *  packed into buffers of at most these */
  maxBindingBytes?: number;
  maxBufferBytes?: number;
}

/** One box of the diagram: an encoder stage, a decoder block or the head, with its output feature map. */
export interface DescribedStage {
  /** stable id, e.g. 'input', 'enc1', 'dec0', 'x_1_2', 'head' */
  id: string;
  kind: 'input' | 'encoder' | 'decoder' | 'head';
  /** what people call it, e.g. 'layer1', 'decoder block 0', 'x_1_2' */
  label: string;
  /** the state_dict prefix of its tensors, e.g. 'encoder.layer1', 'decoder.blocks.0' ('' for the input) */
  module: string;
  /** its output, NCHW with N = 1 */
  shape: [number, number, number, number];
  /** the elements of its parameters (PyTorch's count) */
  parameters: number;
  /** the stage whose output it takes (undefined for the input) */
  from?: string;
  /** stages whose outputs it concatenates (skip connections) */
  skips: string[];
  /** the resolution level of its output for drawing: 0 at the input's size, i at 1/2^i (encoder stage i) */
  level: number;
  /** UnetPlusPlus's nested blocks x_d_l: d (0 for the blocks that lead to the head); 0 elsewhere */
  row: number;
}

export interface ModelDescription {
  options: ModelOptions;
  /** one line naming the model, as model.info.title */
  title: string;
  /** the size asked for, [H, W] */
  input: [number, number];
  /** the size the network runs at: the input padded to sizeMultiple */
  padded: [number, number];
  sizeMultiple: number;
  /** sum(p.numel() for p in model.parameters()) */
  parameters: number;
  /** sum(b.numel() for b in model.buffers()): BatchNorm running stats and num_batches_tracked */
  buffers: number;
  /** parameters of encoder.*, decoder.* and the head (segmentation_head.* / the brain U-Net's conv.*) */
  parameterGroups: { encoder: number; decoder: number; head: number };
  /** GFLOP of one forward of [1, inChannels, H, W] as the compiled plan counts them (2 x multiply-adds of the
   *  convolutions the engine runs) */
  gflop: number;
  /** one pass's GPU memory in bytes: the packed weights, the activation arena without its scratch, the
   *  scratch, the input and output buffers (output counted twice: the buffer and its readback), their sum */
  memory: { weightsBytes: number; activationsBytes: number; scratchBytes: number; inputBytes: number; outputBytes: number; totalBytes: number };
  stages: DescribedStage[];
  /** tensors in the state_dict that never run (smp keeps stages past encoder_depth, EfficientNet's head) */
  unused: string[];
  /** the diagram as text, one line a stage, for screen readers */
  text: string;
}
