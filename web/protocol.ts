// What the page and the worker (web/worker.ts) say to each other, method by method (web/rpc.ts carries it).
import type { ModelDescription, ModelInfo, ModelOptions } from '../src/index.js';
import type { LegendEntry } from '../src/io/classes.js';

export type FeatureLevel = 'core' | 'compatibility';

/** The adapter the worker runs on, as the page shows it. */
export interface AdapterLine {
  /** vendor · architecture · description, or '' when the browser names none */
  name: string;
  featureLevel: FeatureLevel;
  /** a software rasterizer (SwiftShader, llvmpipe / lavapipe, or the browser's fallback adapter): slow */
  software: boolean;
  /** the adapter's optional features the engine uses: shader-f16, subgroups, timestamp-query */
  features: string[];
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number };
}

/** A loaded model, for the model panel: its model.info and what the page says about it. */
export interface ModelSummary extends ModelInfo {
  /** the file, or the folder ('runs/unet/'), it came from */
  name: string;
  /** how the files were read (web/modelFiles.ts), one line each */
  notes: string[];
  /** one class per pixel (src/io/classes.ts isMultiClass) */
  multiClass: boolean;
  /** how an image becomes the model's input, in words */
  preprocessingText: string;
  /** the class colours of a multi-class model (class 0 is the background) */
  classColors: { name: string; rgb: [number, number, number] }[];
  /** a random-weight test fixture of this project (its masks mean nothing) */
  randomWeights: boolean;
  /** whether the adapter can time each layer on the GPU (timestamp-query) */
  canProfile: boolean;
}

/** What one image size costs with the loaded model. */
export interface CostAt {
  width: number;
  height: number;
  /** of one forward at this size (counted on a 256² plan, scaled by the pixels) */
  gflop: number;
  /** GPU memory one pass at this size would take (activations, input, output, readback) */
  onePassBytes: number;
  /** why one pass does not fit, so it runs in windows; undefined when it fits */
  tiledBecause?: string;
}

export interface SegmentArgs {
  /** the image file, read and decoded in the worker */
  file: Blob;
  name: string;
  /** the page's key for the result (downloads and forget name it) */
  key: string;
  /** 'auto': one pass when it fits GPU_BUDGET_BYTES, else the largest windows that do; a number:
   *  always windows of that many pixels a side */
  tile: 'auto' | number;
}

/** The most GPU memory one forward may take (activations, input, output; the weights come on top):
 *  larger images run in windows, so a huge image neither exhausts the GPU nor runs minutes without a
 *  progress report or a chance to cancel. */
export const GPU_BUDGET_BYTES = 256 * 2 ** 20;

export type SegmentProgress =
  | { phase: 'decoding' }
  /** decoded: the image's preview, shown while it runs */
  | { phase: 'decoded'; preview: Preview }
  | { phase: 'running'; width: number; height: number; done: number; total: number };

/** An image at most PREVIEW_SIDE on a side, RGBA. */
export interface Preview {
  width: number;
  height: number;
  image: Uint8ClampedArray;
}

/** A result as the page shows it: previews at most PREVIEW_SIDE on a side; the full-size result stays
 *  in the worker for the downloads. */
export interface SegmentSummary {
  width: number;
  height: number;
  classes: number;
  /** 'classes': one class per pixel (multi-class); 'mask': a probability per output channel */
  kind: 'mask' | 'classes';
  /** model.segment's preview-size result: the image's RGBA, the probabilities [classes, height, width]
   *  and the mask (at 0.5) or class of each pixel */
  preview: Preview & { probabilities: Float32Array; mask: Uint8Array };
  /** multi-class: pixels of each class, at full size */
  legend?: LegendEntry[];
  /** what was done to the image's channels ('RGB converted to gray', ...) */
  notes: string[];
  decodeMs: number;
  runMs: number;
  /** the first run at this size also compiled the model for it */
  firstOfSize: boolean;
  tiling?: { roi: [number, number]; windows: number; batch: number; warning?: string };
}

export type DownloadKind = 'mask' | 'overlay' | 'probs';

export interface DownloadArgs {
  key: string;
  kind: DownloadKind;
  /** mask models: the threshold of the mask and overlay */
  threshold: number;
  opacity: number;
  /** the output channel (class) of a mask or probability map */
  channel: number;
}

export interface LayerTimes {
  method: string;
  width: number;
  height: number;
  layers: { label: string; detail: string; ms: number; gflop: number }[];
}

/** Previews are made by nearest sampling down to this many pixels on the long side. */
export const PREVIEW_SIDE = 1024;

// --- nnU-Net volumes -----------------------------------------------------------------------------------

