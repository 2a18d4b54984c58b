// `unet segment`: PNG / JPEG images and NIfTI volumes in, masks out. The command adds files to the
// library's pipeline: each input is read, segmented by the library (segmentPixels for an image,
// segmentVolume for a volume: the model's normalization, any size, the output read as probabilities and
// masks), and its outputs written as a set (all or nothing, never over a file this run did not create
// unless --overwrite); a failing input is reported on one line and the others still run (exit 1 at the
// end). Arguments: segmentArgs.ts; input and output names: segmentInputs.ts; encoding: segmentOutputs.ts.
import { basename, join } from 'node:path';
import { describeDevice, getDevice, releaseGpu, type Model } from '../node.js';
import { classColors, isMultiClass, legend, type LegendEntry } from '../io/classes.js';
import { decodeImage, sniff } from '../io/image.js';
import { readNifti } from '../io/nifti.js';
import { printable } from '../limits.js';
import { InputError } from '../errors.js';
import { segmentPixels } from '../segment.js';
import { segmentVolume } from '../volume.js';
import { CliError, cliText } from './errors.js';
import { makeOutputDir, readInputFile, statOrUndefined } from './files.js';
import { modelFiles, openModel, readWeightsArg } from './model.js';
import { nonFiniteMessage, nonFiniteOutputs, weightsNonFinite, type NonFinite } from './outputs.js';
import { Progress } from './progress.js';
import { isNnunetPath } from './nnunet.js';
import { predictCases } from './predict.js';
import { parseSegmentNnunetArgs, weightsOf } from './predictArgs.js';
import { SEGMENT_USAGE, modelSettings, parseSegmentArgs, type Settings } from './segmentArgs.js';
import { ALPHA_NOTE, checkOutputs, expandInputs, outputSet, pngHasAlpha } from './segmentInputs.js';
import { classImageFiles, imageFiles, volumeFiles, writeSet } from './segmentOutputs.js';
import { type Shard, shardNote, shardOf } from './shards.js';

