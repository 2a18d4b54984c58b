// `unet segment`'s command line: its help text, and its options parsed and checked into plain settings
// (SegmentArgs, before the model is loaded; Settings, once it is), so that running and writing read
// values, never option strings.
import type { Model, RunOptions } from '../node.js';
import { MAX_CLASSES, isMultiClass } from '../io/classes.js';
import type { Axis } from '../io/nifti.js';
import { parseNormalization, type Normalization } from '../io/preprocess.js';
import { type OutputActivation, checkPadMode, type PadMode } from '../ir/types.js';
import { resolveLimits, type Limits } from '../limits.js';
import { parseCommandLine, required } from './args.js';
import { CliError, UsageError } from './errors.js';
import { ACTIVATION_HELP, weightsHelp, parseActivation } from './model.js';
import { LIMITS_USAGE, LIMIT_OPTIONS, limitsFromArgs } from './limits.js';
import { parseShard, type Shard } from './shards.js';

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
  --num-parts N         split the inputs into N parts (sorted by path, every N-th from part I on;
                        nnU-Net cases by case id, a case never split) and segment only part
  --part-id I|env       I (0 to N-1); env reads JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) or
                        SLURM_ARRAY_TASK_ID (a SLURM array). The N parts write what one run writes
  -h, --help            show this help

With an nnU-Net results folder or its .zip as W, the inputs are CASE_XXXX.nii.gz files (one per channel;
CASE_XXXX.png for a 2D natural-image dataset) or folders of them, predicted as nnUNetv2_predict predicts
them (unet predict takes its own flags) into DIR/CASE.nii.gz (DIR/CASE.png); the options are then:
  --folds K ...         the folds to average (0 1 2, 0,1,2 or all; default every fold present)
  --step S              window step as a fraction of the patch (default 0.5)
  --no-mirroring        no test-time mirroring (nnUNetv2_predict --disable_tta)
  --checkpoint NAME     each fold's checkpoint file (default checkpoint_final.pth)
  --configuration C     the configuration, where a Dataset folder holds several
  --probs               also write DIR/CASE.npz: probabilities [classes, z, y, x] float32
  --overwrite           replace existing outputs
  --num-parts N, --part-id I|env  as above, over the cases

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
  'num-parts': { type: 'string' },
  'part-id': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  ...LIMIT_OPTIONS,
} as const;

// a Map: `--axis constructor` must find nothing, not Object's own property
const AXES = new Map<string, Axis>([
  ['axial', 2],
  ['coronal', 1],
  ['sagittal', 0],
  ['0', 0],
  ['1', 1],
  ['2', 2],
]);

/** The command line, checked: what it asks for, before the model is loaded. */
export interface SegmentArgs {
  weights: string;
  outDir: string;
  /** the IMAGES_OR_FOLDERS arguments */
  paths: string[];
  threshold: number;
  /** undefined: the model's own (--normalize model) */
  norm?: Normalization;
  /** --activation: overrides the model's */
  activation?: OutputActivation;
  gray: boolean;
  axis: Axis;
  pad: PadMode;
  tile: RunOptions['tile'];
  probs: boolean;
  overwrite: boolean;
  strict: boolean;
  limits: Limits;
  maxClassFiles: number;
  json: boolean;
  /** --num-parts / --part-id: only this part of the sorted inputs (src/cli/shards.ts) */
  shard?: Shard;
}

/** Parses and checks `unet segment`'s arguments (a UsageError for the first bad one); undefined for --help. */
export function parseSegmentArgs(args: string[]): SegmentArgs | undefined {
  const { values: v, positionals } = parseCommandLine('segment', args, OPTIONS);
  if (v.help) return undefined;
  const weights = required('segment', 'weights', v.weights);
  const outDir = required('segment', 'out-dir', v['out-dir']);
  const threshold = Number(v.threshold);
  if (!/^\s*[\d.]+\s*$/.test(v.threshold ?? '') || !(threshold >= 0 && threshold <= 1)) {
    throw new UsageError(`segment: --threshold must be a number from 0 to 1, found ${JSON.stringify(v.threshold)}`);
  }
  const norm = v.normalize === 'model' ? undefined : parseNormalization(v.normalize ?? '');
  if (!norm && v.normalize !== 'model')
    throw new UsageError(`segment: --normalize must be model, zscore, none, imagenet or MEAN,STD (STD > 0), found ${JSON.stringify(v.normalize)}`);
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
  return {
    weights,
    outDir,
    paths: positionals,
    threshold,
    norm,
    activation,
    gray: Boolean(v.gray),
    axis,
    pad,
    tile,
    probs: Boolean(v.probs),
    overwrite: Boolean(v.overwrite),
    strict: Boolean(v.strict),
    limits,
    maxClassFiles: Number(maxClassFiles),
    json: v.json === true,
    shard: parseShard('segment', v['num-parts'], v['part-id']),
  };
}

