// model.segment(volume) for nnU-Net models: a case read as nnUNetv2_predict reads it (NibabelIO: one 3-D NIfTI
// per channel, x, y, z transposed to z, y, x and the spacing reversed; channels must agree in shape, spacing
// and affine), predicted by src/nnunet/predictor.ts with the model's configuration, and the labels written
// back as nnU-Net writes them (the first channel's affine and header, uint8 below 255 labels). PNG files (a 2D
// natural-image dataset, file_ending .png) are read as NaturalImage2DIO reads them instead (src/nnunet/
// naturalImage.ts: gray one channel, RGB(A) three (four), [C, 1, Y, X], spacing 999 x 1 x 1) and the labels
// written back as its gray PNG (png()). Browser-safe: paths are read through the platform (Node only).
import { nnunetSettings, type NnunetModelConfig } from './arch/nnunet/index.js';
import type { NnunetConfig } from './arch/nnunet/plans.js';
import { InputError, UnsupportedError, checkOptionNames, throwIfAborted } from './errors.js';
import { platform } from './gpu/platform.js';
import { NiftiError, niftiGeometry, niftiSpacing, niftiVolume, readNifti, type Volume, writeNifti } from './io/nifti.js';
import { type Limits, resolveLimits, shownValue } from './limits.js';
import type { Model } from './model.js';
import { decodeNaturalPng, encodeSegmentationPng, isPng, type NaturalImage, stackNaturalImages } from './nnunet/naturalImage.js';
import { type NnunetPredictOptions, type NnunetPrediction, type NnunetRunner, predictNnunetCase } from './nnunet/predictor.js';

/** One channel file: .nii / .nii.gz bytes, or a path (Node); for a 2D natural-image model, .png bytes or a
 *  path (one gray channel, or an RGB(A) image holding three (four)). */
export type NiftiSource = Uint8Array | ArrayBuffer | string;

/** A case given as arrays, in nnU-Net's order. */
export interface NnunetVolume {
  /** [C, Z, Y, X] float32 (x fastest, as a NIfTI's voxels are) */
  data: Float32Array;
  shape: readonly number[];
  /** voxel sizes in the same order (z, y, x) */
  spacing: readonly number[];
  /** the 4 x 4 voxel (x, y, z) to world matrix that nifti() writes; default diagonal of the spacing */
  affine?: readonly (readonly number[])[];
}

/** A NIfTI (one channel), one per channel in channel order, or arrays. */
export type NnunetVolumeSource = NiftiSource | readonly NiftiSource[] | NnunetVolume;

/** What model.segment takes for an nnU-Net model: the predictor's options, checked here. */
export type NnunetSegmentOptions = NnunetPredictOptions;

const OPTIONS: readonly (keyof NnunetSegmentOptions)[] = ['stepSize', 'mirroring', 'probabilities', 'batchSize', 'onProgress', 'signal', 'limits'];

export interface NnunetSegmentResult {
  /** [Z, Y, X] label values (dataset.json's), x fastest */
  labels: Uint8Array | Uint16Array;
  shape: number[];
  /** [K, Z, Y, X] float32 when asked for: per label (softmax) or per region (sigmoid) */
  probabilities?: Float32Array;
  /** dataset.json's label names, by label value (a region model: by region, in dataset.json order) */
  classes: string[];
  /** the case's voxel sizes (z, y, x) */
  spacing: number[];
  /** the labels as the <case>.nii.gz nnUNetv2_predict writes (the input's header and affine) */
  nifti(): Uint8Array;
  /** a case read from PNG files: the labels as the <case>.png nnUNetv2_predict writes (NaturalImage2DIO: gray,
   *  8-bit below 255) */
  png?(): Uint8Array;
  timings: NnunetPrediction['timings'] & { readMs: number };
  windows: NnunetPrediction['windows'];
}

/** The model's nnU-Net configuration and mirroring axes (model.info.nnunet, set by the nnunet plug-in). */
export function nnunetOfModel(model: Pick<Model, 'info'>): { config: NnunetConfig; mirroringAxes: number[] | null } {
  if (model.info.family !== 'nnunet' || model.info.nnunet === undefined)
    throw new UnsupportedError(`${model.info.title}: not an nnU-Net model (segment a volume with an nnU-Net results folder)`);
  const c = model.info.nnunet as unknown as NnunetModelConfig;
  return { config: nnunetSettings({ nnunet: c }, model.info.source), mirroringAxes: c.mirroringAxes ?? null };
}

/** The runner the predictor takes: the model's plan at the patch size for a batch of windows. */
export function nnunetRunner(model: Model): NnunetRunner {
  const { config, mirroringAxes } = nnunetOfModel(model);
  const shape = (b: number) => [b, config.channelNames.length, ...config.patchSize];
  return {
    device: model.device,
    config,
    mirroringAxes,
    plan: (b) => model.plan(shape(b)),
    estimate: (b) => model.estimate(shape(b)),
  };
}

