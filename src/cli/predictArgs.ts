// The command lines that run nnU-Net cases: `unet predict` with nnUNetv2_predict's own flags, and `unet segment
// --weights RESULTS_FOLDER` with segment's, both to one PredictRun (src/cli/predict.ts runs it).
import type { NnunetFold } from './nnunet.js';
import { UsageError } from './errors.js';
import { type Shard, parseShard } from './shards.js';

const shardField = (shard: Shard | undefined) => (shard ? { shard } : {});

export const PREDICT_USAGE = `Usage: unet predict -i IN -o OUT -m RESULTS_FOLDER [options]

nnUNetv2_predict_from_modelfolder's flags, so scripts switch by changing the command:
  -i IN                   a folder of CASE_XXXX.nii.gz (one file per channel, grouped by case id), or of
                          CASE_XXXX.png for a 2D natural-image dataset (an RGB PNG holds three channels)
  -o OUT                  the output folder: OUT/CASE.nii.gz or OUT/CASE.png (and OUT/CASE.npz)
  -m RESULTS_FOLDER       the trainer folder (fold_K/, plans.json, dataset.json) or its exported .zip
  -f 0 1 ...|all          the folds to average (default: every fold present)
  -step_size S            window step as a fraction of the patch (default 0.5)
  --disable_tta           no mirroring
  --save_probabilities    also write CASE.npz with probabilities [classes, z, y, x] float32
  -chk NAME               the checkpoint file (default checkpoint_final.pth)
  -num_parts N -part_id I predict part I of N (0-based; I may be env: JOB_COMPLETION_INDEX or
                          SLURM_ARRAY_TASK_ID): every N-th case by sorted case id, as nnU-Net splits
  -npp N, -nps N, -device D, --verbose, --disable_progress_bar, --not_on_device
                          accepted and ignored (the GPU is WebGPU's; one process)
`;

/** What a run does, from either command line. */
export interface PredictRun {
  command: string;
  inputs: string[];
  outDir: string;
  model: string;
  folds?: NnunetFold[];
  checkpoint?: string;
  configuration?: string;
  step: number;
  mirroring: boolean;
  probabilities: boolean;
  overwrite: boolean;
  progress: boolean;
  /** -num_parts / -part_id (--num-parts / --part-id): only this part of the cases, sorted by id */
  shard?: Shard;
}

/** nnUNetv2_predict's flags that change what it computes, or need its environment: refused by name. */
const REFUSED: Record<string, string> = {
  '-prev_stage_predictions': 'cascades are not supported',
  '--continue_prediction': 'every case is predicted (outputs are written as a set, never over a file this run did not create)',
  '--c': 'every case is predicted (outputs are written as a set, never over a file this run did not create)',
  '-d': 'name the results folder with -m (nnUNetv2_predict_from_modelfolder), not a dataset id',
  '-p': 'name the results folder with -m',
  '-tr': 'name the results folder with -m',
};
const IGNORED_VALUE = new Set(['-npp', '-nps', '-device']);
const IGNORED_FLAG = new Set(['--verbose', '--disable_progress_bar', '--not_on_device']);

/** A window step (`unet predict -step_size`, `unet segment --step`): a number in (0, 1]. */
function stepSize(cmd: string, flag: string, v: string): number {
  const step = Number(v);
  if (!(step > 0 && step <= 1)) throw new UsageError(`${cmd}: ${flag} must be a number in (0, 1], found ${JSON.stringify(v.slice(0, 50))}`);
  return step;
}

/** Adds fold `v` (digits or all) to `folds`; a fold named twice is refused. */
function addFold(cmd: string, flag: string, folds: NnunetFold[], v: string): void {
  const f: NnunetFold = v === 'all' ? 'all' : Number(v);
  if (folds.includes(f)) throw new UsageError(`${cmd}: ${flag} names fold ${v} twice`);
  folds.push(f);
}

