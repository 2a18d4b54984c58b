// Where an nnU-Net v2 model's files are: dataset.json, plans.json and fold_K/checkpoint_final.pth in a trainer
// folder (Dataset123_X/nnUNetTrainer__nnUNetPlans__3d_fullres), given that folder, its Dataset... parent (one
// or more trainer folders), or the zip nnUNetv2_export_model_to_zip writes (paths relative to nnUNet_results:
// Dataset123_X/<trainer folder>/...). Folds are found as nnU-Net's predictor finds them: every fold_N holding
// the checkpoint, or the folds asked for. Files are read through an abstract listing, so the same code serves
// a directory (src/nnunetFiles.ts), a zip in memory (below) or files a browser page was given.
// Browser-safe: no Node imports (fflate is plain JS).
import { unzipSync } from 'fflate';
import { InputError, WeightsError } from '../../errors.js';
import { exceeds, formatBytes, quoted, resolveLimits, type Limits } from '../../limits.js';
import { readCheckpoint, type Checkpoint } from '../../weights/checkpoint.js';
import { PyDict, toPlain, type PlainValue } from '../../weights/pickle.js';
import { type NnunetConfig, nnunetConfig, parseNnunetJson } from './plans.js';

/** A model's files: paths relative to the model's root, '/'-separated, and a reader. */
export interface NnunetFiles {
  /** names the folder or zip in messages */
  source: string;
  paths: readonly string[];
  read(path: string): Promise<Uint8Array>;
}

export type NnunetFold = number | 'all';

/** Levels below a listing's top where plans.json, dataset.json or fold_K may sit: a trainer folder (0), a
 *  Dataset... folder above trainer folders (1), or one folder more (2). */
export const NNUNET_MARK_DEPTH = 2;

/**
 * Whether a listing (paths relative to its top, `/`-separated; a folder may be listed as `name/`) is an
 * nnU-Net results folder: no config.json at its top (that is a converted or smp model folder), and
 * plans.json, dataset.json or a fold_K folder within NNUNET_MARK_DEPTH levels. A folder missing plans.json
 * still counts, so its error says that rather than asking for model.safetensors.
 */
export function isNnunetListing(paths: readonly string[]): boolean {
  if (paths.includes('config.json')) return false;
  return paths.some((p) => {
    const parts = p.split('/');
    return parts.some(
      (part, i) => i <= NNUNET_MARK_DEPTH && (i === parts.length - 1 ? part === 'plans.json' || part === 'dataset.json' : /^fold_(\d+|all)$/.test(part)),
    );
  });
}

export interface FindNnunetOptions {
  /** picks a trainer folder by its configuration (…__3d_fullres) when there are several */
  configuration?: string;
  /** the folds to use (default: every fold_N holding the checkpoint, else fold_all) */
  folds?: readonly NnunetFold[];
  /** default 'checkpoint_final.pth' */
  checkpoint?: string;
}

export interface NnunetModelFiles {
  /** the trainer folder within the listing ('' when the listing is that folder) */
  folder: string;
  /** parsed from the folder name Trainer__Plans__configuration, when it has that form */
  trainer?: string;
  plansIdentifier?: string;
  configuration?: string;
  plans: string;
  dataset: string;
  folds: { fold: NnunetFold; checkpoint: string }[];
}

const join = (dir: string, name: string) => (dir === '' ? name : `${dir}/${name}`);
const base = (dir: string) => dir.slice(dir.lastIndexOf('/') + 1);
const parent = (dir: string) => (dir.includes('/') ? dir.slice(0, dir.lastIndexOf('/')) : '');
const shown = (source: string, path: string) => (path === '' ? source : `${source}/${path}`);

/** The folder name's parts (convert_identifier_to_trainer_plans_config), if it has three. */
function identifier(dir: string): { trainer: string; plansIdentifier: string; configuration: string } | undefined {
  const parts = base(dir).split('__');
  return parts.length === 3 && parts.every((p) => p !== '') ? { trainer: parts[0], plansIdentifier: parts[1], configuration: parts[2] } : undefined;
}

