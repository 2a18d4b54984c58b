// `unet convert`: a PyTorch checkpoint (torch.save, zip or legacy format) to a safetensors state_dict,
// in TypeScript, reading the pickle without executing it (src/weights/pickle.ts refuses anything that is
// not tensors, storages, OrderedDict or plain values).
import { basename } from 'node:path';
import { CheckpointError, convertCheckpoint } from '../weights/checkpoint.js';
import { parseSafetensors } from '../weights/safetensors.js';
import { buildModel } from '../arch/index.js';
import { countGraphParameters } from '../ops/index.js';
import { printable, resolveLimits } from '../limits.js';
import { parseCommandLine, required } from './args.js';
import { CliError, UsageError } from './errors.js';
import { checkOutputPath, readInputFile, sameFile, writeAtomically } from './files.js';
import { LIMITS_USAGE, LIMIT_OPTIONS, limitsFromArgs } from './limits.js';
import { ENGINE_NAME, ENGINE_VERSION } from './package.js';

export const CONVERT_USAGE = `Usage: unet convert CHECKPOINT.pt -o OUT.safetensors [--key KEY]

Converts a PyTorch checkpoint (torch.save: the zip format of torch >= 1.6 or the legacy format of
older versions) holding a state_dict into a safetensors file that unet infer / unet segment load.
Nothing in the checkpoint is executed: its pickle is read by an allow-list reader, and a checkpoint
naming anything else (os.system, a pickled nn.Module, an unknown class) is refused.

The state_dict is the checkpoint itself when it holds tensors, else its "state_dict" or "model"
entry (or --key). Tensors keep their dtype (F32, F16, BF16; num_batches_tracked stays I64); F64
becomes F32; views are made contiguous; entries that are not tensors are skipped with a note.

Options:
  -o, --out PATH   output safetensors file (written to a temporary file, then renamed)
  --key KEY        the checkpoint entry that holds the state_dict
  -h, --help       show this help

${LIMITS_USAGE}`;

const OPTIONS = {
  out: { type: 'string', short: 'o' },
  key: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  ...LIMIT_OPTIONS,
} as const;

export async function convert(args: string[]): Promise<number> {
  const { values: v, positionals } = parseCommandLine('convert', args, OPTIONS);
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
  if (sameFile(input, out)) throw new UsageError(`convert: --out ${printable(out)} is the same file as the checkpoint: refusing to overwrite it`);
  checkOutputPath(out);

  const bytes = readInputFile(input, 'maxWeightsBytes', limits);
  const source = printable(input);
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
