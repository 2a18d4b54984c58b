// `unet segment`: PNG / JPEG images and NIfTI volumes in, masks out. Each input is read, normalized,
// run through the U-Net (any size: the model pads and crops), thresholded, and its outputs written
// as a set (all or nothing, never over a file this run did not create unless --overwrite); a failing
// input is reported on one line and the others still run (exit 1 at the end).
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { OutputActivation } from '../arch/types.js';
import { describeDevice, getDevice, releaseGpu, type Model, type RunOptions } from '../node.js';
import { MAX_CLASSES, isForeground, argmaxLabels, classColors, classOverlay, classProbabilities, isMultiClass, legend, maskProbabilities, type LegendEntry } from '../io/classes.js';
import { decodeImage, sniff, type Image } from '../io/image.js';
import { encodePalettePng, encodePng } from '../io/png.js';
import { NiftiError, forEachSliceVoxel, readNifti, sliceGeometry, writeNifti, type Axis } from '../io/nifti.js';
import { channelPlanes, normalize, parseNormalization, type Normalization } from '../io/preprocess.js';
import { overlay, probs16, thresholdMask } from '../io/render.js';
import { checkPadMode, type PadMode } from '../kernels/layout.js';
import { printable, resolveLimits, type Limits } from '../limits.js';
import { InputError } from '../errors.js';
import { parseCommandLine, required } from './args.js';
import { CliError, UsageError, cliText } from './errors.js';
import { makeOutputDir, readInputFile, sameFile, statOrUndefined } from './files.js';
import { ACTIVATION_HELP, weightsHelp, modelFiles, openModel, parseActivation, readWeightsArg } from './model.js';
import { LIMITS_USAGE, LIMIT_OPTIONS, limitsFromArgs } from './limits.js';
import { nonFiniteMessage, nonFiniteOutputs, weightsNonFinite, writeOutputSet, type NonFinite } from './outputs.js';
import { Progress } from './progress.js';

export const SEGMENT_USAGE = `Usage: unet segment IMAGES_OR_FOLDERS... --weights W --out-dir DIR [options]

Segments PNG and JPEG images (gray or RGB; an alpha channel is ignored, noted per image) and NIfTI
volumes (.nii, .nii.gz; slice by slice) of any size. A folder stands for the .png, .jpg, .jpeg, .nii
and .nii.gz files in it, except hidden ones (named .*: counted in a note; name one to segment it).

Mask models (one output channel, or sigmoid / tanh outputs): for an image NAME.png it writes to DIR
  NAME_mask.png      the mask (0 / 255; probability > --threshold); NAME_mask_c<k>.png per output
                     channel when the model has several
  NAME_overlay.png   the masks tinted and outlined over the image
  NAME_probs.png     with --probs: the probability as 16-bit gray (0..65535); NAME_probs_c<k>.png
and for a volume NAME.nii[.gz]: NAME_mask.nii[.gz] (uint8 0 / 1, the input's header and affine),
with --probs NAME_probs.nii[.gz] (float32). The probability is the sigmoid output as it is, (y + 1) / 2
for tanh (so 0.5 is y > 0), the sigmoid of the logit for an identity output.

Multi-class models (several classes under softmax, logsoftmax or identity, i.e. logits): each pixel
gets the class with the largest output, and it writes
  NAME_labels.png    the class of each pixel as an indexed-colour PNG: the pixel values are the class
                     indices, the palette the class colours (class 0, the background, black)
  NAME_overlay.png   each class but 0 tinted and outlined in its colour over the image
  NAME_probs_c<k>.png  with --probs: class k's probability (16-bit; exp of a log-softmax, softmax of
                     logits)
and for a volume NAME_labels.nii[.gz] (uint8 class index), with --probs NAME_probs_c<k>.nii[.gz].
The summary lists the pixels of each class with its colour.

Options:
  --weights PATH        ${weightsHelp()}
                        (unet convert makes one from a .pt checkpoint)
  --out-dir DIR         where the outputs go (created if missing)
  --threshold T         mask models: threshold on the probability (default 0.5)
  --normalize MODE      model (default: what the model was trained with, see unet info --weights:
                        zscore for the brain U-Net, imagenet for smp encoders), zscore (per image
                        and channel (v - mean) / std of the 0..255 values), none (v / 255),
                        imagenet (v / 255, then ImageNet's mean and std per channel), or MEAN,STD
                        ((v - MEAN) / STD on 0..255). Volumes: zscore per slice of the raw values;
                        the other modes first scale the volume's min..max to 0..255
  --gray                convert RGB images to gray for a 1-channel model (refused for other models;
                        gray images are repeated into 3 channels for a 3-channel model unasked)
  --axis AXIS           volumes: slice along axial (default, the third axis), coronal (second),
                        sagittal (first), or 0, 1, 2
  --activation F        ${ACTIVATION_HELP}
  --pad MODE            padding to multiples of 16: reflect (default) or zero
  --tile SPEC           sliding windows for images too large for one pass: auto (default: only
                        when the image does not fit the GPU's limits or --gpu-budget), off, or a
                        window size N (always tile, N x N windows)
  --tile-overlap F      overlap of neighbouring windows, 0 <= F < 1 (default 0.25)
  --tile-blend MODE     gaussian (default) or constant weighting of overlapping windows
  --gpu-budget MIB      most MiB of GPU memory one forward may take (activations and I/O buffers;
                        larger images are tiled to fit)
  --probs               also write the probabilities
  --overwrite           replace existing files of the same names (without it, an input whose
                        outputs exist fails with an error, and nothing is replaced)
  --strict              an output holding NaN / Inf although the input is finite is an error for
                        that input (by default a warning)
  --max-class-files N   most files one input may get one per output channel (masks, --probs;
                        default 256): a model with more channels is refused before it runs
  --json                one JSON object on stdout instead of the text summary
  -h, --help            show this help

${LIMITS_USAGE}
Outputs are written as a set per input: to temporary files, renamed into place only when all of them
were written. Inputs are never written over; in a folder that is also --out-dir, files named like the
outputs of another input there (NAME_mask*, NAME_overlay, NAME_probs*) are skipped, not segmented.
A failure (a full disk, say) or SIGINT / SIGTERM while a set is written removes its temporary files
and the files of the set already in place. A progress bar goes to stderr on a terminal. Inputs that
fail are reported as "unet: FILE: problem" and the rest still run; the exit code is then 1 ("unet: 2
of 9 inputs failed"). Environment: UNET_WRITE_PAUSE_MS=N waits N ms after each temporary file (to
test an interrupted write).
`;

