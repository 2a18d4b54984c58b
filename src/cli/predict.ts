// `unet predict` (nnUNetv2_predict's own flags: -i IN -o OUT -m RESULTS_FOLDER -f 0 1 -step_size 0.5
// --disable_tta --save_probabilities -chk NAME) and `unet segment IN --weights RESULTS_FOLDER --out-dir OUT`
// for nnU-Net models: a folder of CASE_XXXX<file_ending> grouped by case id as nnU-Net groups them
// (nnunetv2/utilities/utils.py create_lists_from_splitted_dataset_folder), each case predicted by the library
// (model.segment: src/nnunetSegment.ts) and written as OUT/<case><file_ending> (and <case>.npz with
// `probabilities` [classes, z, y, x] float32 for --save_probabilities). A 2D natural-image dataset (file_ending
// .png, NaturalImage2DIO) takes CASE_0000.png (, CASE_0001.png ...): an RGB image is one file holding three of the
// model's channels, and OUT/<case>.png is the gray label PNG nnU-Net writes. A case's files are written as a set,
// all or nothing; a case that fails is one line, the others still run, and the exit code is 1.
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { getDevice, releaseGpu, type Model } from '../node.js';
import { InputError, UnsupportedError } from '../errors.js';
import { encodeNpz } from '../io/npz.js';
import { DEFAULT_LIMITS, printable } from '../limits.js';
import type { NnunetSegmentResult } from '../nnunetSegment.js';
import { nnunetOfModel } from '../nnunetSegment.js';
import { CliError, UsageError, cliText } from './errors.js';
import { makeOutputDir, statOrUndefined } from './files.js';
import { modelFiles, openModel, readWeightsArg } from './model.js';
import { nnunetChoice } from './nnunet.js';
import { writeOutputSet } from './outputs.js';
import { Progress } from './progress.js';
import { PREDICT_USAGE, type PredictRun, parsePredictArgs } from './predictArgs.js';
import { shardNote, shardOf } from './shards.js';

/** `unet predict`. */
export async function predict(args: string[]): Promise<number> {
  const run = parsePredictArgs(args);
  if (run === undefined) {
    process.stdout.write(PREDICT_USAGE);
    return 0;
  }
  return predictCases(run);
}

/** One case: its id and its channel files in channel order. */
export interface CaseFiles {
  id: string;
  files: string[];
}

/**
 * get_identifiers_from_splitted_dataset_folder + create_lists_from_splitted_dataset_folder over folders and
 * files: names ending in `ending` whose stem ends in _XXXX (4 digits) are a case's channels, the case id the
 * stem without it; ids sorted, each case's files sorted. A name that does not end in _XXXX<ending> is refused.
 */
