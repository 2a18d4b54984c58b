// `unet convert`: a PyTorch checkpoint (torch.save, zip or legacy format) to a safetensors state_dict,
// in TypeScript, reading the pickle without executing it (src/weights/pickle.ts refuses anything that is
// not tensors, storages, OrderedDict or plain values).
import { basename, join } from 'node:path';
import { CheckpointError, convertCheckpoint } from '../weights/checkpoint.js';
import { parseSafetensors } from '../weights/safetensors.js';
import { buildModel } from '../arch/index.js';
import { countGraphParameters } from '../ops/index.js';
import { printable, resolveLimits } from '../limits.js';
import { parseCommandLine, required } from './args.js';
import { CliError, UsageError } from './errors.js';
import { checkOutputPath, makeOutputDir, readInputFile, sameFile, statOrUndefined, writeAtomically } from './files.js';
import { LIMITS_USAGE, LIMIT_OPTIONS, limitsFromArgs } from './limits.js';
import { type NnunetArg, NNUNET_OPTIONS, isNnunetPath, nnunetArg, nnunetChoice, nnunetHelp, readNnunetArg, takeFolds } from './nnunet.js';
import { writeOutputSet } from './outputs.js';
import { ENGINE_NAME, ENGINE_VERSION } from './package.js';
import { nnunetCheckpointFiles, nnunetModelSource } from '../nnunetSource.js';
import type { ModelConfig } from '../arch/types.js';

export const CONVERT_USAGE = `Usage: unet convert CHECKPOINT.pt -o OUT.safetensors [--key KEY]
       unet convert RESULTS_FOLDER|ZIP|checkpoint_final.pth -o OUTDIR [--folds K ...] [--checkpoint NAME]

Converts a PyTorch checkpoint (torch.save: the zip format of torch >= 1.6 or the legacy format of
older versions) holding a state_dict into a safetensors file that unet infer / unet segment load.
Nothing in the checkpoint is executed: its pickle is read by an allow-list reader, and a checkpoint
naming anything else (os.system, a pickled nn.Module, an unknown class) is refused.

The state_dict is the checkpoint itself when it holds tensors, else its "state_dict" or "model"
entry (or --key). Tensors keep their dtype (F32, F16, BF16; num_batches_tracked stays I64); F64
becomes F32; views are made contiguous; entries that are not tensors are skipped with a note.

An nnU-Net results folder (a trainer folder, its Dataset... parent, or the .zip that
nnUNetv2_export_model_to_zip writes) becomes a model folder OUTDIR: OUTDIR/model.safetensors holds
every chosen fold's network_weights (under fold_K.) and OUTDIR/config.json the { "nnunet": ... }
settings (plans.json, dataset.json, configuration, trainer, mirroring axes, folds), so that
unet infer --weights OUTDIR gives exactly the output of --weights RESULTS_FOLDER. A lone nnU-Net
checkpoint (checkpoint_final.pth) converts the same way, from the plans and dataset.json its
init_args hold (one fold). OUTDIR is created if missing; both files are written to temporary
names first and moved into place together (replacing files of those names), or not at all.

Options:
  -o, --out PATH     output safetensors file (written to a temporary file, then renamed); for an
                     nnU-Net model, the folder OUTDIR
  --key KEY          the checkpoint entry that holds the state_dict
${nnunetHelp(21)}
  -h, --help         show this help

${LIMITS_USAGE}`;

const OPTIONS = {
  out: { type: 'string', short: 'o' },
  key: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  ...NNUNET_OPTIONS,
  ...LIMIT_OPTIONS,
} as const;

