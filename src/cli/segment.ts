// `unet segment`: PNG / JPEG images and NIfTI volumes in, masks out. Each input is read, normalized,
// run through the U-Net (any size: the model pads and crops), thresholded, and its outputs written
// as a set (all or nothing, never over a file this run did not create unless --overwrite); a failing
// input is reported on one line and the others still run (exit 1 at the end).
import { mkdirSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describeDevice, getDevice, loadModel, releaseGpu, type Model, type RunOptions } from '../node.js';
import { ImageError, decodeImage, encodePng, sniff, type Image } from '../io/image.js';
import { NiftiError, forEachSliceVoxel, readNifti, sliceGeometry, writeNifti, type Axis } from '../io/nifti.js';
import { ChannelError, channelPlanes, normalize, parseNormalization, type Normalization } from '../io/preprocess.js';
import { overlay, probs16, thresholdMask } from '../io/render.js';
import { checkPadMode, type PadMode } from '../kernels/layout.js';
import { LimitError, printable, resolveLimits, type Limits } from '../limits.js';
import { parseCommandLine, required } from './args.js';
import { CliError, UsageError, cliText, fsError } from './errors.js';
import { readInputFile, sameFile, statOrUndefined } from './files.js';
import { LIMITS_USAGE, LIMIT_OPTIONS, limitsFromArgs } from './limits.js';
import { nonFiniteMessage, nonFiniteOutputs, writeOutputSet, type NonFinite } from './outputs.js';
import { Progress } from './progress.js';

export const SEGMENT_USAGE = `Usage: unet segment IMAGES_OR_FOLDERS... --weights W.safetensors --out-dir DIR [options]

Segments PNG and JPEG images (gray or RGB; alpha is dropped) and NIfTI volumes (.nii, .nii.gz; slice
by slice) of any size. A folder stands for the .png, .jpg, .jpeg, .nii and .nii.gz files in it. For an
image NAME.png it writes to DIR:
  NAME_mask.png      the mask (0 / 255; probability > --threshold); NAME_mask_c<k>.png per output
                     channel when the model has several
  NAME_overlay.png   the masks tinted and outlined over the image
  NAME_probs.png     with --probs: the probability as 16-bit gray (0..65535)
and for a volume NAME.nii[.gz]: NAME_mask.nii[.gz] (uint8 0 / 1, the input's header and affine),
with --probs NAME_probs.nii[.gz] (float32).

Options:
  --weights PATH        U-Net state_dict (safetensors; see unet convert for .pt checkpoints)
  --out-dir DIR         where the outputs go (created if missing)
  --threshold T         mask threshold on the sigmoid probability (default 0.5)
  --normalize MODE      zscore (default: per image and channel (v - mean) / std of the 0..255 values,
                        as the brain-MRI U-Net expects), none (v / 255), imagenet, or MEAN,STD
                        ((v - MEAN) / STD on 0..255). Volumes: zscore per slice of the raw values;
                        the other modes first scale the volume's min..max to 0..255
  --gray                convert RGB images to gray for a 1-channel model (gray images are repeated
                        into 3 channels for a 3-channel model without asking)
  --axis AXIS           volumes: slice along axial (default, the third axis), coronal (second),
                        sagittal (first), or 0, 1, 2
  --activation F        sigmoid (default); softmax is not supported yet
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
  --json                one JSON object on stdout instead of the text summary
  -h, --help            show this help

${LIMITS_USAGE}
Outputs are written as a set per input: to temporary files, renamed into place only when all of them
were written. Inputs are never written over; in a folder that is also --out-dir, files named like the
outputs of another input there (NAME_mask*, NAME_overlay, NAME_probs*) are skipped, not segmented.
A progress bar goes to stderr on a terminal. Inputs that fail are reported as "unet: FILE: problem"
and the rest still run; the exit code is then 1 ("unet: 2 of 9 inputs failed").
`;

const OPTIONS = {
  weights: { type: 'string' },
  'out-dir': { type: 'string' },
  threshold: { type: 'string', default: '0.5' },
  normalize: { type: 'string', default: 'zscore' },
  gray: { type: 'boolean' },
  axis: { type: 'string', default: 'axial' },
  activation: { type: 'string', default: 'sigmoid' },
  pad: { type: 'string', default: 'reflect' },
  tile: { type: 'string', default: 'auto' },
  'tile-overlap': { type: 'string', default: '0.25' },
  'tile-blend': { type: 'string', default: 'gaussian' },
  'gpu-budget': { type: 'string' },
  probs: { type: 'boolean' },
  overwrite: { type: 'boolean' },
  strict: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  ...LIMIT_OPTIONS,
} as const;

