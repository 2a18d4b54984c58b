// nnU-Net results folders on the command line: telling one (or its exported zip) from an smp folder, the
// options that choose from it (--folds, --checkpoint, --configuration, as nnUNetv2_predict's -f, -chk and
// -c), and reading it into the safetensors bytes + config that loadModel takes. `unet convert` writes that
// same pair, so `unet infer --weights CONVERTED` runs exactly what `--weights RESULTS_FOLDER` runs.
import { type Dirent, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { NNUNET_MARK_DEPTH, isNnunetListing } from '../arch/nnunet/folder.js';
import { nnunetSettings } from '../arch/nnunet/index.js';
import type { ModelConfig } from '../arch/types.js';
import { printable, type Limits } from '../limits.js';
import { nnunetFiles } from '../nnunetFiles.js';
import { type NnunetSource, nnunetModelSource } from '../nnunetSource.js';
import { takeListOption } from './args.js';
import { UsageError } from './errors.js';
import { statOrUndefined } from './files.js';

export type NnunetFold = number | 'all';

/** What chooses a model inside a results folder; every field optional (nnU-Net's defaults). */
export interface NnunetChoice {
  folds?: NnunetFold[];
  checkpoint?: string;
  configuration?: string;
}

/** The options that choose from a results folder. takeFolds takes --folds out of the arguments first (it has
 *  several values); it is listed so that a misspelt --fold is answered "did you mean --folds?". */
export const NNUNET_OPTIONS = {
  folds: { type: 'string' },
  checkpoint: { type: 'string' },
  configuration: { type: 'string' },
} as const;

/** Help lines, continued at `column`. */
export const nnunetHelp = (column = 24): string => {
  const pad = (name: string) => `  ${name.padEnd(column - 2)}`;
  const more = `\n${' '.repeat(column)}`;
  return [
    `${pad('--folds K ...')}nnU-Net: the folds to use, their logits averaged (0 1 2, 0,1,2, or all:${more}fold_all; default every fold_K holding the checkpoint, else fold_all)`,
    `${pad('--checkpoint NAME')}nnU-Net: the checkpoint file in each fold (default checkpoint_final.pth;${more}e.g. checkpoint_best.pth)`,
    `${pad('--configuration C')}nnU-Net: the trainer folder to use where a Dataset folder or zip holds${more}several (2d, 3d_fullres, 3d_lowres, ...)`,
  ].join('\n');
};

/** A file or configuration name, as loadModel's nnunet option takes it. */
const NAME = /^[\w.+-]{1,200}$/;

/** Takes `--folds` (several values: `--folds 0 1`, `--folds 0,1`, `--folds all`) out of `args`. */
export function takeFolds(command: string, args: string[]): { args: string[]; folds?: NnunetFold[] } {
  const { args: rest, values } = takeListOption(command, args, 'folds', /^(\d+|all)$/);
  if (values === undefined) return { args: rest };
  const folds: NnunetFold[] = [];
  for (const v of values) {
    if (!/^(\d{1,6}|all)$/.test(v))
      throw new UsageError(`${command}: --folds takes fold numbers (0 1 2 or 0,1,2) or all, found ${JSON.stringify(v.slice(0, 100))}`);
    const f: NnunetFold = v === 'all' ? 'all' : Number(v);
    if (folds.includes(f)) throw new UsageError(`${command}: --folds names fold ${v} twice`);
    folds.push(f);
  }
  return { args: rest, folds };
}

/** The --folds / --checkpoint / --configuration given, checked; undefined when none is. */
export function nnunetChoice(command: string, folds: NnunetFold[] | undefined, v: { checkpoint?: string; configuration?: string }): NnunetChoice | undefined {
  for (const k of ['checkpoint', 'configuration'] as const) {
    const s = v[k];
    if (s !== undefined && !NAME.test(s))
      throw new UsageError(`${command}: --${k} must be a ${k === 'checkpoint' ? 'file' : 'configuration'} name, found ${JSON.stringify(s.slice(0, 100))}`);
  }
  if (folds === undefined && v.checkpoint === undefined && v.configuration === undefined) return undefined;
  return {
    ...(folds ? { folds } : {}),
    ...(v.checkpoint !== undefined ? { checkpoint: v.checkpoint } : {}),
    ...(v.configuration !== undefined ? { configuration: v.configuration } : {}),
  };
}

/** Entries read per folder while looking for an nnU-Net results folder's marks. */
const MAX_LISTED = 1000;

/**
 * Whether `path` is an nnU-Net results folder or its zip: a .zip file, or a directory the library's rule
 * (isNnunetListing, src/arch/nnunet/folder.ts) takes for one, listed as deep as that rule looks.
 */
export function isNnunetPath(path: string): boolean {
  const s = statOrUndefined(path);
  if (s?.isFile()) return /\.zip$/i.test(path);
  if (!s?.isDirectory()) return false;
  const listed: string[] = [];
  const list = (dir: string, rel: string, depth: number): void => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true }).slice(0, MAX_LISTED);
    } catch {
      return;
    }
    for (const e of entries) {
      const name = `${rel}${e.name}`;
      if (!e.isDirectory()) listed.push(name);
      else {
        listed.push(`${name}/`);
        if (depth < NNUNET_MARK_DEPTH) list(join(dir, e.name), `${name}/`, depth + 1);
      }
    }
  };
  list(path, '', 0);
  return isNnunetListing(listed);
}