export async function convert(args: string[]): Promise<number> {
  const { args: rest, folds } = takeFolds('convert', args);
  const { values: v, positionals } = parseCommandLine('convert', rest, OPTIONS);
  if (v.help) {
    process.stdout.write(CONVERT_USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new UsageError(`convert: expected one checkpoint file, found ${positionals.length} (see unet convert --help)`);
  }
  const input = positionals[0];
  const out = required('convert', 'out', v.out);
  const limits = resolveLimits(limitsFromArgs('convert', v));
  const nnunet = nnunetChoice('convert', folds, v);
  if (sameFile(input, out)) throw new UsageError(`convert: --out ${printable(out)} is the same file as the checkpoint: refusing to overwrite it`);
  if (isNnunetPath(input)) {
    if (v.key !== undefined)
      throw new UsageError('convert: --key picks the state_dict of a plain checkpoint; an nnU-Net results folder has network_weights in each fold');
    return convertNnunet(input, out, () => readNnunetArg(input, limits, nnunet));
  }

  const bytes = readInputFile(input, 'maxWeightsBytes', limits);
  const source = printable(input);
  // a lone nnU-Net checkpoint whose init_args hold the plans and dataset.json converts as a one-fold folder
  let lone: ReturnType<typeof nnunetCheckpointFiles>;
  try {
    lone = v.key === undefined ? nnunetCheckpointFiles(bytes, source, basename(input), limits) : undefined;
  } catch (e) {
    if (e instanceof CheckpointError) throw new CliError(e.message);
    throw e;
  }
  if (lone) {
    if (folds !== undefined || v.configuration !== undefined)
      throw new UsageError(`convert: ${source} is one fold's checkpoint: --folds and --configuration choose from a results folder`);
    const files = lone;
    return convertNnunet(input, out, async () => {
      const m = nnunetArg(await nnunetModelSource(files, { checkpoint: basename(input), limits }));
      // its notes name the listing's fold_K/NAME inside the checkpoint: say what was read instead
      return { ...m, notes: m.notes.map((n) => n.replace(/\/fold_(\d+|all)\/[^/]*: /, ' (fold_$1; plans and dataset.json from init_args): ')) };
    });
  }
  if (nnunet !== undefined) {
    throw new UsageError(`convert: --folds, --checkpoint and --configuration choose from an nnU-Net results folder or its .zip; ${source} is not one`);
  }
  checkOutputPath(out);
  const metadata = { format: 'pt', source: basename(input), converted_by: `${ENGINE_NAME} ${ENGINE_VERSION} unet convert` };
  let result: ReturnType<typeof convertCheckpoint>;
  try {
    result = convertCheckpoint(bytes, source, metadata, { limits, key: v.key });
  } catch (e) {
    if (e instanceof CheckpointError) throw new CliError(e.message);
    throw e;
  }
  const { file, format } = result;

  // Say whether the engine can run it; a state_dict of another network is still converted.
  let model: string;
  try {
    const { graph, info: i } = buildModel(parseSafetensors(file, printable(out)), undefined);
    const params = `${countGraphParameters(graph).toLocaleString('en-US')} parameters`;
    // a state_dict alone says nothing of an smp model's activation: say which one it will get
    const activation = i.inferred.includes('activation') ? `; no config.json: activation ${i.activation} unless --activation says otherwise` : '';
    model = `${i.name} ${i.inChannels} -> ${i.classes} channels, ${i.variant}, depth ${i.depth}, ${params}${activation}`;
  } catch (e) {
    model = `not a model this engine runs, written anyway (${(e as Error).message.split('\n')[0].replace(/^[^:]*: /, '')})`;
  }
  writeAtomically(out, file);

  const dtypes = new Map<string, number>();
  for (const t of result.tensors) dtypes.set(t.dtype, (dtypes.get(t.dtype) ?? 0) + 1);
  const counts = [...dtypes].map(([d, n]) => `${n} ${d}`).join(', ');
  const lines = [
    `unet convert: ${source} (${format} format) -> ${printable(out)}: ${result.tensors.length} tensors (${counts}), ${file.length.toLocaleString('en-US')} bytes`,
    `  ${model}`,
    ...result.notes.map((n) => `  note: ${n}`),
  ];
  process.stderr.write(`${lines.join('\n')}\n`);
  return 0;
}

/**
 * An nnU-Net model (a results folder, its zip, or a lone checkpoint) to OUTDIR/model.safetensors +
 * OUTDIR/config.json. Read and built first: a model the engine cannot run is an error here (its settings
 * would not load either), and nothing is written; then both files are placed as a set (writeOutputSet).
 */
async function convertNnunet(input: string, outDir: string, read: () => Promise<NnunetArg>): Promise<number> {
  const out = printable(outDir);
  const o = statOrUndefined(outDir);
  if (o && !o.isDirectory()) throw new CliError(`${out}: not a directory: an nnU-Net model converts to a folder (model.safetensors + config.json)`);
  if (!o && /\.(safetensors|pth?)$/i.test(outDir))
    throw new UsageError(`convert: -o ${out} names a file; an nnU-Net model converts to a folder that gets model.safetensors and config.json`);
  if (sameFile(input, outDir)) throw new UsageError(`convert: -o ${out} is the results folder itself: refusing to write config.json into it`);

  const m = await read();
  const config = JSON.parse(m.config) as ModelConfig;
  let model: string;
  try {
    const { graph, info: i } = buildModel(parseSafetensors(m.weights, m.name), config, { configSource: m.configName });
    model = `${i.title}, ${countGraphParameters(graph).toLocaleString('en-US')} parameters`;
  } catch (e) {
    throw new CliError(`${m.name}: ${(e as Error).message.split('\n')[0].replace(/^[^:]*: /, '')} (nothing written)`);
  }
  makeOutputDir(outDir, '-o');
  const weightsPath = join(outDir, 'model.safetensors');
  const configPath = join(outDir, 'config.json');
  const configText = new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`);
  await writeOutputSet(
    new Map([
      [weightsPath, m.weights],
      [configPath, configText],
    ]),
    true,
  );
  const folds = (config.nnunet as { folds: string[] }).folds;
  const lines = [
    `unet convert: ${m.name} -> ${printable(weightsPath)} (${m.weights.length.toLocaleString('en-US')} bytes) + config.json (${configText.length.toLocaleString('en-US')} bytes): ${folds.join(', ')}`,
    `  ${model}`,
    ...m.notes.map((n) => `  read ${n}`),
  ];
  process.stderr.write(`${lines.join('\n')}\n`);
  return 0;
}