const AXES: Record<string, Axis> = { axial: 2, coronal: 1, sagittal: 0, '0': 0, '1': 1, '2': 2 };
const INPUT_EXT = /\.(png|jpe?g|nii|nii\.gz)$/i;

interface Settings {
  threshold: number;
  norm: Normalization;
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
  /** fraction of pixels / voxels in each output channel's mask */
  foreground: number[];
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
  const norm = parseNormalization(v.normalize ?? '');
  if (!norm) throw new UsageError(`segment: --normalize must be zscore, none, imagenet or MEAN,STD (STD > 0), found ${JSON.stringify(v.normalize)}`);
  const axis = AXES[(v.axis ?? '').toLowerCase()];
  if (axis === undefined) throw new UsageError(`segment: --axis must be axial, coronal, sagittal, 0, 1 or 2, found ${JSON.stringify(v.axis)}`);
  if (v.activation === 'softmax') {
    throw new UsageError('segment: --activation softmax is not supported yet (the engine outputs sigmoid probabilities, a softmax needs the logits); use sigmoid: one mask per output channel');
  }
  if (v.activation !== 'sigmoid') throw new UsageError(`segment: --activation must be sigmoid, found ${JSON.stringify(v.activation)}`);
  let pad: PadMode;
  try {
    pad = checkPadMode(v.pad, '--pad');
  } catch (e) {
    throw new UsageError(`segment: ${(e as Error).message}`);
  }
  if (positionals.length === 0) throw new UsageError('segment: no input images or folders given (see unet segment --help)');
  const tile = tileOption(v.tile ?? 'auto', v['tile-overlap'] ?? '0.25', v['tile-blend'] ?? 'gaussian', v['gpu-budget']);
  const limits = resolveLimits(limitsFromArgs('segment', v));

  if (statOrUndefined(outDir)?.isFile()) throw new CliError(`${printable(outDir)}: --out-dir is a file, expected a directory`);
  const { inputs, failures, skipped } = expandInputs(positionals, outDir);
  const settings: Settings = {
    threshold, norm, gray: Boolean(v.gray), axis, pad, tile, probs: Boolean(v.probs), outDir,
    overwrite: Boolean(v.overwrite), strict: Boolean(v.strict), limits, protectedFiles: [...inputs.map((i) => i.path), weights],
  };
  try {
    mkdirSync(outDir, { recursive: true });
  } catch (e) {
    throw fsError(outDir, 'create', e);
  }
  const weightBytes = readInputFile(weights, 'maxWeightsBytes', limits);