const names = (config: NnunetConfig): string[] => {
  if (config.regions) {
    // a region's name is its dataset.json key
    const byRegion = Object.entries(config.labels).filter(([, v]) => Array.isArray(v) || v !== 0);
    return byRegion.map(([k]) => k);
  }
  const out: string[] = [];
  for (const [k, v] of Object.entries(config.labels)) if (typeof v === 'number' && v !== config.ignoreLabel) out[v] = k;
  return Array.from(out, (n, i) => n ?? String(i));
};

const bytesOf = (b: Uint8Array | ArrayBuffer) => (b instanceof Uint8Array ? b : new Uint8Array(b));

/** A channel file's bytes (a path read within maxInputBytes). */
async function sourceBytes(src: NiftiSource, what: string, limits: Limits): Promise<Uint8Array> {
  if (typeof src === 'string') {
    const read = platform().readFile;
    if (!read) throw new InputError(`${what}: a path needs Node; give the file's bytes`);
    return read(src, limits.maxInputBytes, 'maxInputBytes');
  }
  if (src instanceof Uint8Array || src instanceof ArrayBuffer) return bytesOf(src);
  throw new InputError(`${what}: expected NIfTI or PNG bytes or a path, found ${shownValue(src)}`);
}

/** One channel file as a 3-D volume, or a PNG as NaturalImage2DIO reads it; a 4-D NIfTI is refused in words
 *  about channels. */
async function readChannel(src: NiftiSource, what: string, limits: Limits): Promise<Volume | NaturalImage> {
  const bytes = await sourceBytes(src, what, limits);
  if (isPng(bytes)) return decodeNaturalPng(bytes, what, limits);
  try {
    return readNifti(bytes, { limits });
  } catch (e) {
    if (e instanceof NiftiError) {
      const fourD = /^is (\d)-D \(([^)]*)\)/.exec(e.message);
      const msg = fourD
        ? `${what}: is ${fourD[1]}-D (${fourD[2]}); nnU-Net takes one 3-D file per channel (CASE_0000.nii.gz, CASE_0001.nii.gz, ...)`
        : `${what}: ${e.message}`;
      throw new NiftiError(msg);
    }
    throw e;
  }
}

/**
 * NibabelIO.read_images: channel volumes to [C, Z, Y, X] with the spacing reversed, the first channel's
 * header kept for writing. Channels that disagree in shape, spacing or affine are refused, naming them.
 */
export function stackChannels(vols: readonly Volume[], names: readonly string[]): { data: Float32Array; shape: number[]; spacing: number[]; like: Volume } {
  const [first] = vols;
  for (let i = 1; i < vols.length; i++) {
    const v = vols[i];
    if (v.dims.join() !== first.dims.join())
      throw new InputError(`${names[i]}: ${v.dims.join(' x ')} voxels, ${names[0]} has ${first.dims.join(' x ')}: a case's channels must share one grid`);
    if (niftiSpacing(v).join() !== niftiSpacing(first).join())
      throw new InputError(
        `${names[i]}: spacing ${niftiSpacing(v).join(' x ')}, ${names[0]} has ${niftiSpacing(first).join(' x ')}: a case's channels must share one grid`,
      );
    if (niftiGeometry(v) !== niftiGeometry(first))
      throw new InputError(`${names[i]}: its affine (qform / sform) differs from ${names[0]}'s: a case's channels must share one grid`);
  }
  const n = first.data.length;
  const data = new Float32Array(vols.length * n);
  // a NIfTI's voxels are x fastest: the same memory as nnU-Net's transposed [z, y, x] array
  for (const [c, v] of vols.entries()) data.set(v.data, c * n);
  const [nx, ny, nz] = first.dims;
  return { data, shape: [vols.length, nz, ny, nx], spacing: [...niftiSpacing(first)].reverse(), like: first };
}

const isImage = (v: Volume | NaturalImage): v is NaturalImage => !('dims' in v);

/** NIfTI channels (NibabelIO) or PNG images (NaturalImage2DIO), not a mix. */
function stackFiles(files: readonly (Volume | NaturalImage)[], names: readonly string[]): CaseArrays {
  const images = files.filter(isImage);
  if (images.length === 0) return stackChannels(files as Volume[], names);
  if (images.length !== files.length)
    throw new InputError(`${names[files.findIndex((f) => !isImage(f))]}: a NIfTI among PNG images; a case's files must be of one kind`);
  const c = stackNaturalImages(images, names);
  const [, , Y, X] = c.shape;
  // nifti() still works: one slice, spacing (x, y, z) 1, 1, 999
  return { ...c, like: niftiVolume([X, Y, 1], [1, 1, 999]), image: true };
}