/** Trainer folders in the listing: those holding plans.json or a fold_ folder, shallowest first. */
function trainerFolders(paths: readonly string[]): string[] {
  const dirs = new Set<string>();
  for (const p of paths) {
    const m = /^(?:(.*)\/)?(?:plans\.json$|fold_(?:\d+|all)\/)/.exec(p);
    if (m) dirs.add(m[1] ?? '');
  }
  return [...dirs].sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
}

/** Finds the trainer folder, its json files and the folds' checkpoints; one line naming what is missing. */
export function findNnunetModel(files: Pick<NnunetFiles, 'source' | 'paths'>, options: FindNnunetOptions = {}): NnunetModelFiles {
  const { source, paths } = files;
  const have = new Set(paths);
  const checkpoint = options.checkpoint ?? 'checkpoint_final.pth';
  let candidates = trainerFolders(paths);
  if (candidates.length === 0) {
    throw new InputError(
      `${source}: no nnU-Net model here: expected plans.json and fold_K/${checkpoint} in a trainer folder (e.g. Dataset001_X/nnUNetTrainer__nnUNetPlans__3d_fullres)`,
    );
  }
  const list = (c: string[]) => c.map((d) => quoted(d === '' ? '.' : d, 120)).join(', ');
  const wanted = options.configuration;
  if (wanted !== undefined) {
    const named = candidates.filter((d) => identifier(d)?.configuration === wanted);
    // a folder without the Trainer__Plans__configuration name cannot be picked by name: take it if it is alone
    if (named.length > 0 || candidates.length > 1 || identifier(candidates[0]) !== undefined) {
      if (named.length === 0) throw new InputError(`${source}: no trainer folder for configuration ${JSON.stringify(wanted)} (found ${list(candidates)})`);
      candidates = named;
    }
  }
  if (candidates.length > 1) {
    throw new InputError(`${source}: ${candidates.length} trained models here (${list(candidates)}): choose one by its configuration or give its folder`);
  }
  const folder = candidates[0];
  const plans = join(folder, 'plans.json');
  const dataset = join(folder, 'dataset.json');
  for (const p of [plans, dataset])
    if (!have.has(p)) throw new InputError(`${shown(source, p)} is missing (an nnU-Net trainer folder holds plans.json and dataset.json)`);

  let folds: NnunetFold[];
  if (options.folds !== undefined) {
    if (options.folds.length === 0) throw new InputError(`${source}: folds is empty (give fold numbers or 'all', or leave it out for every fold present)`);
    for (const f of options.folds) {
      if (f !== 'all' && !(Number.isSafeInteger(f) && f >= 0)) throw new InputError(`${source}: fold ${JSON.stringify(f)} is not a fold number or 'all'`);
    }
    folds = [...options.folds];
  } else {
    // auto_detect_available_folds: fold_N (not fold_all) holding the checkpoint, in number order
    const found = new Set<number>();
    const re = new RegExp(`^${folder === '' ? '' : `${escapeRegExp(folder)}/`}fold_(\\d+)/${escapeRegExp(checkpoint)}$`);
    for (const p of paths) {
      const m = re.exec(p);
      if (m) found.add(Number(m[1]));
    }
    folds = [...found].sort((a, b) => a - b);
    if (folds.length === 0 && have.has(join(folder, `fold_all/${checkpoint}`))) folds = ['all'];
    if (folds.length === 0)
      throw new InputError(`${shown(source, join(folder, `fold_0/${checkpoint}`))} is missing (no fold_N/${checkpoint} in ${shown(source, folder)})`);
  }
  const out = folds.map((fold) => ({ fold, checkpoint: join(folder, `fold_${fold}/${checkpoint}`) }));
  for (const f of out) if (!have.has(f.checkpoint)) throw new InputError(`${shown(source, f.checkpoint)} is missing (fold ${f.fold} was asked for)`);
  return { folder, ...identifier(folder), plans, dataset, folds: out };
}