/** What running and writing read: the arguments resolved against the loaded model. */
export interface Settings extends Pick<SegmentArgs, 'threshold' | 'gray' | 'axis' | 'pad' | 'tile' | 'probs' | 'outDir' | 'overwrite' | 'strict' | 'limits'> {
  /** --normalize, or the model's own */
  norm: Normalization;
  /** the model's output activation, and whether its channels are exclusive classes */
  activation: OutputActivation;
  multiClass: boolean;
  /** the weights hold NaN or Inf (the cause given for non-finite outputs) */
  nanWeights?: boolean;
  /** every input of this run and the weights: never written over */
  protectedFiles: string[];
}

/**
 * Settings for a loaded model, once checked that its output fits what was asked (before any input runs):
 * a label map holds at most MAX_CLASSES classes; the files written one per output channel stay within
 * --max-class-files (a 25,000-channel model read as masks would write 25,000 files an image); --gray is
 * for 1-channel models. `name`: the weights as the user named them.
 */
export function modelSettings(a: SegmentArgs, model: Model, name: string, nanWeights: boolean, protectedFiles: string[]): Settings {
  const { classes, outChannels: C, inChannels, activation } = model.info;
  const multiClass = isMultiClass(model.info);
  const { threshold, gray, axis, pad, tile, probs, outDir, overwrite, strict, limits } = a;
  const s: Settings = {
    threshold,
    gray,
    axis,
    pad,
    tile,
    probs,
    outDir,
    overwrite,
    strict,
    limits,
    norm: a.norm ?? model.info.preprocessing,
    activation,
    multiClass,
    nanWeights,
    protectedFiles,
  };
  if (s.gray && inChannels !== 1) {
    throw new UsageError(
      `segment: --gray converts RGB images for 1-channel models, and ${name} takes ${inChannels} channels (RGB images go in as they are${inChannels === 3 ? ', gray ones repeated into 3 channels' : ''}): drop --gray`,
    );
  }
  if (s.multiClass && classes > MAX_CLASSES) throw new CliError(`${name}: ${classes} classes: unet segment writes class maps of at most ${MAX_CLASSES}`);
  const files = s.multiClass ? (s.probs ? C : 0) : s.probs ? 2 * C : C;
  if (files > a.maxClassFiles) {
    const what = s.multiClass
      ? `${C} classes with --probs make ${files} probability files`
      : `${C} output channels read as masks (${activation}) make ${files} files (a mask${s.probs ? ' and a probability' : ''} each)`;
    const remedy = s.multiClass || s.probs ? 'drop --probs or raise --max-class-files' : 'raise --max-class-files';
    throw new CliError(`${name}: ${what} per input, more than --max-class-files ${a.maxClassFiles}: ${remedy}`);
  }
  return s;
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
    if (!/^\s*[\d.]+\s*$/.test(budgetText) || !(Number(budgetText) > 0))
      throw new UsageError(`segment: --gpu-budget must be a positive number of MiB, found ${JSON.stringify(budgetText)}`);
    memoryBudgetBytes = Math.floor(Number(budgetText) * 2 ** 20);
  }
  if (spec === 'off') {
    if (memoryBudgetBytes !== undefined) throw new UsageError('segment: --gpu-budget needs tiles: it cannot go with --tile off');
    return false;
  }
  if (spec === 'auto') return { overlap, blend, memoryBudgetBytes };
  if (!/^\d+$/.test(spec) || Number(spec) < 1)
    throw new UsageError(`segment: --tile must be auto, off or a window size in pixels, found ${JSON.stringify(spec)}`);
  return { roi: Number(spec), overlap, blend, memoryBudgetBytes };
}