/** nnUNetv2_predict's argv (single-dash long names, `-f 0 1` lists) to a PredictRun. */
export function parsePredictArgs(args: string[]): PredictRun | undefined {
  const cmd = 'predict';
  let input: string | undefined;
  let out: string | undefined;
  let model: string | undefined;
  let folds: NnunetFold[] | undefined;
  let step = 0.5;
  let checkpoint: string | undefined;
  let configuration: string | undefined;
  let mirroring = true;
  let probabilities = false;
  let progress = true;
  let numParts: string | undefined;
  let partId: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = (): string => {
      const v = args[++i];
      if (v === undefined || (v.startsWith('-') && !/^-\d/.test(v))) throw new UsageError(`${cmd}: ${a} needs a value (see unet predict --help)`);
      return v;
    };
    if (a === '--help' || a === '-h') return undefined;
    if (Object.hasOwn(REFUSED, a)) throw new UsageError(`${cmd}: ${a} is not supported: ${REFUSED[a]}`);
    if (IGNORED_FLAG.has(a)) {
      if (a === '--disable_progress_bar') progress = false;
      continue;
    }
    if (IGNORED_VALUE.has(a)) {
      value();
      continue;
    }
    switch (a) {
      case '-i':
        input = value();
        break;
      case '-o':
        out = value();
        break;
      case '-m':
        model = value();
        break;
      case '-c':
        configuration = value();
        break;
      case '-chk':
        checkpoint = value();
        break;
      case '-num_parts':
        numParts = value();
        break;
      case '-part_id':
        partId = value();
        break;
      case '-step_size':
        step = stepSize(cmd, a, value());
        break;
      case '--disable_tta':
        mirroring = false;
        break;
      case '--save_probabilities':
        probabilities = true;
        break;
      case '-f': {
        folds = [];
        while (i + 1 < args.length && /^(\d+|all)$/.test(args[i + 1])) {
          addFold(cmd, a, folds, args[++i]);
        }
        if (folds.length === 0) throw new UsageError(`${cmd}: -f needs fold numbers (0 1 2) or all`);
        break;
      }
      default:
        throw new UsageError(`${cmd}: unknown option ${JSON.stringify(a.slice(0, 100))} (see unet predict --help)`);
    }
  }
  const need = (v: string | undefined, flag: string): string => {
    if (v === undefined || v === '') throw new UsageError(`${cmd}: ${flag} is required (see unet predict --help)`);
    return v;
  };
  return {
    command: cmd,
    inputs: [need(input, '-i')],
    outDir: need(out, '-o'),
    model: need(model, '-m'),
    ...(folds ? { folds } : {}),
    ...(checkpoint !== undefined ? { checkpoint } : {}),
    ...(configuration !== undefined ? { configuration } : {}),
    step,
    mirroring,
    probabilities,
    overwrite: true, // nnUNetv2_predict replaces its outputs
    progress,
    ...shardField(parseShard(cmd, numParts, partId, process.env, { numParts: '-num_parts', partId: '-part_id' })),
  };
}

// --- `unet segment` with an nnU-Net model (its help: src/cli/segmentArgs.ts SEGMENT_USAGE)

/** `unet segment ... --weights W` where W is an nnU-Net results folder or zip: its options, a PredictRun. */
export function parseSegmentNnunetArgs(args: string[]): PredictRun {
  const cmd = 'segment';
  const inputs: string[] = [];
  let weights: string | undefined;
  let outDir: string | undefined;
  let folds: NnunetFold[] | undefined;
  let step = 0.5;
  let mirroring = true;
  let probabilities = false;
  let overwrite = false;
  let checkpoint: string | undefined;
  let configuration: string | undefined;
  let numParts: string | undefined;
  let partId: string | undefined;
  for (let i = 0; i < args.length; i++) {
    let a = args[i];
    let inline: string | undefined;
    if (a.startsWith('--') && a.includes('=')) [a, inline] = [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = args[++i];
      if (v === undefined || v.startsWith('-')) throw new UsageError(`${cmd}: ${a} needs a value (see unet segment --help)`);
      return v;
    };
    switch (a) {
      case '--weights':
      case '-w':
        weights = value();
        break;
      case '--out-dir':
      case '-o':
        outDir = value();
        break;
      case '--step':
        step = stepSize(cmd, a, value());
        break;
      case '--no-mirroring':
        mirroring = false;
        break;
      case '--probs':
        probabilities = true;
        break;
      case '--overwrite':
        overwrite = true;
        break;
      case '--checkpoint':
        checkpoint = value();
        break;
      case '--configuration':
        configuration = value();
        break;
      case '--num-parts':
        numParts = value();
        break;
      case '--part-id':
        partId = value();
        break;
      case '--folds': {
        folds = [];
        const vals = inline !== undefined ? inline.split(',') : [];
        while (inline === undefined && i + 1 < args.length && /^(\d+|all)(,(\d+|all))*$/.test(args[i + 1])) vals.push(...args[++i].split(','));
        for (const v of vals) {
          if (!/^(\d+|all)$/.test(v))
            throw new UsageError(`${cmd}: --folds takes fold numbers (0 1 2 or 0,1,2) or all, found ${JSON.stringify(v.slice(0, 50))}`);
          addFold(cmd, a, folds, v);
        }
        if (folds.length === 0) throw new UsageError(`${cmd}: --folds needs fold numbers (0 1 2) or all`);
        break;
      }
      default:
        if (a.startsWith('-') && a !== '-')
          throw new UsageError(
            `${cmd}: ${a} does not apply to an nnU-Net model (its options: --folds, --step, --no-mirroring, --checkpoint, --configuration, --probs, --overwrite, --num-parts, --part-id)`,
          );
        inputs.push(a);
    }
  }
  if (weights === undefined) throw new UsageError(`${cmd}: --weights is required (see unet segment --help)`);
  if (outDir === undefined) throw new UsageError(`${cmd}: --out-dir is required (see unet segment --help)`);
  if (inputs.length === 0) throw new UsageError(`${cmd}: no inputs (CASE_0000.nii.gz files or folders of them)`);
  return {
    command: cmd,
    inputs,
    outDir,
    model: weights,
    ...(folds ? { folds } : {}),
    ...(checkpoint !== undefined ? { checkpoint } : {}),
    ...(configuration !== undefined ? { configuration } : {}),
    step,
    mirroring,
    probabilities,
    overwrite,
    progress: true,
    ...shardField(parseShard(cmd, numParts, partId)),
  };
}

/** The --weights value of a `unet segment` command line, if any (to route nnU-Net models here). */
export function weightsOf(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') return undefined;
    if (a.startsWith('--weights=')) return a.slice('--weights='.length);
    if ((a === '--weights' || a === '-w') && i + 1 < args.length) return args[i + 1];
  }
  return undefined;
}