/** The trainer folder of a cascade's previous stage: the sibling Trainer__Plans__<previousStage>. */
export function findNnunetStage(
  files: Pick<NnunetFiles, 'source' | 'paths'>,
  model: NnunetModelFiles,
  stage: string,
  options: FindNnunetOptions = {},
): NnunetModelFiles {
  const id = identifier(model.folder);
  if (!id)
    throw new InputError(
      `${shown(files.source, model.folder)}: its name is not Trainer__Plans__configuration, so the previous stage ${stage}'s folder cannot be found beside it`,
    );
  const folder = join(parent(model.folder), `${id.trainer}__${id.plansIdentifier}__${stage}`);
  if (!files.paths.some((p) => p.startsWith(`${folder}/`))) {
    throw new InputError(`${shown(files.source, folder)} is missing: configuration ${id.configuration} is a cascade stage that needs ${stage}'s predictions`);
  }
  const inside = files.paths.filter((p) => p.startsWith(`${folder}/`)).map((p) => p.slice(folder.length + 1));
  const found = findNnunetModel({ source: shown(files.source, folder), paths: inside }, { ...options, configuration: undefined });
  const prefix = (p: string) => join(folder, p);
  return {
    ...found,
    folder,
    ...identifier(folder),
    plans: prefix(found.plans),
    dataset: prefix(found.dataset),
    folds: found.folds.map((f) => ({ fold: f.fold, checkpoint: prefix(f.checkpoint) })),
  };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export interface NnunetFoldCheckpoint {
  fold: NnunetFold;
  path: string;
  checkpoint: Checkpoint;
}

export interface NnunetModel {
  files: NnunetModelFiles;
  config: NnunetConfig;
  folds: NnunetFoldCheckpoint[];
  /** the first checkpoint's trainer_name */
  trainerName: string;
  /** inference_allowed_mirroring_axes (null when the trainer allows none, or the checkpoint predates it) */
  mirroringAxes: number[] | null;
}

export interface ReadNnunetOptions extends FindNnunetOptions {
  limits?: Partial<Limits>;
}

/**
 * The model in `files`: its plans read for the configuration the first checkpoint was trained as
 * (init_args.configuration, as nnU-Net's predictor reads it), every fold's checkpoint read (weights not yet
 * converted: extractStateDict takes network_weights).
 */
export async function readNnunetModel(files: NnunetFiles, options: ReadNnunetOptions = {}): Promise<NnunetModel> {
  const found = findNnunetModel(files, options);
  const plansFile = shown(files.source, found.plans);
  const datasetFile = shown(files.source, found.dataset);
  const plans = parseNnunetJson(await files.read(found.plans), plansFile);
  const dataset = parseNnunetJson(await files.read(found.dataset), datasetFile);
  const folds: NnunetFoldCheckpoint[] = [];
  for (const f of found.folds) {
    const path = shown(files.source, f.checkpoint);
    folds.push({ fold: f.fold, path, checkpoint: readCheckpoint(await files.read(f.checkpoint), path, { limits: options.limits }) });
  }
  const meta = checkpointMeta(folds[0].checkpoint, folds[0].path);
  const configuration = meta.configuration ?? found.configuration ?? options.configuration;
  if (configuration === undefined) throw new WeightsError(`${folds[0].path}: no init_args.configuration, and the folder name does not say the configuration`);
  for (const f of folds.slice(1)) {
    const other = checkpointMeta(f.checkpoint, f.path).configuration;
    if (other !== undefined && other !== configuration) throw new WeightsError(`${f.path}: trained as ${other}, but fold ${folds[0].fold} as ${configuration}`);
  }
  const config = nnunetConfig(plans, dataset, configuration, { plansFile, datasetFile, trainerName: meta.trainerName });
  return { files: found, config, folds, trainerName: meta.trainerName ?? found.trainer ?? 'nnUNetTrainer', mirroringAxes: meta.mirroringAxes };
}

/** trainer_name, init_args.configuration and inference_allowed_mirroring_axes of an nnU-Net checkpoint. */
export function checkpointMeta(ckpt: Checkpoint, path: string): { trainerName?: string; configuration?: string; mirroringAxes: number[] | null } {
  const root = ckpt.root;
  if (!(root instanceof PyDict) || !root.map.has('network_weights')) throw new WeightsError(`${path}: not an nnU-Net checkpoint (no network_weights)`);
  const get = (k: string): PlainValue =>
    toPlain(root.map.get(k) ?? null, { what: `${path}: ${k}`, maxValues: ckpt.limits.maxPickleItems, maxDepth: ckpt.limits.maxPickleDepth });
  const trainer = get('trainer_name');
  const init = get('init_args');
  const configuration = init !== null && typeof init === 'object' && !Array.isArray(init) && 'configuration' in init ? init.configuration : undefined;
  const axes = get('inference_allowed_mirroring_axes');
  if (axes !== null && !(Array.isArray(axes) && axes.every((a) => typeof a === 'number' && Number.isInteger(a) && a >= 0 && a < 3))) {
    throw new WeightsError(`${path}: inference_allowed_mirroring_axes must be a tuple of axes (0, 1, 2) or None`);
  }
  return {
    trainerName: typeof trainer === 'string' ? trainer : undefined,
    configuration: typeof configuration === 'string' ? configuration : undefined,
    mirroringAxes: axes as number[] | null,
  };
}

/**
 * A zip (nnUNetv2_export_model_to_zip's) as NnunetFiles, nothing extracted to disk. The central directory is
 * read once; each read() inflates one entry, after checking its declared size against maxWeightsBytes and
 * the total read against maxDecompressedBytes (fflate allocates exactly the declared size).
 */
export function nnunetZipFiles(bytes: Uint8Array, source: string, limits: Partial<Limits> = {}): NnunetFiles {
  const lim = resolveLimits(limits);
  const sizes = new Map<string, number>();
  const maxEntries = Math.floor(bytes.length / 46); // a central directory entry takes 46 bytes at least
  const walk = (want: (name: string) => boolean): Record<string, Uint8Array> => {
    let seen = 0;
    try {
      return unzipSync(bytes, {
        filter: (f) => {
          if (++seen > maxEntries) throw new Error(`the archive claims more entries than its ${bytes.length} bytes can hold`);
          if (!sizes.has(f.name)) sizes.set(f.name, f.compression === 0 ? f.size : f.originalSize);
          return want(f.name);
        },
      });
    } catch (e) {
      if (e instanceof WeightsError || e instanceof InputError) throw e;
      throw new WeightsError(`${source}: not a readable zip archive (${e instanceof Error ? e.message : String(e)})`);
    }
  };
  walk(() => false);
  // listed without a leading './' (some zip tools write one); read by the name as stored
  const stored = new Map<string, string>();
  for (const name of sizes.keys()) if (!name.endsWith('/')) stored.set(name.replace(/^\.\//, ''), name);
  const paths = [...stored.keys()];
  let total = 0;
  return {
    source,
    paths,
    read: async (path) => {
      const name = stored.get(path);
      const size = name === undefined ? undefined : sizes.get(name);
      if (name === undefined || size === undefined) throw new InputError(`${source}/${path} is missing from the zip`);
      if (size > lim.maxWeightsBytes) throw exceeds(`${source}/${path}: an entry of ${formatBytes(size)}`, 'maxWeightsBytes', lim);
      total += size;
      if (total > lim.maxDecompressedBytes) throw exceeds(`${source}: zip entries inflating to ${formatBytes(total)}`, 'maxDecompressedBytes', lim);
      const data = walk((n) => n === name)[name];
      if (!data) throw new WeightsError(`${source}/${path}: could not be read from the zip`);
      return data;
    },
  };
}