/** The model read from a results folder or zip, as the CLI's other model sources are read. */
export interface NnunetArg {
  weights: Uint8Array;
  config: string;
  name: string;
  configName: string;
  dims: 2 | 3;
  /** one line per fold read */
  notes: string[];
  source: NnunetSource;
}

/** Reads the folds chosen from a results folder or zip (src/nnunetSource.ts); errors name the file. */
export async function readNnunetArg(path: string, limits: Limits, choice: NnunetChoice = {}): Promise<NnunetArg> {
  const files = await nnunetFiles(path, limits);
  const source = await nnunetModelSource(files, { ...choice, limits });
  return nnunetArg(source);
}

/** An NnunetSource as the CLI's model argument. */
export function nnunetArg(source: NnunetSource): NnunetArg {
  const name = printable(source.name);
  const dims = nnunetSettings(source.config as unknown as ModelConfig, name).network.dims;
  return {
    weights: source.weights,
    config: JSON.stringify(source.config),
    name,
    configName: `${name} (plans.json, dataset.json)`,
    dims,
    notes: source.notes,
    source,
  };
}

/** The spatial axes a model config's text says (3 for a 3D nnU-Net model), or undefined: decided at load. */
export function configDims(config: string | undefined, name: string): 2 | 3 | undefined {
  if (config === undefined) return undefined;
  try {
    const c = JSON.parse(config) as ModelConfig;
    return c !== null && typeof c === 'object' && Object.hasOwn(c, 'nnunet') ? nnunetSettings(c, name).network.dims : undefined;
  } catch {
    return undefined; // loading says what is wrong with it
  }
}

/** What `unet info` shows of an nnU-Net model beyond model.info: the plans' facts around the network. */
export interface NnunetFacts {
  configuration: string;
  trainer: string | null;
  plans: string | null;
  dataset: string | null;
  folds: string[];
  /** the checkpoint file the folds were read from (the weights' metadata), when known */
  checkpoint: string | null;
  /** the training patch, in the network's axis order */
  patchSize: number[];
  /** target spacing, in the network's axis order */
  spacing: number[];
  featuresPerStage: number[];
  /** per stage, one stride per spatial axis */
  strides: number[][];
  kernelSizes: number[][];
  channelNames: string[];
  /** what nnU-Net applies to the logits after resampling them back */
  outputActivation: 'softmax' | 'sigmoid';
  labels: string[];
  normalization: string[];
  previousStage: string | null;
  mirroringAxes: number[] | null;
}

/** NnunetFacts of a model config's text; undefined when it holds no `nnunet` entry (or does not parse). */
export function nnunetFacts(config: string | undefined, name: string, metadata: Record<string, string> = {}): NnunetFacts | undefined {
  if (config === undefined) return undefined;
  let c: ModelConfig;
  try {
    c = JSON.parse(config) as ModelConfig;
  } catch {
    return undefined;
  }
  if (c === null || typeof c !== 'object' || !Object.hasOwn(c, 'nnunet')) return undefined;
  const s = nnunetSettings(c, name);
  const n = c.nnunet as { trainerName?: string; folds: string[]; mirroringAxes?: number[] | null };
  return {
    configuration: s.configuration,
    trainer: n.trainerName ?? null,
    plans: s.plansName ?? null,
    dataset: s.datasetName ?? null,
    folds: n.folds,
    checkpoint: metadata.nnunet_checkpoint ?? null,
    patchSize: s.patchSize,
    spacing: s.spacing,
    featuresPerStage: s.network.featuresPerStage,
    strides: s.network.strides,
    kernelSizes: s.network.kernelSizes,
    channelNames: s.channelNames,
    outputActivation: s.outputActivation,
    labels: Object.keys(s.labels),
    normalization: s.normalizationSchemes,
    previousStage: s.previousStage ?? null,
    mirroringAxes: n.mirroringAxes ?? null,
  };
}
