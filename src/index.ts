// webgpu-unet's public API. Works in browsers as it is; in Node, import the package (its "node" export,
// src/node.ts), which adds WebGPU through Dawn, file paths, and PNG / JPEG decoding of bytes.
// The declarations use the WebGPU types (GPUDevice, ...): this reference, kept in the emitted index.d.ts,
// makes them self-contained for apps that declare no WebGPU types of their own.
/// <reference types="@webgpu/types" preserve="true" />
export { getDevice, describeDevice, releaseGpu, NoAdapterError, type DeviceOptions, type AdapterSummary } from './gpu/device.js';
export { Model, type ModelInfo, type RunOptions, type RunResult, type RunPath, type GpuMemory, type TensorData } from './model.js';
export { loadModel, type LoadOptions, type ModelSource, type WeightsSource } from './load.js';
export type { DownloadProgress } from './io/fetch.js';
export { imageTensor, type SegmentOptions, type SegmentResult } from './segment.js';
export type { NnunetSegmentOptions, NnunetSegmentResult, NnunetVolume, NnunetVolumeSource, NiftiSource } from './nnunetSegment.js';
export { readImage, type ImageSource, type RawImage, type ReadImageOptions } from './io/pixels.js';
export { renderMask, renderOverlay, renderLabels, probabilitiesPng, type RgbaImage, type Segmentation } from './io/render.js';
export { encodePng, type PngImage } from './io/png.js';
export { luma } from './io/preprocess.js';
export { isForeground } from './io/classes.js';
export {
  UnetError,
  InputError,
  WeightsError,
  UnsupportedError,
  DeviceLostError,
  GpuError,
  DisposedError,
  TimeoutError,
  AbortError,
  ImageError,
  type ErrorCode,
} from './errors.js';
export type { OutputActivation, ModelConfig } from './arch/index.js';
export type { Normalization } from './io/preprocess.js';
export { DEFAULT_LIMITS, LimitError, type Limits } from './limits.js';
export { checkPadMode } from './ir/types.js';
export type { TileOptions, TileSetting, PlanEstimate, Progress, Blend } from './tiling/index.js';
export type { PadMode } from './ir/types.js';
export type { Plan } from './compiler/plan.js';
export { parseSafetensors, writeSafetensors, SafetensorsError, type Safetensors, type TensorToWrite } from './weights/safetensors.js';
export {
  defaultModelOptions,
  modelOptionChoices,
  checkModelOptions,
  setModelOption,
  describeModel,
  smpConfig,
  smpConfigJson,
  modelSafetensors,
  buildModel,
  optionsOfModel,
  ENCODER_FILE_PATTERNS,
  type PlaygroundArchitecture,
  type ModelOptions,
  type ModelWeights,
  type ModelDescription,
  type DescribedStage,
  type DescribeContext,
  type OptionChoice,
  type OptionProblem,
  type SmpConfigOptions,
  type BuildModelOptions,
} from './playground.js';