export { SEGMENT_USAGE, type Settings, ALPHA_NOTE, pngHasAlpha, classImageFiles };

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
  // an nnU-Net results folder or zip: its cases are predicted as nnUNetv2_predict predicts them (predict.ts)
  const w = weightsOf(args);
  if (w !== undefined && !args.includes('--help') && !args.includes('-h') && isNnunetPath(w)) return predictCases(parseSegmentNnunetArgs(args));
  const a = parseSegmentArgs(args);
  if (a === undefined) {
    process.stdout.write(SEGMENT_USAGE);
    return 0;
  }
  const { weights, outDir, limits } = a;
  if (statOrUndefined(outDir)?.isFile()) throw new CliError(`${printable(outDir)}: --out-dir is a file, expected a directory`);
  const all = expandInputs(a.paths, outDir);
  const { skipped, hidden } = all;
  // a shard takes its part of the inputs and of the failures (an unreadable input is reported by one part)
  const inputs = shardOf(all.inputs, (i) => i.path, a.shard);
  const failures = shardOf(all.failures, (f) => f.input, a.shard);
  const protectedFiles = [...inputs.map((i) => i.path), ...modelFiles(weights)];
  makeOutputDir(outDir, '--out-dir');
  const modelArg = await readWeightsArg(weights, limits);

  const total = inputs.length + failures.length;
  const progress = new Progress(inputs.length);
  if (skipped.length) {
    const names = skipped
      .slice(0, 3)
      .map((f) => printable(basename(f)))
      .join(', ');
    progress.print(
      `unet: note: skipped ${skipped.length} file${skipped.length === 1 ? '' : 's'} in --out-dir named like the outputs of another input (${names}${skipped.length > 3 ? ', ...' : ''})`,
    );
  }
  if (hidden.length) {
    const names = hidden
      .slice(0, 3)
      .map((f) => printable(basename(f)))
      .join(', ');
    progress.print(
      `unet: note: skipped ${hidden.length} hidden file${hidden.length === 1 ? '' : 's'} (named .*) in the input folders (${names}${hidden.length > 3 ? ', ...' : ''}): ` +
        'name a file as an argument to segment it',
    );
  }
  if (a.shard) progress.print(`unet: ${shardNote(a.shard, inputs.length, all.inputs.length, 'inputs')}`);
  for (const f of failures) progress.print(`unet: ${printable(f.input)}: ${cliText(f.error)}`);
  const done: Done[] = [];
  let device: GPUDevice | undefined;
  let model: Model | undefined;
  const t0 = performance.now();
  try {
    device = await getDevice();
    model = await openModel(device, modelArg, { activation: a.activation }, (line) => progress.print(line));
    const settings = modelSettings(a, model, modelArg.name, weightsNonFinite(model.info.warnings), protectedFiles);
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
    if (alpha)
      process.stderr.write(
        `unet: note: ${alpha} of the images ${alpha === 1 ? 'has' : 'have'} an alpha channel; it was ${ALPHA_NOTE.replace(/^alpha channel /, '')}\n`,
      );
    const seconds = (performance.now() - t0) / 1000;
    const skips = [
      ...skipped.map((input) => ({ input, reason: 'named like the outputs of another input in --out-dir' })),
      ...hidden.map((input) => ({ input, reason: 'hidden file in an input folder' })),
    ];
    report(a.json, { weights, model, adapter: adapterName(device), done, failures, skipped: skips, seconds, settings, shard: a.shard });
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

type Segmented = Omit<Done, 'input' | 'ms'>;

/** Reads one input, segments it with the library, writes its outputs; the input's problems are CliErrors naming it. */
export async function segmentOne(model: Model, path: string, name: string, s: Settings, progress: (fraction: number) => void): Promise<Segmented> {
  const fail = (problem: string): never => {
    throw new CliError(`${printable(path)}: ${problem}`);
  };
  const bytes = readInputFile(path, 'maxInputBytes', s.limits);
  const kind = sniff(bytes);
  try {
    if (kind === 'nifti' || kind === 'nifti-gz') {
      const gz = kind === 'nifti-gz';
      checkOutputs(
        outputSet(name, gz ? '.nii.gz' : '.nii', model.info.outChannels, s, false).map((o) => o.file),
        s,
        fail,
      );
      return await segmentNifti(model, bytes, name, gz, s, progress, path);
    }
    if (kind !== 'png' && kind !== 'jpeg') {
      return fail(bytes.length === 0 ? 'empty file' : 'unsupported format (PNG, JPEG, NIfTI .nii / .nii.gz are read)');
    }
    checkOutputs(
      outputSet(name, '.png', model.info.outChannels, s, true).map((o) => o.file),
      s,
      fail,
    );
    const r = await segmentImage(model, bytes, kind, name, s, progress, path);
    if (kind === 'png' && pngHasAlpha(bytes)) r.notes.unshift(ALPHA_NOTE);
    return r;
  } catch (e) {
    // the input's fault (unreadable, too large, wrong channels, NaN values, no window fits), not the run's:
    // ImageError, NiftiError, ChannelError, LimitError and model.run's input checks are InputErrors; the
    // library names its subject ('input: ', 'image: '), the CLI names the file instead
    if (e instanceof InputError || (e instanceof Error && /^tile: /.test(e.message))) return fail((e as Error).message.replace(/^(input|image): /, ''));
    throw e;
  }
}

/** Models whose sliding-window caveat was already noted in this run. */
const warnedTiling = new WeakSet<Model>();

async function segmentImage(
  model: Model,
  bytes: Uint8Array,
  kind: string,
  name: string,
  s: Settings,
  progress: (f: number) => void,
  path: string,
): Promise<Segmented> {
  const img = decodeImage(bytes, { limits: s.limits });
  const run = { pad: s.pad, tile: s.tile, onProgress: (p: { done: number; total: number }) => progress(p.done / p.total) };
  const { result: r, output: y } = await segmentPixels(model, img, { normalization: s.norm, threshold: s.threshold, toGray: s.gray }, run);
  const nonFinite = nonFiniteOutputs(y.data, y.shape);
  const notes = [...r.notes];
  if (y.tiling?.warning && !warnedTiling.has(model)) {
    warnedTiling.add(model);
    notes.push(y.tiling.warning);
  }
  // everything is encoded before the first write, and written as a set: no partial set stays behind
  const files = imageFiles(img, r, name, s.probs);
  await writeSet(files, nonFinite, s, path);
  const classes = r.kind === 'classes' ? legend(r.mask, r.classes) : undefined;
  return {
    kind,
    size: [img.height, img.width, img.channels],
    outputs: [...files.keys()],
    foreground: r.foreground,
    ...(classes ? { classes } : {}),
    notes,
    nonFinite,
  };
}

async function segmentNifti(
  model: Model,
  bytes: Uint8Array,
  name: string,
  gz: boolean,
  s: Settings,
  progress: (f: number) => void,
  path: string,
): Promise<Segmented> {
  const vol = readNifti(bytes, { limits: s.limits });
  let nonFinite: NonFinite | undefined;
  const r = await segmentVolume(model, vol, {
    axis: s.axis,
    normalization: s.norm,
    threshold: s.threshold,
    run: { pad: s.pad, tile: s.tile },
    onSlice: (k, count, y) => {
      const nf = nonFiniteOutputs(y.data, y.shape);
      if (nf) {
        nonFinite = nonFinite
          ? { ...nonFinite, count: nonFinite.count + nf.count }
          : { count: nf.count, total: vol.data.length * model.info.outChannels, first: `slice ${k} of ${count}, ${nf.first.replace(/^n 0, /, '')}` };
      }
      progress((k + 1) / count);
    },
  });
  const files = volumeFiles(vol, r, name, gz, s.probs);
  await writeSet(files, nonFinite, s, path);
  const classes = r.kind === 'classes' ? legend(r.mask, r.classes) : undefined;
  return {
    kind: gz ? 'nifti-gz' : 'nifti',
    size: [...vol.dims],
    notes: r.notes,
    nonFinite,
    outputs: [...files.keys()],
    foreground: r.foreground,
    ...(classes ? { classes } : {}),
  };
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
  /** --num-parts / --part-id */
  shard?: Shard;
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
      ...(r.shard ? { part: { id: r.shard.partId, of: r.shard.numParts } } : {}),
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
  const kind = isMultiClass(i) ? 'classes, one per pixel' : i.outChannels === 1 ? 'channels' : 'channels, one mask each';
  return `${i.inChannels} -> ${i.outChannels} ${kind}, ${i.variant}, ${i.activation}, ${i.name}`;
}