export function groupCases(paths: readonly string[], ending: string, command: string): CaseFiles[] {
  const files: string[] = [];
  for (const p of paths) {
    const s = statOrUndefined(p);
    if (!s) throw new CliError(`${printable(p)}: no such file or folder`);
    if (s.isDirectory())
      files.push(
        ...readdirSync(p)
          .filter((f) => f.endsWith(ending) && !f.startsWith('.'))
          .sort()
          .map((f) => join(p, f)),
      );
    else files.push(p);
  }
  const byId = new Map<string, string[]>();
  const channel = new RegExp(`^(.*)_(\\d{4})${ending.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  for (const f of files) {
    const m = channel.exec(basename(f));
    if (!m) throw new UsageError(`${command}: ${printable(f)}: expected CASE_XXXX${ending} (one file per channel, as nnUNetv2_predict reads a folder)`);
    byId.set(m[1], [...(byId.get(m[1]) ?? []), f]);
  }
  if (byId.size === 0) throw new CliError(`${command}: no ${ending} files in ${paths.map(printable).join(', ')}`);
  return [...byId.keys()].sort().map((id) => ({ id, files: (byId.get(id) ?? []).sort() }));
}

/** The channel files a case needs, or one line naming the missing one. PNG cases: an RGB(A) file holds several
 *  channels, so the files must be _0000, _0001, ... with none missing, and the library counts the channels. */
function checkChannels(c: CaseFiles, channels: readonly string[], ending: string): void {
  const fileNames = ending === '.png' ? c.files.map((_, k) => k) : channels.map((_, k) => k);
  const want = fileNames.map((k) => `${c.id}_${String(k).padStart(4, '0')}${ending}`);
  const have = new Set(c.files.map((f) => basename(f)));
  const missing = want.filter((w) => !have.has(w));
  if (missing.length)
    throw new CliError(
      `${c.id}: missing channel file ${missing.join(', ')} (the model takes ${channels.length} channel${channels.length === 1 ? '' : 's'}: ${channels.join(', ')})`,
    );
  const extra = [...have].filter((h) => !want.includes(h));
  if (extra.length)
    throw new CliError(`${c.id}: ${extra.join(', ')}: the model takes ${channels.length} channel${channels.length === 1 ? '' : 's'} (${channels.join(', ')})`);
}

/** Predicts every case and writes its files; exit code 1 when a case failed. */
export async function predictCases(run: PredictRun): Promise<number> {
  const limits = DEFAULT_LIMITS;
  if (statOrUndefined(run.outDir)?.isFile()) throw new CliError(`${printable(run.outDir)}: the output folder is a file`);
  const choice = nnunetChoice(run.command, run.folds, { checkpoint: run.checkpoint, configuration: run.configuration });
  const arg = await readWeightsArg(run.model, limits, process.stderr, choice, run.command);
  const stream = process.stderr;
  let device: GPUDevice | undefined;
  let model: Model | undefined;
  const failures: string[] = [];
  let done = 0;
  try {
    device = await getDevice();
    model = await openModel(device, arg, {}, (line) => stream.write(`${line}\n`));
    if (model.info.family !== 'nnunet') throw new CliError(`${printable(run.model)}: not an nnU-Net model (${run.command} takes an nnU-Net results folder)`);
    const { config } = nnunetOfModel(model);
    const ending = config.fileEnding ?? '.nii.gz';
    if (ending !== '.nii.gz' && ending !== '.nii' && ending !== '.png')
      throw new UnsupportedError(`${printable(run.model)}: dataset.json's file_ending ${ending}: only NIfTI (.nii.gz, .nii) and PNG (.png) cases are read`);
    // a shard takes whole cases: groupCases gives them sorted by id, and its part is every num_parts-th
    const allCases = groupCases(run.inputs, ending, run.command);
    const cases = shardOf(allCases, (c) => c.id, run.shard);
    if (run.shard) stream.write(`unet: ${shardNote(run.shard, cases.length, allCases.length, 'cases')}\n`);
    const protect = new Set([...cases.flatMap((c) => c.files), ...modelFiles(run.model)]);
    makeOutputDir(run.outDir, run.command === 'predict' ? '-o' : '--out-dir');
    const progress = new Progress(cases.length, stream, run.progress && Boolean(stream.isTTY));
    for (const [i, c] of cases.entries()) {
      progress.update(i, c.id);
      const started = performance.now();
      try {
        checkChannels(c, config.channelNames, ending);
        // paths: the library reads them within maxInputBytes and names them in its errors
        const r = (await model.segment(c.files, {
          stepSize: run.step,
          mirroring: run.mirroring,
          probabilities: run.probabilities,
          onProgress: (p) => progress.update(i + p.done / p.total, `${c.id} windows ${p.done}/${p.total}`),
        })) as NnunetSegmentResult;
        const files = new Map<string, Uint8Array>();
        const seg = join(run.outDir, `${c.id}${ending}`);
        files.set(seg, ending === '.png' ? pngOf(r, c.id) : ending === '.nii' ? gunzipped(r) : r.nifti());
        if (run.probabilities && r.probabilities)
          files.set(
            join(run.outDir, `${c.id}.npz`),
            encodeNpz({ probabilities: { data: r.probabilities, shape: [r.probabilities.length / r.labels.length, ...r.shape] } }),
          );
        for (const f of files.keys()) if (protect.has(f)) throw new CliError(`${printable(f)}: would overwrite an input`);
        await writeOutputSet(files, run.overwrite);
        done++;
        const t = r.timings;
        progress.print(
          `${c.id}: ${r.shape.join('x')} -> ${[...files.keys()].map((f) => basename(f)).join(', ')}  ${Math.round(performance.now() - started)} ms ` +
            `(preprocess ${Math.round(t.preprocessMs)}, windows ${Math.round(t.windowsMs)}: ${r.windows.batches} batches of ${r.windows.batchSize}, export ${Math.round(t.exportMs)})`,
        );
      } catch (e) {
        if (!(e instanceof CliError || e instanceof InputError || e instanceof UnsupportedError)) throw e;
        const msg = (e as Error).message;
        const line = msg.startsWith(`${c.id}: `) || msg.startsWith(printable(c.files[0] ?? '')) ? msg : `${c.id}: ${msg}`;
        failures.push(line);
        progress.print(`unet: ${cliText(line)}`);
      }
    }
    progress.clear();
  } finally {
    model?.dispose();
    device?.destroy();
    releaseGpu();
  }
  if (failures.length) {
    stream.write(`unet: ${failures.length} of ${failures.length + done} cases failed\n`);
    return 1;
  }
  return 0;
}

/** The labels as the gray PNG NaturalImage2DIO writes (a dataset whose file_ending is .png). */
function pngOf(r: NnunetSegmentResult, id: string): Uint8Array {
  if (!r.png) throw new CliError(`${id}: the dataset's file_ending is .png, but the case was not read from PNG files`);
  return r.png();
}

/** The labels as an uncompressed .nii (a dataset whose file_ending is .nii). */
function gunzipped(r: NnunetSegmentResult): Uint8Array {
  // nifti() gzips; inflating the small label file again keeps one writer
  return new Uint8Array(gunzipSync(r.nifti()));
}