/** A dropped nnU-Net model: the files of a results folder (paths inside it), or the exported zip. */
export type NnunetRequest = { source: string; files: { path: string; blob: Blob }[] } | { source: string; zip: Blob };

/** A label of the loaded nnU-Net model, as the legend shows it. */
export interface VolumeLabel {
  /** the value in the label map (a region model: the value regions_class_order writes) */
  value: number;
  /** dataset.json's name */
  name: string;
  rgb: [number, number, number];
}

/** A loaded nnU-Net model, for the page. */
export interface NnunetSummary {
  /** the folder or zip */
  name: string;
  /** 'nnU-Net PlainConvUNet' ... */
  title: string;
  configuration: string;
  /** dataset.json's channel names, in channel order */
  channels: string[];
  /** background first */
  labels: VolumeLabel[];
  regions: boolean;
  patchSize: number[];
  /** the configuration's spacing (transposed axes) */
  spacing: number[];
  folds: string[];
  mirroringAxes: number[] | null;
  parameters: number;
  notes: string[];
}

export interface CaseArgs {
  /** the page's key for the result */
  key: string;
  /** the case id: CASE of CASE_0000.nii.gz, and the download's name */
  name: string;
  /** one NIfTI per channel, in channel order */
  files: { name: string; blob: Blob }[];
  /** nnUNetv2_predict -step_size */
  stepSize: number;
  /** test-time mirroring (--disable_tta turns it off) */
  mirroring: boolean;
}

/** What the viewer draws: the first channel as gray levels. */
export interface CaseImage {
  /** [nx, ny, nz], x fastest */
  dims: [number, number, number];
  /** voxel sizes along x, y, z */
  spacing: [number, number, number];
  gray: Uint8Array;
}

export type CaseProgress = { phase: 'reading' } | { phase: 'read'; image: CaseImage } | { phase: 'running'; done: number; total: number };

export interface CaseSummary {
  /** the label map, x fastest (the NIfTI's order) */
  labels: Uint8Array | Uint16Array;
  /** [Z, Y, X] */
  shape: number[];
  /** voxels of each label value in the model's legend order */
  counts: { value: number; voxels: number }[];
  timings: { readMs: number; preprocessMs: number; windowsMs: number; exportMs: number };
  windows: { batches: number; batchSize: number; mirrorAxes: number[] };
  runMs: number;
}

// --- the model playground (web/playground.ts <-> web/playgroundWorker.ts) -------------------------------

/** One value of a form field, and why it cannot be chosen with the other fields' values (src/playground.ts modelOptionChoices). */
export interface OptionChoice {
  value: unknown;
  allowed: boolean;
  why?: string;
}

/** What the page shows for the form's options at one input size (pgDescribe): nothing runs on the GPU. */
export interface PlaygroundView {
  choices: { [K in keyof ModelOptions]?: OptionChoice[] };
  /** the combination's problems, [] when it can be built */
  problems: { field: keyof ModelOptions | 'size'; message: string }[];
  /** undefined while there are problems */
  description?: ModelDescription;
  /** smp's config.json for these options (undefined while there are problems, and for the brain U-Net: not an smp model) */
  config?: Record<string, unknown>;
}

/** Where a playground model's weights come from. The file is read, and the URL fetched, by the worker
 *  when the model is built (never before: nothing is downloaded unasked). */
export type PlaygroundWeights =
  | { kind: 'random'; seed: number }
  | { kind: 'file'; seed: number; name: string; blob: Blob }
  | { kind: 'url'; seed: number; url: string };

/** A playground model the worker built (and keeps until the options or weights change). */
export interface PlaygroundBuilt {
  /** the options and weights it was built from (web/playground.ts configKey) */
  key: string;
  title: string;
  parameters: number;
  buffers: number;
  weightBytes: number;
  /** where the encoder's weights came from: 'random (seed 0)' or the file / URL */
  weights: string;
  buildMs: number;
}

/** One size of a measurement: the median of `runs` timed runs after one untimed (compiling) run, or why it was not run. */
export interface SizeTime {
  size: number;
  ms?: number;
  runs?: number[];
  skipped?: string;
}

export interface PlaygroundTimes {
  key: string;
  built: PlaygroundBuilt;
  sizes: SizeTime[];
  /** per-layer GPU times at the smallest measured size, where the adapter has timestamp queries */
  layers?: LayerTimes;
  /** why there are no per-layer times */
  layersNote?: string;
}

export type MeasureProgress = { phase: 'building' } | { phase: 'compiling'; size: number } | { phase: 'running'; size: number; run: number; ms: number };