  const total = inputs.length + failures.length;
  const progress = new Progress(inputs.length);
  if (skipped.length) {
    const names = skipped.slice(0, 3).map((f) => printable(basename(f))).join(', ');
    progress.print(`unet: note: skipped ${skipped.length} file${skipped.length === 1 ? '' : 's'} in --out-dir named like the outputs of another input (${names}${skipped.length > 3 ? ', ...' : ''})`);
  }
  for (const f of failures) progress.print(`unet: ${printable(f.input)}: ${cliText(f.error)}`);
  const done: Done[] = [];
  let device: GPUDevice | undefined;
  let model: Model | undefined;
  const t0 = performance.now();
  try {
    device = await getDevice();
    model = await loadModel(device, weightBytes).catch((e: Error) => {
      throw new CliError(`${printable(weights)}: ${e.message.replace(/^<bytes>: /, '')}`);
    });
    for (const w of model.info.warnings) progress.print(`unet: warning: ${cliText(w.replace(/^<bytes>: /, `${printable(weights)}: `))}`);
    for (const [i, input] of inputs.entries()) {
      const label = printable(basename(input.path));
      progress.update(i, label);
      const start = performance.now();
      try {
        const r = await segmentOne(model, input.path, input.name, settings, (f) => progress.update(i + f, label));
        if (r.nonFinite) progress.print(`unet: warning: ${nonFiniteMessage(printable(input.path), r.nonFinite)}`);
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
    const seconds = (performance.now() - t0) / 1000;
    report(v.json === true, { weights, model, adapter: adapterName(device), done, failures, seconds, settings });
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

interface Input {
  path: string;
  /** output file stem */
  name: string;
}

/** Output names look like `${stem}${OUTPUT_SUFFIX}.ext`. */
const OUTPUT_SUFFIX = /_(mask|probs)(_c\d+)?$|_overlay$/;
const stemOf = (path: string) => basename(path).replace(/\.nii\.gz$/i, '').replace(/\.[^.]*$/, '');

/**
 * Files as given, folders as their image / volume files (sorted); each output stem used once. In a
 * folder that is also the output folder, a file named like the outputs of another input there
 * (`cell_mask.png` beside `cell.png`) is skipped: it is a mask of an earlier run, not an image to segment.
 */
function expandInputs(args: string[], outDir: string): { inputs: Input[]; failures: { input: string; error: string }[]; skipped: string[] } {
  const inputs: Input[] = [];
  const failures: { input: string; error: string }[] = [];
  const skipped: string[] = [];
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
        names = readdirSync(arg).filter((n) => INPUT_EXT.test(n) && !n.startsWith('.')).sort();
      } catch (e) {
        failures.push({ input: arg, error: `cannot read the folder (${(e as NodeJS.ErrnoException).code ?? e})` });
        continue;
      }
      if (names.length === 0) failures.push({ input: arg, error: 'no .png, .jpg, .jpeg, .nii or .nii.gz files in this folder' });
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
  return { inputs, failures, skipped };
}

type Segmented = Omit<Done, 'input' | 'ms'>;

async function segmentOne(model: Model, path: string, name: string, s: Settings, progress: (fraction: number) => void): Promise<Segmented> {
  const fail = (problem: string): never => {
    throw new CliError(`${printable(path)}: ${problem}`);
  };
  const bytes = readInputFile(path, 'maxInputBytes', s.limits);
  const kind = sniff(bytes);
  try {
    if (kind === 'nifti' || kind === 'nifti-gz') {
      const ext = kind === 'nifti-gz' ? '.nii.gz' : '.nii';
      checkOutputs(outputNames(name, ext, model.info.outChannels, s.probs, false), s, fail);
      return await segmentVolume(model, bytes, name, kind === 'nifti-gz', s, progress, path);
    }
    if (kind !== 'png' && kind !== 'jpeg') {
      return fail(bytes.length === 0 ? 'empty file' : 'unsupported format (PNG, JPEG, NIfTI .nii / .nii.gz are read)');
    }
    checkOutputs(outputNames(name, '.png', model.info.outChannels, s.probs, true), s, fail);
    return await segmentImage(model, decodeImage(bytes, { limits: s.limits }), kind, name, s, progress, path);
  } catch (e) {
    if (e instanceof ImageError || e instanceof NiftiError || e instanceof ChannelError || e instanceof LimitError) return fail(e.message);
    // the engine's refusal of this input (its size, its values), not a failure of the run
    if (e instanceof Error && /^(input|tile): /.test(e.message)) return fail(e.message.replace(/^input: /, ''));
    throw e;
  }
}

/** The files an input's outputs go to, in the order they are written. */
function outputNames(name: string, ext: string, C: number, probs: boolean, overlay: boolean): string[] {
  const names: string[] = [];
  for (let c = 0; c < C; c++) {
    const suffix = C > 1 ? `_c${c}` : '';
    names.push(`${name}_mask${suffix}${ext}`);
    if (probs) names.push(`${name}_probs${suffix}${ext}`);
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
function finish(files: Map<string, Uint8Array>, nonFinite: NonFinite | undefined, s: Settings, path: string): void {
  if (nonFinite && s.strict) throw new CliError(`${nonFiniteMessage(printable(path), nonFinite)} (--strict: no outputs written)`);
  const paths = new Map([...files].map(([f, data]) => [join(s.outDir, f), data]));
  try {
    writeOutputSet(paths, s.overwrite);
  } catch (e) {
    if (e instanceof CliError) throw new CliError(`${printable(path)}: ${e.message}`);
    throw e;
  }
}

async function segmentImage(model: Model, img: Image, kind: string, name: string, s: Settings, progress: (f: number) => void, path = ''): Promise<Segmented> {
  const { planes, note } = channelPlanes(img, model.info.inChannels, s.gray);
  const input = normalize(planes, img.height, img.width, s.norm);
  const y = await model.run(input, { pad: s.pad, tile: s.tile, onProgress: (p) => progress(p.done / p.total) });
  const nonFinite = nonFiniteOutputs(y.data, y.shape);
  const C = y.shape[1];
  const n = img.width * img.height;
  const files = new Map<string, Uint8Array>();
  const masks: Uint8Array[] = [];
  const foreground: number[] = [];
  for (let c = 0; c < C; c++) {
    const { mask, foreground: f } = thresholdMask(y.data, c, n, s.threshold);
    const suffix = C > 1 ? `_c${c}` : '';
    files.set(`${name}_mask${suffix}.png`, encodePng(img.width, img.height, 1, mask));
    if (s.probs) files.set(`${name}_probs${suffix}.png`, encodePng(img.width, img.height, 1, probs16(y.data, c, n)));
    masks.push(mask);
    foreground.push(f);
  }
  files.set(`${name}_overlay.png`, encodePng(img.width, img.height, 3, overlay(img, masks)));
  // Everything is encoded before the first write, and written as a set: no partial set stays behind.
  finish(files, nonFinite, s, path);
  return { kind, size: [img.height, img.width, img.channels], outputs: [...files.keys()], foreground, notes: note ? [note] : [], nonFinite };
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
  const probs = Array.from({ length: C }, () => new Float32Array(voxels));
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
    for (let c = 0; c < C; c++) forEachSliceVoxel(vol.dims, s.axis, k, (p, v) => (probs[c][v] = y.data[c * n + p]));
    progress((k + 1) / count);
  }
  const ext = gz ? '.nii.gz' : '.nii';
  const files = new Map<string, Uint8Array>();
  const foreground: number[] = [];
  probs.forEach((p, c) => {
    const suffix = C > 1 ? `_c${c}` : '';
    const mask = new Uint8Array(voxels);
    let on = 0;
    for (let i = 0; i < voxels; i++) if (p[i] > s.threshold) [mask[i], on] = [1, on + 1];
    foreground.push(on / voxels);
    files.set(`${name}_mask${suffix}${ext}`, writeNifti(vol, mask, gz));
    if (s.probs) files.set(`${name}_probs${suffix}${ext}`, writeNifti(vol, p, gz));
  });
  finish(files, nonFinite, s, path);
  const notes = model.info.inChannels > 1 ? [`each slice repeated into ${model.info.inChannels} channels`] : [];
  return { kind: gz ? 'nifti-gz' : 'nifti', size: [...vol.dims], outputs: [...files.keys()], foreground, notes, nonFinite };
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
  seconds: number;
  settings: Settings;
}

function report(json: boolean, r: Report): void {
  const rate = r.done.length / Math.max(r.seconds, 1e-9);
  const { inChannels, outChannels, features, depth } = r.model.info;
  if (json) {
    const out = {
      weights: r.weights,
      model: { inChannels, outChannels, features, depth },
      adapter: r.adapter,
      outDir: r.settings.outDir,
      threshold: r.settings.threshold,
      normalize: r.settings.norm,
      inputs: r.done.map((d) => ({ ...d, outputs: d.outputs.map((o) => join(r.settings.outDir, o)), ms: Math.round(d.ms * 10) / 10 })),
      failed: r.failures,
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
    const fg = d.foreground.map((f) => `${(100 * f).toFixed(1)}%`).join(' ');
    const notes = d.notes.length ? `  (${d.notes.join('; ')})` : '';
    lines.push(`${printable(basename(d.input)).padEnd(width)}  ${size.padEnd(11)} foreground ${fg}  ${Math.round(d.ms)} ms${notes}`);
  }
  const failed = r.failures.length ? `, ${r.failures.length} failed` : '';
  lines.push(
    `${r.done.length} input${r.done.length === 1 ? '' : 's'} segmented in ${r.seconds.toFixed(1)} s (${rate.toFixed(1)} images/s)${failed}; ` +
      `outputs in ${printable(r.settings.outDir)}; model ${inChannels} -> ${outChannels} channels, init_features ${features} (${r.adapter})`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}