const OPTIONS = {
  weights: { type: 'string' },
  'out-dir': { type: 'string' },
  threshold: { type: 'string', default: '0.5' },
  normalize: { type: 'string', default: 'model' },
  gray: { type: 'boolean' },
  axis: { type: 'string', default: 'axial' },
  activation: { type: 'string' },
  pad: { type: 'string', default: 'reflect' },
  tile: { type: 'string', default: 'auto' },
  'tile-overlap': { type: 'string', default: '0.25' },
  'tile-blend': { type: 'string', default: 'gaussian' },
  'gpu-budget': { type: 'string' },
  probs: { type: 'boolean' },
  overwrite: { type: 'boolean' },
  strict: { type: 'boolean' },
  'max-class-files': { type: 'string', default: '256' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  ...LIMIT_OPTIONS,
} as const;

// a Map: `--axis constructor` must find nothing, not Object's own property
const AXES = new Map<string, Axis>([['axial', 2], ['coronal', 1], ['sagittal', 0], ['0', 0], ['1', 1], ['2', 2]]);
const INPUT_EXT = /\.(png|jpe?g|nii|nii\.gz)$/i;

export interface Settings {
  threshold: number;
  norm: Normalization;
  /** the model's output activation, and whether its channels are exclusive classes */
  activation: OutputActivation;
  multiClass: boolean;
  /** the weights hold NaN or Inf (the cause given for non-finite outputs) */
  nanWeights?: boolean;
  gray: boolean;
  axis: Axis;
  pad: PadMode;
  tile: RunOptions['tile'];
  probs: boolean;
  outDir: string;
  overwrite: boolean;
  strict: boolean;
  limits: Limits;
  /** every input of this run and the weights: never written over */
  protectedFiles: string[];
}

interface Done {
  input: string;
  kind: string;
  size: number[];
  outputs: string[];
  /** fraction of pixels / voxels in each output channel's mask (multi-class: labelled with each class) */
  foreground: number[];
  /** multi-class models: pixels / voxels of each class, with its colour */
  classes?: LegendEntry[];
  ms: number;
  notes: string[];
  /** outputs that are NaN / Inf although the input is finite */
  nonFinite?: NonFinite;
}

export async function segment(args: string[]): Promise<number> {
  const { values: v, positionals } = parseCommandLine('segment', args, OPTIONS);
  if (v.help) {
    process.stdout.write(SEGMENT_USAGE);
    return 0;
  }
  const weights = required('segment', 'weights', v.weights);
  const outDir = required('segment', 'out-dir', v['out-dir']);
  const threshold = Number(v.threshold);
  if (!/^\s*[\d.]+\s*$/.test(v.threshold ?? '') || !(threshold >= 0 && threshold <= 1)) {
    throw new UsageError(`segment: --threshold must be a number from 0 to 1, found ${JSON.stringify(v.threshold)}`);
  }
  const norm = v.normalize === 'model' ? undefined : parseNormalization(v.normalize ?? '');
  if (!norm && v.normalize !== 'model') throw new UsageError(`segment: --normalize must be model, zscore, none, imagenet or MEAN,STD (STD > 0), found ${JSON.stringify(v.normalize)}`);
  const axis = AXES.get((v.axis ?? '').toLowerCase());
  if (axis === undefined) throw new UsageError(`segment: --axis must be axial, coronal, sagittal, 0, 1 or 2, found ${JSON.stringify(v.axis)}`);
  const activation = parseActivation('segment', v.activation);
  let pad: PadMode;
  try {
    pad = checkPadMode(v.pad, '--pad');
  } catch (e) {
    throw new UsageError(`segment: ${(e as Error).message}`);
  }
  if (positionals.length === 0) throw new UsageError('segment: no input images or folders given (see unet segment --help)');
  const tile = tileOption(v.tile ?? 'auto', v['tile-overlap'] ?? '0.25', v['tile-blend'] ?? 'gaussian', v['gpu-budget']);
  const limits = resolveLimits(limitsFromArgs('segment', v));
  const maxClassFiles = v['max-class-files'] ?? '256';
  if (!/^\d+$/.test(maxClassFiles)) throw new UsageError(`segment: --max-class-files must be a whole number >= 0, found ${JSON.stringify(maxClassFiles)}`);

  if (statOrUndefined(outDir)?.isFile()) throw new CliError(`${printable(outDir)}: --out-dir is a file, expected a directory`);
  const { inputs, failures, skipped, hidden } = expandInputs(positionals, outDir);
  const base = {
    threshold, gray: Boolean(v.gray), axis, pad, tile, probs: Boolean(v.probs), outDir,
    overwrite: Boolean(v.overwrite), strict: Boolean(v.strict), limits, protectedFiles: [...inputs.map((i) => i.path), ...modelFiles(weights)],
  };
  makeOutputDir(outDir, '--out-dir');
  const modelArg = await readWeightsArg(weights, limits);

  const total = inputs.length + failures.length;
  const progress = new Progress(inputs.length);
  if (skipped.length) {
    const names = skipped.slice(0, 3).map((f) => printable(basename(f))).join(', ');
    progress.print(`unet: note: skipped ${skipped.length} file${skipped.length === 1 ? '' : 's'} in --out-dir named like the outputs of another input (${names}${skipped.length > 3 ? ', ...' : ''})`);
  }
  if (hidden.length) {
    const names = hidden.slice(0, 3).map((f) => printable(basename(f))).join(', ');
    progress.print(
      `unet: note: skipped ${hidden.length} hidden file${hidden.length === 1 ? '' : 's'} (named .*) in the input folders (${names}${hidden.length > 3 ? ', ...' : ''}): ` +
        'name a file as an argument to segment it',
    );
  }
  for (const f of failures) progress.print(`unet: ${printable(f.input)}: ${cliText(f.error)}`);
  const done: Done[] = [];
  let device: GPUDevice | undefined;
  let model: Model | undefined;
  const t0 = performance.now();
  try {
    device = await getDevice();
    model = await openModel(device, modelArg, { activation }, (line) => progress.print(line));
    const multiClass = isMultiClass(model.info);
    const settings: Settings = { ...base, norm: norm ?? model.info.preprocessing, activation: model.info.activation, multiClass, nanWeights: weightsNonFinite(model.info.warnings) };
    checkModelFits(model, modelArg.name, settings, Number(maxClassFiles));
    for (const [i, input] of inputs.entries()) {
      const label = printable(basename(input.path));
      progress.update(i, label);
      const start = performance.now();
      try {
        const r = await segmentOne(model, input.path, input.name, settings, (f) => progress.update(i + f, label));
        if (r.nonFinite) progress.print(`unet: warning: ${nonFiniteMessage(printable(input.path), r.nonFinite, settings.nanWeights)}`);
        done.push({ ...r, input: input.path, ms: performance.now() - start });
      } catch (e) {
        if (!(e instanceof CliError)) throw e; // a bug or a GPU failure: not the input's fault
        const prefix = `${printable(input.path)}: `;
        failures.push({ input: input.path, error: e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message });
        progress.print(`unet: ${cliText(e.message)}`);
      }
    }
    progress.update(inputs.length, 'done');
    progress.clear();
    const alpha = done.filter((d) => d.notes.includes(ALPHA_NOTE)).length;
    if (alpha) process.stderr.write(`unet: note: ${alpha} of the images ${alpha === 1 ? 'has' : 'have'} an alpha channel; it was ${ALPHA_NOTE.replace(/^alpha channel /, '')}\n`);
    const seconds = (performance.now() - t0) / 1000;
    const skips = [
      ...skipped.map((input) => ({ input, reason: 'named like the outputs of another input in --out-dir' })),
      ...hidden.map((input) => ({ input, reason: 'hidden file in an input folder' })),
    ];
    report(v.json === true, { weights, model, adapter: adapterName(device), done, failures, skipped: skips, seconds, settings });
  } finally {
    model?.dispose();
    device?.destroy();
    releaseGpu();
  }
  if (failures.length) {
    process.stderr.write(`unet: ${failures.length} of ${total} inputs failed\n`);
    return 1;
  }
  return 0;
}

/**
 * What the model's output needs, checked once it is loaded and before any input runs: a label map holds
 * at most MAX_CLASSES classes; the files written one per output channel stay within --max-class-files
 * (a 25,000-channel model read as masks would write 25,000 files an image); --gray is for 1-channel models.
 */
function checkModelFits(model: Model, name: string, s: Settings, maxClassFiles: number): void {
  const { classes, outChannels: C, inChannels, activation } = model.info;
  if (s.gray && inChannels !== 1) {
    throw new UsageError(`segment: --gray converts RGB images for 1-channel models, and ${name} takes ${inChannels} channels (RGB images go in as they are${inChannels === 3 ? ', gray ones repeated into 3 channels' : ''}): drop --gray`);
  }
  if (s.multiClass && classes > MAX_CLASSES) throw new CliError(`${name}: ${classes} classes: unet segment writes class maps of at most ${MAX_CLASSES}`);
  const files = s.multiClass ? (s.probs ? C : 0) : s.probs ? 2 * C : C;
  if (files > maxClassFiles) {
    const what = s.multiClass ? `${C} classes with --probs make ${files} probability files` : `${C} output channels read as masks (${activation}) make ${files} files (a mask${s.probs ? ' and a probability' : ''} each)`;
    const remedy = s.multiClass || s.probs ? 'drop --probs or raise --max-class-files' : 'raise --max-class-files';
    throw new CliError(`${name}: ${what} per input, more than --max-class-files ${maxClassFiles}: ${remedy}`);
  }
}

interface Input {
  path: string;
  /** output file stem */
  name: string;
}

/** Output names look like `${stem}${OUTPUT_SUFFIX}.ext`. */
const OUTPUT_SUFFIX = /_(mask|probs)(_c\d+)?$|_overlay$|_labels$/;
const stemOf = (path: string) => basename(path).replace(/\.nii\.gz$/i, '').replace(/\.[^.]*$/, '');

/**
 * Files as given, folders as their image / volume files (sorted); each output stem used once. In a
 * folder that is also the output folder, a file named like the outputs of another input there
 * (`cell_mask.png` beside `cell.png`) is skipped: it is a mask of an earlier run, not an image to segment.
 * Hidden files in a folder (names starting with '.') are skipped and listed in `hidden`; named as
 * arguments, they are inputs like any other.
 */
function expandInputs(args: string[], outDir: string): { inputs: Input[]; failures: { input: string; error: string }[]; skipped: string[]; hidden: string[] } {
  const inputs: Input[] = [];
  const failures: { input: string; error: string }[] = [];
  const skipped: string[] = [];
  const hidden: string[] = [];
  const stems = new Map<string, string>();
  const add = (path: string) => {
    const name = stemOf(path);
    const other = stems.get(name);
    if (other !== undefined) failures.push({ input: path, error: `skipped: its outputs (${printable(name)}_mask...) would overwrite those of ${printable(other)}` });
    else {
      stems.set(name, path);
      inputs.push({ path, name });
    }
  };
  for (const arg of args) {
    const s = statOrUndefined(arg);
    if (!s) failures.push({ input: arg, error: 'cannot read (ENOENT)' });
    else if (s.isDirectory()) {
      let names: string[];
      try {
        names = readdirSync(arg).filter((n) => INPUT_EXT.test(n)).sort();
      } catch (e) {
        failures.push({ input: arg, error: `cannot read the folder (${(e as NodeJS.ErrnoException).code ?? e})` });
        continue;
      }
      // hidden files (macOS's ._NAME.png resource forks, editors' backups) are not inputs; they are counted
      const dot = names.filter((n) => n.startsWith('.'));
      hidden.push(...dot.map((n) => join(arg, n)));
      names = names.filter((n) => !n.startsWith('.'));
      if (names.length === 0) {
        const also = dot.length ? ` (${dot.length} hidden file${dot.length === 1 ? '' : 's'}, named .*, skipped)` : '';
        failures.push({ input: arg, error: `no .png, .jpg, .jpeg, .nii or .nii.gz files in this folder${also}` });
      }
      const isOutDir = sameFile(arg, outDir);
      const folderStems = new Set(names.map(stemOf));
      for (const n of names) {
        const stem = stemOf(n);
        const base = stem.replace(OUTPUT_SUFFIX, '');
        if (isOutDir && base !== stem && folderStems.has(base)) skipped.push(join(arg, n));
        else add(join(arg, n));
      }
    } else add(arg);
  }
  return { inputs, failures, skipped, hidden };
}

type Segmented = Omit<Done, 'input' | 'ms'>;

export async function segmentOne(model: Model, path: string, name: string, s: Settings, progress: (fraction: number) => void): Promise<Segmented> {
  const fail = (problem: string): never => {
    throw new CliError(`${printable(path)}: ${problem}`);
  };
  const bytes = readInputFile(path, 'maxInputBytes', s.limits);
  const kind = sniff(bytes);
  try {
    if (kind === 'nifti' || kind === 'nifti-gz') {
      const ext = kind === 'nifti-gz' ? '.nii.gz' : '.nii';
      checkOutputs(outputNames(name, ext, model.info.outChannels, s, false), s, fail);
      return await segmentVolume(model, bytes, name, kind === 'nifti-gz', s, progress, path);
    }
    if (kind !== 'png' && kind !== 'jpeg') {
      return fail(bytes.length === 0 ? 'empty file' : 'unsupported format (PNG, JPEG, NIfTI .nii / .nii.gz are read)');
    }
    checkOutputs(outputNames(name, '.png', model.info.outChannels, s, true), s, fail);
    const r = await segmentImage(model, decodeImage(bytes, { limits: s.limits }), kind, name, s, progress, path);
    if (kind === 'png' && pngHasAlpha(bytes)) r.notes.unshift(ALPHA_NOTE);
    return r;
  } catch (e) {
    // the input's fault (unreadable, too large, wrong channels, NaN values, no window fits), not the run's:
    // ImageError, NiftiError, ChannelError, LimitError and model.run's input checks are InputErrors
    if (e instanceof InputError || (e instanceof Error && /^tile: /.test(e.message))) return fail((e as Error).message.replace(/^input: /, ''));
    throw e;
  }
}

/** What happens to an image's alpha (src/io/image.ts drops it when decoding). */
export const ALPHA_NOTE = 'alpha channel ignored: colours read as stored, not composited over a background';

/** A PNG with an alpha channel (colour type 4 or 6) or transparency (a tRNS chunk before the image data). */
export function pngHasAlpha(png: Uint8Array): boolean {
  if (png.length < 33) return false;
  if (png[25] === 4 || png[25] === 6) return true;
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  for (let at = 8; at + 8 <= png.length; at += 12 + dv.getUint32(at)) {
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    if (type === 'tRNS') return true;
    if (type === 'IDAT' || type === 'IEND') return false;
  }
  return false;
}

/** The files an input's outputs go to, in the order they are written. */
function outputNames(name: string, ext: string, C: number, s: Pick<Settings, 'probs' | 'multiClass'>, overlay: boolean): string[] {
  const names: string[] = [];
  if (s.multiClass) {
    names.push(`${name}_labels${ext}`);
    if (overlay) names.push(`${name}_overlay${ext}`);
    if (s.probs) for (let c = 0; c < C; c++) names.push(`${name}_probs_c${c}${ext}`);
    return names;
  }
  for (let c = 0; c < C; c++) {
    const suffix = C > 1 ? `_c${c}` : '';
    names.push(`${name}_mask${suffix}${ext}`);
    if (s.probs) names.push(`${name}_probs${suffix}${ext}`);
  }
  if (overlay) names.push(`${name}_overlay${ext}`);
  return names;
}

/** Before any work: no output may replace an input or the weights, nor (without --overwrite) any file. */
function checkOutputs(names: string[], s: Settings, fail: (problem: string) => never): void {
  for (const f of names) {
    const out = join(s.outDir, f);
    const input = s.protectedFiles.find((p) => sameFile(p, out));
    if (input !== undefined) fail(`its output ${printable(f)} would overwrite the input ${printable(input)}: choose another --out-dir`);
    const st = statOrUndefined(out);
    if (st?.isDirectory()) fail(`its output ${printable(out)} is a directory`);
    if (st && !s.overwrite) fail(`its output ${printable(out)} already exists (pass --overwrite to replace it)`);
  }
}

/** Writes an input's outputs as one set; a non-finite output is an error with --strict (nothing written). */
async function finish(files: Map<string, Uint8Array>, nonFinite: NonFinite | undefined, s: Settings, path: string): Promise<void> {
  if (nonFinite && s.strict) throw new CliError(`${nonFiniteMessage(printable(path), nonFinite, s.nanWeights)} (--strict: no outputs written)`);
  const paths = new Map([...files].map(([f, data]) => [join(s.outDir, f), data]));
  try {
    await writeOutputSet(paths, s.overwrite);
  } catch (e) {
    if (e instanceof CliError) throw new CliError(`${printable(path)}: ${e.message}`);
    throw e;
  }
}

/** Models whose sliding-window caveat was already noted in this run. */
const warnedTiling = new WeakSet<Model>();

async function segmentImage(model: Model, img: Image, kind: string, name: string, s: Settings, progress: (f: number) => void, path = ''): Promise<Segmented> {
  const { planes, note } = channelPlanes(img, model.info.inChannels, s.gray);
  const input = normalize(planes, img.height, img.width, s.norm);
  const y = await model.run(input, { pad: s.pad, tile: s.tile, onProgress: (p) => progress(p.done / p.total) });
  const nonFinite = nonFiniteOutputs(y.data, y.shape);
  const C = y.shape[1];
  const n = img.width * img.height;
  const size = [img.height, img.width, img.channels];
  const notes = note ? [note] : [];
  if (y.tiling?.warning && !warnedTiling.has(model)) {
    warnedTiling.add(model);
    notes.push(y.tiling.warning);
  }
  if (s.multiClass) {
    const { files, classes } = classImageFiles(img, y.data, C, name, s);
    await finish(files, nonFinite, s, path);
    return { kind, size, outputs: [...files.keys()], foreground: classes.map((e) => e.fraction), classes, notes, nonFinite };
  }
  const probs = s.activation === 'sigmoid' ? y.data : maskProbabilities(y.data, s.activation);
  const files = new Map<string, Uint8Array>();
  const masks: Uint8Array[] = [];
  const foreground: number[] = [];
  for (let c = 0; c < C; c++) {
    const { mask, foreground: f } = thresholdMask(probs, c, n, s.threshold);
    const suffix = C > 1 ? `_c${c}` : '';
    files.set(`${name}_mask${suffix}.png`, encodePng({ width: img.width, height: img.height, channels: 1, data: mask }));
    if (s.probs) files.set(`${name}_probs${suffix}.png`, encodePng({ width: img.width, height: img.height, channels: 1, data: probs16(probs, c, n) }));
    masks.push(mask);
    foreground.push(f);
  }
  files.set(`${name}_overlay.png`, encodePng({ width: img.width, height: img.height, channels: 3, data: overlay(img, masks) }));
  // Everything is encoded before the first write, and written as a set: no partial set stays behind.
  await finish(files, nonFinite, s, path);
  return { kind, size, outputs: [...files.keys()], foreground, notes, nonFinite };
}

/** A multi-class output's files: the label map (indexed colour), the overlay, and with --probs each class's probability. */
export function classImageFiles(img: Image, y: Float32Array, C: number, name: string, s: Pick<Settings, 'probs' | 'activation'>): { files: Map<string, Uint8Array>; classes: LegendEntry[] } {
  const { width: W, height: H } = img;
  const n = W * H;
  const labels = argmaxLabels(y, C, n);
  const colors = classColors(C);
  const files = new Map<string, Uint8Array>();
  files.set(`${name}_labels.png`, encodePalettePng(W, H, labels, colors.map((c) => c.rgb)));
  files.set(`${name}_overlay.png`, encodePng({ width: W, height: H, channels: 3, data: classOverlay(img, labels, colors) }));
  if (s.probs) {
    const p = classProbabilities(y, C, n, s.activation);
    for (let c = 0; c < C; c++) files.set(`${name}_probs_c${c}.png`, encodePng({ width: W, height: H, channels: 1, data: probs16(p, c, n) }));
  }
  return { files, classes: legend(labels, C) };
}

async function segmentVolume(model: Model, bytes: Uint8Array, name: string, gz: boolean, s: Settings, progress: (f: number) => void, path: string): Promise<Segmented> {
  const vol = readNifti(bytes, { limits: s.limits });
  let bad = 0;
  let first = -1;
  for (let i = 0; i < vol.data.length; i++) {
    const x = vol.data[i];
    if (x - x !== 0) [bad, first] = [bad + 1, first < 0 ? i : first];
  }
  if (bad > 0) {
    const [nx, ny] = vol.dims;
    const at = `x ${first % nx}, y ${Math.floor(first / nx) % ny}, z ${Math.floor(first / (nx * ny))}`;
    throw new NiftiError(`holds ${bad} NaN or Inf voxel${bad === 1 ? '' : 's'} (the first at ${at}); replace them (with 0, say) before segmenting`);
  }
  const { width, height, count } = sliceGeometry(vol.dims, s.axis);
  const n = width * height;
  const voxels = vol.data.length;
  // zscore is scale-free; the other modes expect 0..255, so the volume's range is mapped onto it
  let [lo, hi] = [Infinity, -Infinity];
  if (s.norm.kind !== 'zscore') for (const x of vol.data) [lo, hi] = [Math.min(lo, x), Math.max(hi, x)];
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  const C = model.info.outChannels;
  // one [C, voxels] array, class c at c * voxels: the layout argmaxLabels and classProbabilities read
  const all = new Float32Array(C * voxels);
  const probs = Array.from({ length: C }, (_, c) => all.subarray(c * voxels, (c + 1) * voxels));
  const plane = new Float64Array(n);
  let nonFinite: NonFinite | undefined;
  for (let k = 0; k < count; k++) {
    forEachSliceVoxel(vol.dims, s.axis, k, (p, v) => (plane[p] = s.norm.kind === 'zscore' ? vol.data[v] : (vol.data[v] - lo) * scale));
    const planes = Array.from({ length: model.info.inChannels }, () => plane);
    const y = await model.run(normalize(planes, height, width, s.norm), { pad: s.pad, tile: s.tile });
    const nf = nonFiniteOutputs(y.data, y.shape);
    if (nf) {
      nonFinite = nonFinite
        ? { ...nonFinite, count: nonFinite.count + nf.count }
        : { count: nf.count, total: voxels * C, first: `slice ${k} of ${count}, ${nf.first.replace(/^n 0, /, '')}` };
    }
    // mask models keep probabilities, multi-class ones the raw outputs (their argmax is the class)
    const out = s.multiClass || s.activation === 'sigmoid' ? y.data : maskProbabilities(y.data, s.activation);
    for (let c = 0; c < C; c++) forEachSliceVoxel(vol.dims, s.axis, k, (p, v) => (probs[c][v] = out[c * n + p]));
    progress((k + 1) / count);
  }
  const ext = gz ? '.nii.gz' : '.nii';
  const files = new Map<string, Uint8Array>();
  const notes = model.info.inChannels > 1 ? [`each slice repeated into ${model.info.inChannels} channels`] : [];
  const result = { kind: gz ? 'nifti-gz' : 'nifti', size: [...vol.dims], notes, nonFinite };
  if (s.multiClass) {
    const labels = argmaxLabels(all, C, voxels);
    files.set(`${name}_labels${ext}`, writeNifti(vol, labels, gz));
    if (s.probs) {
      const p = classProbabilities(all, C, voxels, s.activation);
      for (let c = 0; c < C; c++) files.set(`${name}_probs_c${c}${ext}`, writeNifti(vol, p.subarray(c * voxels, (c + 1) * voxels), gz));
    }
    await finish(files, nonFinite, s, path);
    const classes = legend(labels, C);
    return { ...result, outputs: [...files.keys()], foreground: classes.map((e) => e.fraction), classes };
  }
  const foreground: number[] = [];
  probs.forEach((p, c) => {
    const suffix = C > 1 ? `_c${c}` : '';
    const mask = new Uint8Array(voxels);
    let on = 0;
    for (let i = 0; i < voxels; i++) if (isForeground(p[i], s.threshold)) [mask[i], on] = [1, on + 1];
    foreground.push(on / voxels);
    files.set(`${name}_mask${suffix}${ext}`, writeNifti(vol, mask, gz));
    if (s.probs) files.set(`${name}_probs${suffix}${ext}`, writeNifti(vol, p, gz));
  });
  await finish(files, nonFinite, s, path);
  return { ...result, outputs: [...files.keys()], foreground };
}

/** --tile, --tile-overlap, --tile-blend, --gpu-budget as Model.run's tile option. */
function tileOption(spec: string, overlapText: string, blend: string, budgetText: string | undefined): RunOptions['tile'] {
  const overlap = Number(overlapText);
  if (!/^\s*[\d.]+\s*$/.test(overlapText) || !(overlap >= 0 && overlap < 1)) {
    throw new UsageError(`segment: --tile-overlap must be a number with 0 <= F < 1, found ${JSON.stringify(overlapText)}`);
  }
  if (blend !== 'gaussian' && blend !== 'constant') throw new UsageError(`segment: --tile-blend must be gaussian or constant, found ${JSON.stringify(blend)}`);
  let memoryBudgetBytes: number | undefined;
  if (budgetText !== undefined) {
    if (!/^\s*[\d.]+\s*$/.test(budgetText) || !(Number(budgetText) > 0)) throw new UsageError(`segment: --gpu-budget must be a positive number of MiB, found ${JSON.stringify(budgetText)}`);
    memoryBudgetBytes = Math.floor(Number(budgetText) * 2 ** 20);
  }
  if (spec === 'off') {
    if (memoryBudgetBytes !== undefined) throw new UsageError('segment: --gpu-budget needs tiles: it cannot go with --tile off');
    return false;
  }
  if (spec === 'auto') return { overlap, blend, memoryBudgetBytes };
  if (!/^\d+$/.test(spec) || Number(spec) < 1) throw new UsageError(`segment: --tile must be auto, off or a window size in pixels, found ${JSON.stringify(spec)}`);
  return { roi: Number(spec), overlap, blend, memoryBudgetBytes };
}

function adapterName(device: GPUDevice): string {
  const d = describeDevice(device);
  return d.description || [d.vendor, d.architecture].filter(Boolean).join(' ') || 'unknown adapter';
}

interface Report {
  weights: string;
  model: Model;
  adapter: string;
  done: Done[];
  failures: { input: string; error: string }[];
  /** inputs of the folders given that were not segmented, and why */
  skipped: { input: string; reason: string }[];
  seconds: number;
  settings: Settings;
}

function report(json: boolean, r: Report): void {
  const rate = r.done.length / Math.max(r.seconds, 1e-9);
  const { architecture, encoder, inChannels, outChannels, classes, activation, features, depth } = r.model.info;
  const multiClass = r.settings.multiClass;
  if (json) {
    const out = {
      weights: r.weights,
      model: { architecture, encoder, inChannels, outChannels, classes, activation, multiClass, features, depth },
      adapter: r.adapter,
      outDir: r.settings.outDir,
      threshold: r.settings.threshold,
      normalize: r.settings.norm,
      ...(multiClass ? { legend: classColors(classes).map((c, k) => ({ class: k, color: c.name, rgb: c.rgb })) } : {}),
      inputs: r.done.map((d) => ({ ...d, outputs: d.outputs.map((o) => join(r.settings.outDir, o)), ms: Math.round(d.ms * 10) / 10 })),
      failed: r.failures,
      skipped: r.skipped,
      seconds: Math.round(r.seconds * 1000) / 1000,
      imagesPerSecond: Math.round(rate * 100) / 100,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return;
  }
  const lines: string[] = [];
  const width = Math.max(0, ...r.done.map((d) => printable(basename(d.input)).length));
  for (const d of r.done) {
    const size = d.kind.startsWith('nifti') ? d.size.join('x') : `${d.size[1]}x${d.size[0]}`;
    const what = d.classes
      ? `classes ${d.classes.map((e) => `${e.class} ${e.color} ${e.pixels} (${percent(e.fraction)})`).join(', ')}`
      : `foreground ${d.foreground.map(percent).join(' ')}`;
    const notes = d.notes.length ? `  (${d.notes.join('; ')})` : '';
    lines.push(`${printable(basename(d.input)).padEnd(width)}  ${size.padEnd(11)} ${what}  ${Math.round(d.ms)} ms${notes}`);
  }
  const failed = r.failures.length ? `, ${r.failures.length} failed` : '';
  lines.push(
    `${r.done.length} input${r.done.length === 1 ? '' : 's'} segmented in ${r.seconds.toFixed(1)} s (${rate.toFixed(1)} images/s)${failed}; ` +
      `outputs in ${printable(r.settings.outDir)}; model ${modelText(r.model)} (${r.adapter})`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

const percent = (f: number) => `${(100 * f).toFixed(1)}%`;

function modelText(model: Model): string {
  const i = model.info;
  if (i.architecture === 'brain-unet') return `${i.inChannels} -> ${i.outChannels} channels, init_features ${i.features}`;
  const kind = isMultiClass(i) ? 'classes, one per pixel' : i.classes === 1 ? 'class' : 'channels, one mask each';
  return `${i.architecture} ${i.encoder}, ${i.inChannels} -> ${i.classes} ${kind}, ${i.activation}`;
}