interface CaseArrays {
  data: Float32Array;
  shape: number[];
  spacing: number[];
  like: Volume;
  /** read from PNG files (NaturalImage2DIO) */
  image?: boolean;
}

/** The case, its spacing, and the volume whose header the output copies. */
async function readCase(volume: NnunetVolumeSource, limits: Limits): Promise<CaseArrays> {
  if (typeof volume === 'string' || volume instanceof Uint8Array || volume instanceof ArrayBuffer) {
    const v = await readChannel(volume, typeof volume === 'string' ? volume : 'volume', limits);
    return stackFiles([v], [typeof volume === 'string' ? volume : 'volume']);
  }
  if (Array.isArray(volume)) {
    if (volume.length === 0) throw new InputError('volume: an empty list of channel files');
    const what = (i: number) => (typeof volume[i] === 'string' ? (volume[i] as string) : `channel ${i}`);
    const vols: (Volume | NaturalImage)[] = [];
    for (let i = 0; i < volume.length; i++) vols.push(await readChannel(volume[i], what(i), limits));
    return stackFiles(
      vols,
      volume.map((_, i) => what(i)),
    );
  }
  if (typeof volume !== 'object' || volume === null)
    throw new InputError(`volume: expected NIfTI bytes, a path, a list of them, or { data, shape, spacing }, found ${shownValue(volume)}`);
  const v = volume as NnunetVolume;
  checkOptionNames(v, ['data', 'shape', 'spacing', 'affine'], 'volume');
  if (!Array.isArray(v.shape) || v.shape.length !== 4) throw new InputError(`volume: shape ${shownValue(v.shape)} must be [C, Z, Y, X]`);
  if (!Array.isArray(v.spacing) || v.spacing.length !== 3) throw new InputError(`volume: spacing ${shownValue(v.spacing)} must be [z, y, x]`);
  if (
    v.affine !== undefined &&
    !(Array.isArray(v.affine) && v.affine.length >= 3 && v.affine.every((r) => Array.isArray(r) && r.length === 4 && r.every(Number.isFinite)))
  )
    throw new InputError('volume: affine must be a 4 x 4 matrix (rows of 4 finite numbers)');
  const [, nz, ny, nx] = v.shape;
  const like = niftiVolume([nx, ny, nz], [...v.spacing].reverse(), v.affine);
  return { data: v.data, shape: [...v.shape], spacing: [...v.spacing], like };
}

/** model.segment for an nnU-Net model (see NnunetSegmentOptions and NnunetSegmentResult). */
export async function segmentNnunet(model: Model, volume: NnunetVolumeSource, options: NnunetSegmentOptions = {}): Promise<NnunetSegmentResult> {
  checkOptionNames(options, OPTIONS, 'segment');
  for (const k of ['mirroring', 'probabilities'] as const)
    if (options[k] !== undefined && typeof options[k] !== 'boolean')
      throw new InputError(`segment: ${k} must be true or false, found ${shownValue(options[k])}`);
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function')
    throw new InputError(`segment: onProgress must be a function, found ${shownValue(options.onProgress)}`);
  const runner = nnunetRunner(model);
  const limits = resolveLimits(options.limits);
  throwIfAborted(options.signal, 'segment');
  const t0 = performance.now();
  const c = await readCase(volume, limits);
  const readMs = performance.now() - t0;
  const want = runner.config.channelNames.length;
  if (c.image && c.shape[0] !== want)
    // NaturalImage2DIO: a gray PNG is one channel, an RGB one three, an RGBA one four
    throw new InputError(
      `volume: the PNG files hold ${c.shape[0]} channel${c.shape[0] === 1 ? '' : 's'}, the model takes ${want} (${runner.config.channelNames.join(', ')}): a gray PNG is 1 channel, RGB 3, RGBA 4`,
    );
  const p = await model.exclusive(() => predictNnunetCase(runner, c, options), options.signal);
  const like = c.like;
  const [Z, Y, X] = p.shape;
  // nnU-Net writes uint8 when every label is below 255 (np.max(seg) < 255), else uint16
  let max = 0;
  for (const v of p.labels) if (v > max) max = v;
  const labels = max < 255 && p.labels instanceof Uint16Array ? Uint8Array.from(p.labels) : p.labels;
  return {
    labels,
    shape: p.shape,
    ...(p.probabilities ? { probabilities: p.probabilities } : {}),
    classes: names(runner.config),
    spacing: c.spacing,
    // labels: no display range (cal_max 0), as nibabel writes nnU-Net's segmentations
    nifti: () => writeNifti({ ...like, dims: [X, Y, Z] }, labels, true, 0),
    ...(c.image ? { png: () => encodeSegmentationPng(labels, Y, X) } : {}),
    timings: { readMs, ...p.timings },
    windows: p.windows,
  };
}
